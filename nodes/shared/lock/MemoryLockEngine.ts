import { LockConfigurationError, LockLostError, LockReleasedError } from './errors';
import { hashLockKey, StoreLockEngine, type Attempt, type QueueArgs, type StoreLockOptions } from './StoreLockEngine';
import type { AcquireOptions, AuditEvent, ListedLock, LockHandle, LockHolder, LockLease, LockOwner, ReleaseOutcome, SwapState } from './types';
import { validateTtl } from './waiting';

const AUDIT_KEEP = 10_000;
/** How long a release is remembered after the released lease would have ended. */
export const DEFAULT_RELEASE_RECORD_MS = 60_000;

export interface MemoryLockOptions extends StoreLockOptions {
	/** How long a release is remembered after the released lease would have ended (as Redis's tombstone margin). Default 60 s. */
	releaseRecordMs?: number;
}

/** Times are performance.now() (monotonic): a step of the wall clock changes no lease. */
interface Lease {
	key: string;
	token: string;
	fence: number;
	owner: LockOwner;
	acquiredAt: number;
	expiresAt: number;
}

interface Ticket {
	/** End of the ticket's lease. */
	expiresAt: number;
}

/** A recorded release: extend with that token says "released", not "lost". */
interface ReleaseRecord {
	key: string;
	forgetAt: number;
}

/** A wall-clock date for a monotonic time (display only: holders, errors, listings). */
function dateOf(monotonic: number): Date {
	return new Date(Math.round(performance.timeOrigin + monotonic));
}

/**
 * Lock held in this process only. Right for a single n8n instance without PostgreSQL; wrong for
 * queue mode or several mains, where each process would have its own.
 *
 * The waiting (fair queue of tickets, wake-ups, expiry checks) is StoreLockEngine's, as for the
 * other stores; this class is the "store": maps in memory, judged by the monotonic clock. Free keys
 * leave no entry behind: leases are deleted on release, tickets when withdrawn, expired ones and
 * release records by a sweep. The fence is one counter for the process, so it only grows per key
 * even though a free key is forgotten.
 */
export class MemoryLockEngine extends StoreLockEngine {
	readonly backend = 'memory' as const;

	/** keyHash -> the lease on the key (live, or expired and not yet swept). */
	private readonly leases = new Map<string, Lease>();
	/** keyHash -> ticket -> its lease, in arrival order (Map keeps insertion order). */
	private readonly queues = new Map<string, Map<string, Ticket>>();
	/** token -> its release, for a while. */
	private readonly released = new Map<string, ReleaseRecord>();
	private lastFence = 0;
	private nextSweepAt = 0;
	private readonly releaseRecordMs: number;
	private readonly swapStates = new Map<string, SwapState>();
	/** The newest audit events of this process (kept in memory like the locks). */
	readonly auditTrail: Array<AuditEvent & { at: Date }> = [];

	constructor(options: MemoryLockOptions = {}) {
		super(options);
		const releaseRecordMs = options.releaseRecordMs ?? DEFAULT_RELEASE_RECORD_MS;
		if (!Number.isFinite(releaseRecordMs) || releaseRecordMs <= 0) {
			throw new LockConfigurationError(`The release record time must be greater than 0 (got ${releaseRecordMs} ms)`);
		}
		this.releaseRecordMs = releaseRecordMs;
	}

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

	protected async ensureReady(): Promise<void> {}

	/** Releases wake waiters directly (same process): always "listening". */
	protected async ensureListening(): Promise<void> {
		this.listenerUp = true;
	}

	protected async attempt(key: string, keyHash: string, token: string, options: AcquireOptions, queue: QueueArgs): Promise<Attempt> {
		const now = this.sweepIfDue();
		const current = this.liveLease(keyHash, now);
		if (current) {
			this.waitInQueue(keyHash, queue, now);
			return { holder: holderOf(current), recheckInMs: current.expiresAt - now };
		}
		if (queue.fair) {
			const ahead = this.firstLiveTicket(keyHash, now, queue.ticket);
			if (ahead) {
				this.waitInQueue(keyHash, queue, now);
				return { recheckInMs: ahead.expiresAt - now };
			}
		}
		this.lastFence += 1;
		const lease: Lease = { key, token, fence: this.lastFence, owner: options.owner, acquiredAt: now, expiresAt: now + options.ttlMs };
		this.leases.set(keyHash, lease);
		if (queue.ticket) this.removeTicket(keyHash, queue.ticket);
		return {
			lease: { token, fence: lease.fence, acquiredAt: dateOf(lease.acquiredAt), expiresAt: dateOf(lease.expiresAt) },
			recheckInMs: 0,
		};
	}

	protected async withdraw(keyHash: string, ticket: string): Promise<void> {
		const now = performance.now();
		const wasFirst = this.queues.get(keyHash)?.has(ticket) === true && !this.firstLiveTicket(keyHash, now, ticket);
		this.removeTicket(keyHash, ticket);
		if (wasFirst && !this.liveLease(keyHash, now)) {
			const turn = this.firstLiveTicket(keyHash, now, undefined);
			if (turn) this.releasedHere(keyHash, turn.ticket);
		}
	}

	async extend(handle: LockHandle, ttlMs: number): Promise<LockLease> {
		validateTtl(ttlMs);
		const now = performance.now();
		const keyHash = hashLockKey(handle.key);
		const lease = this.liveLease(keyHash, now);
		if (lease?.token === handle.token) {
			lease.expiresAt = now + ttlMs;
			return { key: lease.key, token: lease.token, fence: lease.fence, owner: lease.owner, acquiredAt: dateOf(lease.acquiredAt), expiresAt: dateOf(lease.expiresAt), waitedMs: 0 };
		}
		if (this.released.has(handle.token)) throw new LockReleasedError(handle.key);
		throw new LockLostError(handle.key, undefined, lease ? 'taken' : 'expired');
	}

	async release(handle: LockHandle): Promise<ReleaseOutcome> {
		const now = this.sweepIfDue();
		const keyHash = hashLockKey(handle.key);
		const lease = this.leases.get(keyHash);
		if (lease?.token !== handle.token) return { key: handle.key, status: 'lost' };
		// Ran out before this release (nobody took it yet): freed, but the section was not protected to the end.
		const live = lease.expiresAt > now;
		this.free(keyHash, lease, now);
		return live ? { key: handle.key, status: 'released', heldMs: Math.round(now - lease.acquiredAt) } : { key: handle.key, status: 'lost' };
	}

	async releaseExecution(executionId: string, instanceId?: string): Promise<ReleaseOutcome[]> {
		const now = this.sweepIfDue();
		const outcomes: ReleaseOutcome[] = [];
		for (const [keyHash, lease] of [...this.leases.entries()].sort(([, a], [, b]) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
			const owned = lease.owner.executionId === executionId && lease.owner.instanceId === instanceId;
			if (!owned || lease.expiresAt <= now) continue;
			this.free(keyHash, lease, now);
			outcomes.push({ key: lease.key, status: 'released', heldMs: Math.round(now - lease.acquiredAt) });
		}
		return outcomes;
	}

	async holder(key: string): Promise<LockHolder | undefined> {
		const lease = this.liveLease(hashLockKey(key), performance.now());
		return lease ? holderOf(lease) : undefined;
	}

	async heldLocks(limit: number): Promise<ListedLock[]> {
		const now = this.sweepIfDue();
		const found: ListedLock[] = [];
		for (const [keyHash, lease] of this.leases) {
			if (lease.expiresAt <= now) continue;
			const waiting = [...(this.queues.get(keyHash)?.values() ?? [])].filter((ticket) => ticket.expiresAt > now).length;
			found.push({ key: lease.key, token: lease.token, fence: lease.fence, waiting, ...holderOf(lease) });
		}
		return found.sort((a, b) => a.acquiredAt.getTime() - b.acquiredAt.getTime()).slice(0, limit);
	}

	/** Deletes the lease, records the release, and wakes the oldest live ticket (if any). */
	private free(keyHash: string, lease: Lease, now: number): void {
		this.leases.delete(keyHash);
		// The holder's own deadline comes before the lease's end: no renewal of it is asked after that.
		this.released.set(lease.token, { key: lease.key, forgetAt: Math.max(now, lease.expiresAt) + this.releaseRecordMs });
		this.releasedHere(keyHash, this.firstLiveTicket(keyHash, now, undefined)?.ticket ?? null);
	}

	private liveLease(keyHash: string, now: number): Lease | undefined {
		const lease = this.leases.get(keyHash);
		return lease && lease.expiresAt > now ? lease : undefined;
	}

	/** Registers or renews the waiter's ticket (not for a one-try attempt). */
	private waitInQueue(keyHash: string, queue: QueueArgs, now: number): void {
		if (!queue.ticket) return;
		let tickets = this.queues.get(keyHash);
		if (!tickets) {
			tickets = new Map();
			this.queues.set(keyHash, tickets);
		}
		const ticket = tickets.get(queue.ticket);
		if (ticket) ticket.expiresAt = now + queue.ticketLeaseMs;
		else tickets.set(queue.ticket, { expiresAt: now + queue.ticketLeaseMs });
	}

	/** The oldest live ticket ranked before `stop` (undefined = the oldest of all); expired ones at the head go. */
	private firstLiveTicket(keyHash: string, now: number, stop: string | undefined): (Ticket & { ticket: string }) | undefined {
		const tickets = this.queues.get(keyHash);
		if (!tickets) return undefined;
		for (const [ticket, entry] of tickets) {
			if (ticket === stop) return undefined;
			if (entry.expiresAt > now) return { ticket, ...entry };
			tickets.delete(ticket);
		}
		if (tickets.size === 0) this.queues.delete(keyHash);
		return undefined;
	}

	private removeTicket(keyHash: string, ticket: string): void {
		const tickets = this.queues.get(keyHash);
		if (!tickets) return;
		tickets.delete(ticket);
		if (tickets.size === 0) this.queues.delete(keyHash);
	}

	/**
	 * Forgets expired leases, expired tickets and old release records, at most once per release
	 * record time (so the work is spread thin), and returns now. Bounds growth to what one such
	 * period adds.
	 */
	private sweepIfDue(): number {
		const now = performance.now();
		if (now < this.nextSweepAt) return now;
		this.nextSweepAt = now + Math.min(this.releaseRecordMs, this.waitingRules.ticketLeaseMs);
		for (const [keyHash, lease] of this.leases) if (lease.expiresAt <= now) this.leases.delete(keyHash);
		for (const [token, record] of this.released) if (record.forgetAt <= now) this.released.delete(token);
		for (const [keyHash, tickets] of this.queues) {
			for (const [ticket, entry] of tickets) if (entry.expiresAt <= now) tickets.delete(ticket);
			if (tickets.size === 0) this.queues.delete(keyHash);
		}
		return now;
	}
}

function holderOf(lease: Lease): LockHolder {
	return { owner: lease.owner, acquiredAt: dateOf(lease.acquiredAt), expiresAt: dateOf(lease.expiresAt) };
}
