export * from './errors';
export * from './types';
export { MemoryLockEngine, type MemoryLockOptions } from './MemoryLockEngine';
export {
	DEFAULT_LOCK_SCHEMA,
	DEFAULT_LOCK_TABLE,
	hashLockKey,
	PostgresLockEngine,
	validateIdentifier,
} from './postgres';
export {
	closeSharedPools,
	poolConfigFrom,
	sharedPool,
	type PostgresConnectionSettings,
} from './postgresPool';
export { closeLockEngines, memoryLockEngine, postgresLockEngine, redisLockEngine, type LockBackend } from './registry';
export { DEFAULT_REDIS_PREFIX, RedisLockEngine, redisOptionsFrom, type RedisConnectionSettings, type ReplicaWait } from './RedisLockEngine';
export { leaseKeeper, LeaseKeeper, stopLeaseKeepers, type KeeperLogger, type KeepOptions } from './LeaseKeeper';
export {
	executionStateOf,
	lookupOfStatus,
	type ExecutionLookup,
	type ExecutionState,
	type ExecutionStatusSource,
} from './executionFollowing';
export { recordLockLoss, takeLockLoss, takeLockLosses, type LockLoss } from './lockLosses';
export { driftMarginMs, HeldLock, type HeldLockLogger, type HeldLockOptions, type HeldLockState, type LockLostHandler } from './HeldLock';
export { abandonHeldLocks, LockClient, lockClientFor, type Acquired } from './LockClient';
export { MAX_LOCK_TTL_MS } from './waiting';
