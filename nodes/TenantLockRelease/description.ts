import type { INodeProperties } from 'n8n-workflow';

import { lockBackendProperty, lockTableOptions } from '../shared/lockParameters';

export const releaseProperties: INodeProperties[] = [
	{
		displayName:
			'Ends the critical section that Tenant Credential Swap opened: place it right after the last node that uses the base credential. Nodes after it run in parallel with other executions.',
		name: 'releaseNotice',
		type: 'notice',
		default: '',
	},
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		options: [
			{
				name: 'Release',
				value: 'release',
				description: 'Free locks, ending the critical section',
				action: 'Release locks',
			},
			{
				name: 'List Held Locks',
				value: 'list',
				description: 'One item per held lock: key, holder, since when, how many wait. To free a stuck one, follow with Release (The Lock on the Item).',
				action: 'List held locks',
			},
		],
		default: 'release',
	},
	lockBackendProperty,
	{
		displayName: 'Release',
		name: 'releaseMode',
		type: 'options',
		noDataExpression: true,
		displayOptions: { show: { operation: ['release'] } },
		options: [
			{
				name: 'Every Lock of This Execution',
				value: 'execution',
				description: 'Free all locks this execution took',
			},
			{
				name: 'The Lock on the Item',
				value: 'token',
				description: 'Free the lock whose key and token the item carries (from Tenant Credential Swap)',
			},
			{
				name: 'Locks of Another Execution',
				value: 'executionId',
				description: 'Free the locks of a failed execution, e.g. in an Error Trigger workflow',
			},
		],
		default: 'execution',
	},
	{
		displayName: 'Lock Key',
		name: 'lockKey',
		type: 'string',
		default: '={{ $json.tenantSwap.lockKey }}',
		required: true,
		displayOptions: { show: { operation: ['release'], releaseMode: ['token'] } },
		description: 'The key of the lock to free',
	},
	{
		displayName: 'Lock Token',
		name: 'token',
		type: 'string',
		default: '={{ $json.tenantSwap.token }}',
		typeOptions: { password: true },
		required: true,
		displayOptions: { show: { operation: ['release'], releaseMode: ['token'] } },
		description: 'Proof of ownership handed out by Tenant Credential Swap (or listed by List Held Locks)',
	},
	{
		displayName: 'Execution ID',
		name: 'executionId',
		type: 'string',
		default: '={{ $json.execution.id }}',
		required: true,
		displayOptions: { show: { operation: ['release'], releaseMode: ['executionId'] } },
		description: 'The execution whose locks to free. In an Error Trigger workflow: {{ $JSON.execution.ID }}.',
	},
	{
		displayName: 'Limit',
		name: 'limit',
		type: 'number',
		typeOptions: { minValue: 1 },
		default: 50,
		displayOptions: { show: { operation: ['list'] } },
		description: 'Max number of results to return',
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add option',
		default: {},
		options: [
			{
				displayName: 'Fail If Lock Was Lost',
				name: 'failIfLost',
				type: 'boolean',
				default: true,
				description:
					"Whether to fail when a lock this node frees was lost before it ran (its lease ran out, or the lock store lost it): the nodes in between may then have used another tenant's credential. Off: a warning in n8n's log, and the output lists the lost lock with when and why.",
			},
			...lockTableOptions,
		],
	},
];
