/**
 * The two lock stores of the fault tests (test/integration/lockFaults.test.ts and
 * lockFaultsRecovery.test.ts), each on its own throwaway server with a fault proxy in front, and the
 * engines on them: two from the registry with production settings (straight to the server, and
 * through the proxy) and an observer standing for another process.
 */
import Redis from 'ioredis';
import { Client, Pool, type ClientConfig } from 'pg';

import { LockStoreUnavailableError } from '../../nodes/shared/lock/errors';
import { hashLockKey, PostgresLockEngine } from '../../nodes/shared/lock/postgres';
import { poolConfigFrom, sharedPool } from '../../nodes/shared/lock/postgresPool';
import { RedisLockEngine, redisOptionsFrom } from '../../nodes/shared/lock/RedisLockEngine';
import { lockRedisOptions, postgresLockEngine, redisLockEngine } from '../../nodes/shared/lock/registry';
import type { LockEngine } from '../../nodes/shared/lock/types';
import { realNow } from './clockSkew';
import { FaultProxy, startOwnPostgres, startOwnRedis, type OwnPostgres, type OwnRedis, type StoppableServer } from './faultServers';
import type { HolderBackend } from './lockHolderProcess';
import { guard, sleep } from './lockTesting';

/** One lock store under test, its server, and the engines on it. */
export interface Store {
	readonly backend: 'postgres' | 'redis';
	readonly server: StoppableServer;
	readonly proxy: FaultProxy;
	/** Through the registry, production settings, straight to the server. */
	readonly direct: LockEngine;
	/** Through the registry, production settings, through the proxy. */
	readonly proxied: LockEngine;
	/** Another process's engine on the same locks, with its own connections, straight to the server. */
	readonly observer: LockEngine;
	/** The configured worst case of one store call that finds the store gone (connect + query/command timeout). */
	readonly callBoundMs: number;
	/** PostgreSQL keeps leases across a restart; this Redis (no persistence, as configured) loses them. */
	readonly leasesSurviveRestart: boolean;
	holderProcess(): HolderBackend;
	/** The store's clock, in ms since the epoch. */
	storeNow(): Promise<number>;
	/** Every connection of the engine's pool / client works; nothing is stuck, leaked or over the limit. */
	expectHealthy(which: 'direct' | 'proxied'): Promise<void>;
	/**
	 * Makes the store hold back operations on `keys` (PostgreSQL: their rows locked; Redis: writes
	 * paused), so an operation on them stays in flight until the server stops.
	 */
	freeze(keys: string[]): Promise<{ untilInFlight(count: number): Promise<void>; end(): Promise<void> }>;
	close(): Promise<void>;
}

/** Polls `check` until it returns true (a hang guard, not a speed assertion). */
export async function eventually(what: string, check: () => Promise<boolean>, limitMs = 60_000): Promise<void> {
	// The real clock: a test may have skewed Date.
	const giveUp = realNow() + limitMs;
	for (;;) {
		if (await check().catch(() => false)) return;
		if (realNow() > giveUp) throw new Error(`${what}: not true within ${limitMs} ms`);
		await sleep(100);
	}
}

export async function postgresStore(): Promise<Store> {
	const server: OwnPostgres = await startOwnPostgres();
	const proxy = new FaultProxy(server.port);
	await proxy.start();
	const directSettings = server.settings();
	const proxiedSettings = server.settings(proxy.port);
	const config = poolConfigFrom(directSettings);
	const connection: ClientConfig = { host: server.host, port: server.port, user: server.user, password: server.password, database: server.database };
	const observerPool = new Pool({ ...connection, max: 4, connectionTimeoutMillis: 10_000, application_name: 'lock-faults-observer' });
	observerPool.on('error', () => undefined);
	const appName = config.application_name as string;
	const pools = { direct: sharedPool(config), proxied: sharedPool(poolConfigFrom(proxiedSettings)) };
	const observer = new PostgresLockEngine(observerPool);
	return {
		backend: 'postgres',
		server,
		proxy,
		direct: postgresLockEngine(directSettings),
		proxied: postgresLockEngine(proxiedSettings),
		observer,
		callBoundMs: (config.connectionTimeoutMillis as number) + (config.query_timeout as number),
		leasesSurviveRestart: true,
		holderProcess: () => ({ backend: 'postgres', settings: directSettings }),
		storeNow: async () => (await observerPool.query<{ now: Date }>('SELECT clock_timestamp() AS now')).rows[0].now.getTime(),
		expectHealthy: async (which) => {
			const pool = which === 'direct' ? pools.direct : pools.proxied;
			const max = config.max as number;
			// As many queries at once as the pool has connections: a connection left stuck behind a
			// timed-out query, or never given back, makes one of them fail or wait out the guard.
			const pids = await guard(
				Promise.all(Array.from({ length: max }, async () => (await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid)),
				3 * (config.connectionTimeoutMillis as number) + 3 * (config.query_timeout as number),
				`${max} queries through the ${which} pool`,
			);
			expect(pids).toHaveLength(max);
			expect(pool.totalCount).toBeLessThanOrEqual(max);
			expect(pool.waitingCount).toBe(0);
			// No server session outlives the pool's knowledge of it (two registry pools of `max` each).
			await eventually('sessions of the lock pools within their limits', async () => {
				const { rows } = await observerPool.query<{ count: string }>('SELECT count(*) AS count FROM pg_stat_activity WHERE application_name = $1', [appName]);
				return Number(rows[0].count) <= 2 * max;
			});
		},
		freeze: async (keys) => {
			const admin = new Client({ ...connection, application_name: 'lock-faults-freezer' });
			admin.on('error', () => undefined);
			await admin.connect();
			await admin.query('BEGIN');
			const locked = await admin.query('SELECT 1 FROM public.tenant_swap_locks WHERE key_hash = ANY($1) FOR UPDATE', [keys.map(hashLockKey)]);
			expect(locked.rowCount).toBe(keys.length);
			return {
				untilInFlight: async (count) =>
					await eventually(`${count} lock statements waiting on the frozen rows`, async () => {
						const { rows } = await observerPool.query<{ count: string }>(
							"SELECT count(*) AS count FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
							[appName],
						);
						return Number(rows[0].count) >= count;
					}),
				end: async () => await admin.end().catch(() => undefined),
			};
		},
		close: async () => {
			// The observer's wake-up connection is checked out of its pool: give it back first.
			await observer.close();
			await observerPool.end().catch(() => undefined);
			await proxy.close();
			await server.close();
		},
	};
}

export async function redisStore(): Promise<Store> {
	const server: OwnRedis = await startOwnRedis();
	const proxy = new FaultProxy(server.port);
	await proxy.start();
	const directSettings = server.settings();
	const proxiedSettings = server.settings(proxy.port);
	const observerClient = new Redis({ host: server.host, port: server.port, maxRetriesPerRequest: 1, connectionName: 'lock-faults-observer' });
	observerClient.on('error', () => undefined);
	const direct = redisLockEngine(directSettings);
	const proxied = redisLockEngine(proxiedSettings);
	const configured = { ...redisOptionsFrom(directSettings), ...lockRedisOptions() };
	const clientOf = (engine: LockEngine) => (engine as unknown as { client: Redis }).client;
	const observer = new RedisLockEngine(observerClient);
	return {
		backend: 'redis',
		server,
		proxy,
		direct,
		proxied,
		observer,
		callBoundMs: (configured.connectTimeout as number) + (configured.commandTimeout as number),
		leasesSurviveRestart: false,
		holderProcess: () => ({ backend: 'redis', settings: directSettings }),
		storeNow: async () => {
			const [seconds, micros] = await observerClient.time();
			return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
		},
		expectHealthy: async (which) => {
			const client = clientOf(which === 'direct' ? direct : proxied);
			await eventually(`the ${which} Redis client reconnected`, async () => client.status === 'ready');
			expect(await guard(client.ping(), 3 * ((configured.commandTimeout as number) + (configured.connectTimeout as number)), 'PING')).toBe('PONG');
			// No connection piling up on the server: the two registry clients and the observer, each with
			// at most one subscriber (killed holder processes and the freezer are gone).
			await eventually('Redis connections within bounds', async () => {
				const clients = Number(/connected_clients:(\d+)/.exec(await observerClient.info('clients'))?.[1]);
				return clients <= 6;
			});
		},
		freeze: async () => {
			const admin = new Redis({ host: server.host, port: server.port, maxRetriesPerRequest: 0, connectionName: 'lock-faults-freezer' });
			admin.on('error', () => undefined);
			await admin.call('CLIENT', 'PAUSE', '600000', 'WRITE');
			return {
				// Paused clients count as blocked; the engine's later commands wait behind the first on its one connection.
				untilInFlight: async () =>
					await eventually('a lock command held back by the pause', async () => /blocked_clients:[1-9]/.test(await admin.info('clients'))),
				end: async () => admin.disconnect(),
			};
		},
		close: async () => {
			await observer.close();
			observerClient.disconnect();
			await proxy.close();
			await server.close();
		},
	};
}

export function expectUnavailable(error: unknown, what: string): void {
	if (!(error instanceof LockStoreUnavailableError)) {
		throw new Error(`${what}: expected LockStoreUnavailableError, got ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
	}
	// The message names the operation and the driver's reason, and never a password.
	expect(error.message).toMatch(/^Lock store unreachable during /);
}
