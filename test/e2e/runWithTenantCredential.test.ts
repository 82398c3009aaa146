/**
 * Run With Tenant Credential in a real n8n 2.40.7 running our packed package (installed the way the
 * community nodes panel installs it), n8n on PostgreSQL, the echo service as every tenant's API.
 *
 * The sub-workflow (Execute Workflow Trigger -> HTTP Request to the echo -> Pick) is wired to a
 * placeholder credential; the node runs it with each tenant's own credential. What is checked:
 *   (a) 0 bleed over 500 webhook calls of 50 tenants, 50 in flight at a time, and a control in which the
 *       same sub-workflow runs with one shared credential PATCHed without a lock, fired the same way: it bleeds;
 *   (b) 50 concurrent first calls of one new tenant make exactly one credential;
 *   (c) OAuth2 client credentials: one token fetch per tenant credential, none in steady state
 *       (and, for comparison, the swap pattern's fetches);
 *   (d) new data -> new credential, the old one deleted after Retention by later executions; none
 *       deleted while a run that outlasts Retention and the in-use mark still uses it;
 *   (e) bad input and failing sub-workflows: clear errors naming the parameter, the tenant and the failed
 *       node; no credential made for refused input; Continue On Fail gives error items.
 * Secrets in the stored executions and n8n's log: test/e2e/secrets.test.ts. Queue mode:
 * runWithTenantCredentialQueue.test.ts. No test secret is ever printed (redactSecrets).
 */
import { startE2eStack, waitUntil, type E2eStack, type Ref } from '../helpers/e2eStack';
import {
	describeBleed,
	digest,
	executionError,
	fireCalls,
	headerAuthPlaceholder,
	oauthPlaceholder,
	PLACEHOLDER_SECRET,
	redactSecrets,
	reportFailures,
	secretFor,
	seenClient,
	seenSecret,
	tenantCredentialCounts,
	tenantCredentials,
	tokenFetches,
	type Call,
} from '../helpers/runWithTenant';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const workflows = require('../harness/workflows.js');

jest.setTimeout(1_800_000);

const NODE = workflows.RUN_WITH_TENANT as string;

let stack: E2eStack;
let n8n: any;
let api: any;
let echo: E2eStack['echo'];
let n8nApi: Ref;
let postgres: Ref;
/** Salt of this run's secrets. */
const RUN = Math.random().toString(36).slice(2, 8);

beforeAll(async () => {
	stack = await startE2eStack();
	({ n8n, api, echo, n8nApi, postgres } = stack);
});

afterAll(async () => {
	await stack?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** The digest of the secret / OAuth2 client the tenant API saw (see digest in helpers/runWithTenant). */
const headerSeen = seenSecret;
const oauthSeen = seenClient;

/** A deterministic shuffle (so same-tenant calls sometimes overlap, sometimes not), the same every run. */
function shuffled<T>(list: T[]): T[] {
	const out = [...list];
	let seed = 42;
	for (let i = out.length - 1; i > 0; i--) {
		seed = (seed * 1103515245 + 12345) % 2147483648;
		const j = seed % (i + 1);
		[out[i], out[j]] = [out[j], out[i]];
	}
	return out;
}

/** `count` calls over the tenants (each tenant one fixed secret), shuffled. */
function callsOver(tenants: string[], count: number, secretOf: (tenant: string) => string): Call[] {
	return shuffled(Array.from({ length: count }, (_, i) => ({ tenant: tenants[i % tenants.length], secret: secretOf(tenants[i % tenants.length]) })));
}

/** Whose secret a seen digest is, without printing any secret. */
function ownerOfSecret(secrets: Map<string, string>) {
	return (seen: string | undefined) => {
		if (seen === digest(PLACEHOLDER_SECRET)) return 'the placeholder credential';
		for (const [tenant, secret] of secrets) if (digest(secret) === seen) return `the secret of ${tenant}`;
		return seen === undefined ? 'nothing' : 'an unknown value';
	};
}

/** The most executions of the workflow (webhook mode) that ran at the same time, from their stored start/stop. */
async function peakOverlap(workflowId: string): Promise<number> {
	const executions = (await api.getExecutions({ workflowId })).filter((execution: any) => execution.mode === 'webhook' && execution.stoppedAt);
	const events = executions.flatMap((execution: any) => [
		{ at: Date.parse(execution.startedAt), delta: 1 },
		{ at: Date.parse(execution.stoppedAt), delta: -1 },
	]);
	events.sort((a: { at: number; delta: number }, b: { at: number; delta: number }) => a.at - b.at || a.delta - b.delta);
	let running = 0;
	let peak = 0;
	for (const event of events) {
		running += event.delta;
		peak = Math.max(peak, running);
	}
	return peak;
}

/** The newest finished webhook (parent) execution of the workflow, with its data. */
async function parentExecution(workflowId: string): Promise<any> {
	let found: any;
	const done = await waitUntil(async () => {
		const executions = await api.getExecutions({ workflowId, includeData: true });
		found = executions.find((execution: any) => execution.mode === 'webhook' && !['new', 'running', 'waiting'].includes(execution.status));
		return Boolean(found);
	}, 60_000);
	if (!done) throw new Error(`no finished webhook execution of workflow ${workflowId}`);
	return found;
}

/** The JSON of every output item of the node's runs in an execution. */
function outputItems(execution: any, node = NODE): any[] {
	const runs = execution?.data?.resultData?.runData?.[node] ?? [];
	return runs.flatMap((run: any) => (run.data?.main ?? []).flat().map((item: any) => item?.json));
}

async function headerSubWorkflow(name: string, extra: Record<string, unknown> = {}) {
	const placeholder = await headerAuthPlaceholder(api, `placeholder (${name})`);
	const sub = await api.createWorkflow(workflows.tenantSubWorkflow({ name, kind: 'headerAuth', echoUrl: echo.url, credential: placeholder, ...extra }));
	// Production executions run only a published sub-workflow (as n8n's Execute Workflow node); n8n cannot publish one without a trigger.
	if (extra.trigger !== false) await api.activateWorkflow(sub.id);
	return { placeholder, sub: sub as { id: string } };
}

const HEADER_OPTIONS = { allowedFields: 'name,value', credentialType: 'httpHeaderAuth' };

describe('the harness', () => {
	it("creates its API key with every scope, workflow:read included, and can make a key without it", async () => {
		const scopes = (await n8n.rest('GET', 'api-keys/scopes')).body.data as string[];
		expect(scopes).toContain('workflow:read');
		// 2.40.7 answers { data: { items, counts, totals } }
		const listed = (await n8n.rest('GET', 'api-keys')).body.data;
		const keys = (Array.isArray(listed) ? listed : listed.items) as Array<{ label: string; scopes: string[] }>;
		const harnessKey = keys.find((key) => key.label === `harness-${n8n.runId}`);
		expect(harnessKey?.scopes).toEqual(expect.arrayContaining(scopes));
		expect((await api.request('GET', 'workflows', { query: { limit: 1 } })).status).toBe(200);
	});
});

describe('(a) zero bleed: 500 webhook calls over 50 tenants', () => {
	// 2 cores run n8n, PostgreSQL and this test: the 500 calls are fired 50 in flight at a time (a new
	// one starts as soon as one answers), not all 500 at once, which would measure n8n's overload.
	const TENANTS = Array.from({ length: 50 }, (_, i) => `z${String(i).padStart(2, '0')}`);
	const CALLS = 500;
	const IN_FLIGHT = 50;
	// A fixed secret per tenant: a new secret per call would make a new credential per call.
	const secrets = new Map(TENANTS.map((tenant) => [tenant, secretFor(tenant, RUN)]));
	const list = callsOver(TENANTS, CALLS, (tenant) => secrets.get(tenant) as string);
	const expected = (call: Call) => digest(call.secret);

	it('control: the same sub-workflow on one shared credential PATCHed without a lock, fired the same way, bleeds', async () => {
		const shared = await headerAuthPlaceholder(api, 'shared credential (control)');
		const sub = await api.createWorkflow(
			workflows.tenantSubWorkflow({ name: 'sub-workflow (control, shared credential)', kind: 'headerAuth', echoUrl: echo.url, credential: shared }),
		);
		// n8n 2.40.7 publishes a workflow with an Execute Workflow node only once the sub-workflow is published.
		await api.activateWorkflow(sub.id);
		const workflow = await api.deployWorkflow(
			workflows.sharedSubWorkflowControl({
				name: 'control: shared credential, no lock',
				path: 'rwt-control',
				kind: 'headerAuth',
				sharedCredential: shared,
				subWorkflowId: sub.id,
				apiUrl: n8n.apiUrl,
				apiKey: n8n.apiKey,
				echoUrl: echo.url,
			}),
		);
		const { failed, bled } = await fireCalls(api, 'rwt-control', list, { concurrency: IN_FLIGHT, seen: headerSeen, expected });
		process.stderr.write(`(a) control: ${CALLS} calls, ${TENANTS.length} tenants, ${IN_FLIGHT} in flight: ${bled.length} bled, ${failed.length} failed\n`);
		if (failed.length > 0) await reportFailures(api, workflow.id, 'Execute Sub-Workflow');
		expect(bled.length).toBeGreaterThan(0);
	});

	it('Run With Tenant Credential: 0 bled, 0 failed, the placeholder never used, one credential per tenant', async () => {
		const { sub } = await headerSubWorkflow('sub-workflow (zero bleed)');
		const workflow = await api.deployWorkflow(
			workflows.runWithTenantWorkflow({ name: 'zero bleed', path: 'rwt-zero-bleed', subWorkflowId: sub.id, n8nApi, postgres, kind: 'headerAuth', echoUrl: echo.url, options: HEADER_OPTIONS }),
		);
		echo.requests.length = 0;
		const started = Date.now();
		const { failed, bled, answers } = await fireCalls(api, 'rwt-zero-bleed', list, { concurrency: IN_FLIGHT, seen: headerSeen, expected });
		const seconds = ((Date.now() - started) / 1000).toFixed(1);
		const peak = await peakOverlap(workflow.id);
		process.stderr.write(
			`(a) Run With Tenant Credential: ${CALLS} calls, ${TENANTS.length} tenants, ${IN_FLIGHT} in flight: ${bled.length} bled, ${failed.length} failed, ` +
				`${seconds} s, at most ${peak} executions running at once\n`,
		);
		if (failed.length > 0) await reportFailures(api, workflow.id);
		expect(failed.map((answer) => `${answer.call.tenant}: HTTP ${answer.status} ${redactSecrets(JSON.stringify(answer.body)).slice(0, 200)}`)).toEqual([]);
		expect(describeBleed(bled, ownerOfSecret(secrets))).toEqual([]);
		expect(answers.filter((answer) => answer.seen === digest(answer.call.secret)).length).toBe(CALLS);
		// Concurrent for real: executions overlapped in n8n.
		expect(peak).toBeGreaterThan(1);
		// The placeholder never reached the tenant API.
		expect(echo.requests.filter((request) => request.path === '/echo' && request.headers['x-tenant-secret'] === PLACEHOLDER_SECRET).length).toBe(0);
		const counts = await tenantCredentialCounts(api);
		expect(TENANTS.filter((tenant) => counts.get(tenant) !== 1).map((tenant) => `${tenant}: ${counts.get(tenant) ?? 0} credentials`)).toEqual([]);
	});
});

describe('(b) first calls of a new tenant', () => {
	it('50 concurrent first calls create exactly one credential, and all 50 see its secret', async () => {
		const { sub } = await headerSubWorkflow('sub-workflow (first calls)');
		const workflow = await api.deployWorkflow(
			workflows.runWithTenantWorkflow({ name: 'first calls', path: 'rwt-first-calls', subWorkflowId: sub.id, n8nApi, postgres, kind: 'headerAuth', echoUrl: echo.url, options: HEADER_OPTIONS }),
		);
		const tenant = 'newcomer';
		const secret = secretFor(tenant, RUN);
		expect(await tenantCredentials(api, tenant)).toEqual([]);
		const list = Array.from({ length: 50 }, () => ({ tenant, secret }));
		const { failed, bled } = await fireCalls(api, 'rwt-first-calls', list, { concurrency: Infinity, seen: headerSeen, expected: (call) => digest(call.secret) });
		if (failed.length > 0) await reportFailures(api, workflow.id);
		const made = await tenantCredentials(api, tenant);
		process.stderr.write(`(b) 50 concurrent first calls: ${failed.length} failed, ${bled.length} bled, ${made.length} credential(s) made\n`);
		expect(failed.map((answer) => answer.status)).toEqual([]);
		expect(bled.length).toBe(0);
		expect(made.length).toBe(1);
		expect(made[0].type).toBe('httpHeaderAuth');
		// The name holds the tenant and a keyed hash, never the data.
		expect(made[0].name).toMatch(/^tenant-cred [\w-]{8} newcomer [\w-]{24} \(managed by Run With Tenant Credential: do not edit or use\)$/);
		expect(made[0].name.includes(secret)).toBe(false);
	});

	it('a new n8n API key (same n8n, same lock store) finds the same credential: the name does not depend on the key', async () => {
		const { sub } = await headerSubWorkflow('sub-workflow (new API key)');
		const scopes = (await n8n.rest('GET', 'api-keys/scopes')).body.data as string[];
		const created = await n8n.rest('POST', 'api-keys', { label: 'rotated key', scopes, expiresAt: null });
		expect(created.status).toBe(200);
		const rotated = await api.createCredential({
			name: 'n8n API (rotated key)',
			type: 'tenantSwapN8nApi',
			data: { baseUrl: n8n.apiUrl, apiKey: created.body.data.rawApiKey as string, allowUnauthorizedCerts: false },
		});
		for (const [path, credential] of [
			['rwt-old-key', n8nApi],
			['rwt-new-key', rotated],
		] as const) {
			await api.deployWorkflow(
				workflows.runWithTenantWorkflow({ name: path, path, subWorkflowId: sub.id, n8nApi: credential, postgres, kind: 'headerAuth', echoUrl: echo.url, options: HEADER_OPTIONS }),
			);
		}
		const body = { tenantId: 'rekeyed', secret: secretFor('rekeyed', RUN) };
		expect((await api.callWebhook('rwt-old-key', { body })).status).toBe(200);
		const [before] = await tenantCredentials(api, 'rekeyed');
		expect((await api.callWebhook('rwt-new-key', { body })).status).toBe(200);
		expect((await tenantCredentials(api, 'rekeyed')).map((credential) => credential.id)).toEqual([before.id]);
	});
});

describe('(c) OAuth2 client credentials: one token per tenant credential', () => {
	const TENANTS = Array.from({ length: 10 }, (_, i) => `o${i}`);
	const secretOf = (tenant: string) => secretFor(tenant, `${RUN}-client`);

	it('10 tenants warm up with one call each; then 200 calls, 50 in flight, fetch no new token and bleed 0', async () => {
		const placeholder = await oauthPlaceholder(api, 'oauth placeholder', echo.url);
		const sub = await api.createWorkflow(workflows.tenantSubWorkflow({ name: 'sub-workflow (oauth2)', kind: 'oauth2', echoUrl: echo.url, credential: placeholder }));
		await api.activateWorkflow(sub.id);
		const workflow = await api.deployWorkflow(
			workflows.runWithTenantWorkflow({ name: 'oauth2', path: 'rwt-oauth', subWorkflowId: sub.id, n8nApi, postgres, kind: 'oauth2', echoUrl: echo.url, options: { credentialType: 'oAuth2Api' } }),
		);
		echo.requests.length = 0;
		const warm = await fireCalls(api, 'rwt-oauth', TENANTS.map((tenant) => ({ tenant, secret: secretOf(tenant) })), {
			concurrency: Infinity,
			seen: oauthSeen,
			expected: (call) => digest(call.tenant),
		});
		if (warm.failed.length > 0) await reportFailures(api, workflow.id);
		expect(warm.failed.map((answer) => answer.status)).toEqual([]);
		expect(warm.bled.map((answer) => `${answer.call.tenant} used the token of another client`)).toEqual([]);
		const afterWarmUp = tokenFetches(echo.requests);
		expect(TENANTS.map((tenant) => `${tenant}: ${afterWarmUp.get(tenant) ?? 0}`)).toEqual(TENANTS.map((tenant) => `${tenant}: 1`));
		expect(afterWarmUp.get('placeholder')).toBeUndefined();

		const steady = await fireCalls(api, 'rwt-oauth', callsOver(TENANTS, 200, secretOf), { concurrency: 50, seen: oauthSeen, expected: (call) => digest(call.tenant) });
		if (steady.failed.length > 0) await reportFailures(api, workflow.id);
		const total = tokenFetches(echo.requests);
		const newFetches = TENANTS.reduce((sum, tenant) => sum + (total.get(tenant) ?? 0) - (afterWarmUp.get(tenant) ?? 0), 0);
		process.stderr.write(
			`(c) OAuth2 Run With Tenant Credential: warm-up ${TENANTS.length} calls -> ${[...afterWarmUp.values()].reduce((a, b) => a + b, 0)} token fetches; ` +
				`200 more calls -> ${newFetches} new fetches, ${steady.bled.length} bled, ${steady.failed.length} failed\n`,
		);
		expect(steady.failed.map((answer) => answer.status)).toEqual([]);
		expect(steady.bled.map((answer) => `${answer.call.tenant} used the token of another client`)).toEqual([]);
		expect(newFetches).toBe(0);
		expect([...total.keys()].filter((client) => !TENANTS.includes(client))).toEqual([]);
		const counts = await tenantCredentialCounts(api);
		expect(TENANTS.filter((tenant) => counts.get(tenant) !== 1).map((tenant) => `${tenant}: ${counts.get(tenant) ?? 0} credentials`)).toEqual([]);
	});

	it('for comparison: the swap pattern on one base credential fetches a token at (nearly) every change of tenant', async () => {
		const baseCredential = await oauthPlaceholder(api, 'oauth base (swap comparison)', echo.url);
		await api.deployWorkflow(workflows.lockedWorkflow({ name: 'oauth swap comparison', path: 'rwt-oauth-swap', kind: 'oauth2', baseCredential, n8nApi, postgres, echoUrl: echo.url }));
		echo.requests.length = 0;
		const list = callsOver(TENANTS, 100, secretOf);
		const { failed, bled } = await fireCalls(api, 'rwt-oauth-swap', list, { concurrency: 20, seen: oauthSeen, expected: (call) => digest(call.tenant) });
		const fetches = [...tokenFetches(echo.requests).values()].reduce((a, b) => a + b, 0);
		process.stderr.write(`(c) OAuth2 swap pattern: 100 calls over ${TENANTS.length} tenants -> ${fetches} token fetches, ${bled.length} bled, ${failed.length} failed\n`);
		expect(failed.map((answer) => answer.status)).toEqual([]);
		expect(bled.length).toBe(0);
		expect(fetches).toBeGreaterThan(TENANTS.length);
	});
});

describe('(d) retention', () => {
	// Retention 0.001 h = 3.6 s; a credential is also kept while in use (the mark lasts 30 s after the
	// last use and is renewed while a run goes on). Limits below are generous liveness bounds.
	const RETENTION = 0.001;
	let workflowId: string;
	const path = 'rwt-retention';

	async function call(tenant: string, secret: string, extra: Record<string, unknown> = {}) {
		return (await api.callWebhook(path, { body: { tenantId: tenant, secret, ...extra } })) as { status: number; body: any };
	}

	/** Calls the workflow for a tenant of its own (each execution of the node may sweep), until `check` holds. */
	async function sweepUntil(check: () => Promise<boolean>, limitMs: number): Promise<{ ok: boolean; calls: number }> {
		let calls = 0;
		const ok = await waitUntil(async () => {
			const response = await call('sweeper', secretFor('sweeper', RUN));
			calls += 1;
			expect(response.status).toBe(200);
			if (await check()) return true;
			await sleep(750);
			return false;
		}, limitMs);
		return { ok, calls };
	}

	const exists = async (id: string) => (await api.listCredentials()).some((credential: { id: string }) => credential.id === id);

	beforeAll(async () => {
		// Slow Step: an HTTP call without credential that waits body.slowMs before the credential is read.
		const { sub } = await headerSubWorkflow('sub-workflow (retention)', { slowStep: true });
		const workflow = await api.deployWorkflow(
			workflows.runWithTenantWorkflow({
				name: 'retention',
				path,
				subWorkflowId: sub.id,
				n8nApi,
				postgres,
				kind: 'headerAuth',
				echoUrl: echo.url,
				options: { ...HEADER_OPTIONS, retention: RETENTION },
			}),
		);
		workflowId = workflow.id;
	});

	it('new data makes a new credential; the old one is deleted after Retention once later executions run', async () => {
		const tenant = 'rotating';
		const first = secretFor(tenant, `${RUN}-1`);
		const second = secretFor(tenant, `${RUN}-2`);
		const r1 = await call(tenant, first);
		if (r1.status !== 200) await reportFailures(api, workflowId);
		expect(r1.status).toBe(200);
		expect(headerSeen(r1.body) === digest(first)).toBe(true);
		const [old] = await tenantCredentials(api, tenant);
		expect(old).toBeDefined();

		const r2 = await call(tenant, second);
		expect(r2.status).toBe(200);
		expect(headerSeen(r2.body) === digest(second)).toBe(true);
		const both = await tenantCredentials(api, tenant);
		expect(both.length).toBe(2);
		const current = both.find((credential) => credential.id !== old.id);
		expect(current).toBeDefined();

		const { ok, calls } = await sweepUntil(async () => !(await exists(old.id)), 240_000);
		process.stderr.write(`(d) the old credential of "${tenant}" was ${ok ? '' : 'NOT '}deleted after ${calls} later executions\n`);
		expect(ok).toBe(true);

		// The tenant's current data still works afterwards (its credential kept, or made again).
		const r3 = await call(tenant, second);
		expect(r3.status).toBe(200);
		expect(headerSeen(r3.body) === digest(second)).toBe(true);
	});

	it('a run that outlasts Retention and the 30 s in-use mark keeps its credential while other executions sweep', async () => {
		const idleSecret = secretFor('idle', RUN);
		expect((await call('idle', idleSecret)).status).toBe(200);
		const [idle] = await tenantCredentials(api, 'idle');
		expect(idle).toBeDefined();

		const tenant = 'slowpoke';
		const secret = secretFor(tenant, RUN);
		// 75 s between the credential's creation and its first read by Call Tenant API: longer than Retention
		// (3.6 s) and than the in-use mark (30 s) unless the mark is renewed while the run goes on.
		const SLOW_MS = 75_000;
		let slowDone = false;
		const slowCall = call(tenant, secret, { slowMs: SLOW_MS }).finally(() => {
			slowDone = true;
		});
		expect(await waitUntil(async () => (await tenantCredentials(api, tenant)).length === 1, 60_000)).toBe(true);
		const [slow] = await tenantCredentials(api, tenant);

		let sweepCalls = 0;
		let vanishedWhileRunning = false;
		let idleDeletedWhileRunning = false;
		while (!slowDone) {
			const response = await call('sweeper', secretFor('sweeper', RUN));
			expect(response.status).toBe(200);
			sweepCalls += 1;
			const ids = new Set((await api.listCredentials()).map((credential: { id: string }) => credential.id));
			if (!slowDone) {
				if (!ids.has(slow.id)) vanishedWhileRunning = true;
				if (!ids.has(idle.id)) idleDeletedWhileRunning = true;
			}
			await sleep(1000);
		}
		const slowResponse = await slowCall;
		process.stderr.write(
			`(d) slow run (${SLOW_MS / 1000} s): HTTP ${slowResponse.status}; ${sweepCalls} executions of other tenants meanwhile; ` +
				`its credential ${vanishedWhileRunning ? 'VANISHED' : 'stayed'}; the idle tenant's credential was ${idleDeletedWhileRunning ? '' : 'not '}deleted meanwhile\n`,
		);
		if (slowResponse.status !== 200) await reportFailures(api, workflowId);
		expect(vanishedWhileRunning).toBe(false);
		expect(slowResponse.status).toBe(200);
		expect(headerSeen(slowResponse.body) === digest(secret)).toBe(true);

		// Control: once the run is over, later executions do delete it (only the use kept it).
		const { ok, calls } = await sweepUntil(async () => !(await exists(slow.id)), 240_000);
		process.stderr.write(`(d) after the slow run its credential was ${ok ? '' : 'NOT '}deleted after ${calls} later executions\n`);
		expect(ok).toBe(true);
	});
});

describe('(e) bad input and failing sub-workflows', () => {
	let headerSub: { id: string };
	let failingSub: { id: string };

	beforeAll(async () => {
		({ sub: headerSub } = await headerSubWorkflow('sub-workflow (bad input)'));
		// Call Tenant API asks the echo for body.status: 500 makes the tenant API fail.
		({ sub: failingSub } = await headerSubWorkflow('sub-workflow (tenant API status from the body)', { echoQueryFromBody: true }));
	});

	interface Refusal {
		path: string;
		tenant: string;
		body: Record<string, unknown>;
		node?: Record<string, unknown>;
		subWorkflowId?: string;
		before?: any[];
	}

	/** Deploys Webhook -> [before] -> Run With Tenant Credential, calls it once; the execution must fail in our node. */
	async function failingCall(r: Refusal) {
		const workflow = await api.deployWorkflow(
			workflows.runWithTenantWorkflow({
				name: `bad input: ${r.path}`,
				path: r.path,
				subWorkflowId: r.subWorkflowId ?? headerSub.id,
				n8nApi,
				postgres,
				kind: 'headerAuth',
				echoUrl: echo.url,
				options: HEADER_OPTIONS,
				before: r.before,
				...(r.node ?? {}),
			}),
		);
		const response = await api.callWebhook(r.path, { body: r.body });
		const execution = await parentExecution(workflow.id);
		const error = executionError(execution);
		const text = `${error.message} | ${error.description}`;
		return { workflow, response, execution, error, text };
	}

	/** The call fails in our node with an error matching every pattern, naming no secret, and makes no credential. */
	async function expectRefused(r: Refusal, patterns: RegExp[]) {
		const { response, execution, error, text } = await failingCall(r);
		const secret = String(r.body.secret ?? '');
		expect(response.status).toBe(500);
		expect(execution.status).toBe('error');
		expect(error.node).toBe(NODE);
		for (const pattern of patterns) expect(redactSecrets(text)).toMatch(pattern);
		expect(secret !== '' && text.includes(secret)).toBe(false);
		expect(JSON.stringify(response.body ?? null).includes(secret) && secret !== '').toBe(false);
		expect((await tenantCredentials(api, r.tenant)).map((credential) => credential.name)).toEqual([]);
		return { text };
	}

	it('missing Tenant ID', async () => {
		await expectRefused({ path: 'rwt-e1', tenant: 'e1', body: { secret: secretFor('e1', RUN) } }, [/Tenant ID/i]);
	});

	it('Credential Data that is not an object: text that is not JSON', async () => {
		const secret = secretFor('e2a', RUN);
		await expectRefused(
			{ path: 'rwt-e2a', tenant: 'e2a', body: { tenantId: 'e2a', secret, data: `name=x-tenant-secret value=${secret}` }, node: { credentialData: '={{ $json.body.data }}' } },
			[/Credential Data/i],
		);
	});

	it('Credential Data that is not an object: a JSON array', async () => {
		const secret = secretFor('e2b', RUN);
		await expectRefused(
			{ path: 'rwt-e2b', tenant: 'e2b', body: { tenantId: 'e2b', secret, data: ['x-tenant-secret', secret] }, node: { credentialData: '={{ $json.body.data }}' } },
			[/Credential Data/i],
		);
	});

	it('a field outside Allowed Fields', async () => {
		const secret = secretFor('e3', RUN);
		await expectRefused(
			{
				path: 'rwt-e3',
				tenant: 'e3',
				body: { tenantId: 'e3', secret },
				node: { credentialData: '={{ { "name": "x-tenant-secret", "value": $json.body.secret, "allowedHttpRequestDomains": "all" } }}' },
			},
			[/allowedHttpRequestDomains/, /Allowed Fields/i],
		);
	});

	it('a sub-workflow ID that does not exist', async () => {
		await expectRefused({ path: 'rwt-e4', tenant: 'e4', body: { tenantId: 'e4', secret: secretFor('e4', RUN) }, subWorkflowId: 'NoSuchWorkflow4' }, [
			/Sub-Workflow/i,
			/NoSuchWorkflow4/,
		]);
	});

	it('a workflow that is not a sub-workflow (no Execute Workflow Trigger), published (started by a webhook) and never published', async () => {
		const placeholder = await headerAuthPlaceholder(api, 'placeholder (e5)');
		const json = workflows.tenantSubWorkflow({ name: 'not a sub-workflow (e5)', kind: 'headerAuth', echoUrl: echo.url, credential: placeholder, trigger: false });
		const published = await api.deployWorkflow(workflows.chainWorkflow({ name: 'not a sub-workflow, published (e5)', path: 'rwt-e5-webhook-started', nodes: json.nodes.slice(1) }));
		await expectRefused({ path: 'rwt-e5', tenant: 'e5', body: { tenantId: 'e5', secret: secretFor('e5', RUN) }, subWorkflowId: published.id }, [
			/Sub-Workflow/i,
			/Execute Workflow Trigger/i,
		]);
		// n8n cannot publish a workflow with only a Manual Trigger: a production run refuses it as unpublished, as n8n's own node does.
		const { sub } = await headerSubWorkflow('not a sub-workflow, never published (e5b)', { trigger: false });
		await expectRefused({ path: 'rwt-e5b', tenant: 'e5b', body: { tenantId: 'e5b', secret: secretFor('e5b', RUN) }, subWorkflowId: sub.id }, [
			/Sub-Workflow/i,
			/is not published/,
		]);
	});

	it('a sub-workflow with no node using a credential of the type (Credential Type httpHeaderAuth, nodes on OAuth2)', async () => {
		const placeholder = await oauthPlaceholder(api, 'oauth placeholder (e6)', echo.url);
		const sub = await api.createWorkflow(workflows.tenantSubWorkflow({ name: 'sub-workflow on OAuth2 (e6)', kind: 'oauth2', echoUrl: echo.url, credential: placeholder }));
		await api.activateWorkflow(sub.id);
		await expectRefused({ path: 'rwt-e6', tenant: 'e6', body: { tenantId: 'e6', secret: secretFor('e6', RUN) }, subWorkflowId: sub.id }, [/Placeholder Credential/, /httpHeaderAuth/]);
	});

	it('a sub-workflow with no credential at all, Credential Type empty', async () => {
		const placeholder = await headerAuthPlaceholder(api, 'placeholder (e6b)');
		const json = workflows.tenantSubWorkflow({ name: 'sub-workflow without credentials (e6b)', kind: 'headerAuth', echoUrl: echo.url, credential: placeholder });
		const callNode = json.nodes.find((node: any) => node.name === 'Call Tenant API');
		delete callNode.credentials;
		callNode.parameters = { method: 'GET', url: `${echo.url}/echo`, options: {} };
		const sub = await api.createWorkflow(json);
		await api.activateWorkflow(sub.id);
		await expectRefused(
			{ path: 'rwt-e6b', tenant: 'e6b', body: { tenantId: 'e6b', secret: secretFor('e6b', RUN) }, subWorkflowId: sub.id, node: { options: { allowedFields: 'name,value' } } },
			[/Placeholder Credential/, /uses a credential/],
		);
	});

	/** An "n8n API (Tenant Swap)" credential whose key has every scope but workflow:read (made once). */
	let limited: { key: string; credential: Ref } | undefined;
	async function limitedApiCredential() {
		if (limited) return limited;
		const scopes = ((await n8n.rest('GET', 'api-keys/scopes')).body.data as string[]).filter((scope) => scope !== 'workflow:read');
		const created = await n8n.rest('POST', 'api-keys', { label: 'without workflow:read', scopes, expiresAt: null });
		expect(created.status).toBe(200);
		const key = created.body.data.rawApiKey as string;
		// The key really lacks the scope: n8n refuses to read a workflow with it.
		const refused = await fetch(`${n8n.apiUrl}/workflows/${headerSub.id}`, { headers: { 'X-N8N-API-KEY': key } });
		await refused.arrayBuffer();
		expect(refused.status).toBe(403);
		const credential = await api.createCredential({
			name: 'n8n API (without workflow:read)',
			type: 'tenantSwapN8nApi',
			data: { baseUrl: n8n.apiUrl, apiKey: key, allowUnauthorizedCerts: false },
		});
		return (limited = { key, credential });
	}

	it('an n8n API key without workflow:read (a sub-workflow nobody read before)', async () => {
		const { key, credential } = await limitedApiCredential();
		const { sub } = await headerSubWorkflow('sub-workflow read by nobody yet (e7a)');
		const { text } = await expectRefused(
			{ path: 'rwt-e7a', tenant: 'e7a', body: { tenantId: 'e7a', secret: secretFor('e7a', RUN) }, subWorkflowId: sub.id, node: { n8nApi: credential } },
			[/workflow:read/],
		);
		expect(text.includes(key)).toBe(false);
	});

	it('an n8n API key without workflow:read, right after a key with it read the same sub-workflow', async () => {
		const { key, credential } = await limitedApiCredential();
		const { sub } = await headerSubWorkflow('sub-workflow just read by another key (e7b)');
		const allowedPath = 'rwt-e7b-allowed';
		await api.deployWorkflow(
			workflows.runWithTenantWorkflow({ name: 'e7b: full key', path: allowedPath, subWorkflowId: sub.id, n8nApi, postgres, kind: 'headerAuth', echoUrl: echo.url, options: HEADER_OPTIONS }),
		);
		const limitedWorkflow = await api.deployWorkflow(
			workflows.runWithTenantWorkflow({
				name: 'e7b: key without workflow:read',
				path: 'rwt-e7b',
				subWorkflowId: sub.id,
				n8nApi: credential,
				postgres,
				kind: 'headerAuth',
				echoUrl: echo.url,
				options: HEADER_OPTIONS,
			}),
		);
		// The key with workflow:read runs the sub-workflow; the key without it asks at once after.
		const allowed = await api.callWebhook(allowedPath, { body: { tenantId: 'e7b-allowed', secret: secretFor('e7b-allowed', RUN) } });
		expect(allowed.status).toBe(200);
		const response = await api.callWebhook('rwt-e7b', { body: { tenantId: 'e7b', secret: secretFor('e7b', RUN) } });
		const execution = await parentExecution(limitedWorkflow.id);
		const error = executionError(execution);
		const text = `${error.message} | ${error.description}`;
		expect(response.status).toBe(500);
		expect(error.node).toBe(NODE);
		expect(redactSecrets(text)).toMatch(/workflow:read/);
		expect(text.includes(key)).toBe(false);
		expect((await tenantCredentials(api, 'e7b')).map((c) => c.name)).toEqual([]);
	});

	it('the tenant API answers 500 in the sub-workflow: the error names the tenant and the failed node', async () => {
		const { response, execution, error, text } = await failingCall({
			path: 'rwt-e8',
			tenant: 'e8',
			body: { tenantId: 'e8', secret: secretFor('e8', RUN), status: 500 },
			subWorkflowId: failingSub.id,
		});
		expect(response.status).toBe(500);
		expect(execution.status).toBe('error');
		expect(error.node).toBe(NODE);
		expect(redactSecrets(text)).toMatch(/\be8\b/);
		expect(redactSecrets(text)).toMatch(/Call Tenant API/);
		expect(text.includes(secretFor('e8', RUN))).toBe(false);
	});

	it('a Stop and Error node in the sub-workflow: the error names the tenant and the node', async () => {
		const { sub } = await headerSubWorkflow('sub-workflow that stops with an error (e9)', { extraNodes: [workflows.stopAndErrorNode('failing on purpose in the sub-workflow')] });
		const { response, execution, error, text } = await failingCall({ path: 'rwt-e9', tenant: 'e9', body: { tenantId: 'e9', secret: secretFor('e9', RUN) }, subWorkflowId: sub.id });
		expect(response.status).toBe(500);
		expect(execution.status).toBe('error');
		expect(error.node).toBe(NODE);
		expect(redactSecrets(text)).toMatch(/\be9\b/);
		expect(redactSecrets(text)).toMatch(/\bFail\b/);
		expect(text.includes(secretFor('e9', RUN))).toBe(false);
	});

	it('Continue On Fail: a good item gets the sub-workflow output, a failing one an item with json.error', async () => {
		const good = secretFor('e10good', RUN);
		const bad = secretFor('e10bad', RUN);
		const split = workflows.codeNode('Split Items', 'return $input.first().json.body.items.map((body) => ({ json: { body } }));');
		const { response, execution } = await failingCall({
			path: 'rwt-e10',
			tenant: 'e10good',
			body: {
				items: [
					{ tenantId: 'e10good', secret: good, status: 200 },
					{ tenantId: 'e10bad', secret: bad, status: 500 },
				],
			},
			subWorkflowId: failingSub.id,
			before: [split],
			node: { onError: 'continueRegularOutput' },
		});
		expect(response.status).toBe(200);
		expect(execution.status).toBe('success');
		const items = outputItems(execution);
		expect(items.length).toBe(2);
		expect(items.filter((item) => item?.tenantSecretHash === digest(good)).length).toBe(1);
		const errors = items.filter((item) => item?.error !== undefined);
		expect(errors.length).toBe(1);
		expect(redactSecrets(JSON.stringify(errors[0].error))).toMatch(/e10bad/);
		expect(redactSecrets(JSON.stringify(errors[0].error))).toMatch(/Call Tenant API/);
		expect(JSON.stringify(errors[0]).includes(bad) || JSON.stringify(errors[0]).includes(good)).toBe(false);
	});
});

describe('(g) a tenant credential deleted in n8n by someone else', () => {
	// The call that finds the credential gone fails (the sub-workflow may already have run nodes before the
	// one that needs the credential, so the node does not run it again on its own) and says so; the
	// registry forgets the credential, so the call after it makes a new one.
	it('the call that finds it gone fails and says so; the next call makes it again and succeeds', async () => {
		const { sub } = await headerSubWorkflow('sub-workflow (deleted by hand)');
		const workflow = await api.deployWorkflow(
			workflows.runWithTenantWorkflow({ name: 'deleted by hand', path: 'rwt-deleted', subWorkflowId: sub.id, n8nApi, postgres, kind: 'headerAuth', echoUrl: echo.url, options: HEADER_OPTIONS }),
		);
		const tenant = 'g1';
		const secret = secretFor(tenant, RUN);
		const first = await api.callWebhook('rwt-deleted', { body: { tenantId: tenant, secret } });
		expect(first.status).toBe(200);
		const [made] = await tenantCredentials(api, tenant);
		expect(made).toBeDefined();
		// An operator cleans up credentials in n8n (or restores an older database).
		await api.deleteCredential(made.id);

		const failing = await api.callWebhook('rwt-deleted', { body: { tenantId: tenant, secret } });
		expect(failing.status).toBe(500);
		// The failed sub-execution is stored under this workflow's ID too (n8n runs it inline): take the node's error.
		const failed = await api.getExecutions({ workflowId: workflow.id, includeData: true, status: 'error' });
		const nodeError = failed.map((execution: any) => execution.data?.resultData?.error).find((error: any) => error?.node?.name === 'Run With Tenant Credential');
		expect(nodeError?.description).toMatch(/deleted outside this node\. It is forgotten now: the tenant's next execution creates it again/);
		// (The Webhook node's stored output holds the request body: n8n's data, see the README's security notes.)
		expect(JSON.stringify(nodeError)).not.toContain(secret);

		const second = await api.callWebhook('rwt-deleted', { body: { tenantId: tenant, secret } });
		if (second.status !== 200) await reportFailures(api, workflow.id);
		expect(second.status).toBe(200);
		expect(seenSecret(second.body) === digest(secret)).toBe(true);
		const now = await tenantCredentials(api, tenant);
		expect(now.length).toBe(1);
		expect(now[0].id).not.toBe(made.id);
	});
});
