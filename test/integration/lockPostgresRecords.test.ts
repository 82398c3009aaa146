/**
 * What the PostgreSQL lock store records and forgets (issue 17, findings 2, 11 and 12):
 * - a release leaves a tombstone, so extend tells "released by its owner" (LockReleasedError) from
 *   any other absence (LockLostError);
 * - rows of free keys, old tombstones and dead tickets are deleted, and fences still grow per key
 *   (a sequence per lock table, migrated from the per-row counters of older tables);
 * - one LISTEN connection per pool, whatever the number of lock tables on it;
 * - congestion in this process is LockStoreBusyError, not "unreachable".
 * Each test fails with its fix reverted (checked once by reverting it).
 */
import { Pool } from 'pg';

import { LockLostError, LockReleasedError, LockStoreBusyError, LockStoreUnavailableError } from '../../nodes/shared/lock/errors';
import { hashLockKey, PostgresLockEngine, type LockTableName } from '../../nodes/shared/lock/postgres';
import type { LockLease } from '../../nodes/shared/lock/types';
import { closedPort, guard, isStrictlyIncreasing, options, PostgresLockFixture, rejectionOf, sleep, uniqueKey, uniqueName } from '../helpers/lockTesting';

const LONG = 60_000;

describe('postgres lock store records', () => {
	const fixture = new PostgresLockFixture();
	const schema = uniqueName('lock_records');
	const engines: PostgresLockEngine[] = [];
	const pools: Pool[] = [];

	function pool(config: ConstructorParameters<typeof Pool>[0] = {}): Pool {
		const created = new Pool({ connectionString: fixture.url, max: 6, ...config });
		created.on('error', () => undefined);
		pools.push(created);
		return created;
	}

	function engine(name: LockTableName, on: Pool = pool(), connection: ConstructorParameters<typeof PostgresLockEngine>[3] = {}): PostgresLockEngine {
		const created = new PostgresLockEngine(on, { schema, ...name }, {}, connection);
		engines.push(created);
		return created;
	}

	const table = (name: string) => `"${schema}"."${name}"`;
	const rowCount = async (name: string) => Number((await fixture.query<{ n: string }>(`SELECT count(*) AS n FROM ${table(name)}`))[0].n);

	afterAll(async () => {
		await Promise.all(engines.map(async (e) => await e.close()));
		await Promise.all(pools.map(async (p) => await p.end().catch(() => undefined)));
		await fixture.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
		await fixture.close();
	});

	describe('release tombstones (finding 2; fails without them: every absence read as lost)', () => {
		const name = { table: uniqueName('tomb') };

		it('extend of a released token throws LockReleasedError, also once another execution took the key', async () => {
			const locks = engine(name);
			const key = uniqueKey('released');
			const lease = await locks.acquire(key, options('exec-released', LONG, 0));
			expect(await locks.release(lease)).toMatchObject({ status: 'released' });
			await expect(locks.extend(lease, LONG)).rejects.toBeInstanceOf(LockReleasedError);

			const next = await locks.acquire(key, options('exec-next', LONG, 0));
			await expect(locks.extend(lease, LONG)).rejects.toBeInstanceOf(LockReleasedError);
			await locks.release(next);
		});

		it('releaseExecution leaves tombstones too', async () => {
			const locks = engine(name);
			const leases = [await locks.acquire(uniqueKey('by-exec-a'), options('exec-by-exec', LONG, 0)), await locks.acquire(uniqueKey('by-exec-b'), options('exec-by-exec', LONG, 0))];
			expect(await locks.releaseExecution('exec-by-exec')).toHaveLength(2);
			for (const lease of leases) await expect(locks.extend(lease, LONG)).rejects.toBeInstanceOf(LockReleasedError);
		});

		it('any other absence is LockLostError: row deleted by hand, lease expired, lease expired and taken', async () => {
			const locks = engine(name);
			const deletedKey = uniqueKey('deleted');
			const deleted = await locks.acquire(deletedKey, options('exec-deleted', LONG, 0));
			await fixture.query(`DELETE FROM ${table(name.table)} WHERE key_hash = $1`, [hashLockKey(deletedKey)]);
			const lostDeleted = await rejectionOf(locks.extend(deleted, LONG));
			expect(lostDeleted).toBeInstanceOf(LockLostError);
			expect(lostDeleted).not.toBeInstanceOf(LockReleasedError);

			const expired = await locks.acquire(uniqueKey('expired'), options('exec-expired', 200, 0));
			const takenKey = uniqueKey('taken');
			const taken = await locks.acquire(takenKey, options('exec-taken', 200, 0));
			await sleep(400);
			await expect(locks.extend(expired, LONG)).rejects.toThrow(LockLostError);
			// An expired lease released late is lost, not released: no tombstone.
			expect(await locks.release(expired)).toMatchObject({ status: 'lost' });
			await expect(locks.extend(expired, LONG)).rejects.not.toBeInstanceOf(LockReleasedError);

			const thief = await locks.acquire(takenKey, options('exec-thief', LONG, 0));
			const lostTaken = await rejectionOf(locks.extend(taken, LONG));
			expect(lostTaken).toBeInstanceOf(LockLostError);
			expect(lostTaken).not.toBeInstanceOf(LockReleasedError);
			await locks.release(thief);
		});
	});

	describe('growth (finding 12; fails without the sweep and the fence sequence)', () => {
		it('rows of free keys, old tombstones and dead tickets are deleted; held rows stay', async () => {
			const name = { table: uniqueName('growth') };
			const locks = engine(name, pool(), { freeRowGraceMs: 0 });
			const keys = Array.from({ length: 300 }, (_, i) => uniqueKey(`growth-${i}`));
			for (const key of keys) await locks.release(await locks.acquire(key, options('exec-growth', LONG, 0)));
			// Leases that ran out without a release, and one still held.
			for (let i = 0; i < 20; i++) await locks.acquire(uniqueKey(`growth-expired-${i}`), options('exec-growth-expired', 100, 0));
			const held = await locks.acquire(uniqueKey('growth-held'), options('exec-growth-held', LONG, 0));
			// A dead waiter's ticket on a key nobody asks for again, and tombstones past their time.
			const derived = `tsl_${hashLockKey(`${schema}.${name.table}`).slice(0, 20)}`;
			const wait = `${derived}_wait`;
			const released = `${derived}_released`;
			await fixture.query(`INSERT INTO ${table(wait)} (key_hash, ticket, expires_at) VALUES ($1, gen_random_uuid(), clock_timestamp() - interval '1 second')`, [hashLockKey(uniqueKey('dead-ticket'))]);
			expect(await rowCount(released)).toBe(300);
			await fixture.query(`UPDATE ${table(released)} SET keep_until = clock_timestamp() - interval '1 second'`);
			await sleep(200);
			const before = await rowCount(name.table);

			const swept = await locks.sweep();

			const after = await rowCount(name.table);
			// Reported numbers: rows before and after the sweep.
			console.info(`growth: ${keys.length} keys used + 20 expired + 1 held: ${before} rows before the sweep, ${after} after`);
			// (The first release's background sweep may already have deleted a row or so.)
			expect(before).toBeGreaterThan(300);
			expect(after).toBe(1);
			expect(swept).toEqual({ rows: before - 1, tombstones: 300, tickets: 1 });
			expect(await rowCount(wait)).toBe(0);
			expect(await rowCount(released)).toBe(0);
			expect(await locks.holder(held.key)).toBeDefined();
			await locks.release(held);
		});

		it('the sweep runs in the background after a release', async () => {
			const name = { table: uniqueName('growth_bg') };
			const locks = engine(name, pool(), { freeRowGraceMs: 0 });
			await locks.release(await locks.acquire(uniqueKey('bg-a'), options('exec-bg', LONG, 0)));
			await (locks as unknown as { sweeping?: Promise<unknown> }).sweeping;
			expect(await rowCount(name.table)).toBe(0);
		});

		it('a free row is kept for the grace by default', async () => {
			const name = { table: uniqueName('growth_grace') };
			const locks = engine(name);
			await locks.release(await locks.acquire(uniqueKey('grace'), options('exec-grace', LONG, 0)));
			expect(await locks.sweep()).toMatchObject({ rows: 0 });
			expect(await rowCount(name.table)).toBe(1);
		});

		it('fences keep growing per key when its row is deleted and created again', async () => {
			const name = { table: uniqueName('fence_seq') };
			const locks = engine(name, pool(), { freeRowGraceMs: 0 });
			const key = uniqueKey('fence');
			const fences: number[] = [];
			for (let round = 0; round < 5; round++) {
				const lease = await locks.acquire(key, options(`exec-fence-${round}`, LONG, 0));
				fences.push(lease.fence);
				await locks.release(lease);
				await locks.sweep();
				expect(await rowCount(name.table)).toBe(0);
			}
			expect(isStrictlyIncreasing(fences)).toBe(true);
		});

		it('a lock table of an older version (per-row fences) is migrated: fences go on above every old fence', async () => {
			const name = { table: uniqueName('fence_old') };
			// What versions before 0.6 created: no fence sequence, no tombstone table; fences in the rows.
			await fixture.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
			await fixture.query(`CREATE TABLE ${table(name.table)} (
				key_hash text PRIMARY KEY, lock_key text NOT NULL, token uuid, fence bigint NOT NULL DEFAULT 0,
				instance_id text, execution_id text, workflow_id text, tenant_id text,
				acquired_at timestamptz, expires_at timestamptz, updated_at timestamptz NOT NULL DEFAULT clock_timestamp())`);
			const oldKey = uniqueKey('old-key');
			const otherOldKey = uniqueKey('other-old-key');
			await fixture.query(
				`INSERT INTO ${table(name.table)} (key_hash, lock_key, token, fence, updated_at) VALUES
				   ($1, $2, NULL, 41, clock_timestamp() - interval '1 hour'), ($3, $4, NULL, 7, clock_timestamp() - interval '1 hour')`,
				[hashLockKey(oldKey), oldKey, hashLockKey(otherOldKey), otherOldKey],
			);
			const locks = engine(name, pool(), { freeRowGraceMs: 0 });
			const first = await locks.acquire(oldKey, options('exec-old-1', LONG, 0));
			expect(first.fence).toBeGreaterThan(41);
			await locks.release(first);
			// The old rows (free for an hour) go; the key's next row still gets a higher fence.
			await locks.sweep();
			const again = await locks.acquire(oldKey, options('exec-old-2', LONG, 0));
			expect(again.fence).toBeGreaterThan(first.fence);
			const other = await locks.acquire(otherOldKey, options('exec-old-3', LONG, 0));
			expect(other.fence).toBeGreaterThan(41);
			await locks.release(again);
			await locks.release(other);
		});

		it('fences stay distinct and per key increasing under concurrent holders and sweeps', async () => {
			const name = { table: uniqueName('fence_race') };
			const lockers = [0, 1, 2].map(() => engine(name, pool({ max: 4 }), { freeRowGraceMs: 0 }));
			const key = uniqueKey('fence-race');
			const fences: number[] = [];
			let sweeping = true;
			const sweeper = (async () => {
				while (sweeping) await lockers[0].sweep();
			})();
			await guard(
				Promise.all(
					lockers.map(async (locks, i) => {
						for (let round = 0; round < 30; round++) {
							const lease: LockLease = await locks.acquire(key, options(`exec-race-${i}-${round}`, LONG, LONG));
							fences.push(lease.fence);
							await locks.release(lease);
						}
					}),
				),
				60_000,
				'racing holders',
			);
			sweeping = false;
			await sweeper;
			// Pushed in grant order (each holder pushes before it releases): strictly increasing.
			expect(isStrictlyIncreasing(fences)).toBe(true);
			expect(fences).toHaveLength(90);
		});
	});

	describe('one LISTEN connection per pool (finding 12; one per lock table before)', () => {
		it('two lock tables on one pool share one listener, and both get their wake-ups', async () => {
			const application = uniqueName('tsl_listen');
			const shared = pool({ application_name: application });
			const first = engine({ table: uniqueName('listen_a') }, shared);
			const second = engine({ table: uniqueName('listen_b') }, shared);
			const listening = async () =>
				Number(
					(
						await fixture.query<{ n: string }>(
							`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'LISTEN %'`,
							[application],
						)
					)[0].n,
				);
			for (const locks of [first, second]) {
				const key = uniqueKey('listen');
				const held = await locks.acquire(key, options('exec-listen-holder', LONG, 0));
				const waiting = locks.acquire(key, options('exec-listen-waiter', LONG, 30_000));
				await sleep(300);
				await locks.release(held);
				await locks.release(await guard(waiting, 10_000, 'the woken waiter'));
			}
			const connections = await listening();
			console.info(`LISTEN connections for two lock tables on one pool: ${connections}`);
			expect(connections).toBe(1);
		});
	});

	describe('congestion is not "unreachable" (finding 11)', () => {
		it('attempts queued behind this process\'s own busy connections fail as LockStoreBusyError', async () => {
			const name = { table: uniqueName('busy') };
			// max 3: one connection for attempts, two kept for renewals.
			const locks = engine(name, pool({ max: 3, connectionTimeoutMillis: 500 }));
			const key = uniqueKey('busy');
			const held = await locks.acquire(key, options('exec-busy', LONG, 0));
			const blocker = await fixture.pool({ max: 1 }).connect();
			try {
				await blocker.query('BEGIN');
				// Reads go on; every write (an attempt's INSERT, a renewal's UPDATE) waits.
				await blocker.query(`LOCK TABLE ${table(name.table)} IN EXCLUSIVE MODE`);
				// Waits for the table lock, holding the only attempt connection.
				const stuck = locks.acquire(uniqueKey('busy-other'), options('exec-stuck', LONG, 0)).then(async (lease) => await locks.release(lease));
				const blockedAttempt = locks.acquire(key, options('exec-stuck-2', LONG, 0)).catch((e: unknown) => e);
				await sleep(100);
				const busy = await rejectionOf(locks.acquire(uniqueKey('busy-third'), options('exec-third', LONG, 0)));
				expect(busy).toBeInstanceOf(LockStoreBusyError);
				expect(busy).toBeInstanceOf(LockStoreUnavailableError);
				expect(String(busy.message)).toMatch(/^Lock store busy during acquire: this n8n process has \d+ lock requests in flight/);
				expect(String(busy.message)).not.toMatch(/unreachable/);
				// Renewals skip the attempt gate: all pool connections busy with them is congestion too.
				const extends_ = [0, 1, 2].map(async () => await locks.extend(held, LONG).catch((e: unknown) => e));
				await sleep(100);
				const renewal = await rejectionOf(locks.extend(held, LONG));
				expect(renewal).toBeInstanceOf(LockStoreBusyError);
				await blocker.query('ROLLBACK');
				await Promise.all([stuck, blockedAttempt, ...extends_]);
			} finally {
				await blocker.query('ROLLBACK').catch(() => undefined);
				blocker.release();
			}
			await locks.release(held);
		});

		it('a store that cannot be reached is LockStoreUnavailableError ("unreachable"), not busy', async () => {
			const port = await closedPort();
			const locks = engine({ table: uniqueName('unreachable') }, pool({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres`, connectionTimeoutMillis: 500 }));
			const error = await rejectionOf(locks.acquire(uniqueKey('unreachable'), options('exec-unreachable', LONG, 0)));
			expect(error).toBeInstanceOf(LockStoreUnavailableError);
			expect(error).not.toBeInstanceOf(LockStoreBusyError);
			expect(String(error.message)).toMatch(/^Lock store unreachable during/);
		});
	});
});
