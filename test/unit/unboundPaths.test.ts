/**
 * Paths of a sub-workflow that Run With Tenant Credential never rebinds (issue 18, points 1 and 2): the
 * workflows it runs (Execute Workflow by ID, inline, by expression, file or URL; tool and retriever
 * workflows; recursively) and its error workflow must not use the placeholder credential, and no node on
 * the inline path may pause. A fake n8n API answers GET /workflows/:id from a table (what is read, and
 * how often, is the point here; the real n8n is in test/e2e/unboundPaths.test.ts).
 */
import type { IDataObject } from 'n8n-workflow';

import { SwapItemError } from '../../nodes/shared/swap/errors';
import { forgetCachedSubWorkflows, type LoadedSubWorkflow } from '../../nodes/shared/tenantCredentials/subWorkflow';
import { refuseUnboundPaths, targetOf, type UnboundPathContext } from '../../nodes/shared/tenantCredentials/unboundPaths';
import { N8nApiClient, type ApiRequest, type N8nApiTransport, type WorkflowNode, type WorkflowSummary } from '../../nodes/shared/transport/n8nApiClient';

const PLACEHOLDER = 'ph1';
const TYPE = 'httpHeaderAuth';
const CALLER_PROJECT = 'p-caller';

let stored: Map<string, WorkflowSummary | number>;
const requests: ApiRequest[] = [];
const transport: N8nApiTransport = {
	instanceId: 'http://n8n.test/api/v1',
	send: async (request) => {
		requests.push(request);
		const id = decodeURIComponent(request.path.split('/').pop() ?? '');
		const found = stored.get(id);
		if (found === undefined) return { statusCode: 404, body: { message: 'Not Found' } };
		if (typeof found === 'number') return { statusCode: found, body: { message: 'Forbidden' } };
		return { statusCode: 200, body: found };
	},
};
const api = new N8nApiClient(transport, { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 });
let scopeCounter = 0;
let context: UnboundPathContext;

beforeEach(() => {
	forgetCachedSubWorkflows();
	stored = new Map();
	requests.length = 0;
	// A scope of its own per test: cached reads and verdicts of one test never answer another.
	context = { api, scope: `scope-${++scopeCounter}`, draft: false, callerProjectId: CALLER_PROJECT };
});
afterEach(() => jest.restoreAllMocks());

const trigger: WorkflowNode = { name: 'Start', type: 'n8n-nodes-base.executeWorkflowTrigger', typeVersion: 1.1, parameters: { inputSource: 'passthrough' } };
const http = (name: string, credentialId?: string): WorkflowNode => ({
	name,
	type: 'n8n-nodes-base.httpRequest',
	typeVersion: 4.2,
	parameters: { url: 'http://127.0.0.1:9/echo', authentication: 'genericCredentialType', genericAuthType: TYPE },
	...(credentialId ? { credentials: { [TYPE]: { id: credentialId, name: 'cred' } } } : {}),
});
const executeById = (name: string, id: string, extra: IDataObject = {}): WorkflowNode => ({
	name,
	type: 'n8n-nodes-base.executeWorkflow',
	typeVersion: 1.2,
	parameters: { workflowId: { __rl: true, mode: 'list', value: id }, ...extra },
});
const executeInline = (name: string, nodes: WorkflowNode[], settings?: IDataObject): WorkflowNode => ({
	name,
	type: 'n8n-nodes-base.executeWorkflow',
	typeVersion: 1.2,
	parameters: { source: 'parameter', workflowJson: JSON.stringify({ nodes, connections: {}, ...(settings ? { settings } : {}) }) },
});
const wait = (name: string, parameters: IDataObject): WorkflowNode => ({ name, type: 'n8n-nodes-base.wait', typeVersion: 1.1, parameters, webhookId: 'w' });

/** A stored workflow, published (its published nodes = its draft unless given), in the caller's project unless said. */
function store(id: string, nodes: WorkflowNode[], o: { name?: string; published?: WorkflowNode[] | null; project?: string; settings?: IDataObject } = {}) {
	const published = o.published === undefined ? nodes : o.published;
	stored.set(id, {
		id,
		name: o.name ?? `workflow ${id}`,
		nodes,
		connections: {},
		settings: o.settings ?? {},
		activeVersion: published ? { versionId: `${id}-v`, nodes: published, connections: {} } : null,
		shared: [{ role: 'workflow:owner', projectId: o.project ?? CALLER_PROJECT }],
	});
}

function subWorkflow(nodes: WorkflowNode[], settings: IDataObject = {}): LoadedSubWorkflow {
	return { id: 'sub', name: 'Tenant API', label: '"Tenant API"', inCallerProject: true, nodes: [trigger, ...nodes], connections: {}, settings, projectId: CALLER_PROJECT, version: 'published' };
}

const placeholder = { ids: [PLACEHOLDER], type: TYPE };

async function refusal(workflow: LoadedSubWorkflow, ctx: UnboundPathContext = context): Promise<SwapItemError | undefined> {
	try {
		await refuseUnboundPaths(workflow, placeholder, ctx, [3]);
		return undefined;
	} catch (error) {
		expect(error).toBeInstanceOf(SwapItemError);
		const itemError = error as SwapItemError;
		expect(itemError.itemIndexes).toEqual([3]);
		expect(itemError.options.parameter).toBe('subWorkflow');
		return itemError;
	}
}

const text = (error: SwapItemError | undefined) => `${error?.message} | ${error?.options.description}`;

describe('the sub-workflow itself', () => {
	it('runs when only its own nodes use the placeholder (they are rebound) and it calls nothing', async () => {
		expect(await refusal(subWorkflow([http('Call Tenant API', PLACEHOLDER), http('Log', 'fixed-log')]))).toBeUndefined();
		expect(requests).toHaveLength(0);
	});
});

describe('Execute Workflow by ID', () => {
	it('refuses a called workflow whose node uses the placeholder, naming the calling node, the workflow and the node', async () => {
		store('called', [trigger, http('Send Report', PLACEHOLDER)], { name: 'Reporting' });
		const error = await refusal(subWorkflow([http('Call Tenant API', PLACEHOLDER), executeById('Run Reporting', 'called')]));
		expect(error?.message).toMatch(/[Nn]ode "Send Report" of workflow "Reporting" \(run by node "Run Reporting" of sub-workflow "Tenant API"\) uses the placeholder credential \(httpHeaderAuth, ID "ph1"\)/);
		expect(text(error)).toMatch(/rebinds only the nodes of the sub-workflow itself/);
	});

	it('runs a called workflow without the placeholder (its own fixed credential)', async () => {
		store('called', [trigger, http('Send Report', 'fixed-log')]);
		expect(await refusal(subWorkflow([executeById('Run Reporting', 'called')]))).toBeUndefined();
	});

	it('reads the ID in every saved form: version 1 text, resource locator by list, by ID, by URL', async () => {
		store('called', [trigger, http('Send Report', PLACEHOLDER)]);
		const forms: WorkflowNode[] = [
			{ name: 'v1', type: 'n8n-nodes-base.executeWorkflow', typeVersion: 1, parameters: { workflowId: 'called' } },
			executeById('list', 'called'),
			{ ...executeById('id', 'called'), parameters: { workflowId: { __rl: true, mode: 'id', value: 'called' } } },
			{ ...executeById('url', 'called'), parameters: { workflowId: { __rl: true, mode: 'url', value: 'http://127.0.0.1:5678/workflow/called?x=1' } } },
		];
		for (const node of forms) {
			forgetCachedSubWorkflows();
			expect(targetOf(node)).toEqual({ kind: 'id', id: 'called' });
			expect((await refusal(subWorkflow([node]), { ...context, scope: `${context.scope}-${node.name}` }))?.message).toMatch(new RegExp(`[Nn]ode "${node.name}"`));
		}
	});

	it('checks the version n8n runs: the published one in production, the draft in manual and chat executions', async () => {
		store('called', [trigger, http('Send Report', PLACEHOLDER)], { published: [trigger, http('Send Report', 'fixed-log')] });
		expect(await refusal(subWorkflow([executeById('Run Reporting', 'called')]))).toBeUndefined();
		expect((await refusal(subWorkflow([executeById('Run Reporting', 'called')]), { ...context, draft: true }))?.message).toMatch(/"Send Report"/);
		// Never published: n8n refuses to run it in production ("Workflow is not active"), so nothing of it runs.
		store('unpublished', [trigger, http('Send Report', PLACEHOLDER)], { published: null });
		expect(await refusal(subWorkflow([executeById('Run Reporting', 'unpublished')]))).toBeUndefined();
	});

	it('a workflow the key cannot read (404) or may not read (403) is refused with what to do', async () => {
		const missing = await refusal(subWorkflow([executeById('Run Other', 'elsewhere')]));
		expect(text(missing)).toMatch(/[Nn]ode "Run Other" of sub-workflow "Tenant API" runs workflow with ID "elsewhere", which the n8n API key cannot read/);
		expect(text(missing)).toMatch(/Share that workflow with the API key's user/);
		stored.set('forbidden', 403);
		expect(text(await refusal(subWorkflow([executeById('Run Other', 'forbidden')])))).toMatch(/scope workflow:read/);
	});

	it("a workflow of another project is named by its ID, and its nodes' names are not shown", async () => {
		store('foreign', [trigger, http('Secret Project Node', PLACEHOLDER)], { name: 'Foreign Name', project: 'p-other' });
		const error = await refusal(subWorkflow([executeById('Run Foreign', 'foreign')]));
		expect(error?.message).toMatch(/A node of workflow with ID "foreign" \(run by node "Run Foreign"/);
		expect(text(error)).not.toMatch(/Foreign Name|Secret Project Node/);
	});

	it('ignores a disabled Execute Workflow node and one with no workflow picked', async () => {
		store('called', [trigger, http('Send Report', PLACEHOLDER)]);
		expect(await refusal(subWorkflow([{ ...executeById('Off', 'called'), disabled: true }, executeById('Empty', '')]))).toBeUndefined();
		expect(requests).toHaveLength(0);
	});
});

describe('inline workflows, expressions, files and URLs', () => {
	it('refuses an inline workflow (Source: Define Below) with the placeholder, runs one without', async () => {
		expect((await refusal(subWorkflow([executeInline('Run Inline', [trigger, http('Inline Call', PLACEHOLDER)])])))?.message).toMatch(
			/[Nn]ode "Inline Call" of the workflow defined in node "Run Inline" of sub-workflow "Tenant API" uses the placeholder/,
		);
		expect(await refusal(subWorkflow([executeInline('Run Inline', [trigger, http('Inline Call', 'fixed-log')])]))).toBeUndefined();
	});

	it('refuses a workflow chosen by an expression (ID, Source or inline JSON), a local file and a URL: they cannot be checked', async () => {
		const cases: Array<[WorkflowNode, RegExp]> = [
			[{ ...executeById('By Expression', ''), parameters: { workflowId: { __rl: true, mode: 'id', value: '={{ $json.workflow }}' } } }, /picks the workflow by an expression/],
			[{ name: 'V1 Expression', type: 'n8n-nodes-base.executeWorkflow', typeVersion: 1, parameters: { workflowId: '={{ $json.workflow }}' } }, /picks the workflow by an expression/],
			[{ name: 'Source Expression', type: 'n8n-nodes-base.executeWorkflow', typeVersion: 1.2, parameters: { source: '={{ "database" }}' } }, /chooses its Source by an expression/],
			[{ name: 'JSON Expression', type: 'n8n-nodes-base.executeWorkflow', typeVersion: 1.2, parameters: { source: 'parameter', workflowJson: '={{ $json.code }}' } }, /workflow JSON with an expression/],
			[{ name: 'From File', type: 'n8n-nodes-base.executeWorkflow', typeVersion: 1, parameters: { source: 'localFile', workflowPath: '/tmp/x.json' } }, /from a local file/],
			[{ name: 'From URL', type: 'n8n-nodes-base.executeWorkflow', typeVersion: 1, parameters: { source: 'url', workflowUrl: 'http://127.0.0.1:9/w.json' } }, /from a URL/],
		];
		for (const [node, pattern] of cases) {
			const error = await refusal(subWorkflow([node]));
			expect(error?.message).toMatch(new RegExp(`[Nn]ode "${node.name}" of sub-workflow "Tenant API"`));
			expect(error?.message).toMatch(pattern);
			expect(error?.options.description).toMatch(/Pick the workflow From List or By ID/);
		}
		expect(requests).toHaveLength(0);
	});
});

describe('recursion', () => {
	it('follows workflows that run workflows (by ID and inline) and refuses the placeholder three levels down', async () => {
		store('b', [trigger, executeInline('B Inline', [trigger, executeById('B To C', 'c')])], { name: 'B' });
		store('c', [trigger, http('Deep Call', PLACEHOLDER)], { name: 'C' });
		const error = await refusal(subWorkflow([executeById('Run B', 'b')]));
		expect(error?.message).toMatch(/[Nn]ode "Deep Call" of workflow "C" \(run by node "B To C" of the workflow defined in node "B Inline" of workflow "B"/);
	});

	it('a cycle (A runs B, B runs A and itself) ends, and is read once per workflow', async () => {
		store('a', [trigger, executeById('A To B', 'b')]);
		store('b', [trigger, executeById('B To A', 'a'), executeById('B To B', 'b')]);
		expect(await refusal(subWorkflow([executeById('Run A', 'a')]))).toBeUndefined();
		expect(requests.map((request) => request.path).sort()).toEqual(['/workflows/a', '/workflows/b']);
	});

	it('a chain deeper than the bound is refused, saying so', async () => {
		for (let level = 0; level < 12; level++) store(`l${level}`, [trigger, executeById(`To ${level + 1}`, `l${level + 1}`)]);
		store('l12', [trigger]);
		expect((await refusal(subWorkflow([executeById('Run Chain', 'l0')])))?.message).toMatch(/nested more than 8 deep/);
	});
});

describe('tool and retriever workflows', () => {
	it('refuses a tool workflow (by ID, and inline) and a retriever workflow whose workflow uses the placeholder', async () => {
		store('tool', [trigger, http('Tool Call', PLACEHOLDER)], { name: 'Tool' });
		const tool: WorkflowNode = { name: 'Lookup Tool', type: '@n8n/n8n-nodes-langchain.toolWorkflow', typeVersion: 2.2, parameters: { workflowId: { __rl: true, mode: 'list', value: 'tool' } } };
		expect((await refusal(subWorkflow([tool])))?.message).toMatch(/[Nn]ode "Tool Call" of workflow "Tool" \(run by node "Lookup Tool"/);
		const toolV1: WorkflowNode = { name: 'Old Tool', type: '@n8n/n8n-nodes-langchain.toolWorkflow', typeVersion: 1.1, parameters: { workflowId: 'tool' } };
		expect((await refusal(subWorkflow([toolV1])))?.message).toMatch(/run by node "Old Tool"/);
		const inlineTool: WorkflowNode = {
			name: 'Inline Tool',
			type: '@n8n/n8n-nodes-langchain.toolWorkflow',
			typeVersion: 2.2,
			parameters: { source: 'parameter', workflowJson: JSON.stringify({ nodes: [http('Inline Tool Call', PLACEHOLDER)], connections: {} }) },
		};
		expect((await refusal(subWorkflow([inlineTool])))?.message).toMatch(/[Nn]ode "Inline Tool Call" of the workflow defined in node "Inline Tool"/);
		const retriever: WorkflowNode = { name: 'Retriever', type: '@n8n/n8n-nodes-langchain.retrieverWorkflow', typeVersion: 1.1, parameters: { workflowId: { __rl: true, mode: 'id', value: 'tool' } } };
		expect((await refusal(subWorkflow([retriever])))?.message).toMatch(/run by node "Retriever"/);
	});

	it('runs a tool workflow without the placeholder', async () => {
		store('tool', [trigger, http('Tool Call', 'fixed-log')]);
		const tool: WorkflowNode = { name: 'Lookup Tool', type: '@n8n/n8n-nodes-langchain.toolWorkflow', typeVersion: 2.2, parameters: { workflowId: { __rl: true, mode: 'list', value: 'tool' } } };
		expect(await refusal(subWorkflow([tool]))).toBeUndefined();
	});
});

describe('the error workflow', () => {
	it("refuses a sub-workflow whose error workflow (published) uses the placeholder; runs one that does not", async () => {
		const errorTrigger: WorkflowNode = { name: 'Error Trigger', type: 'n8n-nodes-base.errorTrigger', typeVersion: 1, parameters: {} };
		store('errors', [errorTrigger, http('Alert Tenant', PLACEHOLDER)], { name: 'Errors' });
		const error = await refusal(subWorkflow([http('Call Tenant API', PLACEHOLDER)], { errorWorkflow: 'errors' }));
		expect(error?.message).toMatch(/[Nn]ode "Alert Tenant" of workflow "Errors" \(the error workflow of sub-workflow "Tenant API"\) uses the placeholder/);
		store('quiet', [errorTrigger, http('Alert Ops', 'fixed-log')]);
		expect(await refusal(subWorkflow([http('Call Tenant API', PLACEHOLDER)], { errorWorkflow: 'quiet' }))).toBeUndefined();
	});

	it('n8n runs only a published error workflow: a draft with the placeholder never runs; the error workflow of a called workflow counts too', async () => {
		store('draft-errors', [http('Alert Tenant', PLACEHOLDER)], { published: null });
		expect(await refusal(subWorkflow([], { errorWorkflow: 'draft-errors' }), { ...context, draft: true })).toBeUndefined();
		store('errors', [http('Alert Tenant', PLACEHOLDER)]);
		store('called', [trigger], { settings: { errorWorkflow: 'errors' } });
		expect((await refusal(subWorkflow([executeById('Run Called', 'called')])))?.message).toMatch(/the error workflow of workflow "workflow called"/);
	});
});

describe('pausing nodes', () => {
	it('refuses a Wait for a webhook, a long interval and a form in the sub-workflow, naming the node, before reading anything', async () => {
		for (const node of [wait('Wait For Webhook', { resume: 'webhook' }), wait('Wait Long', { amount: 2, unit: 'minutes' }), { name: 'Ask', type: 'n8n-nodes-base.form', typeVersion: 1, parameters: {} }]) {
			const error = await refusal(subWorkflow([node]));
			expect(error?.message).toMatch(new RegExp(`[Nn]ode "${node.name}" of sub-workflow "Tenant API" can pause the execution`));
			expect(error?.options.description).toMatch(/park the calling execution/);
		}
		const sendAndWait: WorkflowNode = { name: 'Approve', type: 'n8n-nodes-base.slack', typeVersion: 2.3, parameters: { operation: 'sendAndWait' } };
		expect((await refusal(subWorkflow([sendAndWait])))?.message).toMatch(/"Approve"/);
		expect(requests).toHaveLength(0);
	});

	it('allows a Wait of a fixed interval under 65 s (it sleeps in the running execution) and a disabled Wait', async () => {
		expect(await refusal(subWorkflow([wait('Short Wait', { amount: 2, unit: 'seconds' }), { ...wait('Off', { resume: 'webhook' }), disabled: true }]))).toBeUndefined();
	});

	it('refuses a pausing node in a workflow the sub-workflow runs and waits for; not in one it does not wait for, nor in its error workflow', async () => {
		store('waits', [trigger, wait('Nested Wait', { resume: 'webhook' })], { name: 'Waits' });
		expect((await refusal(subWorkflow([executeById('Run Waits', 'waits')])))?.message).toMatch(/[Nn]ode "Nested Wait" of workflow "Waits" \(run by node "Run Waits".*can pause/);
		expect(await refusal(subWorkflow([executeById('Fire And Forget', 'waits', { options: { waitForSubWorkflow: false } })]))).toBeUndefined();
		expect(await refusal(subWorkflow([], { errorWorkflow: 'waits' }))).toBeUndefined();
	});
});

describe('cost: verdicts are kept per sub-workflow version', () => {
	it('a steady stream of calls reads each called workflow once; a new version of the sub-workflow is checked again', async () => {
		let now = 1_000_000;
		jest.spyOn(Date, 'now').mockImplementation(() => now);
		store('called', [trigger, http('Send Report', 'fixed-log')]);
		const workflow = subWorkflow([executeById('Run Reporting', 'called')]);
		for (let call = 0; call < 200; call++) {
			// Each execution gets its own LoadedSubWorkflow, over the cached version's nodes.
			expect(await refusal({ ...workflow })).toBeUndefined();
			now += 20;
		}
		// 200 calls over 4 s: one read.
		expect(requests).toHaveLength(1);
		const changed = { ...workflow, nodes: [...workflow.nodes, executeInline('Run Inline', [http('Inline Call', PLACEHOLDER)])] };
		expect((await refusal(changed))?.message).toMatch(/"Inline Call"/);
		// A refusal is kept the same way (no read for a refused version either).
		const before = requests.length;
		expect((await refusal({ ...changed }))?.message).toMatch(/"Inline Call"/);
		expect(requests).toHaveLength(before);
	});

	it('after the cache age the verdict is checked again with the cached copy (no wait for the API), and sees a called workflow change', async () => {
		let now = 2_000_000;
		jest.spyOn(Date, 'now').mockImplementation(() => now);
		store('called', [trigger, http('Send Report', 'fixed-log')]);
		const workflow = subWorkflow([executeById('Run Reporting', 'called')]);
		expect(await refusal(workflow)).toBeUndefined();
		store('called', [trigger, http('Send Report', PLACEHOLDER)]);
		now += 6_000;
		// The copy read 6 s ago is used once more while one background read refreshes it.
		expect(await refusal(workflow)).toBeUndefined();
		await new Promise((resolve) => setImmediate(resolve));
		now += 6_000;
		expect((await refusal(workflow))?.message).toMatch(/"Send Report"/);
	});

	it('manual executions read called workflows afresh: once for all items of an execution, again for the next execution', async () => {
		store('called', [trigger, http('Send Report', 'fixed-log')]);
		const manual = { ...context, draft: true };
		// An execution reads the sub-workflow once (its nodes shared by its items); the next one reads it again.
		const firstExecution = subWorkflow([executeById('Run Reporting', 'called')]);
		for (let item = 0; item < 10; item++) expect(await refusal({ ...firstExecution }, manual)).toBeUndefined();
		expect(requests).toHaveLength(1);
		store('called', [trigger, http('Send Report', PLACEHOLDER)]);
		const nextExecution = subWorkflow([executeById('Run Reporting', 'called')]);
		expect((await refusal(nextExecution, manual))?.message).toMatch(/"Send Report"/);
		expect(requests).toHaveLength(2);
	});
});
