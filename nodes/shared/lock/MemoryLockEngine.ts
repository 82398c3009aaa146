import { randomUUID } from 'node:crypto';

import { LockLostError, LockTimeoutError } from './errors';
import type {
	AcquireOptions,
	ListedLock,
	LockStore,
	LockHandle,
	LockHolder,
	LockLease,
	LockOwner,
	ReleaseOutcome,
	SwapState,
	AuditEvent,
} from './types';

const AUDIT_KEEP = 10_000;
import { sleepUnlessWoken, validateAcquireOptions, validateTtl } from './waiting';

interface Slot {
	token?: string;
	fence: number;
	owner?: LockOwner;
	acquiredAt?: number;
	expiresAt?: number;
	/** FIFO of waiters' wake callbacks. */
	waiters: Array<() => void>;
}

/**
 * Lock held in this process only. Right for a single n8n instance without PostgreSQL; wrong for
 * queue mode or several mains, where each process would have its own.
 */
export class MemoryLockEngine implements LockStore {
	readonly backend = 'memory' as const;

	private readonly slots = new Map<string, Slot>();
	private readonly swapStates = new Map<string, SwapState>();
	/** The newest audit events of this process (kept in memory like the locks). */
	readonly auditTrail: Array<AuditEvent & { at: Date }> = [];

	async audit(events: AuditEvent[]): Promise<void> {
		this.auditTrail.push(...events.map((event) => ({ ...event, at: new Date() })));
		if (this.auditTrail.length > AUDIT_KEEP) this.auditTrail.splice(0, this.auditTrail.length - AUDIT_KEEP);
	}

	async readSwapState(credentialKey: string): Promise<SwapState | undefined> {
		return this.swapStates.get(credentialKey);
	}

	async writeSwapState(credentialKey: string, state: SwapState | undefined): Promise<void> {
		if (state) this.swapStates.set(credentialKey, state);
		else this.swapStates.delete(credentialKey);
	}

	async acquire(key: string, options: AcquireOptions): Promise<LockLease> {
		validateAcquireOptions(key, options);
		const started = Date.now();
		const deadline = started + options.waitTimeoutMs;
		const slot = this.slot(key);
		let queued = false;
		let wake: ReturnType<typeof sleepUnlessWoken> | undefined;
		const notify = () => wake?.wake();
		try {
			for (;;) {
				// Read before the lease is stamped, less Date.now()'s millisecond truncation: the holder's own
				// deadline (requestSentAt + TTL) must never come after the expiry other callers see.
				const sentAt = performance.now() - 1;
				const now = Date.now();
				// A held key is not free, whatever the owner: re-entry is by token (LockClient).
				const free = !slot.token || (slot.expiresAt ?? 0) <= now;
				const myTurn = !queued ? slot.waiters.length === 0 : slot.waiters[0] === notify;
				if (free && myTurn) {
					slot.token = randomUUID();
					slot.fence += 1;
					slot.acquiredAt = now;
					slot.owner = options.owner;
					slot.expiresAt = now + options.ttlMs;
					return { ...this.lease(key, slot, started), requestSentAt: sentAt };
				}
				const left = deadline - now;
				if (left <= 0) throw new LockTimeoutError(key, now - started, this.holderOf(slot));
				if (!queued) {
					slot.waiters.push(notify);
					queued = true;
				}
				const leaseLeft = free ? left : (slot.expiresAt ?? now) - now + 1;
				wake = sleepUnlessWoken(Math.min(left, leaseLeft));
				await wake.promise;
			}
		} finally {
			if (queued) {
				const index = slot.waiters.indexOf(notify);
				if (index >= 0) slot.waiters.splice(index, 1);
				// Whoever is now first may be able to go.
				if (index === 0) slot.waiters[0]?.();
			}
		}
	}

	async extend(handle: LockHandle, ttlMs: number): Promise<LockLease> {
		validateTtl(ttlMs);
		const slot = this.slots.get(handle.key);
		const now = Date.now();
		if (!slot || slot.token !== handle.token || (slot.expiresAt ?? 0) <= now) {
			throw new LockLostError(handle.key);
		}
		slot.expiresAt = now + ttlMs;
		return this.lease(handle.key, slot, now);
	}

	async release(handle: LockHandle): Promise<ReleaseOutcome> {
		const slot = this.slots.get(handle.key);
		if (!slot || !slot.token || slot.token !== handle.token) return { key: handle.key, status: 'lost' };
		return this.free(handle.key, slot);
	}

	async releaseExecution(executionId: string, instanceId?: string): Promise<ReleaseOutcome[]> {
		const outcomes: ReleaseOutcome[] = [];
		for (const [key, slot] of [...this.slots.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
			const owned = slot.owner?.executionId === executionId && slot.owner?.instanceId === instanceId;
			if (slot.token && owned && (slot.expiresAt ?? 0) > Date.now()) outcomes.push(this.free(key, slot));
		}
		return outcomes;
	}

	async holder(key: string): Promise<LockHolder | undefined> {
		const slot = this.slots.get(key);
		return slot ? this.holderOf(slot) : undefined;
	}

	async heldLocks(limit: number): Promise<ListedLock[]> {
		const found: ListedLock[] = [];
		for (const [key, slot] of this.slots) {
			const holder = this.holderOf(slot);
			if (holder) found.push({ key, token: slot.token as string, fence: slot.fence, waiting: slot.waiters.length, ...holder });
		}
		return found.sort((a, b) => a.acquiredAt.getTime() - b.acquiredAt.getTime()).slice(0, limit);
	}

	private free(key: string, slot: Slot): ReleaseOutcome {
		const heldMs = Date.now() - (slot.acquiredAt ?? Date.now());
		slot.token = undefined;
		slot.owner = undefined;
		slot.waiters[0]?.();
		return { key, status: 'released', heldMs };
	}

	private slot(key: string): Slot {
		let slot = this.slots.get(key);
		if (!slot) {
			slot = { fence: 0, waiters: [] };
			this.slots.set(key, slot);
		}
		return slot;
	}

	private holderOf(slot: Slot): LockHolder | undefined {
		if (!slot.token || !slot.owner || (slot.expiresAt ?? 0) <= Date.now()) return undefined;
		return {
			owner: slot.owner,
			acquiredAt: new Date(slot.acquiredAt ?? 0),
			expiresAt: new Date(slot.expiresAt ?? 0),
		};
	}

	private lease(key: string, slot: Slot, started: number): LockLease {
		return {
			key,
			token: slot.token as string,
			fence: slot.fence,
			owner: slot.owner as LockOwner,
			acquiredAt: new Date(slot.acquiredAt ?? 0),
			expiresAt: new Date(slot.expiresAt ?? 0),
			waitedMs: Date.now() - started,
		};
	}
}
