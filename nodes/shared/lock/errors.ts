import type { LockHolder } from './types';

/** Base class of every lock failure, so callers can tell lock problems from others. */
export class LockError extends Error {
	constructor(message: string, options?: { cause?: unknown }) {
		super(message, options);
		this.name = new.target.name;
	}
}

/** The lock stayed held by someone else for the whole wait. */
export class LockTimeoutError extends LockError {
	constructor(
		readonly key: string,
		readonly waitedMs: number,
		readonly holder: LockHolder | undefined,
	) {
		super(
			`Timed out after ${waitedMs} ms waiting for lock "${shorten(key)}"` +
				(holder
					? `: held by execution ${holder.owner.executionId}` +
						(holder.owner.workflowId ? ` of workflow ${holder.owner.workflowId}` : '') +
						` since ${holder.acquiredAt.toISOString()}, lease ends ${holder.expiresAt.toISOString()}`
					: ''),
		);
	}
}

/** The lease ran out and the key was taken over (or freed): the critical section was not protected. */
export class LockLostError extends LockError {
	constructor(
		readonly key: string,
		detail = 'the lease expired or another execution took the lock over',
	) {
		super(`Lost lock "${shorten(key)}": ${detail}`);
	}
}

/**
 * The store recorded that this token's lease was released (a tombstone): freed on purpose by its
 * owner (Release Lock or an error workflow, maybe in another process). Not a loss. Any other
 * absence of a lease is a LockLostError.
 */
export class LockReleasedError extends LockError {
	constructor(readonly key: string) {
		super(`Lock "${shorten(key)}" was released by its owner`);
	}
}

/** n8n cancelled the execution while it waited for the lock; its place in the queue was withdrawn. */
export class LockWaitCancelledError extends LockError {
	constructor(
		readonly key: string,
		readonly waitedMs: number,
	) {
		super(`Stopped waiting for lock "${shorten(key)}" after ${waitedMs} ms: the execution was cancelled`);
	}
}

/** The lock store (database) could not be reached or refused the operation. */
export class LockStoreUnavailableError extends LockError {
	constructor(operation: string, cause: unknown) {
		super(`Lock store unreachable during ${operation}: ${describeCause(cause)}`, { cause });
	}
}

/**
 * This process has more lock statements in flight than its connections to the lock store can
 * carry right now: local congestion, not a store that cannot be reached.
 */
export class LockStoreBusyError extends LockStoreUnavailableError {
	constructor(operation: string, inFlight: number, connections: number, waitedMs: number, cause?: unknown) {
		super(operation, cause);
		this.message =
			`Lock store busy during ${operation}: this n8n process has ${inFlight} lock requests in flight and none of its ${connections} connections ` +
			`to the lock database came free within ${waitedMs} ms. Fewer concurrent executions on this lock, a larger "Maximum Number of Connections" ` +
			'(up to 10 are used), or a faster lock database help.';
	}
}

/** Invalid lock settings (TTL, wait, table name, backend). */
export class LockConfigurationError extends LockError {}

export function shorten(key: string, max = 120): string {
	return key.length > max ? `${key.slice(0, max)}… (${key.length} chars)` : key;
}

function describeCause(cause: unknown): string {
	if (cause instanceof Error) {
		const code = (cause as { code?: string }).code;
		return code ? `${cause.message} (${code})` : cause.message;
	}
	return String(cause);
}
