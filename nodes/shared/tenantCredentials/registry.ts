import { MemoryLockEngine } from '../lock/MemoryLockEngine';
import { PostgresLockEngine } from '../lock/postgres';
import { RedisLockEngine } from '../lock/RedisLockEngine';
import type { LockStore } from '../lock/types';
import { MemoryTenantCredentialRegistry } from './memoryRegistry';
import { PostgresTenantCredentialRegistry } from './postgresRegistry';
import { RedisTenantCredentialRegistry } from './redisRegistry';
import type { TenantCredentialRegistry } from './registryTypes';

/** One registry per lock engine: the PostgreSQL one remembers that its table exists. */
const registries = new WeakMap<LockStore, TenantCredentialRegistry>();

/** The tenant credential registry kept in this lock store (the lock registry's engines are per process). */
export function tenantCredentialRegistryFor(store: LockStore): TenantCredentialRegistry {
	let registry = registries.get(store);
	if (!registry) {
		registry = registryOf(store);
		registries.set(store, registry);
	}
	return registry;
}

function registryOf(store: LockStore): TenantCredentialRegistry {
	if (store instanceof PostgresLockEngine) return new PostgresTenantCredentialRegistry(store);
	if (store instanceof RedisLockEngine) return new RedisTenantCredentialRegistry(store);
	if (store instanceof MemoryLockEngine) return new MemoryTenantCredentialRegistry();
	throw new Error(`No tenant credential registry for the "${store.backend}" lock store ${store.constructor.name}`);
}

export { MAX_KNOWN_CREDENTIAL_IDS, type NewTenantCredential, type TenantCredentialRecord, type TenantCredentialRegistry } from './registryTypes';
