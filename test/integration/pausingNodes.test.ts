/**
 * A node that can pause the execution between Tenant Credential Swap and Release Lock is refused at
 * run time (issue 17, finding 6), before any lock or API call. The graph is the shipped example
 * (examples/multi-tenant-webhook.json) with a pausing node put in; getChildNodes/getParentNodes answer
 * the way n8n 2.40.7's execution context does (n8n-workflow's graph functions over the connections).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import {
	getChildNodes as childNodeNames,
	getParentNodes as parentNodeNames,
	mapConnectionsByDestination,
	NodeOperationError,
	type IConnections,
	type IExecuteFunctions,
	type INode,
	type NodeTypeAndVersion,
} from 'n8n-workflow';

import { TenantCredentialSwap } from '../../nodes/TenantCredentialSwap/TenantCredentialSwap.node';
import { lockClientFor, memoryLockEngine } from '../../nodes/shared/lock';
import { executeContext } from '../helpers/executeContext';
import { FakeN8n } from '../helpers/fakeN8n';
import { itemsOf, unique } from '../helpers/fixtures';

interface WorkflowJson {
	nodes: INode[];
	connections: IConnections;
}

const example = JSON.parse(readFileSync(join(__dirname, '..', '..', 'examples', 'multi-tenant-webhook.json'), 'utf8')) as WorkflowJson;
const SWAP = 'Tenant Credential Swap';

function describeNodes(workflow: WorkflowJson, names: string[], withParameters: boolean): NodeTypeAndVersion[] {
	return names.map((name) => {
		const node = workflow.nodes.find((n) => n.name === name)!;
		return { name, type: node.type, typeVersion: node.typeVersion, disabled: node.disabled ?? false, ...(withParameters ? { parameters: node.parameters } : {}) };
	});
}

/** The example with `node` put between `from` and `to` (replacing their connection). */
function withNodeBetween(from: string, to: string, node: Partial<INode> & { name: string; type: string }): WorkflowJson {
	const copy = JSON.parse(JSON.stringify(example)) as WorkflowJson;
	copy.nodes.push({ id: node.name, typeVersion: 1, position: [0, 0], parameters: {}, ...node } as INode);
	copy.connections[from] = { main: [[{ node: node.name, type: 'main', index: 0 }]] };
	copy.connections[node.name] = { main: [[{ node: to, type: 'main', index: 0 }]] };
	return copy;
}

async function runSwapIn(workflow: WorkflowJson) {
	const executionId = unique('pause');
	const fake = new FakeN8n(['base1']);
	const { context, requests } = executeContext({
		items: itemsOf({ tenantId: 'a' }),
		credentials: { tenantSwapN8nApi: { baseUrl: 'http://127.0.0.1:9/api/v1', apiKey: 'k', allowUnauthorizedCerts: false } },
		executionId,
		send: fake.httpSend(executionId) as never,
		parameters: {
			baseCredential: { __rl: true, mode: 'id', value: 'base1' },
			tenantId: 'tenant-a',
			credentialData: { name: 'x-tenant', value: 'v' },
			lockBackend: 'memory',
			options: { renewLock: false, skipUnchanged: false },
		},
	});
	const byDestination = mapConnectionsByDestination(workflow.connections);
	const wrapped = {
		...(context as unknown as Record<string, unknown>),
		getNode: () => workflow.nodes.find((n) => n.name === SWAP),
		getChildNodes: (name: string, options?: { includeNodeParameters?: boolean }) =>
			describeNodes(workflow, childNodeNames(workflow.connections, name), options?.includeNodeParameters === true),
		getParentNodes: (name: string, options?: { includeNodeParameters?: boolean }) =>
			describeNodes(workflow, parentNodeNames(byDestination, name), options?.includeNodeParameters === true),
		addExecutionHints: () => undefined,
	} as unknown as IExecuteFunctions;
	try {
		const output = await new TenantCredentialSwap().execute.call(wrapped);
		return { output: output[0], requests };
	} catch (error) {
		return { error: error as NodeOperationError & { description?: string }, requests };
	} finally {
		await lockClientFor(memoryLockEngine()).releaseOwner({ instanceId: 'test-instance', executionId });
	}
}

const WAIT = { name: 'Wait For Approval', type: 'n8n-nodes-base.wait', typeVersion: 1.1, parameters: { resume: 'webhook' } };

describe('a node that can pause the execution after Tenant Credential Swap', () => {
	it('a Wait between the swap and Release Lock is refused, naming it and why, before any lock or API call', async () => {
		// Fails with the fix reverted: the swap ran and held the lock across the Wait.
		const { error, requests } = await runSwapIn(withNodeBetween('Call Tenant API', 'Release Lock', WAIT));
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error!.message).toMatch(/"Wait For Approval" can pause this execution while it holds the lock of this Tenant Credential Swap: put Release Lock before it/);
		expect(error!.description).toMatch(/between this node and Release Lock/);
		expect(error!.description).toMatch(/a paused execution resumes later, perhaps on another worker after the lease ran out, and its nodes would use whatever tenant the base credential holds by then/);
		expect(error!.description).toMatch(/An n8n restart while the lock is held is covered by the Lock TTL/);
		expect(requests).toEqual([]);
	});

	it('a Wait of a time interval pauses from 65 s on (n8n saves the execution), an expression too; a shorter one runs in process and is allowed', async () => {
		const waitFor = (parameters: INode["parameters"], typeVersion = 1.1) => withNodeBetween('Call Tenant API', 'Release Lock', { ...WAIT, typeVersion, parameters });
		expect((await runSwapIn(waitFor({ amount: 2, unit: 'minutes' }))).error?.message).toMatch(/can pause this execution/);
		expect((await runSwapIn(waitFor({ amount: '={{ $json.delay }}', unit: 'seconds' }))).error?.message).toMatch(/can pause this execution/);
		// Version 1's defaults: 1 hour.
		expect((await runSwapIn(waitFor({}, 1))).error?.message).toMatch(/can pause this execution/);
		// Later versions' defaults: 5 seconds, in process (the lease keeps renewing).
		expect((await runSwapIn(waitFor({}))).error).toBeUndefined();
		expect((await runSwapIn(waitFor({ amount: 64, unit: 'seconds' }))).error).toBeUndefined();
	});

	it('a "Send and Wait for Response" operation (e.g. Slack) is refused the same way', async () => {
		const slack = { name: 'Ask On Slack', type: 'n8n-nodes-base.slack', parameters: { operation: 'sendAndWait' } };
		const { error } = await runSwapIn(withNodeBetween(SWAP, 'Call Tenant API', slack));
		expect(error!.message).toMatch(/"Ask On Slack" can pause this execution/);
	});

	it('a Wait after the swap with no Release Lock before it is refused', async () => {
		const copy = withNodeBetween('Call Tenant API', 'Release Lock', WAIT);
		copy.nodes = copy.nodes.filter((node) => node.name !== 'Release Lock');
		delete copy.connections[WAIT.name];
		const { error } = await runSwapIn(copy);
		expect(error!.description).toMatch(/after this node, with no Release Lock before it/);
	});

	it('control: a Wait after Release Lock, a disabled Wait, and the example itself all run', async () => {
		expect((await runSwapIn(withNodeBetween('Release Lock', 'Work Without The Credential', WAIT))).error).toBeUndefined();
		expect((await runSwapIn(withNodeBetween('Call Tenant API', 'Release Lock', { ...WAIT, disabled: true }))).error).toBeUndefined();
		const { output, error } = await runSwapIn(example);
		expect(error).toBeUndefined();
		expect(output![0].json.tenantSwap).toMatchObject({ update: 'patched' });
	});
});
