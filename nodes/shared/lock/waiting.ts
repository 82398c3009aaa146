import { LockConfigurationError } from './errors';
import type { AcquireOptions } from './types';

/** Node's timers take at most 2^31-1 ms; a longer delay fires at once (and a loop on it spins). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The longest lease (24 h). Far below MAX_TIMER_MS, and a lock held longer than a day by one
 * execution is a stuck execution, not a critical section.
 */
export const MAX_LOCK_TTL_MS = 86_400_000;

function timerDelay(ms: number): number {
	return Math.min(MAX_TIMER_MS, Math.max(0, ms));
}

/** Resolves after `ms`, or earlier when `wake` is called. `background`: the timer never keeps the process alive. */
export function sleepUnlessWoken(ms: number, background = false): { promise: Promise<void>; wake: () => void } {
	let wake: () => void = () => undefined;
	const promise = new Promise<void>((resolve) => {
		const timer = setTimeout(resolve, timerDelay(ms));
		if (background) timer.unref?.();
		wake = () => {
			clearTimeout(timer);
			resolve();
		};
	});
	return { promise, wake };
}

/**
 * Calls `fire` after `ms` (at most MAX_TIMER_MS: callers with longer delays check the time when it
 * fires and start another). Never keeps the process alive. Returns the cancel function.
 */
export function startBackgroundTimer(ms: number, fire: () => void): () => void {
	const timer = setTimeout(fire, timerDelay(ms));
	timer.unref?.();
	return () => clearTimeout(timer);
}

export function validateTtl(ttlMs: number): void {
	if (!Number.isFinite(ttlMs) || ttlMs <= 0) {
		throw new LockConfigurationError(`The lock TTL must be greater than 0 (got ${ttlMs} ms)`);
	}
	if (ttlMs > MAX_LOCK_TTL_MS) {
		throw new LockConfigurationError(`The lock TTL must be at most ${MAX_LOCK_TTL_MS} ms (24 hours) (got ${ttlMs} ms)`);
	}
}

export function validateAcquireOptions(key: string, options: AcquireOptions): void {
	if (typeof key !== 'string' || key.length === 0) {
		throw new LockConfigurationError('The lock key must be a non-empty string');
	}
	validateTtl(options.ttlMs);
	if (!Number.isFinite(options.waitTimeoutMs) || options.waitTimeoutMs < 0) {
		throw new LockConfigurationError(
			`The wait timeout must be 0 or more (got ${options.waitTimeoutMs} ms)`,
		);
	}
	if (!options.owner?.executionId) {
		throw new LockConfigurationError('The lock owner needs an execution ID');
	}
}
