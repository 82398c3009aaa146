import {
	NodeConnectionTypes,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';

import { lockDatabaseCredential } from '../shared/lockParameters';
import { N8N_API_CREDENTIAL_TYPE } from '../shared/transport/publicApiTransport';
import { executeSwap } from './actions/swap';
import { swapProperties } from './description';
import { tenantSwapN8nApiTest } from './methods/credentialTest';
import { searchCredentials } from './methods/listSearch';

export class TenantCredentialSwap implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Tenant Credential Swap',
		name: 'tenantCredentialSwap',
		icon: 'file:tenantSwap.svg',
		group: ['transform'],
		version: 1,
		subtitle: '={{ "lock: " + ($parameter["options"]["lockScope"] || "baseCredential") + " · " + ($parameter["baseCredential"]["cachedResultName"] || $parameter["baseCredential"]["value"] || "") }}',
		description: "Puts a tenant's secret into a base credential for this execution, under a lock",
		defaults: { name: 'Tenant Credential Swap' },
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: [
			{ name: N8N_API_CREDENTIAL_TYPE, required: true, testedBy: 'tenantSwapN8nApiTest' },
			lockDatabaseCredential,
		],
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
