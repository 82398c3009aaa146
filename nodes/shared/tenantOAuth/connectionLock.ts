import { LockTimeoutError, type HeldLockLogger, type LockClient, type LockOwner } from '../lock';
import { SwapItemError } from '../swap/errors';
import { releaseOrLetExpire } from '../swap/releaseLock';

/** Writing or deleting a tenant's credential is a few API calls: the lock outlives them, renewing itself. */
const CONNECTION_LOCK_TTL_MS = 30_000;
export const CONNECTION_LOCK_WAIT_MS = 60_000;

/**
 * The lock of one tenant's connection: the trigger's Complete holds it while it writes the tenant's
 * credential and records it, Disconnect while it forgets and deletes them (the same key on both, or a
 * Complete could record a credential Disconnect just deleted).
 */
export function tenantConnectionLockKey(connection: string, tenantId: string): string {
	return `tenant-oauth:${JSON.stringify([connection, tenantId])}`;
}

/** Runs `work` while holding one tenant's connection lock. */
export type ConnectionHold = <T>(work: () => Promise<T>) => Promise<T>;

export function connectionHold(
	locks: LockClient,
	owner: Omit<LockOwner, 'tenantId'>,
	target: { connection: string; tenantId: string },
	itemIndexes: number[],
	log?: HeldLockLogger,
	waitTimeoutMs = CONNECTION_LOCK_WAIT_MS,
): ConnectionHold {
	return async (work) => {
		const { lock, reentered } = await locks
			.acquire(
				tenantConnectionLockKey(target.connection, target.tenantId),
				{ owner: { ...owner, tenantId: target.tenantId }, ttlMs: CONNECTION_LOCK_TTL_MS, waitTimeoutMs },
				log,
			)
			.catch((error: unknown) => {
				if (!(error instanceof LockTimeoutError)) throw error;
				throw new SwapItemError("Another execution held this tenant's connection for the whole wait (a connect or disconnect of the same tenant)", itemIndexes, {
					description: 'Nothing was changed. Run Disconnect again; if it keeps happening, check that the n8n API answers (the other execution waits for it).',
					cause: error,
				});
			});
		try {
			return await work();
		} finally {
			if (!reentered) await releaseOrLetExpire(lock, log, "a tenant's OAuth2 connection");
		}
	};
}
