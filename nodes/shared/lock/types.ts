/**
 * Who holds a lock: recorded in the lock store, shown in timeout errors. The owner's identity is
 * the n8n instance plus the execution (`ownerKey`): two n8n instances sharing a lock database each
 * count executions from 1, so an execution ID alone names two owners.
 */
export interface LockOwner {
	/** n8n's instance ID (the same for a main and its queue-mode workers). */
	instanceId?: string;
	executionId: string;
	workflowId?: string;
	tenantId?: string;
}

export interface AcquireOptions {
	owner: LockOwner;
	/** Lease length; the holder loses the lock when it runs out without an extend. */
	ttlMs: number;
	/** How long to wait for a held lock before giving up with a LockTimeoutError. 0 = try once. */
	waitTimeoutMs: number;
	/** Aborted when n8n cancels the execution: a waiter withdraws its ticket and throws LockWaitCancelledError. */
	signal?: AbortSignal;
}

/** A held lock. `token` proves ownership; `fence` grows with every new holder of the key. */
export interface LockLease {
	key: string;
	token: string;
	fence: number;
	owner: LockOwner;
	acquiredAt: Date;
	expiresAt: Date;
	/** Time spent waiting for the lock in this acquire call. */
	waitedMs: number;
	/**
	 * performance.now() when the request that took the lease was sent: the store started the lease
	 * after this, so the lease lasts at least until requestSentAt + TTL by this process's clock.
	 */
	requestSentAt?: number;
}

export interface LockHandle {
	key: string;
	token: string;
}

export type ReleaseStatus = 'released' | 'lost';

export interface ReleaseOutcome {
	key: string;
	status: ReleaseStatus;
	/** How long the lock was held, for a released lock. */
	heldMs?: number;
}

export interface LockHolder {
	owner: LockOwner;
	acquiredAt: Date;
	expiresAt: Date;
}

/** A held lock as operators see it: who holds which key since when, and how many wait for it. */
export interface ListedLock extends LockHolder {
	key: string;
	token: string;
	fence: number;
	/** Live waiters' tickets for the key (every process). */
	waiting: number;
}

/** What a swap last wrote into a base credential: a keyed hash of the data, never the data. */
export interface SwapState {
	dataHmac: string;
	/** n8n's updatedAt of the credential right after that write. */
	credentialUpdatedAt: string;
}

/** One line of the audit trail: who swapped or released what, when, how it went. Never credential data. */
export interface AuditEvent {
	action: 'swap' | 'release';
	outcome: 'patched' | 'unchanged' | 'released' | 'lost' | 'failed';
	executionId: string;
	workflowId?: string;
	tenantId?: string;
	baseCredentialId?: string;
	lockKey?: string;
	waitedMs?: number;
	heldMs?: number;
	/** For a failure: the error message (already free of credential data). */
	detail?: string;
}

/**
 * The lease primitives a store implements. A raw lease does not renew itself: callers that hold a
 * lock while other work runs use LockClient.acquire (HeldLock.ts), which renews from the grant.
 */
export interface LockEngine {
	readonly backend: 'postgres' | 'redis' | 'memory';
	/** Takes a free key (waiting up to waitTimeoutMs). A key held by anyone, even this owner, is not free. */
	acquire(key: string, options: AcquireOptions): Promise<LockLease>;
	/**
	 * Renews the lease. Throws LockReleasedError when the store recorded a release of this token
	 * (tombstone), LockLostError for any other absence (expired, taken over, or the store forgot it).
	 */
	extend(handle: LockHandle, ttlMs: number): Promise<LockLease>;
	/** Frees the key only if `token` still holds it; a lock taken over by someone else is reported lost. */
	release(handle: LockHandle): Promise<ReleaseOutcome>;
	/** Frees every live lease of an owner (instance + execution): Release Lock, error workflows. Leases that ran out are not listed (as on every backend). */
	releaseExecution(executionId: string, instanceId?: string): Promise<ReleaseOutcome[]>;
	/** Current holder of a key, if any (expired leases count as free). */
	holder(key: string): Promise<LockHolder | undefined>;
	/** The keys held now (longest held first), at most `limit`. */
	heldLocks(limit: number): Promise<ListedLock[]>;
}

/** The swap's memory of what it last wrote into each base credential. */
export interface SwapStateStore {
	readSwapState(credentialKey: string): Promise<SwapState | undefined>;
	/** Records what was written; `undefined` forgets it (before a write that may not finish). */
	writeSwapState(credentialKey: string, state: SwapState | undefined): Promise<void>;
}

/** Who swapped or released what, kept in the lock store (never credential data). */
export interface AuditTrail {
	/** Appends to the audit trail (time by the store's clock where it has one). */
	audit(events: AuditEvent[]): Promise<void>;
}

/** What each backend provides: the lock, the swap's state and the audit trail, in one store. */
export type LockStore = LockEngine & SwapStateStore & AuditTrail;

/** The owner's identity in the store: instance and execution. */
export function ownerKey(owner: Pick<LockOwner, 'instanceId' | 'executionId'>): string {
	return owner.instanceId ? `${owner.instanceId}:${owner.executionId}` : owner.executionId;
}
