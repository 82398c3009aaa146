import { LockConfigurationError } from './errors';
import type { AcquireOptions } from './types';

/** Resolves after `ms`, or earlier when `wake` is called. `background`: the timer never keeps the process alive. */
export function sleepUnlessWoken(ms: number, background = false): { promise: Promise<void>; wake: () => void } {
	let wake: () => void = () => undefined;
	const promise = new Promise<void>((resolve) => {
		const timer = setTimeout(resolve, Math.max(0, ms));
		if (background) timer.unref?.();
		wake = () => {
			clearTimeout(timer);
			resolve();
		};
	});
	return { promise, wake };
}

export function validateTtl(ttlMs: number): void {
	if (!Number.isFinite(ttlMs) || ttlMs <= 0) {
		throw new LockConfigurationError(`The lock TTL must be greater than 0 (got ${ttlMs} ms)`);
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
