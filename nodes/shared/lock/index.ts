export * from './errors';
export * from './types';
export { MemoryLockEngine } from './MemoryLockEngine';
export {
	DEFAULT_LOCK_SCHEMA,
	DEFAULT_LOCK_TABLE,
	hashLockKey,
	PostgresLockEngine,
	validateIdentifier,
} from './PostgresLockEngine';
export {
	closeSharedPools,
	poolConfigFrom,
	sharedPool,
	type PostgresConnectionSettings,
} from './postgresPool';
export { closeLockEngines, memoryLockEngine, postgresLockEngine, type LockBackend } from './registry';
