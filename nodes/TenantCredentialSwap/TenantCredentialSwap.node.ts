import {
	NodeConnectionTypes,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';

import { tenantSwapN8nApiTest } from '../shared/transport/credentialTest';
import { executeSwap } from './actions/swap';
import { swapProperties } from './description';
import { searchCredentials } from './methods/listSearch';

export class TenantCredentialSwap implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Tenant Credential Swap',
		name: 'tenantCredentialSwap',
		icon: { light: 'file:tenantSwap.svg', dark: 'file:tenantSwap.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{ $parameter["options"]["lockScope"] === "tenant" ? "lock per tenant" : "lock per base credential" }}',
		description: "Puts a tenant's secret into a base credential for this execution, under a lock",
		defaults: { name: 'Tenant Credential Swap' },
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: [
			{ name: 'tenantSwapN8nApi', displayName: 'n8n API', required: true, testedBy: 'tenantSwapN8nApiTest' },
			{ name: 'postgres', displayName: 'Lock Database', required: true, displayOptions: { show: { lockBackend: ['postgres'] } } },
			{ name: 'redis', displayName: 'Lock Redis', required: true, displayOptions: { show: { lockBackend: ['redis'] } } },
		],
		// Holding a lock across nodes makes no sense for an AI agent's tool call.
		usableAsTool: undefined,
		properties: swapProperties,
	};

	methods = {
		listSearch: { searchCredentials },
		credentialTest: { tenantSwapN8nApiTest },
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await executeSwap.call(this);
	}
}
