import type { INodeProperties } from 'n8n-workflow';

import { lockBackendProperty, lockTableOptions } from '../shared/lockParameters';
import { DEFAULT_LINK_EXPIRY_MINUTES, MAX_LINK_EXPIRY_MINUTES } from './actions/parameters';

export const CREATE_CONNECT_LINK = 'createConnectLink';
export const DISCONNECT = 'disconnect';

const operationProperty: INodeProperties = {
	displayName: 'Operation',
	name: 'operation',
	type: 'options',
	noDataExpression: true,
	options: [
		{
			name: 'Create Connect Link',
			value: CREATE_CONNECT_LINK,
			action: 'Create a connect link',
			description: 'Makes a one-time link the tenant opens to connect their own account',
		},
		{
			name: 'Disconnect',
			value: DISCONNECT,
			action: 'Disconnect a tenant',
			description: "Forgets the tenant's connection and deletes the tenant's n8n credential",
		},
	],
	default: CREATE_CONNECT_LINK,
};

const forOperation = (operation: string) => ({ show: { operation: [operation] } });

export const tenantOAuth2ConnectProperties: INodeProperties[] = [
	operationProperty,
	{
		displayName:
			"Put this node behind your backend's authenticated webhook: the Tenant ID must come from your backend, never from the tenant's browser. The output's Connect URL holds a one-time link token: whoever opens it first connects their account to this tenant. Send it only to that tenant (e.g. your app redirects them) and do not log it. n8n keeps it in the execution's saved data until it expires: turn off saving successful production executions for this workflow if others can read them.",
		name: 'createLinkNotice',
		type: 'notice',
		default: '',
		displayOptions: forOperation(CREATE_CONNECT_LINK),
	},
	{
		displayName:
			"Deletes the tenant's n8n credential (its tokens with it) and forgets the connection; running it again outputs Disconnected false. It does not revoke the grant at the provider: n8n gives no API key a credential's tokens and this package keeps no copy, so revoke it in the provider's console (or the tenant removes the app in their account).",
		name: 'disconnectNotice',
		type: 'notice',
		default: '',
		displayOptions: forOperation(DISCONNECT),
	},
	{
		displayName: 'Connection',
		name: 'connection',
		type: 'string',
		default: '',
		required: true,
		placeholder: 'e.g. hubspot',
		description:
			'Name of the app the tenant connects to: 1 to 64 letters, digits, _ . or -. Use the same name in the Tenant OAuth2 Connect Trigger and in Run With Tenant Credential.',
	},
	{
		displayName: 'Tenant ID',
		name: 'tenantId',
		type: 'string',
		default: '',
		required: true,
		placeholder: 'e.g. {{ $json.body.tenantId }}',
		description: "Whose connection it is, from your backend's request: at most 200 characters, no control or invisible characters",
	},
	{
		displayName: 'Connect Start URL',
		name: 'connectStartUrl',
		type: 'string',
		default: '',
		required: true,
		placeholder: 'e.g. https://n8n.example.com/webhook/tenant-connect/start',
		description:
			"The Tenant OAuth2 Connect Trigger's production start URL (http or https, no query). The link is this URL with the link token added.",
		displayOptions: forOperation(CREATE_CONNECT_LINK),
	},
	{
		displayName: 'Link Expiry (Minutes)',
		name: 'linkExpiry',
		type: 'number',
		typeOptions: { minValue: 1, maxValue: MAX_LINK_EXPIRY_MINUTES },
		default: DEFAULT_LINK_EXPIRY_MINUTES,
		description: `How long the link can be opened, 1 to ${MAX_LINK_EXPIRY_MINUTES} minutes. It works once.`,
		displayOptions: forOperation(CREATE_CONNECT_LINK),
	},
	{
		...lockBackendProperty,
		description:
			"Where the connect links and the tenants' connections are kept. Every n8n process (main, workers) must reach it. Use the same one as the Tenant OAuth2 Connect Trigger and Run With Tenant Credential.",
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add option',
		default: {},
		options: lockTableOptions.map((option) => ({
			...option,
			description:
				option.name === 'lockSchema'
					? 'Schema of the lock table in the lock database (the connect tables are made next to it). Created on first use if missing.'
					: 'Table that holds the locks; the connect tables are named after it. Created on first use. Use the same as the Tenant OAuth2 Connect Trigger.',
		})),
	},
];
