import { LockLostError, LockReleasedError } from './errors';
import { HeldLock, type HeldLockLogger, type LockLostHandler } from './HeldLock';
import { ownerKey, type AcquireOptions, type LockEngine, type LockOwner, type ReleaseOutcome } from './types';

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

	/**
	 * `log` gets the lock's warnings; `onLost` is called once if the lock is lost (e.g. to write an
	 * audit line). On re-entry both replace the earlier caller's.
	 */
	async acquire(key: string, options: AcquireOptions, log?: HeldLockLogger, onLost?: LockLostHandler): Promise<Acquired> {
		const id = heldId(options.owner, key);
		const mine = this.held.get(id);
		if (mine?.reenterable) {
			try {
				await mine.extend(options.ttlMs);
				mine.resumeRenewing();
				if (log) mine.setLogger(log);
				if (onLost) mine.setLostHandler(onLost);
				return { lock: mine, reentered: true, waitedMs: 0 };
			} catch (error) {
				// Ended meanwhile (lost, or released elsewhere): take the key afresh below, like anyone else.
				// Anything else (store unreachable) is the caller's problem.
				if (!(error instanceof LockLostError || error instanceof LockReleasedError)) throw error;
			}
		}
		const lease = await this.engine.acquire(key, options);
		const lock = new HeldLock(this.engine, lease, options.ttlMs, { log, onLost, onEnd: (ended) => this.forget(id, ended) });
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
	 * A release the store refuses does not keep the others renewing: each is asked, then the first
	 * refusal is thrown (every refused lock retries its release until its TTL).
	 */
	async releaseOwner(owner: Pick<LockOwner, 'instanceId' | 'executionId'>): Promise<ReleaseOutcome[]> {
		const outcomes: ReleaseOutcome[] = [];
		const refusals: unknown[] = [];
		for (const lock of this.heldBy(owner)) {
			try {
				outcomes.push(await lock.release());
			} catch (error) {
				refusals.push(error);
			}
		}
		if (refusals.length > 0) throw refusals[0];
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
