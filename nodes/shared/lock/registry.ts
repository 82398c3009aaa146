import Redis, { type RedisOptions } from 'ioredis';

import { LockConfigurationError } from './errors';
import { abandonHeldLocks } from './HeldLock';
import { stopLeaseKeepers } from './LeaseKeeper';
import { MemoryLockEngine } from './MemoryLockEngine';
import { PostgresLockEngine, type LockTableName } from './postgres';
import { connectionIdentity, poolConfigFrom, sharedPool, type PostgresConnectionSettings } from './postgresPool';
import { replicaWaitFromEnvironment } from './redis/replicaWait';
import { DEFAULT_REDIS_PREFIX, RedisLockEngine, redisOptionsFrom, type RedisConnectionSettings, type ReplicaWait } from './RedisLockEngine';

export type LockBackend = 'postgres' | 'redis' | 'memory';

/**
 * Both nodes must see the same locks, so engines live once per process, keyed by where they
 * connect and as whom, never by the secret: a rotated password moves the same engine (which held
 * locks and the lease keeper reference) to a new pool or client, and the old one is closed.
 */
const postgresEngines = new Map<string, { engine: PostgresLockEngine; identity: string }>();
const redisEngines = new Map<string, { engine: RedisLockEngine; identity: string }>();
/** One Redis connection per Redis per process (plus one subscriber per engine). */
const redisClients = new Map<string, { client: Redis; fingerprint: string }>();
let memoryEngine: MemoryLockEngine | undefined;

export function postgresLockEngine(
	settings: PostgresConnectionSettings,
	tableName: LockTableName = {},
): PostgresLockEngine {
	const config = poolConfigFrom(settings);
	const { identity } = connectionIdentity(config);
	const id = `${identity}|${tableName.schema ?? ''}|${tableName.table ?? ''}`;
	const pool = sharedPool(config);
	const entry = postgresEngines.get(id);
	if (entry) {
		if (entry.engine.pool !== pool) {
			// A new password: every engine on this database moves to the new pool before the old one closes.
			for (const other of postgresEngines.values()) if (other.identity === identity) other.engine.usePool(pool);
		}
		return entry.engine;
	}
	const engine = new PostgresLockEngine(pool, tableName);
	postgresEngines.set(id, { engine, identity });
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

/**
 * `replicaWait`: WAIT for replicas after acquire and extend (see ReplicaWait); by default the
 * deployment's TENANT_SWAP_REDIS_WAIT_REPLICAS / TENANT_SWAP_REDIS_WAIT_TIMEOUT_MS. The engine is one
 * per Redis and prefix; the latest setting applies to it.
 */
export function redisLockEngine(
	settings: RedisConnectionSettings,
	prefix = DEFAULT_REDIS_PREFIX,
	replicaWait: ReplicaWait | undefined = replicaWaitFromEnvironment(process.env),
): RedisLockEngine {
	const options = { ...redisOptionsFrom(settings), ...lockRedisOptions() };
	const identity = JSON.stringify({ ...options, password: undefined });
	const fingerprint = JSON.stringify(options);
	let current = redisClients.get(identity);
	if (current?.fingerprint !== fingerprint) {
		const client = new Redis(options);
		// Connection errors surface on the commands; an unhandled 'error' event would crash n8n.
		client.on('error', () => undefined);
		const old = current?.client;
		current = { client, fingerprint };
		redisClients.set(identity, current);
		if (old) {
			for (const other of redisEngines.values()) if (other.identity === identity) other.engine.useClient(client);
			// QUIT is answered after the replies still pending: commands already sent finish.
			void old.quit().catch(() => old.disconnect());
		}
	}
	const id = `${identity}|${prefix}`;
	let entry = redisEngines.get(id);
	if (!entry) {
		entry = { engine: new RedisLockEngine(current.client, prefix), identity };
		redisEngines.set(id, entry);
	}
	entry.engine.setReplicaWait(replicaWait);
	return entry.engine;
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
	await Promise.all(engines.map(async ({ engine }) => await engine.close()));
	const clients = [...redisClients.values()];
	redisClients.clear();
	for (const { client } of clients) client.disconnect();
}
