import type {
	IAuthenticateGeneric,
	ICredentialType,
	INodeProperties,
} from 'n8n-workflow';

import { API_SCOPES_TEXT } from '../nodes/shared/transport/apiScopes';

export class TenantSwapN8nApi implements ICredentialType {
	name = 'tenantSwapN8nApi';

	// The editor names a new credential after this minus the word "API": "Tenant Swap n8n account".
	displayName = 'Tenant Swap n8n API';

	documentationUrl = 'https://www.npmjs.com/package/n8n-nodes-tenant-credential-swap#install';

	icon = 'file:tenantSwap.svg' as const;

	properties: INodeProperties[] = [
		{
			displayName: 'Base URL',
			name: 'baseUrl',
			type: 'string',
			default: 'http://localhost:5678/api/v1',
			placeholder: 'http://localhost:5678/api/v1',
			description:
				"This n8n's public API as n8n itself reaches it, ending in /api/v1: usually http://localhost:<port>/api/v1, where <port> is N8N_PORT (5678 unless changed; the port in your editor's address when you open n8n directly). Behind a proxy, n8n's own address (its WEBHOOK_URL or N8N_EDITOR_BASE_URL) plus api/v1 also works.",
		},
		{
			displayName: 'API Key',
			name: 'apiKey',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			description: `An n8n API key (Settings > n8n API) with the scopes ${API_SCOPES_TEXT}. Test checks each.`,
		},
		{
			displayName: 'Ignore SSL Issues (Insecure)',
			name: 'allowUnauthorizedCerts',
			type: 'boolean',
			default: false,
			description: 'Whether to connect even if SSL certificate validation is not possible',
		},
	];

	authenticate: IAuthenticateGeneric = {
		type: 'generic',
		properties: {
			headers: {
				'X-N8N-API-KEY': '={{$credentials.apiKey}}',
			},
		},
	};
}
