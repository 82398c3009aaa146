/**
 * Lifecycle of tenant credentials that cannot strand a tenant (issue 18, points 3, 4 and 6), on real
 * registries (PostgreSQL, Redis, memory) and the n8n API faked with n8n 2.40.7's real answer bodies
 * (test/helpers/fakeN8n.ts FakeCredentialsApi): a 403 on one credential among many, or a 500 on one
 * delete, cannot be produced on demand by a real n8n.
 *
 * - The sweep handles each record on its own: gone ones are forgotten, refused ones wait for the stale
 *   time, a 403 is logged once per process, referenced ones are kept.
 * - A sub-execution refused the tenant's credential: the credential is looked up; gone, the record is
 *   forgotten; there, the record is kept and the message says what to do.
 * - Offboarding deletes every credential of the tenant, in any state, and does not miss one being
 *   created at that moment (control: without the guard it does, and a second run removes it).
 */
import { lockClientFor, type LockStore } from '../../nodes/shared/lock';
import { MemoryLockEngine } from '../../nodes/shared/lock/MemoryLockEngine';
import { SwapItemError } from '../../nodes/shared/swap/errors';
import { subWorkflowFailure } from '../../nodes/shared/tenantCredentials/lostCredential';
import { configureOffboardGuard, offboardTenant } from '../../nodes/shared/tenantCredentials/offboard';
import { configureOrphanCleanup, sweepOrphansInBackground } from '../../nodes/shared/tenantCredentials/orphans';
import { DEFAULT_TENANT_CREDENTIAL_LIMITS, tenantCredentialFor, type TenantCredentialContext } from '../../nodes/shared/tenantCredentials/provision';
import { registryNamePrefix, registryTag } from '../../nodes/shared/tenantCredentials/credentialName';
import { tenantCredentialRegistryFor } from '../../nodes/shared/tenantCredentials/registry';
import type { NewTenantCredential, TenantCredentialRegistry } from '../../nodes/shared/tenantCredentials/registryTypes';
import { forgetReportedCauses } from '../../nodes/shared/tenantCredentials/reportOnce';
import { configureSweepStaleTime, sweepOnce, type SweepContext } from '../../nodes/shared/tenantCredentials/sweep';
import { FakeCredentialsApi, type KeyRole } from '../helpers/fakeN8n';
import { PostgresLockFixture, redisFactory, sleep, uniqueKey, uniqueName, type EngineUnderTest } from '../helpers/lockTesting';

jest.setTimeout(60_000);

const LONG = 60 * 60_000;

interface Backend {
	backend: 'postgres' | 'redis' | 'memory';
	create(): Promise<{ engine: LockStore; close(): Promise<void> }>;
}

const backends: Backend[] = [
	{
		backend: 'postgres',
		async create() {
			const fixture = new PostgresLockFixture();
			return { engine: fixture.engine({ schema: uniqueName('life'), table: 'locks' }), close: async () => await fixture.close() };
		},
	},
	{
		backend: 'redis',
		async create() {
			const engines: EngineUnderTest = await redisFactory('life').create();
			return { engine: engines.engine, close: async () => await engines.close() };
		},
	},
	{
		backend: 'memory',
		async create() {
			return { engine: new MemoryLockEngine(), close: async () => undefined };
		},
	},
];

function logger(): SweepContext['log'] & { warnings(): Array<{ message: string; meta?: Record<string, unknown> }> } {
	const lines: Array<{ level: string; message: string; meta?: Record<string, unknown> }> = [];
	return {
		warn: (message, meta) => lines.push({ level: 'warn', message, meta }),
		debug: (message, meta) => lines.push({ level: 'debug', message, meta }),
		warnings: () => lines.filter((line) => line.level === 'warn').map(({ message, meta }) => ({ message, meta })),
	};
}

let counter = 0;
function recordOf(scope: string, credentialId: string, tenantId: string, overrides: Partial<NewTenantCredential> = {}): NewTenantCredential {
	counter += 1;
	return { scope, name: `tenant-cred tag ${tenantId} h${counter}`, credentialId, credentialType: 'httpHeaderAuth', tenantId, retentionMs: 0, ...overrides };
}

/** Waits (liveness bound only) until the store's clock has passed the records' retention of 0. */
async function retirable(registry: TenantCredentialRegistry, scope: string, ids: string[]): Promise<void> {
	const giveUp = Date.now() + 10_000;
	// A probe registry call per turn: nothing is claimed here, the store's clock just moves on.
	while (Date.now() < giveUp) {
		const records = await registry.listTenantCredentials(scope, 100);
		const now = Date.now();
		if (ids.every((id) => records.some((record) => record.credentialId === id && record.lastUsedAt.getTime() + 5 < now))) return;
		await sleep(10);
	}
}

afterEach(() => {
	configureSweepStaleTime();
	configureOffboardGuard();
	configureOrphanCleanup();
	forgetReportedCauses();
});

describe.each(backends)('on the $backend registry', (backend) => {
	let engine: LockStore;
	let registry: TenantCredentialRegistry;
	let close: () => Promise<void>;
	beforeAll(async () => {
		({ engine, close } = await backend.create());
		registry = tenantCredentialRegistryFor(engine);
	});
	afterAll(async () => {
		await close();
	});

	const ids = async (scope: string) => (await registry.listTenantCredentials(scope, 100)).map((record) => `${record.credentialId}:${record.state}`).sort();

	describe('the sweep', () => {
		it.each<KeyRole>(['owner', 'member'])('a batch with a gone, a refused (403), a referenced and a failing (400) record deletes the others (%s key)', async (role) => {
			const n8n = new FakeCredentialsApi(role);
			const scope = n8n.instanceId;
			const [a, c, d, e, f] = ['a', 'c', 'd', 'e', 'f'].map((id) => n8n.add(`${id}${uniqueKey('x').replace(/\W/g, '')}`));
			const b = `b${uniqueKey('x').replace(/\W/g, '')}`; // deleted by hand: n8n answers 404 with its role's words
			n8n.failDelete.set(c, 403);
			n8n.failDelete.set(f, 400);
			n8n.reference(e, 'Billing by hand');
			for (const id of [a, b, c, d, e, f]) await registry.registerTenantCredential(recordOf(scope, id, 'acme'), 0);
			await retirable(registry, scope, [a, b, c, d, e, f]);
			const log = logger();
			const counts = await sweepOnce({ registry, api: n8n.client(), scope, log });
			expect(counts).toEqual({ retired: 6, deleted: 2, gone: 1, referenced: 1, failed: 2, notTried: 0 });
			expect([...n8n.credentials.keys()].sort()).toEqual([c, e, f].sort());
			expect(await ids(scope)).toEqual([`${c}:retiring`, `${e}:retiring`, `${f}:retiring`].sort());
			const warnings = log.warnings();
			expect(warnings.map((warning) => warning.message).sort()).toEqual([
				'Run With Tenant Credential could not delete unused tenant credentials',
				'Run With Tenant Credential could not delete unused tenant credentials',
				'Run With Tenant Credential keeps an unused tenant credential: workflows reference it',
			]);
			expect(JSON.stringify(warnings)).toMatch(/API key of the owner, an admin, or an admin of that project/);
			expect(warnings.map((warning) => warning.meta?.workflows)).toContain('"Billing by hand" (ID wf1)');

			// Right after: nothing is taken again (claimed records wait for the stale time): no tight loop.
			expect(await sweepOnce({ registry, api: n8n.client(), scope, log })).toMatchObject({ retired: 0 });
			// After the stale time they are tried again; the 403 and the reference are not logged again.
			configureSweepStaleTime(0);
			await sleep(5);
			const again = logger();
			expect(await sweepOnce({ registry, api: n8n.client(), scope, log: again })).toMatchObject({ retired: 3, referenced: 1, failed: 2 });
			expect(again.warnings().map((warning) => warning.message)).toEqual(['Run With Tenant Credential could not delete unused tenant credentials']);
			expect(JSON.stringify(again.warnings())).toMatch(/400/);
			// Once n8n lets it and nothing references it, it goes.
			n8n.failDelete.clear();
			n8n.workflows.length = 0;
			await sleep(5);
			expect(await sweepOnce({ registry, api: n8n.client(), scope, log: logger() })).toMatchObject({ retired: 3, deleted: 3 });
			expect(await ids(scope)).toEqual([]);
		});

		it('n8n unreachable (500) ends the batch; the rest stay retiring for a later sweep', async () => {
			const n8n = new FakeCredentialsApi('owner');
			const scope = n8n.instanceId;
			const all = ['p', 'q', 'r'].map((id) => n8n.add(`${id}${uniqueKey('x').replace(/\W/g, '')}`));
			for (const id of all) await registry.registerTenantCredential(recordOf(scope, id, 'acme'), 0);
			await retirable(registry, scope, all);
			for (const id of all) n8n.failDelete.set(id, 500);
			const log = logger();
			expect(await sweepOnce({ registry, api: n8n.client(), scope, log })).toEqual({ retired: 3, deleted: 0, gone: 0, referenced: 0, failed: 0, notTried: 3 });
			expect(n8n.deletes()).toHaveLength(1);
			expect(await ids(scope)).toEqual(all.map((id) => `${id}:retiring`).sort());
			expect(log.warnings()).toHaveLength(1);
		});

		it('workflows cannot be listed (the key lacks workflow:list): nothing is deleted, one warning per process saying what to do', async () => {
			const n8n = new FakeCredentialsApi('member');
			const scope = n8n.instanceId;
			const id = n8n.add(`w${uniqueKey('x').replace(/\W/g, '')}`);
			await registry.registerTenantCredential(recordOf(scope, id, 'acme'), 0);
			await retirable(registry, scope, [id]);
			n8n.failWorkflowList = 403;
			const log = logger();
			expect(await sweepOnce({ registry, api: n8n.client(), scope, log })).toMatchObject({ retired: 1, notTried: 1, deleted: 0 });
			expect(n8n.deletes()).toEqual([]);
			configureSweepStaleTime(0);
			await sleep(5);
			expect(await sweepOnce({ registry, api: n8n.client(), scope, log })).toMatchObject({ retired: 1, notTried: 1 });
			expect(log.warnings()).toEqual([{ message: expect.stringMatching(/could not check which workflows reference them/), meta: expect.objectContaining({ advice: expect.stringMatching(/workflow:list/) }) }]);
		});
	});

	it('the orphan pass keeps an orphaned tenant credential that a workflow references', async () => {
		const n8n = new FakeCredentialsApi('owner');
		const scope = n8n.instanceId;
		const prefix = registryNamePrefix(registryTag(registry.storeIdentity, scope));
		const referenced = n8n.add(`o1${uniqueKey('x').replace(/\W/g, '')}`, `${prefix}acme h1`);
		const loose = n8n.add(`o2${uniqueKey('x').replace(/\W/g, '')}`, `${prefix}acme h2`);
		n8n.reference(referenced, 'Wired by hand');
		configureOrphanCleanup({ minGraceMs: 0, intervalMs: 0 });
		await sleep(5);
		const log = logger();
		await sweepOrphansInBackground({ registry, api: n8n.client(), scope, log }, 0);
		expect(n8n.deletes()).toEqual([loose]);
		expect([...n8n.credentials.keys()]).toEqual([referenced]);
		expect(log.warnings().map((warning) => warning.meta?.workflows)).toEqual(['"Wired by hand" (ID wf1)']);
	});

	describe('a sub-execution refused the tenant credential', () => {
		const refused = (id: string, words: 'noAccess' | 'notFound') =>
			Object.assign(new Error(words === 'noAccess' ? 'Node "Call API" does not have access to the credential' : `Credential with ID "${id}" does not exist for type "httpHeaderAuth".`), {
				node: { name: 'Call API' },
			});

		it.each([
			['member key, n8n 2.20+ (read by ID)', 'member' as KeyRole, true],
			['member key, n8n 2.8 (read answers 405: the list decides)', 'member' as KeyRole, false],
		])('deleted by hand (%s): the record is forgotten, the tenant\'s next call creates it again', async (_label, role, readById) => {
			const n8n = new FakeCredentialsApi(role);
			n8n.readById = readById;
			const scope = n8n.instanceId;
			const id = `gone${uniqueKey('x').replace(/\W/g, '')}`;
			const record = recordOf(scope, id, 'acme', { retentionMs: LONG });
			await registry.registerTenantCredential(record, 0);
			const error = await subWorkflowFailure(refused(id, 'noAccess'), {
				api: n8n.client(),
				registry,
				scope,
				credentialId: id,
				projectId: 'p1',
				subWorkflowLabel: '"Call tenant API"',
				tenantId: 'acme',
				itemIndexes: [0],
				secrets: new Set(['SECRET']),
			});
			expect(error).toBeInstanceOf(SwapItemError);
			expect(error.message).toMatch(/failed for tenant "acme" in node "Call API": Node "Call API" does not have access to the credential/);
			expect(error.options.description).toMatch(/was deleted outside this node\. It is forgotten now: the tenant's next execution creates it again/);
			expect(await registry.useTenantCredential(scope, record.name, 0, LONG)).toBeUndefined();
			expect(await ids(scope)).toEqual([]);
		});

		it('still there (moved, or the key\'s user is not in the project): the record is kept, the message says what to do', async () => {
			for (const readById of [true, false]) {
				const n8n = new FakeCredentialsApi('member');
				n8n.readById = readById;
				const scope = n8n.instanceId;
				const id = n8n.add(`here${uniqueKey('x').replace(/\W/g, '')}`);
				const record = recordOf(scope, id, 'acme', { retentionMs: LONG });
				await registry.registerTenantCredential(record, 0);
				const error = await subWorkflowFailure(refused(id, 'noAccess'), { api: n8n.client(), registry, scope, credentialId: id, projectId: 'p1', subWorkflowLabel: '"S"', tenantId: 'acme', itemIndexes: [0], secrets: new Set() });
				expect(error.options.description).toMatch(/exists, but n8n does not let this workflow use it\. The node created it in the calling workflow's project \(ID p1\)/);
				expect(error.options.description).toMatch(/use the API key of a member \(or admin\) of that project/);
				expect(await registry.useTenantCredential(scope, record.name, 0, LONG)).toBe(id);
			}
		});

		it('a key that may not read credentials (403 to the read, as every member key in 2.40.7): forgotten when it was made in the calling workflow\'s project, kept (and the key named) when not', async () => {
			const n8n = new FakeCredentialsApi('member');
			const scope = n8n.instanceId;
			for (const projectId of ['p1', undefined]) {
				const id = n8n.add(`elsewhere${uniqueKey('x').replace(/\W/g, '')}`);
				n8n.otherProject.add(id);
				const record = recordOf(scope, id, 'acme', { retentionMs: LONG });
				await registry.registerTenantCredential(record, 0);
				const error = await subWorkflowFailure(refused(id, 'noAccess'), { api: n8n.client(), registry, scope, credentialId: id, projectId, subWorkflowLabel: '"S"', tenantId: 'acme', itemIndexes: [0], secrets: new Set() });
				if (projectId) {
					expect(error.options.description).toMatch(/deleted outside this node \(n8n would not let the API key look it up: member keys have no credential:read; it was made in this workflow's project/);
					expect(await registry.useTenantCredential(scope, record.name, 0, LONG)).toBeUndefined();
				} else {
					expect(error.options.description).toMatch(/The node created it in the API key user's personal project .* Use the API key of a member \(or admin\) of this workflow's project .* Offboard Tenant/);
					expect(await registry.useTenantCredential(scope, record.name, 0, LONG)).toBe(id);
				}
			}
		});

		it('"does not exist" (an owner\'s project) forgets the record without asking n8n', async () => {
			const n8n = new FakeCredentialsApi('owner');
			const scope = n8n.instanceId;
			const id = `gone${uniqueKey('x').replace(/\W/g, '')}`;
			await registry.registerTenantCredential(recordOf(scope, id, 'acme', { retentionMs: LONG }), 0);
			const error = await subWorkflowFailure(refused(id, 'notFound'), { api: n8n.client(), registry, scope, credentialId: id, subWorkflowLabel: '"S"', tenantId: 'acme', itemIndexes: [0], secrets: new Set() });
			expect(error.options.description).toMatch(/It is forgotten now/);
			expect(n8n.requests).toEqual([]);
			expect(await ids(scope)).toEqual([]);
		});
	});

	describe('offboarding', () => {
		function contextFor(n8n: FakeCredentialsApi, executionId = 'exec-1'): TenantCredentialContext {
			return { api: n8n.client(), registry, locks: lockClientFor(engine), owner: { executionId, workflowId: 'wf' }, scope: n8n.instanceId };
		}

		it('deletes every credential of the tenant whatever its state (in use, unused, replaced), forgets them, leaves other tenants; a second run finds none', async () => {
			const n8n = new FakeCredentialsApi('member');
			const scope = n8n.instanceId;
			const inUse = n8n.add(`u${uniqueKey('x').replace(/\W/g, '')}`);
			const unused = n8n.add(`n${uniqueKey('x').replace(/\W/g, '')}`);
			const replaced = n8n.add(`r${uniqueKey('x').replace(/\W/g, '')}`);
			const goneByHand = `g${uniqueKey('x').replace(/\W/g, '')}`;
			const other = n8n.add(`o${uniqueKey('x').replace(/\W/g, '')}`);
			const inUseRecord = recordOf(scope, inUse, 'acme', { retentionMs: LONG });
			await registry.registerTenantCredential(recordOf(scope, replaced, 'acme', { name: inUseRecord.name }), LONG);
			await registry.registerTenantCredential(inUseRecord, LONG);
			await registry.registerTenantCredential(recordOf(scope, unused, 'acme'), 0);
			await registry.registerTenantCredential(recordOf(scope, goneByHand, 'acme'), 0);
			const otherRecord = recordOf(scope, other, 'globex', { retentionMs: LONG });
			await registry.registerTenantCredential(otherRecord, LONG);
			n8n.reference(unused, 'Wired by hand');

			const result = await offboardTenant(contextFor(n8n), { tenantId: 'acme', waitTimeoutMs: 5_000, itemIndexes: [0] });
			expect(result).toEqual({
				tenantId: 'acme',
				found: 4,
				deleted: 3,
				alreadyGone: 1,
				referencedBy: [{ credentialId: unused, workflows: expect.stringContaining('"Wired by hand"') }],
			});
			expect([...n8n.credentials.keys()]).toEqual([other]);
			expect(await ids(scope)).toEqual([`${other}:active`]);
			expect(await registry.useTenantCredential(scope, inUseRecord.name, 0, LONG)).toBeUndefined();
			expect(await registry.useTenantCredential(scope, otherRecord.name, 0, LONG)).toBe(other);

			expect(await offboardTenant(contextFor(n8n), { tenantId: 'acme', waitTimeoutMs: 5_000, itemIndexes: [0] })).toEqual({ tenantId: 'acme', found: 0, deleted: 0, alreadyGone: 0, referencedBy: [] });
		});

		it('a refused delete fails the item with the counts and what to do; a second run deletes what is left', async () => {
			const n8n = new FakeCredentialsApi('member');
			const scope = n8n.instanceId;
			const ok = n8n.add(`k${uniqueKey('x').replace(/\W/g, '')}`);
			const refusedId = n8n.add(`f${uniqueKey('x').replace(/\W/g, '')}`);
			n8n.failDelete.set(refusedId, 403);
			for (const id of [ok, refusedId]) await registry.registerTenantCredential(recordOf(scope, id, 'acme', { retentionMs: LONG }), 0);
			const failure = await offboardTenant(contextFor(n8n), { tenantId: 'acme', waitTimeoutMs: 5_000, itemIndexes: [3] }).catch((error: unknown) => error);
			expect(failure).toBeInstanceOf(SwapItemError);
			expect((failure as SwapItemError).message).toMatch(/deleted 1 of its 2 credentials \(0 already gone\); 1 are left: .*403/);
			expect((failure as SwapItemError).options.description).toMatch(/Run the offboarding again/);
			expect((failure as SwapItemError).itemIndexes).toEqual([3]);
			expect(await ids(scope)).toEqual([`${refusedId}:retiring`]);
			n8n.failDelete.clear();
			expect(await offboardTenant(contextFor(n8n), { tenantId: 'acme', waitTimeoutMs: 5_000, itemIndexes: [0] })).toMatchObject({ found: 1, deleted: 1 });
			expect(n8n.credentials.size).toBe(0);
		});

		it.each([true, false])('a first call creating the tenant\'s credential at that moment is not missed (guard on: %s)', async (guard) => {
			configureOffboardGuard(guard);
			const n8n = new FakeCredentialsApi('member');
			const scope = n8n.instanceId;
			let openGate!: () => void;
			n8n.createGate = new Promise<void>((resolve) => (openGate = resolve));
			const creating = tenantCredentialFor(contextFor(n8n, 'exec-create'), {
				tenantId: 'acme',
				type: 'httpHeaderAuth',
				name: `tenant-cred tag acme ${uniqueKey('h')}`,
				data: { name: 'x', value: 'SECRET' },
				retentionMs: LONG,
				testCredential: false,
				waitTimeoutMs: 10_000,
				itemIndexes: [0],
				limits: { ...DEFAULT_TENANT_CREDENTIAL_LIMITS },
			});
			// The creation is in n8n now (it holds the name's lock and the creation guard).
			while (!n8n.requests.some((request) => request.method === 'POST')) await sleep(5);
			const offboarding = offboardTenant(contextFor(n8n, 'exec-offboard'), { tenantId: 'acme', waitTimeoutMs: 10_000, itemIndexes: [0] });
			if (!guard) await offboarding; // the control: it does not wait for the creation
			openGate();
			const created = await creating;
			const result = await offboarding;
			if (guard) {
				expect(result).toMatchObject({ found: 1, deleted: 1 });
				expect(n8n.credentials.size).toBe(0);
				expect(await ids(scope)).toEqual([]);
			} else {
				// Missed: the credential made at that moment stays, registered and usable.
				expect(result).toMatchObject({ found: 0 });
				expect([...n8n.credentials.keys()]).toEqual([created.id]);
				expect(await ids(scope)).toEqual([`${created.id}:active`]);
				// What a second run does: removes it.
				expect(await offboardTenant(contextFor(n8n, 'exec-offboard-2'), { tenantId: 'acme', waitTimeoutMs: 10_000, itemIndexes: [0] })).toMatchObject({ found: 1, deleted: 1 });
				expect(n8n.credentials.size).toBe(0);
			}
		});
	});
});
