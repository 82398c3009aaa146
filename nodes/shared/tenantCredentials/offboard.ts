import { SwapItemError } from '../swap/errors';
import { deleteTenantCredential, errorText, DELETE_REFUSED_ADVICE } from './deletion';
import { holding, limitGuardKey, type TenantCredentialContext } from './provision';
import { describeWorkflows, workflowReferences } from './references';

/**
 * Offboarding a tenant (a leaked secret, a tenant who left): every credential the registry holds for
 * it is deleted now, whatever its state (active, in use by a running execution, retiring). An
 * explicit operator action, so a credential that a workflow references is deleted too, and the
 * output names those workflows.
 */

/** Records one offboarding takes at most (a tenant has at most Max Credentials per Tenant live ones; 5 by default). */
export const OFFBOARD_BATCH = 1_000;

export interface OffboardResult {
	tenantId: string;
	/** Records of the tenant found in the registry (each a credential in n8n, or one already deleted there). */
	found: number;
	deleted: number;
	/** n8n answered 404: deleted before (by hand, or by a clean-up). */
	alreadyGone: number;
	/** Deleted although workflows referenced them: which ones, to fix by hand. */
	referencedBy: Array<{ credentialId: string; workflows: string }>;
	/** The workflows could not be listed, so referencedBy may miss some (why). */
	referencesUnchecked?: string;
}

let offboardGuard = true;

/** For tests only: `false` offboards without waiting for creations in progress (the control); undefined restores it. */
export function configureOffboardGuard(enabled?: boolean): void {
	offboardGuard = enabled ?? true;
}

const GUARD_TIMEOUT =
	'Other executions were creating tenant credentials for the whole wait (offboarding waits for creations in progress, so it misses none). Raise Wait Timeout, or retry. Nothing was deleted.';

/**
 * Deletes every credential of the tenant in this registry and n8n, and says how many. Idempotent: a
 * second run finds none. Creations of tenant credentials hold the registry-wide creation guard from
 * creating the credential in n8n until it is registered; offboarding marks the tenant's records while
 * holding that guard, so a creation in progress is either registered before (and deleted here) or
 * starts after (a new call of the tenant, which gets a new credential). A record whose deletion fails
 * stays retiring: nobody uses it again, and a later run (or the clean-up, after 10 minutes) deletes it.
 */
export async function offboardTenant(
	context: TenantCredentialContext,
	request: { tenantId: string; waitTimeoutMs: number; itemIndexes: number[] },
): Promise<OffboardResult> {
	const { registry, scope, api } = context;
	const take = async () => await registry.retireTenantCredentialsOf(scope, request.tenantId, OFFBOARD_BATCH);
	const records = offboardGuard ? await holding(context, request, limitGuardKey(scope), GUARD_TIMEOUT, take) : await take();
	const result: OffboardResult = { tenantId: request.tenantId, found: records.length, deleted: 0, alreadyGone: 0, referencedBy: [] };
	if (records.length === 0) return result;
	const references = await workflowReferences(
		api,
		records.map((record) => record.credentialId),
	);
	if (!references.complete) result.referencesUnchecked = references.problem;
	const failures: string[] = [];
	for (const record of records) {
		const { outcome, error } = await deleteTenantCredential(api, record.credentialId, 'delete tenant credential');
		if (outcome === 'deleted' || outcome === 'gone') {
			await registry.forgetTenantCredential(scope, record.credentialId);
			if (outcome === 'deleted') result.deleted += 1;
			else result.alreadyGone += 1;
			const refs = references.byCredential.get(record.credentialId);
			if (refs) result.referencedBy.push({ credentialId: record.credentialId, workflows: describeWorkflows(refs) });
			continue;
		}
		failures.push(`${record.credentialId}: ${errorText(error)}`);
		if (outcome === 'unreachable') break;
	}
	if (failures.length > 0) {
		const left = result.found - result.deleted - result.alreadyGone;
		const refused = failures.some((failure) => / 403 /.test(failure));
		throw new SwapItemError(
			`Offboarding tenant "${request.tenantId}" deleted ${result.deleted} of its ${result.found} credentials (${result.alreadyGone} already gone); ${left} are left: ${failures[0]}`,
			request.itemIndexes,
			{
				parameter: 'tenantId',
				description: `${refused ? `${DELETE_REFUSED_ADVICE} ` : ''}The ones left are no longer used by any execution. Run the offboarding again (it deletes only what is left); otherwise the background clean-up tries again after 10 minutes.`,
			},
		);
	}
	return result;
}
