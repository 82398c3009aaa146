import type { HeldLock, HeldLockLogger } from './HeldLock';
import type { ReleaseOutcome } from './types';
import { sleepUnlessWoken } from './waiting';

/**
 * What n8n says of an execution: still going, over, no answer this time (`unknown`), or never an
 * answer we can trust (`untrackable`: the API key cannot read it), where the TTL alone must do.
 */
export type ExecutionState = 'running' | 'ended' | 'unknown' | 'untrackable';

/** Statuses of n8n's executions API that mean the execution will not run another node. */
const ENDED_STATUSES = new Set(['success', 'error', 'canceled', 'crashed', 'stopped', 'missing']);

export function executionStateOf(status: string): ExecutionState {
	if (ENDED_STATUSES.has(status)) return 'ended';
	if (status === 'unknown') return 'unknown';
	return 'running';
}

export interface KeepOptions {
	/** The owner's identity in this process: instance + execution (ownerKey). */
	ownerKey: string;
	executionId: string;
	/** Held locks of the execution; they renew themselves. */
	locks: HeldLock[];
	/** Asks n8n whether the execution still runs. Throws when it cannot tell. */
	executionState: () => Promise<ExecutionState>;
	/** Called once the keeper has freed the locks of an execution that ended without Release Lock. */
	onReleased?: (outcomes: ReleaseOutcome[]) => Promise<void> | void;
	/** Called when a held lock of the execution is lost while the execution may still use it. */
	onLost?: (lock: HeldLock) => Promise<void> | void;
	/** Aborted when n8n cancels the execution: check at once instead of at the next tick. */
	cancelSignal?: AbortSignal;
	/** Where this execution's problems are logged (the node's logger); else the keeper's. */
	log?: KeeperLogger;
}

export type KeeperLogger = HeldLockLogger;

/** Upper bound of the time between two looks at a held execution, whatever the TTL. */
const MAX_CHECK_INTERVAL_MS = 1_000;

interface Watched {
	options: KeepOptions;
	locks: Set<HeldLock>;
	ttlMs: number;
	pause?: ReturnType<typeof sleepUnlessWoken>;
	/** A status question is on its way (it may take long; the locks renew themselves meanwhile). */
	checking: boolean;
	stopped: boolean;
	cleanups: Array<() => void>;
}

/**
 * Decides when an execution's held locks stop: it asks n8n whether the execution still runs, frees
 * its locks (by token) when n8n says it ended without a Release Lock (error, cancel, forgotten
 * node), and stops their renewal when n8n cannot tell us (then the TTL applies). The locks renew
 * themselves from the grant (HeldLock); this only decides when that ends. When this process dies
 * the renewals stop and the TTL frees the locks: the TTL is the crash backstop only.
 */
export class LeaseKeeper {
	private readonly watched = new Map<string, Watched>();

	constructor(private readonly log: KeeperLogger = { warn: () => undefined, debug: () => undefined }) {}

	/** Starts (or joins) watching the execution; the first look comes after one interval. */
	keep(options: KeepOptions): void {
		let entry = this.watched.get(options.ownerKey);
		const isNew = !entry;
		if (!entry) {
			entry = { options, locks: new Set(), ttlMs: Infinity, checking: false, stopped: false, cleanups: [] };
			this.watched.set(options.ownerKey, entry);
		} else {
			entry.options = options;
		}
		for (const lock of options.locks) this.add(entry, lock);
		this.watchCancel(entry);
		if (isNew) void this.run(entry);
	}

	/** The execution released its locks itself (Release Lock): stop watching. */
	forget(ownerKey: string): void {
		const entry = this.watched.get(ownerKey);
		if (entry) this.stop(entry);
	}

	/** Stops watching everything (the locks keep their own renewal state). */
	stopAll(): void {
		for (const entry of [...this.watched.values()]) this.stop(entry);
	}

	/** Owners whose executions this keeper watches (for tests and diagnostics). */
	keptOwners(): string[] {
		return [...this.watched.keys()];
	}

	private add(entry: Watched, lock: HeldLock): void {
		if (entry.locks.has(lock)) return;
		entry.locks.add(lock);
		entry.ttlMs = Math.min(entry.ttlMs, lock.ttlMs);
		const onLost = () => {
			void Promise.resolve(entry.options.onLost?.(lock)).catch(() => undefined);
		};
		lock.lost.addEventListener('abort', onLost, { once: true });
		entry.cleanups.push(() => lock.lost.removeEventListener('abort', onLost));
	}

	private logFor(entry: Watched): KeeperLogger {
		return entry.options.log ?? this.log;
	}

	private interval(entry: Watched): number {
		return Math.max(50, Math.min(MAX_CHECK_INTERVAL_MS, Math.floor(entry.ttlMs / 3)));
	}

	/** One look per interval until stopped. The pause never keeps n8n from exiting. */
	private async run(entry: Watched): Promise<void> {
		while (!entry.stopped) {
			entry.pause = sleepUnlessWoken(this.interval(entry), true);
			await entry.pause.promise;
			if (!entry.stopped) this.tick(entry);
		}
	}

	private watchCancel(entry: Watched): void {
		const signal = entry.options.cancelSignal;
		if (!signal) return;
		const onAbort = () => {
			if (!entry.stopped) this.tick(entry);
		};
		signal.addEventListener('abort', onAbort, { once: true });
		entry.cleanups.push(() => signal.removeEventListener('abort', onAbort));
	}

	private stop(entry: Watched): void {
		entry.stopped = true;
		entry.pause?.wake();
		for (const cleanup of entry.cleanups.splice(0)) cleanup();
		if (this.watched.get(entry.options.ownerKey) === entry) this.watched.delete(entry.options.ownerKey);
	}

	private tick(entry: Watched): void {
		for (const lock of [...entry.locks]) if (lock.state !== 'held') entry.locks.delete(lock);
		// Every lock ended (released elsewhere, lost, run out): nothing left to watch.
		if (entry.locks.size === 0) {
			this.stop(entry);
			return;
		}
		if (entry.checking) return;
		entry.checking = true;
		void this.check(entry).finally(() => (entry.checking = false));
	}

	private async check(entry: Watched): Promise<void> {
		const { executionId } = entry.options;
		let state: ExecutionState;
		try {
			state = await entry.options.executionState();
		} catch (error) {
			// No answer is not an end: dropping the lock of a running execution would let another tenant in.
			state = 'unknown';
			const reason = (error as Error)?.message ?? String(error);
			// n8n's console log shows the message only, so the reason goes into it.
			this.logFor(entry).warn(`Tenant Credential Swap could not ask n8n whether execution ${executionId} still runs, so it keeps its lock: ${reason}`, {
				executionId,
				error: reason,
			});
		}
		if (entry.stopped) return;
		if (state === 'ended') await this.releaseEnded(entry);
		else if (state === 'untrackable') {
			this.logFor(entry).warn(
				`Tenant Credential Swap cannot follow execution ${executionId} through the n8n API (the API key needs the execution:read scope and access to the workflow, or the execution is not saved), so it stops renewing its lock: the Lock TTL applies`,
				{ executionId },
			);
			for (const lock of entry.locks) lock.stopRenewing();
			this.stop(entry);
		}
	}

	private async releaseEnded(entry: Watched): Promise<void> {
		const { executionId } = entry.options;
		const outcomes: ReleaseOutcome[] = [];
		let failed = false;
		for (const lock of [...entry.locks]) {
			try {
				if (lock.state === 'held') outcomes.push(await lock.release());
				entry.locks.delete(lock);
			} catch (error) {
				// The store is down: the lock keeps renewing; try again at the next tick.
				failed = true;
				this.logFor(entry).warn('Tenant Credential Swap could not free a lock of an ended execution; retrying', {
					executionId,
					lockKey: lock.key,
					error: (error as Error)?.message ?? String(error),
				});
			}
		}
		if (failed) return;
		this.stop(entry);
		this.logFor(entry).debug('Tenant Credential Swap freed the locks of an execution that ended without Release Lock', {
			executionId,
			locks: outcomes.length,
		});
		if (outcomes.length > 0) await entry.options.onReleased?.(outcomes);
	}
}

/** One keeper per process: it watches executions, whatever their lock backend. */
let keeper: LeaseKeeper | undefined;

export function leaseKeeper(): LeaseKeeper {
	keeper ??= new LeaseKeeper();
	return keeper;
}

/** For tests and shutdown: stops watching every execution in this process. */
export function stopLeaseKeepers(): void {
	keeper?.stopAll();
}
