export { AUDIT_RETENTION_DAYS, PostgresAuditTrail } from './auditTrail';
export { NOTIFY_CHANNEL, type EngineLogger } from './listener';
export { FREE_ROW_GRACE_MS, PostgresLockEngine, type PostgresConnectionOptions, type PostgresStoreAccess, type SweepResult } from './lockEngine';
export { AUDIT_TABLE, DEFAULT_LOCK_SCHEMA, DEFAULT_LOCK_TABLE, validateIdentifier, type LockTableName } from './schema';
export { PostgresSwapStateStore } from './swapStateStore';
export { hashLockKey } from '../StoreLockEngine';
