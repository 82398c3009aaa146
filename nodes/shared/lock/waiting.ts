import { LockConfigurationError } from './errors';
import type { AcquireOptions } from './types';

/**
 * In-process FIFO per key: only the head waiter competes in the store, the others wait their
 * turn here. Keeps acquisitions in arrival order within a process and the store quiet.
 */
export class KeyedFifo {
	private readonly queues = new Map<string, Array<() => void>>();

	isIdle(key: string): boolean {
		return !this.queues.has(key);
	}

	/** Resolves with a `leave` callback once this caller is at the head; false if the deadline passed first. */
	async enter(key: string, deadline: number): Promise<(() => void) | false> {
		let queue = this.queues.get(key);
		if (!queue) {
			queue = [];
			this.queues.set(key, queue);
		}
		const leave = () => this.leave(key, turn);
		let turn: () => void = () => undefined;
		const isHead = queue.length === 0;
		const reached = new Promise<boolean>((resolve) => {
			turn = () => resolve(true);
			if (!isHead) {
				const timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
				const wake = turn;
				turn = () => {
					clearTimeout(timer);
					wake();
				};
			}
		});
		queue.push(turn);
		if (isHead) return leave;
		if (await reached) return leave;
		// Timed out; if the head passed to us meanwhile, hand it on.
		this.leave(key, turn);
		return false;
	}

	private leave(key: string, turn: () => void): void {
		const queue = this.queues.get(key);
		if (!queue) return;
		const wasHead = queue[0] === turn;
		this.remove(key, turn);
		if (wasHead) queue[0]?.();
	}

	private remove(key: string, turn: () => void): void {
		const queue = this.queues.get(key);
		if (!queue) return;
		const index = queue.indexOf(turn);
		if (index >= 0) queue.splice(index, 1);
		if (queue.length === 0) this.queues.delete(key);
	}
}

/** Resolves after `ms`, or earlier when `wake` is called. */
export function sleepUnlessWoken(ms: number): { promise: Promise<void>; wake: () => void } {
	let wake: () => void = () => undefined;
	const promise = new Promise<void>((resolve) => {
		const timer = setTimeout(resolve, Math.max(0, ms));
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
