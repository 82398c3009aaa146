/**
 * Tenant Credential Swap warns (an execution hint in the output pane) when no Release Lock runs after
 * it. The workflow graph is the shipped example (examples/multi-tenant-webhook.json) and variants of
 * it; getChildNodes answers the way n8n 2.40.7's execution context does (n8n-workflow's
 * getChildNodes over the workflow's connections, mapped to name/type/typeVersion/disabled). The n8n
 * API is scripted: the hint does not depend on n8n's answers.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import {
	getChildNodes as childNodeNames,
	type IConnections,
	type IExecuteFunctions,
	type INode,
	type NodeExecutionHint,
	type NodeTypeAndVersion,
} from 'n8n-workflow';

import { TenantCredentialSwap } from '../../nodes/TenantCredentialSwap/TenantCredentialSwap.node';
import { lockClientFor, memoryLockEngine } from '../../nodes/shared/lock';
import { executeContext } from '../helpers/executeContext';
import { itemsOf, unique } from '../helpers/fixtures';

interface WorkflowJson {
	nodes: INode[];
	connections: IConnections;
}

const example = JSON.parse(readFileSync(join(__dirname, '..', '..', 'examples', 'multi-tenant-webhook.json'), 'utf8')) as WorkflowJson;
const SWAP = 'Tenant Credential Swap';
const swapNode = new TenantCredentialSwap();

const summary = { id: 'base1', name: 'Base', type: 'httpHeaderAuth', updatedAt: '2026-01-01T00:00:00.000Z' };
const schema = { properties: { name: { type: 'string' }, value: { type: 'string' } } };
async function send(options: { method?: string; url: string }) {
	const path = new URL(options.url).pathname.replace(/^\/api\/v1/, '');
	if (options.method === 'GET' && path === '/credentials/base1') return { statusCode: 200, body: summary };
	if (options.method === 'GET' && path.startsWith('/credentials/schema/')) return { statusCode: 200, body: schema };
	if (options.method === 'PATCH' && path === '/credentials/base1') {
		return { statusCode: 200, body: { ...summary, updatedAt: new Date().toISOString() } };
	}
	// The swap asks whether n8n shows its execution (Renew Lock While Running): it runs.
	if (options.method === 'GET' && path.startsWith('/executions/')) return { statusCode: 200, body: { status: 'running', stoppedAt: null } };
	if (options.method === 'GET' && path === '/executions') return { statusCode: 200, body: { data: [], nextCursor: null } };
	return { statusCode: 500, body: { message: `unexpected ${options.method} ${path}` } };
}

/** What n8n-core 2.40.7's NodeExecutionContext.getChildNodes returns for `workflow`. */
function childNodesIn(workflow: WorkflowJson) {
	return (nodeName: string): NodeTypeAndVersion[] =>
		childNodeNames(workflow.connections, nodeName).map((name) => {
			const node = workflow.nodes.find((n) => n.name === name)!;
			return { name: node.name, type: node.type, typeVersion: node.typeVersion, disabled: node.disabled ?? false };
		});
}

function variant(change: (workflow: WorkflowJson) => void): WorkflowJson {
	const copy = JSON.parse(JSON.stringify(example)) as WorkflowJson;
	change(copy);
	return copy;
}

/**
 * Runs the swap node's execute() as the node named SWAP in a workflow, with the test context from
 * executeContext wrapped: getNode names the workflow's node, getChildNodes/addExecutionHints are
 * added unless `extras` replaces them (undefined = an older n8n without them).
 */
async function runSwapIn(
	workflow: WorkflowJson | undefined,
	extras: Partial<Pick<IExecuteFunctions, 'getChildNodes' | 'addExecutionHints'>> = {},
) {
	const executionId = unique('hint');
	const { context } = executeContext({
		items: itemsOf({ tenantId: 'a' }),
		credentials: { tenantSwapN8nApi: { baseUrl: 'http://127.0.0.1:9/api/v1', apiKey: 'scripted', allowUnauthorizedCerts: false } },
		executionId,
		send: send as never,
		parameters: {
			baseCredential: { __rl: true, mode: 'id', value: 'base1' },
			tenantId: 'tenant-a',
			credentialData: { name: 'x-tenant-secret', value: 'tenant-a-secret' },
			lockBackend: 'memory',
			options: { lockTtl: 30, waitTimeout: 5, validateWithTemporaryCredential: false },
		},
	});
	const hints: NodeExecutionHint[] = [];
	const asked: string[] = [];
	const swapInWorkflow = workflow?.nodes.find((n) => n.name === SWAP);
	const wrapped = {
		...(context as unknown as Record<string, unknown>),
		getNode: () => swapInWorkflow ?? context.getNode(),
		...(workflow
			? {
					getChildNodes: (name: string) => {
						asked.push(name);
						return childNodesIn(workflow)(name);
					},
					addExecutionHints: (...added: NodeExecutionHint[]) => hints.push(...added),
				}
			: {}),
		...extras,
	} as unknown as IExecuteFunctions;
	try {
		const output = await swapNode.execute.call(wrapped);
		return { output: output[0], hints, asked };
	} finally {
		// The hint is about the workflow; each run frees its own lock so the next run can take it.
		await lockClientFor(memoryLockEngine()).releaseOwner({ instanceId: 'test-instance', executionId });
	}
}

function expectReleaseHint(hints: NodeExecutionHint[]) {
	expect(hints).toHaveLength(1);
	expect(hints[0]).toMatchObject({ type: 'warning', location: 'outputPane' });
	// With renewal on (the default) the lock is freed when the execution ends, not at its TTL.
	expect(hints[0].message).toMatch(/the lock is held until this whole execution ends \(with Renew Lock While Running off, or without the execution:read scope, until its Lock TTL runs out\)/);
	expect(hints[0].message).toMatch(/Add a Release Lock node right after the last node that uses the base credential/);
	expect(hints[0].message).toMatch(/Error Trigger workflow/);
}

describe('Tenant Credential Swap: hint when no Release Lock follows', () => {
	it('no hint in the example workflow, where Release Lock follows the node that uses the base credential', async () => {
		const { output, hints, asked } = await runSwapIn(example);
		expect(output[0].json.tenantSwap).toMatchObject({ baseCredentialId: 'base1', lockBackend: 'memory' });
		expect(asked).toEqual([SWAP]);
		expect(hints).toEqual([]);
	});

	it('warns when the workflow has no Release Lock', async () => {
		const workflow = variant((w) => {
			w.nodes = w.nodes.filter((n) => !n.type.endsWith('.tenantLockRelease'));
			w.connections['Call Tenant API'] = { main: [[{ node: 'Work Without The Credential', type: 'main', index: 0 }]] };
			delete w.connections['Release Lock'];
		});
		const { output, hints } = await runSwapIn(workflow);
		expect(output[0].json.tenantSwap).toMatchObject({ baseCredentialId: 'base1' });
		expectReleaseHint(hints);
	});

	it('warns when the Release Lock after it is disabled', async () => {
		const workflow = variant((w) => {
			w.nodes.find((n) => n.name === 'Release Lock')!.disabled = true;
		});
		expectReleaseHint((await runSwapIn(workflow)).hints);
	});

	it('warns when Release Lock is only on another branch, not after this node', async () => {
		const workflow = variant((w) => {
			w.connections['Call Tenant API'] = { main: [[{ node: 'Work Without The Credential', type: 'main', index: 0 }]] };
			delete w.connections['Release Lock'];
			w.connections.Webhook.main[0]!.push({ node: 'Release Lock', type: 'main', index: 0 });
		});
		expectReleaseHint((await runSwapIn(workflow)).hints);
	});

	it('no hint when Release Lock comes from a custom extensions folder (type CUSTOM.tenantLockRelease)', async () => {
		const workflow = variant((w) => {
			for (const node of w.nodes) node.type = node.type.replace('n8n-nodes-tenant-credential-swap.', 'CUSTOM.');
		});
		expect((await runSwapIn(workflow)).hints).toEqual([]);
	});

	it('an n8n without getChildNodes / addExecutionHints: the swap works, no hint, nothing breaks', async () => {
		const none = await runSwapIn(undefined);
		expect(none.output[0].json.tenantSwap).toMatchObject({ baseCredentialId: 'base1' });
		expect(none.hints).toEqual([]);

		const noHints = await runSwapIn(example, { addExecutionHints: undefined });
		expect(noHints.output[0].json.tenantSwap).toMatchObject({ baseCredentialId: 'base1' });
		expect(noHints.asked).toEqual([]);

		const noChildren = await runSwapIn(example, { getChildNodes: undefined });
		expect(noChildren.output[0].json.tenantSwap).toMatchObject({ baseCredentialId: 'base1' });
		expect(noChildren.hints).toEqual([]);
	});

	it('a failing getChildNodes never fails the swap', async () => {
		const { output, hints } = await runSwapIn(example, {
			getChildNodes: () => {
				throw new Error('workflow graph unavailable');
			},
		});
		expect(output[0].json.tenantSwap).toMatchObject({ baseCredentialId: 'base1' });
		expect(hints).toEqual([]);
	});
});
