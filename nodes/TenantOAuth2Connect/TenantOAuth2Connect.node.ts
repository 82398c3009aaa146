import {
	NodeConnectionTypes,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';

import { tenantSwapN8nApiTest } from '../shared/transport/credentialTest';
import { executeCreateConnectLink } from './actions/createLink';
import { executeDisconnect } from './actions/disconnect';
import { CREATE_CONNECT_LINK, DISCONNECT, tenantOAuth2ConnectProperties } from './description';

export class TenantOAuth2Connect implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Tenant OAuth2 Connect',
		name: 'tenantOAuth2Connect',
		icon: { light: 'file:tenantOAuth2Connect.svg', dark: 'file:tenantOAuth2Connect.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{ $parameter["operation"] === "disconnect" ? "disconnect " + $parameter["connection"] : "link for " + $parameter["connection"] }}',
		description: 'Makes one-time links for tenants to connect their own OAuth2 accounts, and disconnects them',
		defaults: { name: 'Tenant OAuth2 Connect' },
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: [
			{
				name: 'tenantSwapN8nApi',
				displayName: 'n8n API',
				required: true,
				testedBy: 'tenantSwapN8nApiTest',
				displayOptions: { show: { operation: [DISCONNECT] } },
			},
			{ name: 'postgres', displayName: 'Lock Database', required: true, displayOptions: { show: { lockBackend: ['postgres'] } } },
			{ name: 'redis', displayName: 'Lock Redis', required: true, displayOptions: { show: { lockBackend: ['redis'] } } },
		],
		usableAsTool: undefined,
		properties: tenantOAuth2ConnectProperties,
	};

	methods = {
		credentialTest: { tenantSwapN8nApiTest },
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const operation = this.getNodeParameter('operation', 0, CREATE_CONNECT_LINK);
		if (operation === DISCONNECT) return await executeDisconnect.call(this);
		return await executeCreateConnectLink.call(this);
	}
}
