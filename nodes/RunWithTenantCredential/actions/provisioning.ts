import { tenantCredentialFor, type TenantCredential } from '../../shared/tenantCredentials/provision';
import type { RunGroup } from './grouping';
import type { RunContext } from './runContext';

/** Step 3: finds the group's tenant credential in the registry, or creates it under the lock on its name. */
export async function provisionTenantCredential(run: RunContext, group: RunGroup, projectId: string | undefined): Promise<TenantCredential> {
	const [first] = group.requests;
	return await tenantCredentialFor(run.credentials, {
		tenantId: first.tenantId,
		type: group.credentialType,
		name: group.credentialName,
		data: first.data,
		projectId,
		retentionMs: first.options.retentionMs,
		testCredential: first.options.testCredential,
		waitTimeoutMs: first.options.waitTimeoutMs,
		itemIndexes: group.itemIndexes,
		limits: first.options.limits,
	});
}
