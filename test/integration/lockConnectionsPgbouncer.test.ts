/**
 * The PostgreSQL lock behind PgBouncer in transaction pooling mode (Debian's pgbouncer, started by
 * the test on 127.0.0.1; a missing pgbouncer fails the test, see test/helpers/pgbouncer.ts).
 *
 * - It connects at all: no start-up parameter PgBouncer refuses (statement_timeout was one).
 * - LISTEN is accepted but notifications never arrive: the engine finds out with a probe, does not
 *   count its listener as up, says so once (warning), and waiters re-check on their own, so a
 *   hand-off from another process still happens without a wake-up.
 * - Statement time limits work through PgBouncer (a cancel request, which PgBouncer forwards).
 */
import { LoggerProxy } from 'n8n-workflow';
import { Client } from 'pg';

import { LockStoreUnavailableError } from '../../nodes/shared/lock/errors';
import { PostgresLockEngine } from '../../nodes/shared/lock/postgres';
import { closeSharedPools, poolConfigFrom, type PostgresConnectionSettings } from '../../nodes/shared/lock/postgresPool';
import { closeLockEngines, postgresLockEngine } from '../../nodes/shared/lock/registry';
import { startPgBouncer, type PgBouncer } from '../helpers/pgbouncer';
import { eventually } from '../helpers/faultStores';
import { guard, options, PostgresLockFixture, rejectionOf, testDatabaseUrl, uniqueKey, uniqueName, untilQueued } from '../helpers/lockTesting';

const LONG = 60_000;

let bouncer: PgBouncer;
let fixture: PostgresLockFixture;
const warnings: string[] = [];

beforeAll(async () => {
	bouncer = await startPgBouncer(testDatabaseUrl(), 'transaction');
	fixture = new PostgresLockFixture();
	LoggerProxy.init({
		error: () => undefined,
		warn: (message: string) => warnings.push(message),
		info: () => undefined,
		debug: () => undefined,
	} as never);
});

afterAll(async () => {
	await closeLockEngines();
	await closeSharedPools();
	await fixture?.close();
	await bouncer?.stop();
});

const listenerUp = (engine: PostgresLockEngine) => (engine as unknown as { listenerUp: boolean }).listenerUp;
/** White-box: resolves once the engine's probe has given its verdict (a warning or listenerUp). */
const probed = async (engine: PostgresLockEngine, before: number) =>
	await eventually('the notification probe answered', async () => listenerUp(engine) || warnings.length > before, 30_000);

function bouncerSettings(overrides: Partial<PostgresConnectionSettings> = {}): PostgresConnectionSettings {
	return { host: '127.0.0.1', port: bouncer.port, database: bouncer.database, user: bouncer.user, password: 'x', ssl: 'disable', ...overrides };
}

describe('PostgreSQL lock behind PgBouncer (transaction pooling)', () => {
	it('connects with the credential\'s settings (PgBouncer refused the statement_timeout start-up parameter)', async () => {
		// The control: what the lock used to send is refused by this PgBouncer.
		const refused = new Client({ ...poolConfigFrom(bouncerSettings()), statement_timeout: 15_000 });
		refused.on('error', () => undefined);
		expect(String(await rejectionOf(refused.connect()))).toMatch(/unsupported startup parameter/);
		await refused.end().catch(() => undefined);

		const table = uniqueName('lock_bouncer');
		const engine = postgresLockEngine(bouncerSettings(), { table });
		const key = uniqueKey('bouncer');
		const lease = await engine.acquire(key, options('exec-bouncer-1', LONG, 0));
		const renewed = await engine.extend(lease, LONG);
		expect(renewed.expiresAt.getTime()).toBeGreaterThanOrEqual(lease.expiresAt.getTime());
		expect(await engine.holder(key)).toMatchObject({ owner: { executionId: 'exec-bouncer-1' } });
		expect(await engine.release(lease)).toMatchObject({ status: 'released' });
		expect(await engine.holder(key)).toBeUndefined();
		await fixture.query(`DROP TABLE IF EXISTS "public"."${table}"`);
	});

	it('notices that NOTIFY does not arrive, warns once, and hands off through its own re-checks', async () => {
		const name = { table: uniqueName('lock_bouncer_handoff') };
		const bouncerPool = () => fixture.pool({ connectionString: bouncer.url, max: 4 });
		const holder = fixture.engine(name, bouncerPool());
		const waiterEngine = fixture.engine(name, bouncerPool());
		const key = uniqueKey('bouncer-handoff');
		const before = warnings.length;

		const held = await holder.acquire(key, options('exec-bouncer-holder', LONG, 0));
		const waiting = waiterEngine.acquire(key, options('exec-bouncer-waiter', LONG, LONG));
		await untilQueued(waiterEngine, key, 1);
		await probed(waiterEngine, before);
		// The listener is connected and LISTEN succeeded, yet it must not count as up.
		expect(listenerUp(waiterEngine)).toBe(false);
		const said = warnings.slice(before);
		expect(said).toHaveLength(1);
		expect(said[0]).toMatch(/PgBouncer in transaction pooling/);

		// Another process releases: no notification will come, the waiter's own re-checks find the key.
		const releasedAt = performance.now();
		expect(await holder.release(held)).toMatchObject({ status: 'released' });
		const lease = await guard(waiting, 30_000, 'the waiter behind PgBouncer');
		const handOffMs = Math.round(performance.now() - releasedAt);
		process.stderr.write(`[pgbouncer] cross-process hand-off through PgBouncer (transaction pooling): ${handOffMs} ms\n`);
		expect(lease.owner.executionId).toBe('exec-bouncer-waiter');
		expect(await waiterEngine.release(lease)).toMatchObject({ status: 'released' });

		// More hand-offs from the other process (measured, not asserted); still one warning.
		const samples: number[] = [handOffMs];
		for (let i = 0; i < 9; i++) {
			const again = await holder.acquire(key, options(`exec-bouncer-holder-${i}`, LONG, 0));
			const next = waiterEngine.acquire(key, options(`exec-bouncer-waiter-${i}`, LONG, LONG));
			await untilQueued(waiterEngine, key, 1);
			const at = performance.now();
			await holder.release(again);
			await waiterEngine.release(await guard(next, 30_000, 'a later hand-off'));
			samples.push(Math.round(performance.now() - at));
		}
		samples.sort((a, b) => a - b);
		process.stderr.write(`[pgbouncer] 10 hand-offs: median ${samples[5]} ms, max ${samples[9]} ms (${samples.join(', ')})\n`);
		expect(warnings.length - before).toBe(1);
	});

	it('the same probe counts a direct connection as up, without a warning (the control)', async () => {
		const name = { table: uniqueName('lock_direct_probe') };
		const engine = fixture.engine(name, fixture.pool({ max: 4 }));
		const other = fixture.engine(name, fixture.pool({ max: 4 }));
		const key = uniqueKey('direct-probe');
		const before = warnings.length;
		const held = await other.acquire(key, options('exec-direct-holder', LONG, 0));
		const waiting = engine.acquire(key, options('exec-direct-waiter', LONG, LONG));
		await untilQueued(engine, key, 1);
		await probed(engine, before);
		expect(listenerUp(engine)).toBe(true);
		expect(warnings.length).toBe(before);
		await other.release(held);
		await engine.release(await guard(waiting, 30_000, 'the direct waiter'));
	});

	it('a statement over its time limit is cancelled through PgBouncer, and its connection is not reused', async () => {
		const name = { table: uniqueName('lock_bouncer_timeout') };
		const pool = fixture.pool({ connectionString: bouncer.url, max: 4 });
		const engine = new PostgresLockEngine(pool, name, {}, { statementTimeoutMs: 500 });
		const key = uniqueKey('bouncer-timeout');
		const lease = await engine.acquire(key, options('exec-bouncer-timeout', LONG, 0));
		// Another session locks the row: the renewal's UPDATE waits for it.
		const blocker = new Client({ connectionString: testDatabaseUrl() });
		await blocker.connect();
		try {
			await blocker.query('BEGIN');
			await blocker.query(`SELECT 1 FROM "public"."${name.table}" FOR UPDATE`);
			const error = await guard(rejectionOf(engine.extend(lease, LONG)), 20_000, 'the blocked renewal');
			expect(error).toBeInstanceOf(LockStoreUnavailableError);
			expect(String(error.message)).toMatch(/canceling statement due to user request/);
			// Nothing of ours still waits on the server.
			const waitingOnLock = await fixture.query<{ n: number }>(
				"SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE%' AND datname = current_database()",
			);
			expect(waitingOnLock[0].n).toBe(0);
		} finally {
			await blocker.query('ROLLBACK').catch(() => undefined);
			await blocker.end();
		}
		expect(await engine.release(lease)).toMatchObject({ status: 'released' });
		await engine.close();
		await fixture.query(`DROP TABLE IF EXISTS "public"."${name.table}"`);
	});
});
