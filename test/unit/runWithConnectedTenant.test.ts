/**
 * Run With Tenant Credential's source "Connected Tenant": each item's Tenant ID finds the tenant's
 * Tenant OAuth2 Connect connection in the connect store (the memory store here), and the sub-workflow's
 * placeholder is bound to that credential by the same code as provisioned ones. Not connected, a wrong
 * type, a credential deleted by hand: the item fails (per item under Continue On Fail). The tenant
 * credential registry, Retention and Offboard Tenant never touch a connected credential. n8n's public
 * API is faked (the sub-workflow, the calling workflow, credential lookups); sub-executions are scripted.
 */
import { NodeHelpers, NodeOperationError, type IDataObject, type INodeExecutionData, type INodeParameters } from 'n8n-workflow';

import { runWithTenantProperties } from '../../nodes/RunWithTenantCredential/description';
import { readRunRequest } from '../../nodes/RunWithTenantCredential/actions/request';
import { RunWithTenantCredential } from '../../nodes/RunWithTenantCredential/RunWithTenantCredential.node';
import { memoryLockEngine } from '../../nodes/shared/lock';
import { forgetLostConnection } from '../../nodes/shared/tenantCredentials/connectedTenant';
import { isTenantCredentialName } from '../../nodes/shared/tenantCredentials/credentialName';
import { placeholderCandidates, resolvePlaceholder } from '../../nodes/shared/tenantCredentials/placeholder';
import type { LoadedSubWorkflow } from '../../nodes/shared/tenantCredentials/subWorkflow';
import { tenantCredentialUses } from '../../nodes/shared/tenantCredentials/inUse';
import { tenantCredentialRegistryFor } from '../../nodes/shared/tenantCredentials/registry';
import { forgetCachedSubWorkflows } from '../../nodes/shared/tenantCredentials/subWorkflow';
import { connect, connections, fakeApi, LOGGING_ID, PLACEHOLDER_ID, recordingSubExecutions, runConnected, subWorkflow, unique } from '../helpers/connectedTenant';
import { executeContext } from '../helpers/executeContext';

const runNode = new RunWithTenantCredential();
const registry = tenantCredentialRegistryFor(memoryLockEngine());

beforeEach(() => forgetCachedSubWorkflows());

describe('Connected Tenant: the placeholder is bound to the tenant\'s connected credential', () => {
	it('each tenant\'s items run with its own connection\'s credential, one sub-execution per tenant; other credentials stay; nothing is created or registered', async () => {
		const app = unique('hubspot');
		const [acme, beta] = [unique('acme'), unique('beta')];
		await connect(acme, app, 'credAcme');
		await connect(beta, app, 'credBeta');
		const api = fakeApi({ workflows: [subWorkflow('sub1')] });
		const subs = recordingSubExecutions();
		let usesDuringRun = -1;
		const { run } = runConnected({
			tenants: [acme, beta, acme, beta],
			connection: app,
			subWorkflowId: 'sub1',
			api,
			executeWorkflow: async (info, items) => {
				usesDuringRun = Math.max(usesDuringRun, tenantCredentialUses().size);
				return await subs.executeWorkflow(info, items);
			},
		});
		const output = await run;
		expect(subs.runs.map(({ boundTo, tenants }) => [boundTo, tenants]).sort()).toEqual([
			['credAcme', [acme, acme]],
			['credBeta', [beta, beta]],
		]);
		expect(subs.runs.every((sub) => sub.logging === LOGGING_ID)).toBe(true);
		expect(output.map((item) => [item.json.tenant, item.json.boundTo, item.pairedItem])).toEqual([
			[acme, 'credAcme', { item: 0 }],
			[acme, 'credAcme', { item: 2 }],
			[beta, 'credBeta', { item: 1 }],
			[beta, 'credBeta', { item: 3 }],
		]);
		// Never registered, never marked in use, nothing created, no clean-up pass listing credentials.
		const scope = 'http://fake-n8n.invalid/api/v1';
		expect(await registry.countLiveTenantCredentials(scope, acme, 10)).toEqual({ tenant: 0, total: 0 });
		expect(usesDuringRun).toBe(0);
		expect(api.requests.filter((request) => !request.startsWith('GET /workflows/'))).toEqual([]);
	});

	it('control: the same items from tenant data are registered and marked in use (what the connected source must not do)', async () => {
		const api = fakeApi({ workflows: [subWorkflow('subData', 'httpHeaderAuth')] });
		const test = executeContext({
			items: [{ json: { tenant: 't' } }],
			credentials: { tenantSwapN8nApi: { baseUrl: 'http://fake-n8n-data.invalid/api/v1', apiKey: 'k' } },
			executionId: unique('exec'),
			workflowId: 'caller',
			send: async (options) => {
				if ((options.method ?? 'GET') === 'POST') return { statusCode: 200, body: { id: 'madeFromData', name: 'x', type: 'httpHeaderAuth' } };
				if (String(options.url).includes('/credentials/schema/')) return { statusCode: 200, body: { type: 'object', properties: { name: { type: 'string' }, value: { type: 'string' } } } };
				return await api.send(options);
			},
			executeWorkflow: async (_info, items) => {
				expect(tenantCredentialUses().size).toBe(1);
				return { executionId: 'e', data: [items] };
			},
			parameters: {
				subWorkflow: { __rl: true, mode: 'id', value: 'subData' },
				placeholderCredential: { __rl: true, mode: 'id', value: PLACEHOLDER_ID },
				tenantId: unique('dataTenant'),
				credentialData: { name: 'x-key', value: 'secret-value-1' },
				lockBackend: 'memory',
				options: {},
			},
		});
		await runNode.execute.call(test.context);
		expect(test.requests.some((request) => request.method === 'POST' && String(request.url).endsWith('/credentials'))).toBe(true);
		expect((await registry.countLiveTenantCredentials('http://fake-n8n-data.invalid/api/v1', 'none', 10)).total).toBe(1);
	});

	it('a tenant who connected again between items gets a group per credential (the key has the credential ID)', async () => {
		const app = unique('app');
		const acme = unique('acme');
		await connect(acme, app, 'credOld');
		const api = fakeApi({ workflows: [subWorkflow('sub2')] });
		const subs = recordingSubExecutions();
		const getConnection = connections.connectionOf.bind(connections);
		let reads = 0;
		const spy = jest.spyOn(connections, 'connectionOf').mockImplementation(async (tenantId, appId) => {
			if (++reads === 2) await connect(acme, app, 'credNew');
			return await getConnection(tenantId, appId);
		});
		try {
			await runConnected({ tenants: [acme, acme], connection: app, subWorkflowId: 'sub2', api, executeWorkflow: subs.executeWorkflow }).run;
		} finally {
			spy.mockRestore();
		}
		expect(subs.runs.map((sub) => sub.boundTo).sort()).toEqual(['credNew', 'credOld']);
	});
});

describe('Connected Tenant: what fails an item', () => {
	it('a tenant not connected: its item fails saying so and what to do, with n8n\'s error on the item (the error output routes by it); the others run', async () => {
		const app = unique('hubspot');
		const [acme, ghost] = [unique('acme'), unique('ghost')];
		await connect(acme, app, 'credAcme2');
		const subs = recordingSubExecutions();
		const { run } = runConnected({ tenants: [ghost, acme], connection: app, subWorkflowId: 'sub3', api: fakeApi({ workflows: [subWorkflow('sub3')] }), executeWorkflow: subs.executeWorkflow, continueOnFail: true });
		const output = await run;
		expect(output).toHaveLength(2);
		expect(output[0].pairedItem).toEqual({ item: 0 });
		expect(output[0].json.error).toBe(
			`Parameter "Connection", item 0: Tenant "${ghost}" has not connected ${app}: send them a connect link (Tenant OAuth2 Connect → Create Connect Link)`,
		);
		expect(output[0].error).toBeInstanceOf(NodeOperationError);
		expect(output[1].json).toEqual({ tenant: acme, boundTo: 'credAcme2' });
		expect(subs.runs.map((sub) => sub.tenants)).toEqual([[acme]]);
	});

	it('without Continue On Fail the node fails with a NodeOperationError for that item', async () => {
		const app = unique('hubspot');
		const ghost = unique('ghost');
		const { run } = runConnected({ tenants: [ghost], connection: app, subWorkflowId: 'sub4', api: fakeApi({ workflows: [subWorkflow('sub4')] }), executeWorkflow: recordingSubExecutions().executeWorkflow });
		const error = await run.catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect((error as Error).message).toContain(`Tenant "${ghost}" has not connected ${app}`);
	});

	it('a connection of another type than the placeholder\'s: refused, naming both types; nothing runs', async () => {
		const app = unique('sheets');
		const acme = unique('acme');
		await connect(acme, app, 'credSheets', 'googleSheetsOAuth2Api');
		const subs = recordingSubExecutions();
		const output = await runConnected({ tenants: [acme], connection: app, subWorkflowId: 'sub5', api: fakeApi({ workflows: [subWorkflow('sub5')] }), executeWorkflow: subs.executeWorkflow, continueOnFail: true }).run;
		expect(String(output[0].json.error)).toContain('with a credential of type googleSheetsOAuth2Api, but the placeholder credential is of type oAuth2Api');
		expect(subs.runs).toEqual([]);
	});

	it("the placeholder being the tenant's connected credential itself is refused", async () => {
		const app = unique('app');
		const acme = unique('acme');
		await connect(acme, app, PLACEHOLDER_ID);
		const subs = recordingSubExecutions();
		const output = await runConnected({ tenants: [acme], connection: app, subWorkflowId: 'sub6', api: fakeApi({ workflows: [subWorkflow('sub6')] }), executeWorkflow: subs.executeWorkflow, continueOnFail: true }).run;
		expect(String(output[0].json.error)).toContain("is tenant");
		expect(subs.runs).toEqual([]);
	});

	it.each([
		['n8n says "does not exist"', (id: string) => new Error(`Credential with ID "${id}" does not exist for type "oAuth2Api".`)],
		['n8n says "does not have access" and the lookup answers 404', () => new Error('Node "Call Tenant API" does not have access to the credential')],
	])('a connected credential deleted by hand (%s): the item fails as not connected and the connection is forgotten', async (_case, refusal) => {
		const app = unique('hubspot');
		const [acme, beta] = [unique('acme'), unique('beta')];
		await connect(acme, app, 'credGone');
		await connect(beta, app, 'credBeta3');
		const subs = recordingSubExecutions((boundTo) => (boundTo === 'credGone' ? refusal(boundTo) : undefined));
		const api = fakeApi({ workflows: [subWorkflow('sub7')], credentials: new Set(['credBeta3']) });
		const output = await runConnected({ tenants: [acme, beta], connection: app, subWorkflowId: 'sub7', api, executeWorkflow: subs.executeWorkflow, continueOnFail: true }).run;
		expect(String(output[0].json.error)).toContain(`Tenant "${acme}" is not connected (its credential was deleted) to ${app}: send them a connect link`);
		expect(output[0].error).toBeInstanceOf(NodeOperationError);
		expect(output[1].json).toEqual({ tenant: beta, boundTo: 'credBeta3' });
		expect(await connections.connectionOf(acme, app)).toBeUndefined();
		expect((await connections.connectionOf(beta, app))?.credentialId).toBe('credBeta3');
	});

	it('n8n refuses a connected credential that still exists (another project): the connection is kept and the message says why', async () => {
		const app = unique('hubspot');
		const acme = unique('acme');
		await connect(acme, app, 'credElsewhere');
		const subs = recordingSubExecutions(() => new Error('Node "Call Tenant API" does not have access to the credential'));
		const api = fakeApi({ workflows: [subWorkflow('sub8')], credentials: new Set(['credElsewhere']) });
		const output = await runConnected({ tenants: [acme], connection: app, subWorkflowId: 'sub8', api, executeWorkflow: subs.executeWorkflow, continueOnFail: true }).run;
		expect(String(output[0].json.errorDescription)).toContain('exists, but n8n does not let this workflow use it');
		expect((await connections.connectionOf(acme, app))?.credentialId).toBe('credElsewhere');
	});

	it("n8n's refresh refused (invalid_grant, \"needs to be reconnected\"): the item says the tenant must connect again; the connection stays for the reconnect to replace", async () => {
		const app = unique('hubspot');
		const acme = unique('acme');
		await connect(acme, app, 'credRevoked');
		const subs = recordingSubExecutions(() =>
			Object.assign(new Error('The credential "tenant-oauth hubspot acme" needs to be reconnected.'), { failure: { cause: 'credential-invalid' } }),
		);
		const api = fakeApi({ workflows: [subWorkflow('sub8r')], credentials: new Set(['credRevoked']) });
		const output = await runConnected({ tenants: [acme], connection: app, subWorkflowId: 'sub8r', api, executeWorkflow: subs.executeWorkflow, continueOnFail: true }).run;
		expect(String(output[0].json.error)).toContain('no longer works (the provider refused its refresh token): send them a connect link');
		expect((await connections.connectionOf(acme, app))?.credentialId).toBe('credRevoked');
	});

	it('forgetting a lost connection keeps a newer one the tenant made meanwhile', async () => {
		const app = unique('app');
		const acme = unique('acme');
		const lost = await connect(acme, app, 'credLost');
		await connect(acme, app, 'credReconnected');
		await forgetLostConnection(connections, lost);
		expect((await connections.connectionOf(acme, app))?.credentialId).toBe('credReconnected');
		// Control: the lost one itself is forgotten.
		const again = await connect(acme, app, 'credLost2');
		await forgetLostConnection(connections, again);
		expect(await connections.connectionOf(acme, app)).toBeUndefined();
	});

	it('forgetting puts back a newer connection taken by mistake (one saved between the read and the delete)', async () => {
		const app = unique('app');
		const acme = unique('acme');
		const lost = await connect(acme, app, 'credLostRace');
		const forget = connections.forgetConnection.bind(connections);
		const spy = jest.spyOn(connections, 'forgetConnection').mockImplementation(async (tenantId, appId) => {
			await connect(acme, app, 'credRaced');
			return await forget(tenantId, appId);
		});
		try {
			await forgetLostConnection(connections, lost);
		} finally {
			spy.mockRestore();
		}
		expect((await connections.connectionOf(acme, app))?.credentialId).toBe('credRaced');
	});
});

describe('Connected Tenant: parameters', () => {
	const nodeOf = (parameters: INodeParameters) => ({ id: 'n', name: 'Run', type: 'runWithTenantCredential', typeVersion: 1, position: [0, 0] as [number, number], parameters });

	it('a node saved before Credential Source existed gets its default, Tenant Data in the Request, and keeps its data (n8n fills a missing parameter with its default)', () => {
		const saved: INodeParameters = { subWorkflow: { __rl: true, mode: 'id', value: 's' }, tenantId: '={{ $json.tenant }}', credentialData: '={{ $json.data }}' };
		const resolved = NodeHelpers.getNodeParameters(runWithTenantProperties, saved, true, false, nodeOf(saved), null)!;
		expect(resolved.credentialSource).toBe('tenantData');
		expect(resolved.credentialData).toBe('={{ $json.data }}');
		expect(resolved.connection).toBeUndefined();
	});

	it('Connected Tenant hides the tenant data parameters (n8n drops them) and shows Connection', () => {
		const saved: INodeParameters = { credentialSource: 'connectedTenant', connection: 'hubspot', credentialData: '={{ $json.data }}', tenantId: 'a' };
		const resolved = NodeHelpers.getNodeParameters(runWithTenantProperties, saved, true, false, nodeOf(saved), null)!;
		expect(resolved.credentialData).toBeUndefined();
		expect(resolved.connection).toBe('hubspot');
		const shown = (name: string, values: INodeParameters) =>
			NodeHelpers.displayParameter(values, runWithTenantProperties.find((property) => property.name === name && property.type !== 'notice')!, nodeOf(values), null);
		expect(shown('connection', { operation: 'runSubWorkflow', credentialSource: 'connectedTenant' })).toBe(true);
		expect(shown('connection', { operation: 'runSubWorkflow', credentialSource: 'tenantData' })).toBe(false);
		const options = runWithTenantProperties.find((property) => property.name === 'options' && property.displayOptions?.show?.operation?.includes('runSubWorkflow'))!;
		const retention = (options.options as Array<{ name: string; displayOptions?: IDataObject }>).find((option) => option.name === 'retention')!;
		expect(retention.displayOptions).toEqual({ show: { '/credentialSource': ['tenantData'] } });
	});

	function contextFor(parameters: Record<string, unknown>, raw: Record<string, unknown> = {}) {
		const all: Record<string, unknown> = { subWorkflow: { __rl: true, mode: 'id', value: 'sub1' }, tenantId: 'acme', options: {}, ...parameters };
		return {
			getNode: () => ({ name: 'Run With Tenant Credential', parameters: raw }),
			getNodeParameter: (name: string, _item: number, fallback?: unknown) => (name in all ? all[name] : fallback),
		} as unknown as Parameters<typeof readRunRequest>[0];
	}

	it('reads Connection, and no data: Credential Data is never read for a connected tenant', () => {
		const request = readRunRequest(contextFor({ credentialSource: 'connectedTenant', connection: 'hub.spot_1-x', credentialData: 'not json at all' }), 0);
		expect(request.connection).toBe('hub.spot_1-x');
		expect(request.data).toEqual({});
	});

	it.each([
		['empty', '', 'Connection is empty'],
		['not a name', 'hub spot/../x', 'is not a connection name'],
		['too long', 'x'.repeat(65), 'is not a connection name'],
	])('refuses a Connection that is %s, naming the parameter', (_case, connection, message) => {
		expect(() => readRunRequest(contextFor({ credentialSource: 'connectedTenant', connection }), 0)).toThrow(message);
	});

	it('refuses Connection and Credential Source as expressions (the workflow decides, never the caller)', () => {
		expect(() => readRunRequest(contextFor({ credentialSource: 'connectedTenant', connection: 'hubspot' }, { connection: '={{ $json.app }}' }), 0)).toThrow('Connection must not be an expression');
		expect(() => readRunRequest(contextFor({ credentialSource: 'connectedTenant', connection: 'hubspot' }, { credentialSource: '={{ $json.source }}' }), 0)).toThrow('Credential Source must be');
	});

	it('connected credentials are not tenant credentials by name (the orphan clean-up and Offboard Tenant only know "tenant-cred ...")', () => {
		expect(isTenantCredentialName('tenant-oauth hubspot acme (connected by Tenant OAuth2 Connect: do not edit or use)')).toBe(false);
		// Control: the node's own.
		expect(isTenantCredentialName('tenant-cred abc acme xyz (managed by Run With Tenant Credential: do not edit or use)')).toBe(true);
	});
});

describe("a tenant's connected credential is never a placeholder (by its name)", () => {
	const withPlaceholderNamed = (name: string): LoadedSubWorkflow => {
		const nodes = subWorkflow('named').nodes.map((node) =>
			node.name === 'Call Tenant API' ? { ...node, credentials: { oAuth2Api: { id: 'connectedOne', name } } } : node,
		);
		return { id: 'named', name: 'Named', label: '"Named"', inCallerProject: true, nodes, connections: {}, settings: {}, version: 'draft' };
	};
	const connectedName = 'tenant-oauth hubspot acme (connected by Tenant OAuth2 Connect: do not edit or use)';

	it('refused when picked, saying why and what to do (control: the same credential under a placeholder name passes)', () => {
		expect(() => resolvePlaceholder(withPlaceholderNamed(connectedName), { placeholderId: 'connectedOne' }, [0])).toThrow(
			"is a tenant's connected credential (made by Tenant OAuth2 Connect)",
		);
		expect(() => resolvePlaceholder(withPlaceholderNamed(connectedName), { credentialType: 'oAuth2Api' }, [0])).toThrow("is a tenant's connected credential");
		expect(resolvePlaceholder(withPlaceholderNamed('Tenant API (placeholder)'), { placeholderId: 'connectedOne' }, [0]).id).toBe('connectedOne');
	});

	it('not offered by From List (control: under a placeholder name it is)', () => {
		expect(placeholderCandidates(withPlaceholderNamed(connectedName).nodes).map((candidate) => candidate.id)).toEqual([LOGGING_ID]);
		expect(placeholderCandidates(withPlaceholderNamed('Tenant API (placeholder)').nodes).map((candidate) => candidate.id)).toEqual(['connectedOne', LOGGING_ID]);
	});
});

describe('Offboard Tenant leaves a connected tenant alone', () => {
	it('finds nothing to delete and the connection stays', async () => {
		const app = unique('hubspot');
		const acme = unique('acme');
		await connect(acme, app, 'credKeep');
		const api = fakeApi({ workflows: [], credentials: new Set(['credKeep']) });
		const test = executeContext({
			items: [{ json: {} }],
			credentials: { tenantSwapN8nApi: { baseUrl: 'http://fake-n8n.invalid/api/v1', apiKey: 'k' } },
			executionId: unique('exec'),
			send: api.send,
			parameters: { operation: 'offboardTenant', tenantId: acme, lockBackend: 'memory', options: {} },
		});
		const [output] = await runNode.execute.call(test.context);
		expect((output[0] as INodeExecutionData).json).toMatchObject({ tenantId: acme, found: 0, deleted: 0 });
		expect(api.requests.filter((request) => request.startsWith('DELETE'))).toEqual([]);
		expect((await connections.connectionOf(acme, app))?.credentialId).toBe('credKeep');
	});
});
