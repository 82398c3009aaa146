import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';

export class TenantLockRelease implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Release Lock',
		name: 'tenantLockRelease',
		icon: 'file:tenantLockRelease.svg',
		group: ['transform'],
		version: 1,
		description: 'Stub: replaced by the real node',
		defaults: { name: 'Release Lock' },
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		properties: [],
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return [this.getInputData()];
	}
}
