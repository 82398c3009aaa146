import { createHash, randomUUID } from 'node:crypto';

import { LockTimeoutError } from './errors';
import type { AcquireOptions, AuditEvent, LockEngine, LockHandle, LockHolder, LockLease, ReleaseOutcome, SwapState } from './types';
import { KeyedFifo, sleepUnlessWoken, validateAcquireOptions } from './waiting';

/** Re-check a held lock at least this often even without a wake-up (lost message, reconnect). */
const MAX_SILENT_WAIT_MS = 5_000;
/** While the wake-up connection is down nobody can wake us, so check more often. */
const DEGRADED_WAIT_MS = 250;

/** Keys can be long and contain anything; stores index them by hash. */
export function hashLockKey(key: string): string {
	return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** One try at the store: the lease when it was taken (or renewed), else who holds the key. */
export interface Attempt {
	lease?: { token: string; fence: number; acquiredAt: Date; expiresAt: Date; reentered: boolean };
	holder?: LockHolder;
	/** How long the holder's lease still runs, by the store's clock. */
	remainingMs: number;
}

/**
 * The waiting half of a lease lock, shared by the stores: a per-process FIFO per key, one store
 * attempt per wake-up, woken by the store's release message or when the holder's lease ends.
 */
export abstract class StoreLockEngine implements LockEngine {
	abstract readonly backend: LockEngine['backend'];

	protected listenerUp = false;
	private readonly wakers = new Map<string, Set<() => void>>();
	private readonly fifo = new KeyedFifo();
	/** keyHash -> execution holding it from this process: lets a re-entrant acquire skip the local queue. */
	protected readonly localHolders = new Map<string, string>();

	/** Prepares the store on first use (tables, scripts). */
	protected abstract ensureReady(): Promise<void>;
	/** Starts receiving release messages (calls wake / listenerDropped); resolves when listening. */
	protected abstract ensureListening(): Promise<void>;
	protected abstract attempt(key: string, keyHash: string, token: string, options: AcquireOptions): Promise<Attempt>;

	abstract extend(handle: LockHandle, ttlMs: number): Promise<LockLease>;
	abstract release(handle: LockHandle): Promise<ReleaseOutcome>;
	abstract releaseExecution(executionId: string): Promise<ReleaseOutcome[]>;
	abstract holder(key: string): Promise<LockHolder | undefined>;
	abstract readSwapState(credentialKey: string): Promise<SwapState | undefined>;
	abstract writeSwapState(credentialKey: string, state: SwapState | undefined): Promise<void>;
	abstract audit(events: AuditEvent[]): Promise<void>;

	async acquire(key: string, options: AcquireOptions): Promise<LockLease> {
		validateAcquireOptions(key, options);
		await this.ensureReady();
		const keyHash = hashLockKey(key);
		const started = Date.now();
		const deadline = started + options.waitTimeoutMs;
		const token = randomUUID();

		// Re-entry must not queue behind waiters for the lock this execution already holds.
		if (this.localHolders.get(keyHash) === options.owner.executionId) {
			const result = await this.attempt(key, keyHash, token, options);
			if (result.lease) return this.toLease(key, keyHash, result.lease, options, started);
		}

		// Joining the queue is synchronous, so callers are served in call order.
		const leave = await this.fifo.enter(keyHash, deadline);
		if (!leave) {
			throw new LockTimeoutError(key, Date.now() - started, await this.holder(key).catch(() => undefined));
		}
		try {
			if (options.waitTimeoutMs > 0) await this.ensureListening().catch(() => undefined);
			for (;;) {
				// Register before trying, so a release between the attempt and the wait still wakes us.
				const sleep = this.subscribe(keyHash);
				try {
					const result = await this.attempt(key, keyHash, token, options);
					if (result.lease) return this.toLease(key, keyHash, result.lease, options, started);
					const left = deadline - Date.now();
					if (left <= 0) throw new LockTimeoutError(key, Date.now() - started, await this.holderFor(key, result));
					const silentCap = this.listenerUp ? MAX_SILENT_WAIT_MS : DEGRADED_WAIT_MS;
					sleep.arm(Math.min(left, Math.ceil(result.remainingMs) + 1, silentCap));
					await sleep.promise;
				} finally {
					sleep.cancel();
				}
			}
		} finally {
			leave();
		}
	}

	/** The attempt's snapshot may predate the winner's commit: then ask the store again, for the error message. */
	private async holderFor(key: string, result: Attempt): Promise<LockHolder | undefined> {
		return result.holder ?? (await this.holder(key).catch(() => undefined));
	}

	/** After a release from this process: local waiters need not wait for the store's message. */
	protected releasedHere(keyHash: string): void {
		this.wake(keyHash);
	}

	/** The key was released (here or, by the store's message, anywhere). */
	protected wake(keyHash: string): void {
		this.localHolders.delete(keyHash);
		for (const wake of this.wakers.get(keyHash) ?? []) wake();
	}

	/** The wake-up connection broke: waiters may have missed a release, so let them look again. */
	protected listenerDropped(): void {
		this.listenerUp = false;
		for (const set of this.wakers.values()) for (const wake of set) wake();
	}

	private toLease(key: string, keyHash: string, lease: NonNullable<Attempt['lease']>, options: AcquireOptions, started: number): LockLease {
		this.localHolders.set(keyHash, options.owner.executionId);
		return { key, owner: options.owner, waitedMs: Date.now() - started, ...lease };
	}

	private subscribe(keyHash: string) {
		let sleep: ReturnType<typeof sleepUnlessWoken> | undefined;
		let woken = false;
		const wake = () => {
			woken = true;
			sleep?.wake();
		};
		let set = this.wakers.get(keyHash);
		if (!set) {
			set = new Set();
			this.wakers.set(keyHash, set);
		}
		set.add(wake);
		const handle = {
			promise: Promise.resolve(),
			arm: (ms: number) => {
				sleep = sleepUnlessWoken(woken ? 0 : ms);
				handle.promise = sleep.promise;
			},
			cancel: () => {
				sleep?.wake();
				const current = this.wakers.get(keyHash);
				current?.delete(wake);
				if (current?.size === 0) this.wakers.delete(keyHash);
			},
		};
		return handle;
	}
}
