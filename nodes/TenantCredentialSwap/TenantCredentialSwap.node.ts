import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';

export class TenantCredentialSwap implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Tenant Credential Swap',
		name: 'tenantCredentialSwap',
		icon: 'file:tenantSwap.svg',
		group: ['transform'],
		version: 1,
		description: 'Stub: replaced by the real node',
		defaults: { name: 'Tenant Credential Swap' },
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: [{ name: 'tenantSwapN8nApi', required: true }],
		properties: [],
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return [this.getInputData()];
	}
}
