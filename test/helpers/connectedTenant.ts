/**
 * Run With Tenant Credential's Connected Tenant source without n8n: a fake public API (the sub-workflow,
 * the calling workflow, credential lookups), scripted sub-executions that record which credential the
 * placeholder was bound to, connections saved in the memory connect store, and a run of the node.
 */
import type { IHttpRequestOptions } from 'n8n-workflow';

import { RunWithTenantCredential } from '../../nodes/RunWithTenantCredential/RunWithTenantCredential.node';
import { memoryLockEngine } from '../../nodes/shared/lock';
import { connectStoreFor } from '../../nodes/shared/tenantOAuth/connectStore';
import type { TenantConnection } from '../../nodes/shared/tenantOAuth/types';
import { executeContext, type ContextSpec } from './executeContext';

const runNode = new RunWithTenantCredential();
/** The connect store the node finds with Lock Backend "In-Memory". */
export const connections = connectStoreFor(memoryLockEngine());

let counter = 0;
export const unique = (prefix: string) => `${prefix}-${process.pid}-${++counter}`;

/** The fake n8n's API Base URL: the registry's scope. */
export const FAKE_API_URL = 'http://fake-n8n.invalid/api/v1';
export const PLACEHOLDER_ID = 'placeholderOauth';
export const LOGGING_ID = 'loggingHeader';

/** A sub-workflow: trigger, an HTTP Request on the OAuth2 placeholder, and one on a logging credential that must stay. */
export function subWorkflow(id: string, placeholderType = 'oAuth2Api') {
	const nodes = [
		{ name: 'Start', type: 'n8n-nodes-base.executeWorkflowTrigger', typeVersion: 1.1, parameters: { inputSource: 'passthrough' } },
		{
			name: 'Call Tenant API',
			type: 'n8n-nodes-base.httpRequest',
			typeVersion: 4.2,
			parameters: { authentication: 'genericCredentialType', genericAuthType: placeholderType, url: 'http://127.0.0.1:9/api' },
			credentials: { [placeholderType]: { id: PLACEHOLDER_ID, name: 'Tenant API (placeholder)' } },
		},
		{
			name: 'Log',
			type: 'n8n-nodes-base.httpRequest',
			typeVersion: 4.2,
			parameters: { authentication: 'genericCredentialType', genericAuthType: 'httpHeaderAuth', url: 'http://127.0.0.1:9/log' },
			credentials: { httpHeaderAuth: { id: LOGGING_ID, name: 'Logging' } },
		},
	];
	return {
		id,
		name: `Sub ${id}`,
		nodes,
		connections: {},
		settings: { callerPolicy: 'any' },
		activeVersion: { versionId: 'v1', nodes, connections: {} },
		shared: [{ role: 'workflow:owner', projectId: 'project-1' }],
	};
}

/** n8n's public API for the node: workflows by ID, credentials by ID (404 when not in `credentials`). */
export function fakeApi(o: { workflows: Array<ReturnType<typeof subWorkflow>>; credentials?: Set<string> }) {
	const requests: string[] = [];
	const send = async (options: IHttpRequestOptions) => {
		const path = new URL(options.url).pathname.replace(/^\/api\/v1/, '');
		const method = options.method ?? 'GET';
		requests.push(`${method} ${path}`);
		const workflow = /^\/workflows\/([^/]+)$/.exec(path);
		if (method === 'GET' && workflow) {
			if (workflow[1] === 'caller') return { statusCode: 200, body: { id: 'caller', name: 'Caller', nodes: [], connections: {}, shared: [{ role: 'workflow:owner', projectId: 'project-1' }] } };
			const found = o.workflows.find((candidate) => candidate.id === workflow[1]);
			return found ? { statusCode: 200, body: found } : { statusCode: 404, body: { message: 'Not Found' } };
		}
		const credential = /^\/credentials\/([^/]+)$/.exec(path);
		if (method === 'GET' && credential) {
			return o.credentials?.has(credential[1]) ? { statusCode: 200, body: { id: credential[1], name: 'x', type: 'oAuth2Api' } } : { statusCode: 404, body: { message: 'Not Found' } };
		}
		return { statusCode: 500, body: { message: `not faked: ${method} ${path}` } };
	};
	return { send, requests };
}

type Sub = Parameters<NonNullable<ContextSpec['executeWorkflow']>>;

/** Sub-executions that answer one item per input item, with the credential ID their "Call Tenant API" node was bound to. */
export function recordingSubExecutions(fail?: (boundTo: string) => Error | undefined) {
	const runs: Array<{ boundTo: string; logging: string; tenants: string[] }> = [];
	const executeWorkflow = async (info: Sub[0], items: Sub[1]) => {
		const nodes = (info as { code: { nodes: Array<{ name: string; credentials?: Record<string, { id: string }> }> } }).code.nodes;
		const call = nodes.find((node) => node.name === 'Call Tenant API')!;
		const boundTo = Object.values(call.credentials ?? {})[0].id;
		const logging = nodes.find((node) => node.name === 'Log')!.credentials!.httpHeaderAuth.id;
		runs.push({ boundTo, logging, tenants: items.map((item) => String(item.json.tenant)) });
		const failure = fail?.(boundTo);
		if (failure) throw failure;
		return { executionId: unique('sub'), data: [items.map((item) => ({ json: { tenant: item.json.tenant, boundTo } }))] };
	};
	return { executeWorkflow, runs };
}

export async function connect(tenantId: string, appId: string, credentialId: string, credentialType = 'oAuth2Api'): Promise<TenantConnection> {
	const connection = { tenantId, appId, credentialId, credentialType, connectedAt: new Date() };
	await connections.saveConnection(connection);
	return connection;
}

export function runConnected(o: {
	tenants: string[];
	connection: string;
	subWorkflowId: string;
	api: ReturnType<typeof fakeApi>;
	executeWorkflow: NonNullable<ContextSpec['executeWorkflow']>;
	continueOnFail?: boolean;
	parameters?: Record<string, unknown>;
	/** More credentials (e.g. the lock database's `postgres`). */
	credentials?: ContextSpec['credentials'];
}) {
	const test = executeContext({
		items: o.tenants.map((tenant, n) => ({ json: { tenant, n } })),
		credentials: { tenantSwapN8nApi: { baseUrl: FAKE_API_URL, apiKey: 'k' }, ...o.credentials },
		executionId: unique('exec'),
		workflowId: 'caller',
		continueOnFail: o.continueOnFail,
		executeWorkflow: o.executeWorkflow,
		send: o.api.send,
		parameters: {
			subWorkflow: { __rl: true, mode: 'id', value: o.subWorkflowId },
			placeholderCredential: { __rl: true, mode: 'id', value: PLACEHOLDER_ID },
			credentialSource: 'connectedTenant',
			connection: o.connection,
			tenantId: (i: number) => o.tenants[i],
			lockBackend: 'memory',
			options: {},
			...o.parameters,
		},
	});
	return { test, run: runNode.execute.call(test.context).then((output) => output[0]) };
}

