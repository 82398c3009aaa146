/**
 * No tenant secret leaks, in a real n8n 2.40.7 running our packed package (n8n on PostgreSQL).
 *
 * Every path of our nodes is driven once with its own recognisable secret ("canary") where the
 * tenant's data goes: a swap, the same data again (unchanged), each refusal of the data, two items
 * with different data, OAuth2 with Partial Update, a lock timeout, an invalid n8n API key (itself a
 * canary), an execution that fails after the swap (the lease keeper frees the lock),
 * continueOnFail with a good and a bad item, a secret the expression wraps ("Bearer " + token) and
 * a failing credential test. Then everything is scanned for every canary:
 *   (a) n8n's whole log (debug level, so our debug lines are in it too);
 *   (b) every stored execution: the run data of our two nodes (outputs and errors), the rest of
 *       resultData (resultData.error with its message, description and stack) and workflowData;
 *       not the run data of the Webhook, Code and HTTP Request nodes, which carry the tenant's
 *       data by design (the Webhook's is the scanner's control);
 *   (c) every webhook response body, error responses included;
 *   (d) the lock database: the lock table, the audit table, the swap-state and waiting tables.
 * Each path also asserts that it really happened (its message, 'patched'/'unchanged', audit rows),
 * so a scan of nothing cannot pass. Canaries are printed only in failure messages.
 */
import { Client, Pool } from 'pg';

import { hashLockKey, PostgresLockEngine, type LockLease } from '../../nodes/shared/lock';
import { REDACTED } from '../../nodes/shared/swap/credentialData';

import {
	headerAuthBase as headerAuthBaseIn,
	lockHolder,
	startE2eStack,
	testDatabaseUrl,
	waitUntil,
	type E2eStack,
	type EchoRequest,
	type Ref,
} from '../helpers/e2eStack';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const workflows = require('../harness/workflows.js');

jest.setTimeout(900_000);

let stack: E2eStack;
let n8n: any;
let api: any;
let echo: { url: string; requests: EchoRequest[]; stop(): Promise<void> };
let n8nApi: Ref;
let postgres: Ref;

/** One common marker; `canary('3b')` = `canary-3b-Zq7`. */
const MARKER = 'Zq7';
const canary = (id: string | number) => `canary-${id}-${MARKER}`;
/** A whole canary. */
const WHOLE_CANARY = /canary-[A-Za-z0-9]+-Zq7/g;
/** The n8n API key of the credential in path 11. */
const CANARY_API_KEY = canary('apikey');

const SWAP = 'Tenant Credential Swap';
const RELEASE = 'Release Lock';
const OUR_NODES = [SWAP, RELEASE];

/** Every canary the test sent, for the scan. */
const sent = new Set<string>([CANARY_API_KEY]);
/** Every webhook answer, with the path it belongs to. */
const responses: Array<{ label: string; status: number; body: unknown }> = [];
/** Every workflow the test deployed: its ID and the path it stands for. */
const deployed: Array<{ label: string; id: string }> = [];

beforeAll(async () => {
	// Debug level: our own debug lines (lease keeper, temporary credentials) are scanned too.
	stack = await startE2eStack({ logLevel: 'debug' });
	({ n8n, api, echo, n8nApi, postgres } = stack);
});

afterAll(async () => {
	await stack?.stop();
});

const headerAuthBase = async (name: string) => await headerAuthBaseIn(api, name);

/** Options every swap here uses unless a path says otherwise: the temporary credential on, so the data goes through n8n's API twice. */
const SWAP_OPTIONS = { validateWithTemporaryCredential: true, lockTtl: 120, waitTimeout: 60 };

function swap(baseCredentialId: string, options: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
	return workflows.swapNode({
		n8nApi,
		postgres,
		baseCredentialId,
		credentialData: '={{ $json.body.data }}',
		options: { ...SWAP_OPTIONS, ...options },
		...extra,
	});
}

/** Body.items -> one item each (the items carry baseId, tenantId and data). */
const SPLIT_ITEMS = 'return $input.first().json.body.items.map((item) => ({ json: item }));';

async function deploy(label: string, path: string, nodes: any[], branches?: Record<string, string[]>) {
	const workflow = await api.deployWorkflow(workflows.chainWorkflow({ name: `secrets: ${label}`, path, nodes, branches }));
	deployed.push({ label, id: workflow.id });
	return workflow as { id: string };
}

/** Calls the webhook with `body`; remembers the answer and every canary in the body. */
async function call(label: string, path: string, body: unknown) {
	for (const found of JSON.stringify(body).match(WHOLE_CANARY) ?? []) sent.add(found);
	const response = await api.callWebhook(path, { body });
	responses.push({ label, status: response.status, body: response.body });
	return response as { status: number; body: any };
}

/** The newest finished execution of the workflow, with its data. */
async function lastExecution(workflowId: string, count = 1): Promise<any> {
	const executions = await api.waitForExecutions({ workflowId, count, includeData: true, timeoutMs: 60_000 });
	return executions[0];
}

/** A node's stored runs (outputs, errors, hints), as the scanner reads them. */
function runsOf(execution: any, node: string): any[] {
	return execution?.data?.resultData?.runData?.[node] ?? [];
}

/** The JSON of every output item of a node's runs. */
function outputItems(execution: any, node: string): any[] {
	return runsOf(execution, node).flatMap((run: any) => (run.data?.main ?? []).flat().map((item: any) => item?.json));
}

function failureText(execution: any): string {
	const error = execution?.data?.resultData?.error;
	return `${error?.message ?? ''} | ${error?.description ?? ''}`;
}

// -------------------------------------------------------------------------------------------------
// The scanner

interface Place {
	label: string;
	text: string;
}

/** Every index at which `needle` starts in `text`. */
function indexesOf(text: string, needle: string): number[] {
	const found: number[] = [];
	for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + 1)) found.push(at);
	return found;
}

/**
 * Every canary found in the places, whole (counted per canary) or in part: a "canary-" or the
 * marker that is not part of a whole canary (a secret cut short, or its end quoted), with context.
 */
function leaksIn(places: Place[]): string[] {
	const leaks: string[] = [];
	const secrets = [...sent];
	for (const { label, text } of places) {
		for (const secret of secrets) {
			const count = indexesOf(text, secret).length;
			if (count > 0) leaks.push(`${label}: ${secret} x${count}`);
		}
		const context = (at: number) => JSON.stringify(text.slice(Math.max(0, at - 60), at + 60));
		for (const at of indexesOf(text, 'canary-')) {
			if (!secrets.some((secret) => text.startsWith(secret, at))) leaks.push(`${label}: part of a canary at ${context(at)}`);
		}
		for (const at of indexesOf(text, MARKER)) {
			if (!secrets.some((secret) => text.startsWith(secret, at + MARKER.length - secret.length))) {
				leaks.push(`${label}: the canaries' marker at ${context(at)}`);
			}
		}
	}
	return leaks;
}

/** What the scan reads of one execution: our nodes' runs, the rest of resultData but other nodes' runs, workflowData. */
function executionPlaces(execution: any): Place[] {
	const resultData = execution?.data?.resultData ?? {};
	const runData = resultData.runData ?? {};
	const label = `execution ${execution.id} (workflow ${execution.workflowId})`;
	const error = resultData.error;
	return [
		...OUR_NODES.map((node) => ({ label: `${label}, run data of "${node}"`, text: JSON.stringify(runData[node] ?? null) })),
		{
			label: `${label}, resultData.error (message, description, stack and the rest)`,
			text: `${JSON.stringify(error ?? null)}\n${String(error?.message ?? '')}\n${String(error?.description ?? '')}\n${String(error?.stack ?? '')}`,
		},
		{ label: `${label}, resultData without run data`, text: JSON.stringify({ ...resultData, runData: undefined }) },
		{ label: `${label}, workflowData`, text: JSON.stringify(execution.workflowData ?? null) },
	];
}

/** Every row of the lock table, the audit table and the state and waiting tables, as JSON text. */
async function lockDatabasePlaces(): Promise<Place[]> {
	const client = new Client({ connectionString: testDatabaseUrl() });
	await client.connect();
	try {
		const { rows: tables } = await client.query<{ name: string }>(
			`SELECT tablename AS name FROM pg_tables
			  WHERE schemaname = 'public'
			    AND (tablename IN ('tenant_swap_locks', 'tenant_swap_audit') OR tablename LIKE 'tsl\\_%\\_state' OR tablename LIKE 'tsl\\_%\\_wait')
			  ORDER BY tablename`,
		);
		const places: Place[] = [];
		for (const { name } of tables) {
			const { rows } = await client.query<{ row: string }>(`SELECT row_to_json(t)::text AS row FROM public."${name}" t`);
			places.push({ label: `lock database table public.${name} (${rows.length} rows)`, text: rows.map((r) => r.row).join('\n') });
		}
		return places;
	} finally {
		await client.end();
	}
}

async function auditRows(workflowId: string): Promise<Array<{ action: string; outcome: string; detail: string | null }>> {
	const client = new Client({ connectionString: testDatabaseUrl() });
	await client.connect();
	try {
		const { rows } = await client.query('SELECT action, outcome, detail FROM public.tenant_swap_audit WHERE workflow_id = $1 ORDER BY id', [workflowId]);
		return rows;
	} finally {
		await client.end();
	}
}

/** The error a failed path stored: node error of the swap and the execution's error agree. */
function expectSwapFailure(execution: any, pattern: RegExp) {
	expect(execution.status).toBe('error');
	expect(failureText(execution)).toMatch(pattern);
	const swapRuns = runsOf(execution, SWAP);
	expect(swapRuns.length).toBe(1);
	expect(String(swapRuns[0].error?.message ?? '')).toMatch(pattern);
}

// -------------------------------------------------------------------------------------------------
// The paths

describe('every path of our nodes, each with its own secret', () => {
	let base1: Ref;
	let workflow1: { id: string };

	it('1. a successful swap: patched, the tenant API saw the secret, the output is redacted', async () => {
		base1 = await headerAuthBase('secrets base 1');
		workflow1 = await deploy('1 swap', 'secrets-1', [
			swap(base1.id),
			workflows.httpCallNode({ url: `${echo.url}/echo`, genericAuthType: 'httpHeaderAuth', credential: base1 }),
			workflows.releaseNode({ postgres }),
		], { [SWAP]: ['Call Tenant API'] });
		echo.requests.length = 0;
		const response = await call('1 swap', 'secrets-1', { tenantId: 'tenant-1', data: { name: 'x-tenant-secret', value: canary(1) } });
		expect(response.status).toBe(200);
		// The tenant API got the secret through the base credential, under the lock.
		expect(echo.requests.filter((r) => r.path === '/echo').map((r) => r.headers['x-tenant-secret'] === canary(1))).toEqual([true]);
		// Release Lock answered, with the swap's redacted item.
		expect(response.body?.tenantLockRelease?.released).toBe(1);
		expect(response.body?.body?.data?.value).toBe(REDACTED);
		const execution = await lastExecution(workflow1.id);
		expect(execution.status).toBe('success');
		const [output] = outputItems(execution, SWAP);
		expect(output.tenantSwap.update).toBe('patched');
		expect(output.tenantSwap.temporaryCredential).toBe('validated');
		expect(output.body.data.value).toBe(REDACTED);
		expect(await lockHolder(base1.id)).toBeNull();
	});

	it('2. the same data again: Skip Unchanged, update "unchanged"', async () => {
		echo.requests.length = 0;
		const response = await call('2 unchanged', 'secrets-1', { tenantId: 'tenant-1', data: { name: 'x-tenant-secret', value: canary(1) } });
		expect(response.status).toBe(200);
		expect(echo.requests.filter((r) => r.path === '/echo').map((r) => r.headers['x-tenant-secret'] === canary(1))).toEqual([true]);
		const execution = await lastExecution(workflow1.id, 2);
		expect(execution.status).toBe('success');
		const [output] = outputItems(execution, SWAP);
		expect(output.tenantSwap.update).toBe('unchanged');
		expect(output.tenantSwap.temporaryCredential).toBe('skipped');
		const audit = await auditRows(workflow1.id);
		expect(audit.filter((row) => row.action === 'swap').map((row) => row.outcome)).toEqual(['patched', 'unchanged']);
		expect(audit.filter((row) => row.action === 'release').map((row) => row.outcome)).toEqual(['released', 'released']);
	});

	/** Webhook -> swap -> Release Lock, one call that must fail in the swap with `pattern`. */
	async function refused(
		label: string,
		path: string,
		base: Ref,
		options: Record<string, unknown>,
		body: unknown,
		pattern: RegExp,
		extra: Record<string, unknown> = {},
		holder: string | null = null,
	) {
		const workflow = await deploy(label, path, [swap(base.id, options, extra), workflows.releaseNode({ postgres })]);
		const response = await call(label, path, body);
		expect(response.status).toBe(500);
		const execution = await lastExecution(workflow.id);
		expectSwapFailure(execution, pattern);
		expect(runsOf(execution, RELEASE)).toEqual([]);
		expect(await lockHolder(base.id)).toBe(holder);
		return { workflow, execution };
	}

	it('3. an unknown field whose value is a secret', async () => {
		const base = await headerAuthBase('secrets base 3');
		const { workflow } = await refused(
			'3 unknown field',
			'secrets-3',
			base,
			{},
			{ tenantId: 'tenant-3', data: { name: 'x-tenant-secret', value: canary('3a'), tenantToken: canary('3b') } },
			/unknown field "tenantToken"/,
		);
		expect((await auditRows(workflow.id)).map((row) => `${row.action} ${row.outcome}`)).toEqual(['swap failed']);
	});

	it('4. a wrong value type: an object holding a secret where a string goes', async () => {
		const base = await headerAuthBase('secrets base 4');
		await refused(
			'4 wrong type',
			'secrets-4',
			base,
			{},
			{ tenantId: 'tenant-4', data: { name: 'x-tenant-secret', value: { nested: canary(4) } } },
			/field "value" must be string, got an object/,
		);
	});

	it('5. a value outside an option list: the secret as allowedHttpRequestDomains', async () => {
		const base = await headerAuthBase('secrets base 5');
		await refused(
			'5 option list',
			'secrets-5',
			base,
			{},
			{ tenantId: 'tenant-5', data: { name: 'x-tenant-secret', value: canary('5a'), allowedHttpRequestDomains: canary('5b') } },
			/field "allowedHttpRequestDomains" must be one of "all", "domains", "none"/,
		);
	});

	it('6. a field outside Allowed Fields', async () => {
		const base = await headerAuthBase('secrets base 6');
		await refused(
			'6 allowed fields',
			'secrets-6',
			base,
			{ allowedFields: 'name, value' },
			{ tenantId: 'tenant-6', data: { name: 'x-tenant-secret', value: canary('6a'), allowedDomains: canary('6b') } },
			/sets "allowedDomains", outside the allowed fields \(name, value\)/,
		);
	});

	it('7. Credential Data that is text, not JSON, holding a secret', async () => {
		const base = await headerAuthBase('secrets base 7');
		await refused(
			'7 not JSON',
			'secrets-7',
			base,
			{},
			{ tenantId: 'tenant-7', raw: `{ name: x-tenant-secret, value: ${canary(7)} ` },
			/Credential Data is not valid JSON/,
			{ credentialData: '={{ $json.body.raw }}' },
		);
	});

	it('8. two items with different data for one base credential in one execution', async () => {
		const base = await headerAuthBase('secrets base 8');
		const workflow = await deploy('8 two items', 'secrets-8', [
			workflows.codeNode('Split Items', SPLIT_ITEMS),
			swap(base.id, {}, { tenantId: '={{ $json.tenantId }}', credentialData: '={{ $json.data }}' }),
			workflows.releaseNode({ postgres }),
		]);
		const response = await call('8 two items', 'secrets-8', {
			items: [
				{ tenantId: 'tenant-8a', data: { name: 'x-tenant-secret', value: canary('8a') } },
				{ tenantId: 'tenant-8b', data: { name: 'x-tenant-secret', value: canary('8b') } },
			],
		});
		expect(response.status).toBe(500);
		const execution = await lastExecution(workflow.id);
		// The control for the Code node: it did hand two items with the secrets to the swap.
		expect(outputItems(execution, 'Split Items').length).toBe(2);
		expectSwapFailure(execution, /Items 0, 1 carry different data for the same base credential/);
	});

	it('9. OAuth2 base credential with Partial Update (refused), the secret as clientSecret', async () => {
		const base = await api.createCredential({
			name: 'secrets base 9 (OAuth2)',
			type: 'oAuth2Api',
			data: { grantType: 'clientCredentials', accessTokenUrl: `${echo.url}/oauth/token`, clientId: 'nobody', clientSecret: 'x', authentication: 'body', scope: '' },
		});
		await refused(
			'9 OAuth2 partial',
			'secrets-9',
			base,
			{ partialUpdate: true },
			{ tenantId: 'tenant-9', data: { clientId: 'tenant-9', clientSecret: canary(9) } },
			/"Partial Update" cannot be used with base credential .*oAuth2Api/,
		);
	});

	it('10. a lock timeout: the lock held by someone else, Wait Timeout 1 s', async () => {
		const base = await headerAuthBase('secrets base 10');
		const pool = new Pool({ connectionString: testDatabaseUrl(), max: 3 });
		const engine = new PostgresLockEngine(pool);
		let lease: LockLease | undefined;
		try {
			lease = await engine.acquire(`credential:${base.id}`, {
				owner: { executionId: 'secrets-test-holder', workflowId: 'secrets-test', tenantId: 'holder' },
				ttlMs: 120_000,
				waitTimeoutMs: 0,
			});
			const { workflow } = await refused(
				'10 lock timeout',
				'secrets-10',
				base,
				{ waitTimeout: 1 },
				{ tenantId: 'tenant-10', data: { name: 'x-tenant-secret', value: canary(10) } },
				/Timed out after \d+ ms waiting for lock "credential:[^"]+": held by execution secrets-test-holder/,
				{},
				// Still the test's: the swap never took it.
				'secrets-test-holder',
			);
			expect((await auditRows(workflow.id)).map((row) => `${row.action} ${row.outcome}`)).toEqual(['swap failed']);
		} finally {
			if (lease) await engine.release(lease);
			await engine.close();
			await pool.end();
		}
	});

	it('11. an n8n API credential whose API key is a canary: 401', async () => {
		const base = await headerAuthBase('secrets base 11');
		const badApi = await api.createCredential({
			name: 'n8n API (wrong key)',
			type: 'tenantSwapN8nApi',
			data: { baseUrl: n8n.apiUrl, apiKey: CANARY_API_KEY, allowUnauthorizedCerts: false },
		});
		const workflow = await deploy('11 bad API key', 'secrets-11', [
			workflows.swapNode({ n8nApi: badApi, postgres, baseCredentialId: base.id, credentialData: '={{ $json.body.data }}', options: SWAP_OPTIONS }),
			workflows.releaseNode({ postgres }),
		]);
		const response = await call('11 bad API key', 'secrets-11', { tenantId: 'tenant-11', data: { name: 'x-tenant-secret', value: canary(11) } });
		expect(response.status).toBe(500);
		const execution = await lastExecution(workflow.id);
		expectSwapFailure(execution, /n8n API answered 401/);
		expect(failureText(execution)).toMatch(/Check the API key/);
	});

	it('12. an execution that fails after the swap (renewal on): the lease keeper frees the lock and logs it', async () => {
		const base = await headerAuthBase('secrets base 12');
		const workflow = await deploy('12 fails after swap', 'secrets-12', [
			swap(base.id, { lockTtl: 300, renewLock: true }),
			workflows.stopAndErrorNode('failing on purpose after the swap'),
			workflows.releaseNode({ postgres }),
		]);
		const response = await call('12 fails after swap', 'secrets-12', { tenantId: 'tenant-12', data: { name: 'x-tenant-secret', value: canary(12) } });
		expect(response.status).toBe(500);
		const execution = await lastExecution(workflow.id);
		expect(execution.status).toBe('error');
		expect(failureText(execution)).toMatch(/failing on purpose after the swap/);
		expect(outputItems(execution, SWAP)[0]?.tenantSwap?.update).toBe('patched');
		// Freed by the lease keeper long before the 300 s TTL, and logged (debug) and audited.
		expect(await waitUntil(async () => (await lockHolder(base.id)) === null, 60_000)).toBe(true);
		const freedLine = /freed the locks of an execution that ended without Release Lock/;
		expect(await waitUntil(() => freedLine.test(n8n.readLog()), 30_000)).toBe(true);
		expect(
			await waitUntil(async () => (await auditRows(workflow.id)).some((row) => row.action === 'release' && row.detail === 'the execution ended without Release Lock'), 30_000),
		).toBe(true);
	});

	it('13. continueOnFail with a good and a bad item', async () => {
		const good = await headerAuthBase('secrets base 13a');
		const bad = await headerAuthBase('secrets base 13b');
		const workflow = await deploy('13 continueOnFail', 'secrets-13', [
			workflows.codeNode('Split Items', SPLIT_ITEMS),
			swap('={{ $json.baseId }}', {}, { tenantId: '={{ $json.tenantId }}', credentialData: '={{ $json.data }}', onError: 'continueRegularOutput' }),
			workflows.releaseNode({ postgres }),
		]);
		const response = await call('13 continueOnFail', 'secrets-13', {
			items: [
				{ baseId: good.id, tenantId: 'tenant-13a', data: { name: 'x-tenant-secret', value: canary('13a') } },
				{ baseId: bad.id, tenantId: 'tenant-13b', data: { name: 'x-tenant-secret', value: { nested: canary('13b') } } },
			],
		});
		expect(response.status).toBe(200);
		// The good item, redacted, through Release Lock.
		expect(response.body?.data?.value).toBe(REDACTED);
		expect(response.body?.tenantLockRelease?.released).toBe(1);
		const execution = await lastExecution(workflow.id);
		expect(execution.status).toBe('success');
		const [first, second] = outputItems(execution, SWAP);
		expect(first.tenantSwap.update).toBe('patched');
		expect(second.error).toMatch(/field "value" must be string, got an object/);
		expect(await lockHolder(good.id)).toBeNull();
	});

	it('14. a secret the expression builds on ("Bearer " + token): the token in the incoming item is redacted too', async () => {
		const base = await headerAuthBase('secrets base 14');
		const workflow = await deploy('14 derived value', 'secrets-14', [
			swap(base.id, {}, { credentialData: '={{ { "name": "Authorization", "value": "Bearer " + $json.body.token } }}' }),
			workflows.httpCallNode({ url: `${echo.url}/echo`, genericAuthType: 'httpHeaderAuth', credential: base }),
			workflows.releaseNode({ postgres }),
		], { [SWAP]: ['Call Tenant API'] });
		echo.requests.length = 0;
		const response = await call('14 derived value', 'secrets-14', { tenantId: 'tenant-14', token: canary(14) });
		expect(response.status).toBe(200);
		expect(echo.requests.filter((r) => r.path === '/echo').map((r) => r.headers.authorization === `Bearer ${canary(14)}`)).toEqual([true]);
		const execution = await lastExecution(workflow.id);
		const [output] = outputItems(execution, SWAP);
		expect(output.tenantSwap.update).toBe('patched');
		expect(output.body.token === REDACTED).toBe(true);
	});

	it("15. Test Credential on, and n8n's credential test fails", async () => {
		const base = await api.createCredential({ name: 'secrets base 15 (n8n API)', type: 'n8nApi', data: { apiKey: 'none', baseUrl: `${echo.url}/no-such-api` } });
		await refused(
			'15 credential test',
			'secrets-15',
			base,
			{ testCredential: true },
			{ tenantId: 'tenant-15', data: { apiKey: canary(15), baseUrl: `${echo.url}/no-such-api` } },
			/failed n8n's credential test/,
		);
	});
});

// -------------------------------------------------------------------------------------------------
// The scan

describe('the scan for every canary', () => {
	it('the scanner finds a secret where one is (control)', () => {
		sent.add(canary('control'));
		try {
			expect(leaksIn([{ label: 'control', text: `{"x":"${canary('control')}"}` }])).toEqual([`control: ${canary('control')} x1`]);
			expect(leaksIn([{ label: 'cut', text: '{"x":"canary-con…"}' }]).length).toBe(1);
			expect(leaksIn([{ label: 'clean', text: '{"x":"[redacted by Tenant Credential Swap]"}' }])).toEqual([]);
		} finally {
			sent.delete(canary('control'));
		}
	});

	it('(b) no canary in what n8n stored of our nodes, resultData and workflowData; the Webhook run data has them (control)', async () => {
		for (const { id } of deployed) await api.waitForExecutions({ workflowId: id, count: 1, timeoutMs: 60_000 });
		const executions: any[] = await api.getExecutions({ includeData: true });
		// Paths 1 and 2 share a workflow.
		expect(executions.length).toBe(deployed.length + 1);

		// Control: the scanner, reading the same structure, finds every data canary in the Webhook's run data.
		const webhookText = executions.map((execution) => JSON.stringify(runsOf(execution, 'Webhook'))).join('\n');
		const inWebhook = leaksIn([{ label: 'webhook', text: webhookText }]);
		const dataCanaries = [...sent].filter((secret) => secret !== CANARY_API_KEY);
		expect(dataCanaries.length).toBe(19);
		for (const secret of dataCanaries) expect(inWebhook.some((line) => line.startsWith(`webhook: ${secret} x`))).toBe(true);

		// Control: what is scanned of our nodes is really there (outputs and errors).
		const scannedText = executions.flatMap(executionPlaces).map((place) => place.text).join('\n');
		expect(scannedText).toContain('"tenantSwap"');
		expect(scannedText).toContain('"tenantLockRelease"');
		expect(scannedText).toContain(REDACTED);
		expect(scannedText).toMatch(/unknown field \\"tenantToken\\"/);
		expect(scannedText).toMatch(/n8n API answered 401/);

		expect(leaksIn(executions.flatMap(executionPlaces))).toEqual([]);
	});

	it('(c) no canary in any webhook response, error responses included', () => {
		expect(responses.length).toBe(15);
		expect(responses.filter((r) => r.status === 500).length).toBe(11);
		expect(leaksIn(responses.map((r) => ({ label: `response to path ${r.label} (${r.status})`, text: JSON.stringify(r.body ?? null) })))).toEqual([]);
	});

	it('(d) no canary in the lock database: locks, audit, swap state, waiting tables', async () => {
		const places = await lockDatabasePlaces();
		const labels = places.map((place) => place.label.replace(/ \(\d+ rows\)$/, ''));
		expect(labels).toEqual(expect.arrayContaining(['lock database table public.tenant_swap_locks', 'lock database table public.tenant_swap_audit']));
		expect(labels.some((label) => /public\.tsl_\w+_state$/.test(label))).toBe(true);
		// Control: the dump holds this run's audit lines (every deployed workflow wrote some) and swap state.
		const all = places.map((place) => place.text).join('\n');
		// Every workflow wrote audit lines, except path 7's: its data is refused before the lock store is used.
		const audited = deployed.filter(({ label }) => !label.startsWith('7 '));
		expect(audited.filter(({ id }) => !all.includes(`"workflow_id":"${id}"`)).map(({ label }) => label)).toEqual([]);
		// The default lock table's state table (other test files' tables may share this database).
		const stateTable = `tsl_${hashLockKey('public.tenant_swap_locks').slice(0, 20)}_state`;
		expect(places.find((place) => place.label.startsWith(`lock database table public.${stateTable} `))?.text).toMatch(/"data_hmac":"[0-9a-f]{64}"/);
		expect(leaksIn(places)).toEqual([]);
	});

	it('(a) no canary, and no API key canary, in the whole n8n log', () => {
		const log: string = n8n.readLog();
		// Control: the log is the one of these runs (debug lines of our nodes are in it).
		expect(log).toMatch(/freed the locks of an execution that ended without Release Lock/);
		expect(leaksIn([{ label: 'n8n log', text: log }])).toEqual([]);
	});
});
