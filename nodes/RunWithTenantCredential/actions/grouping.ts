import { secretStrings } from '../../shared/swap/credentialData';
import { checkCallerPolicy } from '../../shared/tenantCredentials/callerPolicy';
import { tenantCredentialName } from '../../shared/tenantCredentials/credentialName';
import { placeholderToBind } from '../../shared/tenantCredentials/binding';
import { connectedCredentialFor, connectedCredentialName } from '../../shared/tenantCredentials/connectedTenant';
import { readSubWorkflow, subWorkflowToRun, type LoadedSubWorkflow } from '../../shared/tenantCredentials/subWorkflow';
import { outputSecrets } from '../../shared/tenantCredentials/tenantData';
import { checkTenantData } from '../../shared/tenantData/policy';
import type { TenantConnection } from '../../shared/tenantOAuth/types';
import type { ItemFailures } from './itemFailures';
import type { RunRequest } from './request';
import type { RunContext } from './runContext';

/** The items that run the same sub-workflow with the same tenant credential: one sub-execution. */
export interface RunGroup {
	subWorkflow: LoadedSubWorkflow;
	/** The sub-workflow's credential whose entries point at the tenant's. */
	placeholderId: string;
	credentialType: string;
	credentialName: string;
	requests: RunRequest[];
	itemIndexes: number[];
	/** Every string of the data: kept out of error messages. */
	secrets: Set<string>;
	/** The values of the type's password fields: kept out of output items. */
	outputSecrets: Set<string>;
	/** Connected Tenant: the tenant's connection, whose credential the placeholder is bound to (never in the registry). */
	connected?: TenantConnection;
}

interface CheckedSubWorkflow {
	subWorkflow: LoadedSubWorkflow;
	placeholderId: string;
	/** The placeholder's type: the tenant credential's. */
	credentialType: string;
	/** The calling workflow's project. */
	projectId: string | undefined;
}

/** Step 1: reads the sub-workflow (once per execution) and the calling workflow, checks the pair, and which credential is the placeholder. */
export async function readAndCheckSubWorkflow(run: RunContext, request: RunRequest): Promise<CheckedSubWorkflow> {
	const itemIndexes = [request.itemIndex];
	let loading = run.subWorkflows.get(request.subWorkflowId);
	if (!loading) {
		loading = readSubWorkflow(run.api, run.readerScope, request.subWorkflowId, { manual: run.draft, itemIndexes });
		run.subWorkflows.set(request.subWorkflowId, loading);
	}
	const [read, projectId] = await Promise.all([loading, run.callerProject]);
	const subWorkflow = subWorkflowToRun(read, { draft: run.draft, callerProjectId: projectId, itemIndexes });
	await checkCallerPolicy(run.scope, subWorkflow, { workflowId: run.workflowId, projectId }, itemIndexes, run.runProbe);
	const binding = { registry: run.registry, scope: run.scope, api: run.api, readerScope: run.readerScope, draft: run.draft, callerProjectId: projectId };
	const placeholder = await placeholderToBind(binding, subWorkflow, { placeholderId: request.placeholderId, credentialType: request.options.credentialType }, itemIndexes);
	return { subWorkflow, placeholderId: placeholder.id, credentialType: placeholder.type, projectId };
}

/** Step 2: checks the tenant's data against the type, then names the tenant credential. */
export async function nameTenantCredential(run: RunContext, request: RunRequest, { credentialType, projectId }: CheckedSubWorkflow): Promise<string> {
	await checkTenantData(run.api, { type: credentialType }, request.data, request.options, [request.itemIndex]);
	return tenantCredentialName(await run.naming, { tenantId: request.tenantId, type: credentialType, data: request.data, projectId });
}

/** Step 2 for Connected Tenant: the tenant's connection, of the placeholder's type. */
async function connectedCredentialOf(run: RunContext, request: RunRequest & { connection: string }, checked: CheckedSubWorkflow): Promise<TenantConnection> {
	return await connectedCredentialFor(run.connections, {
		tenantId: request.tenantId,
		connection: request.connection,
		placeholder: { id: checked.placeholderId, type: checked.credentialType },
		itemIndexes: [request.itemIndex],
	});
}

/** Steps 1 and 2 per item, then one group per sub-workflow and tenant credential, in order of first item. */
export async function groupRequests(run: RunContext, requests: RunRequest[], failures: ItemFailures): Promise<RunGroup[]> {
	const groups = new Map<string, RunGroup>();
	for (const request of requests) {
		const secrets = secretStrings(request.data);
		try {
			const checked = await readAndCheckSubWorkflow(run, request);
			const connected = request.connection === undefined ? undefined : await connectedCredentialOf(run, { ...request, connection: request.connection }, checked);
			const credentialName = connected ? connectedCredentialName(connected.appId, request.tenantId) : await nameTenantCredential(run, request, checked);
			// A connected credential's key has its ID: a tenant's data never names one, and a tenant who connected again between items gets a group per credential.
			const credentialKey = connected ? `connected\u0000${connected.appId}\u0000${connected.credentialId}` : credentialName;
			const key = `${checked.subWorkflow.id}\u0000${checked.placeholderId}\u0000${credentialKey}`;
			const group = groups.get(key) ?? {
				subWorkflow: checked.subWorkflow,
				placeholderId: checked.placeholderId,
				credentialType: checked.credentialType,
				credentialName,
				requests: [],
				itemIndexes: [],
				secrets: new Set<string>(),
				outputSecrets: outputSecrets(checked.credentialType, request.data),
				...(connected ? { connected } : {}),
			};
			group.requests.push(request);
			group.itemIndexes.push(request.itemIndex);
			for (const secret of secrets) group.secrets.add(secret);
			groups.set(key, group);
		} catch (error) {
			failures.fail(error, [request.itemIndex], secrets);
		}
	}
	return [...groups.values()];
}
