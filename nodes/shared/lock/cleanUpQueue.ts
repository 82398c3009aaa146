import { sleepUnlessWoken } from './waiting';

/** How often the clean-ups the store refused are tried again (while it keeps refusing: one request). */
export const CLEAN_UP_RETRY_MS = 1_000;
/**
 * At most this many clean-ups wait; beyond it the oldest are dropped (counted). Each one only
 * shortens what ends by its own TTL anyway (a lease, a waiter's ticket), so dropping is safe.
 */
export const CLEAN_UP_CAPACITY = 10_000;

interface CleanUp {
	run: () => Promise<unknown>;
	/** performance.now() after which it no longer matters (what it cleans up has ended by then). */
	giveUpAt: number;
	/** Called when it is dropped or given up (not when it ran). */
	onGiveUp?: () => void;
}

export interface CleanUpStatus {
	/** Clean-ups waiting for the store to answer. */
	pending: number;
	/** Retry loops running: 0 or 1, however many clean-ups wait. */
	workers: number;
	/** Clean-ups dropped because the queue was full (since the engine started). */
	dropped: number;
}

/**
 * The clean-ups an engine could not do because its store was unreachable (release by token of what
 * a failed attempt may have taken, withdrawal of a waiter's ticket), retried by one worker: every
 * CLEAN_UP_RETRY_MS it tries the oldest one (one request while the store is down); once that is
 * answered it does the rest, one after another. So 300 failed waiters cost one request a second,
 * not 300, and one timer, not 300.
 */
export class CleanUpQueue {
	/** id -> clean-up, oldest first (Map keeps insertion order). */
	private readonly entries = new Map<string, CleanUp>();
	private running = false;
	private dropped = 0;

	/** `stopped`: the engine is closing; the worker ends at its next turn. */
	constructor(
		private readonly stopped: () => boolean,
		private readonly capacity = CLEAN_UP_CAPACITY,
		private readonly retryEveryMs = CLEAN_UP_RETRY_MS,
	) {}

	/** Queues `run` for at most `forMs`. The same id again replaces the earlier one (and counts as new). */
	add(id: string, run: () => Promise<unknown>, forMs: number, onGiveUp?: () => void): void {
		if (this.stopped()) return;
		this.entries.delete(id);
		this.entries.set(id, { run, giveUpAt: performance.now() + forMs, onGiveUp });
		for (const [oldestId, oldest] of this.entries) {
			if (this.entries.size <= this.capacity) break;
			this.entries.delete(oldestId);
			this.dropped += 1;
			oldest.onGiveUp?.();
		}
		if (!this.running) {
			this.running = true;
			void this.work();
		}
	}

	status(): CleanUpStatus {
		return { pending: this.entries.size, workers: this.running ? 1 : 0, dropped: this.dropped };
	}

	private async work(): Promise<void> {
		try {
			while (!this.stopped() && this.entries.size > 0) {
				// The failure that queued the first clean-up just happened: give the store a moment.
				await sleepUnlessWoken(this.retryEveryMs, true).promise;
				await this.round();
			}
		} finally {
			// No await between the loop's last check and here: an add() after it starts a new worker.
			this.running = false;
		}
	}

	/** Runs the clean-ups oldest first until one fails (the store still refuses: wait for the next round). */
	private async round(): Promise<void> {
		this.dropEnded();
		for (const [id, cleanUp] of [...this.entries]) {
			if (this.stopped()) return;
			if (this.entries.get(id) !== cleanUp) continue;
			if (performance.now() >= cleanUp.giveUpAt) {
				this.entries.delete(id);
				cleanUp.onGiveUp?.();
				continue;
			}
			try {
				await cleanUp.run();
			} catch {
				return;
			}
			if (this.entries.get(id) === cleanUp) this.entries.delete(id);
		}
	}

	/** Forgets the clean-ups whose give-up time passed, also while the store keeps refusing. */
	private dropEnded(): void {
		const now = performance.now();
		for (const [id, cleanUp] of [...this.entries]) {
			if (now < cleanUp.giveUpAt) continue;
			this.entries.delete(id);
			cleanUp.onGiveUp?.();
		}
	}
}
