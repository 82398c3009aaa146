import { NodeOperationError, type IExecuteFunctions, type INodeExecutionData } from 'n8n-workflow';

import type { SwapItemError } from './swap/errors';

export const PARAMETER_LABELS: Record<string, string> = {
	baseCredential: 'Base Credential',
	tenantId: 'Tenant ID',
	credentialData: 'Credential Data',
	lockBackend: 'Lock Backend',
	'options.lockTtl': 'Lock TTL',
	'options.waitTimeout': 'Wait Timeout',
	'options.partialUpdate': 'Partial Update',
	'options.allowEmptyFields': 'Fields Allowed Empty',
	'options.lockScope': 'Lock Scope',
	'options.lockSchema': 'Lock Table Schema',
	'options.lockTable': 'Lock Table Name',
	releaseMode: 'Release',
	executionId: 'Execution ID',
	lockKey: 'Lock Key',
	token: 'Lock Token',
	limit: 'Limit',
	subWorkflow: 'Sub-Workflow',
	placeholderCredential: 'Placeholder Credential',
	credentialSource: 'Credential Source',
	connection: 'Connection',
	'options.allowedFields': 'Allowed Fields',
	'options.credentialType': 'Credential Type',
	'options.retention': 'Retention',
	'options.maxTenantCredentials': 'Max Tenant Credentials',
	'options.maxCredentialsPerTenant': 'Max Credentials per Tenant',
	'options.output': 'Output',
	'options.testCredential': 'Test Credential',
	'options.saveSuccessfulSubExecutions': 'Save Successful Sub-Executions',
	'options.tenantsInParallel': 'Tenants in Parallel',
	connectStartUrl: 'Connect Start URL',
	linkExpiry: 'Link Expiry',
};

/** Message names the parameter and the item, so the user knows where to look. */
export function toNodeError(context: Pick<IExecuteFunctions, 'getNode'>, error: SwapItemError, itemIndex: number): NodeOperationError {
	const parameter = error.options.parameter;
	const where = parameter ? `Parameter "${PARAMETER_LABELS[parameter] ?? parameter}", item ${itemIndex}: ` : `Item ${itemIndex}: `;
	const message = `${where}${error.message}`;
	const nodeError = new NodeOperationError(context.getNode(), message, {
		itemIndex,
		description: error.options.description,
	});
	// n8n swaps a message that mentions e.g. "EPERM" or "ENOENT" (a credential or tenant name may) for a
	// generic one; ours already says what happened and where.
	nodeError.message = message;
	return nodeError;
}

/**
 * The error item continueOnFail puts in place of a failed one. `error` on the item is what n8n's
 * "Continue (using error output)" routes by (n8n-core's handleNodeErrorOutput): without it, only an item
 * whose json holds nothing but error/message/details goes there, and `errorDescription` would keep it
 * on the regular output.
 */
export function errorItem(error: NodeOperationError, itemIndex: number): INodeExecutionData {
	return {
		json: { error: error.message, ...(error.description ? { errorDescription: error.description } : {}) },
		error,
		pairedItem: { item: itemIndex },
	};
}
