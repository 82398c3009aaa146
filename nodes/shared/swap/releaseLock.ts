import type { HeldLock, HeldLockLogger } from '../lock';

/**
 * Frees a lock this code took itself. A release the store does not confirm is never swallowed: the
 * held lock has already stopped renewing (the lease ends by its TTL) and retries the release in the
 * background; this names what the lock was for in n8n's log.
 */
export async function releaseOrLetExpire(lock: HeldLock, log: HeldLockLogger | undefined, purpose: string): Promise<void> {
	try {
		await lock.release();
	} catch (error) {
		log?.warn(`Tenant Credential Swap could not release the lock of ${purpose}; it is no longer renewed and ends by its TTL`, {
			lockKey: lock.key,
			executionId: lock.owner.executionId,
			ttlMs: lock.ttlMs,
			error: error instanceof Error ? error.message : String(error),
		});
	}
}
