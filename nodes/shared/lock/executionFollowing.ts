/**
 * How n8n's answers about an execution are read, by the swap's output (lockRenewal) and by the lease
 * keeper alike, so the two never disagree.
 *
 * n8n stores an execution from its start (status `new`, then `running`) and deletes it at the end
 * when its save settings say so. So while our node runs, a 404 (or an answer saying it ended) means
 * this API key or URL does not show *this* execution (workflow not shared with the key's owner, the
 * URL points to another n8n): it cannot be followed. Once the execution (or, at swap time, this
 * workflow's current execution) was seen running through this key, a 404 means it ended and n8n did
 * not keep it.
 */

/** What n8n's executions API answered about one execution. */
export type ExecutionLookup = 'running' | 'waiting' | 'ended' | 'not-found' | 'forbidden';

/**
 * What the keeper does with it: keep renewing (`running`), free the locks (`ended`), or stop renewing
 * and leave the lock to its TTL (`untrackable`). `unknown`: n8n did not answer this time.
 */
export type ExecutionState = 'running' | 'ended' | 'unknown' | 'untrackable';

/** Statuses of n8n's executions API that mean the execution will not run another node. */
const ENDED_STATUSES = new Set(['success', 'error', 'canceled', 'crashed', 'stopped']);

/** An execution's `status` field (n8n 1.x-2.x), as a lookup. */
export function lookupOfStatus(status: string): ExecutionLookup {
	if (ENDED_STATUSES.has(status)) return 'ended';
	if (status === 'waiting') return 'waiting';
	return 'running';
}

/** The one rule: see the file comment. `followed`: seen running through this key before. */
export function executionStateOf(lookup: ExecutionLookup, followed: boolean): ExecutionState {
	if (lookup === 'running' || lookup === 'waiting') return 'running';
	if (lookup === 'forbidden') return 'untrackable';
	return followed ? 'ended' : 'untrackable';
}

/** Where the keeper asks n8n; one per n8n API URL and API key (requests are batched per source). */
export interface ExecutionStatusSource {
	/** Identifies URL + key (a hash of the key, never the key): executions with the same ID are checked together. */
	readonly id: string;
	/**
	 * The IDs n8n lists as running (one request per page, few pages). `undefined`: n8n will not list
	 * them (the key lacks execution:list, or the version has no running filter). Throws when n8n did not answer.
	 */
	listRunning(): Promise<Set<string> | undefined>;
	/** One execution (GET /executions/:id). Throws when n8n did not answer. */
	lookUp(executionId: string): Promise<ExecutionLookup>;
}
