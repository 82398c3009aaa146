import {
	NodeConnectionTypes,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';

import { tenantSwapN8nApiTest } from '../shared/transport/credentialTest';
import { executeRunWithTenantCredential } from './actions/run';
import { runWithTenantProperties } from './description';
import { searchPlaceholderCredentials, searchSubWorkflows } from './methods/listSearch';

export class RunWithTenantCredential implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Run With Tenant Credential',
		name: 'runWithTenantCredential',
		icon: { light: 'file:runWithTenant.svg', dark: 'file:runWithTenant.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{ "tenant " + $parameter["tenantId"] }}',
		description: "Runs a sub-workflow with the tenant's own credential, so tenants run in parallel",
		defaults: { name: 'Run With Tenant Credential' },
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: [
			{ name: 'tenantSwapN8nApi', displayName: 'n8n API', required: true, testedBy: 'tenantSwapN8nApiTest' },
			{ name: 'postgres', displayName: 'Lock Database', required: true, displayOptions: { show: { lockBackend: ['postgres'] } } },
			{ name: 'redis', displayName: 'Lock Redis', required: true, displayOptions: { show: { lockBackend: ['redis'] } } },
		],
		usableAsTool: undefined,
		properties: runWithTenantProperties,
	};

	methods = {
		listSearch: { searchSubWorkflows, searchPlaceholderCredentials },
		credentialTest: { tenantSwapN8nApiTest },
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await executeRunWithTenantCredential.call(this);
	}
}
