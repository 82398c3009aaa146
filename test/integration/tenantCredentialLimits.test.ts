/**
 * Run With Tenant Credential's limits (decision 5 of issue 16) under real concurrency: bursts of new
 * tenants (and of one tenant's new data) through tenantCredentialFor, from several "processes" (own
 * pools / clients, own lock clients) on PostgreSQL, Redis and memory, against a fake n8n whose
 * credential creation takes a few event-loop turns like an API round trip.
 *
 * The control runs the same burst without the registry-wide guard (configureLimitGuard(false)):
 * counts then race creations, and the limit is overshot. Passing bursts therefore mean something.
 */
import { abandonHeldLocks, LockClient, stopLeaseKeepers } from '../../nodes/shared/lock';
import type { LockStore } from '../../nodes/shared/lock/types';
import { SwapItemError } from '../../nodes/shared/swap/errors';
import { registryTag } from '../../nodes/shared/tenantCredentials/credentialName';
import {
	configureLimitGuard,
	configureOneCreationPerOwner,
	limitGuardKey,
	tenantCredentialFor,
	tenantCredentialNaming,
	type TenantCredentialContext,
	type TenantCredentialLimits,
} from '../../nodes/shared/tenantCredentials/provision';
import { tenantCredentialRegistryFor } from '../../nodes/shared/tenantCredentials/registry';
import { N8nApiClient, type ApiRequest, type ApiResponse, type N8nApiTransport } from '../../nodes/shared/transport/n8nApiClient';
import { memoryFactory, pause, postgresFactory, redisFactory, uniqueKey, type EngineFactory, type EngineUnderTest } from '../helpers/lockTesting';

const NO_RETRY = { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 };
const PROCESSES = 5;
const BURST = 50;

/** n8n's credentials API, in memory: creation answers after a few turns (and up to 3 ms), like a round trip. */
class FakeN8n implements N8nApiTransport {
	readonly instanceId = `http://n8n-${uniqueKey('limits')}.invalid/api/v1`;
	readonly credentials = new Map<string, string>();
	private next = 0;

	async send(request: ApiRequest): Promise<ApiResponse> {
		await pause(2, 3);
		if (request.method === 'POST' && request.path === '/credentials') {
			const id = `c${++this.next}`;
			this.credentials.set(id, String(request.body?.name));
			return { statusCode: 200, body: { id, name: request.body?.name, type: request.body?.type } };
		}
		const deleted = /^\/credentials\/([^/]+)$/.exec(request.path);
		if (request.method === 'DELETE' && deleted) {
			this.credentials.delete(decodeURIComponent(deleted[1]));
			return { statusCode: 204, body: {} };
		}
		return { statusCode: 404, body: { message: 'Not found' } };
	}
}

/**
 * The first credential creation is answered only once a second one arrives, or after 2 s (a liveness
 * bound: a second that takes turns never arrives while the first is held).
 */
class FirstCreationHeld extends FakeN8n {
	private arrived!: () => void;
	readonly firstCreationArrived = new Promise<void>((resolve) => (this.arrived = resolve));
	private secondArrived?: () => void;
	private creations = 0;

	async send(request: ApiRequest): Promise<ApiResponse> {
		if (request.method === 'POST' && request.path === '/credentials') {
			this.creations += 1;
			if (this.creations === 1) {
				this.arrived();
				await new Promise<void>((resolve) => {
					this.secondArrived = resolve;
					setTimeout(resolve, 2_000);
				});
			} else this.secondArrived?.();
		}
		return await super.send(request);
	}
}

interface Outcome {
	created: number;
	refused: SwapItemError[];
	other: unknown[];
}

/** `BURST` first uses at once, spread over PROCESSES processes: each a new credential (new tenant, or new data of `tenantOf`). */
async function burst(
	engines: LockStore[],
	n8n: FakeN8n,
	limits: TenantCredentialLimits,
	tenantOf: (index: number) => string,
	oneExecution = false,
): Promise<Outcome> {
	const api = new N8nApiClient(n8n, NO_RETRY);
	const contexts: TenantCredentialContext[] = engines.map((engine) => ({
		api,
		registry: tenantCredentialRegistryFor(engine),
		locks: new LockClient(engine),
		owner: { instanceId: 'limits-test', executionId: 'none' },
		scope: n8n.instanceId,
	}));
	const naming = await tenantCredentialNaming(contexts[0].registry, n8n.instanceId);
	const results = await Promise.allSettled(
		Array.from({ length: BURST }, async (_, index) => {
			const context = contexts[oneExecution ? 0 : index % contexts.length];
			const tenantId = tenantOf(index);
			// One execution's groups (Tenants in Parallel) arrive one after another, while others create.
			if (oneExecution) await pause(0, 5);
			return await tenantCredentialFor(
				// One execution each: the guard is re-entered by its own execution only. Or all in one execution, in one process.
				{ ...context, owner: { ...context.owner, executionId: oneExecution ? 'one-execution' : `exec-${index}` } },
				{
					tenantId,
					type: 'httpHeaderAuth',
					name: `tenant-cred ${naming.tag} ${tenantId} v${index}`,
					data: { name: 'X-Key', value: `v${index}` },
					retentionMs: 60_000,
					testCredential: false,
					waitTimeoutMs: 60_000,
					itemIndexes: [index],
					limits,
				},
			);
		}),
	);
	const outcome: Outcome = { created: 0, refused: [], other: [] };
	for (const result of results) {
		if (result.status === 'fulfilled') outcome.created += result.value.created ? 1 : 0;
		else if (result.reason instanceof SwapItemError && /Max (Tenant Credentials|Credentials per Tenant) is/.test(result.reason.message)) outcome.refused.push(result.reason);
		else outcome.other.push(result.reason);
	}
	return outcome;
}

const factories: EngineFactory[] = [postgresFactory('limits'), redisFactory('limits'), memoryFactory];

afterEach(() => {
	configureLimitGuard();
	configureOneCreationPerOwner();
});

afterAll(() => {
	stopLeaseKeepers();
	abandonHeldLocks();
});

describe.each(factories)('limits on the $backend registry', (factory) => {
	let subject: EngineUnderTest;
	let group: { engines: LockStore[]; close(): Promise<void> };
	beforeAll(async () => {
		subject = await factory.create();
		group = subject.group(PROCESSES);
	});
	afterAll(async () => {
		await group.close();
		await subject.close();
	});

	it(`a burst of ${BURST} new tenants at Max Tenant Credentials 10 creates 10, refuses 40, and leaves nothing behind`, async () => {
		const n8n = new FakeN8n();
		const outcome = await burst(group.engines, n8n, { maxTenantCredentials: 10, maxCredentialsPerTenant: 5 }, (index) => `tenant-${index}`);
		expect(outcome.other).toEqual([]);
		expect(outcome.created).toBe(10);
		expect(outcome.refused).toHaveLength(40);
		expect(n8n.credentials.size).toBe(10);
		const registry = tenantCredentialRegistryFor(group.engines[0]);
		expect(await registry.countLiveTenantCredentials(n8n.instanceId, 'tenant-0', 100)).toMatchObject({ total: 10 });
		// No lock is left: neither the guard nor a name's creation lock.
		expect(await group.engines[0].heldLocks(100)).toEqual([]);
		const [refusal] = outcome.refused;
		expect(refusal.options.parameter).toBe('options.maxTenantCredentials');
		expect(refusal.message).toMatch(/already holds 10 live tenant credentials for this n8n \(Max Tenant Credentials is 10\)/);
		expect(refusal.options.description).toMatch(/Raise Max Tenant Credentials, lower Retention, or wait .* Nothing was created\./);
	});

	it(`a burst of ${BURST} new data versions of one tenant at Max Credentials per Tenant 5 creates 5; other tenants still get theirs`, async () => {
		const n8n = new FakeN8n();
		const outcome = await burst(group.engines, n8n, { maxTenantCredentials: 5000, maxCredentialsPerTenant: 5 }, (index) => (index % 10 === 9 ? `other-${index}` : 'acme'));
		expect(outcome.other).toEqual([]);
		// 45 versions of acme (5 made), 5 other tenants (one each).
		expect(outcome.created).toBe(10);
		expect(n8n.credentials.size).toBe(10);
		expect(outcome.refused).toHaveLength(40);
		expect(outcome.refused.every((error) => error.options.parameter === 'options.maxCredentialsPerTenant')).toBe(true);
		expect(outcome.refused[0].message).toMatch(/^No new credential for tenant "acme": it already has 5 live credentials \(Max Credentials per Tenant is 5\)$/);
		expect(await group.engines[0].heldLocks(100)).toEqual([]);
	});

	it('control: without the registry-wide guard the same burst overshoots the limit', async () => {
		configureLimitGuard(false);
		const n8n = new FakeN8n();
		const outcome = await burst(group.engines, n8n, { maxTenantCredentials: 10, maxCredentialsPerTenant: 5 }, (index) => `tenant-${index}`);
		expect(outcome.other).toEqual([]);
		expect(outcome.created).toBeGreaterThan(10);
		expect(n8n.credentials.size).toBe(outcome.created);
	});

	it(`${BURST} new tenants in one execution (its groups in parallel) at Max Tenant Credentials 10 create 10: its creations take turns`, async () => {
		const n8n = new FakeN8n();
		const outcome = await burst(group.engines, n8n, { maxTenantCredentials: 10, maxCredentialsPerTenant: 5 }, (index) => `tenant-${index}`, true);
		expect(outcome.other).toEqual([]);
		expect(outcome.created).toBe(10);
		expect(n8n.credentials.size).toBe(10);
		expect(await group.engines[0].heldLocks(100)).toEqual([]);
	});

	it.each([
		['its creations take turns: the second counts the first and is refused', true, 1],
		['control: its creations overlapping, the second re-enters its own guard while the first creates, and both are made', false, 2],
	])('two new tenants of one execution at Max Tenant Credentials 1, %s', async (_name, oneAtATime, made) => {
		configureOneCreationPerOwner(oneAtATime);
		const n8n = new FirstCreationHeld();
		const context = {
			api: new N8nApiClient(n8n, NO_RETRY),
			registry: tenantCredentialRegistryFor(group.engines[0]),
			locks: new LockClient(group.engines[0]),
			owner: { instanceId: 'limits-test', executionId: uniqueKey('one-execution') },
			scope: n8n.instanceId,
		};
		const naming = await tenantCredentialNaming(context.registry, n8n.instanceId);
		const wish = (tenantId: string) => ({
			tenantId,
			type: 'httpHeaderAuth',
			name: `tenant-cred ${naming.tag} ${tenantId} v1`,
			data: { name: 'X-Key', value: tenantId },
			retentionMs: 60_000,
			testCredential: false,
			waitTimeoutMs: 60_000,
			itemIndexes: [0],
			limits: { maxTenantCredentials: 1, maxCredentialsPerTenant: 5 },
		});
		const first = tenantCredentialFor(context, wish('first'));
		await n8n.firstCreationArrived;
		// The first holds the guard (its creation is held in n8n): the second arrives now.
		const second = tenantCredentialFor(context, wish('second'));
		const results = await Promise.allSettled([first, second]);
		expect(n8n.credentials.size).toBe(made);
		expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(made);
		if (made === 1) expect((results[1] as PromiseRejectedResult).reason.options.parameter).toBe('options.maxTenantCredentials');
	});

	it('the guard is one key per registry scope (n8n instance), taken only when a credential is created', () => {
		expect(limitGuardKey('http://a/api/v1')).not.toBe(limitGuardKey('http://b/api/v1'));
		expect(registryTag(tenantCredentialRegistryFor(subject.engine).storeIdentity, 'http://a/api/v1')).toMatch(/^[\w-]{8}$/);
	});
});
