import type { IExecuteFunctions } from 'n8n-workflow';

import { executionStateOf, type ExecutionStatusSource } from '../../shared/lock';

/** What each swapped item's `tenantSwap` says about Renew Lock While Running. */
export interface RenewalState {
	lockRenewal: 'on' | 'off' | 'unavailable';
	lockRenewalProblem?: string;
}

/**
 * Whether the keeper can follow this execution, judged at swap time by the rule the keeper uses
 * (executionFollowing.ts): `followed` (n8n shows it running), `forbidden` (no execution:read),
 * `notVisible` (404: n8n does not show it to this key), `unknown` (n8n did not answer).
 */
export type Followability = 'followed' | 'forbidden' | 'notVisible' | 'unknown';

export const RENEWAL_UNAVAILABLE =
	'Renew Lock While Running is on, but the API key lacks the execution:read scope, so nothing renews this lock or frees it when the execution ends: ' +
	'it is held until Release Lock, or until the Lock TTL runs out. Add execution:read to the API key (Settings > n8n API), or turn the option off and set a Lock TTL longer than the slowest run.';

export const RENEWAL_NOT_VISIBLE =
	"Renew Lock While Running is on, but n8n's API does not show this execution to the API key (its workflow is not shared with the key's owner, or the credential's Base URL is another n8n), " +
	'so nothing renews this lock or frees it when the execution ends: it is held until Release Lock, or until the Lock TTL runs out. ' +
	'Use an API key of a user who can open this workflow, on this n8n, or turn the option off and set a Lock TTL longer than the slowest run.';

export const RENEWAL_UNCONFIRMED =
	'Renew Lock While Running is on, but n8n did not answer whether its API shows this execution to the API key. The lock is renewed while n8n cannot answer; ' +
	"if n8n later says it cannot show this execution, renewal stops and the lock is held until Release Lock or until the Lock TTL runs out (n8n's log then says so).";

/**
 * Visibility depends on the key (scope) and on the workflow (sharing), rarely on one execution: one
 * look per workflow, key and n8n per minute. An unanswered look is not kept.
 */
const VERDICT_TTL_MS = 60_000;
const verdicts = new Map<string, { at: number; verdict: Exclude<Followability, 'unknown'> }>();

function remember(cacheKey: string, verdict: Exclude<Followability, 'unknown'>): void {
	const now = Date.now();
	if (verdicts.size >= 1_000) for (const [key, entry] of verdicts) if (now - entry.at >= VERDICT_TTL_MS) verdicts.delete(key);
	verdicts.set(cacheKey, { at: now, verdict });
}

/** One look at this execution (or this workflow's verdict from the last minute), read with the keeper's rule. */
export async function followabilityAtSwap(source: ExecutionStatusSource, executionId: string, workflowId: string | undefined): Promise<Followability> {
	const cacheKey = workflowId ? `${source.id}|${workflowId}` : undefined;
	const cached = cacheKey ? verdicts.get(cacheKey) : undefined;
	if (cached && Date.now() - cached.at < VERDICT_TTL_MS) return cached.verdict;
	let lookup;
	try {
		lookup = await source.lookUp(executionId);
	} catch {
		return 'unknown';
	}
	// Nothing was seen running through this key yet: a 404 or an "ended" means n8n does not show this execution.
	const verdict = executionStateOf(lookup, false) === 'running' ? 'followed' : lookup === 'forbidden' ? 'forbidden' : 'notVisible';
	if (cacheKey) remember(cacheKey, verdict);
	return verdict;
}

const PROBLEMS: Record<Followability, string | undefined> = {
	followed: undefined,
	forbidden: RENEWAL_UNAVAILABLE,
	notVisible: RENEWAL_NOT_VISIBLE,
	unknown: RENEWAL_UNCONFIRMED,
};

/** Per swapped item: renewal on, off (the option), or unavailable (and why); a hint whenever it is not plainly on. */
export function renewalStates(
	context: IExecuteFunctions,
	followability: Followability,
	requests: Array<{ itemIndex: number; renewLock: boolean }>,
	swapped: ReadonlySet<number>,
): Map<number, RenewalState> {
	const states = new Map<number, RenewalState>();
	const problem = PROBLEMS[followability];
	let renewing = false;
	for (const request of requests) {
		if (!swapped.has(request.itemIndex)) continue;
		if (!request.renewLock) {
			states.set(request.itemIndex, { lockRenewal: 'off' });
			continue;
		}
		renewing = true;
		const lockRenewal = followability === 'followed' || followability === 'unknown' ? 'on' : 'unavailable';
		states.set(request.itemIndex, problem ? { lockRenewal, lockRenewalProblem: problem } : { lockRenewal });
	}
	if (renewing && problem && typeof context.addExecutionHints === 'function') {
		context.addExecutionHints({ message: problem, type: 'warning', location: 'outputPane' });
	}
	return states;
}
