/**
 * The tenant credential registry (nodes/shared/tenantCredentials) on every lock backend: the same
 * cases on PostgreSQL, Redis and memory, then races of `use` against `retire` (and of sweepers
 * against each other) across two registries on separate pools / clients, like two n8n processes.
 * A deliberately non-atomic registry runs through the same races as the control: it must break the
 * invariants, so passing races mean something.
 *
 * Times are the store's: tests wait for conditions (a record being retired), never for a guessed
 * number of milliseconds, and assert nothing about how long anything took.
 */
import { MemoryLockEngine } from '../../nodes/shared/lock/MemoryLockEngine';
import type { PostgresLockEngine } from '../../nodes/shared/lock/postgres';
import { RedisLockEngine } from '../../nodes/shared/lock/RedisLockEngine';
import { hashLockKey } from '../../nodes/shared/lock/StoreLockEngine';
import { tenantCredentialRegistryFor } from '../../nodes/shared/tenantCredentials/registry';
import type { LockStore } from '../../nodes/shared/lock/types';
import { MAX_KNOWN_CREDENTIAL_IDS, type NewTenantCredential, type TenantCredentialRecord, type TenantCredentialRegistry } from '../../nodes/shared/tenantCredentials/registryTypes';
import { guard, pause, PostgresLockFixture, redisFactory, sleep, uniqueKey, uniqueName, type EngineUnderTest } from '../helpers/lockTesting';

/** Long enough never to run out during a test: "busy" and "not stale" for the whole run. */
const LONG = 60_000;
/** Short retention: records become retirable (by the store's clock) soon after they are used. */
const SHORT = 100;

interface Subject {
	backend: 'postgres' | 'redis' | 'memory';
	store: LockStore;
	registry: TenantCredentialRegistry;
	/** Another process's registry on the same records (memory: the same one, it has one process). */
	other: TenantCredentialRegistry;
	/** Registries on fresh pools / clients of their own, for the races. */
	group(count: number): Promise<{ registries: TenantCredentialRegistry[]; close(): Promise<void> }>;
	close(): Promise<void>;
}

interface SubjectFactory {
	backend: Subject['backend'];
	create(): Promise<Subject>;
}

/** A schema of its own, so closing drops the registry table with the rest. */
function postgresSubject(fixture = new PostgresLockFixture(), name = { schema: uniqueName('tcr'), table: 'locks' }): Subject & { fixture: PostgresLockFixture; engine: PostgresLockEngine } {
	const engine = fixture.engine(name);
	const other = fixture.engine(name);
	return {
		backend: 'postgres',
		fixture,
		engine,
		store: engine,
		registry: tenantCredentialRegistryFor(engine),
		other: tenantCredentialRegistryFor(other),
		async group(count) {
			const members = Array.from({ length: count }, () => {
				const pool = fixture.pool({ max: 4 });
				return { pool, engine: fixture.engine(name, pool) };
			});
			return {
				registries: members.map((member) => tenantCredentialRegistryFor(member.engine)),
				close: async () => {
					await Promise.all(members.map(async (member) => await fixture.closeEngine(member.engine, member.pool)));
				},
			};
		},
		close: async () => await fixture.close(),
	};
}

const factories: SubjectFactory[] = [
	{ backend: 'postgres', create: async () => postgresSubject() },
	{
		backend: 'redis',
		async create() {
			const engines: EngineUnderTest = await redisFactory('tcr').create();
			return {
				backend: 'redis',
				store: engines.engine,
				registry: tenantCredentialRegistryFor(engines.engine),
				other: tenantCredentialRegistryFor(engines.other),
				async group(count) {
					const group = engines.group(count);
					return { registries: group.engines.map(tenantCredentialRegistryFor), close: group.close };
				},
				close: async () => await engines.close(),
			};
		},
	},
	{
		backend: 'memory',
		async create() {
			const store = new MemoryLockEngine();
			const registry = tenantCredentialRegistryFor(store);
			return {
				backend: 'memory',
				store,
				registry,
				other: registry,
				async group(count) {
					return { registries: Array.from({ length: count }, () => registry), close: async () => undefined };
				},
				close: async () => undefined,
			};
		},
	},
];

let counter = 0;
function credential(scope: string, overrides: Partial<NewTenantCredential> = {}): NewTenantCredential {
	counter += 1;
	return {
		scope,
		name: `tenant-${counter} 5f0c${counter}`,
		credentialId: `cred${counter}x${Math.random().toString(36).slice(2, 8)}`,
		credentialType: 'httpHeaderAuth',
		tenantId: `tenant-${counter}`,
		retentionMs: LONG,
		...overrides,
	};
}

/** Polls `probe` until it returns something, failing with `what` after `limitMs` (liveness only). */
async function until<T>(what: string, probe: () => Promise<T | undefined>, limitMs = 15_000): Promise<T> {
	const giveUp = Date.now() + limitMs;
	for (;;) {
		const found = await probe();
		if (found !== undefined) return found;
		if (Date.now() > giveUp) throw new Error(`gave up waiting for ${what}`);
		await sleep(10);
	}
}

/**
 * Sweeps (stale after LONG) until `ids` were all retired; returns every sweep's result, so callers
 * can check what else those same sweeps took (nothing else should be due).
 */
async function retireUntil(registry: TenantCredentialRegistry, scope: string, ids: string[], limit = 100, staleMs = LONG): Promise<TenantCredentialRecord[][]> {
	const sweeps: TenantCredentialRecord[][] = [];
	const missing = new Set(ids);
	await until(`retirement of ${ids.join(', ')}`, async () => {
		const got = await registry.retireUnusedTenantCredentials(scope, limit, staleMs);
		sweeps.push(got);
		for (const record of got) missing.delete(record.credentialId);
		return missing.size === 0 ? true : undefined;
	});
	return sweeps;
}

function idsOf(sweeps: TenantCredentialRecord[][]): string[] {
	return sweeps.flat().map((record) => record.credentialId);
}

async function recordOf(registry: TenantCredentialRegistry, scope: string, credentialId: string): Promise<TenantCredentialRecord | undefined> {
	return (await registry.listTenantCredentials(scope, 1000)).find((record) => record.credentialId === credentialId);
}

/** Counts the store round trips of a PostgreSQL or Redis registry (memory has none: undefined). */
function storeCalls(subject: Subject): { count(): number; first(): unknown[]; restore(): void } | undefined {
	if (subject.backend === 'memory') return undefined;
	const store = (subject.registry as unknown as { store: Record<string, (...args: unknown[]) => Promise<unknown>> }).store;
	const method = subject.backend === 'postgres' ? 'query' : 'runScript';
	const spy = jest.spyOn(store, method);
	return { count: () => spy.mock.calls.length, first: () => spy.mock.calls[0], restore: () => spy.mockRestore() };
}

describe.each(factories)('$backend tenant credential registry', (factory) => {
	let subject: Subject;
	beforeAll(async () => {
		subject = await factory.create();
	});
	afterAll(async () => {
		await subject.close();
	});

	it('is one registry per lock store', () => {
		expect(tenantCredentialRegistryFor(subject.store)).toBe(subject.registry);
		if (subject.backend !== 'memory') expect(subject.other).not.toBe(subject.registry);
	});

	it('use returns undefined for a name never registered', async () => {
		const scope = uniqueKey('scope');
		expect(await subject.registry.useTenantCredential(scope, 'nobody', LONG, LONG)).toBeUndefined();
		expect(await subject.registry.listTenantCredentials(scope, 10)).toEqual([]);
		expect(await subject.registry.retireUnusedTenantCredentials(scope, 10, 0)).toEqual([]);
	});

	it('register, then use (from another process) returns the ID and marks it used, busy and with the new retention', async () => {
		const scope = uniqueKey('scope');
		const record = credential(scope, { retentionMs: 1_000 });
		await subject.registry.registerTenantCredential(record, 0);
		const registered = await recordOf(subject.registry, scope, record.credentialId);
		expect(registered).toEqual({
			scope,
			name: record.name,
			credentialId: record.credentialId,
			credentialType: 'httpHeaderAuth',
			tenantId: record.tenantId,
			state: 'active',
			lastUsedAt: expect.any(Date),
			busyUntil: expect.any(Date),
			retentionMs: 1_000,
			retiredAt: undefined,
		});
		// Busy 0 ms from the moment it was recorded.
		expect(registered!.busyUntil.getTime() - registered!.lastUsedAt.getTime()).toBeGreaterThanOrEqual(0);
		expect(registered!.busyUntil.getTime() - registered!.lastUsedAt.getTime()).toBeLessThan(1_000);

		expect(await subject.other.useTenantCredential(scope, record.name, 30_000, 2_000)).toBe(record.credentialId);
		const used = await recordOf(subject.registry, scope, record.credentialId);
		expect(used?.state).toBe('active');
		expect(used?.retentionMs).toBe(2_000);
		expect(used!.lastUsedAt.getTime()).toBeGreaterThanOrEqual(registered!.lastUsedAt.getTime());
		expect(used!.busyUntil.getTime() - used!.lastUsedAt.getTime()).toBeGreaterThanOrEqual(30_000);

		// A shorter busy time never shortens what an execution still running asked for.
		await subject.registry.useTenantCredential(scope, record.name, 0, 2_000);
		expect((await recordOf(subject.registry, scope, record.credentialId))!.busyUntil.getTime()).toBeGreaterThanOrEqual(used!.busyUntil.getTime());
		// Other scopes (other n8n instances) never see it.
		expect(await subject.registry.useTenantCredential(uniqueKey('scope'), record.name, 0, 0)).toBeUndefined();
	});

	it('keeps the project a record was created in', async () => {
		const scope = uniqueKey('scope');
		const record = credential(scope, { projectId: 'project-7' });
		await subject.registry.registerTenantCredential(record, 0);
		expect(await recordOf(subject.other, scope, record.credentialId)).toMatchObject({ projectId: 'project-7' });
		const without = credential(scope);
		await subject.registry.registerTenantCredential(without, 0);
		expect((await recordOf(subject.other, scope, without.credentialId))?.projectId).toBeUndefined();
	});

	it('has one content key, random, the same for every process even when they ask first at once', async () => {
		const group = await subject.group(4);
		try {
			const keys = await Promise.all([subject.registry, subject.other, ...group.registries].map(async (registry) => await registry.contentKey()));
			expect(new Set(keys).size).toBe(1);
			expect(keys[0]).toMatch(/^[\w-]{40,}$/);
		} finally {
			await group.close();
		}
	});

	it('counts live records (active and retiring) of the scope and of the tenant, up to atMost; forgotten ones leave the count', async () => {
		const scope = uniqueKey('scope');
		expect(await subject.registry.countLiveTenantCredentials(scope, 'acme', 10)).toEqual({ total: 0, tenant: 0 });
		const acme = [credential(scope, { tenantId: 'acme' }), credential(scope, { tenantId: 'acme', retentionMs: 0 })];
		const globex = credential(scope, { tenantId: 'globex' });
		for (const record of [...acme, globex]) await subject.registry.registerTenantCredential(record, 0);
		await retireUntil(subject.registry, scope, [acme[1].credentialId]);
		expect(await subject.other.countLiveTenantCredentials(scope, 'acme', 10)).toEqual({ total: 3, tenant: 2 });
		expect(await subject.other.countLiveTenantCredentials(scope, 'globex', 10)).toEqual({ total: 3, tenant: 1 });
		expect(await subject.other.countLiveTenantCredentials(scope, 'acme', 1)).toEqual({ total: 1, tenant: 1 });
		// Registering the same credential again (adoption) counts it once.
		await subject.registry.registerTenantCredential(globex, 0);
		expect(await subject.other.countLiveTenantCredentials(scope, 'globex', 10)).toEqual({ total: 3, tenant: 1 });
		await subject.registry.forgetTenantCredential(scope, acme[1].credentialId);
		expect(await subject.other.countLiveTenantCredentials(scope, 'acme', 10)).toEqual({ total: 2, tenant: 1 });
		expect(await subject.other.countLiveTenantCredentials(uniqueKey('scope'), 'acme', 10)).toEqual({ total: 0, tenant: 0 });
	});

	it('use of a retiring record returns undefined', async () => {
		const scope = uniqueKey('scope');
		const record = credential(scope, { retentionMs: 0 });
		await subject.registry.registerTenantCredential(record, 0);
		const sweeps = await retireUntil(subject.other, scope, [record.credentialId]);
		const retired = sweeps.flat()[0];
		expect(retired).toMatchObject({ credentialId: record.credentialId, name: record.name, state: 'retiring', retiredAt: expect.any(Date) });
		expect(await subject.registry.useTenantCredential(scope, record.name, LONG, LONG)).toBeUndefined();
		expect((await recordOf(subject.registry, scope, record.credentialId))?.state).toBe('retiring');
	});

	it('retire takes only records unused for their retention and not busy; keepBusy holds them back', async () => {
		const scope = uniqueKey('scope');
		const due = credential(scope, { retentionMs: SHORT });
		const kept = credential(scope, { retentionMs: LONG });
		const busy = credential(scope, { retentionMs: SHORT });
		const keptBusy = credential(scope, { retentionMs: SHORT });
		await subject.registry.registerTenantCredential(due, 0);
		await subject.registry.registerTenantCredential(kept, 0);
		await subject.registry.registerTenantCredential(busy, LONG);
		await subject.registry.registerTenantCredential(keptBusy, 0);
		await subject.other.keepTenantCredentialsBusy(scope, [keptBusy.name, keptBusy.name, 'unknown name'], LONG);
		const before = (await recordOf(subject.registry, scope, busy.credentialId))!.busyUntil;
		// Never shortens: busy's own busyUntil stays.
		await subject.other.keepTenantCredentialsBusy(scope, [busy.name], 0);
		expect((await recordOf(subject.registry, scope, busy.credentialId))!.busyUntil).toEqual(before);

		const sweeps = await retireUntil(subject.registry, scope, [due.credentialId]);
		expect(idsOf(sweeps)).toEqual([due.credentialId]);
		expect(await subject.registry.useTenantCredential(scope, keptBusy.name, 0, SHORT)).toBe(keptBusy.credentialId);
		const states = Object.fromEntries((await subject.registry.listTenantCredentials(scope, 10)).map((record) => [record.credentialId, record.state]));
		expect(states).toEqual({ [due.credentialId]: 'retiring', [kept.credentialId]: 'active', [busy.credentialId]: 'active', [keptBusy.credentialId]: 'active' });
		// keepBusy touches active records only.
		const retiredBefore = await recordOf(subject.registry, scope, due.credentialId);
		await subject.registry.keepTenantCredentialsBusy(scope, [due.name], LONG);
		expect(await recordOf(subject.registry, scope, due.credentialId)).toEqual(retiredBefore);
	});

	it('a record left retiring is returned again once staleRetiringMs passed, not before', async () => {
		const scope = uniqueKey('scope');
		const record = credential(scope, { retentionMs: 0 });
		const control = credential(scope, { retentionMs: 0 });
		await subject.registry.registerTenantCredential(record, 0);
		const first = (await retireUntil(subject.registry, scope, [record.credentialId])).flat();
		expect(first.map((r) => r.credentialId)).toEqual([record.credentialId]);
		// Registered after the claim: sweeps that return it (stale LONG) must not return the claimed one.
		await subject.registry.registerTenantCredential(control, 0);
		const meanwhile = await retireUntil(subject.other, scope, [control.credentialId]);
		expect(idsOf(meanwhile)).toEqual([control.credentialId]);

		const again = await retireUntil(subject.other, scope, [record.credentialId], 100, SHORT);
		const reclaimed = again.flat().find((r) => r.credentialId === record.credentialId)!;
		expect(reclaimed.state).toBe('retiring');
		expect(reclaimed.retiredAt!.getTime()).toBeGreaterThan(first[0].retiredAt!.getTime());
	});

	it('retire returns at most `limit` records a call, each once; list honours its limit, newest use first', async () => {
		const scope = uniqueKey('scope');
		const records = Array.from({ length: 5 }, () => credential(scope, { retentionMs: 0 }));
		for (const record of records) await subject.registry.registerTenantCredential(record, 0);

		const listed = await subject.registry.listTenantCredentials(scope, 3);
		expect(listed).toHaveLength(3);
		const times = listed.map((record) => record.lastUsedAt.getTime());
		expect([...times].sort((a, b) => b - a)).toEqual(times);

		const sweeps = await retireUntil(subject.registry, scope, records.map((r) => r.credentialId), 2);
		for (const sweep of sweeps) expect(sweep.length).toBeLessThanOrEqual(2);
		expect(idsOf(sweeps).sort()).toEqual(records.map((r) => r.credentialId).sort());
	});

	it('forget removes the record (and is a no-op for an unknown one)', async () => {
		const scope = uniqueKey('scope');
		const active = credential(scope);
		const retiring = credential(scope, { retentionMs: 0 });
		await subject.registry.registerTenantCredential(active, 0);
		await subject.registry.registerTenantCredential(retiring, 0);
		await retireUntil(subject.registry, scope, [retiring.credentialId]);
		await subject.other.forgetTenantCredential(scope, active.credentialId);
		await subject.other.forgetTenantCredential(scope, retiring.credentialId);
		await subject.other.forgetTenantCredential(scope, 'never-registered');
		expect(await subject.registry.listTenantCredentials(scope, 10)).toEqual([]);
		expect(await subject.registry.useTenantCredential(scope, active.name, 0, 0)).toBeUndefined();
		expect(await subject.registry.retireUnusedTenantCredentials(scope, 10, 0)).toEqual([]);
		// The name is free for a new record.
		const next = credential(scope, { name: active.name });
		await subject.registry.registerTenantCredential(next, 0);
		expect(await subject.registry.useTenantCredential(scope, active.name, 0, LONG)).toBe(next.credentialId);
	});

	it('register replaces the active record of the name: the old one becomes retiring and the sweep takes it once not busy', async () => {
		const scope = uniqueKey('scope');
		const old = credential(scope);
		const busyOld = credential(scope);
		await subject.registry.registerTenantCredential(old, 0);
		await subject.registry.registerTenantCredential(busyOld, 0);
		expect(await subject.registry.useTenantCredential(scope, old.name, 0, LONG)).toBe(old.credentialId);
		// An execution still works with this one.
		expect(await subject.registry.useTenantCredential(scope, busyOld.name, LONG, LONG)).toBe(busyOld.credentialId);

		const replacement = credential(scope, { name: old.name });
		const busyReplacement = credential(scope, { name: busyOld.name });
		await subject.other.registerTenantCredential(replacement, 0);
		await subject.other.registerTenantCredential(busyReplacement, 0);
		expect(await subject.registry.useTenantCredential(scope, old.name, 0, LONG)).toBe(replacement.credentialId);
		expect(await subject.registry.useTenantCredential(scope, busyOld.name, 0, LONG)).toBe(busyReplacement.credentialId);
		const replaced = await recordOf(subject.registry, scope, old.credentialId);
		expect(replaced).toMatchObject({ state: 'retiring', name: old.name });
		// Not claimed by a sweep yet: due now, without waiting for staleRetiringMs.
		expect(replaced?.retiredAt).toBeUndefined();

		// Even with staleRetiringMs 0 the busy one stays: its credential may still be in use.
		const sweeps = await retireUntil(subject.registry, scope, [old.credentialId], 100, 0);
		expect(idsOf(sweeps)).toEqual([old.credentialId]);
		expect((await recordOf(subject.registry, scope, busyOld.credentialId))?.state).toBe('retiring');
		const names = await subject.registry.listTenantCredentials(scope, 10);
		expect(names.filter((r) => r.state === 'active').map((r) => r.credentialId).sort()).toEqual([replacement.credentialId, busyReplacement.credentialId].sort());
	});

	it('registering the same credential again keeps one active record (adoption)', async () => {
		const scope = uniqueKey('scope');
		const record = credential(scope, { retentionMs: 0 });
		await subject.registry.registerTenantCredential(record, 0);
		await retireUntil(subject.registry, scope, [record.credentialId]);
		// A credential the sweep claimed but had not deleted yet, adopted again: active again.
		await subject.other.registerTenantCredential({ ...record, retentionMs: LONG }, 0);
		const listed = await subject.registry.listTenantCredentials(scope, 10);
		expect(listed).toHaveLength(1);
		expect(listed[0]).toMatchObject({ credentialId: record.credentialId, state: 'active', retentionMs: LONG, retiredAt: undefined });
		expect(await subject.registry.useTenantCredential(scope, record.name, 0, LONG)).toBe(record.credentialId);
	});

	it('knownTenantCredentialIds: the IDs with a record in the scope, active or retiring; never forgotten or unknown ones', async () => {
		const scope = uniqueKey('scope');
		const active = credential(scope);
		const retired = credential(scope, { retentionMs: 0 });
		const replaced = credential(scope);
		const forgotten = credential(scope);
		for (const record of [active, retired, replaced, forgotten]) await subject.registry.registerTenantCredential(record, 0);
		await retireUntil(subject.registry, scope, [retired.credentialId]);
		const replacement = credential(scope, { name: replaced.name });
		await subject.registry.registerTenantCredential(replacement, 0);
		await subject.registry.forgetTenantCredential(scope, forgotten.credentialId);
		const states = Object.fromEntries((await subject.registry.listTenantCredentials(scope, 10)).map((record) => [record.credentialId, record.state]));
		expect(states).toEqual({
			[active.credentialId]: 'active',
			[retired.credentialId]: 'retiring',
			[replaced.credentialId]: 'retiring',
			[replacement.credentialId]: 'active',
		});

		const asked = [active.credentialId, 'never-registered', retired.credentialId, replaced.credentialId, forgotten.credentialId, active.credentialId, replacement.credentialId, ''];
		const known = await subject.other.knownTenantCredentialIds(scope, asked);
		expect(known).toBeInstanceOf(Set);
		expect([...known].sort()).toEqual([active.credentialId, retired.credentialId, replaced.credentialId, replacement.credentialId].sort());
		// Another scope (another n8n instance) knows none of them; nothing asked, nothing known.
		expect(await subject.registry.knownTenantCredentialIds(uniqueKey('scope'), asked)).toEqual(new Set());
		expect(await subject.registry.knownTenantCredentialIds(scope, [])).toEqual(new Set());
		// Asking changes nothing.
		expect(Object.fromEntries((await subject.registry.listTenantCredentials(scope, 10)).map((record) => [record.credentialId, record.state]))).toEqual(states);
	});

	it(`knownTenantCredentialIds takes one API page (${MAX_KNOWN_CREDENTIAL_IDS} IDs) in one store call, and refuses more`, async () => {
		const scope = uniqueKey('scope');
		const records = [credential(scope), credential(scope)];
		for (const record of records) await subject.registry.registerTenantCredential(record, 0);
		const page = [...records.map((record) => record.credentialId), ...Array.from({ length: MAX_KNOWN_CREDENTIAL_IDS - 2 }, (_, i) => `unknown-${i}`)];
		// Warm up (the PostgreSQL registry checks its table once), then count the store calls of one ask.
		await subject.registry.knownTenantCredentialIds(scope, page.slice(0, 1));
		const calls = storeCalls(subject);
		const known = await subject.registry.knownTenantCredentialIds(scope, page);
		expect([...known].sort()).toEqual(records.map((record) => record.credentialId).sort());
		if (calls) {
			expect(calls.count()).toBe(1);
			if (subject.backend === 'postgres') expect(calls.first()[1]).toMatch(/credential_id = ANY\(\$2::text\[\]\)/);
			calls.restore();
		}
		await expect(subject.registry.knownTenantCredentialIds(scope, [...page, 'one-too-many'])).rejects.toThrow(/at most 250/);
		await expect(subject.registry.knownTenantCredentialIds(scope, [42 as unknown as string])).rejects.toThrow(/at most 250/);
	});

	it('refuses impossible durations and limits', async () => {
		const scope = uniqueKey('scope');
		await expect(subject.registry.useTenantCredential(scope, 'x', -1, 0)).rejects.toThrow(/Busy time/);
		await expect(subject.registry.useTenantCredential(scope, 'x', 0, Number.POSITIVE_INFINITY)).rejects.toThrow(/Retention/);
		await expect(subject.registry.retireUnusedTenantCredentials(scope, 0, 0)).rejects.toThrow(/limit/);
		await expect(subject.registry.listTenantCredentials(scope, 1.5)).rejects.toThrow(/limit/);
		await expect(subject.registry.registerTenantCredential(credential(scope, { credentialId: '' }), 0)).rejects.toThrow(/credentialId/);
	});

	it(`races: uses against sweeps on records whose retention just passed, from two processes: no ID is both handed out and retired`, async () => {
		const group = await subject.group(2);
		try {
			const outcome = await guard(race(group.registries), 60_000, 'the race');
			expect(outcome.lateRetirements).toEqual([]);
			expect(outcome.usedAndRetired).toEqual([]);
			expect(outcome.retiredTwice).toEqual([]);
			expect(outcome.unaccounted).toEqual([]);
			// Both sides won some records, so the race was real.
			expect(outcome.used).toBeGreaterThan(0);
			expect(outcome.retired).toBeGreaterThan(0);
			expect(outcome.usesTurnedAway).toBeGreaterThan(0);
		} finally {
			await group.close();
		}
	});

	it('races: sweepers in two processes never take the same record twice', async () => {
		const group = await subject.group(2);
		try {
			const outcome = await guard(sweepRace(group.registries), 60_000, 'the sweep race');
			expect(outcome.retiredTwice).toEqual([]);
			expect(outcome.missing).toEqual([]);
		} finally {
			await group.close();
		}
	});
});

describe('control: a registry whose use and retire read, await, then write', () => {
	it('breaks the use-versus-retire invariants in the same race', async () => {
		const control = new NonAtomicRegistry();
		const outcome = await guard(race([control, control]), 60_000, 'the control race');
		expect(outcome.lateRetirements.length).toBeGreaterThan(0);
		expect(outcome.usedAndRetired.length).toBeGreaterThan(0);
	});

	it('lets two sweepers take the same record in the same sweep race', async () => {
		const control = new NonAtomicRegistry();
		const outcome = await guard(sweepRace([control, control]), 60_000, 'the control sweep race');
		expect(outcome.retiredTwice.length).toBeGreaterThan(0);
	});
});

describe('postgres tenant credential registry: its table', () => {
	const fixture = new PostgresLockFixture();
	afterAll(async () => {
		await fixture.close();
	});

	it('lives in the lock schema, named after the lock table, with one active record per name; processes create it at once without error', async () => {
		const schema = uniqueName('tcr_ddl');
		const engines = Array.from({ length: 4 }, () => fixture.engine({ schema, table: 'my_locks' }));
		const scope = uniqueKey('scope');
		await Promise.all(engines.map(async (engine) => await tenantCredentialRegistryFor(engine).listTenantCredentials(scope, 1)));
		const derived = `tsl_${hashLockKey(`${schema}.my_locks`).slice(0, 20)}_tenant_creds`;
		const tables = await fixture.query<{ relname: string; comment: string }>(
			`SELECT c.relname, obj_description(c.oid, 'pg_class') AS comment FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			  WHERE n.nspname = $1 AND c.relkind = 'r'`,
			[schema],
		);
		expect(tables).toEqual(
			expect.arrayContaining([
				{ relname: derived, comment: expect.stringContaining(`${schema}.my_locks`) },
				{ relname: derived.replace(/_tenant_creds$/, '_tenant_meta'), comment: null },
			]),
		);
		expect(tables).toHaveLength(2);
		const indexes = await fixture.query<{ indexdef: string }>('SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = $2', [schema, derived]);
		expect(indexes.map((row) => row.indexdef).join('\n')).toMatch(/UNIQUE INDEX .* \(scope, name\) WHERE \(state = 'active'::text\)/);

		// Another lock table in the same schema keeps its own records.
		const registry = tenantCredentialRegistryFor(engines[0]);
		await registry.registerTenantCredential(credential(scope), 0);
		const elsewhere = tenantCredentialRegistryFor(fixture.engine({ schema, table: 'other_locks' }));
		expect(await elsewhere.listTenantCredentials(scope, 10)).toEqual([]);
	});

	it('upgrades a table made before issue 16 (no project_id, no tenant index, no key table) and keeps its records', async () => {
		const schema = uniqueName('tcr_old');
		const table = `"${schema}"."tsl_${hashLockKey(`${schema}.locks`).slice(0, 20)}_tenant_creds"`;
		await fixture.query(`CREATE SCHEMA "${schema}"`);
		await fixture.query(`CREATE TABLE ${table} (
			scope text NOT NULL, credential_id text NOT NULL, name text NOT NULL, credential_type text NOT NULL, tenant_id text NOT NULL,
			state text NOT NULL CHECK (state IN ('active', 'retiring')), last_used_at timestamptz NOT NULL, busy_until timestamptz NOT NULL,
			retention_ms bigint NOT NULL CHECK (retention_ms >= 0), retired_at timestamptz, PRIMARY KEY (scope, credential_id))`);
		await fixture.query(`INSERT INTO ${table} VALUES ('s', 'old1', 'tenant-cred acme abc', 'httpHeaderAuth', 'acme', 'active', now(), now(), 1000, NULL)`);
		const registry = tenantCredentialRegistryFor(fixture.engine({ schema, table: 'locks' }));
		expect(await registry.listTenantCredentials('s', 10)).toEqual([expect.objectContaining({ credentialId: 'old1', projectId: undefined })]);
		expect(await registry.countLiveTenantCredentials('s', 'acme', 10)).toEqual({ total: 1, tenant: 1 });
		expect(await registry.contentKey()).toMatch(/^[\w-]{40,}$/);
		await registry.registerTenantCredential(credential('s', { projectId: 'p1' }), 0);
		expect((await registry.listTenantCredentials('s', 10)).map((record) => record.projectId).sort()).toEqual(['p1', undefined]);
	});

	it('keeps the registry out of the lane reserved for lock holders', async () => {
		const engine = fixture.engine({ schema: uniqueName('tcr_lane'), table: 'locks' });
		await expect(engine.storeAccess().query('extend', 'SELECT 1', [])).rejects.toThrow(/reserved/);
		expect(await engine.storeAccess().query('tenant credential probe', 'SELECT 1 AS one', [])).toEqual([{ one: 1 }]);
	});
});

describe('redis tenant credential registry: its keys', () => {
	let engines: EngineUnderTest;
	beforeAll(async () => {
		engines = await redisFactory('tcr_keys').create();
	});
	afterAll(async () => {
		await engines.close();
	});

	it('keeps every key under the engine prefix and scope, and none once its records are forgotten', async () => {
		const engine = engines.engine as RedisLockEngine;
		expect(engine).toBeInstanceOf(RedisLockEngine);
		const { prefix } = engine.storeAccess();
		const client = (engine as unknown as { client: { keys(pattern: string): Promise<string[]> } }).client;
		const registry = tenantCredentialRegistryFor(engine);
		const scope = uniqueKey('scope');
		const scoped = `${prefix}tc:${hashLockKey(scope)}:`;
		const records = [credential(scope), credential(scope, { retentionMs: 0 }), credential(scope)];
		for (const record of records) await registry.registerTenantCredential(record, 0);
		await registry.registerTenantCredential(credential(scope, { name: records[2].name }), 0);
		await retireUntil(registry, scope, [records[1].credentialId]);
		const keys = await client.keys(`${prefix}*`);
		expect(keys.every((key) => key.startsWith(scoped))).toBe(true);
		expect(keys.filter((key) => key.startsWith(`${scoped}cred:`))).toHaveLength(4);

		for (const record of await registry.listTenantCredentials(scope, 100)) await registry.forgetTenantCredential(scope, record.credentialId);
		expect(await client.keys(`${scoped}*`)).toEqual([]);
	});
});

// ---------------------------------------------------------------------------------------------
// The races

interface RaceOutcome {
	/** "use returned X, and a sweep that resolved after that use returned X too". */
	lateRetirements: string[];
	/** IDs both handed out by a use and retired (by anyone, at any time in the race). */
	usedAndRetired: string[];
	retiredTwice: string[];
	/** Records neither handed out nor retired (the race did not finish its job). */
	unaccounted: string[];
	used: number;
	retired: number;
	usesTurnedAway: number;
}

const RACE_RECORDS = 40;
const USES_PER_RECORD = 3;
const SWEEPERS_PER_REGISTRY = 2;
const SWEEP_LIMIT = 2;
/** About the number of sweeps it takes to retire every record. */
const USE_SPREAD_SWEEPS = RACE_RECORDS / SWEEP_LIMIT;

/**
 * Records whose retention (SHORT) has just passed, then, at once: sweeps from every registry (again
 * and again) and uses of every record from every registry. A use marks the record busy for LONG, so
 * a record is either handed out or retired, never both, and never retired twice (stale after LONG).
 */
async function race(registries: TenantCredentialRegistry[]): Promise<RaceOutcome> {
	const scope = uniqueKey('race');
	const records = Array.from({ length: RACE_RECORDS }, () => credential(scope, { retentionMs: SHORT }));
	for (const [i, record] of records.entries()) await registries[i % registries.length].registerTenantCredential(record, 0);
	await untilRetentionPassed(registries[0]);

	let tick = 0;
	const uses: Array<{ id: string; at: number }> = [];
	let turnedAway = 0;
	const sweeps: Array<{ ids: string[]; at: number }> = [];
	let usesDone = false;
	/** The oldest records: what the first sweep of every sweeper goes for. */
	const firstSweepsTake = registries.length * SWEEPERS_PER_REGISTRY * SWEEP_LIMIT;
	const sweeper = async (registry: TenantCredentialRegistry) => {
		for (;;) {
			const got = await registry.retireUnusedTenantCredentials(scope, SWEEP_LIMIT, LONG);
			sweeps.push({ ids: got.map((record) => record.credentialId), at: ++tick });
			if (usesDone && got.length === 0) return;
			await pause(1, 2);
		}
	};
	// The oldest records (the first sweeps' pick) are used at once, in the same instant as those
	// sweeps; the others once a random number of sweeps returned (whatever the backend's speed), so
	// records are contested from the first sweep to the last and go either way.
	const user = async (registry: TenantCredentialRegistry, name: string, hot: boolean) => {
		const after = hot ? 0 : Math.floor(Math.random() * USE_SPREAD_SWEEPS);
		// Sweepers keep sweeping until every use is done, so this count keeps growing.
		while (sweeps.length < after) await sleep(1);
		const id = await registry.useTenantCredential(scope, name, LONG, SHORT);
		if (id) uses.push({ id, at: ++tick });
		else turnedAway += 1;
	};
	const sweepers = registries.flatMap((registry) => Array.from({ length: SWEEPERS_PER_REGISTRY }, async () => await sweeper(registry)));
	const users = records.flatMap((record, i) =>
		Array.from({ length: USES_PER_RECORD }, async (_, j) => await user(registries[(i + j) % registries.length], record.name, i < firstSweepsTake)),
	);
	await Promise.all(users);
	usesDone = true;
	await Promise.all(sweepers);

	const retiredCount = new Map<string, number>();
	for (const sweep of sweeps) for (const id of sweep.ids) retiredCount.set(id, (retiredCount.get(id) ?? 0) + 1);
	const usedIds = new Set(uses.map((use) => use.id));
	const lateRetirements = uses.flatMap((use) =>
		sweeps.filter((sweep) => sweep.at > use.at && sweep.ids.includes(use.id)).map((sweep) => `${use.id} used at ${use.at}, retired at ${sweep.at}`),
	);
	return {
		lateRetirements: [...new Set(lateRetirements)],
		usedAndRetired: [...usedIds].filter((id) => retiredCount.has(id)),
		retiredTwice: [...retiredCount].filter(([, count]) => count > 1).map(([id]) => id),
		unaccounted: records.map((r) => r.credentialId).filter((id) => !usedIds.has(id) && !retiredCount.has(id)),
		used: usedIds.size,
		retired: retiredCount.size,
		usesTurnedAway: turnedAway,
	};
}

/** Many retirable records, swept by every registry at once with a small limit. */
async function sweepRace(registries: TenantCredentialRegistry[]): Promise<{ retiredTwice: string[]; missing: string[] }> {
	const scope = uniqueKey('sweep-race');
	const records = Array.from({ length: RACE_RECORDS }, () => credential(scope, { retentionMs: SHORT }));
	for (const [i, record] of records.entries()) await registries[i % registries.length].registerTenantCredential(record, 0);
	await untilRetentionPassed(registries[0]);
	const taken: string[] = [];
	await Promise.all(
		registries.flatMap((registry) =>
			Array.from({ length: 3 }, async () => {
				for (;;) {
					const got = await registry.retireUnusedTenantCredentials(scope, 2, LONG);
					if (got.length === 0) return;
					taken.push(...got.map((record) => record.credentialId));
					await pause(1, 1);
				}
			}),
		),
	);
	const seen = new Set<string>();
	const twice = taken.filter((id) => (seen.has(id) ? true : (seen.add(id), false)));
	return { retiredTwice: [...new Set(twice)], missing: records.map((r) => r.credentialId).filter((id) => !seen.has(id)) };
}

/**
 * Waits, by the store's clock, until records registered before this call are past SHORT: a sentinel
 * registered now (in a scope of its own) with the same retention is retired only after that.
 */
async function untilRetentionPassed(registry: TenantCredentialRegistry): Promise<void> {
	const scope = uniqueKey('sentinel');
	const sentinel = credential(scope, { retentionMs: SHORT });
	await registry.registerTenantCredential(sentinel, 0);
	await retireUntil(registry, scope, [sentinel.credentialId]);
	await registry.forgetTenantCredential(scope, sentinel.credentialId);
}

/**
 * The control: the same contract, implemented the way it must not be, as a read, an await (a round
 * trip), then a write. The awaits are event-loop turns, not timers, so the interleaving does not
 * depend on the machine's speed: retire's gap (3 turns) is longer than use's (1), like a sweep doing
 * more work, so a use that read a record while a sweep was between its read and write resolves first.
 */
class NonAtomicRegistry implements TenantCredentialRegistry {
	readonly storeIdentity = 'non-atomic';
	private readonly records = new Map<string, TenantCredentialRecord>();

	async contentKey(): Promise<string> {
		return 'non-atomic-key';
	}

	async countLiveTenantCredentials(scope: string, tenantId: string): Promise<{ total: number; tenant: number }> {
		const records = [...this.records.values()].filter((r) => r.scope === scope);
		return { total: records.length, tenant: records.filter((r) => r.tenantId === tenantId).length };
	}

	async useTenantCredential(scope: string, name: string, busyMs: number, retentionMs: number): Promise<string | undefined> {
		const found = [...this.records.values()].find((r) => r.scope === scope && r.name === name && r.state === 'active');
		await pause(1);
		if (!found) return undefined;
		const now = Date.now();
		this.records.set(found.credentialId, { ...found, lastUsedAt: new Date(now), busyUntil: new Date(now + busyMs), retentionMs });
		return found.credentialId;
	}

	async registerTenantCredential(record: NewTenantCredential, busyMs: number): Promise<void> {
		const now = Date.now();
		for (const other of this.records.values()) {
			if (other.scope === record.scope && other.name === record.name && other.state === 'active') this.records.set(other.credentialId, { ...other, state: 'retiring' });
		}
		this.records.set(record.credentialId, { ...record, state: 'active', lastUsedAt: new Date(now), busyUntil: new Date(now + busyMs) });
	}

	async keepTenantCredentialsBusy(scope: string, names: string[], busyMs: number): Promise<void> {
		const now = Date.now();
		for (const record of this.records.values()) {
			if (record.scope === scope && names.includes(record.name) && record.state === 'active') this.records.set(record.credentialId, { ...record, busyUntil: new Date(now + busyMs) });
		}
	}

	async retireUnusedTenantCredentials(scope: string, limit: number, staleRetiringMs: number): Promise<TenantCredentialRecord[]> {
		const now = Date.now();
		const due = [...this.records.values()]
			.filter(
				(r) =>
					r.scope === scope &&
					r.busyUntil.getTime() < now &&
					((r.state === 'active' && r.lastUsedAt.getTime() + r.retentionMs < now) ||
						(r.state === 'retiring' && (r.retiredAt?.getTime() ?? 0) < now - staleRetiringMs)),
			)
			.slice(0, limit);
		await pause(3);
		const retiredAt = new Date();
		return due.map((r) => {
			const retired = { ...r, state: 'retiring' as const, retiredAt };
			this.records.set(r.credentialId, retired);
			return retired;
		});
	}

	async retireTenantCredentialsOf(scope: string, tenantId: string, limit: number): Promise<TenantCredentialRecord[]> {
		const mine = [...this.records.values()].filter((r) => r.scope === scope && r.tenantId === tenantId).slice(0, limit);
		const retiredAt = new Date();
		return mine.map((r) => {
			const retired = { ...r, state: 'retiring' as const, retiredAt };
			this.records.set(r.credentialId, retired);
			return retired;
		});
	}

	async forgetTenantCredential(_scope: string, credentialId: string): Promise<void> {
		this.records.delete(credentialId);
	}

	async knownTenantCredentialIds(scope: string, credentialIds: string[]): Promise<Set<string>> {
		return new Set(credentialIds.filter((id) => this.records.get(id)?.scope === scope));
	}

	async listTenantCredentials(scope: string, limit: number): Promise<TenantCredentialRecord[]> {
		return [...this.records.values()]
			.filter((r) => r.scope === scope)
			.sort((a, b) => b.lastUsedAt.getTime() - a.lastUsedAt.getTime())
			.slice(0, limit);
	}
}
