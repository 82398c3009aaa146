/**
 * The connect store (issue 19) on PostgreSQL, Redis and memory, each seen from two "processes"
 * (subject.engine and subject.other: own pools / clients on the same table / prefix): round trips,
 * the refusal reasons, expiry and clean-up, what is stored (hashes, never tokens; no verifier after
 * use), connections, and the single-use claim under real concurrency.
 *
 * The control: the same concurrent burst against a read-then-delete redemption (ReadThenDelete below,
 * deliberately not atomic, on the same backend) gets more than one ok: the burst would catch a
 * store that lets a link or state be used twice.
 */
import type { PostgresLockEngine } from '../../nodes/shared/lock/postgres';
import type { RedisLockEngine } from '../../nodes/shared/lock/RedisLockEngine';
import type { LockStore } from '../../nodes/shared/lock/types';
import { newBrowserKey } from '../../nodes/shared/tenantOAuth/browserKey';
import { connectStorageOf, connectStoreFor, TenantConnectStore } from '../../nodes/shared/tenantOAuth/connectStore';
import { MemoryConnectStorage } from '../../nodes/shared/tenantOAuth/memoryConnectStore';
import { newPkcePair } from '../../nodes/shared/tenantOAuth/pkce';
import { POSTGRES_CLEANUP_BATCH } from '../../nodes/shared/tenantOAuth/postgresConnectStore';
import { newToken, tokenHash } from '../../nodes/shared/tenantOAuth/tokens';
import type { ConnectStorage, ConnectStore, PendingAuthorization, TicketKind, TicketRedemption } from '../../nodes/shared/tenantOAuth/types';
import { memoryFactory, pause, postgresFactory, redisFactory, sleep, uniqueKey, type EngineFactory, type EngineUnderTest } from '../helpers/lockTesting';

const TTL_MS = 300;
/** Past a 300 ms TTL with room for a slow machine, well inside the default grace (at least a minute). */
const PAST_TTL_MS = 450;
const BURST = 20;
const ROUNDS = 5;

const factories: Array<[string, EngineFactory]> = [
	['postgres', postgresFactory('ocs')],
	['redis', redisFactory('ocs')],
	['memory', memoryFactory],
];

function pgTables(engine: LockStore) {
	const access = (engine as PostgresLockEngine).storeAccess();
	const name = (suffix: string) => `"${access.schema}"."${access.derivedName}_${suffix}"`;
	return { access, tickets: name('connect_tickets'), connections: name('tenant_connections') };
}

/** Every key and value under the Redis prefix, as text. */
async function redisDump(engine: LockStore): Promise<string[]> {
	const access = (engine as RedisLockEngine).storeAccess();
	const found = (await access.runScript(
		'test dump',
		'testConnectDump',
		`local out = {}
		 for _, key in ipairs(redis.call('KEYS', ARGV[1] .. 'oc:*')) do
		   table.insert(out, key)
		   table.insert(out, redis.call('GET', key))
		 end
		 return out`,
		[],
		[access.prefix],
	)) as string[];
	return found.map(String);
}

/** What the backend holds (tickets and connections), as text: for "never stored" checks. */
async function storedText(backend: string, engine: LockStore, memory?: MemoryConnectStorage): Promise<string> {
	if (backend === 'postgres') {
		const { access, tickets, connections } = pgTables(engine);
		const rows = await access.query('test dump', `SELECT row_to_json(t)::text AS row FROM ${tickets} t UNION ALL SELECT row_to_json(c)::text FROM ${connections} c`, []);
		return JSON.stringify(rows);
	}
	if (backend === 'redis') return JSON.stringify(await redisDump(engine));
	const inside = memory as unknown as { tickets: Map<string, unknown>; connections: Map<string, unknown> };
	return JSON.stringify([[...inside.tickets], [...inside.connections]]);
}

/**
 * The bug the burst must catch: read the ticket, then (in another step) mark it used. Issue is the
 * real backend's. PostgreSQL: a SELECT, then an UPDATE; Redis: a GET, then a DEL and SET; memory:
 * a read, a turn of the event loop, then the write.
 */
class ReadThenDelete implements ConnectStorage {
	constructor(
		private readonly real: ConnectStorage,
		private readonly backend: string,
		private readonly engine: LockStore,
	) {}

	issueTicket(kind: TicketKind, hash: string, payload: string, ttlMs: number, graceMs: number): Promise<Date> {
		return this.real.issueTicket(kind, hash, payload, ttlMs, graceMs);
	}

	async redeemTicket(kind: TicketKind, hash: string): Promise<TicketRedemption> {
		if (this.backend === 'postgres') {
			const { access, tickets } = pgTables(this.engine);
			const rows = await access.query<{ payload: string | null }>(
				'test read',
				`SELECT payload FROM ${tickets} WHERE token_hash = $1 AND kind = $2 AND used_at IS NULL AND expires_at > clock_timestamp()`,
				[hash, kind],
			);
			const payload = rows[0]?.payload;
			if (typeof payload !== 'string') return { ok: false, reason: 'used' };
			await access.query('test delete', `UPDATE ${tickets} SET used_at = clock_timestamp(), payload = NULL WHERE token_hash = $1`, [hash]);
			return { ok: true, payload };
		}
		if (this.backend === 'redis') {
			const access = (this.engine as RedisLockEngine).storeAccess();
			const key = `${access.prefix}oc:${kind}:${hash}`;
			const payload = await access.runScript('test read', 'testConnectRead', `return redis.call('GET', KEYS[1])`, [key], []);
			if (typeof payload !== 'string') return { ok: false, reason: 'used' };
			await access.runScript('test delete', 'testConnectDelete', `redis.call('DEL', KEYS[1]) return 1`, [key], []);
			return { ok: true, payload };
		}
		const tickets = (this.real as unknown as { tickets: Map<string, { payload?: string }> }).tickets;
		const payload = tickets.get(hash)?.payload;
		if (payload === undefined) return { ok: false, reason: 'used' };
		await pause(1);
		tickets.get(hash)!.payload = undefined;
		return { ok: true, payload };
	}

	readConnection = (tenantId: string, appId: string) => this.real.readConnection(tenantId, appId);
	writeConnection = (connection: Parameters<ConnectStorage['writeConnection']>[0]) => this.real.writeConnection(connection);
	deleteConnection = (tenantId: string, appId: string) => this.real.deleteConnection(tenantId, appId);
}

function pendingFor(tenantId: string, appId = 'app-1'): PendingAuthorization {
	return { tenantId, appId, codeVerifier: newPkcePair().verifier, browserKeyHash: newBrowserKey().hash };
}

/** BURST concurrent redemptions of one token, alternating between the two processes' stores: how many got ok. */
async function burst(kind: 'link' | 'auth', stores: [ConnectStore, ConnectStore], token: string): Promise<{ ok: number; reasons: string[] }> {
	const results = await Promise.all(
		Array.from({ length: BURST }, async (_, i) => {
			const store = stores[i % 2];
			return kind === 'link' ? await store.useLink(token) : await store.completeAuthorization(token);
		}),
	);
	return { ok: results.filter((result) => result.ok).length, reasons: results.flatMap((result) => (result.ok ? [] : [result.reason])) };
}

async function issue(kind: 'link' | 'auth', store: ConnectStore, tenantId: string): Promise<string> {
	return kind === 'link' ? (await store.createLink({ tenantId, appId: 'app-1' }, 60_000)).token : (await store.startAuthorization(pendingFor(tenantId), 60_000)).state;
}

describe.each(factories)('connect store on %s', (backend, factory) => {
	let subject: EngineUnderTest;
	let store: ConnectStore;
	let other: ConnectStore;

	beforeAll(async () => {
		subject = await factory.create();
		store = connectStoreFor(subject.engine);
		other = connectStoreFor(subject.other);
	});

	afterAll(async () => {
		if (backend === 'postgres' && subject) {
			const { access, tickets, connections } = pgTables(subject.engine);
			await access.query('test cleanup', `DROP TABLE IF EXISTS ${tickets}, ${connections}`, []);
		}
		await subject?.close();
	});

	it('is one store per lock engine', () => {
		expect(connectStoreFor(subject.engine)).toBe(store);
	});

	it('creates a link that another process uses once: then used; a link token is unknown as a state', async () => {
		const tenantId = uniqueKey('tenant');
		const { token, expiresAt } = await store.createLink({ tenantId, appId: 'app-1' }, 60_000);
		expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
		expect(expiresAt).toBeInstanceOf(Date);
		expect(Number.isFinite(expiresAt.getTime())).toBe(true);
		expect(await other.completeAuthorization(token)).toEqual({ ok: false, reason: 'unknown' });
		expect(await other.useLink(token)).toEqual({ ok: true, target: { tenantId, appId: 'app-1' } });
		expect(await store.useLink(token)).toEqual({ ok: false, reason: 'used' });
		expect(await other.useLink(token)).toEqual({ ok: false, reason: 'used' });
	});

	it('starts an authorization that another process completes once, with everything it was started with; a state is unknown as a link', async () => {
		const pending = pendingFor(uniqueKey('tenant'), 'app-2');
		const { state, expiresAt } = await store.startAuthorization(pending, 60_000);
		expect(state).toMatch(/^[A-Za-z0-9_-]{43}$/);
		expect(Number.isFinite(expiresAt.getTime())).toBe(true);
		expect(await other.useLink(state)).toEqual({ ok: false, reason: 'unknown' });
		expect(await other.completeAuthorization(state)).toEqual({ ok: true, pending });
		expect(await store.completeAuthorization(state)).toEqual({ ok: false, reason: 'used' });
	});

	it('answers unknown to tokens never issued and to anything not shaped like a token', async () => {
		for (const token of [newToken(), undefined, null, '', 'short', `${newToken()}x`, 'x'.repeat(100_000), { token: newToken() }, [newToken()], 42]) {
			expect(await store.useLink(token)).toEqual({ ok: false, reason: 'unknown' });
			expect(await store.completeAuthorization(token)).toEqual({ ok: false, reason: 'unknown' });
		}
	});

	it('answers expired after waiting past the TTL, used or not', async () => {
		const tenantId = uniqueKey('tenant');
		const link = await store.createLink({ tenantId, appId: 'app-1' }, TTL_MS);
		const usedLink = await store.createLink({ tenantId, appId: 'app-1' }, TTL_MS);
		const auth = await store.startAuthorization(pendingFor(tenantId), TTL_MS);
		const usedAuth = await store.startAuthorization(pendingFor(tenantId), TTL_MS);
		expect((await other.useLink(usedLink.token)).ok).toBe(true);
		expect((await other.completeAuthorization(usedAuth.state)).ok).toBe(true);
		await sleep(PAST_TTL_MS);
		expect(await other.useLink(link.token)).toEqual({ ok: false, reason: 'expired' });
		expect(await store.useLink(usedLink.token)).toEqual({ ok: false, reason: 'expired' });
		expect(await other.completeAuthorization(auth.state)).toEqual({ ok: false, reason: 'expired' });
		expect(await store.completeAuthorization(usedAuth.state)).toEqual({ ok: false, reason: 'expired' });
		// Still expired on asking again: an expired answer does not consume anything.
		expect(await store.useLink(link.token)).toEqual({ ok: false, reason: 'expired' });
	});

	it('forgets a ticket after its grace (unknown then), and keeps no token, only its hash, and no verifier once used or expired', async () => {
		const storage = connectStorageOf(subject.engine);
		const shortGrace = new TenantConnectStore(storage, { graceMs: () => TTL_MS });
		const tenantTag = uniqueKey('tenant');
		const tenantId = `${tenantTag} '"; DROP TABLE x; --`;
		const link = await shortGrace.createLink({ tenantId, appId: 'app-1' }, TTL_MS);
		const pending = pendingFor(tenantId);
		const auth = await shortGrace.startAuthorization(pending, TTL_MS);
		const usedPending = pendingFor(tenantId);
		const usedAuth = await shortGrace.startAuthorization(usedPending, 60_000);
		const memory = storage instanceof MemoryConnectStorage ? storage : undefined;

		let text = await storedText(backend, subject.engine, memory);
		for (const secret of [link.token, auth.state, usedAuth.state]) {
			expect(text).not.toContain(secret);
			expect(text).toContain(tokenHash(secret));
		}
		expect(text).toContain(usedPending.codeVerifier);
		if (backend === 'redis') {
			// Tenant IDs are values, never part of a key name.
			const keys = (await redisDump(subject.engine)).filter((_, i) => i % 2 === 0);
			expect(keys.length).toBeGreaterThan(0);
			expect(keys.filter((key) => key.includes(tenantTag))).toEqual([]);
		}

		expect((await shortGrace.completeAuthorization(usedAuth.state)).ok).toBe(true);
		text = await storedText(backend, subject.engine, memory);
		expect(text).not.toContain(usedPending.codeVerifier);

		await sleep(2 * TTL_MS + PAST_TTL_MS);
		expect(await shortGrace.useLink(link.token)).toEqual({ ok: false, reason: 'unknown' });
		expect(await shortGrace.completeAuthorization(auth.state)).toEqual({ ok: false, reason: 'unknown' });
		// PostgreSQL cleans up on the next issue; Redis's keys ran out; memory dropped the verifier on asking.
		await shortGrace.createLink({ tenantId, appId: 'app-1' }, 60_000);
		text = await storedText(backend, subject.engine, memory);
		expect(text).not.toContain(pending.codeVerifier);
		expect(text).not.toContain(tokenHash(link.token));
		expect(text).not.toContain(tokenHash(auth.state));
	});

	it('keeps a connection until forgotten: upserts, reads from the other process, forget returns what it removed', async () => {
		const tenantId = uniqueKey('tenant');
		expect(await store.connectionOf(tenantId, 'app-1')).toBeUndefined();
		const connection = { tenantId, appId: 'app-1', credentialId: 'cred-1', credentialType: 'oAuth2Api', connectedAt: new Date('2026-12-03T10:00:00.123Z') };
		await store.saveConnection(connection);
		expect(await other.connectionOf(tenantId, 'app-1')).toEqual(connection);
		expect(await other.connectionOf(tenantId, 'app-2')).toBeUndefined();
		const replaced = { ...connection, credentialId: 'cred-2', credentialType: 'googleOAuth2Api', connectedAt: new Date('2026-12-03T11:00:00.456Z') };
		await other.saveConnection(replaced);
		expect(await store.connectionOf(tenantId, 'app-1')).toEqual(replaced);
		expect(await store.forgetConnection(tenantId, 'app-1')).toEqual(replaced);
		expect(await other.forgetConnection(tenantId, 'app-1')).toBeUndefined();
		expect(await other.connectionOf(tenantId, 'app-1')).toBeUndefined();
	});

	it('keeps hostile tenant and app IDs as data: each its own connection, none mistaken for another', async () => {
		const base = uniqueKey('t');
		const pairs: Array<[string, string]> = [
			[`${base}a`, 'b:c'],
			[`${base}a:b`, 'c'],
			[`${base}'; DROP TABLE locks; --`, 'app'],
			[`${base}*`, '*'],
			[`${base}{x}\n\té🙂\u202e`, 'app'],
			[`${base}${'z'.repeat(1000)}`, 'a'.repeat(1024)],
		];
		for (const [i, [tenantId, appId]] of pairs.entries()) {
			await store.saveConnection({ tenantId, appId, credentialId: `cred-${i}`, credentialType: 'oAuth2Api', connectedAt: new Date(1_000 + i) });
		}
		for (const [i, [tenantId, appId]] of pairs.entries()) {
			expect(await other.connectionOf(tenantId, appId)).toEqual({ tenantId, appId, credentialId: `cred-${i}`, credentialType: 'oAuth2Api', connectedAt: new Date(1_000 + i) });
		}
		for (const [tenantId, appId] of pairs) expect(await other.forgetConnection(tenantId, appId)).toBeDefined();
		// A link carries them back unchanged too.
		const [tenantId, appId] = pairs[4];
		const link = await store.createLink({ tenantId, appId }, 60_000);
		expect(await other.useLink(link.token)).toEqual({ ok: true, target: { tenantId, appId } });
	});

	it('forgets a connection once under concurrent forgets from two processes', async () => {
		for (let round = 0; round < ROUNDS; round++) {
			const tenantId = uniqueKey('tenant');
			await store.saveConnection({ tenantId, appId: 'app-1', credentialId: 'cred', credentialType: 'oAuth2Api', connectedAt: new Date() });
			const results = await Promise.all(Array.from({ length: BURST }, async (_, i) => await [store, other][i % 2].forgetConnection(tenantId, 'app-1')));
			expect(results.filter((result) => result !== undefined)).toHaveLength(1);
		}
	});

	it('refuses bad input loudly (programming errors), storing nothing', async () => {
		const target = { tenantId: 't', appId: 'a' };
		await expect(store.createLink({ tenantId: '', appId: 'a' }, 1000)).rejects.toThrow(/tenantId/);
		await expect(store.createLink({ tenantId: 'x'.repeat(1025), appId: 'a' }, 1000)).rejects.toThrow(/tenantId/);
		await expect(store.createLink({ tenantId: 'a\u0000b', appId: 'a' }, 1000)).rejects.toThrow(/NUL/);
		await expect(store.saveConnection({ tenantId: 't', appId: 'a\u0000', credentialId: 'c', credentialType: 'oAuth2Api', connectedAt: new Date() })).rejects.toThrow(/NUL/);
		await expect(store.createLink(target, 0)).rejects.toThrow(/TTL/);
		await expect(store.createLink(target, 1.5)).rejects.toThrow(/TTL/);
		await expect(store.createLink(target, 31 * 24 * 3600 * 1000)).rejects.toThrow(/TTL/);
		await expect(store.startAuthorization({ ...pendingFor('t'), codeVerifier: 'short' }, 1000)).rejects.toThrow(/verifier/);
		await expect(store.startAuthorization({ ...pendingFor('t'), browserKeyHash: newToken() }, 1000)).rejects.toThrow(/browser key hash/);
		await expect(store.saveConnection({ ...target, credentialId: 'c', credentialType: 'oAuth2Api', connectedAt: new Date(Number.NaN) })).rejects.toThrow(/connectedAt/);
	});

	describe.each(['link', 'auth'] as const)(`single use of a %s ticket under ${BURST} concurrent calls from two processes`, (kind) => {
		it('gives exactly one ok, the others used', async () => {
			for (let round = 0; round < ROUNDS; round++) {
				const token = await issue(kind, store, uniqueKey('tenant'));
				const { ok, reasons } = await burst(kind, [store, other], token);
				expect(ok).toBe(1);
				expect(reasons).toEqual(Array(BURST - 1).fill('used'));
			}
		});

		it('control: a read-then-delete redemption on the same backend is caught using it more than once', async () => {
			const control = (engine: LockStore) => new TenantConnectStore(new ReadThenDelete(connectStorageOf(engine), backend, engine));
			// Memory has one process: both sides share one storage (as connectStoreFor does).
			const one = control(subject.engine);
			const stores: [ConnectStore, ConnectStore] = backend === 'memory' ? [one, one] : [one, control(subject.other)];
			let mostOk = 0;
			for (let round = 0; round < ROUNDS && mostOk < 2; round++) {
				const token = await issue(kind, stores[0], uniqueKey('tenant'));
				mostOk = Math.max(mostOk, (await burst(kind, stores, token)).ok);
			}
			expect(mostOk).toBeGreaterThan(1);
		});
	});

	if (backend === 'postgres') {
		it('stays bounded: each issue deletes a batch of forgotten tickets and drops the payload of expired ones', async () => {
			const { access, tickets } = pgTables(subject.engine);
			// Rows as issues long ago left them (inserted directly: issuing them would clean them up on the way).
			const forgotten = Array.from({ length: POSTGRES_CLEANUP_BATCH + 50 }, () => tokenHash(newToken()));
			const expired = Array.from({ length: 20 }, () => tokenHash(newToken()));
			await access.query(
				'test insert',
				`INSERT INTO ${tickets} (token_hash, kind, payload, expires_at, forget_at)
				 SELECT h, 'auth', '{"codeVerifier":"old"}', clock_timestamp() - interval '2 hours', clock_timestamp() - interval '1 hour' FROM unnest($1::text[]) h
				 UNION ALL
				 SELECT h, 'auth', '{"codeVerifier":"old"}', clock_timestamp() - interval '1 second', clock_timestamp() + interval '1 hour' FROM unnest($2::text[]) h`,
				[forgotten, expired],
			);
			const count = async (hashes: string[], extra = '') =>
				Number((await access.query<{ n: string }>('test count', `SELECT count(*) AS n FROM ${tickets} WHERE token_hash = ANY($1::text[]) ${extra}`, [hashes]))[0].n);
			expect(await count(forgotten)).toBe(POSTGRES_CLEANUP_BATCH + 50);
			await store.createLink({ tenantId: 't', appId: 'a' }, 60_000);
			expect(await count(forgotten)).toBeLessThanOrEqual(50);
			await other.startAuthorization(pendingFor('t'), 60_000);
			expect(await count(forgotten)).toBe(0);
			// Expired but still answered "expired": kept, without their payload (the PKCE verifier).
			expect(await count(expired)).toBe(expired.length);
			expect(await count(expired, 'AND payload IS NOT NULL')).toBe(0);
		});
	}
});

describe('memory connect store bounds', () => {
	it('sweeps forgotten tickets when full, and refuses new ones while every slot is live', async () => {
		const storage = new MemoryConnectStorage(Date.now, 5, 2);
		const store = new TenantConnectStore(storage, { graceMs: () => 1 });
		for (let i = 0; i < 5; i++) await store.createLink({ tenantId: `t${i}`, appId: 'a' }, 1);
		await sleep(20);
		const live = [];
		for (let i = 0; i < 5; i++) live.push(await store.createLink({ tenantId: `t${i}`, appId: 'a' }, 60_000));
		expect(storage.ticketCount).toBe(5);
		await expect(store.createLink({ tenantId: 'one more', appId: 'a' }, 60_000)).rejects.toThrow(/holds 5 open links/);
		expect((await store.useLink(live[0].token)).ok).toBe(true);

		const connection = { appId: 'a', credentialId: 'c', credentialType: 'oAuth2Api', connectedAt: new Date() };
		await store.saveConnection({ ...connection, tenantId: 't1' });
		await store.saveConnection({ ...connection, tenantId: 't2' });
		await store.saveConnection({ ...connection, tenantId: 't2', credentialId: 'c2' });
		await expect(store.saveConnection({ ...connection, tenantId: 't3' })).rejects.toThrow(/holds 2 connections/);
		await store.forgetConnection('t1', 'a');
		await store.saveConnection({ ...connection, tenantId: 't3' });
	});
});
