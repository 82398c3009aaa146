import type { Acquired } from '../lock';
import type { CredentialSummary } from '../transport/n8nApiClient';
import { acquireInOrder, mayStillLand, releaseTaken, swapInfo, updateBaseCredential } from './criticalSection';
import { SwapItemError } from './errors';
import { asItemError } from './itemErrors';
import { makeGroup, refKey, resolveBaseCredentials, validateGroup } from './plan';
import { cleanStaleTemporaryCredentials } from './temporaryCredential';
import type { SwapContext, SwapGroup, SwapRequest, SwapResults } from './types';

export { credentialLockKey, lockKeysFor } from './plan';
export { configureTemporaryCredentialCleanup, DEFAULT_TEMPORARY_CLEANUP, TEMPORARY_CREDENTIAL_PREFIX, type TemporaryCleanupSettings } from './temporaryCredential';
export type { BaseCredentialRef, LockScope, SwapContext, SwapOptions, SwapRequest, SwapResults, TenantSwapInfo } from './types';

/**
 * The swap for one execution: resolve and validate everything first (nothing changes yet), then
 * take the locks in one global order, then update each base credential. A failure releases only
 * the locks this swap took, and only those no successful group of it uses.
 */
export async function runSwaps(context: SwapContext, requests: SwapRequest[]): Promise<SwapResults> {
	const results: SwapResults = { swapped: new Map(), errors: [], held: [] };
	const fail = (error: unknown, group: { itemIndexes: number[]; secrets?: Set<string> }) => {
		results.errors.push(asItemError(error, group.itemIndexes, group.secrets ?? new Set()));
		return context.stopOnFirstError;
	};

	const groups = await planGroups(context, requests, fail);
	if (!groups) return results;

	// Housekeeping outside the critical section, once the API has answered: earlier swaps' leftovers.
	// Only where temporary credentials are in use, so the default swap never lists every credential.
	if (groups.some((group) => group.options.validateWithTemporaryCredential)) await cleanStaleTemporaryCredentials(context);

	const taken = await acquireInOrder(context, groups, fail);
	if (!taken) return results;

	const succeeded = new Set<Acquired>();
	const letExpire = new Set<Acquired>();
	for (const group of groups) {
		const acquired = group.acquired;
		if (!acquired) continue;
		try {
			const { updated, unchanged } = await updateBaseCredential(context, group);
			succeeded.add(acquired);
			if (group.tenantAcquired) succeeded.add(group.tenantAcquired);
			for (const request of group.requests) {
				results.swapped.set(request.itemIndex, swapInfo(group, acquired, request.tenantId, updated, unchanged));
			}
		} catch (error) {
			if (mayStillLand(error)) letExpire.add(acquired);
			if (fail(error, group)) {
				await releaseTaken([...taken.values()], letExpire, context.lockLog);
				return results;
			}
		}
	}
	// A lock shared by several groups (a tenant's key) stays held while any of them succeeded.
	await releaseTaken([...taken.values()].filter((acquired) => !succeeded.has(acquired)), letExpire, context.lockLog);
	results.held = [...succeeded];
	return results;
}

/** Resolves the base credentials and validates each group's data; undefined = stop (first error). */
async function planGroups(
	context: SwapContext,
	requests: SwapRequest[],
	fail: (error: unknown, group: { itemIndexes: number[]; secrets?: Set<string> }) => boolean,
): Promise<SwapGroup[] | undefined> {
	const resolved = await resolveBaseCredentials(context.api, context.instanceId, requests);
	const byCredential = new Map<string, SwapRequest[]>();
	for (const request of requests) {
		const found = resolved.get(refKey(request.baseCredential));
		if (found === undefined || found instanceof SwapItemError) {
			if (fail(new SwapItemError(found?.message ?? 'Base credential not resolved', [request.itemIndex], found?.options), { itemIndexes: [request.itemIndex] })) return undefined;
			continue;
		}
		const list = byCredential.get(found.id) ?? [];
		list.push(request);
		byCredential.set(found.id, list);
	}
	const groups: SwapGroup[] = [];
	for (const list of byCredential.values()) {
		const base = resolved.get(refKey(list[0].baseCredential)) as CredentialSummary;
		const group = makeGroup(context, base, list);
		try {
			await validateGroup(context, group);
			groups.push(group);
		} catch (error) {
			if (fail(error, group)) return undefined;
		}
	}
	return groups;
}
