import {
	NodeConnectionTypes,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';

import { executeListLocks } from './actions/listLocks';
import { executeRelease } from './actions/release';
import { releaseProperties } from './description';

export class TenantLockRelease implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Release Lock',
		name: 'tenantLockRelease',
		icon: { light: 'file:tenantLockRelease.svg', dark: 'file:tenantLockRelease.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle:
			'={{ $parameter["operation"] === "list" ? "list held locks" : {"execution": "this execution", "token": "lock on item", "executionId": "another execution"}[$parameter["releaseMode"]] }}',
		description: 'Ends the critical section a Tenant Credential Swap opened',
		defaults: { name: 'Release Lock' },
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: [
			{ name: 'postgres', displayName: 'Lock Database', required: true, displayOptions: { show: { lockBackend: ['postgres'] } } },
			{ name: 'redis', displayName: 'Lock Redis', required: true, displayOptions: { show: { lockBackend: ['redis'] } } },
		],
		usableAsTool: undefined,
		properties: releaseProperties,
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		if (this.getNodeParameter('operation', 0, 'release') === 'list') return await executeListLocks.call(this);
		return await executeRelease.call(this);
	}
}
