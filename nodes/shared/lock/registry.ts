import Redis, { type RedisOptions } from 'ioredis';

import { LockConfigurationError } from './errors';
import { abandonHeldLocks } from './HeldLock';
import { stopLeaseKeepers } from './LeaseKeeper';
import { MemoryLockEngine } from './MemoryLockEngine';
import { PostgresLockEngine, type LockTableName } from './PostgresLockEngine';
import { poolConfigFrom, poolKey, sharedPool, type PostgresConnectionSettings } from './postgresPool';
import { DEFAULT_REDIS_PREFIX, RedisLockEngine, redisOptionsFrom, type RedisConnectionSettings } from './RedisLockEngine';

export type LockBackend = 'postgres' | 'redis' | 'memory';

/** Both nodes must see the same locks, so engines live once per process. */
const postgresEngines = new Map<string, PostgresLockEngine>();
const redisEngines = new Map<string, RedisLockEngine>();
/** One Redis connection per Redis per process (plus one subscriber per engine). */
const redisClients = new Map<string, Redis>();
let memoryEngine: MemoryLockEngine | undefined;

export function postgresLockEngine(
	settings: PostgresConnectionSettings,
	tableName: LockTableName = {},
): PostgresLockEngine {
	const config = poolConfigFrom(settings);
	const id = `${poolKey(config)}|${tableName.schema ?? ''}|${tableName.table ?? ''}`;
	let engine = postgresEngines.get(id);
	if (!engine) {
		engine = new PostgresLockEngine(sharedPool(config), tableName);
		postgresEngines.set(id, engine);
	}
	return engine;
}

/**
 * What the lock adds to the options n8n's Redis credential gives (redisOptionsFrom). ioredis has no
 * command timeout by default: a Redis that stops answering without closing the connection (a
 * network partition, a stopped or overloaded server) would leave every lock call, and the waiters
 * behind it, hanging for good. With it, such a call fails as LockStoreUnavailableError.
 */
export const REDIS_COMMAND_TIMEOUT_MS = 10_000;

export function lockRedisOptions(): Pick<RedisOptions, 'commandTimeout'> {
	return { commandTimeout: REDIS_COMMAND_TIMEOUT_MS };
}

export function redisLockEngine(settings: RedisConnectionSettings, prefix = DEFAULT_REDIS_PREFIX): RedisLockEngine {
	const options = { ...redisOptionsFrom(settings), ...lockRedisOptions() };
	const clientId = JSON.stringify(options);
	let client = redisClients.get(clientId);
	if (!client) {
		client = new Redis(options);
		// Connection errors surface on the commands; an unhandled 'error' event would crash n8n.
		client.on('error', () => undefined);
		redisClients.set(clientId, client);
	}
	const id = `${clientId}|${prefix}`;
	let engine = redisEngines.get(id);
	if (!engine) {
		engine = new RedisLockEngine(client, prefix);
		redisEngines.set(id, engine);
	}
	return engine;
}

export function memoryLockEngine(executionsMode = process.env.EXECUTIONS_MODE): MemoryLockEngine {
	if (executionsMode === 'queue') {
		throw new LockConfigurationError(
			'The "In-Memory" lock backend only works inside one n8n process, but this n8n runs in queue mode (EXECUTIONS_MODE=queue), where executions run on several workers. Choose the PostgreSQL or Redis lock backend.',
		);
	}
	memoryEngine ??= new MemoryLockEngine();
	return memoryEngine;
}

/** For tests: stops lease renewals and listeners so the process can exit (pools: closeSharedPools). */
export async function closeLockEngines(): Promise<void> {
	stopLeaseKeepers();
	abandonHeldLocks();
	const engines = [...postgresEngines.values(), ...redisEngines.values()];
	postgresEngines.clear();
	redisEngines.clear();
	memoryEngine = undefined;
	await Promise.all(engines.map(async (engine) => await engine.close()));
	const clients = [...redisClients.values()];
	redisClients.clear();
	for (const client of clients) client.disconnect();
}
