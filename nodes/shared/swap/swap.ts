import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { IDataObject } from 'n8n-workflow';

import { LockError, shorten, type LockEngine, type LockLease } from '../lock';
import type { CredentialSummary, N8nApiClient } from '../transport/n8nApiClient';
import { N8nApiError } from '../transport/n8nApiErrors';
import {
	canonicalJson,
	redactSecrets,
	schemaProblems,
	secretStrings,
} from './credentialData';
import { stateWriteFailure, swapFingerprint, unsafeDataRefusal } from './dataChecks';
import { SwapItemError } from './errors';

export type LockScope = 'baseCredential' | 'tenant';

export interface SwapOptions {
	lockScope: LockScope;
	lockTtlMs: number;
	waitTimeoutMs: number;
	validateWithTemporaryCredential: boolean;
	testCredential: boolean;
	partialUpdate: boolean;
	/** When set, the base credential must be of this type. */
	expectedCredentialType?: string;
	/** Skip the update when the base credential still holds exactly this data from an earlier swap. */
	skipUnchanged: boolean;
	/** Fields the incoming data may set; empty = any field of the type. */
	allowedFields: string[];
	/** Fields the data may leave out or set empty; ['*'] for any. */
	allowEmptyFields?: string[];
}

export interface BaseCredentialRef {
	mode: string;
	value: string;
}

/** One item's wish: put `data` into the base credential for `tenantId`. */
export interface SwapRequest {
	itemIndex: number;
	baseCredential: BaseCredentialRef;
	tenantId: string;
	data: IDataObject;
	options: SwapOptions;
}

/** What the items carry on (no credential data). */
export interface TenantSwapInfo {
	baseCredentialId: string;
	baseCredentialName: string;
	baseCredentialType: string;
	tenantId: string;
	lockBackend: string;
	lockKey: string;
	token: string;
	fence: number;
	acquiredAt: string;
	expiresAt: string;
	waitedMs: number;
	reentered: boolean;
	temporaryCredential: 'validated' | 'skipped';
	credentialTest: 'passed' | 'notTestable' | 'skipped';
	/** `unchanged`: the base credential already held this data (written by an earlier swap, not edited since). */
	update: 'patched' | 'unchanged';
	updatedAt?: string;
}

export interface SwapContext {
	api: N8nApiClient;
	lock: LockEngine;
	executionId: string;
	workflowId?: string;
	/** Stop at the first failing group (the node will throw) instead of carrying on. */
	stopOnFirstError: boolean;
	/** Identifies the n8n instance (its API URL), so two instances' credential IDs never mix. */
	instanceId: string;
	/** Key of the HMAC kept of what was written (the n8n API key); without it nothing is skipped. */
	stateSecret?: string;
	logDebug?: (message: string, meta?: Record<string, unknown>) => void;
}

export interface SwapResults {
	swapped: Map<number, TenantSwapInfo>;
	errors: SwapItemError[];
}

interface SwapGroup {
	base: CredentialSummary;
	requests: SwapRequest[];
	data: IDataObject;
	options: SwapOptions;
	tenantId: string;
	lockKey: string;
	itemIndexes: number[];
	secrets: Set<string>;
	temporaryCredential: TenantSwapInfo['temporaryCredential'];
	credentialTest: TenantSwapInfo['credentialTest'];
	lease?: LockLease;
	/**
	 * When the lease ends, by this worker's clock: when the acquire answered plus the TTL, so a worker
	 * clock that differs from the lock store's cannot move it.
	 */
	leaseEndsLocallyAt?: number;
	/** Keyed hash of what this swap writes, and where the last one is remembered. */
	dataHmac?: string;
	stateKey: string;
	/** An earlier swap wrote exactly this data: checked again under the lock before skipping. */
	maybeUnchanged: boolean;
}

const NOT_TESTABLE = /no testing function/i;
export const TEMPORARY_CREDENTIAL_PREFIX = 'tenant-swap tmp';

export interface TemporaryCleanupSettings {
	/**
	 * Only temporary credentials older than this are deleted. Longer than a swap can keep its own
	 * (create, test and delete with every retry and timeout: under 10 minutes), so a swap running
	 * at the same time never loses its temporary credential.
	 */
	minAgeMs: number;
	/** At most one look per n8n instance per process in this time (a list of all credentials). */
	intervalMs: number;
	/** At most this many deletions per look, so one execution never spends long on housekeeping. */
	maxDeletesPerRun: number;
}

export const DEFAULT_TEMPORARY_CLEANUP: Readonly<TemporaryCleanupSettings> = Object.freeze({
	minAgeMs: 15 * 60_000,
	intervalMs: 5 * 60_000,
	maxDeletesPerRun: 20,
});
let temporaryCleanup: TemporaryCleanupSettings = { ...DEFAULT_TEMPORARY_CLEANUP };
/** instanceId -> when this process last looked for stale temporary credentials there. */
const lastTemporaryCleanup = new Map<string, number>();

/** For tests only: cleanup settings (`undefined` restores the defaults); also forgets past looks. */
export function configureTemporaryCredentialCleanup(settings?: Partial<TemporaryCleanupSettings>): void {
	temporaryCleanup = { ...DEFAULT_TEMPORARY_CLEANUP, ...(settings ?? {}) };
	lastTemporaryCleanup.clear();
}

/** Leave this much of the lease unused: no write to the base credential may land after the lease ends. */
function leaseSafetyMs(ttlMs: number): number {
	return Math.min(2_000, Math.floor(ttlMs / 5));
}

export function lockKeyFor(scope: LockScope, baseCredentialId: string, tenantId: string): string {
	return scope === 'tenant' ? `tenant:${tenantId}` : `credential:${baseCredentialId}`;
}

/**
 * The swap for one execution: resolve and validate everything first (nothing changes yet),
 * then take the locks in one global order, then update each base credential.
 */
export async function runSwaps(context: SwapContext, requests: SwapRequest[]): Promise<SwapResults> {
	const results: SwapResults = { swapped: new Map(), errors: [] };
	const fail = (error: unknown, group: { itemIndexes: number[]; secrets?: Set<string> }) => {
		results.errors.push(asItemError(error, group.itemIndexes, group.secrets ?? new Set()));
		return context.stopOnFirstError;
	};

	const resolved = await resolveBaseCredentials(context.api, context.instanceId, requests);
	const groups: SwapGroup[] = [];
	const byCredential = new Map<string, SwapRequest[]>();
	for (const request of requests) {
		const found = resolved.get(refKey(request.baseCredential));
		if (found === undefined || found instanceof SwapItemError) {
			if (fail(new SwapItemError(found?.message ?? 'Base credential not resolved', [request.itemIndex], found?.options), { itemIndexes: [request.itemIndex] })) return results;
			continue;
		}
		const list = byCredential.get(found.id) ?? [];
		list.push(request);
		byCredential.set(found.id, list);
	}

	for (const list of byCredential.values()) {
		const base = resolved.get(refKey(list[0].baseCredential)) as CredentialSummary;
		const group = makeGroup(context, base, list);
		try {
			await validateGroup(context, group);
			groups.push(group);
		} catch (error) {
			if (fail(error, group)) return results;
		}
	}

	// Housekeeping outside the critical section, once the API has answered: earlier swaps' leftovers.
	// Only where temporary credentials are in use, so the default swap never lists every credential.
	if (groups.some((group) => group.options.validateWithTemporaryCredential)) await cleanStaleTemporaryCredentials(context);

	// One global order (by key) for every execution: two executions can never wait on each other in a cycle.
	const ordered = [...groups].sort((a, b) => (a.lockKey < b.lockKey ? -1 : a.lockKey > b.lockKey ? 1 : 0));
	const leases = new Map<string, LockLease>();
	const leaseEnds = new Map<string, number>();
	for (const group of ordered) {
		try {
			let lease = leases.get(group.lockKey);
			if (!lease) {
				const asked = Date.now();
				lease = await context.lock.acquire(group.lockKey, {
					owner: { executionId: context.executionId, workflowId: context.workflowId, tenantId: group.tenantId },
					ttlMs: group.options.lockTtlMs,
					waitTimeoutMs: group.options.waitTimeoutMs,
				});
				// The store started the lease at most one round trip before its answer reached us; the
				// safety margin (leaseSafetyMs) covers that round trip.
				leaseEnds.set(group.lockKey, asked + lease.waitedMs + group.options.lockTtlMs);
				leases.set(group.lockKey, lease);
			}
			group.lease = lease;
			group.leaseEndsLocallyAt = leaseEnds.get(group.lockKey);
		} catch (error) {
			if (fail(error, group)) {
				await releaseQuietly(context.lock, leases.values());
				return results;
			}
		}
	}

	const succeeded = new Set<LockLease>();
	for (const group of ordered) {
		if (!group.lease) continue;
		try {
			const { updated, unchanged } = await updateBaseCredential(context, group);
			succeeded.add(group.lease);
			for (const request of group.requests) {
				results.swapped.set(request.itemIndex, {
					...swapInfo(group, group.lease, context.lock.backend, request.tenantId, updated),
					update: unchanged ? 'unchanged' : 'patched',
				});
			}
		} catch (error) {
			if (fail(error, group)) {
				await releaseQuietly(context.lock, leases.values());
				return results;
			}
		}
	}
	// A lease shared by several groups (tenant scope) stays held while any of them succeeded.
	await releaseQuietly(context.lock, [...leases.values()].filter((lease) => !succeeded.has(lease)));
	return results;
}

function makeGroup(context: SwapContext, base: CredentialSummary, requests: SwapRequest[]): SwapGroup {
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
		lockKey: lockKeyFor(first.options.lockScope, base.id, first.tenantId),
		itemIndexes: requests.map((request) => request.itemIndex),
		secrets,
		temporaryCredential: 'skipped',
		credentialTest: 'skipped',
	};
}

async function validateGroup(context: SwapContext, group: SwapGroup): Promise<void> {
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
	const outside = options.allowedFields.length > 0 ? Object.keys(data).filter((field) => !options.allowedFields.includes(field)) : [];
	if (outside.length > 0) {
		throw new SwapItemError(
			`Credential data sets ${outside.map((field) => `"${field}"`).join(', ')}, outside the allowed fields (${options.allowedFields.join(', ')})`,
			group.itemIndexes,
			{
				parameter: 'credentialData',
				description: 'The data comes from outside (e.g. a webhook): only the fields listed in "Allowed Fields" may be set. Add the field there if the tenant really must set it.',
			},
		);
	}
	const schema = await context.api.getSchema(base.type);
	const problems = schemaProblems(data, schema);
	if (problems.length > 0) {
		throw new SwapItemError(
			`Credential data does not fit type "${base.type}": ${problems.join('; ')}`,
			group.itemIndexes,
			{ parameter: 'credentialData', description: `Send only the fields of a "${base.type}" credential, with the value types n8n expects.` },
		);
	}
	const refusal = unsafeDataRefusal(base, data, schema, options, group.itemIndexes);
	if (refusal) throw refusal;
	if (group.dataHmac) {
		// The same bytes were validated and written before: no need for a temporary credential again.
		const prior = await context.lock.readSwapState(group.stateKey);
		group.maybeUnchanged = prior?.dataHmac === group.dataHmac;
	}
	if (options.validateWithTemporaryCredential && !group.maybeUnchanged) await validateWithTemporaryCredential(context, group);
}

async function validateWithTemporaryCredential(context: SwapContext, group: SwapGroup): Promise<void> {
	const name = `${TEMPORARY_CREDENTIAL_PREFIX} ${shorten(group.tenantId, 40)} exec ${context.executionId} ${randomBytes(3).toString('hex')}`;
	let temporary: CredentialSummary;
	try {
		temporary = await context.api.createCredential({ name, type: group.base.type, data: group.data });
	} catch (error) {
		if (error instanceof N8nApiError && error.maybeProcessed) {
			// The answer was lost, not necessarily the credential: n8n may hold it without us knowing its ID.
			context.logDebug?.('The temporary credential may have been created before the failure', { credentialName: name });
			throw new SwapItemError(error.message, group.itemIndexes, {
				description: joinSentences(
					error.hint,
					`n8n may have created the temporary credential "${name}" before the failure: ${leftoverAdvice()}`,
					'The base credential was not changed.',
				),
				cause: error,
			});
		}
		throw error;
	}
	let failure: unknown;
	try {
		group.temporaryCredential = 'validated';
		if (group.options.testCredential) {
			const result = await context.api.testCredential(temporary.id);
			if (result.status === 'OK') group.credentialTest = 'passed';
			else if (NOT_TESTABLE.test(result.message)) group.credentialTest = 'notTestable';
			else {
				throw new SwapItemError(`The tenant's credential data failed n8n's credential test: ${result.message}`, group.itemIndexes, {
					parameter: 'credentialData',
					description: 'The base credential was not changed. Check the secret the tenant sent.',
				});
			}
		}
	} catch (error) {
		failure = error;
	}
	try {
		await context.api.deleteCredential(temporary.id);
	} catch (error) {
		// Only the ID and the API's own message: never the data.
		const reason = error instanceof Error ? error.message : String(error);
		context.logDebug?.('Could not delete the temporary credential', { credentialId: temporary.id, error: reason });
		const leftover = `Temporary credential ${temporary.id} could not be deleted: ${leftoverAdvice()}`;
		if (failure === undefined) {
			throw new SwapItemError(`Could not delete temporary credential ${temporary.id}: ${reason}`, group.itemIndexes, {
				description: joinSentences(
					error instanceof N8nApiError ? error.hint : undefined,
					'The base credential was not changed.',
					`A later swap deletes temporary credential ${temporary.id} once it is older than ${minutes(temporaryCleanup.minAgeMs)}, or delete it in n8n under Credentials.`,
				),
				cause: error,
			});
		}
		// The first failure is what the user must fix; the leftover is reported with it.
		throw withDescription(failure, group.itemIndexes, leftover);
	}
	if (failure !== undefined) throw failure;
}

function leftoverAdvice(): string {
	return `a later swap deletes temporary credentials (named "${TEMPORARY_CREDENTIAL_PREFIX} ...") once they are older than ${minutes(temporaryCleanup.minAgeMs)}, or delete it in n8n under Credentials.`;
}

function minutes(ms: number): string {
	const value = Math.round((ms / 60_000) * 10) / 10;
	return value === 1 ? '1 minute' : value >= 1 ? `${value} minutes` : `${Math.max(1, Math.round(ms / 1000))} seconds`;
}

function joinSentences(...parts: Array<string | undefined>): string {
	return parts.filter((part): part is string => Boolean(part && part.trim())).join(' ');
}

/** The same failure, with one more sentence in its description. */
function withDescription(error: unknown, itemIndexes: number[], sentence: string): SwapItemError {
	if (error instanceof SwapItemError) {
		return new SwapItemError(error.message, error.itemIndexes, {
			...error.options,
			description: joinSentences(error.options.description, sentence),
		});
	}
	const base = asItemError(error, itemIndexes, new Set());
	return new SwapItemError(base.message, itemIndexes, { ...base.options, description: joinSentences(base.options.description, sentence) });
}

/**
 * Deletes temporary credentials that earlier swaps could not delete (n8n down at the time, a lost
 * answer to a create). At most once per instance per process per interval, never one younger than
 * the minimum age (it may belong to a swap still running), and never fatal.
 */
async function cleanStaleTemporaryCredentials(context: SwapContext): Promise<void> {
	const now = Date.now();
	const last = lastTemporaryCleanup.get(context.instanceId);
	if (last !== undefined && now - last < temporaryCleanup.intervalMs) return;
	lastTemporaryCleanup.set(context.instanceId, now);
	let all: CredentialSummary[];
	try {
		all = await context.api.listAllCredentials();
	} catch (error) {
		context.logDebug?.('Could not list credentials to look for stale temporary credentials', {
			error: error instanceof Error ? error.message : String(error),
		});
		return;
	}
	const stale = all.filter((credential) => {
		if (!credential.name?.startsWith(`${TEMPORARY_CREDENTIAL_PREFIX} `)) return false;
		const createdAt = Date.parse(credential.createdAt ?? '');
		return Number.isFinite(createdAt) && now - createdAt > temporaryCleanup.minAgeMs;
	});
	for (const credential of stale.slice(0, temporaryCleanup.maxDeletesPerRun)) {
		try {
			await context.api.deleteCredential(credential.id);
			context.logDebug?.('Deleted a stale temporary credential', { credentialId: credential.id, createdAt: credential.createdAt });
		} catch (error) {
			context.logDebug?.('Could not delete a stale temporary credential', {
				credentialId: credential.id,
				error: error instanceof Error ? error.message : String(error),
			});
		}
	}
}

/** Under the lock: the remembered write is ours and n8n still reports its updatedAt (nobody edited since). */
async function stillUnchanged(context: SwapContext, group: SwapGroup): Promise<CredentialSummary | undefined> {
	if (!group.maybeUnchanged || !group.dataHmac) return undefined;
	const state = await context.lock.readSwapState(group.stateKey);
	if (state?.dataHmac !== group.dataHmac) return undefined;
	// A fresh read: the one before the lock may predate another execution's or a person's edit.
	const current = await context.api.getCredential(group.base.id, { deadline: leaseDeadline(group) }).catch(() => undefined);
	return current?.updatedAt && current.updatedAt === state.credentialUpdatedAt ? current : undefined;
}

async function updateBaseCredential(context: SwapContext, group: SwapGroup): Promise<{ updated: CredentialSummary; unchanged: boolean }> {
	const current = await stillUnchanged(context, group);
	if (current) return { updated: current, unchanged: true };
	// Forget the last write first: if this one fails half-way, nobody may skip on stale knowledge.
	await context.lock.writeSwapState(group.stateKey, undefined);
	const updated = await context.api
		.updateCredential(
			group.base.id,
			{ data: group.data, isPartialData: group.options.partialUpdate },
			// Every attempt must be answered before the lease ends: after it, another execution may hold the lock.
			{ deadline: leaseDeadline(group) },
		)
		.catch((error: unknown) => {
			forgetResolved(context.instanceId, group.base.id);
			if (error instanceof N8nApiError && error.status === 404 && /credential not found/i.test(error.apiMessage)) {
				throw new SwapItemError(`Base credential "${group.base.name}" (ID ${group.base.id}) no longer exists`, group.itemIndexes, {
					parameter: 'baseCredential',
					description: 'It was deleted, or the API key lost access to it. Pick an existing credential.',
				});
			}
			throw error;
		});
	const before = Date.parse(group.base.updatedAt ?? '');
	const after = Date.parse(updated?.updatedAt ?? '');
	if (!updated || updated.id !== group.base.id || updated.type !== group.base.type || !(after > before || Number.isNaN(before))) {
		throw new SwapItemError(
			`n8n did not confirm the update of base credential "${group.base.name}"`,
			group.itemIndexes,
			{ description: 'The answer to the update did not show the same credential with a newer update time. Check the credential in n8n before retrying.' },
		);
	}
	if (group.dataHmac && updated.updatedAt) {
		await context.lock
			.writeSwapState(group.stateKey, { dataHmac: group.dataHmac, credentialUpdatedAt: updated.updatedAt })
			.catch((error: unknown) => {
				throw stateWriteFailure(error, group.itemIndexes);
			});
	}
	return { updated, unchanged: false };
}

function leaseDeadline(group: SwapGroup): number | undefined {
	if (group.leaseEndsLocallyAt === undefined) return undefined;
	return group.leaseEndsLocallyAt - leaseSafetyMs(group.options.lockTtlMs);
}

function swapInfo(
	group: SwapGroup,
	lease: LockLease,
	lockBackend: string,
	tenantId: string,
	updated: CredentialSummary,
): TenantSwapInfo {
	return {
		baseCredentialId: group.base.id,
		baseCredentialName: group.base.name,
		baseCredentialType: group.base.type,
		tenantId,
		lockBackend,
		lockKey: lease.key,
		token: lease.token,
		fence: lease.fence,
		acquiredAt: lease.acquiredAt.toISOString(),
		expiresAt: lease.expiresAt.toISOString(),
		waitedMs: lease.waitedMs,
		reentered: lease.reentered,
		temporaryCredential: group.temporaryCredential,
		credentialTest: group.credentialTest,
		update: 'patched',
		updatedAt: updated.updatedAt,
	};
}

function refKey(ref: BaseCredentialRef): string {
	return `${ref.mode === 'name' ? 'name' : 'id'}:${ref.value}`;
}

/**
 * Base credentials read by ID, per n8n instance. An ID never changes its type, and the update checks
 * n8n's answer (same ID and type), so a recent read spares every execution one API round trip.
 */
const resolvedById = new Map<string, { summary: CredentialSummary; until: number }>();
const RESOLVED_BY_ID_TTL_MS = 60_000;

/** Forgets a cached base credential (it failed an update: deleted, or the key lost access). */
function forgetResolved(instanceId: string, id: string): void {
	resolvedById.delete(`${instanceId}|${id}`);
}

/** One lookup per distinct reference; names need the list, IDs a single read where n8n has it (cached a minute). */
async function resolveBaseCredentials(
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
					const summary = await readById(api, ref.value, listAll, indexes);
					resolvedById.set(cacheKey, { summary, until: Date.now() + RESOLVED_BY_ID_TTL_MS });
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
): Promise<CredentialSummary> {
	const notFound = () =>
		new SwapItemError(`Base credential with ID "${shorten(id, 80)}" not found`, indexes, {
			parameter: 'baseCredential',
			description: 'Pick an existing credential from the list. The API key must belong to a user who can see it.',
		});
	try {
		return await api.getCredential(id);
	} catch (error) {
		const endpointMissing = error instanceof N8nApiError && (error.status === 405 || (error.status === 404 && !/credential not found/i.test(error.apiMessage)));
		if (error instanceof N8nApiError && error.status === 404 && !endpointMissing) throw notFound();
		if (!endpointMissing) throw error;
	}
	// Before n8n 2.20 there is no read by ID: find it in the list.
	const match = (await listAll()).find((credential) => credential.id === id);
	if (!match) throw notFound();
	return match;
}

async function releaseQuietly(lock: LockEngine, leases: Iterable<LockLease | undefined>): Promise<void> {
	for (const lease of leases) {
		if (lease) await lock.release(lease).catch(() => undefined);
	}
}

/** What the failure left behind, so the user knows whether anything changed. */
function consequenceOf(error: N8nApiError): string | undefined {
	if (error.operation === 'update base credential') {
		return error.maybeProcessed
			? 'n8n may have applied the update before the failure: the base credential may hold this tenant\'s data or the previous data. Run the execution again to write it.'
			: 'The base credential was not changed.';
	}
	if (['read credential schema', 'create temporary credential', 'test credential', 'delete temporary credential', 'read credential', 'list credentials'].includes(error.operation)) {
		return 'The base credential was not changed.';
	}
	return undefined;
}

function asItemError(error: unknown, itemIndexes: number[], secrets: Set<string>): SwapItemError {
	if (error instanceof SwapItemError) {
		return new SwapItemError(redactSecrets(error.message, secrets), error.itemIndexes, {
			...error.options,
			description: error.options.description && redactSecrets(error.options.description, secrets),
		});
	}
	if (error instanceof N8nApiError) {
		return new SwapItemError(redactSecrets(error.message, secrets), itemIndexes, {
			description: joinSentences(error.hint && redactSecrets(error.hint, secrets), consequenceOf(error)),
			cause: error,
		});
	}
	if (error instanceof LockError) {
		return new SwapItemError(error.message, itemIndexes, {
			description:
				error.name === 'LockTimeoutError'
					? 'Another execution held the lock for the whole wait. Raise "Wait Timeout", or check that every path after Tenant Credential Swap reaches a Release Lock.'
					: undefined,
			cause: error,
		});
	}
	const message = error instanceof Error ? error.message : String(error);
	return new SwapItemError(redactSecrets(message, secrets), itemIndexes, { cause: error });
}
