import {
	NodeConnectionTypes,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';

import { lockDatabaseCredential } from '../shared/lockParameters';
import { executeRelease } from './actions/release';
import { releaseProperties } from './description';

export class TenantLockRelease implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Release Lock',
		name: 'tenantLockRelease',
		icon: 'file:tenantLockRelease.svg',
		group: ['transform'],
		version: 1,
		subtitle: '={{ {"execution": "this execution", "token": "lock on item", "executionId": "another execution"}[$parameter["releaseMode"]] }}',
		description: 'Ends the critical section a Tenant Credential Swap opened',
		defaults: { name: 'Release Lock' },
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: [lockDatabaseCredential],
		properties: releaseProperties,
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await executeRelease.call(this);
	}
}
