import type { INodeProperties } from 'n8n-workflow';

import { lockBackendProperty, lockTableOptions } from '../shared/lockParameters';
import { tenantDataNotice } from '../shared/tenantData/editorNotice';

export const swapProperties: INodeProperties[] = [
	{
		displayName:
			'Holds a lock on the base credential from here until a <b>Release Lock</b> node. Put Release Lock after the last node that uses the base credential, and on every path (including an Error Trigger workflow), or other executions wait until the lock TTL runs out.',
		name: 'releaseNotice',
		type: 'notice',
		default: '',
	},
	{
		displayName: 'Base Credential',
		name: 'baseCredential',
		type: 'resourceLocator',
		default: { mode: 'list', value: '' },
		required: true,
		description: "The credential your other nodes use. It receives the tenant's data for this execution.",
		modes: [
			{
				displayName: 'From List',
				name: 'list',
				type: 'list',
				placeholder: 'Select a credential...',
				typeOptions: { searchListMethod: 'searchCredentials', searchable: true },
			},
			{
				displayName: 'By ID',
				name: 'id',
				type: 'string',
				placeholder: 'e.g. 7vXKyVRoWZqjO8Ff',
				validation: [
					{
						type: 'regex',
						properties: { regex: '^[A-Za-z0-9_-]+$', errorMessage: 'Not a valid credential ID' },
					},
				],
			},
			{
				displayName: 'By Name',
				name: 'name',
				type: 'string',
				placeholder: 'e.g. Tenant API (base)',
			},
		],
	},
	{
		displayName: 'Tenant ID',
		name: 'tenantId',
		type: 'string',
		default: '',
		required: true,
		placeholder: 'e.g. {{ $json.body.tenantId }}',
		description: 'Who this data belongs to. Recorded with the lock; with Lock Scope Tenant it also has a lock of its own.',
	},
	tenantDataNotice,
	{
		displayName: 'Credential Data',
		name: 'credentialData',
		type: 'json',
		// Empty: a new node changes nothing until the tenant's fields are mapped here (the swap refuses empty data).
		default: '',
		required: true,
		placeholder: '{{ $json.body.credentials }}',
		description:
			"The tenant's credential fields as a JSON object, usually an expression on the webhook body. Field names are those of the base credential's type (e.g. name and value for Header Auth). Without Partial Update it replaces every field, so give all the fields the credential needs; a needed field left empty is refused.",
	},
	lockBackendProperty,
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add option',
		default: {},
		options: [
			{
				displayName: 'Allowed Fields',
				name: 'allowedFields',
				type: 'string',
				default: '',
				placeholder: 'e.g. value',
				description:
					'Comma-separated fields the incoming data may set; any other is refused before anything changes. Empty: any field of the type except those saying where n8n connects (URL, host, port, domains, OAuth endpoints); a type that is not built into n8n needs this list.',
			},
			{
				displayName: 'Credential Type',
				name: 'credentialType',
				type: 'string',
				default: '',
				placeholder: 'e.g. httpHeaderAuth',
				description: 'If set, refuse to run unless the base credential is of this type',
			},
			{
				displayName: 'Fields Allowed Empty',
				name: 'allowEmptyFields',
				type: 'string',
				default: '',
				placeholder: 'e.g. organizationId',
				description:
					'Comma-separated fields the data may leave out or set to an empty value; * for any. By default the swap refuses data that would leave the base credential unusable: a field the credential needs set empty or (without Partial Update) left out.',
			},
			{
				displayName: 'Lock Scope',
				name: 'lockScope',
				type: 'options',
				options: [
					{
						name: 'Base Credential',
						value: 'baseCredential',
						description: 'One execution at a time per base credential. Safe whenever tenants share one.',
					},
					{
						name: 'Tenant',
						value: 'tenant',
						description:
							"The base credential's lock, and also one execution at a time per tenant (a second lock, e.g. for a tenant API that must not see two runs at once). Never less exclusion than Base Credential.",
					},
				],
				default: 'baseCredential',
			},
			{
				displayName: 'Lock TTL (Seconds)',
				name: 'lockTtl',
				type: 'number',
				typeOptions: { minValue: 1 },
				default: 30,
				description:
					'How long the lock outlives an n8n process that died holding it. With Renew Lock While Running off, also the longest the lock lasts: then make it longer than the slowest run from here to Release Lock.',
			},
			{
				displayName: 'Partial Update',
				name: 'partialUpdate',
				type: 'boolean',
				default: false,
				description:
					"Whether to merge the data into the base credential instead of replacing all of its fields. Only for n8n's built-in types known to store no fetched token: refused for OAuth1/OAuth2 types, types with a session token or hidden fields, and types this package does not know (n8n would keep the previous tenant's token).",
			},
			{
				displayName: 'Renew Lock While Running',
				name: 'renewLock',
				type: 'boolean',
				default: true,
				description:
					'Whether to renew the lock while this execution runs, however long its nodes take, and free it within seconds when the execution ends without reaching Release Lock (error, cancel). Asks n8n through the API, so the API key needs the execution:read scope.',
			},
			{
				displayName: 'Skip Unchanged Data',
				name: 'skipUnchanged',
				type: 'boolean',
				default: true,
				description:
					'Whether to skip the update (and the temporary credential) when the base credential still holds exactly this data from an earlier swap and nobody has edited it since. The lock store keeps a keyed hash of what was written, never the data.',
			},
			{
				displayName: 'Test Credential',
				name: 'testCredential',
				type: 'boolean',
				default: false,
				description:
					"Whether to run n8n's credential test on a temporary credential with the data before the swap (n8n 2.20+). Types without a test pass.",
			},
			{
				displayName: 'Validate With Temporary Credential',
				name: 'validateWithTemporaryCredential',
				type: 'boolean',
				default: false,
				description:
					"Whether to let n8n check the data by creating a temporary credential first (always deleted again) before touching the base credential. The swap checks the data against the type's schema anyway; this adds n8n's own check at about two API calls per new tenant data. Implied by Test Credential.",
			},
			{
				displayName: 'Wait Timeout (Seconds)',
				name: 'waitTimeout',
				type: 'number',
				typeOptions: { minValue: 0 },
				default: 60,
				description: 'How long to wait for another execution to release the lock before failing',
			},
			...lockTableOptions,
		],
	},
];
