import type { INodeProperties } from 'n8n-workflow';

import { tenantRegistryLockBackendProperty, tenantRegistryTableOptions } from '../shared/lockParameters';
import { tenantDataNotice } from '../shared/tenantData/editorNotice';
import { DEFAULT_TENANTS_IN_PARALLEL, MAX_TENANTS_IN_PARALLEL } from './actions/request';

const TENANT_DATA = 'tenantData';
const CONNECTED_TENANT = 'connectedTenant';
/** Options about the tenant's data and the credentials made from it: hidden for a connected tenant. */
const FROM_DATA_ONLY = { show: { '/credentialSource': [TENANT_DATA] } };

const runSubWorkflowProperties: INodeProperties[] = [
	{
		displayName:
			'Runs the sub-workflow with the tenant\'s own credential. In the sub-workflow, start with "When Executed by Another Workflow" and select a placeholder credential (dummy values) in the nodes that call the tenant\'s service; pick it below as Placeholder Credential: only those nodes get the tenant\'s credential for each run, every other credential stays as it is. No shared credential changes, so tenants run in parallel.',
		name: 'patternNotice',
		type: 'notice',
		default: '',
	},
	{
		displayName: 'Sub-Workflow',
		name: 'subWorkflow',
		type: 'resourceLocator',
		default: { mode: 'list', value: '' },
		required: true,
		description:
			'The workflow holding the nodes that use the tenant\'s credential. Production executions run its published version (an unpublished one is refused), manual executions its draft. Its setting "This workflow can be called by" applies as for n8n\'s Execute Workflow node. The list shows the workflows of this workflow\'s project.',
		modes: [
			{
				displayName: 'From List',
				name: 'list',
				type: 'list',
				placeholder: 'Select a sub-workflow...',
				typeOptions: { searchListMethod: 'searchSubWorkflows', searchable: true },
			},
			{
				displayName: 'By ID',
				name: 'id',
				type: 'string',
				placeholder: 'e.g. 5tVf3bBnVKF6ybvp',
				validation: [
					{
						type: 'regex',
						properties: { regex: '^[A-Za-z0-9_-]+$', errorMessage: 'Not a valid workflow ID' },
					},
				],
			},
		],
	},
	{
		displayName: 'Placeholder Credential',
		name: 'placeholderCredential',
		type: 'resourceLocator',
		default: { mode: 'list', value: '' },
		noDataExpression: true,
		description:
			"The sub-workflow's credential that stands for the tenant's: only the nodes using it get the tenant's credential (of its type); every other credential of the sub-workflow stays as it is. Create one with dummy values; never a tenant's credential. Empty: the sub-workflow's only credential, if it uses exactly one.",
		modes: [
			{
				displayName: 'From List',
				name: 'list',
				type: 'list',
				placeholder: 'Select a credential of the sub-workflow...',
				typeOptions: { searchListMethod: 'searchPlaceholderCredentials', searchable: true },
			},
			{
				displayName: 'By ID',
				name: 'id',
				type: 'string',
				placeholder: 'e.g. 3DxNbWP9fcQN5Lr1',
				validation: [
					{
						type: 'regex',
						properties: { regex: '^[A-Za-z0-9_-]+$', errorMessage: 'Not a valid credential ID' },
					},
				],
			},
		],
	},
	{
		displayName: 'Credential Source',
		name: 'credentialSource',
		type: 'options',
		noDataExpression: true,
		options: [
			{
				name: 'Tenant Data in the Request',
				value: TENANT_DATA,
				description: "A credential made (once, then reused) from the tenant's fields mapped in Credential Data, deleted after Retention unused",
			},
			{
				name: 'Connected Tenant (Tenant OAuth2 Connect)',
				value: CONNECTED_TENANT,
				description: "The credential the tenant connected with Tenant OAuth2 Connect (their own OAuth2 account): nothing of it comes from the request, and this node never deletes it",
			},
		],
		default: TENANT_DATA,
	},
	{
		displayName:
			'Runs the sub-workflow with the credential the tenant connected through Tenant OAuth2 Connect (same Connection, Lock Backend and lock table). The Tenant ID alone picks the account: it must come from your own authenticated trigger, never from a caller who can choose it. A tenant not connected fails its item (route the error output to sending a connect link). This node never deletes a connected credential: Disconnect is Tenant OAuth2 Connect\'s, and Offboard Tenant does not touch it.',
		name: 'connectedTenantNotice',
		type: 'notice',
		default: '',
		displayOptions: { show: { credentialSource: [CONNECTED_TENANT] } },
	},
	{
		displayName: 'Connection',
		name: 'connection',
		type: 'string',
		default: '',
		required: true,
		noDataExpression: true,
		placeholder: 'e.g. hubspot',
		description:
			'The name of the connection, the same as on Tenant OAuth2 Connect and its trigger: 1 to 64 letters, digits, _ . or -. The connection\'s credential must be of the placeholder\'s type (e.g. OAuth2 API).',
		hint: "Map Tenant ID only from your own authenticated trigger: a caller who can choose any Tenant ID runs the sub-workflow with that tenant's connected account.",
		displayOptions: { show: { credentialSource: [CONNECTED_TENANT] } },
	},
	{
		displayName: 'Tenant ID',
		name: 'tenantId',
		type: 'string',
		default: '',
		required: true,
		placeholder: 'e.g. {{ $json.body.tenantId }}',
		description:
			"Who the data belongs to: at most 200 characters, no control or invisible characters. Its first 40 characters are shown in the tenant credential's name (other than letters, digits and . _ @ - as _).",
	},
	{ ...tenantDataNotice, displayOptions: { show: { credentialSource: [TENANT_DATA] } } },
	{
		displayName: 'Credential Data',
		name: 'credentialData',
		type: 'json',
		displayOptions: { show: { credentialSource: [TENANT_DATA] } },
		// Empty: nothing is created until the tenant's fields are mapped here.
		default: '',
		required: true,
		placeholder: '{{ $json.body.credentials }}',
		description:
			"The tenant's credential fields as a JSON object, usually an expression on the webhook body, with the field names of the credential type (e.g. name and value for Header Auth). All the fields the credential needs; a needed field left empty is refused.",
	},
	tenantRegistryLockBackendProperty,
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
				displayOptions: FROM_DATA_ONLY,
				type: 'string',
				default: '',
				placeholder: 'e.g. name,value',
				description:
					'Comma-separated fields the incoming data may set; any other is refused before anything is created. Empty: any field of the type except those saying where n8n connects (URL, host, port, domains, OAuth endpoints); a type that is not built into n8n needs this list.',
			},
			{
				displayName: 'Credential Type',
				name: 'credentialType',
				type: 'string',
				default: '',
				placeholder: 'e.g. httpHeaderAuth',
				description:
					"Only when Placeholder Credential is empty: the sub-workflow's one credential of this type is the placeholder. Set: must be the placeholder's type.",
			},
			{
				displayName: 'Fields Allowed Empty',
				name: 'allowEmptyFields',
				displayOptions: FROM_DATA_ONLY,
				type: 'string',
				default: '',
				placeholder: 'e.g. organizationId',
				description: 'Comma-separated fields the data may leave out or set to an empty value; * for any',
			},
			{
				displayName: 'Max Credentials per Tenant',
				name: 'maxCredentialsPerTenant',
				displayOptions: FROM_DATA_ONLY,
				type: 'number',
				typeOptions: { minValue: 1, numberPrecision: 0 },
				default: 5,
				description:
					"How many credentials one tenant may have at once (one per credential data, e.g. per rotated key; unused ones are deleted after Retention). A new one past it is refused and nothing is created.",
			},
			{
				displayName: 'Max Tenant Credentials',
				name: 'maxTenantCredentials',
				displayOptions: FROM_DATA_ONLY,
				type: 'number',
				typeOptions: { minValue: 1, numberPrecision: 0 },
				default: 5000,
				description:
					'How many tenant credentials this lock store may hold for this n8n, all tenants together. A new one past it is refused and nothing is created, so unauthenticated callers cannot fill n8n with credentials.',
			},
			{
				displayName: 'Output',
				name: 'output',
				type: 'options',
				options: [
					{ name: "Sub-Workflow's Output", value: 'subWorkflow', description: 'The items the last node of the sub-workflow returns' },
					{ name: 'Input Items', value: 'input', description: 'The items this node received, unchanged' },
				],
				default: 'subWorkflow',
			},
			{
				displayName: 'Pass Secrets to Sub-Workflow',
				name: 'passSecretsToSubWorkflow',
				displayOptions: FROM_DATA_ONLY,
				type: 'boolean',
				default: false,
				description:
					"Whether the items passed into the sub-workflow keep the tenant's secret values (the credential type's password fields; every value for types this package does not know). Off: they are replaced by a marker, so n8n's record of a failed sub-execution holds no secret (in the JSON; binary data passes as is). The nodes using the tenant's credential get it from the credential either way.",
			},
			{
				displayName: 'Retention (Hours)',
				name: 'retention',
				displayOptions: FROM_DATA_ONLY,
				type: 'number',
				// No numberPrecision: n8n's editor would show 168 as "168.000"; fractions of an hour still work.
				typeOptions: { minValue: 0.001 },
				default: 168,
				description:
					"How long a tenant credential is kept after its last use. Then it is deleted in the background (never while an execution uses it); the tenant's next call creates it again (and fetches a new OAuth2 token).",
			},
			{
				displayName: 'Save Successful Sub-Executions',
				name: 'saveSuccessfulSubExecutions',
				type: 'boolean',
				default: false,
				description:
					"Whether to keep n8n's record of each sub-execution that succeeded. On: this node's output links it (View sub-execution). Off: successful ones are not saved and not linked (their output is in this execution anyway), which saves n8n one execution record per call (measured: a few ms per call under load). Failed ones are saved as the sub-workflow's settings say. n8n lists these sub-executions under the calling workflow, not the sub-workflow.",
			},
			{
				displayName: 'Tenants in Parallel',
				name: 'tenantsInParallel',
				type: 'number',
				typeOptions: { minValue: 1, maxValue: MAX_TENANTS_IN_PARALLEL, numberPrecision: 0 },
				default: DEFAULT_TENANTS_IN_PARALLEL,
				description:
					"How many tenants' sub-executions of one execution of this node run at the same time (items of one tenant run as one sub-execution). The output keeps the order of the input items. 1: one after another.",
			},
			{
				displayName: 'Test Credential',
				name: 'testCredential',
				displayOptions: FROM_DATA_ONLY,
				type: 'boolean',
				default: false,
				description: "Whether to run n8n's credential test when a tenant's credential is created (n8n 2.20+); a failing test deletes it again",
			},
			{
				displayName: 'Wait Timeout (Seconds)',
				name: 'waitTimeout',
				displayOptions: FROM_DATA_ONLY,
				type: 'number',
				typeOptions: { minValue: 0 },
				default: 60,
				description: "How long to wait while another execution creates the same tenant's credential",
			},
			...tenantRegistryTableOptions,
		],
	},
];

// Operations (issue 18, offboarding). Kept in one block: the properties above are the operation Run
// Sub-Workflow's (Tenant ID and Lock Backend are shared); they are shown for it without editing each.
const RUN = 'runSubWorkflow';
const OFFBOARD = 'offboardTenant';
const SHARED = new Set(['tenantId', 'lockBackend']);

const operationProperty: INodeProperties = {
	displayName: 'Operation',
	name: 'operation',
	type: 'options',
	noDataExpression: true,
	options: [
		{
			name: 'Offboard Tenant',
			value: OFFBOARD,
			action: 'Offboard a tenant',
			description: "Deletes every credential this node made for the tenant now, in use or not (e.g. after a leaked secret); the tenant's next run creates a new one",
		},
		{
			name: 'Run Sub-Workflow',
			value: RUN,
			action: 'Run a sub workflow',
			description: "Runs the sub-workflow with the tenant's own credential",
		},
	],
	default: RUN,
};

const offboardProperties: INodeProperties[] = [
	{
		displayName:
			'Deletes every credential this node made for the tenant (named "tenant-cred ... <tenant> ..."), whatever their state: executions of that tenant running now may fail; other tenants are not touched. Use the same n8n API credential, Lock Backend and lock table as the node that runs the sub-workflow. Outputs how many were found, deleted and already gone; a second run finds none. A credential that a workflow references is deleted too, and the output names those workflows. Credentials tenants connected with Tenant OAuth2 Connect are not touched (the tenant\'s only copy of their consent): disconnect them with Tenant OAuth2 Connect → Disconnect.',
		name: 'offboardNotice',
		type: 'notice',
		default: '',
		displayOptions: { show: { operation: [OFFBOARD] } },
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add option',
		default: {},
		displayOptions: { show: { operation: [OFFBOARD] } },
		options: [
			{
				displayName: 'Wait Timeout (Seconds)',
				name: 'waitTimeout',
				type: 'number',
				typeOptions: { minValue: 0 },
				default: 60,
				description: "How long to wait while other executions create tenant credentials (offboarding waits for them, so it misses none)",
			},
			...tenantRegistryTableOptions,
		],
	},
];

const forRun = (property: INodeProperties): INodeProperties =>
	SHARED.has(property.name) ? property : { ...property, displayOptions: { ...property.displayOptions, show: { ...property.displayOptions?.show, operation: [RUN] } } };

export const runWithTenantProperties: INodeProperties[] = [operationProperty, ...runSubWorkflowProperties.map(forRun), ...offboardProperties];
