/**
 * The orphan pass of Run With Tenant Credential (sweepOrphansInBackground in
 * nodes/shared/tenantCredentials/sweep.ts) on real registries (PostgreSQL, Redis, memory).
 *
 * The n8n side is a fake transport behind the real N8nApiClient: the pass decides by a credential's
 * updatedAt, and a real n8n cannot be made to hold a credential unchanged for 30 days. It pages like
 * n8n's public API (an offset in an opaque cursor) and deletes like it (404 "Credential not found").
 * test/e2e/orphanSweep.test.ts runs the pass against a real n8n with the grace period shortened.
 *
 * No wall-clock assertions: ages are days apart from the grace period, and "at most once per
 * interval" is checked with the real one-hour interval (two calls in a row) or a zero one.
 */
import { MemoryLockEngine } from '../../nodes/shared/lock/MemoryLockEngine';
import { registryNamePrefix, registryTag, TENANT_CREDENTIAL_PREFIX, tenantCredentialDisplayName } from '../../nodes/shared/tenantCredentials/credentialName';
import { tenantCredentialRegistryFor } from '../../nodes/shared/tenantCredentials/registry';
import type { NewTenantCredential, TenantCredentialRegistry } from '../../nodes/shared/tenantCredentials/registryTypes';
import {
	configureOrphanCleanup,
	DEFAULT_ORPHAN_CLEANUP,
	ORPHAN_MIN_GRACE_MS,
	ORPHAN_PASS_INTERVAL_MS,
	orphanGraceMs,
	sweepOrphansInBackground,
} from '../../nodes/shared/tenantCredentials/orphans';
import type { SweepContext } from '../../nodes/shared/tenantCredentials/sweep';
import { N8nApiClient, type ApiRequest, type ApiResponse, type CredentialSummary, type N8nApiTransport } from '../../nodes/shared/transport/n8nApiClient';
import { PostgresLockFixture, redisFactory, sleep, uniqueKey, uniqueName, type EngineUnderTest } from '../helpers/lockTesting';

const DAY = 24 * 60 * 60_000;
/** One attempt, no waiting: failures are the point of some tests. */
const NO_RETRY = { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 };

/** n8n's public credentials API, in memory: pages by offset behind an opaque cursor, like n8n. */
class FakeN8n implements N8nApiTransport {
	readonly instanceId: string;
	readonly credentials: CredentialSummary[] = [];
	readonly requests: ApiRequest[] = [];
	/** Status answered to every list request (e.g. 500), instead of a page. */
	failList?: number;
	/** Status answered to the delete of a credential (it stays). */
	readonly failDelete = new Map<string, number>();

	constructor(readonly scope = `http://n8n-${uniqueKey('fake')}.invalid/api/v1`) {
		this.instanceId = scope;
	}

	add(name: string, ageMs: number, dates: 'both' | 'createdOnly' | 'none' = 'both', id = `c${uniqueKey('id').replace(/\W/g, '')}`): CredentialSummary {
		const at = new Date(Date.now() - ageMs).toISOString();
		const credential: CredentialSummary = { id, name, type: 'httpHeaderAuth' };
		if (dates !== 'none') credential.createdAt = at;
		if (dates === 'both') credential.updatedAt = at;
		this.credentials.push(credential);
		return credential;
	}

	ids(): string[] {
		return this.credentials.map((credential) => credential.id);
	}

	lists(): ApiRequest[] {
		return this.requests.filter((request) => request.method === 'GET' && request.path === '/credentials');
	}

	deletes(): string[] {
		return this.requests.filter((request) => request.method === 'DELETE').map((request) => decodeURIComponent(request.path.split('/').pop()!));
	}

	async send(request: ApiRequest): Promise<ApiResponse> {
		this.requests.push(request);
		if (request.method === 'GET' && request.path === '/credentials') {
			if (this.failList !== undefined) return { statusCode: this.failList, body: { message: 'Internal Server Error' } };
			const limit = Number(request.qs?.limit ?? 100);
			const offset = request.qs?.cursor === undefined ? 0 : (JSON.parse(Buffer.from(String(request.qs.cursor), 'base64').toString()) as { offset: number }).offset;
			const data = this.credentials.slice(offset, offset + limit).map((credential) => ({ ...credential }));
			const next = offset + limit < this.credentials.length ? Buffer.from(JSON.stringify({ offset: offset + limit, limit })).toString('base64') : null;
			return { statusCode: 200, body: { data, nextCursor: next } };
		}
		// No workflow references a tenant credential here (test/integration/tenantLifecycle.test.ts covers those that do).
		if (request.method === 'GET' && request.path === '/workflows') return { statusCode: 200, body: { data: [], nextCursor: null } };
		const deleted = /^\/credentials\/([^/]+)$/.exec(request.path);
		if (request.method === 'DELETE' && deleted) {
			const id = decodeURIComponent(deleted[1]);
			const status = this.failDelete.get(id);
			if (status !== undefined) return { statusCode: status, body: { message: status === 403 ? 'Forbidden' : 'Internal Server Error' } };
			const index = this.credentials.findIndex((credential) => credential.id === id);
			if (index < 0) return { statusCode: 404, body: { message: 'Credential not found' } };
			const [gone] = this.credentials.splice(index, 1);
			return { statusCode: 200, body: gone };
		}
		return { statusCode: 404, body: { message: `not faked: ${request.method} ${request.path}` } };
	}
}

interface LogLine {
	level: 'warn' | 'debug';
	message: string;
	meta?: Record<string, unknown>;
}

function logger(): SweepContext['log'] & { lines: LogLine[]; warnings(): LogLine[] } {
	const lines: LogLine[] = [];
	return {
		lines,
		warn: (message, meta) => lines.push({ level: 'warn', message, meta }),
		debug: (message, meta) => lines.push({ level: 'debug', message, meta }),
		warnings: () => lines.filter((line) => line.level === 'warn'),
	};
}

interface Backend {
	backend: 'postgres' | 'redis' | 'memory';
	create(): Promise<{ registry: TenantCredentialRegistry; close(): Promise<void> }>;
}

const backends: Backend[] = [
	{
		backend: 'postgres',
		async create() {
			const fixture = new PostgresLockFixture();
			const engine = fixture.engine({ schema: uniqueName('orphans'), table: 'locks' });
			return { registry: tenantCredentialRegistryFor(engine), close: async () => await fixture.close() };
		},
	},
	{
		backend: 'redis',
		async create() {
			const engines: EngineUnderTest = await redisFactory('orphans').create();
			return { registry: tenantCredentialRegistryFor(engines.engine), close: async () => await engines.close() };
		},
	},
	{
		backend: 'memory',
		async create() {
			return { registry: tenantCredentialRegistryFor(new MemoryLockEngine()), close: async () => undefined };
		},
	},
];

let counter = 0;
/** A name as `registry` makes them for n8n `scope`: `tenant-cred <its tag> <tenant> <hmac>`. */
function tenantName(registry: TenantCredentialRegistry, scope: string): string {
	counter += 1;
	return `${registryNamePrefix(registryTag(registry.storeIdentity, scope))}tenant-${counter} hmac${counter}`;
}

function recordFor(scope: string, credential: CredentialSummary, overrides: Partial<NewTenantCredential> = {}): NewTenantCredential {
	return { scope, name: credential.name, credentialId: credential.id, credentialType: credential.type, tenantId: 'tenant', retentionMs: DAY, ...overrides };
}

/** A registered record made `retiring` by a sweep claim (retention 0: due once the store's clock moved on). */
async function retire(registry: TenantCredentialRegistry, scope: string, credentialId: string): Promise<void> {
	const giveUp = Date.now() + 15_000;
	for (;;) {
		const claimed = await registry.retireUnusedTenantCredentials(scope, 100, DAY);
		if (claimed.some((record) => record.credentialId === credentialId)) return;
		if (Date.now() > giveUp) throw new Error(`gave up waiting for ${credentialId} to be retired`);
		await sleep(5);
	}
}

afterEach(() => {
	configureOrphanCleanup();
});

describe('orphan pass settings', () => {
	it('runs at most hourly, deletes after max(30 days, retention), reads at most 20 pages of 250', () => {
		expect(ORPHAN_PASS_INTERVAL_MS).toBe(60 * 60_000);
		expect(ORPHAN_MIN_GRACE_MS).toBe(30 * DAY);
		expect(DEFAULT_ORPHAN_CLEANUP).toMatchObject({ intervalMs: ORPHAN_PASS_INTERVAL_MS, minGraceMs: ORPHAN_MIN_GRACE_MS, maxPages: 20, pageSize: 250 });
		expect(orphanGraceMs(DAY)).toBe(30 * DAY);
		expect(orphanGraceMs(90 * DAY)).toBe(90 * DAY);
		expect(orphanGraceMs(Number.NaN)).toBe(Number.POSITIVE_INFINITY);
	});
});

describe.each(backends)('orphan pass on the $backend registry', (backend) => {
	let registry: TenantCredentialRegistry;
	let close: () => Promise<void>;
	beforeAll(async () => {
		({ registry, close } = await backend.create());
	});
	afterAll(async () => {
		await close();
	});

	function contextFor(n8n: FakeN8n, log = logger()): SweepContext & { log: ReturnType<typeof logger> } {
		return { registry, api: new N8nApiClient(n8n, NO_RETRY), scope: n8n.scope, log };
	}

	it('deletes unknown tenant credentials older than the grace period; keeps recent, known (active or retiring) and non-prefixed ones', async () => {
		const n8n = new FakeN8n();
		// As n8n shows names made since the managed note; the one below (created only) as made before it.
		const oldUnknown = n8n.add(tenantCredentialDisplayName(tenantName(registry, n8n.scope)), 40 * DAY);
		const oldUnknownCreatedOnly = n8n.add(tenantName(registry, n8n.scope), 40 * DAY, 'createdOnly');
		const recentUnknown = n8n.add(tenantName(registry, n8n.scope), 29 * DAY);
		const undated = n8n.add(tenantName(registry, n8n.scope), 400 * DAY, 'none');
		// Changed recently although created long ago: updatedAt decides.
		const touched = n8n.add(tenantName(registry, n8n.scope), 400 * DAY);
		touched.updatedAt = new Date(Date.now() - DAY).toISOString();
		const active = n8n.add(tenantName(registry, n8n.scope), 400 * DAY);
		const retiring = n8n.add(tenantName(registry, n8n.scope), 400 * DAY);
		const replaced = n8n.add(active.name, 400 * DAY);
		const notOurs = [
			n8n.add('My API key', 400 * DAY),
			n8n.add('tenant-credential of someone', 400 * DAY),
			n8n.add(`Tenant-cred ${'x'} y`, 400 * DAY),
			n8n.add(` ${TENANT_CREDENTIAL_PREFIX}leading space`, 400 * DAY),
			n8n.add('tenant-swap tmp t exec 1 abc', 400 * DAY),
			// Names from before registry tags, and another registry's (another lock store or Base URL).
			n8n.add(`${TENANT_CREDENTIAL_PREFIX}acme Q2hhbmdlZEJ5VGVzdHMx`, 400 * DAY),
			n8n.add(`${registryNamePrefix(registryTag('redis:elsewhere', n8n.scope))}acme Q2hhbmdlZEJ5VGVzdHMx`, 400 * DAY),
			n8n.add(`${registryNamePrefix(registryTag(registry.storeIdentity, 'https://other-n8n.example/api/v1'))}acme Q2hhbmdlZEJ5VGVzdHMx`, 400 * DAY),
			n8n.add(tenantCredentialDisplayName(`${registryNamePrefix(registryTag('redis:elsewhere', n8n.scope))}acme Q2hhbmdlZEJ5VGVzdHMx`), 400 * DAY),
		];
		// Known in another scope (another n8n instance) only: unknown here.
		const otherScopeOnly = n8n.add(tenantName(registry, n8n.scope), 40 * DAY);
		await registry.registerTenantCredential(recordFor(uniqueKey('other-scope'), otherScopeOnly), 0);

		await registry.registerTenantCredential(recordFor(n8n.scope, replaced), 0);
		await registry.registerTenantCredential(recordFor(n8n.scope, active), 0);
		await registry.registerTenantCredential(recordFor(n8n.scope, retiring, { retentionMs: 0 }), 0);
		await retire(registry, n8n.scope, retiring.id);
		const states = Object.fromEntries((await registry.listTenantCredentials(n8n.scope, 10)).map((record) => [record.credentialId, record.state]));
		expect(states).toEqual({ [active.id]: 'active', [retiring.id]: 'retiring', [replaced.id]: 'retiring' });

		const context = contextFor(n8n);
		const pass = sweepOrphansInBackground(context, DAY);
		expect(pass).toBeInstanceOf(Promise);
		await pass;

		expect(n8n.deletes().sort()).toEqual([oldUnknown.id, oldUnknownCreatedOnly.id, otherScopeOnly.id].sort());
		expect(n8n.ids().sort()).toEqual(
			[recentUnknown, undated, touched, active, retiring, replaced, ...notOurs].map((credential) => credential.id).sort(),
		);
		// The registry is only read.
		expect(Object.fromEntries((await registry.listTenantCredentials(n8n.scope, 10)).map((record) => [record.credentialId, record.state]))).toEqual(states);
		expect(context.log.warnings()).toEqual([]);
		expect(context.log.lines).toEqual([
			{
				level: 'debug',
				message: 'Run With Tenant Credential looked for orphaned tenant credentials',
				meta: { pages: 1, listed: 18, tenantCredentials: 9, otherTenantCredentials: 4, known: 3, unknownRecent: 3, deleted: 3, gone: 0, referenced: 0, failed: 0, notTried: 0, reachedEnd: true },
			},
		]);
	});

	it('keeps unknown credentials younger than a retention longer than 30 days', async () => {
		const n8n = new FakeN8n();
		const fortyDays = n8n.add(tenantName(registry, n8n.scope), 40 * DAY);
		const seventyDays = n8n.add(tenantName(registry, n8n.scope), 70 * DAY);
		await sweepOrphansInBackground(contextFor(n8n), 60 * DAY);
		expect(n8n.deletes()).toEqual([seventyDays.id]);
		expect(n8n.ids()).toEqual([fortyDays.id]);
	});

	it('follows the pages of the list (one registry call per page), and goes on where the last pass stopped when it hit its page limit', async () => {
		const n8n = new FakeN8n();
		const orphans: string[] = [];
		for (let i = 0; i < 45; i++) {
			if (i % 10 === 3) orphans.push(n8n.add(tenantName(registry, n8n.scope), 40 * DAY).id);
			else if (i % 2 === 0) n8n.add(`someone else's ${i}`, 40 * DAY);
			else await registry.registerTenantCredential(recordFor(n8n.scope, n8n.add(tenantName(registry, n8n.scope), 40 * DAY)), 0);
		}
		expect(orphans).toHaveLength(5);
		configureOrphanCleanup({ pageSize: 10, maxPages: 2, intervalMs: 0 });
		const known = jest.spyOn(registry, 'knownTenantCredentialIds');
		const cursors = () => n8n.lists().map((request) => (request.qs?.cursor === undefined ? 0 : JSON.parse(Buffer.from(String(request.qs.cursor), 'base64').toString()).offset));
		const context = contextFor(n8n);
		try {
			await sweepOrphansInBackground(context, DAY);
			// Offsets 0 and 10, then the page limit; the orphans found there were deleted after the last page.
			expect(cursors()).toEqual([0, 10]);
			expect(n8n.lists().every((request) => request.qs?.limit === 10)).toBe(true);
			expect(known).toHaveBeenCalledTimes(2);
			expect(n8n.deletes()).toEqual(orphans.slice(0, 2));
			// The next pass goes on at offset 20 (of a list that got 2 shorter), the one after reaches the end.
			await sweepOrphansInBackground(context, DAY);
			expect(cursors()).toEqual([0, 10, 20, 30]);
			expect(n8n.deletes()).toEqual(orphans.slice(0, 4));
			await sweepOrphansInBackground(context, DAY);
			expect(cursors()).toEqual([0, 10, 20, 30, 40]);
			// The deletions moved the last orphan in front of offset 40 (n8n's cursors are offsets): the
			// next round of the list, which starts over, finds it.
			expect(n8n.deletes()).toEqual(orphans.slice(0, 4));
			await sweepOrphansInBackground(context, DAY);
			await sweepOrphansInBackground(context, DAY);
			expect(cursors()).toEqual([0, 10, 20, 30, 40, 0, 10, 20, 30]);
			// One registry call per page, except the last page of the first round (one foreign credential: nothing to ask).
			expect(known).toHaveBeenCalledTimes(8);
		} finally {
			known.mockRestore();
		}
		expect(n8n.deletes()).toEqual(orphans);
		expect(n8n.ids().filter((id) => orphans.includes(id))).toEqual([]);
		const debugs = context.log.lines.filter((line) => line.level === 'debug').map((line) => line.meta);
		expect(debugs.map((meta) => meta?.reachedEnd)).toEqual([false, false, true, false, false]);
		expect(context.log.warnings()).toEqual([]);
	});

	it('reads every page of the default 250 to the end of the list', async () => {
		const n8n = new FakeN8n();
		const orphans: string[] = [];
		for (let i = 0; i < 600; i++) {
			if (i === 5 || i === 260 || i === 599) orphans.push(n8n.add(tenantName(registry, n8n.scope), 40 * DAY).id);
			else n8n.add(`other ${i}`, 40 * DAY);
		}
		const context = contextFor(n8n);
		await sweepOrphansInBackground(context, DAY);
		expect(n8n.lists().map((request) => request.qs?.limit)).toEqual([250, 250, 250]);
		expect(n8n.deletes()).toEqual(orphans);
		expect(context.log.lines[0].meta).toMatchObject({ pages: 3, listed: 600, tenantCredentials: 3, deleted: 3, reachedEnd: true });
	});

	it('deletes at most maxDeletes a pass; the next pass takes the rest', async () => {
		const n8n = new FakeN8n();
		const orphans = Array.from({ length: 7 }, () => n8n.add(tenantName(registry, n8n.scope), 40 * DAY).id);
		configureOrphanCleanup({ maxDeletes: 3, intervalMs: 0 });
		const context = contextFor(n8n);
		await sweepOrphansInBackground(context, DAY);
		expect(n8n.deletes()).toEqual(orphans.slice(0, 3));
		await sweepOrphansInBackground(context, DAY);
		await sweepOrphansInBackground(context, DAY);
		expect(n8n.deletes()).toEqual(orphans);
		expect(n8n.ids()).toEqual([]);
	});

	it('runs at most once per interval per registry and n8n instance, and never twice at once', async () => {
		const n8n = new FakeN8n();
		n8n.add(tenantName(registry, n8n.scope), 40 * DAY);
		const context = contextFor(n8n);
		const first = sweepOrphansInBackground(context, DAY);
		// While it runs, and after it ended within the hour: not again.
		expect(sweepOrphansInBackground(context, DAY)).toBeUndefined();
		await first;
		expect(sweepOrphansInBackground(context, DAY)).toBeUndefined();
		n8n.add(tenantName(registry, n8n.scope), 40 * DAY);
		expect(sweepOrphansInBackground(contextFor(n8n), DAY)).toBeUndefined();
		expect(n8n.lists()).toHaveLength(1);
		expect(n8n.deletes()).toHaveLength(1);

		// Another n8n instance (scope) has its own interval.
		const elsewhere = new FakeN8n();
		await sweepOrphansInBackground(contextFor(elsewhere), DAY);
		expect(elsewhere.lists()).toHaveLength(1);

		// A shorter interval (tests only) lets the next pass run.
		configureOrphanCleanup({ intervalMs: 0 });
		await sweepOrphansInBackground(context, DAY);
		expect(n8n.lists()).toHaveLength(2);
		expect(n8n.ids()).toEqual([]);
	});

	it('a list failure is one warning, never a rejection; nothing is deleted', async () => {
		const n8n = new FakeN8n();
		n8n.add(tenantName(registry, n8n.scope), 40 * DAY);
		n8n.failList = 500;
		const context = contextFor(n8n);
		await expect(sweepOrphansInBackground(context, DAY)).resolves.toBeUndefined();
		expect(n8n.deletes()).toEqual([]);
		expect(context.log.lines).toEqual([
			{
				level: 'warn',
				message: 'Run With Tenant Credential could not look for orphaned tenant credentials',
				meta: { error: expect.stringMatching(/n8n API answered 500 during list credentials/) },
			},
		]);
	});

	it('after a pass whose first page failed (a cursor n8n no longer takes), the next one starts over', async () => {
		const n8n = new FakeN8n();
		for (let i = 0; i < 25; i++) n8n.add(`other ${i}`, 40 * DAY);
		configureOrphanCleanup({ pageSize: 10, maxPages: 1, intervalMs: 0 });
		const offsets = () => n8n.lists().map((request) => (request.qs?.cursor === undefined ? 0 : JSON.parse(Buffer.from(String(request.qs.cursor), 'base64').toString()).offset));
		const context = contextFor(n8n);
		await sweepOrphansInBackground(context, DAY);
		n8n.failList = 400;
		await sweepOrphansInBackground(context, DAY);
		n8n.failList = undefined;
		await sweepOrphansInBackground(context, DAY);
		expect(offsets()).toEqual([0, 10, 0]);
		expect(context.log.warnings()).toHaveLength(1);
	});

	it('a registry failure is one warning and deletes nothing (an unanswered question never reads as "unknown")', async () => {
		const n8n = new FakeN8n();
		n8n.add(tenantName(registry, n8n.scope), 40 * DAY);
		const failing = jest.spyOn(registry, 'knownTenantCredentialIds').mockRejectedValue(new Error('lock store unreachable'));
		const context = contextFor(n8n);
		try {
			await expect(sweepOrphansInBackground(context, DAY)).resolves.toBeUndefined();
		} finally {
			failing.mockRestore();
		}
		expect(n8n.deletes()).toEqual([]);
		expect(context.log.lines).toEqual([
			{ level: 'warn', message: 'Run With Tenant Credential could not look for orphaned tenant credentials', meta: { error: 'lock store unreachable' } },
		]);
	});

	it('a refused delete (4xx) skips that credential; a failing n8n (5xx) stops the deletions; a 403 is one warning per process, a 5xx one each pass', async () => {
		const n8n = new FakeN8n();
		const orphans = Array.from({ length: 4 }, () => n8n.add(tenantName(registry, n8n.scope), 40 * DAY).id);
		n8n.failDelete.set(orphans[1], 403);
		configureOrphanCleanup({ intervalMs: 0 });
		const context = contextFor(n8n);
		await expect(sweepOrphansInBackground(context, DAY)).resolves.toBeUndefined();
		expect(n8n.ids()).toEqual([orphans[1]]);
		expect(context.log.warnings()).toEqual([
			{
				level: 'warn',
				message: 'Run With Tenant Credential could not delete orphaned tenant credentials',
				meta: { error: expect.stringMatching(/403/), advice: expect.stringMatching(/API key of the owner, an admin, or an admin of that project/) },
			},
		]);

		const more = Array.from({ length: 3 }, () => n8n.add(tenantName(registry, n8n.scope), 40 * DAY).id);
		n8n.failDelete.set(orphans[1], 500);
		const second = contextFor(n8n);
		await expect(sweepOrphansInBackground(second, DAY)).resolves.toBeUndefined();
		// The first delete (orphans[1]) failed with 500: the others wait for the next pass.
		expect(n8n.deletes().slice(-1)).toEqual([orphans[1]]);
		expect(n8n.ids()).toEqual([orphans[1], ...more]);
		expect(second.log.warnings()).toEqual([
			{ level: 'warn', message: 'Run With Tenant Credential could not delete orphaned tenant credentials', meta: { failed: 1, deleted: 0, error: expect.stringMatching(/500/) } },
		]);
	});

	it('logs counts only, never names, IDs or tenants', async () => {
		const n8n = new FakeN8n();
		const orphan = n8n.add(`${registryNamePrefix(registryTag(registry.storeIdentity, n8n.scope))}secret-tenant-acme abc`, 40 * DAY);
		n8n.failDelete.set(orphan.id, 403);
		const kept = n8n.add(`${registryNamePrefix(registryTag(registry.storeIdentity, n8n.scope))}other-tenant-globex def`, DAY);
		const context = contextFor(n8n);
		await sweepOrphansInBackground(context, DAY);
		const logged = JSON.stringify(context.log.lines);
		for (const text of [orphan.id, kept.id, 'acme', 'globex', TENANT_CREDENTIAL_PREFIX.trim()]) expect(logged).not.toContain(text);
		expect(context.log.lines.map((line) => line.level)).toEqual(['warn', 'debug']);
	});
});

describe('registries sharing one n8n: each orphan pass deletes only its own tag', () => {
	const fixture = new PostgresLockFixture();
	let redis: EngineUnderTest;
	afterAll(async () => {
		await fixture.close();
		await redis?.close();
	});

	it('two PostgreSQL lock tables and a Redis registry: each pass deletes its own orphans only; old names without a tag stay', async () => {
		const schema = uniqueName('orphans_two');
		redis = await redisFactory('orphans_two').create();
		const registries = {
			first: tenantCredentialRegistryFor(fixture.engine({ schema, table: 'locks_a' })),
			second: tenantCredentialRegistryFor(fixture.engine({ schema, table: 'locks_b' })),
			redis: tenantCredentialRegistryFor(redis.engine),
		};
		const n8n = new FakeN8n();
		const made: Record<string, { known: string; orphan: string }> = {};
		for (const [label, registry] of Object.entries(registries)) {
			const known = n8n.add(tenantName(registry, n8n.scope), 400 * DAY);
			await registry.registerTenantCredential(recordFor(n8n.scope, known), 0);
			made[label] = { known: known.id, orphan: n8n.add(tenantName(registry, n8n.scope), 400 * DAY).id };
		}
		const oldFormat = n8n.add(`${TENANT_CREDENTIAL_PREFIX}acme Q2hhbmdlZEJ5VGVzdHMx`, 400 * DAY).id;
		expect(new Set(Object.values(registries).map((registry) => registryTag(registry.storeIdentity, n8n.scope))).size).toBe(3);
		// The others' credentials are unknown to each registry, and old: only the tag keeps them.
		expect(await registries.first.knownTenantCredentialIds(n8n.scope, [made.second.known, made.redis.known])).toEqual(new Set());

		configureOrphanCleanup({ intervalMs: 0 });
		const context = (registry: TenantCredentialRegistry): SweepContext => ({ registry, api: new N8nApiClient(n8n, NO_RETRY), scope: n8n.scope, log: logger() });
		await sweepOrphansInBackground(context(registries.first), DAY);
		expect(n8n.deletes()).toEqual([made.first.orphan]);
		await sweepOrphansInBackground(context(registries.redis), DAY);
		expect(n8n.deletes()).toEqual([made.first.orphan, made.redis.orphan]);
		await sweepOrphansInBackground(context(registries.second), DAY);
		expect(n8n.deletes()).toEqual([made.first.orphan, made.redis.orphan, made.second.orphan]);
		expect(n8n.ids().sort()).toEqual([made.first.known, made.second.known, made.redis.known, oldFormat].sort());

		// Control: a pass that took another registry's tag for its own would delete that registry's live credentials.
		const confused = Object.assign(Object.create(registries.first) as TenantCredentialRegistry, { storeIdentity: registries.second.storeIdentity });
		await sweepOrphansInBackground(context(confused), DAY);
		expect(n8n.deletes().slice(3)).toEqual([made.second.known]);
	});
});
