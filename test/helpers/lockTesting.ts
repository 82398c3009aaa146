/**
 * Shared tooling for the lock engine integration tests (test/integration/lock*.test.ts):
 * engine factories for both backends, an overlap detector, liveness guards and a TCP proxy
 * that can cut a pool off from PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Pool, type PoolConfig } from 'pg';

import { MemoryLockEngine } from '../../nodes/shared/lock/MemoryLockEngine';
import { hashLockKey, PostgresLockEngine, type LockTableName } from '../../nodes/shared/lock/postgres';
import { RedisLockEngine } from '../../nodes/shared/lock/RedisLockEngine';
import { StoreLockEngine, type StoreLockOptions } from '../../nodes/shared/lock/StoreLockEngine';
import Redis from 'ioredis';
import type { AcquireOptions, LockEngine, LockOwner, LockStore } from '../../nodes/shared/lock/types';

// Captured at load time, before any test installs fake timers: guards and pauses must stay real.
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
const realSetImmediate = globalThis.setImmediate;

export function testDatabaseUrl(): string {
	const url = process.env.TEST_DATABASE_URL;
	if (!url) throw new Error('TEST_DATABASE_URL is not set: the jest globalSetup should have provided it');
	return url;
}

let counter = 0;
/** A PostgreSQL identifier (lower case, < 63 chars) no other test or run uses. */
export function uniqueName(prefix: string): string {
	counter += 1;
	return `${prefix}_${process.pid}_${counter}_${randomBytes(3).toString('hex')}`.toLowerCase();
}

/** A lock key no other test uses. */
export function uniqueKey(prefix: string): string {
	counter += 1;
	return `${prefix}:${process.pid}:${counter}:${randomBytes(4).toString('hex')}`;
}

export function owner(executionId: string, workflowId = 'wf-lock-tests', tenantId?: string): LockOwner {
	return { executionId, workflowId, tenantId };
}

export function options(executionId: string, ttlMs: number, waitTimeoutMs: number, workflowId?: string): AcquireOptions {
	return { owner: owner(executionId, workflowId), ttlMs, waitTimeoutMs };
}

/** Real-timer sleep (works while jest fake timers are installed). */
export async function sleep(ms: number): Promise<void> {
	await new Promise<void>((resolve) => realSetTimeout(resolve, ms));
}

/** Yields `turns` times to the event loop (I/O included), then sleeps up to `maxRandomMs`. */
export async function pause(turns: number, maxRandomMs = 0): Promise<void> {
	for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => realSetImmediate(resolve));
	if (maxRandomMs > 0) await sleep(Math.random() * maxRandomMs);
}

/**
 * Liveness guard: rejects when `promise` has not settled after `ms`. Used so a deadlock or a missed
 * wake-up fails fast with a clear message instead of a jest timeout; it asserts nothing about speed.
 */
export async function guard<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
	let timer: ReturnType<typeof setTimeout> | undefined;
	const expired = new Promise<never>((_, reject) => {
		timer = realSetTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms (stuck?)`)), ms);
	});
	try {
		return await Promise.race([promise, expired]);
	} finally {
		realClearTimeout(timer);
	}
}

/** Awaits a promise expected to reject and returns the rejection (fails if it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<any> {
	try {
		await promise;
	} catch (error) {
		return error;
	}
	throw new Error('expected the promise to reject, but it resolved');
}

/**
 * Waiters currently queued on `key` inside this engine. White-box (reads private state) so tests can
 * wait until a waiter is really blocked instead of sleeping a guessed amount of time.
 * Memory: the slot's waiter list. PostgreSQL / Redis: this process's waiters whose first attempt
 * found the key taken (so they hold a ticket in the store's waiting registry).
 */
export function queuedWaiters(engine: LockEngine, key: string): number {
	if (engine instanceof MemoryLockEngine) {
		const slots = (engine as unknown as { slots: Map<string, { waiters: unknown[] }> }).slots;
		return slots.get(key)?.waiters.length ?? 0;
	}
	if (engine instanceof StoreLockEngine) {
		const waiters = (engine as unknown as { waiters: Map<string, Map<string, { queued: boolean }>> }).waiters;
		return [...(waiters.get(hashLockKey(key))?.values() ?? [])].filter((waiter) => waiter.queued).length;
	}
	throw new Error(`queuedWaiters: unknown engine ${String(engine)}`);
}

/** Resolves once at least `count` waiters are queued on `key` in `engine`. */
export async function untilQueued(engine: LockEngine, key: string, count: number, limitMs = 10_000): Promise<void> {
	const giveUp = Date.now() + limitMs;
	while (queuedWaiters(engine, key) < count) {
		if (Date.now() > giveUp) {
			throw new Error(`only ${queuedWaiters(engine, key)} of ${count} waiters got queued on "${key}"`);
		}
		await sleep(2);
	}
	// A few more turns so the head waiter reaches its sleep (registered for wake-ups).
	await pause(5);
	await sleep(20);
}

/**
 * Detects two holders inside the same critical section. Each holder marks itself inside, yields a
 * few event-loop turns plus a random delay, checks that nobody else came in, then leaves.
 */
export class OverlapDetector {
	private readonly inside = new Map<string, Set<string>>();
	entries = 0;
	readonly violations: string[] = [];

	async critical(key: string, who: string, turns = 3, maxRandomMs = 2): Promise<void> {
		let set = this.inside.get(key);
		if (!set) {
			set = new Set();
			this.inside.set(key, set);
		}
		if (set.size > 0) this.violations.push(`${who} entered "${key}" while ${[...set].join(', ')} inside`);
		set.add(who);
		this.entries += 1;
		await pause(turns, maxRandomMs);
		if (set.size !== 1) {
			const others = [...set].filter((x) => x !== who);
			this.violations.push(`${who} saw ${others.join(', ')} inside "${key}" with it`);
		}
		set.delete(who);
	}
}

/**
 * A "lock" that grants every acquire at once: the control for the overlap detector (same
 * contenders, same detector, no exclusion), so a passing mutual-exclusion test means something.
 */
export type AcquireRelease = Pick<LockEngine, 'acquire' | 'release'>;

export function noLockEngine(): AcquireRelease {
	let fence = 0;
	return {
		async acquire(key, acquireOptions) {
			fence += 1;
			const now = new Date();
			return {
				key,
				token: randomBytes(8).toString('hex'),
				fence,
				owner: acquireOptions.owner,
				acquiredAt: now,
				expiresAt: new Date(now.getTime() + acquireOptions.ttlMs),
				waitedMs: 0,
			};
		},
		async release(handle) {
			return { key: handle.key, status: 'released' };
		},
	};
}

export function isStrictlyIncreasing(values: number[]): boolean {
	return values.every((value, index) => index === 0 || value > values[index - 1]);
}

/** A local port nothing listens on (was free a moment ago). */
export async function closedPort(): Promise<number> {
	return await new Promise((resolve, reject) => {
		const server = createServer();
		server.once('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const address = server.address();
			server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
		});
	});
}

/**
 * Owns the pools and engines a test file creates on the test database and closes them (and drops
 * the tables/schemas it created) in one call from afterAll.
 */
export class PostgresLockFixture {
	private readonly pools = new Set<Pool>();
	private readonly engines = new Set<PostgresLockEngine>();
	private readonly tables = new Set<string>();
	private readonly schemas = new Set<string>();
	private admin?: Pool;

	constructor(readonly url = testDatabaseUrl()) {}

	/** A new pool: a separate set of connections, as another n8n process would have. */
	pool(config: PoolConfig = {}): Pool {
		const pool = new Pool({ connectionString: this.url, max: 6, ...config });
		// An idle client's error (server gone) must not crash the test process.
		pool.on('error', () => undefined);
		this.pools.add(pool);
		return pool;
	}

	/** A new engine on its own new pool ("another process") unless a pool is given. */
	engine(name: LockTableName, pool: Pool = this.pool(), engineOptions: StoreLockOptions = {}): PostgresLockEngine {
		const engine = new PostgresLockEngine(pool, name, engineOptions);
		this.engines.add(engine);
		this.tables.add(`"${name.schema ?? 'public'}"."${name.table}"`);
		if (name.schema && name.schema !== 'public') this.schemas.add(name.schema);
		return engine;
	}

	async query<T = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<T[]> {
		this.admin ??= this.pool({ max: 2 });
		return (await this.admin.query(text, values)).rows as T[];
	}

	/** Closes one engine and its pool early (idempotent with close()). */
	async closeEngine(engine: PostgresLockEngine, pool?: Pool): Promise<void> {
		this.engines.delete(engine);
		await engine.close();
		if (pool && this.pools.delete(pool)) await pool.end().catch(() => undefined);
	}

	async close(): Promise<void> {
		const engines = [...this.engines];
		this.engines.clear();
		await Promise.all(engines.map(async (engine) => await engine.close()));
		try {
			for (const table of this.tables) await this.query(`DROP TABLE IF EXISTS ${table}`);
			for (const schema of this.schemas) await this.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
		} catch {
			// Cleanup only; a throwaway server disappears anyway.
		}
		const pools = [...this.pools];
		this.pools.clear();
		await Promise.all(pools.map(async (pool) => await pool.end().catch(() => undefined)));
	}
}

/** One backend under test, as seen by the shared suites. */
export interface EngineUnderTest {
	readonly backend: 'postgres' | 'redis' | 'memory';
	/** The engine most tests use. */
	readonly engine: LockStore;
	/**
	 * An engine standing for another n8n process: PostgreSQL = another engine instance with its own
	 * pool on the same table (wake-ups must come through NOTIFY); Memory = the same engine (it has
	 * only one process by design).
	 */
	readonly other: LockStore;
	/** `count` engines sharing the same locks, created fresh (separate pools of `poolSize` for PostgreSQL). */
	group(count: number, poolSize?: number): { engines: LockStore[]; close(): Promise<void> };
	close(): Promise<void>;
}

export interface EngineFactory {
	readonly backend: 'postgres' | 'redis' | 'memory';
	create(): Promise<EngineUnderTest>;
}

export const postgresFactory = (tablePrefix: string): EngineFactory => ({
	backend: 'postgres',
	async create() {
		const fixture = new PostgresLockFixture();
		const name = { table: uniqueName(tablePrefix) };
		const engine = fixture.engine(name);
		const other = fixture.engine(name);
		return {
			backend: 'postgres',
			engine,
			other,
			group(count, poolSize = 3) {
				const members = Array.from({ length: count }, () => {
					const pool = fixture.pool({ max: poolSize });
					return { pool, engine: fixture.engine(name, pool) };
				});
				return {
					engines: members.map((m) => m.engine),
					close: async () => {
						await Promise.all(members.map(async (m) => await fixture.closeEngine(m.engine, m.pool)));
					},
				};
			},
			close: async () => await fixture.close(),
		};
	},
});

export const memoryFactory: EngineFactory = {
	backend: 'memory',
	async create() {
		const engine = new MemoryLockEngine();
		return {
			backend: 'memory',
			engine,
			other: engine,
			group(count) {
				const shared = new MemoryLockEngine();
				return { engines: Array.from({ length: count }, () => shared), close: async () => undefined };
			},
			close: async () => undefined,
		};
	},
};

/** Forwards TCP to PostgreSQL; `cut()` stops listening and kills every forwarded connection. */
export class TcpProxy {
	private readonly sockets = new Set<Socket>();
	private server?: Server;
	port = 0;

	constructor(
		private readonly targetHost: string,
		private readonly targetPort: number,
	) {}

	static forUrl(url: string): TcpProxy {
		const parsed = new URL(url);
		return new TcpProxy(parsed.hostname || '127.0.0.1', Number(parsed.port || 5432));
	}

	async start(): Promise<void> {
		this.server = createServer((inbound) => {
			const outbound = connect(this.targetPort, this.targetHost);
			for (const socket of [inbound, outbound]) {
				this.sockets.add(socket);
				socket.on('close', () => this.sockets.delete(socket));
				socket.on('error', () => undefined);
			}
			inbound.pipe(outbound);
			outbound.pipe(inbound);
			inbound.on('close', () => outbound.destroy());
			outbound.on('close', () => inbound.destroy());
		});
		await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
		const address = this.server.address();
		this.port = typeof address === 'object' && address ? address.port : 0;
	}

	/** URL of the proxied database. */
	urlFor(url: string): string {
		const parsed = new URL(url);
		parsed.hostname = '127.0.0.1';
		parsed.port = String(this.port);
		return parsed.toString();
	}

	async cut(): Promise<void> {
		const server = this.server;
		this.server = undefined;
		for (const socket of this.sockets) socket.destroy();
		this.sockets.clear();
		if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
	}
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ensureRedis } = require('../harness/redis.js');
let redisServer: Promise<{ host: string; port: number; stop(): Promise<void> }> | undefined;

/** Redis: each engine has its own connections (like separate n8n processes) on one key prefix. */
export const redisFactory = (prefixName: string): EngineFactory => ({
	backend: 'redis',
	async create() {
		const server = (redisServer ??= ensureRedis() as Promise<{ host: string; port: number; stop(): Promise<void> }>);
		const { host, port } = await server;
		const prefix = `${uniqueName(prefixName)}:`;
		const clients: Redis[] = [];
		const engines: RedisLockEngine[] = [];
		const make = () => {
			const client = new Redis({ host, port, maxRetriesPerRequest: 1 });
			client.on('error', () => undefined);
			clients.push(client);
			const engine = new RedisLockEngine(client, prefix);
			engines.push(engine);
			return { client, engine };
		};
		const closeAll = async (members: Array<{ client: Redis; engine: RedisLockEngine }>) => {
			for (const member of members) {
				await member.engine.close();
				member.client.disconnect();
			}
		};
		const main = make();
		const other = make();
		return {
			backend: 'redis',
			engine: main.engine,
			other: other.engine,
			group(count) {
				const members = Array.from({ length: count }, make);
				return { engines: members.map((m) => m.engine), close: async () => await closeAll(members) };
			},
			close: async () => {
				const keys = await main.client.keys(`${prefix}*`);
				if (keys.length > 0) await main.client.del(...keys);
				await closeAll([main, other]);
			},
		};
	},
});
