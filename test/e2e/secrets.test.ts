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
			// A connection field: listed, so the option list (n8n's schema) is what refuses it.
			{ allowedFields: 'name, value, allowedHttpRequestDomains' },
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
			// baseUrl is a connection field: the workflow fixes it, so it is listed.
			{ testCredential: true, allowedFields: 'apiKey,baseUrl' },
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
			expect(leaksIn([{ label: 'clean', text: `{"x":"${REDACTED}"}` }])).toEqual([]);
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

// -------------------------------------------------------------------------------------------------
// Run With Tenant Credential: every path once, each with its own canary, then the same scan over the
// parent executions, the sub-executions n8n stored for them, the answers, the log and the lock store.
// These run after the scan above, so its counts stay those of the swap paths.

describe('Run With Tenant Credential: every path, each with its own secret, then the scan', () => {
	const RWT: string = workflows.RUN_WITH_TENANT;
	const SUB_TRIGGER: string = workflows.SUB_TRIGGER;
	const CALL = 'Call Tenant API';
	/** The parent's items carry no secret: the node reads it from the Webhook's item. */
	const STRIP = workflows.setNode('Strip', { body: { type: 'object', value: '={{ { tenantId: $json.body.tenantId, status: $json.body.status } }}' } });
	/** The sub-workflow's last node: what the call got, without the secret the echo reflects. */
	const SUMMARY = workflows.setNode('Summary', {
		called: { type: 'boolean', value: '={{ true }}' },
		bearerClientHash: { type: 'string', value: '={{ $json.bearerClientHash }}' },
	});
	// eslint-disable-next-line @typescript-eslint/no-require-imports
	const { digest } = require('../harness/echo.js');
	const FROM_WEBHOOK = "={{ $('Webhook').item.json.body.data }}";

	const rwtDeployed: Array<{ label: string; id: string }> = [];
	const rwtResponses: Array<{ label: string; status: number; body: unknown }> = [];
	/** Executions with a higher ID are this block's. */
	let lastIdBefore = 0;
	let headerSub: { id: string };
	let failingSub: { id: string };
	let oauthSub: { id: string };
	let stopSub: { id: string };

	async function subWorkflow(name: string, o: Record<string, unknown>) {
		const credential =
			o.kind === 'oauth2'
				? await api.createCredential({
						name: `placeholder (${name})`,
						type: 'oAuth2Api',
						data: { grantType: 'clientCredentials', accessTokenUrl: `${echo.url}/oauth/token`, clientId: 'placeholder', clientSecret: 'x', authentication: 'body', scope: '' },
					})
				: await api.createCredential({ name: `placeholder (${name})`, type: 'httpHeaderAuth', data: { name: 'x-tenant-secret', value: 'placeholder' } });
		const sub = (await api.createWorkflow(
			workflows.tenantSubWorkflow({ name, kind: 'headerAuth', echoUrl: echo.url, credential, pick: 'none', extraNodes: [SUMMARY], ...o }),
		)) as { id: string };
		// Production executions run only a published sub-workflow.
		await api.activateWorkflow(sub.id);
		return sub;
	}

	/** Webhook -> before (default: Strip) -> Run With Tenant Credential. */
	async function rwtDeploy(label: string, path: string, node: Record<string, unknown>, before: any[] = [STRIP]) {
		const workflow = await api.deployWorkflow(
			workflows.runWithTenantWorkflow({
				name: `secrets (Run With Tenant Credential): ${label}`,
				path,
				n8nApi,
				postgres,
				subWorkflowId: headerSub.id,
				credentialData: FROM_WEBHOOK,
				before,
				...node,
				// Keep every sub-execution, so the scan below reads what n8n would store for them.
				options: { ...((node.options as object) ?? { allowedFields: 'name,value', credentialType: 'httpHeaderAuth' }), saveSuccessfulSubExecutions: true },
			}),
		);
		rwtDeployed.push({ label, id: workflow.id });
		return workflow as { id: string };
	}

	async function rwtCall(label: string, path: string, body: unknown) {
		for (const found of JSON.stringify(body).match(WHOLE_CANARY) ?? []) sent.add(found);
		const response = await api.callWebhook(path, { body });
		rwtResponses.push({ label, status: response.status, body: response.body });
		return response as { status: number; body: any };
	}

	/** The newest finished parent (webhook) execution of the workflow. */
	async function parentOf(workflowId: string): Promise<any> {
		let found: any;
		const ok = await waitUntil(async () => {
			const executions = await api.getExecutions({ workflowId, includeData: true });
			found = executions.find((execution: any) => execution.mode === 'webhook' && !['new', 'running', 'waiting'].includes(execution.status));
			return Boolean(found);
		}, 60_000);
		if (!ok) throw new Error(`no finished webhook execution of workflow ${workflowId}`);
		return found;
	}

	/** One call that must fail in our node with `pattern`; no canary in its error. */
	async function rwtRefused(label: string, path: string, node: Record<string, unknown>, body: unknown, pattern: RegExp) {
		const workflow = await rwtDeploy(label, path, node);
		const response = await rwtCall(label, path, body);
		expect(response.status).toBe(500);
		const execution = await parentOf(workflow.id);
		expect(execution.status).toBe('error');
		expect(execution.data?.resultData?.error?.node?.name).toBe(RWT);
		expect(failureText(execution)).toMatch(pattern);
		return execution;
	}

	const echoHeaderSeen = (secret: string) => echo.requests.some((request) => request.path === '/echo' && request.headers['x-tenant-secret'] === secret);

	beforeAll(async () => {
		const newest = await api.getExecutions({ limit: 1 });
		lastIdBefore = Number(newest[0]?.id ?? 0);
		headerSub = await subWorkflow('secrets sub-workflow (Header Auth)', {});
		failingSub = await subWorkflow('secrets sub-workflow (tenant API status from the body)', { echoQueryFromBody: true });
		oauthSub = await subWorkflow('secrets sub-workflow (OAuth2)', { kind: 'oauth2' });
		stopSub = await subWorkflow('secrets sub-workflow (Stop and Error)', { extraNodes: [SUMMARY, workflows.stopAndErrorNode('failing on purpose in the sub-workflow')] });
	});

	it('R1/R2. a run with a new tenant credential, then the same data again', async () => {
		const workflow = await rwtDeploy('R1 run', 'rwt-secrets-1', {});
		echo.requests.length = 0;
		const body = { tenantId: 'tenant-r1', data: { name: 'x-tenant-secret', value: canary('r1') } };
		const first = await rwtCall('R1 run', 'rwt-secrets-1', body);
		expect(first.status).toBe(200);
		expect(first.body).toMatchObject({ called: true, bearerClientHash: null });
		const second = await rwtCall('R2 same data again', 'rwt-secrets-1', body);
		expect(second.status).toBe(200);
		expect(echo.requests.filter((request) => request.path === '/echo').map((request) => request.headers['x-tenant-secret'] === canary('r1'))).toEqual([true, true]);
		expect((await api.listCredentials()).filter((c: Ref) => /^tenant-cred \S+ tenant-r1 /.test(c.name)).length).toBe(1);
		const execution = await parentOf(workflow.id);
		expect(execution.status).toBe('success');
	});

	it('R3. OAuth2 client credentials, the secret as clientSecret', async () => {
		// The token URL is a connection field: refused unless listed (this caller stands for a trusted one).
		await rwtDeploy('R3 OAuth2', 'rwt-secrets-3', { subWorkflowId: oauthSub.id, options: { credentialType: 'oAuth2Api', allowedFields: workflows.allowedFieldsFor('oauth2') } });
		echo.requests.length = 0;
		const response = await rwtCall('R3 OAuth2', 'rwt-secrets-3', {
			tenantId: 'tenant-r3',
			data: { grantType: 'clientCredentials', accessTokenUrl: `${echo.url}/oauth/token`, clientId: 'tenant-r3', clientSecret: canary('r3'), authentication: 'body' },
		});
		expect(response.status).toBe(200);
		// The client ID is the tenant's data: the node scrubs it from its output, so compare the echo's digest.
		expect(response.body?.bearerClientHash).toBe(digest('tenant-r3'));
		const tokenRequests = echo.requests.filter((request) => request.path === '/oauth/token');
		expect(tokenRequests.map((request) => (request.body as any)?.client_secret === canary('r3'))).toEqual([true]);
	});

	it('R4. a field outside Allowed Fields, holding a secret', async () => {
		await rwtRefused(
			'R4 allowed fields',
			'rwt-secrets-4',
			{},
			{ tenantId: 'tenant-r4', data: { name: 'x-tenant-secret', value: canary('r4a'), allowedHttpRequestDomains: 'domains', allowedDomains: canary('r4b') } },
			/Allowed Fields/i,
		);
	});

	it('R5. Credential Data that is text, not JSON, holding a secret', async () => {
		await rwtRefused('R5 not JSON', 'rwt-secrets-5', {}, { tenantId: 'tenant-r5', data: `{ name: x-tenant-secret, value: ${canary('r5')} ` }, /Credential Data/i);
	});

	it('R6. Credential Data that is a JSON array holding a secret', async () => {
		await rwtRefused('R6 array', 'rwt-secrets-6', {}, { tenantId: 'tenant-r6', data: ['x-tenant-secret', canary('r6')] }, /Credential Data/i);
	});

	it('R7. the tenant API answers 500 in the sub-workflow', async () => {
		const workflow = await rwtDeploy('R7 tenant API fails', 'rwt-secrets-7', { subWorkflowId: failingSub.id });
		const response = await rwtCall('R7 tenant API fails', 'rwt-secrets-7', { tenantId: 'tenant-r7', status: 500, data: { name: 'x-tenant-secret', value: canary('r7') } });
		expect(response.status).toBe(500);
		const execution = await parentOf(workflow.id);
		expect(execution.status).toBe('error');
		expect(failureText(execution)).toMatch(/Call Tenant API/);
		expect(echoHeaderSeen(canary('r7'))).toBe(true);
	});

	it('R8. a Stop and Error node after the call in the sub-workflow', async () => {
		const workflow = await rwtDeploy('R8 Stop and Error', 'rwt-secrets-8', { subWorkflowId: stopSub.id });
		const response = await rwtCall('R8 Stop and Error', 'rwt-secrets-8', { tenantId: 'tenant-r8', data: { name: 'x-tenant-secret', value: canary('r8') } });
		expect(response.status).toBe(500);
		const execution = await parentOf(workflow.id);
		expect(failureText(execution)).toMatch(/failing on purpose in the sub-workflow|Fail/);
		expect(echoHeaderSeen(canary('r8'))).toBe(true);
	});

	it('R9. Continue On Fail with a good and a failing item', async () => {
		// The items carry tenant and status only; each item's data comes from the Webhook's body by index.
		const split = workflows.codeNode('Split Items', 'return $input.first().json.body.items.map((item) => ({ json: { body: { tenantId: item.tenantId, status: item.status } } }));');
		const workflow = await rwtDeploy(
			'R9 continue on fail',
			'rwt-secrets-9',
			{ subWorkflowId: failingSub.id, onError: 'continueRegularOutput', credentialData: "={{ $('Webhook').first().json.body.items[$itemIndex].data }}" },
			[split],
		);
		const response = await rwtCall('R9 continue on fail', 'rwt-secrets-9', {
			items: [
				{ tenantId: 'tenant-r9a', status: 200, data: { name: 'x-tenant-secret', value: canary('r9a') } },
				{ tenantId: 'tenant-r9b', status: 500, data: { name: 'x-tenant-secret', value: canary('r9b') } },
			],
		});
		expect(response.status).toBe(200);
		const execution = await parentOf(workflow.id);
		expect(execution.status).toBe('success');
		const items = outputItems(execution, RWT);
		expect(items.length).toBe(2);
		expect(items.filter((item) => item?.called === true).length).toBe(1);
		expect(items.filter((item) => item?.error !== undefined).length).toBe(1);
	});

	it('R10. an n8n API credential whose API key is a canary: 401', async () => {
		const badApi = await api.createCredential({
			name: 'n8n API (wrong key, Run With Tenant Credential)',
			type: 'tenantSwapN8nApi',
			data: { baseUrl: n8n.apiUrl, apiKey: canary('r10key'), allowUnauthorizedCerts: false },
		});
		sent.add(canary('r10key'));
		await rwtRefused('R10 bad API key', 'rwt-secrets-10', { n8nApi: badApi }, { tenantId: 'tenant-r10', data: { name: 'x-tenant-secret', value: canary('r10') } }, /401/);
	});

	it('R11. Test Credential on, and n8n\'s credential test fails', async () => {
		const placeholder = await api.createCredential({ name: 'placeholder (n8n API type)', type: 'n8nApi', data: { apiKey: 'none', baseUrl: `${echo.url}/no-such-api` } });
		const json = workflows.tenantSubWorkflow({ name: 'secrets sub-workflow (n8nApi type)', kind: 'headerAuth', echoUrl: echo.url, credential: placeholder, pick: 'none', extraNodes: [SUMMARY] });
		const callNode = json.nodes.find((node: any) => node.name === CALL);
		callNode.parameters = { method: 'GET', url: `${echo.url}/echo`, authentication: 'predefinedCredentialType', nodeCredentialType: 'n8nApi', options: {} };
		callNode.credentials = { n8nApi: placeholder };
		const sub = await api.createWorkflow(json);
		await api.activateWorkflow(sub.id);
		await rwtRefused(
			'R11 credential test',
			'rwt-secrets-11',
			{ subWorkflowId: sub.id, options: { credentialType: 'n8nApi', testCredential: true, allowedFields: 'apiKey,baseUrl' } },
			{ tenantId: 'tenant-r11', data: { apiKey: canary('r11'), baseUrl: `${echo.url}/no-such-api` } },
			/credential test/i,
		);
	});

	/** Every execution of this block: parents (a Webhook ran) and sub-executions (the Execute Workflow Trigger ran). */
	async function blockExecutions() {
		for (const { id } of rwtDeployed) await parentOf(id);
		const all: any[] = (await api.getExecutions({ includeData: true })).filter((execution: any) => Number(execution.id) > lastIdBefore);
		const ran = (execution: any, node: string) => Boolean(execution.data?.resultData?.runData?.[node]);
		return { parents: all.filter((execution) => ran(execution, 'Webhook')), subs: all.filter((execution) => ran(execution, SUB_TRIGGER)), all };
	}

	/** A sub-execution: every node's run data but the tenant API call's (the echo reflects the secret by design), and the rest. */
	function subExecutionPlaces(execution: any): Place[] {
		const resultData = execution?.data?.resultData ?? {};
		const label = `sub-execution ${execution.id} (workflow ${execution.workflowId})`;
		const error = resultData.error;
		const runData = Object.fromEntries(Object.entries(resultData.runData ?? {}).filter(([node]) => node !== CALL));
		return [
			{ label: `${label}, run data of every node but "${CALL}"`, text: JSON.stringify(runData) },
			{ label: `${label}, resultData.error`, text: `${JSON.stringify(error ?? null)}\n${String(error?.message ?? '')}\n${String(error?.description ?? '')}\n${String(error?.stack ?? '')}` },
			{ label: `${label}, resultData without run data`, text: JSON.stringify({ ...resultData, runData: undefined }) },
			{ label: `${label}, workflowData`, text: JSON.stringify(execution.workflowData ?? null) },
		];
	}

	/** A parent execution: our node's and Strip's run data, resultData.error and the rest, workflowData. */
	function parentPlaces(execution: any): Place[] {
		const resultData = execution?.data?.resultData ?? {};
		const runData = resultData.runData ?? {};
		const label = `execution ${execution.id} (workflow ${execution.workflowId})`;
		const error = resultData.error;
		return [
			{ label: `${label}, run data of "${RWT}"`, text: JSON.stringify(runData[RWT] ?? null) },
			{ label: `${label}, run data of "Strip"/"Split Items"`, text: JSON.stringify([runData.Strip ?? null, runData['Split Items'] ?? null]) },
			{ label: `${label}, resultData.error`, text: `${JSON.stringify(error ?? null)}\n${String(error?.message ?? '')}\n${String(error?.description ?? '')}\n${String(error?.stack ?? '')}` },
			{ label: `${label}, resultData without run data`, text: JSON.stringify({ ...resultData, runData: undefined }) },
			{ label: `${label}, workflowData`, text: JSON.stringify(execution.workflowData ?? null) },
		];
	}

	it('the scan: no canary in parent executions, sub-executions, answers, credential names, the lock store or the log', async () => {
		const { parents, subs } = await blockExecutions();
		// R1 and R2 share a workflow.
		expect(parents.length).toBe(rwtDeployed.length + 1);
		// Sub-executions: R1, R2, R3, R7, R8, R9 (two items) at least.
		expect(subs.length).toBeGreaterThanOrEqual(6);

		const rwtCanaries = [...sent].filter((secret) => /^canary-r\d/.test(secret));
		const dataCanaries = rwtCanaries.filter((secret) => secret !== canary('r10key'));
		// Control: the Webhook's run data has every data canary.
		const webhookText = parents.map((execution) => JSON.stringify(runsOf(execution, 'Webhook'))).join('\n');
		expect(dataCanaries.filter((secret) => !webhookText.includes(secret))).toEqual([]);
		// Control: sub-executions are stored and read: the tenant API call's run data (the echo reflects the
		// header) has the header canaries of the runs that reached it.
		const callText = subs.map((execution) => JSON.stringify(runsOf(execution, CALL))).join('\n');
		expect([canary('r1'), canary('r8'), canary('r9a')].filter((secret) => !callText.includes(secret))).toEqual([]);
		// Control: what is scanned is there (our node's outputs and errors).
		const parentText = parents.flatMap(parentPlaces).map((place) => place.text).join('\n');
		expect(parentText).toContain('"called":true');
		expect(parentText).toMatch(/Call Tenant API/);

		const credentialNames = (await api.listCredentials()).map((credential: Ref) => credential.name).join('\n');
		expect(credentialNames).toMatch(/^tenant-cred \S+ tenant-r1 /m);

		const places: Place[] = [
			...parents.flatMap(parentPlaces),
			...subs.flatMap(subExecutionPlaces),
			...rwtResponses.map((r) => ({ label: `response to ${r.label} (${r.status})`, text: JSON.stringify(r.body ?? null) })),
			{ label: 'credential names', text: credentialNames },
			...(await tenantStorePlaces()),
			{ label: 'n8n log', text: n8n.readLog() },
		];
		expect(leaksIn(places)).toEqual([]);
	});

	/** Every row of every table of our package in the lock database (locks, audit, state, registry). */
	async function tenantStorePlaces(): Promise<Place[]> {
		const client = new Client({ connectionString: testDatabaseUrl() });
		await client.connect();
		try {
			const { rows: tables } = await client.query<{ schema: string; name: string }>(
				`SELECT schemaname AS schema, tablename AS name FROM pg_tables
				  WHERE schemaname NOT IN ('pg_catalog', 'information_schema') AND (tablename LIKE 'tenant\\_%' OR tablename LIKE 'tsl\\_%')
				  ORDER BY 1, 2`,
			);
			const places: Place[] = [];
			for (const { schema, name } of tables) {
				const { rows } = await client.query<{ row: string }>(`SELECT row_to_json(t)::text AS row FROM "${schema}"."${name}" t`);
				places.push({ label: `lock database table ${schema}.${name} (${rows.length} rows)`, text: rows.map((r) => r.row).join('\n') });
			}
			return places;
		} finally {
			await client.end();
		}
	}
});
