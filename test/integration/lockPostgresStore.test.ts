/**
 * PostgreSQL-specific behaviour of the lock store: first-use table creation racing across
 * processes, table/schema name validation, how keys are stored, and an unreachable or vanishing
 * database.
 */
import { Pool } from 'pg';

import {
	LockConfigurationError,
	LockStoreUnavailableError,
	LockTimeoutError,
} from '../../nodes/shared/lock/errors';
import { hashLockKey, PostgresLockEngine, type LockTableName } from '../../nodes/shared/lock/postgres';
import {
	closedPort,
	guard,
	options,
	PostgresLockFixture,
	rejectionOf,
	TcpProxy,
	testDatabaseUrl,
	uniqueKey,
	uniqueName,
	untilQueued,
} from '../helpers/lockTesting';

const LONG = 60_000;

describe('postgres lock store', () => {
	const fixture = new PostgresLockFixture();
	afterAll(async () => {
		await fixture.close();
	});

	describe('concurrent first-use table creation', () => {
		it.each<[string, () => LockTableName & { table: string }]>([
			['a new table in a new schema', () => ({ schema: uniqueName('lock_schema'), table: uniqueName('lock_race') })],
			['a new table in public', () => ({ table: uniqueName('lock_race') })],
		])('10 engines on fresh pools racing on %s all succeed', async (_label, makeName) => {
			const name = makeName();
			const engines = Array.from({ length: 10 }, () => fixture.engine(name, fixture.pool({ max: 3 })));
			const sharedKey = uniqueKey('race-shared');

			const results = await guard(
				Promise.allSettled(
					engines.map(async (engine, i) => {
						const own = await engine.acquire(uniqueKey(`race-${i}`), options(`exec-race-${i}`, LONG, 0));
						await engine.release(own);
						const shared = await engine.acquire(sharedKey, options(`exec-race-shared-${i}`, LONG, LONG));
						await engine.release(shared);
						return shared.fence;
					}),
				),
				30_000,
				'racing engines',
			);
			const failures = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
			expect(failures).toEqual([]);
			// Fences come from one sequence per lock table (every key's): ten holders, ten different fences.
			const fences = results.map((r) => (r as PromiseFulfilledResult<number>).value);
			expect(new Set(fences).size).toBe(10);

			const [found] = await fixture.query<{ found: boolean }>('SELECT to_regclass($1) IS NOT NULL AS found', [
				`"${name.schema ?? 'public'}"."${name.table}"`,
			]);
			expect(found.found).toBe(true);
		});

		it('each lock table gets its own execution_id index, even when table names share a long prefix', async () => {
			const prefix = uniqueName('lock_idx').padEnd(50, 'x');
			const names = [`${prefix}_one`, `${prefix}_two`];
			for (const table of names) {
				const engine = fixture.engine({ table });
				await engine.release(await engine.acquire(uniqueKey('idx'), options('exec-idx', LONG, 0)));
			}
			const indexed = await fixture.query<{ tablename: string }>(
				`SELECT tablename FROM pg_indexes
				  WHERE schemaname = 'public' AND tablename = ANY($1) AND indexdef ILIKE '%(execution_id)%'`,
				[names],
			);
			expect(indexed.map((row) => row.tablename).sort()).toEqual([...names].sort());
		});
	});

	describe('lock tables of an older version', () => {
		it('get the owner\'s instance column on first use, and their held rows keep working', async () => {
			const table = uniqueName('lock_old');
			const before = fixture.engine({ table });
			const held = await before.acquire(uniqueKey('old-held'), options('exec-old', LONG, 0));
			// What version 0.2 created: no instance_id column.
			await fixture.query(`ALTER TABLE "public"."${table}" DROP COLUMN instance_id`);
			const after = fixture.engine({ table });
			const key = uniqueKey('old-new');
			const lease = await after.acquire(key, { owner: { instanceId: 'inst-1', executionId: 'exec-new' }, ttlMs: LONG, waitTimeoutMs: 0 });
			expect((await after.holder(key))?.owner).toMatchObject({ instanceId: 'inst-1', executionId: 'exec-new' });
			expect(await after.releaseExecution('exec-new', 'inst-1')).toEqual([expect.objectContaining({ key, status: 'released' })]);
			expect(await after.release(held)).toMatchObject({ status: 'released' });
			expect(await after.release(lease)).toMatchObject({ status: 'lost' });
		});
	});

	describe('table and schema names', () => {
		const pool = () => fixture.pool({ max: 1 });
		it.each([
			['a double quote', 'locks"; DROP TABLE x; --'],
			['a single quote', "lock's"],
			['a space', 'lock table'],
			['a leading digit', '1locks'],
			['a dash', 'tenant-locks'],
			['64 characters', 'l'.repeat(64)],
			['unicode', 'sperrtabelle_ü'],
		])('rejects a table name with %s', (_label, table) => {
			expect(() => new PostgresLockEngine(pool(), { table })).toThrow(LockConfigurationError);
		});

		it.each([
			['a double quote', 'lock"schema'],
			['a space', 'lock schema'],
			['64 characters', 's'.repeat(64)],
		])('rejects a schema name with %s', (_label, schema) => {
			expect(() => new PostgresLockEngine(pool(), { schema, table: 'locks' })).toThrow(LockConfigurationError);
		});

		it('accepts a 63-character table name and a mixed-case schema, and uses them as given', async () => {
			const table = `${uniqueName('lock_max')}`.padEnd(63, 'z');
			const schema = `Lock_${uniqueName('schema')}`;
			expect(table).toHaveLength(63);
			const engine = fixture.engine({ schema, table });
			const lease = await engine.acquire(uniqueKey('max'), options('exec-max', LONG, 0));
			const [row] = await fixture.query<{ found: boolean }>('SELECT to_regclass($1) IS NOT NULL AS found', [
				`"${schema}"."${table}"`,
			]);
			expect(row.found).toBe(true);
			await engine.release(lease);
		});
	});

	describe('keys', () => {
		it('stores odd keys intact, indexed by their SHA-256 hash', async () => {
			const table = uniqueName('lock_keys');
			const engine = fixture.engine({ table });
			const keys = [`it's "x"; DROP TABLE y; --`, 'mandant-租户-🔐-ключ', 'z'.repeat(10 * 1024)];
			for (const key of keys) {
				const lease = await engine.acquire(key, options('exec-keys', LONG, 0));
				const rows = await fixture.query<{ lock_key: string; execution_id: string }>(
					`SELECT lock_key, execution_id FROM "public"."${table}" WHERE key_hash = $1`,
					[hashLockKey(key)],
				);
				expect(rows).toHaveLength(1);
				expect(rows[0].lock_key).toBe(key);
				expect(rows[0].execution_id).toBe('exec-keys');
				await engine.release(lease);
			}
			const [{ count }] = await fixture.query<{ count: string }>(`SELECT count(*) AS count FROM "public"."${table}"`);
			expect(Number(count)).toBe(keys.length);
		});
	});

	describe('unreachable store', () => {
		let deadPool: Pool;
		let engine: PostgresLockEngine;
		beforeAll(async () => {
			const port = await closedPort();
			deadPool = fixture.pool({ connectionString: undefined, host: '127.0.0.1', port, user: 'nobody', database: 'none', connectionTimeoutMillis: 3_000 });
			engine = fixture.engine({ table: uniqueName('lock_dead') }, deadPool);
		});

		it('acquire rejects with LockStoreUnavailableError, even with a long wait', async () => {
			const error = await guard(
				rejectionOf(engine.acquire(uniqueKey('dead'), options('exec-dead', LONG, LONG))),
				20_000,
				'acquire on a dead store',
			);
			expect(error).toBeInstanceOf(LockStoreUnavailableError);
			expect(error).not.toBeInstanceOf(LockTimeoutError);
		});

		it('every other operation rejects with LockStoreUnavailableError too', async () => {
			const handle = { key: uniqueKey('dead'), token: '00000000-0000-4000-8000-000000000000' };
			for (const attempt of [
				engine.acquire(handle.key, options('exec-dead', LONG, 0)),
				engine.holder(handle.key),
				engine.extend(handle, LONG),
				engine.release(handle),
				engine.releaseExecution('exec-dead'),
			]) {
				expect(await guard(rejectionOf(attempt), 20_000, 'operation on a dead store')).toBeInstanceOf(
					LockStoreUnavailableError,
				);
			}
		});
	});

	describe('store lost while waiting', () => {
		it('a waiter rejects with LockStoreUnavailableError when its database connection dies, instead of waiting out its timeout', async () => {
			const name = { table: uniqueName('lock_cut') };
			const holderEngine = fixture.engine(name);
			const proxy = TcpProxy.forUrl(testDatabaseUrl());
			await proxy.start();
			try {
				const waiterPool = fixture.pool({ connectionString: proxy.urlFor(testDatabaseUrl()), connectionTimeoutMillis: 3_000 });
				const waiterEngine = fixture.engine(name, waiterPool);
				const key = uniqueKey('cut');
				const held = await holderEngine.acquire(key, options('exec-cut-holder', LONG, 0));
				const waiting = rejectionOf(waiterEngine.acquire(key, options('exec-cut-waiter', LONG, LONG)));
				await untilQueued(waiterEngine, key, 1);
				await proxy.cut();

				const error = await guard(waiting, 30_000, 'waiter after the database went away');
				expect(error).toBeInstanceOf(LockStoreUnavailableError);
				// The lock itself is untouched.
				expect((await holderEngine.holder(key))?.owner.executionId).toBe('exec-cut-holder');
				await holderEngine.release(held);
			} finally {
				await proxy.cut();
			}
		});
	});
});
