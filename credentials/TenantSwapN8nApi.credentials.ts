import type {
	IAuthenticateGeneric,
	ICredentialType,
	INodeProperties,
} from 'n8n-workflow';

export class TenantSwapN8nApi implements ICredentialType {
	name = 'tenantSwapN8nApi';

	displayName = 'n8n API (Tenant Swap)';

	documentationUrl = 'https://docs.n8n.io/api/authentication/';

	icon = 'file:tenantSwap.svg' as const;

	properties: INodeProperties[] = [
		{
			displayName: 'Base URL',
			name: 'baseUrl',
			type: 'string',
			default: 'http://localhost:5678/api/v1',
			placeholder: 'http://localhost:5678/api/v1',
			description:
				"URL of this n8n instance's public API, ending in /api/v1. Use the address n8n can reach itself on.",
		},
		{
			displayName: 'API Key',
			name: 'apiKey',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			description:
				'An n8n API key (Settings > n8n API) with the scopes credential:list, credential:create, credential:update and credential:delete',
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
