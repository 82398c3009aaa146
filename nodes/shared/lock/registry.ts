import { LockConfigurationError } from './errors';
import { MemoryLockEngine } from './MemoryLockEngine';
import { PostgresLockEngine, type LockTableName } from './PostgresLockEngine';
import { poolConfigFrom, poolKey, sharedPool, type PostgresConnectionSettings } from './postgresPool';

export type LockBackend = 'postgres' | 'memory';

/** Both nodes must see the same locks, so engines live once per process. */
const postgresEngines = new Map<string, PostgresLockEngine>();
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

export function memoryLockEngine(executionsMode = process.env.EXECUTIONS_MODE): MemoryLockEngine {
	if (executionsMode === 'queue') {
		throw new LockConfigurationError(
			'The "In-Memory" lock backend only works inside one n8n process, but this n8n runs in queue mode (EXECUTIONS_MODE=queue), where executions run on several workers. Choose the PostgreSQL lock backend.',
		);
	}
	memoryEngine ??= new MemoryLockEngine();
	return memoryEngine;
}

/** For tests: stops listeners so the process can exit (pools: closeSharedPools). */
export async function closeLockEngines(): Promise<void> {
	const engines = [...postgresEngines.values()];
	postgresEngines.clear();
	memoryEngine = undefined;
	await Promise.all(engines.map(async (engine) => await engine.close()));
}
