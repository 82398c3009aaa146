import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { redactSecrets } from '../../shared/swap/credentialData';
import { SwapItemError } from '../../shared/swap/errors';
import { connectedSubWorkflowFailure } from '../../shared/tenantCredentials/connectedTenant';
import { tenantCredentialUses } from '../../shared/tenantCredentials/inUse';
import { subWorkflowFailure } from '../../shared/tenantCredentials/lostCredential';
import type { TenantCredential } from '../../shared/tenantCredentials/provision';
import { failedSubExecution, keepsSubExecution, linkRunToSubExecution, subExecutionMetadata, whereToFindFailedSubExecution } from '../../shared/tenantCredentials/subExecution';
import { reboundWorkflow } from '../../shared/tenantCredentials/subWorkflow';
import type { RunGroup } from './grouping';
import type { RunContext } from './runContext';

/** A sub-execution that paused (a node in it waits): its output is not the sub-workflow's, and it holds the credential past its in-use mark. */
export class SubExecutionWaiting extends SwapItemError {}

function subExecutionWaiting(group: RunGroup, executionId: string): SubExecutionWaiting {
	return new SubExecutionWaiting(
		`Sub-workflow ${group.subWorkflow.label} paused for tenant "${group.requests[0].tenantId}" (sub-execution ${executionId}): waiting nodes are not supported in a sub-workflow of Run With Tenant Credential`,
		group.itemIndexes,
		{
			parameter: 'subWorkflow',
			description:
				"A node in it waits (a Wait, a form, an approval, or a community node that pauses the execution). Its output was not used, and this execution does not wait for it. Remove the waiting node from the sub-workflow, or put it in the calling workflow after this node. The paused sub-execution stays in n8n's list of executions until it resumes or is stopped.",
		},
	);
}

/** Output items of a sub-execution, paired with the group's input items. */
function pairOutput(output: INodeExecutionData[], group: RunGroup, executionId: string, workflowId: string, kept: boolean): INodeExecutionData[] {
	const sameLength = output.length === group.itemIndexes.length;
	return output.map((item, index) => ({
		json: redactSecrets(item.json, group.outputSecrets),
		...(item.binary ? { binary: item.binary } : {}),
		pairedItem: sameLength ? { item: group.itemIndexes[index] } : group.itemIndexes.map((item) => ({ item })),
		// n8n's editor links it; only one n8n keeps, else the link opens "Could not find execution".
		...subExecutionMetadata({ executionId, workflowId }, kept),
	}));
}

/**
 * Step 4: runs the sub-workflow inline, its nodes of the type rebound to the tenant's credential, which
 * is marked in use until the sub-execution ends. Returns the output items, paired with the group's items.
 */
export async function runGroup(
	run: RunContext,
	group: RunGroup,
	credential: TenantCredential,
	items: INodeExecutionData[],
	projectId: string | undefined,
): Promise<INodeExecutionData[]> {
	const { node, registry, scope, workflowId, executionId } = run;
	const [first] = group.requests;
	// The tenant's secrets stay out of the sub-execution's input (n8n stores failed sub-executions) unless the option passes them.
	const groupItems = group.requests.map(({ itemIndex, options }) =>
		options.passSecretsToSubWorkflow ? items[itemIndex] : { ...items[itemIndex], json: redactSecrets(items[itemIndex].json, group.outputSecrets) },
	);
	// In-use marks keep registered credentials from Retention; a connected one is never registered nor retired.
	const endUse = group.connected ? () => undefined : tenantCredentialUses().begin(registry, scope, group.credentialName, node.logger);
	let result: Awaited<ReturnType<IExecuteFunctions['executeWorkflow']>>;
	try {
		result = await node.executeWorkflow(
			{ code: reboundWorkflow(group.subWorkflow, group.placeholderId, credential, { saveSuccessfulExecution: first.options.saveSuccessfulSubExecutions }) },
			groupItems,
			undefined,
			// shouldResume false: a sub-execution that resumes later must not restart this execution nor
			// overwrite this node's output with its own (n8n's updateParentExecutionWithChildResults).
			{ parentExecution: { executionId, workflowId, shouldResume: false }, executionMode: node.getMode() },
		);
	} catch (error) {
		const failedRun = failedSubExecution(error);
		const keptFailure = keepsSubExecution(group.subWorkflow.settings, 'error');
		if (failedRun && keptFailure) linkRunToSubExecution(node, { ...failedRun, workflowId: failedRun.workflowId || workflowId });
		const failure = {
			api: run.api,
			scope,
			projectId,
			subWorkflowLabel: group.subWorkflow.label,
			tenantId: first.tenantId,
			itemIndexes: group.itemIndexes,
			secrets: group.secrets,
			whereToFind: whereToFindFailedSubExecution(failedRun, keptFailure),
		};
		// n8n refused the credential: looked up, forgotten when gone (see lostCredential.ts; connectedTenant.ts forgets the connection).
		if (group.connected) throw await connectedSubWorkflowFailure(error, { ...failure, connections: run.connections, connection: group.connected });
		throw await subWorkflowFailure(error, { ...failure, registry, credentialId: credential.id });
	} finally {
		endUse();
	}
	if (result.waitTill) throw subExecutionWaiting(group, result.executionId);
	const kept = first.options.saveSuccessfulSubExecutions && keepsSubExecution(group.subWorkflow.settings, 'success');
	if (kept) linkRunToSubExecution(node, { executionId: result.executionId, workflowId });
	return pairOutput(result.data?.[0] ?? [], group, result.executionId, workflowId, kept);
}
