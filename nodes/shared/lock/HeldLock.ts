import { LockError, LockLostError, LockReleasedError, type LockLossReason } from './errors';
import type { LockEngine, LockLease, LockOwner, ReleaseOutcome } from './types';
import { sleepUnlessWoken, startBackgroundTimer, validateTtl } from './waiting';

/** `expired`: renewal was stopped on purpose and the TTL ran out; `lost`: it ended while meant to be held. */
export type HeldLockState = 'held' | 'released' | 'expired' | 'lost';

/** Where a held lock reports trouble (the node's logger). */
export interface HeldLockLogger {
	warn(message: string, meta?: Record<string, unknown>): void;
	debug(message: string, meta?: Record<string, unknown>): void;
}

/** Called once when a lock is lost (not released, not run out on purpose): e.g. to write an audit line. */
export type LockLostHandler = (lock: HeldLock, error: LockLostError) => void | Promise<void>;

export interface HeldLockOptions {
	log?: HeldLockLogger;
	onLost?: LockLostHandler;
	/** Called once when the lock has ended here (released, lost, run out, abandoned). */
	onEnd?: (lock: HeldLock) => void;
}

const SILENT: HeldLockLogger = { warn: () => undefined, debug: () => undefined };

/**
 * What the local deadline keeps back from the TTL for the two clocks' drift (redlock's rule:
 * 1 % of the TTL plus 2 ms). The store's lease started after the request was sent, so
 * "sent + TTL - margin" has ended here before the store lets anyone else in.
 */
export function driftMarginMs(ttlMs: number): number {
	return Math.floor(ttlMs / 100) + 2;
}

/** Three renewals per lease: two may fail (store hiccup) before the lease is in danger. */
function renewEveryMs(ttlMs: number): number {
	return Math.max(10, Math.floor(ttlMs / 3));
}

/** After a renewal (or release) the store did not answer, try again this soon (the lease is running out). */
function retryEveryMs(ttlMs: number): number {
	return Math.max(10, Math.min(1_000, Math.floor(ttlMs / 10)));
}

/**
 * A lock this process holds. It renews its lease from the moment it was granted (like Redisson's
 * watchdog or redlock's `using()`), until it is released, renewal is stopped (then the TTL runs out),
 * or the lease is lost.
 *
 * Loss is a deadline, not an observation: a timer fires at the local deadline (send time of the
 * request that granted or last renewed the lease, plus its TTL, less driftMarginMs). If the lock is
 * still meant to be held then, `lost` is aborted with a LockLostError at once, whatever renewal is
 * still in flight, and the logger gets a warning. Everything sent under the lock should be bounded
 * by remainingMs().
 *
 * Renewals go out one at a time, so the store applies them in the order sent and the last answer
 * describes the lease the store has (also when a re-entry shortens the TTL).
 */
export class HeldLock {
	readonly key: string;
	readonly token: string;
	readonly fence: number;
	readonly owner: LockOwner;
	readonly acquiredAt: Date;
	private storeExpiresAt: Date;
	/** performance.now() by which this lease has ended here for certain (margin already taken off). */
	private deadline: number;
	private ttl: number;
	private current: HeldLockState = 'held';
	private renewing = true;
	/** release() was called: no more renewals, no re-entry; the lease ends by release or TTL. */
	private releasing = false;
	private cancelDeadlineTimer: () => void = () => undefined;
	/** Release calls to the store, one after another. */
	private releaseQueue: Promise<unknown> = Promise.resolve();
	/** The background retry of a refused release, while one runs (one per lock, however often release() is refused). */
	private retryingRelease?: Promise<void>;
	/** The store's answer to the release that ended this lock. */
	private storeRelease?: ReleaseOutcome;
	/** The extend in flight, if any (renewals are serialised). */
	private extending?: Promise<void>;
	private readonly lostController = new AbortController();
	private pause?: ReturnType<typeof sleepUnlessWoken>;
	private readonly endedHere: Promise<void>;
	private signalEnded: () => void = () => undefined;
	private readonly loop: Promise<void>;
	private log: HeldLockLogger;
	private onLost?: LockLostHandler;
	private readonly onEnd: (lock: HeldLock) => void;

	constructor(
		private readonly engine: LockEngine,
		lease: LockLease,
		ttlMs: number,
		options: HeldLockOptions = {},
	) {
		this.key = lease.key;
		this.token = lease.token;
		this.fence = lease.fence;
		this.owner = lease.owner;
		this.acquiredAt = lease.acquiredAt;
		this.storeExpiresAt = lease.expiresAt;
		this.ttl = ttlMs;
		this.log = options.log ?? SILENT;
		this.onLost = options.onLost;
		this.onEnd = options.onEnd ?? (() => undefined);
		this.endedHere = new Promise<void>((resolve) => (this.signalEnded = resolve));
		// An engine that does not say when it sent the request: now is later than that, so this
		// deadline may be a little late; every engine of this package says.
		this.deadline = (lease.requestSentAt ?? performance.now()) + ttlMs - driftMarginMs(ttlMs);
		this.armDeadline();
		this.loop = this.keepAlive();
	}

	/** Where the lock stands. A plain read: the deadline timer ends the lock when its lease runs out. */
	get state(): HeldLockState {
		return this.current;
	}

	/** Aborted (reason: a LockLostError) when the lease is lost while this process still means to hold it. */
	get lost(): AbortSignal {
		return this.lostController.signal;
	}

	get ttlMs(): number {
		return this.ttl;
	}

	get backend(): LockEngine['backend'] {
		return this.engine.backend;
	}

	/** The lease's end by the store's clock, as of the last renewal (for display; never for decisions here). */
	get expiresAt(): Date {
		return this.storeExpiresAt;
	}

	/**
	 * Time left before the lease may end, by this process's monotonic clock, already less the drift
	 * margin: a request under the lock that cannot finish within it must not be sent. 0 when not held.
	 * A renewal that succeeds moves it forward.
	 */
	remainingMs(): number {
		if (this.current !== 'held') return 0;
		return Math.max(0, this.deadline - performance.now());
	}

	/** Whether the owner can re-enter through this lock (held, and no release started). */
	get reenterable(): boolean {
		return this.current === 'held' && !this.releasing;
	}

	/**
	 * Renews now; `ttlMs` is the new lease length from now on (also shorter: the deadline follows
	 * what the store set). Throws LockLostError when the lease is lost, LockReleasedError when the
	 * store recorded its release, the store's error when it did not answer.
	 */
	async extend(ttlMs = this.ttl): Promise<void> {
		validateTtl(ttlMs);
		if (!this.reenterable) throw this.endedError();
		await this.renew(ttlMs);
	}

	/** Renews again from now on (after stopRenewing), e.g. when the same owner takes the lock again. */
	resumeRenewing(): void {
		if (!this.reenterable || this.renewing) return;
		this.renewing = true;
		this.pause?.wake();
	}

	/** Stops renewing: the lease ends by its TTL (state `expired`) unless released first. */
	stopRenewing(): void {
		this.renewing = false;
		this.pause?.wake();
	}

	/**
	 * Frees the key if this lease still holds it; a lease lost before is reported `lost`.
	 * Renewal stops at once. When the store cannot be reached, this throws its error, and the lease
	 * ends by its TTL; meanwhile the release is retried in the background until that time.
	 */
	async release(): Promise<ReleaseOutcome> {
		if (this.current !== 'held') return this.outcomeHere();
		this.releasing = true;
		this.renewing = false;
		this.pause?.wake();
		try {
			return await this.releaseInStore();
		} catch (error) {
			if (this.current === 'held') {
				// A caller asking again (the lease keeper, once per round) joins the retry that runs: one warning, one retry.
				const report = this.retryingRelease ? this.log.debug.bind(this.log) : this.log.warn.bind(this.log);
				report('Tenant Credential Swap could not release a lock: it is no longer renewed and ends by its TTL; retrying the release meanwhile', {
					lockKey: this.key,
					executionId: this.owner.executionId,
					leftMs: Math.round(this.remainingMs()),
					error: error instanceof Error ? error.message : String(error),
				});
				this.retryingRelease ??= this.retryReleaseInBackground().finally(() => (this.retryingRelease = undefined));
			}
			throw error;
		}
	}

	/** For tests and shutdown: stops renewing and forgets the lock here (the store keeps the lease until its TTL). */
	abandon(): void {
		this.finish('released');
	}

	/** Resolves when the lock has ended here and its renewal loop has stopped (an extend left hanging is not waited for). */
	async whenEnded(): Promise<void> {
		await this.loop;
	}

	setLogger(log: HeldLockLogger): void {
		this.log = log;
	}

	setLostHandler(onLost: LockLostHandler | undefined): void {
		this.onLost = onLost;
	}

	/** One extend at a time; the deadline follows its answer. */
	private async renew(ttlMs: number): Promise<void> {
		while (this.extending) {
			await Promise.race([this.extending, this.endedHere]);
			if (this.current !== 'held') throw this.endedError();
		}
		const sentAt = performance.now();
		const request = this.engine.extend(this, ttlMs);
		const settled = request.then(
			() => undefined,
			() => undefined,
		);
		this.extending = settled;
		try {
			// The lock may end (deadline, release) while the store has not answered: do not wait for it.
			const lease = await Promise.race([request, this.endedHere.then(() => undefined)]);
			if (!lease || this.current !== 'held') throw this.endedError();
			this.ttl = ttlMs;
			this.deadline = sentAt + ttlMs - driftMarginMs(ttlMs);
			this.storeExpiresAt = lease.expiresAt;
			this.armDeadline();
		} catch (error) {
			if (this.current !== 'held') throw error instanceof LockError ? error : this.endedError();
			if (error instanceof LockReleasedError) {
				this.endReleasedElsewhere();
			} else if (error instanceof LockLostError) {
				this.markLost(error.reason === 'taken' ? 'taken' : 'vanished');
			} else {
				// Outcome unknown: the store may still apply it, then from some time after sentAt on.
				// With a shorter TTL that would end the lease before the current deadline.
				this.deadline = Math.min(this.deadline, sentAt + ttlMs - driftMarginMs(ttlMs));
				this.armDeadline();
			}
			throw error;
		} finally {
			if (this.extending === settled) this.extending = undefined;
		}
	}

	/**
	 * The renewal loop: every TTL/3 while renewing (sooner when less than twice that is left), faster
	 * retries while the store does not answer.
	 * Not renewing, it sleeps until woken (resumeRenewing, the end). The deadline timer, not this loop,
	 * ends the lock when the lease runs out.
	 */
	private async keepAlive(): Promise<void> {
		let failing = false;
		while (this.current === 'held') {
			const active = this.renewing && !this.releasing;
			// At most half the lease left: a grant or renewal answered late still gets its renewal out before the deadline.
			const wait = active ? Math.min(failing ? retryEveryMs(this.ttl) : renewEveryMs(this.ttl), this.remainingMs() / 2) : this.remainingMs() + 1;
			this.pause = sleepUnlessWoken(wait, true);
			await this.pause.promise;
			this.pause = undefined;
			if (this.current !== 'held' || !this.renewing || this.releasing || this.remainingMs() <= 0) continue;
			try {
				await this.renew(this.ttl);
				failing = false;
			} catch (error) {
				if (this.current !== 'held') break;
				// One warning per run of failures; the retries in between go to the debug log.
				const report = failing ? this.log.debug.bind(this.log) : this.log.warn.bind(this.log);
				failing = true;
				report('Tenant Credential Swap could not renew a lock; retrying until the lease ends', {
					lockKey: this.key,
					executionId: this.owner.executionId,
					leftMs: Math.round(this.remainingMs()),
					error: error instanceof Error ? error.message : String(error),
				});
			}
		}
	}

	/** The release failed (store unreachable): try again until the lease would have ended anyway. */
	private async retryReleaseInBackground(): Promise<void> {
		while (this.current === 'held' && this.remainingMs() > 0) {
			const pause = sleepUnlessWoken(Math.min(retryEveryMs(this.ttl), this.remainingMs()), true);
			await Promise.race([pause.promise, this.endedHere]);
			pause.wake();
			if (this.current !== 'held' || this.remainingMs() <= 0) return;
			try {
				const outcome = await this.releaseInStore();
				this.log.debug('Tenant Credential Swap released a lock on a later try', { lockKey: this.key, executionId: this.owner.executionId, status: outcome.status });
				return;
			} catch {
				// Still unreachable: the next try, or the TTL, ends it.
			}
		}
	}

	/**
	 * One release call to the store at a time (a caller's and the background retry's): answered in
	 * the order the store applied them, the first one decides (a second finds the token gone).
	 */
	private async releaseInStore(): Promise<ReleaseOutcome> {
		const attempt = this.releaseQueue.then(async () => {
			if (this.current !== 'held') return this.outcomeHere();
			const outcome = await this.engine.release(this);
			this.releasedWith(outcome);
			return outcome;
		});
		this.releaseQueue = attempt.catch(() => undefined);
		return await attempt;
	}

	/** The outcome of a release of a lock that has already ended here. */
	private outcomeHere(): ReleaseOutcome {
		if (this.current !== 'released') return { key: this.key, status: 'lost' };
		return this.storeRelease ?? { key: this.key, status: 'released', heldMs: 0 };
	}

	private releasedWith(outcome: ReleaseOutcome): void {
		if (outcome.status === 'released') {
			if (this.current === 'held') this.storeRelease = outcome;
			this.finish('released');
			return;
		}
		// The store did not have our lease any more: the caller gets `lost` in the outcome and reports it.
		this.finish('lost', new LockLostError(this.key, 'the lock store no longer had this lease when it was released', 'vanished'));
	}

	/** The store recorded a release of this token (Release Lock or an error workflow, maybe elsewhere): not a loss. */
	private endReleasedElsewhere(): void {
		this.log.debug('Tenant Credential Swap: a lock this process renewed was released elsewhere', {
			lockKey: this.key,
			executionId: this.owner.executionId,
		});
		this.finish('released');
	}

	/** (Re)starts the timer that ends the lock at its deadline. */
	private armDeadline(): void {
		this.cancelDeadlineTimer();
		if (this.current !== 'held') return;
		this.cancelDeadlineTimer = startBackgroundTimer(this.deadline - performance.now(), () => this.deadlineReached());
	}

	private deadlineReached(): void {
		if (this.current !== 'held') return;
		// A timer capped at the longest delay Node allows fires early: wait on.
		if (performance.now() < this.deadline) {
			this.armDeadline();
			return;
		}
		if (this.renewing && !this.releasing) this.markLost('deadline');
		else this.finish('expired');
	}

	private markLost(reason: LockLossReason): void {
		if (this.current !== 'held') return;
		const error = new LockLostError(this.key, undefined, reason);
		this.finish('lost', error);
		this.log.warn(`Tenant Credential Swap lost a lock while its execution could still use the base credential: ${error.message}`, {
			lockKey: this.key,
			executionId: this.owner.executionId,
			reason,
		});
		try {
			void Promise.resolve(this.onLost?.(this, error)).catch((failure: unknown) => this.reportHandlerFailure(failure));
		} catch (failure) {
			this.reportHandlerFailure(failure);
		}
	}

	private reportHandlerFailure(failure: unknown): void {
		this.log.warn('Tenant Credential Swap could not record a lost lock', {
			lockKey: this.key,
			executionId: this.owner.executionId,
			error: failure instanceof Error ? failure.message : String(failure),
		});
	}

	private finish(state: Exclude<HeldLockState, 'held'>, lostError?: LockLostError): void {
		if (this.current !== 'held') return;
		this.current = state;
		this.cancelDeadlineTimer();
		this.pause?.wake();
		this.signalEnded();
		if (state === 'lost') this.lostController.abort(lostError ?? new LockLostError(this.key));
		this.onEnd(this);
	}

	/** What a call on a lock that ended here throws. */
	private endedError(): LockError {
		if (this.current === 'released' || (this.current === 'held' && this.releasing)) return new LockReleasedError(this.key);
		const reason = this.lost.reason;
		return reason instanceof LockLostError ? reason : new LockLostError(this.key, undefined, this.current === 'expired' ? 'expired' : 'deadline');
	}
}
