import type { N8nApiClient } from '../transport/n8nApiClient';
import type { TenantCredentialRegistry } from './registryTypes';

/** How many credentials one sweep retires at most; the next sweep takes the rest. */
const SWEEP_BATCH = 25;
/** A retirement that did not finish (process died between marking and deleting) is taken up again after this. */
const STALE_RETIRING_MS = 10 * 60_000;
const MIN_INTERVAL_MS = 1_000;
const MAX_INTERVAL_MS = 10 * 60_000;

type Log = { warn(message: string, meta?: Record<string, unknown>): void; debug(message: string, meta?: Record<string, unknown>): void };

interface SweepState {
	lastStart: number;
	running?: Promise<void>;
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

/** How often a process looks for credentials to retire: often enough for the retention, never more than once a second. */
export function sweepIntervalMs(retentionMs: number): number {
	return Math.min(MAX_INTERVAL_MS, Math.max(MIN_INTERVAL_MS, Math.floor(retentionMs / 2)));
}

/**
 * Starts, in the background and at most once per interval per process, the deletion of tenant
 * credentials that were not used for their retention period and that no execution still uses.
 * The registry decides that atomically (retire), so a credential marked in use is never chosen.
 */
export function sweepUnusedInBackground(context: SweepContext, retentionMs: number): Promise<void> | undefined {
	let byScope = sweeps.get(context.registry);
	if (!byScope) sweeps.set(context.registry, (byScope = new Map()));
	const state = byScope.get(context.scope) ?? { lastStart: 0 };
	byScope.set(context.scope, state);
	const now = Date.now();
	if (state.running || now - state.lastStart < sweepIntervalMs(retentionMs)) return undefined;
	state.lastStart = now;
	state.running = sweepOnce(context)
		.catch((error: Error) => context.log.warn('Run With Tenant Credential could not delete unused tenant credentials', { error: error.message }))
		.finally(() => {
			state.running = undefined;
		});
	return state.running;
}

async function sweepOnce({ registry, api, scope, log }: SweepContext): Promise<void> {
	const retired = await registry.retireUnusedTenantCredentials(scope, SWEEP_BATCH, STALE_RETIRING_MS);
	for (const record of retired) {
		// A failed delete leaves the record retiring: a later sweep tries again.
		await api.deleteCredential(record.credentialId, 'delete tenant credential');
		await registry.forgetTenantCredential(scope, record.credentialId);
		log.debug('Run With Tenant Credential deleted an unused tenant credential', {
			credentialId: record.credentialId,
			tenantId: record.tenantId,
			lastUsedAt: record.lastUsedAt.toISOString(),
		});
	}
}
