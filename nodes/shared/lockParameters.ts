import type { ICredentialDataDecryptedObject, IExecuteFunctions, INodeProperties, IWebhookFunctions } from 'n8n-workflow';

import {
	DEFAULT_LOCK_SCHEMA,
	DEFAULT_LOCK_TABLE,
	memoryLockEngine,
	postgresLockEngine,
	redisLockEngine,
	type LockBackend,
	type LockStore,
	type PostgresConnectionSettings,
	validateIdentifier,
} from './lock';
import { toNodeError } from './nodeErrors';
import { SwapItemError } from './swap/errors';

export const lockBackendProperty: INodeProperties = {
	displayName: 'Lock Backend',
	name: 'lockBackend',
	type: 'options',
	noDataExpression: true,
	options: [
		{
			name: 'PostgreSQL',
			value: 'postgres',
			description: 'A lock table every n8n process (main, workers) can see. Use this in queue mode.',
		},
		{
			name: 'Redis',
			value: 'redis',
			description: "The Redis every n8n process can see (queue mode's Redis works). A single Redis, not a cluster.",
		},
		{
			name: 'In-Memory (Single Process Only)',
			value: 'memory',
			description: 'Only for one n8n process without queue mode; locks vanish on restart',
		},
	],
	default: 'postgres',
	description: 'Where the lock lives. Tenant Credential Swap and Release Lock must use the same backend and database.',
};

export const lockTableOptions: INodeProperties[] = [
	{
		displayName: 'Lock Table Schema',
		name: 'lockSchema',
		type: 'string',
		default: DEFAULT_LOCK_SCHEMA,
		description: 'Schema of the lock table in the lock database. Created on first use if missing.',
	},
	{
		displayName: 'Lock Table Name',
		name: 'lockTable',
		type: 'string',
		default: DEFAULT_LOCK_TABLE,
		description: 'Table that holds the locks. Created on first use. Both nodes must use the same one.',
	},
];

/**
 * Run With Tenant Credential's own words for the same parameters: it holds no lock across nodes, so
 * the swap's "both nodes must use the same backend" would not tell a user why it needs a database.
 */
export const tenantRegistryLockBackendProperty: INodeProperties = {
	...lockBackendProperty,
	description:
		"Where this node keeps its registry of tenant credentials (which exist, which are in use, when each was last used, so unused ones are deleted after Retention) and the lock that lets one execution at a time create a tenant's credential. Every n8n process (main, workers) must reach it. Give every Run With Tenant Credential node of this n8n the same one: another keeps its own registry and creates its own credentials.",
};

export const tenantRegistryTableOptions: INodeProperties[] = [
	lockTableOptions[0],
	{
		...lockTableOptions[1],
		description:
			'Table that holds the locks; the registry of tenant credentials is kept in a table next to it. Created on first use. Every Run With Tenant Credential node of this n8n should use the same one.',
	},
];

/** A node run (item parameters) or a webhook call (node parameters: no items yet). */
type LockParameterContext = IExecuteFunctions | IWebhookFunctions;

function parameterOf(context: LockParameterContext, name: string, itemIndex: number, fallback: unknown): unknown {
	if ('getWebhookName' in context) return context.getNodeParameter(name, fallback);
	return context.getNodeParameter(name, itemIndex, fallback);
}

/** The process-wide engine for the node's backend and lock database. */
export async function lockEngineFor(context: LockParameterContext, itemIndex = 0): Promise<LockStore> {
	const backend = parameterOf(context, 'lockBackend', itemIndex, 'postgres') as LockBackend;
	if (backend === 'memory') return memoryLockEngine();
	if (backend === 'redis') {
		const redis = await context.getCredentials<ICredentialDataDecryptedObject>('redis', itemIndex);
		return redisLockEngine({
			host: String(redis.host ?? 'localhost'),
			port: Number(redis.port ?? 6379),
			user: redis.user ? String(redis.user) : undefined,
			password: redis.password ? String(redis.password) : undefined,
			database: Number(redis.database ?? 0),
			ssl: redis.ssl === true,
			disableTlsVerification: redis.disableTlsVerification === true,
		});
	}
	const schema = lockIdentifier(context, itemIndex, 'options.lockSchema', 'schema', DEFAULT_LOCK_SCHEMA);
	const table = lockIdentifier(context, itemIndex, 'options.lockTable', 'table', DEFAULT_LOCK_TABLE);
	const credentials = await context.getCredentials<ICredentialDataDecryptedObject>('postgres', itemIndex);
	return postgresLockEngine(postgresSettings(credentials), { schema, table });
}

/** A lock schema or table name from the options, checked here so the error names the parameter. */
function lockIdentifier(
	context: LockParameterContext,
	itemIndex: number,
	parameter: 'options.lockSchema' | 'options.lockTable',
	kind: 'schema' | 'table',
	fallback: string,
): string | undefined {
	const value = String(parameterOf(context, parameter, itemIndex, fallback) ?? '').trim();
	if (!value) return undefined;
	try {
		return validateIdentifier(kind, value);
	} catch (error) {
		const problem = new SwapItemError((error as Error).message, [itemIndex], {
			parameter,
			description: `Both nodes must name the same lock ${kind}; leave it empty for "${fallback}".`,
		});
		throw toNodeError(context, problem, itemIndex);
	}
}

export function postgresSettings(credentials: ICredentialDataDecryptedObject): PostgresConnectionSettings {
	return {
		host: String(credentials.host ?? 'localhost'),
		port: Number(credentials.port ?? 5432),
		database: String(credentials.database ?? 'postgres'),
		user: String(credentials.user ?? 'postgres'),
		password: credentials.password === undefined ? undefined : String(credentials.password),
		ssl: credentials.ssl === undefined ? undefined : String(credentials.ssl),
		allowUnauthorizedCerts: credentials.allowUnauthorizedCerts === true,
		maxConnections: credentials.maxConnections === undefined ? undefined : Number(credentials.maxConnections),
		sshTunnel: credentials.sshTunnel === true,
	};
}
