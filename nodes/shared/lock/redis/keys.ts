import { LockConfigurationError } from '../errors';

export const DEFAULT_REDIS_PREFIX = 'tenant-swap:';

/**
 * Every key of the Redis lock, named here and nowhere else: the scripts get them as KEYS (or, for
 * keys found inside a script, as a name prefix from `insideScripts`), never build them from the prefix.
 *
 * For a lock key whose SHA-256 is H:
 * - `lease:H`: a hash with the holder; expires with the lease.
 * - `queue:H` (sorted set: ticket -> arrival number) and `tickets:H` (hash: ticket -> end of its
 *   lease): the waiting registry; Redis deletes them when their last ticket leaves, and both expire
 *   two ticket leases after the last registration (dead waiters).
 * - `released:<token>`: the tombstone of a released lease (see RedisLockEngine's TOMBSTONE_MARGIN_MS).
 * - `exec:<owner>`: the key hashes an owner holds (owner = `<instance>:<execution>`, or the execution
 *   alone); lives as long as the owner's longest lease.
 * - `fence`: one counter for every key (a per-key counter would outlive its key forever).
 *   `fence:H` is the per-key counter of earlier versions, read once and deleted on the next acquire.
 * - `state:<credential>`: the swap state; `audit`: the audit trail; `released`: the wake-up channel.
 */
export class RedisKeyLayout {
	readonly fence: string;
	readonly audit: string;
	readonly releaseChannel: string;
	/** Name prefixes for keys a script finds by hash or token (releaseExecution reads hashes from the owner index). */
	readonly insideScripts: { lease: string; queue: string; tickets: string; tombstone: string };

	constructor(readonly prefix = DEFAULT_REDIS_PREFIX) {
		if (!/^[\w:.-]{1,100}$/.test(prefix)) {
			throw new LockConfigurationError(`Invalid Redis key prefix "${prefix.slice(0, 80)}": use letters, digits, _ : . - (at most 100)`);
		}
		this.fence = `${prefix}fence`;
		this.audit = `${prefix}audit`;
		this.releaseChannel = `${prefix}released`;
		this.insideScripts = { lease: `${prefix}lease:`, queue: `${prefix}queue:`, tickets: `${prefix}tickets:`, tombstone: `${prefix}released:` };
	}

	lease(keyHash: string): string {
		return this.insideScripts.lease + keyHash;
	}

	queue(keyHash: string): string {
		return this.insideScripts.queue + keyHash;
	}

	tickets(keyHash: string): string {
		return this.insideScripts.tickets + keyHash;
	}

	tombstone(token: string): string {
		return this.insideScripts.tombstone + token;
	}

	/** The per-key fence counter of versions before the global one (migration only). */
	legacyFence(keyHash: string): string {
		return `${this.prefix}fence:${keyHash}`;
	}

	ownerIndex(executionId: string, instanceId?: string): string {
		return instanceId ? `${this.prefix}exec:${instanceId}:${executionId}` : `${this.prefix}exec:${executionId}`;
	}

	swapState(credentialKey: string): string {
		return `${this.prefix}state:${credentialKey}`;
	}

	/** SCAN pattern of every lease. */
	get leasePattern(): string {
		return `${this.insideScripts.lease}*`;
	}

	/** The key hash of a lease key found by SCAN. */
	hashOfLease(leaseKey: string): string {
		return leaseKey.slice(this.insideScripts.lease.length);
	}
}
