import { createHash, randomUUID } from 'node:crypto';

import { CleanUpQueue, type CleanUpStatus } from './cleanUpQueue';
import { LockConfigurationError, LockTimeoutError, LockWaitCancelledError } from './errors';
import type { AcquireOptions, AuditEvent, ListedLock, LockEngine, LockHandle, LockHolder, LockLease, LockStore, ReleaseOutcome, SwapState } from './types';
import { sleepUnlessWoken, validateAcquireOptions } from './waiting';

/**
 * A waiting waiter asks the store again at least this often even without a wake-up (lost message,
 * reconnect). Each of these attempts also renews the waiter's ticket.
 */
export const MAX_SILENT_WAIT_MS = 5_000;
/** While the wake-up connection is down nobody can wake us, so check more often. */
const DEGRADED_WAIT_MS = 250;

function elapsedSince(started: number): number {
	return Math.round(performance.now() - started);
}
/**
 * Lease of a waiter's ticket, by the store's clock. Three renewal periods: a waiter whose event loop
 * stalls for up to about 10 s keeps its place. A ticket whose waiter died (process gone, connection
 * cut before it could withdraw) holds the key back for at most this long after its last renewal.
 */
export const DEFAULT_TICKET_LEASE_MS = 3 * MAX_SILENT_WAIT_MS;

/** Keys can be long and contain anything; stores index them by hash. */
export function hashLockKey(key: string): string {
	return createHash('sha256').update(key, 'utf8').digest('hex');
}

export interface StoreLockOptions {
	/**
	 * Lease of a waiter's ticket in the store's waiting registry (default 15 s). Waiters renew it
	 * at least every third of it. The bound on how long a dead waiter can hold a free key back.
	 */
	ticketLeaseMs?: number;
	/**
	 * false = no waiting registry in the store: a free key goes to whoever asks first (fair within a
	 * process only; the releasing process's own waiters win). Only for tests and the benchmark, as
	 * the "before" control of the cross-process fairness tests. Default true.
	 */
	fair?: boolean;
}

/** One try at the store: the lease when it was taken (or renewed), else who holds the key. */
export interface Attempt {
	lease?: { token: string; fence: number; acquiredAt: Date; expiresAt: Date };
	holder?: LockHolder;
	/**
	 * When another look is worth it without a wake-up, by the store's clock: the holder's remaining
	 * lease, or (key free, an older live ticket first) that ticket's remaining lease.
	 */
	recheckInMs: number;
}

/**
 * How a waiter's attempt treats the store's waiting registry.
 * - `ticket` undefined: one try (waitTimeoutMs 0): take a free key only when no live
 *   ticket is waiting for it; register nothing.
 * - `ticket` set: take a free key only when no older live ticket waits; otherwise register or renew
 *   the ticket (lease `ticketLeaseMs`); taking the key removes the ticket.
 * - `fair` false: ignore the registry (the control).
 */
export interface QueueArgs {
	ticket?: string;
	ticketLeaseMs: number;
	fair: boolean;
}

/** One acquire call waiting in this process. */
class Waiter {
	/** A wake-up arrived since the last attempt started. */
	pending = false;
	/** Its first attempt said "wait": it holds a ticket in the store (fair mode). */
	queued = false;
	private sleeping?: ReturnType<typeof sleepUnlessWoken>;

	wake(): void {
		this.pending = true;
		this.sleeping?.wake();
	}

	/** Sleeps up to `ms`, or not at all when a wake-up came since the last attempt started. */
	async sleep(ms: number): Promise<void> {
		if (this.pending) return;
		const sleeping = sleepUnlessWoken(ms);
		this.sleeping = sleeping;
		try {
			await sleeping.promise;
		} finally {
			this.sleeping = undefined;
		}
	}
}

/**
 * The waiting half of a lease lock, shared by the stores. Fair across processes through a waiting
 * registry in the store:
 *
 * - A waiter registers a ticket (per acquire call) in the store on its first failed attempt, in one
 *   statement / script with the attempt. Tickets are ordered by the store (a sequence), and within
 *   a process first attempts on a key are made one after another, so call order = ticket order.
 * - A free key may be taken only by the oldest live ticket (or, with no live ticket, by anyone).
 *   A key held by anyone is not free, whatever the owner (re-entry is by token: LockClient).
 * - A release (and releaseExecution) looks up the oldest live ticket and names it in its
 *   NOTIFY / PUBLISH ("<key hash> <ticket>"): only that waiter wakes, wherever it lives; the others
 *   sleep until the holder's lease would end or MAX_SILENT_WAIT_MS, so nobody busy-spins.
 * - Tickets have a lease by the store's clock (ticketLeaseMs, 15 s), renewed by every attempt of
 *   the waiter (at least every MAX_SILENT_WAIT_MS), removed when the waiter takes the key, times out,
 *   or fails. A ticket whose waiter died expires: it delays the others at most its lease.
 */
export abstract class StoreLockEngine implements LockStore {
	abstract readonly backend: LockEngine['backend'];

	protected listenerUp = false;
	protected readonly waitingRules: Omit<QueueArgs, 'ticket'>;
	private readonly renewEveryMs: number;
	/** keyHash -> ticket -> waiter of this process. */
	private readonly waiters = new Map<string, Map<string, Waiter>>();
	/** keyHash -> the end of this process's chain of first attempts (keeps tickets in call order). */
	private readonly arrivals = new Map<string, Promise<unknown>>();

	constructor(options: StoreLockOptions = {}) {
		const ticketLeaseMs = options.ticketLeaseMs ?? DEFAULT_TICKET_LEASE_MS;
		if (!Number.isFinite(ticketLeaseMs) || ticketLeaseMs <= 0) {
			throw new LockConfigurationError(`The ticket lease must be greater than 0 (got ${ticketLeaseMs} ms)`);
		}
		this.waitingRules = { ticketLeaseMs: Math.ceil(ticketLeaseMs), fair: options.fair !== false };
		// Every attempt renews the ticket: at least three renewals per lease, also with a short lease.
		this.renewEveryMs = Math.max(1, Math.floor(this.waitingRules.ticketLeaseMs / 3));
	}

	/** Prepares the store on first use (tables, scripts). */
	protected abstract ensureReady(): Promise<void>;
	/** Starts receiving release messages (calls wakeFromMessage / listenerDropped); resolves when listening. */
	protected abstract ensureListening(): Promise<void>;
	protected abstract attempt(key: string, keyHash: string, token: string, options: AcquireOptions, queue: QueueArgs): Promise<Attempt>;
	/** Removes a ticket; if it was the oldest live one, wakes the next (message naming it). */
	protected abstract withdraw(keyHash: string, ticket: string): Promise<void>;

	abstract extend(handle: LockHandle, ttlMs: number): Promise<LockLease>;
	abstract release(handle: LockHandle): Promise<ReleaseOutcome>;
	abstract releaseExecution(executionId: string, instanceId?: string): Promise<ReleaseOutcome[]>;
	abstract holder(key: string): Promise<LockHolder | undefined>;
	abstract heldLocks(limit: number): Promise<ListedLock[]>;
	abstract readSwapState(credentialKey: string): Promise<SwapState | undefined>;
	abstract writeSwapState(credentialKey: string, state: SwapState | undefined): Promise<void>;
	abstract audit(events: AuditEvent[]): Promise<void>;

	async acquire(key: string, options: AcquireOptions): Promise<LockLease> {
		validateAcquireOptions(key, options);
		const { signal } = options;
		// Waiting is timed by the monotonic clock: a wall-clock step (NTP, a VM resumed) neither
		// stretches a wait by the step nor ends it early.
		const started = performance.now();
		if (signal?.aborted) throw new LockWaitCancelledError(key, 0);
		await this.ensureReady();
		const keyHash = hashLockKey(key);
		const deadline = started + options.waitTimeoutMs;
		const token = randomUUID();
		const once: QueueArgs = { ...this.waitingRules, ticket: undefined };
		// Our own tickets the store could not take back earlier must not make us wait for ourselves.
		await this.withdrawOrphans(keyHash);

		if (options.waitTimeoutMs === 0) {
			// One try, no ticket: a free key with live tickets waiting is not ours (they came first).
			let sentAt = 0;
			const result = await this.inArrivalOrder(keyHash, async () => {
				sentAt = performance.now();
				return await this.attempt(key, keyHash, token, options, once);
			}).catch((error: unknown) => {
				this.releaseInBackground(key, token, options.ttlMs);
				throw error;
			});
			if (result.lease) {
				if (signal?.aborted) await this.handBack(key, token, options, started);
				return this.toLease(key, result.lease, options, started, sentAt);
			}
			throw new LockTimeoutError(key, elapsedSince(started), await this.holderFor(key, result));
		}

		await this.ensureListening().catch(() => undefined);
		const ticket = randomUUID();
		const queue: QueueArgs = { ...this.waitingRules, ticket: this.waitingRules.fair ? ticket : undefined };
		const waiter = this.addWaiter(keyHash, ticket);
		// n8n cancelled the execution: stop sleeping; the loop then withdraws the ticket and throws.
		const cancel = () => waiter.wake();
		signal?.addEventListener('abort', cancel, { once: true });
		let acquired = false;
		let storeFailed = false;
		try {
			let first = true;
			for (;;) {
				if (signal?.aborted) throw new LockWaitCancelledError(key, elapsedSince(started));
				// A wake-up from now on (even before this attempt answers) makes the next sleep short.
				waiter.pending = false;
				let result: Attempt;
				let sentAt = 0;
				const attempt = async () => {
					sentAt = performance.now();
					return await this.attempt(key, keyHash, token, options, queue);
				};
				try {
					result = first ? await this.inArrivalOrder(keyHash, attempt) : await attempt();
				} catch (error) {
					storeFailed = true;
					// The store may still apply this attempt (a statement cut off after it was sent): free
					// whatever this call's token may have taken, once the store answers again.
					this.releaseInBackground(key, token, options.ttlMs);
					throw error;
				}
				first = false;
				if (result.lease) {
					// Cancelled while this attempt was on its way: the lease goes back at once (waking the next).
					if (signal?.aborted) await this.handBack(key, token, options, started);
					acquired = true;
					return this.toLease(key, result.lease, options, started, sentAt);
				}
				waiter.queued = true;
				if (signal?.aborted) throw new LockWaitCancelledError(key, elapsedSince(started));
				const left = deadline - performance.now();
				if (left <= 0) throw new LockTimeoutError(key, elapsedSince(started), await this.holderFor(key, result));
				const silentCap = Math.min(this.listenerUp ? MAX_SILENT_WAIT_MS : DEGRADED_WAIT_MS, this.renewEveryMs);
				await waiter.sleep(Math.min(left, Math.ceil(result.recheckInMs) + 1, silentCap));
			}
		} finally {
			signal?.removeEventListener('abort', cancel);
			this.removeWaiter(keyHash, ticket);
			// Taking the key removed the ticket in the same statement. Otherwise withdraw it, so it does not
			// hold the key back until its lease ends. With the store failing, do not make the caller wait
			// for another failure: the ticket's lease bounds the harm.
			if (!acquired && queue.ticket && (waiter.queued || storeFailed)) {
				if (storeFailed) this.orphan(keyHash, ticket);
				else await this.withdraw(keyHash, ticket).catch(() => this.orphan(keyHash, ticket));
			}
		}
	}

	/** Frees a lease taken for a waiter that was cancelled meanwhile, then throws LockWaitCancelledError. */
	private async handBack(key: string, token: string, options: AcquireOptions, started: number): Promise<never> {
		await this.release({ key, token }).catch(() => this.releaseInBackground(key, token, options.ttlMs));
		throw new LockWaitCancelledError(key, elapsedSince(started));
	}

	/**
	 * Frees what `token` may have taken (an attempt the store may have applied though the caller got an
	 * error), once the store answers, within `forMs` (the lease has ended by then anyway). By token:
	 * it never touches anyone else's lease.
	 */
	private releaseInBackground(key: string, token: string, forMs: number): void {
		this.cleanUps.add(`release ${token}`, async () => await this.release({ key, token }), forMs);
	}

	/** Clean-ups the store refused, waiting for it to answer again (diagnostics, tests). */
	pendingCleanUps(): CleanUpStatus {
		return this.cleanUps.status();
	}

	/** Set by close(): background clean-ups stop. */
	protected closing = false;

	/** One retry worker for all of this engine's refused clean-ups, however many callers failed. */
	private readonly cleanUps = new CleanUpQueue(() => this.closing);

	/** keyHash -> tickets of this process whose withdrawal the store refused (it was unreachable). */
	private readonly orphans = new Map<string, Set<string>>();

	/** A ticket left in the store: withdrawn in the background, and before this process's next attempt on the key. */
	private orphan(keyHash: string, ticket: string): void {
		let tickets = this.orphans.get(keyHash);
		if (!tickets) {
			tickets = new Set();
			this.orphans.set(keyHash, tickets);
		}
		tickets.add(ticket);
		// Given up or dropped (queue full): the ticket ends by its own lease.
		this.cleanUps.add(`withdraw ${keyHash} ${ticket}`, async () => await this.withdrawOrphan(keyHash, ticket), this.waitingRules.ticketLeaseMs, () => this.forgetOrphan(keyHash, ticket));
	}

	private async withdrawOrphan(keyHash: string, ticket: string): Promise<void> {
		if (!this.orphans.get(keyHash)?.has(ticket)) return;
		await this.withdraw(keyHash, ticket);
		this.forgetOrphan(keyHash, ticket);
	}

	private forgetOrphan(keyHash: string, ticket: string): void {
		const tickets = this.orphans.get(keyHash);
		tickets?.delete(ticket);
		if (tickets?.size === 0) this.orphans.delete(keyHash);
	}

	/**
	 * Withdraws our tickets left on the key before we try it. Stops at the first refusal: the store is
	 * down, the others would be refused too (one request, not one per orphan); the queue retries them.
	 */
	private async withdrawOrphans(keyHash: string): Promise<void> {
		for (const ticket of [...(this.orphans.get(keyHash) ?? [])]) {
			try {
				await this.withdrawOrphan(keyHash, ticket);
			} catch {
				return;
			}
		}
	}

	/** The attempt's snapshot may predate the winner's commit: then ask the store again, for the error message. */
	private async holderFor(key: string, result: Attempt): Promise<LockHolder | undefined> {
		return result.holder ?? (await this.holder(key).catch(() => undefined));
	}

	/**
	 * After a release from this process. `nextTicket`: the oldest live ticket the release statement
	 * saw (and named in its message); null = none. Only that waiter, if it is ours, is woken here:
	 * waking our own other waiters first is what made the old design unfair.
	 */
	protected releasedHere(keyHash: string, nextTicket: string | null | undefined): void {
		this.wake(keyHash, nextTicket ?? undefined);
	}

	/** A release message: "<key hash>" (anyone may look) or "<key hash> <ticket>" (that waiter's turn). */
	protected wakeFromMessage(payload: string): void {
		const space = payload.indexOf(' ');
		if (space < 0) this.wake(payload, undefined);
		else this.wake(payload.slice(0, space), payload.slice(space + 1));
	}

	/** The key was released (here or, by the store's message, anywhere). */
	protected wake(keyHash: string, ticket: string | undefined): void {
		const waiters = this.waiters.get(keyHash);
		if (!waiters) return;
		if (ticket === undefined || !this.waitingRules.fair) {
			for (const waiter of waiters.values()) waiter.wake();
		} else {
			waiters.get(ticket)?.wake();
		}
	}

	/** The wake-up connection broke: waiters may have missed a release, so let them look again. */
	protected listenerDropped(): void {
		this.listenerUp = false;
		for (const waiters of this.waiters.values()) for (const waiter of waiters.values()) waiter.wake();
	}

	private toLease(key: string, lease: NonNullable<Attempt['lease']>, options: AcquireOptions, started: number, requestSentAt: number): LockLease {
		return { key, owner: options.owner, waitedMs: elapsedSince(started), requestSentAt, ...lease };
	}

	/**
	 * Runs this process's first attempts on a key one after another, so tickets are registered in
	 * call order (a pool sends concurrent statements over several connections, in any order).
	 */
	private async inArrivalOrder<T>(keyHash: string, run: () => Promise<T>): Promise<T> {
		const previous = this.arrivals.get(keyHash);
		const current = previous ? previous.then(run) : run();
		const settled = current.then(
			() => undefined,
			() => undefined,
		);
		this.arrivals.set(keyHash, settled);
		void settled.then(() => {
			if (this.arrivals.get(keyHash) === settled) this.arrivals.delete(keyHash);
		});
		return await current;
	}

	private addWaiter(keyHash: string, ticket: string): Waiter {
		const waiter = new Waiter();
		let map = this.waiters.get(keyHash);
		if (!map) {
			map = new Map();
			this.waiters.set(keyHash, map);
		}
		map.set(ticket, waiter);
		return waiter;
	}

	private removeWaiter(keyHash: string, ticket: string): void {
		const map = this.waiters.get(keyHash);
		if (!map) return;
		map.delete(ticket);
		if (map.size === 0) this.waiters.delete(keyHash);
	}
}
