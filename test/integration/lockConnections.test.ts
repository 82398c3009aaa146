/**
 * The lock store's connections (issue 10, items 7, 8, 9 and two small ones):
 * - renewals never wait behind waiters' attempts, even with a tiny pool and the listener killed;
 * - a burst of 300 acquire() calls on one key from one process stays within the connection bound
 *   (min(credential, 10): pool + listener), and every call gets the lock;
 * - a rotated password moves the same engine to a new pool / client and closes the old one;
 * - PostgreSQL audit retention;
 * - an expired-but-untaken lease is reported "lost" on release, on both stores.
 */
import Redis from 'ioredis';
import type { Pool } from 'pg';

import { hashLockKey, PostgresLockEngine } from '../../nodes/shared/lock/postgres';
import { closeSharedPools, LOCK_CONNECTION_LIMIT, type PostgresConnectionSettings } from '../../nodes/shared/lock/postgresPool';
import { closeLockEngines, postgresLockEngine, redisLockEngine } from '../../nodes/shared/lock/registry';
import type { RedisLockEngine } from '../../nodes/shared/lock/RedisLockEngine';
import type { LockEngine, LockLease } from '../../nodes/shared/lock/types';
import { eventually } from '../helpers/faultStores';
import { startOwnRedis, type OwnRedis } from '../helpers/faultServers';
import {
	guard,
	options,
	postgresFactory,
	PostgresLockFixture,
	redisFactory,
	sleep,
	testDatabaseUrl,
	uniqueKey,
	uniqueName,
	untilQueued,
	type EngineUnderTest,
} from '../helpers/lockTesting';

const LONG = 120_000;
/** The application_name of every connection the registry's engines open. */
const APP = 'n8n-tenant-credential-swap';

let fixture: PostgresLockFixture;

beforeAll(() => {
	fixture = new PostgresLockFixture();
});

afterAll(async () => {
	await closeLockEngines();
	await closeSharedPools();
	await fixture.close();
});

function settingsFor(url: string, overrides: Partial<PostgresConnectionSettings> = {}): PostgresConnectionSettings {
	const parsed = new URL(url);
	return {
		host: parsed.hostname,
		port: Number(parsed.port || 5432),
		database: decodeURIComponent(parsed.pathname.slice(1)),
		user: decodeURIComponent(parsed.username),
		password: decodeURIComponent(parsed.password) || undefined,
		ssl: 'disable',
		...overrides,
	};
}

const listenerUp = (engine: LockEngine) => (engine as unknown as { listenerUp: boolean }).listenerUp;

describe('renewals have a lane attempts cannot fill', () => {
	it('pool max 2, 200 waiters on the held key, their attempts held up, the listener killed again and again: every renewal lands, the lease never runs out, and all waiters get the lock after the release', async () => {
		const app = uniqueName('renew_lane');
		const pool = fixture.pool({ max: 2, application_name: app });
		const table = uniqueName('lock_lane');
		const engine = fixture.engine({ table }, pool);
		const ttlMs = 1_200;
		const key = uniqueKey('lane');
		const held = await engine.acquire(key, options('exec-lane-holder', ttlMs, 0));

		const granted: LockLease[] = [];
		let heldUntilRelease = true;
		let grantedWhileHeld = 0;
		const waiters = Array.from({ length: 200 }, async (_, i) => {
			const lease = await engine.acquire(key, options(`exec-lane-waiter-${i}`, LONG, LONG));
			if (heldUntilRelease) grantedWhileHeld += 1;
			granted.push(lease);
			await engine.release(lease);
		});
		await untilQueued(engine, key, 200, 60_000);

		// Kill the listener's backend whenever it is there: waiters fall back to re-checking every
		// 250 ms (about 800 attempts a second on the one connection attempts may use).
		let killing = true;
		let kills = 0;
		const killer = (async () => {
			while (killing) {
				const killed = await fixture.query<{ pid: number }>(
					"SELECT pg_terminate_backend(pid) AS pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()",
					[app],
				);
				kills += killed.length;
				await sleep(100);
			}
		})();

		// Make the attempts slow for a while (a database under load, deterministically): another
		// session locks the waiters' ticket rows, so every attempt (which renews its ticket) waits.
		// A renewal that queued behind attempts would wait longer than the lease.
		const blocker = await fixture.pool({ max: 1 }).connect();
		await blocker.query('BEGIN');
		const ticketRows = await blocker.query(`SELECT 1 FROM "public"."tsl_${hashLockKey(`public.${table}`).slice(0, 20)}_wait" FOR UPDATE`);
		expect(ticketRows.rowCount).toBe(200);

		// Renew as the lease keeper does (every third of the TTL) for several TTLs.
		let renewals = 0;
		const failures: unknown[] = [];
		for (let i = 0; i < 12; i++) {
			// Two TTLs of blocked attempts, then they run again.
			if (i === 6) {
				await blocker.query('ROLLBACK');
				blocker.release();
			}
			await sleep(ttlMs / 3);
			try {
				await engine.extend(held, ttlMs);
				renewals += 1;
			} catch (error) {
				failures.push(error);
			}
		}
		killing = false;
		await killer;

		expect(failures).toEqual([]);
		expect(renewals).toBe(12);
		expect(kills).toBeGreaterThan(0);
		// The lease never ran out: nobody got the key while it was held.
		expect(grantedWhileHeld).toBe(0);
		heldUntilRelease = false;
		expect(await engine.release(held)).toMatchObject({ status: 'released' });
		await guard(Promise.all(waiters), 120_000, '200 waiters after the release');
		expect(granted).toHaveLength(200);
		// The listener comes back by itself once nobody kills it.
		await eventually('the listener is up again', async () => listenerUp(engine));
	});
});

describe('a burst from one process stays within the connection bound', () => {
	it('300 concurrent acquire() calls on one key, credential defaults (Maximum Number of Connections 100): at most 10 connections, 0 failures', async () => {
		await closeLockEngines();
		await closeSharedPools();
		const engine = postgresLockEngine(settingsFor(testDatabaseUrl(), { maxConnections: 100 }), { table: uniqueName('lock_burst') });
		const count = async () =>
			(
				await fixture.query<{ n: number }>(
					'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()',
					[APP],
				)
			)[0].n;
		const transactions = async () =>
			Number(
				(await fixture.query<{ n: string }>('SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()'))[0].n,
			);
		let peak = 0;
		let sampling = true;
		const sampler = (async () => {
			while (sampling) {
				peak = Math.max(peak, await count());
				await sleep(10);
			}
		})();
		const key = uniqueKey('burst');
		const txBefore = await transactions();
		const started = performance.now();
		const results = await guard(
			Promise.allSettled(
				// What a swap does around its acquire: reads at once (not serialised like first attempts).
				Array.from({ length: 300 }, async (_, i) => {
					await engine.readSwapState(`burst-credential-${i % 10}`);
					await engine.holder(key);
					const lease = await engine.acquire(key, options(`exec-burst-${i}`, 30_000, LONG));
					await sleep(2);
					await engine.release(lease);
					await engine.audit([{ action: 'release', outcome: 'released', executionId: `exec-burst-${i}`, lockKey: key }]);
				}),
			),
			180_000,
			'300 acquire calls',
		);
		const seconds = (performance.now() - started) / 1000;
		sampling = false;
		await sampler;
		// Stats reach pg_stat_database within a second or so of each backend's commit.
		await sleep(1_500);
		const txAfter = await transactions();
		process.stderr.write(
			`[burst] 300 acquires on one key: ${seconds.toFixed(1)} s, peak ${peak} lock connections, ` +
				`${txAfter - txBefore} transactions in the database (${Math.round((txAfter - txBefore) / seconds)}/s, sampler and stats included)\n`,
		);
		const failed = results.filter((result) => result.status === 'rejected');
		expect(failed.map((result) => String((result as PromiseRejectedResult).reason))).toEqual([]);
		expect(peak).toBeLessThanOrEqual(LOCK_CONNECTION_LIMIT);
		// The load did use several connections, so the bound is what held it.
		expect(peak).toBeGreaterThanOrEqual(2);
		await closeLockEngines();
		await closeSharedPools();
	});
});

describe('password rotation', () => {
	it('PostgreSQL: the same engine moves to a new pool, the old pool and its sessions close, held locks and waiters carry on', async () => {
		await closeLockEngines();
		await closeSharedPools();
		const role = uniqueName('lock_rot');
		await fixture.query(`CREATE ROLE ${role} LOGIN PASSWORD 'first-secret'`);
		await fixture.query(`CREATE SCHEMA ${role} AUTHORIZATION ${role}`);
		try {
			const base = settingsFor(testDatabaseUrl(), { user: role, maxConnections: 5 });
			const engine = postgresLockEngine({ ...base, password: 'first-secret' }, { schema: role, table: 'locks' });
			const oldPool = (engine as unknown as { pool: Pool }).pool;
			const key = uniqueKey('rotation');
			const held = await engine.acquire(key, options('exec-rot-holder', LONG, 0));
			const waiting = engine.acquire(key, options('exec-rot-waiter', LONG, LONG));
			await untilQueued(engine, key, 1);
			await eventually('the listener is up', async () => listenerUp(engine));

			await fixture.query(`ALTER ROLE ${role} PASSWORD 'second-secret'`);
			const rotatedAt = (await fixture.query<{ now: Date }>('SELECT clock_timestamp() AS now'))[0].now;
			const again = postgresLockEngine({ ...base, password: 'second-secret' }, { schema: role, table: 'locks' });
			expect(again).toBe(engine);
			expect((engine as unknown as { pool: Pool }).pool).not.toBe(oldPool);

			// The held lock still renews and releases through the same engine object; the waiter gets it.
			await engine.extend(held, LONG);
			expect(await engine.release(held)).toMatchObject({ status: 'released' });
			const next = await guard(waiting, 30_000, 'the waiter across the rotation');
			expect(next.owner.executionId).toBe('exec-rot-waiter');
			await engine.release(next);

			await eventually('the old pool is closed', async () => (oldPool as unknown as { ended: boolean }).ended);
			await eventually('the listener is up again', async () => listenerUp(engine));
			// Every session of the role was opened after the rotation, i.e. with the new password.
			await eventually('no session logged in before the rotation is left', async () => {
				const rows = await fixture.query<{ old: number; all: number }>(
					'SELECT count(*) FILTER (WHERE backend_start < $2)::int AS old, count(*)::int AS all FROM pg_stat_activity WHERE usename = $1',
					[role, rotatedAt],
				);
				return rows[0].old === 0 && rows[0].all >= 1;
			});
		} finally {
			await closeLockEngines();
			await closeSharedPools();
			await fixture.query(`DROP SCHEMA ${role} CASCADE`);
			await fixture.query(`DROP ROLE ${role}`);
		}
	});

	describe('Redis', () => {
		let redis: OwnRedis;
		let admin: Redis;

		beforeAll(async () => {
			redis = await startOwnRedis();
			admin = new Redis({ host: redis.host, port: redis.port });
		});

		afterAll(async () => {
			admin?.disconnect();
			await redis?.close();
		});

		it('the same engine moves to a new client, the old client and subscriber close, held locks and waiters carry on', async () => {
			await admin.call('ACL', 'SETUSER', 'locker', 'on', '>first-secret', '~*', '&*', '+@all');
			const settings = { host: redis.host, port: redis.port, user: 'locker' };
			const engine = redisLockEngine({ ...settings, password: 'first-secret' }, 'rot:');
			const oldClient = (engine as unknown as { client: Redis }).client;
			const key = uniqueKey('redis-rotation');
			const held = await engine.acquire(key, options('exec-rrot-holder', LONG, 0));
			const waiting = engine.acquire(key, options('exec-rrot-waiter', LONG, LONG));
			await untilQueued(engine, key, 1);
			const lockerClients = async () => String(await admin.call('CLIENT', 'LIST')).split('\n').filter((line) => / user=locker /.test(line)).length;
			expect(await lockerClients()).toBe(2);

			await admin.call('ACL', 'SETUSER', 'locker', '>second-secret');
			const again = redisLockEngine({ ...settings, password: 'second-secret' }, 'rot:');
			expect(again).toBe(engine);
			await engine.extend(held, LONG);
			expect(await engine.release(held)).toMatchObject({ status: 'released' });
			const next = await guard(waiting, 30_000, 'the Redis waiter across the rotation');
			await engine.release(next);

			await eventually('the old client is closed', async () => oldClient.status === 'end');
			// The new client and its subscriber, nothing more.
			await eventually('two connections of the lock user', async () => (await lockerClients()) === 2);
			await eventually('the subscriber is up again', async () => listenerUp(engine as RedisLockEngine));
			await closeLockEngines();
			await admin.call('ACL', 'DELUSER', 'locker');
		});
	});
});

describe('PostgreSQL audit retention', () => {
	it('deletes audit rows older than 30 days in the background after an audit write, at most once an hour', async () => {
		const name = { table: uniqueName('lock_audit') };
		const engine = fixture.engine(name);
		await engine.ensureReady();
		const insert = async (daysAgo: number, detail: string) =>
			await fixture.query(
				`INSERT INTO "public"."tenant_swap_audit" (at, lock_table, action, outcome, execution_id, detail)
				 VALUES (clock_timestamp() - $1 * interval '1 day', $2, 'release', 'released', 'exec-audit', $3)`,
				[daysAgo, name.table, detail],
			);
		const details = async () =>
			(await fixture.query<{ detail: string }>('SELECT detail FROM "public"."tenant_swap_audit" WHERE lock_table = $1 ORDER BY detail', [name.table])).map(
				(row) => row.detail,
			);
		await insert(45, 'old-45');
		await insert(31, 'old-31');
		await insert(29, 'recent-29');
		const pruned = () => engine.auditTrail.auditPrune;

		await engine.audit([{ action: 'release', outcome: 'released', executionId: 'exec-audit', detail: 'new' }]);
		expect(pruned()).toBeDefined();
		await pruned();
		expect(await details()).toEqual(['new', 'recent-29']);

		// Within the hour: no second clean-up.
		await insert(40, 'old-40');
		await engine.audit([{ action: 'release', outcome: 'released', executionId: 'exec-audit', detail: 'newer' }]);
		expect(pruned()).toBeUndefined();
		expect(await details()).toEqual(['new', 'newer', 'old-40', 'recent-29']);
		await fixture.query('DELETE FROM "public"."tenant_swap_audit" WHERE lock_table = $1', [name.table]);
	});
});

describe.each([postgresFactory('lock_lost'), redisFactory('lock_lost')])('$backend: a lease that ran out', (factory) => {
	let subject: EngineUnderTest;

	beforeAll(async () => {
		subject = await factory.create();
	});

	afterAll(async () => {
		await subject?.close();
	});

	it('is reported "lost" on release even when nobody took the key (it was not protected to the end)', async () => {
		const { engine } = subject;
		const key = uniqueKey('expired');
		const lease = await engine.acquire(key, options('exec-expired', 100, 0));
		await eventually('the lease ran out by the store', async () => (await engine.holder(key)) === undefined, 10_000);
		expect(await engine.release(lease)).toMatchObject({ key, status: 'lost' });
		// The key is free for the next one.
		const next = await engine.acquire(key, options('exec-expired-next', LONG, 0));
		expect(await engine.release(next)).toMatchObject({ status: 'released' });
	});
});

describe('statement time limit (direct)', () => {
	it('a statement waiting longer than its limit is cancelled on the server and fails as a store error', async () => {
		const name = { table: uniqueName('lock_stmt_timeout') };
		const engine = new PostgresLockEngine(fixture.pool(), name, {}, { statementTimeoutMs: 300 });
		const key = uniqueKey('stmt-timeout');
		const lease = await engine.acquire(key, options('exec-stmt-timeout', LONG, 0));
		const blocker = fixture.pool({ max: 1 });
		const client = await blocker.connect();
		try {
			await client.query('BEGIN');
			await client.query(`SELECT 1 FROM "public"."${name.table}" FOR UPDATE`);
			const error = await guard(engine.extend(lease, LONG).then(() => undefined, (e: Error) => e), 20_000, 'the blocked renewal');
			expect(String(error?.message)).toMatch(/canceling statement due to user request/);
		} finally {
			await client.query('ROLLBACK').catch(() => undefined);
			client.release();
		}
		expect(await engine.release(lease)).toMatchObject({ status: 'released' });
		await engine.close();
	});
});
