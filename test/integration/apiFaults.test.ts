/**
 * Fault matrix, n8n API part: the Tenant Credential Swap node's execute() against a REAL n8n 2.40.7
 * reached through a fault-injecting proxy (test/helpers/faultProxy.ts). For each API step of a swap
 * (schema fetch, temporary credential create, credential test, PATCH of the base credential,
 * temporary credential delete) and each fault (500, timeout, API down), transient and persistent:
 * retries where the call is safe to repeat, a clear error naming the step otherwise, the lock freed,
 * the base credential untouched when the failure came before the PATCH, no temporary credential
 * left (or its ID reported and a later swap cleaning it up), and never the tenant's secret in an
 * error, description, output or log line.
 *
 * The HTTP client is `httpLikeN8n`: real HTTP, with the request timeout and the error shapes of
 * n8n's own helper (executeContext's default client ignores timeouts). No answer is scripted here.
 */
import { NodeOperationError, type IDataObject, type INodeExecutionData } from 'n8n-workflow';

import { TenantCredentialSwap } from '../../nodes/TenantCredentialSwap/TenantCredentialSwap.node';
import { TenantLockRelease } from '../../nodes/TenantLockRelease/TenantLockRelease.node';
import { Pool } from 'pg';

import { closeLockEngines, closeSharedPools, LockTimeoutError, PostgresLockEngine, postgresLockEngine } from '../../nodes/shared/lock';
import { configureTemporaryCredentialCleanup, TEMPORARY_CREDENTIAL_PREFIX } from '../../nodes/shared/swap/swap';
import { setDefaultRetryOptions } from '../../nodes/shared/transport/n8nApiClient';
import { setRequestTimeoutMs } from '../../nodes/shared/transport/publicApiTransport';
import { executeContext, type ContextSpec } from '../helpers/executeContext';
import { FaultProxy, httpLikeN8n, type FaultRule } from '../helpers/faultProxy';
import { ApiFixture, itemsOf, postgresCredential, unique } from '../helpers/fixtures';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startN8n } = require('../harness/n8n.js');

jest.setTimeout(120_000);

/** Recognisable, so a leak anywhere is found. */
const SECRET = 'FAULT-MATRIX-tenant-secret-5d1e7c0b9a';
const ATTEMPTS = 4;
/** Request timeout while a test injects hangs; otherwise a generous one, so a slow n8n on a busy machine is no fault. */
const FAULT_TIMEOUT_MS = 1_500;
const CALM_TIMEOUT_MS = 10_000;

const swapNode = new TenantCredentialSwap();
const releaseNode = new TenantLockRelease();
const lockTable = unique('fault_locks');

let n8n: { baseUrl: string; apiUrl: string; apiKey: string; stop(): Promise<void> };
let api: ApiFixture;
let proxy: FaultProxy;

beforeAll(async () => {
	n8n = await startN8n({});
	api = new ApiFixture(n8n.apiUrl, n8n.apiKey);
	proxy = await FaultProxy.start(n8n.baseUrl);
	// Small, so persistent faults end quickly; the user-facing defaults stay (8 attempts, 30 s).
	setDefaultRetryOptions({ attempts: ATTEMPTS, baseDelayMs: 20, maxDelayMs: 100 });
	setRequestTimeoutMs(CALM_TIMEOUT_MS);
});

afterEach(async () => {
	setRequestTimeoutMs(CALM_TIMEOUT_MS);
	await proxy.clearRules();
	proxy.events.length = 0;
	configureTemporaryCredentialCleanup();
});

afterAll(async () => {
	setDefaultRetryOptions();
	setRequestTimeoutMs();
	await proxy?.close();
	await closeLockEngines();
	await closeSharedPools();
	await n8n?.stop();
});

const engine = () => postgresLockEngine(postgresCredential() as never, { table: lockTable });

/** Resolves when `check` holds; rejects after `limitMs` (a liveness guard, not a speed claim). */
async function waitFor(check: () => Promise<boolean>, limitMs: number, what: string): Promise<void> {
	const giveUp = Date.now() + limitMs;
	while (!(await check())) {
		if (Date.now() > giveUp) throw new Error(`${what}: not after ${limitMs} ms`);
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
}

interface Step {
	method: string;
	path: RegExp;
	/** The operation name the error must carry. */
	operation: string;
	/** Options the step needs to happen at all. */
	options?: IDataObject;
}

type StepName = 'schema' | 'create' | 'test' | 'patch' | 'delete';
const STEPS: Record<StepName, Step> = {
	schema: { method: 'GET', path: /^\/api\/v1\/credentials\/schema\/[^/]+$/, operation: 'read credential schema' },
	create: { method: 'POST', path: /^\/api\/v1\/credentials$/, operation: 'create temporary credential' },
	test: { method: 'POST', path: /^\/api\/v1\/credentials\/[^/]+\/test$/, operation: 'test credential', options: { testCredential: true } },
	patch: { method: 'PATCH', path: /^\/api\/v1\/credentials\/[^/]+$/, operation: 'update base credential' },
	delete: { method: 'DELETE', path: /^\/api\/v1\/credentials\/[^/]+$/, operation: 'delete temporary credential' },
};

const FAULTS = {
	'500': { fault: 'status', status: 500, body: { message: 'Internal Server Error (fault injected)' } },
	timeout: { fault: 'hang' },
	down: { fault: 'refuse' },
} satisfies Record<string, Omit<FaultRule, 'method' | 'path'>>;
type FaultName = keyof typeof FAULTS;

/** What the description must tell the user to do, per fault. */
const ADVICE: Record<FaultName, RegExp> = {
	'500': /kept failing \(HTTP 500\)\. Run the execution again later/,
	timeout: /did not answer in time\. Run the execution again later/,
	down: /Nothing accepted the connection at the Base URL/,
};

async function baseCredential() {
	return await api.createCredential(unique('fault-base'), 'httpHeaderAuth', { name: 'x-tenant-secret', value: 'initial-value' });
}

interface SwapRun {
	output?: INodeExecutionData[];
	error?: NodeOperationError & { description?: string };
	logs: string[];
	executionId: string;
}

/** One swap through the proxy; `tag` picks the instance the nodes see (a new tag: empty caches). */
async function runSwap(
	baseId: string,
	{ tag, options = {}, items = itemsOf({ tenantId: 'acme', secret: SECRET }), executionId = unique('exec') }: {
		tag: string;
		options?: IDataObject;
		items?: INodeExecutionData[];
		executionId?: string;
	},
): Promise<SwapRun> {
	const credentials: ContextSpec['credentials'] = {
		tenantSwapN8nApi: { baseUrl: proxy.urlFor(n8n.apiUrl, tag), apiKey: n8n.apiKey, allowUnauthorizedCerts: false },
		postgres: postgresCredential(),
	};
	const { context, logs } = executeContext({
		items,
		credentials,
		executionId,
		send: httpLikeN8n(n8n.apiKey, proxy),
		parameters: {
			baseCredential: { __rl: true, mode: 'id', value: baseId },
			tenantId: 'acme',
			credentialData: { name: 'x-tenant-secret', value: SECRET },
			lockBackend: 'postgres',
			// The temporary credential is opt-in: these tests drive its create / test / delete steps too.
			options: { lockTable, lockTtl: 30, waitTimeout: 5, skipUnchanged: false, renewLock: false, validateWithTemporaryCredential: true, ...options },
		},
	});
	try {
		const output = (await swapNode.execute.call(context))[0];
		return { output, logs, executionId };
	} catch (error) {
		return { error: error as SwapRun['error'], logs, executionId };
	}
}

async function release(executionId: string): Promise<void> {
	const { context } = executeContext({
		items: [],
		credentials: {
			tenantSwapN8nApi: { baseUrl: n8n.apiUrl, apiKey: n8n.apiKey, allowUnauthorizedCerts: false },
			postgres: postgresCredential(),
		},
		executionId,
		parameters: { lockBackend: 'postgres', releaseMode: 'execution', options: { lockTable } },
	});
	await releaseNode.execute.call(context);
}

/** The secret appears nowhere the user or a log reader sees. */
function expectNoSecret(run: SwapRun): void {
	const seen = [run.error?.message, run.error?.description, JSON.stringify(run.output ?? null), ...run.logs].join('\n');
	expect(seen).not.toContain(SECRET);
}

async function temporaryCredentialsOf(executionId: string): Promise<Array<{ id: string; name: string }>> {
	return (await api.listCredentials()).filter((c) => c.name.startsWith(TEMPORARY_CREDENTIAL_PREFIX) && c.name.includes(` exec ${executionId} `));
}

function rule(step: StepName, fault: FaultName, extra: Partial<FaultRule> = {}): FaultRule {
	if (fault === 'timeout' && !extra.fault) setRequestTimeoutMs(FAULT_TIMEOUT_MS);
	return { method: STEPS[step].method, path: STEPS[step].path, ...FAULTS[fault], ...extra } as FaultRule;
}

const IDEMPOTENT: StepName[] = ['schema', 'test', 'patch', 'delete'];
const FAULT_NAMES: FaultName[] = ['500', 'timeout', 'down'];

describe('calls safe to repeat (GET schema, POST test, PATCH with full data, DELETE)', () => {
	// A PATCH that timed out is never sent again (n8n may still apply it): its own tests are below.
	const cases = IDEMPOTENT.flatMap((step) => FAULT_NAMES.map((fault): [StepName, FaultName] => [step, fault])).filter(
		([step, fault]) => !(step === 'patch' && fault === 'timeout'),
	);

	it.each(cases)('%s, %s twice then through: retried with backoff, the swap succeeds', async (step, fault) => {
		const base = await baseCredential();
		const before = await api.getCredential(base.id);
		proxy.addRule(rule(step, fault, { times: 2 }));

		const run = await runSwap(base.id, { tag: unique('t'), options: STEPS[step].options ?? {} });

		expect(run.error).toBeUndefined();
		const info = run.output![0].json.tenantSwap as IDataObject;
		expect(info).toMatchObject({ baseCredentialId: base.id, update: 'patched', temporaryCredential: 'validated' });
		// Two faulted attempts, then the one that reached n8n.
		const faulted = proxy.count(STEPS[step].method, STEPS[step].path) - proxy.count(STEPS[step].method, STEPS[step].path, 'forwarded');
		expect(faulted).toBe(2);
		expect(proxy.count(STEPS[step].method, STEPS[step].path, 'forwarded')).toBe(1);
		expect(Date.parse((await api.getCredential(base.id)).updatedAt)).toBeGreaterThan(Date.parse(before.updatedAt));
		expect(await temporaryCredentialsOf(run.executionId)).toEqual([]);
		expect((await engine().holder(`credential:${base.id}`))?.owner.executionId).toBe(run.executionId);
		expectNoSecret(run);
		await release(run.executionId);
	});

	it.each(cases)('%s, %s for ever: a clear error naming the step after the bounded attempts, nothing left behind', async (step, fault) => {
		const base = await baseCredential();
		const before = await api.getCredential(base.id);
		proxy.addRule(rule(step, fault));

		const run = await runSwap(base.id, { tag: unique('t'), options: STEPS[step].options ?? {} });

		expect(run.error).toBeInstanceOf(NodeOperationError);
		expect(run.error!.message).toContain(STEPS[step].operation);
		expect(run.error!.message).toContain(`gave up after ${ATTEMPTS} attempts`);
		expect(run.error!.description).toMatch(ADVICE[fault]);
		expect(proxy.count(STEPS[step].method, STEPS[step].path)).toBe(ATTEMPTS);
		expect(proxy.count(STEPS[step].method, STEPS[step].path, 'forwarded')).toBe(0);
		// The lock is free afterwards: never taken (failures before the PATCH) or released (a PATCH that
		// cannot have reached n8n, or that n8n answered with an error and a read showed not applied).
		expect(await engine().holder(`credential:${base.id}`)).toBeUndefined();
		// n8n never got a faulted request, so the base credential is untouched whatever the step.
		expect((await api.getCredential(base.id)).updatedAt).toBe(before.updatedAt);
		// What the user is told: a PATCH that may have reached n8n may have been applied; a refused one was not.
		expect(run.error!.description).toMatch(/The base credential was not changed\./);
		const left = await temporaryCredentialsOf(run.executionId);
		if (step === 'delete') {
			// n8n stayed unreachable for the delete: the ID is reported (never the data), for a later cleanup.
			expect(left).toHaveLength(1);
			expect(run.error!.message).toContain(`Could not delete temporary credential ${left[0].id}`);
			expect(run.error!.description).toMatch(new RegExp(`A later swap deletes temporary credential ${left[0].id} once it is older than 15 minutes`));
			expect(run.logs.join('\n')).toContain(left[0].id);
			await api.call('DELETE', `/credentials/${left[0].id}`);
		} else {
			expect(left).toEqual([]);
		}
		expectNoSecret(run);
	});
});

describe('temporary credential create (POST): repeated only when n8n cannot have processed it', () => {
	it.each([
		['500', rule('create', '500', { times: 2 }), ADVICE['500']],
		['timeout', rule('create', 'timeout', { times: 2 }), ADVICE.timeout],
	])('%s: not repeated (n8n may have created it), clear error, base untouched, lock never taken', async (_name, fault, advice) => {
		const base = await baseCredential();
		const before = await api.getCredential(base.id);
		proxy.addRule(fault);

		const run = await runSwap(base.id, { tag: unique('t') });

		expect(run.error).toBeInstanceOf(NodeOperationError);
		expect(run.error!.message).toContain('create temporary credential');
		expect(run.error!.description).toMatch(advice);
		expect(run.error!.description).toMatch(/n8n may have created the temporary credential "tenant-swap tmp acme exec [^"]+" before the failure: a later swap deletes/);
		expect(run.error!.description).toMatch(/The base credential was not changed\./);
		expect(proxy.count('POST', STEPS.create.path)).toBe(1);
		expect(await engine().holder(`credential:${base.id}`)).toBeUndefined();
		expect((await api.getCredential(base.id)).updatedAt).toBe(before.updatedAt);
		expect(await temporaryCredentialsOf(run.executionId)).toEqual([]);
		expectNoSecret(run);
	});

	it.each([
		['down (connection refused) twice', rule('create', 'down', { times: 2 }), 'refused'],
		['503 "Database is not ready" twice', { ...rule('create', '500', { times: 2 }), status: 503, body: { message: 'Database is not ready!' } }, 'status'],
	] as const)('%s: n8n never saw it, so it is repeated and the swap succeeds with one temporary credential', async (_name, fault, outcome) => {
		const base = await baseCredential();
		proxy.addRule(fault as FaultRule);

		const run = await runSwap(base.id, { tag: unique('t') });

		expect(run.error).toBeUndefined();
		expect(proxy.count('POST', STEPS.create.path, outcome)).toBe(2);
		expect(proxy.count('POST', STEPS.create.path, 'forwarded')).toBe(1);
		expect(proxy.count('DELETE', STEPS.delete.path, 'forwarded')).toBe(1);
		expect(await temporaryCredentialsOf(run.executionId)).toEqual([]);
		expectNoSecret(run);
		await release(run.executionId);
	});

	it('API down for good: refused attempts are repeated up to the bound, then a clear error', async () => {
		const base = await baseCredential();
		proxy.addRule(rule('create', 'down'));

		const run = await runSwap(base.id, { tag: unique('t') });

		expect(run.error).toBeInstanceOf(NodeOperationError);
		expect(run.error!.message).toMatch(/^Item 0: n8n API unreachable during create temporary credential: connection refused .*\(gave up after 4 attempts\)$/);
		expect(run.error!.description).toMatch(ADVICE.down);
		// Refused: nothing was sent, so there is nothing to clean up and no talk of a leftover.
		expect(run.error!.description).not.toMatch(/may have created/);
		expect(proxy.count('POST', STEPS.create.path, 'refused')).toBe(ATTEMPTS);
		expect(await engine().holder(`credential:${base.id}`)).toBeUndefined();
		expectNoSecret(run);
	});
});

describe('answers lost after n8n did the work: settled by reading the credential, never sent again blindly', () => {
	it('a PATCH whose answer is lost (reset after n8n applied it) is confirmed by a read and not sent again', async () => {
		// Fails with the fix reverted: the PATCH was sent a second time.
		const base = await baseCredential();
		const before = await api.getCredential(base.id);
		proxy.addRule(rule('patch', 'down', { fault: 'reset', afterForward: true, times: 1 }));

		const run = await runSwap(base.id, { tag: unique('t') });

		expect(run.error).toBeUndefined();
		expect(proxy.count('PATCH', STEPS.patch.path)).toBe(1);
		expect(proxy.count('PATCH', STEPS.patch.path, 'reset')).toBe(1);
		expect(Date.parse((run.output![0].json.tenantSwap as IDataObject).updatedAt as string)).toBeGreaterThan(Date.parse(before.updatedAt));
		expectNoSecret(run);
		await release(run.executionId);
	});

	it('a PATCH answered 500 after n8n applied it is confirmed by a read: the swap succeeds with one PATCH', async () => {
		// Fails with the fix reverted: the PATCH was repeated until the attempts ran out, then the item failed.
		const base = await baseCredential();
		proxy.addRule(rule('patch', '500', { afterForward: true }));

		const run = await runSwap(base.id, { tag: unique('t') });

		expect(run.error).toBeUndefined();
		expect(proxy.count('PATCH', STEPS.patch.path)).toBe(1);
		expect((run.output![0].json.tenantSwap as IDataObject).update).toBe('patched');
		expectNoSecret(run);
		await release(run.executionId);
	});

	it('a PATCH never outlives the lock lease: one attempt, its timeout the lease left; without an answer the swap reads, then fails and the lock runs out its TTL', async () => {
		// Fails with the fix reverted: the hung PATCH was sent again (up to the attempts) with an "update start + TTL" deadline.
		setDefaultRetryOptions({ attempts: 8, baseDelayMs: 20, maxDelayMs: 100 });
		try {
			const base = await baseCredential();
			proxy.addRule(rule('patch', 'timeout'));
			setRequestTimeoutMs(CALM_TIMEOUT_MS);

			const run = await runSwap(base.id, { tag: unique('t'), options: { lockTtl: 2 } });

			expect(run.error!.message).toContain('update base credential');
			expect(run.error!.description).toMatch(/n8n may have applied the update before the failure: .* The lock stays held until its Lock TTL runs out/);
			expect(proxy.count('PATCH', STEPS.patch.path)).toBe(1);
			// n8n may still apply the hung PATCH: the lock is not freed early, it runs out (2 s TTL).
			expect((await engine().holder(`credential:${base.id}`))?.owner.executionId).toBe(run.executionId);
			await waitFor(async () => (await engine().holder(`credential:${base.id}`)) === undefined, 15_000, 'lease ran out');
			expectNoSecret(run);
		} finally {
			setDefaultRetryOptions({ attempts: ATTEMPTS, baseDelayMs: 20, maxDelayMs: 100 });
		}
	});
});

describe('a slow n8n under the lock', () => {
	it('a PATCH answered at 0.8 x Lock TTL succeeds, and another process never gets the key while the node runs or right after', async () => {
		const ttlMs = 2_000;
		const base = await baseCredential();
		const key = `credential:${base.id}`;
		proxy.addRule(rule('patch', 'down', { fault: 'delay', delayMs: 0.8 * ttlMs }));
		// Another n8n process: its own pool and engine on the same lock table.
		const pool = new Pool({ connectionString: process.env.TEST_DATABASE_URL, max: 2 });
		const rival = new PostgresLockEngine(pool, { table: lockTable });
		let inSection = false;
		let returnedAt = Infinity;
		let taken = 0;
		const contend = (async () => {
			// From the moment the PATCH reached n8n (the swap holds the lock) until half a TTL after the node returned.
			while (performance.now() < returnedAt + ttlMs / 2) {
				if (!inSection) inSection = proxy.arrivals.some((arrival) => arrival.method === 'PATCH');
				if (inSection) {
					try {
						const lease = await rival.acquire(key, { owner: { executionId: 'rival' }, ttlMs: 60_000, waitTimeoutMs: 0 });
						taken += 1;
						await rival.release(lease);
					} catch (error) {
						if (!(error instanceof LockTimeoutError)) throw error;
					}
				}
				await new Promise((resolve) => setTimeout(resolve, 20));
			}
		})();
		try {
			const run = await runSwap(base.id, { tag: unique('t'), options: { lockTtl: ttlMs / 1000, validateWithTemporaryCredential: false, renewLock: true } });
			returnedAt = performance.now();
			await contend;
			expect(run.error).toBeUndefined();
			expect((run.output![0].json.tenantSwap as IDataObject).update).toBe('patched');
			expect(inSection).toBe(true);
			expect(taken).toBe(0);
			await release(run.executionId);
		} finally {
			returnedAt = Math.min(returnedAt, performance.now());
			await contend.catch(() => undefined);
			await rival.close();
			await pool.end();
		}
	});
});

describe('stale temporary credentials', () => {
	it('are reported when they cannot be deleted, and a later swap deletes them once old enough, never a young one', async () => {
		const minAgeMs = 4_000;
		configureTemporaryCredentialCleanup({ minAgeMs });
		const tag = unique('t');
		const base = await baseCredential();

		// 1. n8n is down for the delete: the temporary credential stays; its ID is reported and logged.
		proxy.addRule(rule('delete', 'down'));
		const failed = await runSwap(base.id, { tag });
		const [leftover] = await temporaryCredentialsOf(failed.executionId);
		expect(leftover).toBeDefined();
		expect(failed.error!.message).toContain(`Could not delete temporary credential ${leftover.id}`);
		expect(failed.error!.description).toMatch(/A later swap deletes temporary credential .* once it is older than 4 seconds/);
		expect(failed.logs.some((line) => line.includes('Could not delete the temporary credential') && line.includes(leftover.id))).toBe(true);
		expectNoSecret(failed);

		// 2. The answer to a create is lost after n8n created it: a leftover nobody knows the ID of.
		await proxy.clearRules();
		proxy.addRule(rule('create', 'timeout', { fault: 'reset', afterForward: true, times: 1 }));
		const lost = await runSwap(base.id, { tag });
		expect(lost.error!.description).toMatch(/n8n may have created the temporary credential/);
		const [unknownLeftover] = await temporaryCredentialsOf(lost.executionId);
		expect(unknownLeftover).toBeDefined();
		expectNoSecret(lost);
		await proxy.clearRules();

		// Both leftovers grow older than the minimum age (n8n's createdAt is the clock that counts).
		const created = await Promise.all([leftover.id, unknownLeftover.id].map(async (id) => Date.parse((await api.getCredential(id) as unknown as { createdAt: string }).createdAt)));
		await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.max(...created) + minAgeMs + 500 - Date.now())));
		// A temporary credential of a swap running right now (young): it must survive.
		const young = await api.createCredential(`${TEMPORARY_CREDENTIAL_PREFIX} acme exec still-running abc123`, 'httpHeaderAuth', { name: 'x', value: 'young' });

		// 3. A later swap (three items, one base credential) cleans up: one look at the list, not one per item.
		const later = await runSwap(base.id, { tag, items: itemsOf({ n: 0 }, { n: 1 }, { n: 2 }) });
		expect(later.error).toBeUndefined();
		expect(proxy.count('GET', /^\/api\/v1\/credentials$/)).toBe(1);
		expect((await api.call('GET', `/credentials/${leftover.id}`)).status).toBe(404);
		expect((await api.call('GET', `/credentials/${unknownLeftover.id}`)).status).toBe(404);
		expect((await api.call('GET', `/credentials/${young.id}`)).status).toBe(200);
		expect(later.logs.some((line) => line.includes('Deleted a stale temporary credential') && line.includes(leftover.id))).toBe(true);
		expectNoSecret(later);
		await release(later.executionId);

		// 4. Once per process per interval: the next swap does not list again.
		const next = await runSwap(base.id, { tag });
		expect(next.error).toBeUndefined();
		expect(proxy.count('GET', /^\/api\/v1\/credentials$/)).toBe(1);
		await release(next.executionId);
		await api.call('DELETE', `/credentials/${young.id}`);
	});

	it('a cleanup that cannot list (API failing) never fails the swap', async () => {
		configureTemporaryCredentialCleanup({ minAgeMs: 0 });
		const base = await baseCredential();
		proxy.addRule({ method: 'GET', path: /^\/api\/v1\/credentials$/, fault: 'status', status: 500 });

		const run = await runSwap(base.id, { tag: unique('t') });

		expect(run.error).toBeUndefined();
		expect(proxy.count('GET', /^\/api\/v1\/credentials$/)).toBe(ATTEMPTS);
		expect(run.logs.some((line) => line.includes('Could not list credentials to look for stale temporary credentials'))).toBe(true);
		expectNoSecret(run);
		await release(run.executionId);
	});
});
