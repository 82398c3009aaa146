import type { INodeProperties } from 'n8n-workflow';

import { lockBackendProperty, lockTableOptions } from '../shared/lockParameters';

export const DEFAULT_CONNECT_PATH = 'tenant-connect';
export const DEFAULT_AUTHORIZATION_MINUTES = 10;
export const MAX_AUTHORIZATION_MINUTES = 60;

export const connectTriggerProperties: INodeProperties[] = [
	{
		displayName:
			'Tenants connect their own account here. Send a tenant the link made by "Tenant OAuth2 Connect" (Create Connect Link): it opens &lt;path&gt;/start, which sends the browser to the provider; the provider comes back to &lt;path&gt;/callback, which the app must have as its redirect URL. This node answers the browser itself and runs the workflow once a tenant is connected.',
		name: 'flowNotice',
		type: 'notice',
		default: '',
	},
	{
		displayName: 'Path',
		name: 'path',
		type: 'string',
		default: DEFAULT_CONNECT_PATH,
		required: true,
		placeholder: DEFAULT_CONNECT_PATH,
		description:
			"The webhooks' path: the start URL is &lt;webhook URL&gt;/&lt;path&gt;/start (give it to Tenant OAuth2 Connect as Connect Start URL), the redirect URL to register with the provider is &lt;webhook URL&gt;/&lt;path&gt;/callback",
	},
	{
		displayName: 'Connection',
		name: 'connection',
		type: 'string',
		default: '',
		required: true,
		placeholder: 'e.g. hubspot',
		description:
			'Name of this connection (1-64 letters, digits, "_", "." or "-"). Use the same on Tenant OAuth2 Connect and Run With Tenant Credential: links and connections are bound to it.',
	},
	{
		...lockBackendProperty,
		description:
			'Where connect links, sign-ins in progress and the tenants\' connections are kept. Use the same backend and database as Tenant OAuth2 Connect and Run With Tenant Credential.',
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add option',
		default: {},
		options: [
			{
				displayName: 'Emit Refusals',
				name: 'emitRefusals',
				type: 'boolean',
				default: false,
				description: 'Whether to run the workflow for refused attempts too (status "refused" and the reason), not only for connected tenants',
			},
			{
				displayName: 'Sign-In Timeout (Minutes)',
				name: 'authorizationMinutes',
				type: 'number',
				typeOptions: { minValue: 1, maxValue: MAX_AUTHORIZATION_MINUTES },
				default: DEFAULT_AUTHORIZATION_MINUTES,
				description: 'How long a tenant has at the provider between opening the link and coming back',
			},
			...lockTableOptions,
		],
	},
];
