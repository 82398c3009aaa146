/** Who holds a lock: recorded in the lock store, shown in timeout errors. */
export interface LockOwner {
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
	/** True when this execution already held the key and the call renewed its lease. */
	reentered: boolean;
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

/** The lock API the backends implement: acquire, extend, release (plus the swap's memory of what it wrote). */
export interface LockEngine {
	readonly backend: 'postgres' | 'redis' | 'memory';
	acquire(key: string, options: AcquireOptions): Promise<LockLease>;
	/** Renews the lease; throws LockLostError when the token no longer holds the key. */
	extend(handle: LockHandle, ttlMs: number): Promise<LockLease>;
	/** Frees the key only if `token` still holds it; a lock taken over by someone else is reported lost. */
	release(handle: LockHandle): Promise<ReleaseOutcome>;
	/** Frees every lock held by an execution (used by the Release Lock node and error workflows). */
	releaseExecution(executionId: string): Promise<ReleaseOutcome[]>;
	/** Current holder of a key, if any (expired leases count as free). */
	holder(key: string): Promise<LockHolder | undefined>;
	readSwapState(credentialKey: string): Promise<SwapState | undefined>;
	/** Records what was written; `undefined` forgets it (before a write that may not finish). */
	writeSwapState(credentialKey: string, state: SwapState | undefined): Promise<void>;
	/** Appends to the audit trail in the lock store (time by the store's clock where it has one). */
	audit(events: AuditEvent[]): Promise<void>;
}
