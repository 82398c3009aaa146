import { createHash, createHmac } from 'node:crypto';

import { shorten } from '../lock';
import type { CredentialSummary, N8nApiClient } from '../transport/n8nApiClient';
import { isCredentialGone, N8nApiError } from '../transport/n8nApiErrors';
import { checkTenantData } from '../tenantData/policy';
import { canonicalJson, secretStrings } from './credentialData';
import { SwapItemError } from './errors';
import { asItemError } from './itemErrors';
import { swapFingerprint } from './swapRecord';
import { validateWithTemporaryCredential } from './temporaryCredential';
import type { BaseCredentialRef, LockScope, SwapContext, SwapGroup, SwapRequest } from './types';

/*
 * Planning: everything the swap checks before it takes a lock. Nothing is changed here, so a
 * failure leaves the base credential as it was.
 */

/** The lock that guards a base credential: taken by every swap of it, whatever the Lock Scope. */
export function credentialLockKey(baseCredentialId: string): string {
	return `credential:${baseCredentialId}`;
}

/**
 * The keys a swap takes. The base credential's key always (a shared base credential holds one tenant
 * at a time, so no setting may leave it out); Lock Scope "Tenant" adds one execution at a time per tenant.
 */
export function lockKeysFor(scope: LockScope, baseCredentialId: string, tenantId: string): { lockKey: string; tenantLockKey?: string } {
	return { lockKey: credentialLockKey(baseCredentialId), ...(scope === 'tenant' ? { tenantLockKey: `tenant:${tenantId}` } : {}) };
}

export function makeGroup(context: SwapContext, base: CredentialSummary, requests: SwapRequest[]): SwapGroup {
	const first = requests[0];
	const secrets = new Set<string>();
	for (const request of requests) secretStrings(request.data, secrets);
	const dataHmac =
		context.stateSecret && first.options.skipUnchanged
			? createHmac('sha256', context.stateSecret)
					.update(swapFingerprint(base.type, first.data, first.options))
					.digest('hex')
			: undefined;
	return {
		dataHmac,
		stateKey: createHash('sha256').update(`${context.instanceId}\u0000${base.id}`).digest('hex'),
		maybeUnchanged: false,
		base,
		requests,
		data: first.data,
		options: first.options,
		tenantId: first.tenantId,
		...lockKeysFor(first.options.lockScope, base.id, first.tenantId),
		itemIndexes: requests.map((request) => request.itemIndex),
		secrets,
		temporaryCredential: 'skipped',
		credentialTest: 'skipped',
	};
}

export async function validateGroup(context: SwapContext, group: SwapGroup): Promise<void> {
	const { base, options, data } = group;
	const canonical = canonicalJson(data);
	if (group.requests.some((request) => canonicalJson(request.data) !== canonical)) {
		throw new SwapItemError(
			`Items ${group.itemIndexes.join(', ')} carry different data for the same base credential "${base.name}"`,
			group.itemIndexes,
			{
				parameter: 'credentialData',
				description:
					'One base credential can hold one tenant at a time, so the nodes after this one would all see the last item\'s tenant. Process one tenant per pass: put a "Loop Over Items" node with batch size 1 before this node (and the Release Lock after the nodes that use the credential), or give each tenant its own base credential.',
			},
		);
	}
	if (new Set(group.requests.map((request) => request.tenantId)).size > 1 && options.lockScope === 'tenant') {
		throw new SwapItemError(
			`Items ${group.itemIndexes.join(', ')} name different tenants for the same base credential "${base.name}" while the lock scope is "Tenant"`,
			group.itemIndexes,
			{ parameter: 'tenantId', description: 'Use the lock scope "Base Credential" when tenants share a base credential.' },
		);
	}
	if (options.expectedCredentialType && options.expectedCredentialType !== base.type) {
		throw new SwapItemError(
			`Base credential "${base.name}" is of type "${base.type}", not "${options.expectedCredentialType}"`,
			group.itemIndexes,
			{ parameter: 'baseCredential', description: 'Pick a base credential of the type the data is for, or correct the "Credential Type" option.' },
		);
	}
	// Before the lock and the temporary credential: what the tenant may put into the base credential.
	await checkTenantData(context.api, { type: base.type, baseCredentialName: base.name }, data, options, group.itemIndexes);
	if (group.dataHmac) {
		// The same bytes were validated and written before: no need for a temporary credential again.
		const prior = await context.state.readSwapState(group.stateKey);
		group.maybeUnchanged = prior?.dataHmac === group.dataHmac;
	}
	if (options.validateWithTemporaryCredential && !group.maybeUnchanged) await validateWithTemporaryCredential(context, group);
}

export function refKey(ref: BaseCredentialRef): string {
	return `${ref.mode === 'name' ? 'name' : 'id'}:${ref.value}`;
}

/**
 * Base credentials read by ID, per n8n instance. An ID never changes its type, and the update checks
 * n8n's answer (same ID and type), so a recent read spares every execution one API round trip.
 */
const resolvedById = new Map<string, { summary: CredentialSummary; until: number }>();
const RESOLVED_BY_ID_TTL_MS = 60_000;
/** However many credentials a long-running n8n swaps, the cache stays this small. */
export const RESOLVED_BY_ID_MAX = 1_000;

function rememberResolved(cacheKey: string, summary: CredentialSummary): void {
	const now = Date.now();
	if (resolvedById.size >= RESOLVED_BY_ID_MAX) {
		for (const [key, entry] of resolvedById) if (entry.until <= now) resolvedById.delete(key);
		// Still full: drop the oldest entries (a Map iterates in insertion order).
		for (const key of resolvedById.keys()) {
			if (resolvedById.size < RESOLVED_BY_ID_MAX) break;
			resolvedById.delete(key);
		}
	}
	resolvedById.delete(cacheKey);
	resolvedById.set(cacheKey, { summary, until: now + RESOLVED_BY_ID_TTL_MS });
}

/** n8n instances (by instance ID) whose API has no read by ID (before 2.20), until when that is believed. */
const noReadById = new Map<string, number>();
const NO_READ_BY_ID_TTL_MS = 10 * 60_000;

/** Whether a credential can be read by ID on this n8n, as far as a read has shown (an upgrade shows within 10 minutes). */
export function readsById(instanceId: string): boolean {
	return (noReadById.get(instanceId) ?? 0) <= Date.now();
}

/** For tests: how many base credentials are cached. */
export function resolvedCacheSize(): number {
	return resolvedById.size;
}

/** Forgets a cached base credential (it failed an update: deleted, or the key lost access). */
export function forgetResolved(instanceId: string, id: string): void {
	resolvedById.delete(`${instanceId}|${id}`);
}

/** One lookup per distinct reference; names need the list, IDs a single read where n8n has it (cached a minute). */
export async function resolveBaseCredentials(
	api: N8nApiClient,
	instanceId: string,
	requests: SwapRequest[],
): Promise<Map<string, CredentialSummary | SwapItemError>> {
	const resolved = new Map<string, CredentialSummary | SwapItemError>();
	const refs = new Map(requests.map((request) => [refKey(request.baseCredential), request.baseCredential]));
	let all: Promise<CredentialSummary[]> | undefined;
	const listAll = async () => await (all ??= api.listAllCredentials());
	for (const [key, ref] of refs) {
		const indexes = requests.filter((request) => refKey(request.baseCredential) === key).map((r) => r.itemIndex);
		try {
			if (ref.mode === 'name') {
				const matches = (await listAll()).filter((credential) => credential.name === ref.value);
				if (matches.length !== 1) {
					throw new SwapItemError(
						matches.length === 0
							? `No credential is named "${shorten(ref.value, 80)}"`
							: `${matches.length} credentials are named "${shorten(ref.value, 80)}"`,
						indexes,
						{ parameter: 'baseCredential', description: 'Pick the base credential from the list or by ID.' },
					);
				}
				resolved.set(key, matches[0]);
			} else {
				const cacheKey = `${instanceId}|${ref.value}`;
				const cached = resolvedById.get(cacheKey);
				if (cached && cached.until > Date.now()) {
					resolved.set(key, cached.summary);
				} else {
					const summary = await readById(api, ref.value, listAll, indexes, instanceId);
					rememberResolved(cacheKey, summary);
					resolved.set(key, summary);
				}
			}
		} catch (error) {
			resolved.set(key, asItemError(error, indexes, new Set()));
		}
	}
	return resolved;
}

async function readById(
	api: N8nApiClient,
	id: string,
	listAll: () => Promise<CredentialSummary[]>,
	indexes: number[],
	instanceId: string,
): Promise<CredentialSummary> {
	const notFound = () =>
		new SwapItemError(`Base credential with ID "${shorten(id, 80)}" not found`, indexes, {
			parameter: 'baseCredential',
			description: 'Pick an existing credential from the list. The API key must belong to a user who can see it.',
		});
	try {
		return await api.getCredential(id);
	} catch (error) {
		// Before n8n 2.20 GET /credentials/:id answers 405 (the path exists for DELETE); any 404 is the credential's.
		const endpointMissing = error instanceof N8nApiError && error.status === 405;
		if (isCredentialGone(error)) throw notFound();
		if (!endpointMissing) throw error;
		noReadById.set(instanceId, Date.now() + NO_READ_BY_ID_TTL_MS);
	}
	// Before n8n 2.20 there is no read by ID: find it in the list.
	const match = (await listAll()).find((credential) => credential.id === id);
	if (!match) throw notFound();
	return match;
}
