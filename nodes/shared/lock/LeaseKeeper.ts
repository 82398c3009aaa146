import { LockLostError } from './errors';
import type { LockEngine, LockHandle, ReleaseOutcome } from './types';
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
	executionId: string;
	handles: LockHandle[];
	ttlMs: number;
	/** Asks n8n whether the execution still runs. Throws when it cannot tell. */
	executionState: () => Promise<ExecutionState>;
	/** Called once the keeper has freed the locks of an execution that ended without Release Lock. */
	onReleased?: (outcomes: ReleaseOutcome[]) => Promise<void> | void;
	/** Aborted when n8n cancels the execution: check at once instead of at the next tick. */
	cancelSignal?: AbortSignal;
	/** Where this execution's renewal problems are logged (the node's logger); else the keeper's. */
	log?: KeeperLogger;
}

export interface KeeperLogger {
	warn(message: string, meta?: Record<string, unknown>): void;
	debug(message: string, meta?: Record<string, unknown>): void;
}

/** Upper bound of the time between two looks at a held execution, whatever the TTL. */
const MAX_CHECK_INTERVAL_MS = 1_000;

interface Kept {
	options: KeepOptions;
	handles: Map<string, LockHandle>;
	lastExtendedAt: number;
	/** The pause before the next look; woken to stop. */
	pause?: ReturnType<typeof sleepUnlessWoken>;
	/** A status question is on its way (it may take long; renewals do not wait for it). */
	checking: boolean;
	stopped: boolean;
	removeCancelListener?: () => void;
}

/**
 * Keeps the leases of executions of this process alive while n8n says they run, and frees them
 * when n8n says they ended without a Release Lock (error, cancel, forgotten node). When this
 * process dies the renewals stop and the TTL frees the locks: the TTL is the crash backstop only.
 */
export class LeaseKeeper {
	private readonly kept = new Map<string, Kept>();

	constructor(
		private readonly engine: LockEngine,
		private readonly log: KeeperLogger = { warn: () => undefined, debug: () => undefined },
	) {}

	/** Starts (or joins) renewing the execution's leases; the first look comes after one interval. */
	keep(options: KeepOptions): void {
		let entry = this.kept.get(options.executionId);
		const isNew = !entry;
		if (!entry) {
			entry = { options, handles: new Map(), lastExtendedAt: performance.now(), checking: false, stopped: false };
			this.kept.set(options.executionId, entry);
		} else {
			// A later swap of the same execution: its TTL and API answer for all its leases.
			entry.options = { ...options, ttlMs: Math.min(entry.options.ttlMs, options.ttlMs) };
			entry.lastExtendedAt = performance.now();
		}
		for (const handle of options.handles) entry.handles.set(handle.key, handle);
		this.watchCancel(entry);
		if (isNew) void this.run(entry);
	}

	/** The execution released its locks itself (Release Lock): stop renewing them. */
	forget(executionId: string): void {
		const entry = this.kept.get(executionId);
		if (entry) this.stop(entry);
	}

	/** Stops every renewal, e.g. when the engine closes. */
	stopAll(): void {
		for (const entry of [...this.kept.values()]) this.stop(entry);
	}

	/** Executions whose leases this keeper renews (for tests and diagnostics). */
	keptExecutions(): string[] {
		return [...this.kept.keys()];
	}

	private logFor(entry: Kept): KeeperLogger {
		return entry.options.log ?? this.log;
	}

	private interval(entry: Kept): number {
		return Math.max(50, Math.min(MAX_CHECK_INTERVAL_MS, Math.floor(entry.options.ttlMs / 3)));
	}

	/** One look per interval until stopped. The pause never keeps n8n from exiting. */
	private async run(entry: Kept): Promise<void> {
		while (!entry.stopped) {
			entry.pause = sleepUnlessWoken(this.interval(entry), true);
			await entry.pause.promise;
			if (!entry.stopped) await this.tick(entry);
		}
	}

	private watchCancel(entry: Kept): void {
		entry.removeCancelListener?.();
		const signal = entry.options.cancelSignal;
		if (!signal) return;
		const onAbort = () => {
			if (!entry.stopped) void this.tick(entry);
		};
		signal.addEventListener('abort', onAbort, { once: true });
		entry.removeCancelListener = () => signal.removeEventListener('abort', onAbort);
	}

	private stop(entry: Kept): void {
		entry.stopped = true;
		entry.pause?.wake();
		entry.removeCancelListener?.();
		if (this.kept.get(entry.options.executionId) === entry) this.kept.delete(entry.options.executionId);
	}

	private async tick(entry: Kept): Promise<void> {
		try {
			if (performance.now() - entry.lastExtendedAt >= entry.options.ttlMs / 3) await this.extendAll(entry);
			if (!entry.checking && !entry.stopped) {
				entry.checking = true;
				void this.check(entry).finally(() => (entry.checking = false));
			}
		} finally {
			// Every lease lost (released elsewhere): nothing left to renew.
			if (!entry.stopped && entry.handles.size === 0) this.stop(entry);
		}
	}

	private async check(entry: Kept): Promise<void> {
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
				'Tenant Credential Swap cannot see this execution through the n8n API (the API key needs the execution:read scope and access to the workflow), so it does not renew its lock: the Lock TTL applies',
				{ executionId },
			);
			this.stop(entry);
		}
	}

	private async extendAll(entry: Kept): Promise<void> {
		const attemptedAt = performance.now();
		let allRenewed = true;
		for (const handle of [...entry.handles.values()]) {
			try {
				await this.engine.extend(handle, entry.options.ttlMs);
			} catch (error) {
				if (error instanceof LockLostError) {
					// Released elsewhere (Release Lock in another process, an error workflow) or expired.
					entry.handles.delete(handle.key);
					this.logFor(entry).debug('Tenant Credential Swap stopped renewing a lock it no longer holds', {
						executionId: entry.options.executionId,
						lockKey: handle.key,
					});
				} else {
					allRenewed = false;
					this.logFor(entry).warn('Tenant Credential Swap could not renew a lock; retrying', {
						executionId: entry.options.executionId,
						lockKey: handle.key,
						error: (error as Error)?.message ?? String(error),
					});
				}
			}
		}
		if (allRenewed) entry.lastExtendedAt = attemptedAt;
	}

	private async releaseEnded(entry: Kept): Promise<void> {
		const { executionId } = entry.options;
		try {
			const outcomes = await this.engine.releaseExecution(executionId);
			this.stop(entry);
			this.logFor(entry).debug('Tenant Credential Swap freed the locks of an execution that ended without Release Lock', {
				executionId,
				locks: outcomes.length,
			});
			await entry.options.onReleased?.(outcomes);
		} catch (error) {
			// The store is down: keep the entry and try again at the next tick.
			this.logFor(entry).warn('Tenant Credential Swap could not free the locks of an ended execution; retrying', {
				executionId,
				error: (error as Error)?.message ?? String(error),
			});
		}
	}
}

const keepers = new WeakMap<LockEngine, LeaseKeeper>();
const allKeepers = new Set<LeaseKeeper>();

/** One keeper per lock engine per process, like the engines themselves. */
export function leaseKeeperFor(engine: LockEngine, log?: KeeperLogger): LeaseKeeper {
	let keeper = keepers.get(engine);
	if (!keeper) {
		keeper = new LeaseKeeper(engine, log);
		keepers.set(engine, keeper);
		allKeepers.add(keeper);
	}
	return keeper;
}

/** For tests and shutdown: stops every renewal in this process. */
export function stopLeaseKeepers(): void {
	for (const keeper of allKeepers) keeper.stopAll();
}
