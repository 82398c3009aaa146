import { createHash } from 'crypto';
import type { IExecuteFunctions } from 'n8n-workflow';

import { N8nApiClient } from '../../shared/transport/n8nApiClient';
import { N8nApiError } from '../../shared/transport/n8nApiErrors';
import { PublicApiTransport, type N8nApiCredentials } from '../../shared/transport/publicApiTransport';

/** What each swapped item's `tenantSwap` says about Renew Lock While Running. */
export interface RenewalState {
	lockRenewal: 'on' | 'off' | 'unavailable';
	lockRenewalProblem?: string;
}

export const RENEWAL_UNAVAILABLE =
	'Renew Lock While Running is on, but the API key lacks the execution:read scope, so nothing renews this lock or frees it when the execution ends: ' +
	'it is held until Release Lock, or until the Lock TTL runs out. Add execution:read to the API key (Settings > n8n API), or turn the option off and set a Lock TTL longer than the slowest run.';

/** A key's scopes change rarely: one look per key and n8n per minute and process. */
const CHECK_TTL_MS = 60_000;
const checked = new Map<string, { at: number; canRead: boolean }>();

/**
 * Whether the API key may read executions (the scope renewal needs), asked at swap time so the
 * user sees it in the node's output instead of only in n8n's server log. Unknown (n8n did not
 * answer) counts as yes: the lease keeper still reports what it finds.
 */
async function canReadExecutions(context: IExecuteFunctions, credentials: N8nApiCredentials): Promise<boolean> {
	const key = `${credentials.baseUrl}|${createHash('sha256').update(credentials.apiKey ?? '').digest('hex').slice(0, 16)}`;
	const cached = checked.get(key);
	if (cached && Date.now() - cached.at < CHECK_TTL_MS) return cached.canRead;
	const api = new N8nApiClient(new PublicApiTransport(context, credentials), { attempts: 2, baseDelayMs: 100, maxDelayMs: 200 });
	let canRead = true;
	try {
		// This execution's own ID: any answer but 403 (404 not stored yet, 400) means the scope check passed.
		await api.getExecutionStatus(context.getExecutionId());
	} catch (error) {
		// No answer: ask again next time.
		if (!(error instanceof N8nApiError) || error.status === undefined) return true;
		canRead = error.status !== 403;
	}
	checked.set(key, { at: Date.now(), canRead });
	return canRead;
}

/** Per swapped item: renewal on, off (the option), or unavailable (and why), plus an execution hint. */
export async function renewalStates(
	context: IExecuteFunctions,
	credentials: N8nApiCredentials,
	requests: Array<{ itemIndex: number; renewLock: boolean }>,
	swapped: ReadonlySet<number>,
): Promise<Map<number, RenewalState>> {
	const states = new Map<number, RenewalState>();
	const renewing = requests.filter((request) => swapped.has(request.itemIndex) && request.renewLock);
	const canRead = renewing.length === 0 ? true : await canReadExecutions(context, credentials).catch(() => true);
	for (const request of requests) {
		if (!swapped.has(request.itemIndex)) continue;
		if (!request.renewLock) states.set(request.itemIndex, { lockRenewal: 'off' });
		else if (canRead) states.set(request.itemIndex, { lockRenewal: 'on' });
		else states.set(request.itemIndex, { lockRenewal: 'unavailable', lockRenewalProblem: RENEWAL_UNAVAILABLE });
	}
	if (!canRead && typeof context.addExecutionHints === 'function') {
		context.addExecutionHints({ message: RENEWAL_UNAVAILABLE, type: 'warning', location: 'outputPane' });
	}
	return states;
}
