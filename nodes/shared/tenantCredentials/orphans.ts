import type { CredentialPage, CredentialSummary } from '../transport/n8nApiClient';
import { isRegistryCredentialName, isTenantCredentialName, registryTag } from './credentialName';
import { causeOf, DELETE_REFUSED_ADVICE, deleteTenantCredential, errorText } from './deletion';
import { describeWorkflows, workflowReferences } from './references';
import { warnOnce } from './reportOnce';
import { MAX_KNOWN_CREDENTIAL_IDS, type TenantCredentialRegistry } from './registryTypes';
import type { SweepContext } from './sweep';

// Orphans: credentials in n8n named like this registry's tenant credentials (its tag: this lock
// store and this n8n) that the registry does not know (a process died between creating and
// registering one, the lock store lost its data, a record was forgotten). Nothing uses them; nothing
// else would ever delete them. Credentials of another lock store or Base URL (another tag), and names
// from before tags existed (`tenant-cred <tenant> <hmac>`), are never touched.

/** At most one orphan pass per registry and n8n instance per process in this time. */
export const ORPHAN_PASS_INTERVAL_MS = 60 * 60_000;
/**
 * An unknown tenant credential is deleted only once unchanged this long (and at least the node's
 * retention): another lock store used against the same n8n (another workflow's lock backend) keeps
 * credentials this registry does not know, and deleting one of those would fail that workflow's next
 * execution with it (it then creates the credential again).
 */
export const ORPHAN_MIN_GRACE_MS = 30 * 24 * 60 * 60_000;

export interface OrphanCleanupSettings {
	/** At most one pass per registry and n8n instance per process in this time. */
	intervalMs: number;
	/** The grace period is max(this, the node's retention). */
	minGraceMs: number;
	/** Pages of the credentials list one pass reads at most; the next pass goes on from there. */
	maxPages: number;
	/** Credentials per page asked of the API (at most MAX_KNOWN_CREDENTIAL_IDS are checked a registry call). */
	pageSize: number;
	/** Deletions per pass at most; the next pass takes the rest. */
	maxDeletes: number;
}

export const DEFAULT_ORPHAN_CLEANUP: Readonly<OrphanCleanupSettings> = Object.freeze({
	intervalMs: ORPHAN_PASS_INTERVAL_MS,
	minGraceMs: ORPHAN_MIN_GRACE_MS,
	maxPages: 20,
	pageSize: 250,
	maxDeletes: 50,
});
let orphanCleanup: OrphanCleanupSettings = { ...DEFAULT_ORPHAN_CLEANUP };

interface OrphanPassState {
	lastStart: number;
	running?: Promise<void>;
	/** Where the last pass stopped reading the list (its page limit); undefined = from the start. */
	cursor?: string;
}

let orphanPasses = new WeakMap<TenantCredentialRegistry, Map<string, OrphanPassState>>();

/** For tests only: orphan clean-up settings (`undefined` restores the defaults); also forgets past passes. */
export function configureOrphanCleanup(settings?: Partial<OrphanCleanupSettings>): void {
	orphanCleanup = { ...DEFAULT_ORPHAN_CLEANUP, ...(settings ?? {}) };
	orphanPasses = new WeakMap();
}

/** How long an unknown tenant credential must have been left unchanged before it is deleted. */
export function orphanGraceMs(retentionMs: number): number {
	return Math.max(orphanCleanup.minGraceMs, Number.isFinite(retentionMs) ? retentionMs : Number.POSITIVE_INFINITY);
}

/** What one orphan pass saw and did: counts only. */
export interface OrphanPassCounts {
	pages: number;
	listed: number;
	/** Named with TENANT_CREDENTIAL_PREFIX and this registry's tag. */
	tenantCredentials: number;
	/** Named with TENANT_CREDENTIAL_PREFIX but not this registry's tag (another lock store or n8n Base URL, or an old name): left alone. */
	otherTenantCredentials: number;
	known: number;
	/** Unknown, but changed within the grace period (or without a readable date): kept. */
	unknownRecent: number;
	deleted: number;
	/** Already deleted (n8n answered 404). */
	gone: number;
	/** Referenced by a workflow: kept. */
	referenced: number;
	failed: number;
	/** Not tried this pass (n8n unreachable, or the references could not be checked). */
	notTried: number;
	/** The pass read the list to its end (the next one starts from the beginning). */
	reachedEnd: boolean;
}

/**
 * Starts, in the background and at most once per ORPHAN_PASS_INTERVAL_MS per process, registry and
 * n8n instance, the deletion of orphaned tenant credentials: named with the prefix, unknown to the
 * registry, and unchanged (updatedAt, else createdAt) for longer than max(30 days, `retentionMs`).
 * Never rejects: a failure is one warning, and the next pass (an interval later) tries again.
 */
export function sweepOrphansInBackground(context: SweepContext, retentionMs: number): Promise<void> | undefined {
	let byScope = orphanPasses.get(context.registry);
	if (!byScope) orphanPasses.set(context.registry, (byScope = new Map()));
	const state = byScope.get(context.scope) ?? { lastStart: 0 };
	byScope.set(context.scope, state);
	const now = Date.now();
	if (state.running || (state.lastStart !== 0 && now - state.lastStart < orphanCleanup.intervalMs)) return undefined;
	state.lastStart = now;
	const settings = orphanCleanup;
	state.running = (async () => {
		try {
			const counts = await deleteOrphans(context, state, orphanGraceMs(retentionMs), settings);
			context.log.debug('Run With Tenant Credential looked for orphaned tenant credentials', { ...counts });
		} catch (error) {
			context.log.warn('Run With Tenant Credential could not look for orphaned tenant credentials', {
				error: error instanceof Error ? error.message : String(error),
			});
		} finally {
			state.running = undefined;
		}
	})();
	return state.running;
}

async function deleteOrphans(
	{ registry, api, scope, log }: SweepContext,
	state: OrphanPassState,
	graceMs: number,
	settings: OrphanCleanupSettings,
): Promise<OrphanPassCounts> {
	const tag = registryTag(registry.storeIdentity, scope);
	const counts: OrphanPassCounts = { pages: 0, listed: 0, tenantCredentials: 0, otherTenantCredentials: 0, known: 0, unknownRecent: 0, deleted: 0, gone: 0, referenced: 0, failed: 0, notTried: 0, reachedEnd: false };
	const orphans: string[] = [];
	// Collected first, deleted after the last page: n8n's cursors are offsets, which deletions would shift.
	let cursor = state.cursor;
	// Set again after each page read: when the first page fails (a cursor kept for an hour may no
	// longer be accepted), the next pass starts over; after a later failure it goes on from there.
	state.cursor = undefined;
	while (counts.pages < settings.maxPages && orphans.length < settings.maxDeletes) {
		const page: CredentialPage = await api.listCredentials(cursor, settings.pageSize);
		counts.pages += 1;
		counts.listed += page.data.length;
		const tenantCredentials = page.data.filter(isTenantCredential);
		const named = tenantCredentials.filter((credential) => isRegistryCredentialName(credential.name, tag));
		counts.tenantCredentials += named.length;
		counts.otherTenantCredentials += tenantCredentials.length - named.length;
		const known = new Set<string>();
		for (let start = 0; start < named.length; start += MAX_KNOWN_CREDENTIAL_IDS) {
			const batch = named.slice(start, start + MAX_KNOWN_CREDENTIAL_IDS).map((credential) => credential.id);
			for (const id of await registry.knownTenantCredentialIds(scope, batch)) known.add(id);
		}
		// Read at each page: a slow pass never measures ages against its own start.
		const changedBefore = Date.now() - graceMs;
		for (const credential of named) {
			if (known.has(credential.id)) counts.known += 1;
			else if (lastChange(credential) < changedBefore) orphans.push(credential.id);
			else counts.unknownRecent += 1;
		}
		if (orphans.length >= settings.maxDeletes) {
			// This page again next time: its orphans beyond the limit are still there.
			state.cursor = cursor;
			break;
		}
		cursor = page.nextCursor ?? undefined;
		state.cursor = cursor;
		if (!cursor) {
			counts.reachedEnd = true;
			break;
		}
	}
	const candidates = orphans.slice(0, settings.maxDeletes);
	if (candidates.length === 0) return counts;
	// One listing of workflows per pass: a credential some workflow references is never deleted.
	const references = await workflowReferences(api, candidates);
	if (!references.complete) {
		counts.notTried = candidates.length;
		warnOnce(log, `orphan-references\u0000${scope}\u0000${causeOf(references.error)}`, 'Run With Tenant Credential deleted no orphaned tenant credential: it could not check which workflows reference them', {
			problem: references.problem,
			advice: 'Give the API key of the n8n API credential the scope workflow:list (and workflow:read). The next pass (an hour later) tries again.',
		});
		return counts;
	}
	let firstFailure: unknown;
	for (const [index, id] of candidates.entries()) {
		const refs = references.byCredential.get(id);
		if (refs) {
			counts.referenced += 1;
			warnOnce(log, `orphan-referenced\u0000${scope}\u0000${id}`, 'Run With Tenant Credential keeps an orphaned tenant credential: workflows reference it', {
				workflows: describeWorkflows(refs),
				advice: 'Tenant credentials belong to Run With Tenant Credential. Select a credential of your own in those workflows\' nodes; a later pass then deletes it.',
			});
			continue;
		}
		const { outcome, error } = await deleteTenantCredential(api, id, 'delete orphaned tenant credential');
		if (outcome === 'deleted') counts.deleted += 1;
		else if (outcome === 'gone') counts.gone += 1;
		else if (outcome === 'unreachable') {
			// n8n unreachable or failing: stop until the next pass.
			counts.failed += 1;
			counts.notTried = candidates.length - index - 1;
			firstFailure ??= error;
			break;
		} else {
			counts.failed += 1;
			if (outcome === 'refused') warnOnce(log, `403\u0000${scope}`, 'Run With Tenant Credential could not delete orphaned tenant credentials', { error: errorText(error), advice: DELETE_REFUSED_ADVICE });
			else firstFailure ??= error;
		}
	}
	if (firstFailure !== undefined) {
		log.warn('Run With Tenant Credential could not delete orphaned tenant credentials', {
			failed: counts.failed,
			deleted: counts.deleted,
			error: errorText(firstFailure),
		});
	}
	return counts;
}

function isTenantCredential(credential: CredentialSummary): boolean {
	return typeof credential?.id === 'string' && credential.id !== '' && typeof credential.name === 'string' && isTenantCredentialName(credential.name);
}

/** When n8n last changed the credential (updatedAt, else createdAt); +Infinity (never old enough) when neither is readable. */
function lastChange(credential: CredentialSummary): number {
	for (const value of [credential.updatedAt, credential.createdAt]) {
		const at = typeof value === 'string' ? Date.parse(value) : Number.NaN;
		if (Number.isFinite(at)) return at;
	}
	return Number.POSITIVE_INFINITY;
}
