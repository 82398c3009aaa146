import type { N8nApiClient } from '../transport/n8nApiClient';
import { causeOf, DELETE_REFUSED_ADVICE, deleteTenantCredential, errorText } from './deletion';
import { describeWorkflows, workflowReferences } from './references';
import type { TenantCredentialRegistry } from './registryTypes';
import { warnOnce } from './reportOnce';

/** How many credentials one sweep retires at most; the next sweep takes the rest. */
const SWEEP_BATCH = 25;
/**
 * A retirement that did not finish (process died between marking and deleting, n8n refused or failed
 * the delete, a workflow references it) is taken up again after this: a record that keeps failing is
 * tried once per this interval, never in a tight loop.
 */
export const STALE_RETIRING_MS = 10 * 60_000;
let staleRetiringMs = STALE_RETIRING_MS;

/** For tests only: how long a claimed record waits before a sweep takes it again (`undefined` restores 10 minutes). */
export function configureSweepStaleTime(ms?: number): void {
	staleRetiringMs = ms ?? STALE_RETIRING_MS;
}
const MIN_INTERVAL_MS = 1_000;
const MAX_INTERVAL_MS = 10 * 60_000;

type Log = { warn(message: string, meta?: Record<string, unknown>): void; debug(message: string, meta?: Record<string, unknown>): void };

interface SweepState {
	lastStart: number;
	running?: Promise<SweepCounts | undefined>;
}

/** Per registry and n8n instance: how many there are is bounded by the lock stores and n8n instances a process uses. */
const sweeps = new WeakMap<TenantCredentialRegistry, Map<string, SweepState>>();

export interface SweepContext {
	registry: TenantCredentialRegistry;
	/** A client that still works after the execution ended (the sweep runs in the background). */
	api: N8nApiClient;
	scope: string;
	log: Log;
}

/** What one sweep did: counts only. */
export interface SweepCounts {
	retired: number;
	deleted: number;
	/** Already deleted in n8n (404): the record is forgotten. */
	gone: number;
	/** Referenced by a workflow: kept (retiring; looked at again after STALE_RETIRING_MS). */
	referenced: number;
	/** Refused or failed: kept retiring, tried again after STALE_RETIRING_MS. */
	failed: number;
	/** Not tried (n8n unreachable, or the references could not be checked): tried again after STALE_RETIRING_MS. */
	notTried: number;
}

/** How often a process looks for credentials to retire: often enough for the retention, never more than once a second. */
export function sweepIntervalMs(retentionMs: number): number {
	return Math.min(MAX_INTERVAL_MS, Math.max(MIN_INTERVAL_MS, Math.floor(retentionMs / 2)));
}

/**
 * Starts, in the background and at most once per interval per process, the deletion of tenant
 * credentials that were not used for their retention period and that no execution still uses.
 * The registry decides that atomically (retire), so a credential marked in use is never chosen.
 * Never rejects (resolves undefined after a failure, which is one warning).
 */
export function sweepUnusedInBackground(context: SweepContext, retentionMs: number): Promise<SweepCounts | undefined> | undefined {
	let byScope = sweeps.get(context.registry);
	if (!byScope) sweeps.set(context.registry, (byScope = new Map()));
	const state = byScope.get(context.scope) ?? { lastStart: 0 };
	byScope.set(context.scope, state);
	const now = Date.now();
	if (state.running || now - state.lastStart < sweepIntervalMs(retentionMs)) return undefined;
	state.lastStart = now;
	state.running = sweepOnce(context)
		.catch((error: Error) => {
			context.log.warn('Run With Tenant Credential could not delete unused tenant credentials', { error: error.message });
			return undefined;
		})
		.finally(() => {
			state.running = undefined;
		});
	return state.running;
}

/**
 * One sweep: claims a batch, checks once which of it workflows reference, then deletes each
 * unreferenced one on its own: a failure of one record never stops the others (only an unreachable
 * n8n ends the batch), and whatever was not deleted stays retiring for a later sweep.
 */
export async function sweepOnce({ registry, api, scope, log }: SweepContext): Promise<SweepCounts> {
	const retired = await registry.retireUnusedTenantCredentials(scope, SWEEP_BATCH, staleRetiringMs);
	const counts: SweepCounts = { retired: retired.length, deleted: 0, gone: 0, referenced: 0, failed: 0, notTried: 0 };
	if (retired.length === 0) return counts;
	const references = await workflowReferences(api, retired.map((record) => record.credentialId));
	if (!references.complete) {
		counts.notTried = retired.length;
		warnOnce(log, `references\u0000${scope}\u0000${causeOf(references.error)}`, 'Run With Tenant Credential deleted no unused tenant credential: it could not check which workflows reference them', {
			problem: references.problem,
			advice:
				'A tenant credential that a workflow references is never deleted, so the node lists workflows first. Give the API key of the n8n API credential the scope workflow:list (and workflow:read). Until then unused tenant credentials are kept and count towards Max Tenant Credentials; they are tried again every 10 minutes.',
		});
		return counts;
	}
	let firstFailure: unknown;
	for (const [index, record] of retired.entries()) {
		const refs = references.byCredential.get(record.credentialId);
		if (refs) {
			counts.referenced += 1;
			warnOnce(log, `referenced\u0000${scope}\u0000${record.credentialId}`, 'Run With Tenant Credential keeps an unused tenant credential: workflows reference it', {
				credentialId: record.credentialId,
				tenantId: record.tenantId,
				workflows: describeWorkflows(refs),
				advice:
					'Tenant credentials belong to Run With Tenant Credential, which deletes them once unused. Select a credential of your own in those workflows\' nodes; the tenant credential is then deleted by a later clean-up. To delete it now, use the node\'s operation Offboard Tenant.',
			});
			continue;
		}
		const { outcome, error } = await deleteTenantCredential(api, record.credentialId, 'delete tenant credential');
		if (outcome === 'deleted' || outcome === 'gone') {
			await registry.forgetTenantCredential(scope, record.credentialId);
			counts[outcome] += 1;
			log.debug('Run With Tenant Credential deleted an unused tenant credential', {
				credentialId: record.credentialId,
				tenantId: record.tenantId,
				lastUsedAt: record.lastUsedAt.toISOString(),
				alreadyGone: outcome === 'gone',
			});
			continue;
		}
		if (outcome === 'unreachable') {
			counts.notTried = retired.length - index;
			firstFailure ??= error;
			break;
		}
		counts.failed += 1;
		if (outcome === 'refused') warnOnce(log, `403\u0000${scope}`, 'Run With Tenant Credential could not delete unused tenant credentials', { error: errorText(error), advice: DELETE_REFUSED_ADVICE });
		else firstFailure ??= error;
	}
	if (firstFailure !== undefined) {
		// Unlike a 403, these may be passing (n8n restarting): one warning per sweep, and sweeps come at most once per interval.
		log.warn('Run With Tenant Credential could not delete unused tenant credentials', { ...counts, error: errorText(firstFailure) });
	}
	return counts;
}
