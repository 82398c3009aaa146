import type { Attempt } from '../StoreLockEngine';
import type { LockHolder, LockOwner } from '../types';

/** A lock row as the lock statements return it. */
export interface LockRow {
	token: string | null;
	fence: string;
	instance_id: string | null;
	execution_id: string | null;
	workflow_id: string | null;
	tenant_id: string | null;
	acquired_at: Date | null;
	expires_at: Date | null;
	remaining_ms: number | null;
	acquired: boolean;
}

/** Released rows: which waiter's turn it is now (the oldest live ticket), for the local wake-up. */
export interface FreedRow {
	key_hash: string;
	held_ms: number;
	next_ticket: string | null;
}

export function leaseOf(row: LockRow): NonNullable<Attempt['lease']> {
	return {
		token: row.token as string,
		fence: Number(row.fence),
		acquiredAt: row.acquired_at as Date,
		expiresAt: row.expires_at as Date,
	};
}

export function holderOf(row: LockRow): LockHolder | undefined {
	if (!row.token || !row.execution_id || !row.acquired_at || !row.expires_at) return undefined;
	return { owner: ownerOf(row), acquiredAt: row.acquired_at, expiresAt: row.expires_at };
}

export function ownerOf(row: LockRow): LockOwner {
	return {
		instanceId: row.instance_id ?? undefined,
		executionId: row.execution_id ?? '',
		workflowId: row.workflow_id ?? undefined,
		tenantId: row.tenant_id ?? undefined,
	};
}
