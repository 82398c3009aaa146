import { LockError, LockLostError } from './errors';
import { ownerKey, type AcquireOptions, type LockEngine, type LockLease, type LockOwner, type ReleaseOutcome } from './types';
import { sleepUnlessWoken, validateTtl } from './waiting';

/** `expired`: renewal was stopped on purpose and the TTL ran out; `lost`: it ended while meant to be held. */
export type HeldLockState = 'held' | 'released' | 'expired' | 'lost';

/** Where a held lock reports trouble (the node's logger). */
export interface HeldLockLogger {
	warn(message: string, meta?: Record<string, unknown>): void;
	debug(message: string, meta?: Record<string, unknown>): void;
}

const SILENT: HeldLockLogger = { warn: () => undefined, debug: () => undefined };

/** Three renewals per lease: two may fail (store hiccup) before the lease is in danger. */
function renewEveryMs(ttlMs: number): number {
	return Math.max(10, Math.floor(ttlMs / 3));
}

/** After a renewal the store did not answer, try again this soon (the lease is running out). */
function retryEveryMs(ttlMs: number): number {
	return Math.max(10, Math.min(1_000, Math.floor(ttlMs / 10)));
}

/**
 * A lock this process holds. It renews its lease from the moment it was granted (like Redisson's
 * watchdog or redlock's `using()`), until it is released, renewal is stopped (then the TTL runs out),
 * or the lease is lost. Loss is never silent: `lost` is aborted with a LockLostError, and the
 * logger gets a warning.
 *
 * Time left is judged by this process's monotonic clock from when the last successful renewal was
 * *sent* (the store renewed after that), so a renewal answered late never overstates the lease.
 */
export class HeldLock {
	readonly key: string;
	readonly token: string;
	readonly fence: number;
	readonly owner: LockOwner;
	readonly acquiredAt: Date;
	private storeExpiresAt: Date;
	private localExpiresAt: number;
	private ttl: number;
	private current: HeldLockState = 'held';
	private renewing = true;
	private readonly lostController = new AbortController();
	private pause?: ReturnType<typeof sleepUnlessWoken>;
	private readonly ended: Promise<void>;

	constructor(
		private readonly engine: LockEngine,
		lease: LockLease,
		ttlMs: number,
		private readonly onEnd: (lock: HeldLock) => void = () => undefined,
		private log: HeldLockLogger = SILENT,
	) {
		this.key = lease.key;
		this.token = lease.token;
		this.fence = lease.fence;
		this.owner = lease.owner;
		this.acquiredAt = lease.acquiredAt;
		this.storeExpiresAt = lease.expiresAt;
		this.ttl = ttlMs;
		this.localExpiresAt = (lease.requestSentAt ?? performance.now()) + ttlMs;
		this.ended = this.keepAlive();
	}

	get state(): HeldLockState {
		if (this.current === 'held' && this.remainingMs() <= 0) {
			if (this.renewing) this.markLost('the lease ran out before it could be renewed');
			else this.finish('expired');
		}
		return this.current;
	}

	/** Aborted (reason: a LockLostError) when the lease is lost while this process still holds it. */
	get lost(): AbortSignal {
		return this.lostController.signal;
	}

	get ttlMs(): number {
		return this.ttl;
	}

	get backend(): LockEngine['backend'] {
		return this.engine.backend;
	}

	/** The lease's end by the store's clock, as of the last renewal. */
	get expiresAt(): Date {
		return this.storeExpiresAt;
	}

	/** What is left of the lease for certain, by this process's clock (0 once released or lost). */
	remainingMs(): number {
		if (this.current !== 'held') return 0;
		return Math.max(0, this.localExpiresAt - performance.now());
	}

	/** Renews now (`ttlMs`: a new lease length, from now on). Throws LockLostError when not held. */
	async extend(ttlMs = this.ttl): Promise<void> {
		validateTtl(ttlMs);
		if (this.state !== 'held') throw this.lostError();
		const sentAt = performance.now();
		try {
			const lease = await this.engine.extend(this, ttlMs);
			this.ttl = ttlMs;
			this.renewed(sentAt, lease.expiresAt);
		} catch (error) {
			if (error instanceof LockLostError) await this.markLostFromStore();
			throw error;
		}
	}

	/** Renews again from now on (after stopRenewing), e.g. when the same owner takes the lock again. */
	resumeRenewing(): void {
		if (this.current !== 'held' || this.renewing) return;
		this.renewing = true;
		this.pause?.wake();
	}

	/** Stops renewing: the lease ends by its TTL unless released. The lock stays held until then. */
	stopRenewing(): void {
		this.renewing = false;
		this.pause?.wake();
	}

	/** Frees the key if this lease still holds it; a lease lost before is reported `lost`. */
	async release(): Promise<ReleaseOutcome> {
		const state = this.state;
		if (state === 'lost' || state === 'expired') return { key: this.key, status: 'lost' };
		if (state === 'released') return { key: this.key, status: 'released', heldMs: 0 };
		const outcome = await this.engine.release(this);
		this.finish(outcome.status === 'released' ? 'released' : 'lost', 'it was released by someone else or expired');
		return outcome;
	}

	/** For tests and shutdown: stops renewing and forgets the lock here (the store keeps the lease until its TTL). */
	abandon(): void {
		this.finish('released');
	}

	/** Resolves when renewals have stopped for good (released, lost, abandoned or run out). */
	async whenEnded(): Promise<void> {
		await this.ended;
	}

	setLogger(log: HeldLockLogger): void {
		this.log = log;
	}

	private renewed(sentAt: number, storeExpiresAt: Date): void {
		if (this.current !== 'held') return;
		this.localExpiresAt = Math.max(this.localExpiresAt, sentAt + this.ttl);
		if (storeExpiresAt > this.storeExpiresAt) this.storeExpiresAt = storeExpiresAt;
	}

	/**
	 * The renewal loop: every TTL/3 while renewing; faster retries while the store does not answer;
	 * without renewal, it only waits for the lease to run out, then forgets the lock.
	 */
	private async keepAlive(): Promise<void> {
		let failing = false;
		while (this.current === 'held') {
			const left = this.remainingMs();
			if (left <= 0) {
				if (this.renewing) this.markLost('the lock store did not confirm a renewal before the lease ran out');
				else this.finish('expired');
				return;
			}
			const wait = this.renewing ? Math.min(failing ? retryEveryMs(this.ttl) : renewEveryMs(this.ttl), left) : left;
			this.pause = sleepUnlessWoken(wait, true);
			await this.pause.promise;
			this.pause = undefined;
			if (this.current !== 'held' || !this.renewing || this.remainingMs() <= 0) continue;
			const sentAt = performance.now();
			try {
				const lease = await this.engine.extend(this, this.ttl);
				this.renewed(sentAt, lease.expiresAt);
				failing = false;
			} catch (error) {
				if (this.current !== 'held') return;
				if (error instanceof LockLostError) {
					await this.markLostFromStore();
					return;
				}
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

	/** The store says our token no longer holds the key: freed by someone (Release Lock elsewhere) or taken over. */
	private async markLostFromStore(): Promise<void> {
		if (this.current !== 'held') return;
		const holder = await this.engine.holder(this.key).catch(() => undefined);
		if (this.current !== 'held') return;
		if (!holder) {
			// Freed by a release that used the owner (an error workflow, Release Lock in another process).
			this.log.debug('Tenant Credential Swap: a lock this process renewed was released elsewhere', {
				lockKey: this.key,
				executionId: this.owner.executionId,
			});
			this.finish('released');
			return;
		}
		this.markLost(`another execution (${holder.owner.executionId}) holds it now`);
	}

	private markLost(detail: string): void {
		if (this.current !== 'held') return;
		this.finish('lost', detail);
		this.log.warn(`Tenant Credential Swap lost a lock while its execution could still use the base credential: ${detail}`, {
			lockKey: this.key,
			executionId: this.owner.executionId,
		});
	}

	private finish(state: Exclude<HeldLockState, 'held'>, detail?: string): void {
		if (this.current !== 'held') return;
		this.current = state;
		this.pause?.wake();
		if (state === 'lost') this.lostController.abort(this.lostError(detail));
		this.onEnd(this);
	}

	private lostError(detail?: string): LockError {
		return new LockLostError(this.key, detail);
	}
}

/** One acquire: the held lock, and whether this owner already held it (re-entry). */
export interface Acquired {
	lock: HeldLock;
	/** This owner already held the key in this process: the call renewed that lease. */
	reentered: boolean;
	/** Time spent waiting for the key in this call. */
	waitedMs: number;
}

/**
 * The lock API the nodes use: acquire gives a HeldLock that renews itself from the grant.
 *
 * Re-entry rule: an owner (instance + execution) re-enters a key only through the HeldLock this
 * process holds for it, i.e. by token. The store never treats a key held by "the same execution
 * ID" as free, so another n8n instance with the same execution ID, or a second run of the same
 * execution on another worker (Bull re-running a stalled job while the first still runs), waits like
 * any other owner instead of sharing the critical section.
 */
export class LockClient {
	/** ownerKey + key -> the lock this process holds. Entries leave when the lock ends. */
	private readonly held = new Map<string, HeldLock>();

	constructor(readonly engine: LockEngine) {}

	get backend(): LockEngine['backend'] {
		return this.engine.backend;
	}

	async acquire(key: string, options: AcquireOptions, log?: HeldLockLogger): Promise<Acquired> {
		const id = heldId(options.owner, key);
		const mine = this.held.get(id);
		if (mine && mine.state === 'held') {
			try {
				await mine.extend(options.ttlMs);
				mine.resumeRenewing();
				if (log) mine.setLogger(log);
				return { lock: mine, reentered: true, waitedMs: 0 };
			} catch (error) {
				// Lost meanwhile: take the key afresh below, like anyone else. Anything else is the caller's problem.
				if (!(error instanceof LockLostError)) throw error;
			}
		}
		const lease = await this.engine.acquire(key, options);
		const lock = new HeldLock(this.engine, lease, options.ttlMs, (ended) => this.forget(id, ended), log);
		if (lock.state === 'held') this.held.set(id, lock);
		return { lock, reentered: false, waitedMs: lease.waitedMs };
	}

	/** The locks this process holds for an owner. */
	heldBy(owner: Pick<LockOwner, 'instanceId' | 'executionId'>): HeldLock[] {
		const prefix = `${ownerKey(owner)}\u0000`;
		return [...this.held.entries()].filter(([id, lock]) => id.startsWith(prefix) && lock.state === 'held').map(([, lock]) => lock);
	}

	/**
	 * Frees an owner's locks: first those this process holds (by token, so their renewals stop cleanly),
	 * then any the store still lists for the owner (taken in another process, e.g. before a Wait).
	 */
	async releaseOwner(owner: Pick<LockOwner, 'instanceId' | 'executionId'>): Promise<ReleaseOutcome[]> {
		const outcomes: ReleaseOutcome[] = [];
		for (const lock of this.heldBy(owner)) outcomes.push(await lock.release());
		const mine = new Set(outcomes.map((outcome) => outcome.key));
		for (const outcome of await this.engine.releaseExecution(owner.executionId, owner.instanceId)) {
			if (!mine.has(outcome.key)) outcomes.push(outcome);
		}
		return outcomes.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
	}

	/** Frees a lease by its token; a lock this process holds stops renewing first. */
	async releaseToken(handle: { key: string; token: string }): Promise<ReleaseOutcome> {
		const mine = [...this.held.values()].find((lock) => lock.key === handle.key && lock.token === handle.token);
		return mine ? await mine.release() : await this.engine.release(handle);
	}

	/** Number of locks this process holds (for tests and diagnostics). */
	get size(): number {
		return this.held.size;
	}

	/** Stops every renewal (shutdown, tests); the store keeps the leases until their TTL. */
	abandonAll(): void {
		for (const lock of [...this.held.values()]) lock.abandon();
		this.held.clear();
	}

	private forget(id: string, lock: HeldLock): void {
		if (this.held.get(id) === lock) this.held.delete(id);
	}
}

function heldId(owner: Pick<LockOwner, 'instanceId' | 'executionId'>, key: string): string {
	return `${ownerKey(owner)}\u0000${key}`;
}

/** As many as there are engines (one per lock database and table per process). */
const clients = new Map<LockEngine, LockClient>();

/** One client per engine per process, so every node of every execution sees the same held locks. */
export function lockClientFor(engine: LockEngine): LockClient {
	let client = clients.get(engine);
	if (!client) {
		client = new LockClient(engine);
		clients.set(engine, client);
	}
	return client;
}

/** For tests and shutdown: stops the renewals of every held lock in this process. */
export function abandonHeldLocks(): void {
	for (const client of clients.values()) client.abandonAll();
	clients.clear();
}
