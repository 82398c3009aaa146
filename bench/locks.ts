/**
 * The four lock kinds the benchmark compares, behind one small interface, with counters the
 * benchmark reads (store round trips, attempts per grant, connections). Instrumentation wraps
 * instances from the outside; the engines' code is used unchanged.
 */
import { createHash } from 'node:crypto';
import Redis from 'ioredis';
import { Client, Pool, type PoolConfig } from 'pg';

import { PostgresLockEngine } from '../nodes/shared/lock/postgres';
import { poolConfigFrom, type PostgresConnectionSettings } from '../nodes/shared/lock/postgresPool';
import { RedisLockEngine, redisOptionsFrom } from '../nodes/shared/lock/RedisLockEngine';
import type { LockEngine, LockLease } from '../nodes/shared/lock/types';
import { NaiveLock } from './naiveLock';

export type KindId = 'floor' | 'naive' | 'pg' | 'redis';
export type Release = () => Promise<void>;

export interface Contender {
	acquire(key: string): Promise<Release>;
}

/** Round trips and attempts, reset per phase. */
export class Counters {
	/** Store round trips by operation (pg: statement kind; redis: command/script). */
	roundTrips: Record<string, number> = {};
	/** Durations (ms) of store round trips by operation, for the profile. */
	roundTripMs: Record<string, number[]> = {};
	/** Store attempts made by the engines' waiting core (one per try at the lock). */
	attempts = 0;
	failedAttempts = 0;
	grants = 0;
	lost = 0;
	errors = 0;
	/** The last SQL text seen per operation (for the profile's replay on a held connection). */
	lastSql: Record<string, string> = {};

	reset(): void {
		this.roundTrips = {};
		this.roundTripMs = {};
		this.attempts = 0;
		this.failedAttempts = 0;
		this.grants = 0;
		this.lost = 0;
		this.errors = 0;
	}

	record(operation: string, ms: number): void {
		this.roundTrips[operation] = (this.roundTrips[operation] ?? 0) + 1;
		(this.roundTripMs[operation] ??= []).push(ms);
	}

	totalRoundTrips(): number {
		return Object.values(this.roundTrips).reduce((s, v) => s + v, 0);
	}
}

/** A pool's connections: how many it opened in all, and the most it had open at once. */
export class PoolWatch {
	opened = 0;
	peak = 0;
	constructor(
		readonly pool: Pool,
		readonly max: number,
	) {
		pool.on('connect', () => {
			this.opened += 1;
			this.peak = Math.max(this.peak, pool.totalCount);
		});
		pool.on('acquire', () => {
			this.peak = Math.max(this.peak, pool.totalCount);
		});
	}
}

export interface LockKind {
	readonly id: KindId;
	readonly label: string;
	readonly counters: Counters;
	/** The contender with this index (contenders of our engines alternate between two instances). */
	contender(index: number): Promise<Contender>;
	close(): Promise<void>;
}

/** Contenders' lease options for our engines: long TTL and wait, so the benchmark measures waiting, not expiry. */
const TTL_MS = 60_000;
const WAIT_MS = 60_000;

function operationOfSql(text: string): string {
	if (text.includes('attempt AS (')) return 'acquire attempt';
	if (text.includes('freed AS (')) return 'release';
	if (text.includes('gone AS (')) return 'withdraw ticket';
	if (text.startsWith('LISTEN')) return 'listen';
	if (text.includes('to_regclass')) return 'ensure table';
	if (text.includes('INSERT INTO')) return 'naive insert';
	if (text.startsWith('DELETE')) return 'naive delete';
	return 'other';
}

/** Counts and times a query function's calls (one store round trip each). */
function counted(query: (...args: unknown[]) => Promise<unknown>, counters: Counters): (...args: unknown[]) => Promise<unknown> {
	return async (...args: unknown[]) => {
		const text = typeof args[0] === 'string' ? args[0] : String((args[0] as { text?: string })?.text ?? '');
		const t0 = performance.now();
		const operation = operationOfSql(text);
		counters.lastSql[operation] = text;
		try {
			return await query(...args);
		} finally {
			counters.record(operation, performance.now() - t0);
		}
	};
}

/**
 * Counts and times every statement sent through the pool: `pool.query` (the naive lock) and the
 * queries of checked-out clients (the engine checks a client out per statement, to cancel it on
 * timeout). The engine's LISTEN connection is outside the pool and not counted.
 */
function instrumentPool(pool: Pool, counters: Counters): void {
	const poolQuery = pool as unknown as { query: (...args: unknown[]) => Promise<unknown> };
	poolQuery.query = counted(pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>, counters);
	const wrapped = new WeakSet<object>();
	pool.on('acquire', (client) => {
		if (wrapped.has(client)) return;
		wrapped.add(client);
		const clientQuery = client as unknown as { query: (...args: unknown[]) => Promise<unknown> };
		const original = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
		const timed = counted(original, counters);
		// pool.query (counted above) runs its statement as client.query(text, values, callback): not again.
		clientQuery.query = (...args: unknown[]) => (typeof args[args.length - 1] === 'function' ? original(...args) : timed(...args));
	});
}

/** Counts attempts (and failed ones) of the shared waiting core, wrapping the instance's method. */
function instrumentAttempts(engine: LockEngine, counters: Counters): void {
	const target = engine as unknown as { attempt: (...args: unknown[]) => Promise<{ lease?: unknown }> };
	const original = target.attempt.bind(engine);
	target.attempt = async (...args: unknown[]) => {
		counters.attempts += 1;
		const result = await original(...args);
		if (!result.lease) counters.failedAttempts += 1;
		return result;
	};
}

function engineContender(engine: LockEngine, index: number, counters: Counters): Contender {
	let sequence = 0;
	return {
		acquire: async (key: string) => {
			sequence += 1;
			// Every acquire is a new n8n execution, as in production.
			const lease: LockLease = await engine.acquire(key, {
				owner: { executionId: `bench-${index}-${sequence}`, workflowId: 'bench', tenantId: `t${index}` },
				ttlMs: TTL_MS,
				waitTimeoutMs: WAIT_MS,
			});
			counters.grants += 1;
			return async () => {
				const outcome = await engine.release(lease);
				if (outcome.status !== 'released') counters.lost += 1;
			};
		},
	};
}

export interface OurPostgres extends LockKind {
	readonly engines: PostgresLockEngine[];
	readonly watches: PoolWatch[];
	readonly poolConfig: PoolConfig;
}

/** Our PostgreSQL engine as two n8n workers run it: two instances, two pools, one table. */
export function ourPostgresKind(url: string, table: string, maxConnections: number): OurPostgres {
	const counters = new Counters();
	const settings: PostgresConnectionSettings = { host: '', database: '', user: '', connectionString: url, maxConnections };
	const poolConfig: PoolConfig = poolConfigFrom(settings);
	const pools = [0, 1].map(() => {
		const pool = new Pool(poolConfig);
		pool.on('error', () => undefined);
		return pool;
	});
	const watches = pools.map((pool) => new PoolWatch(pool, maxConnections));
	for (const pool of pools) instrumentPool(pool, counters);
	const engines = pools.map((pool) => new PostgresLockEngine(pool, { table }));
	for (const engine of engines) instrumentAttempts(engine, counters);
	return {
		id: 'pg',
		label: 'ours: PostgreSQL',
		counters,
		engines,
		watches,
		poolConfig,
		contender: async (index) => engineContender(engines[index % 2], index, counters),
		close: async () => {
			await Promise.all(engines.map(async (engine) => await engine.close()));
			await Promise.all(pools.map(async (pool) => await pool.end().catch(() => undefined)));
		},
	};
}

export interface OurRedis extends LockKind {
	readonly clients: Redis[];
	readonly prefix: string;
}

/** Our Redis engine as two n8n workers run it: two instances, two clients (+ two subscribers), one prefix. */
export function ourRedisKind(host: string, port: number, prefix: string): OurRedis {
	const counters = new Counters();
	const clients = [0, 1].map(() => {
		const client = new Redis(redisOptionsFrom({ host, port }));
		client.on('error', () => undefined);
		const original = client.sendCommand.bind(client) as (...args: unknown[]) => unknown;
		(client as unknown as { sendCommand: (...args: unknown[]) => unknown }).sendCommand = (...args: unknown[]) => {
			const command = args[0] as { name?: string; promise?: Promise<unknown> };
			const t0 = performance.now();
			const result = original(...args);
			const done = () => counters.record(String(command?.name ?? 'command'), performance.now() - t0);
			command?.promise?.then(done, done);
			return result;
		};
		return client;
	});
	const engines = clients.map((client) => new RedisLockEngine(client, prefix));
	for (const engine of engines) instrumentAttempts(engine, counters);
	return {
		id: 'redis',
		label: 'ours: Redis',
		counters,
		clients,
		prefix,
		contender: async (index) => engineContender(engines[index % 2], index, counters),
		close: async () => {
			await Promise.all(engines.map(async (engine) => await engine.close()));
			for (const client of clients) client.disconnect();
		},
	};
}

/** A stable signed 64-bit advisory lock id for a key. */
export function advisoryId(key: string): string {
	const digest = createHash('sha256').update(key).digest();
	return digest.readBigInt64BE(0).toString();
}

export interface FloorKind extends LockKind {
	clients: Client[];
}

/** The floor: pg_advisory_lock / pg_advisory_unlock, each contender on its own held connection. */
export function floorKind(url: string): FloorKind {
	const counters = new Counters();
	const clients: Client[] = [];
	const byIndex = new Map<number, Promise<Client>>();
	const clientFor = (index: number) => {
		let client = byIndex.get(index);
		if (!client) {
			client = (async () => {
				const c = new Client({ connectionString: url, application_name: 'bench-floor' });
				c.on('error', () => undefined);
				await c.connect();
				clients.push(c);
				return c;
			})();
			byIndex.set(index, client);
		}
		return client;
	};
	const timed = async (client: Client, operation: string, text: string, id: string) => {
		const t0 = performance.now();
		try {
			await client.query(text, [id]);
		} finally {
			counters.record(operation, performance.now() - t0);
		}
	};
	return {
		id: 'floor',
		label: 'floor: pg_advisory_lock',
		counters,
		clients,
		contender: async (index) => {
			const client = await clientFor(index);
			return {
				acquire: async (key: string) => {
					const id = advisoryId(key);
					await timed(client, 'pg_advisory_lock', 'SELECT pg_advisory_lock($1::bigint)', id);
					counters.grants += 1;
					return async () => await timed(client, 'pg_advisory_unlock', 'SELECT pg_advisory_unlock($1::bigint)', id);
				},
			};
		},
		close: async () => {
			await Promise.all(clients.map(async (client) => await client.end().catch(() => undefined)));
		},
	};
}

export interface NaiveKind extends LockKind {
	locks: NaiveLock[];
}

/** The seeds' naive lock, also split over two "workers" (two pools), like ours. */
export function naiveKind(url: string, table: string, maxConnections: number): NaiveKind {
	const counters = new Counters();
	const pools = [0, 1].map(() => {
		const pool = new Pool({ connectionString: url, max: maxConnections, application_name: 'bench-naive' });
		pool.on('error', () => undefined);
		instrumentPool(pool, counters);
		return pool;
	});
	const locks = pools.map((pool) => new NaiveLock(pool, table));
	return {
		id: 'naive',
		label: 'naive: INSERT .. ON CONFLICT, retry 100 ms',
		counters,
		locks,
		contender: async (index) => {
			const lock = locks[index % 2];
			return {
				acquire: async (key: string) => {
					const handle = await lock.acquire(key, TTL_MS, WAIT_MS);
					counters.grants += 1;
					return async () => await lock.release(handle);
				},
			};
		},
		close: async () => {
			await Promise.all(pools.map(async (pool) => await pool.end().catch(() => undefined)));
		},
	};
}
