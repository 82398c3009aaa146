import type { HeldLock, HeldLockLogger } from '../lock';

/**
 * Frees a lock this code took itself. A release the store does not confirm is never swallowed: it is
 * logged, and the lock stops renewing, so the lease ends by its TTL instead of being renewed for ever
 * by a holder that is done with it.
 */
export async function releaseOrLetExpire(lock: HeldLock, log: HeldLockLogger | undefined, purpose: string): Promise<void> {
	try {
		await lock.release();
	} catch (error) {
		lock.stopRenewing();
		log?.warn(`Tenant Credential Swap could not release the lock of ${purpose}; it is no longer renewed and ends by its TTL`, {
			lockKey: lock.key,
			executionId: lock.owner.executionId,
			ttlMs: lock.ttlMs,
			error: error instanceof Error ? error.message : String(error),
		});
	}
}
