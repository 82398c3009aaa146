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
	'options.lockScope': 'Lock Scope',
	'options.lockSchema': 'Lock Table Schema',
	'options.lockTable': 'Lock Table Name',
	releaseMode: 'Release',
	executionId: 'Execution ID',
	lockKey: 'Lock Key',
	token: 'Lock Token',
};

/** Message names the parameter and the item, so the user knows where to look. */
export function toNodeError(context: IExecuteFunctions, error: SwapItemError, itemIndex: number): NodeOperationError {
	const parameter = error.options.parameter;
	const where = parameter ? `Parameter "${PARAMETER_LABELS[parameter] ?? parameter}", item ${itemIndex}: ` : `Item ${itemIndex}: `;
	return new NodeOperationError(context.getNode(), `${where}${error.message}`, {
		itemIndex,
		description: error.options.description,
	});
}

/** The error item continueOnFail puts in place of a failed one. */
export function errorItem(error: NodeOperationError, itemIndex: number): INodeExecutionData {
	return {
		json: { error: error.message, ...(error.description ? { errorDescription: error.description } : {}) },
		pairedItem: { item: itemIndex },
	};
}
