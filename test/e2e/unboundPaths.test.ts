/**
 * Paths of a sub-workflow that Run With Tenant Credential never rebinds, and waiting sub-workflows
 * (issue 18, points 1 and 2), in a real n8n 2.40.7 running the packed package, n8n on PostgreSQL, the
 * echo service as the tenant API. Refused before anything runs: a workflow the sub-workflow runs (by ID,
 * inline) or its error workflow that uses the placeholder credential, and a node that can pause. Paths
 * without the placeholder run. Controls: a build of the same package with the check replaced by a no-op
 * (installed beside it under another name, test/helpers/controlPackage.ts) runs the same workflows: the
 * nested path reaches the tenant API with the placeholder's secret, the error workflow too, and a Wait
 * parks the calling execution. Tool workflows need an AI Agent and a model (none here): unit tests only.
 */
import { controlTarball } from '../helpers/controlPackage';
import { startE2eStack, waitUntil, type E2eStack, type Ref } from '../helpers/e2eStack';
import { digest, executionError, headerAuthPlaceholder, PLACEHOLDER_SECRET, redactSecrets, reportFailures, secretFor, seenSecret, tenantCredentials } from '../helpers/runWithTenant';

/* eslint-disable @typescript-eslint/no-require-imports */
const workflows = require('../harness/workflows.js');
const { packPackage } = require('../harness/n8n.js');
/* eslint-enable @typescript-eslint/no-require-imports */

jest.setTimeout(900_000);

const NODE = workflows.RUN_WITH_TENANT as string;
const RUN = Math.random().toString(36).slice(2, 8);
const HEADER_OPTIONS = { allowedFields: 'name,value', credentialType: 'httpHeaderAuth' };
const FIXED_SECRET = 'fixed-logger-secret';

let stack: E2eStack;
let api: any;
let echo: E2eStack['echo'];
let n8nApi: Ref;
let postgres: Ref;
let controlType: string;
let placeholder: Ref;
let fixed: Ref;

beforeAll(async () => {
	const tarball = await packPackage(process.cwd());
	const control = await controlTarball(tarball, { module: 'nodes/shared/tenantCredentials/unboundPaths', exported: 'refuseUnboundPaths' });
	controlType = control.nodeType;
	// startE2eStack packs the package itself unless told which tarball to use (packPackage reads this variable).
	const preset = process.env.TENANT_SWAP_PACKAGE_TARBALL;
	process.env.TENANT_SWAP_PACKAGE_TARBALL = tarball;
	try {
		stack = await startE2eStack({ extraPackageTarballs: [control.tarball] });
	} finally {
		if (preset === undefined) delete process.env.TENANT_SWAP_PACKAGE_TARBALL;
		else process.env.TENANT_SWAP_PACKAGE_TARBALL = preset;
	}
	({ api, echo, n8nApi, postgres } = stack);
	placeholder = await headerAuthPlaceholder(api, 'placeholder (unbound paths)');
	fixed = await api.createCredential({ name: 'logger (fixed)', type: 'httpHeaderAuth', data: { name: 'x-tenant-secret', value: FIXED_SECRET } });
});

afterAll(async () => {
	await stack?.stop();
});

const trigger = () => ({
	id: 'sub-trigger',
	name: workflows.SUB_TRIGGER,
	type: 'n8n-nodes-base.executeWorkflowTrigger',
	typeVersion: 1.1,
	position: [0, 0],
	parameters: { inputSource: 'passthrough' },
});

/** Execute Workflow Trigger (or Error Trigger) -> HTTP GET echo `?from=<from>` with `credential`. */
function callingWorkflow(name: string, credential: Ref, from: string, first: any = trigger()) {
	const call = workflows.httpCallNode({ name: 'Nested Call', url: `${echo.url}/echo?from=${from}`, genericAuthType: 'httpHeaderAuth', credential });
	return {
		name,
		settings: { executionOrder: 'v1' },
		nodes: [first, { ...call, position: [220, 0] }],
		connections: { [first.name]: { main: [[{ node: 'Nested Call', type: 'main', index: 0 }]] } },
	};
}

const executeById = (id: string) => ({
	id: 'run-nested',
	name: 'Run Nested',
	type: 'n8n-nodes-base.executeWorkflow',
	typeVersion: 1.1,
	position: [0, 0],
	parameters: { source: 'database', workflowId: { __rl: true, mode: 'id', value: id }, mode: 'once', options: {} },
});
const executeInline = (json: unknown) => ({
	id: 'run-nested',
	name: 'Run Nested',
	type: 'n8n-nodes-base.executeWorkflow',
	typeVersion: 1.1,
	position: [0, 0],
	parameters: { source: 'parameter', workflowJson: JSON.stringify(json), mode: 'once', options: {} },
});

/** A published sub-workflow: trigger -> Call Tenant API (placeholder) -> Pick -> extra nodes. */
async function subWorkflow(name: string, o: { extraNodes?: any[]; settings?: Record<string, unknown> } = {}) {
	const json = workflows.tenantSubWorkflow({ name, kind: 'headerAuth', echoUrl: echo.url, credential: placeholder, extraNodes: o.extraNodes ?? [] });
	json.settings = { ...json.settings, ...(o.settings ?? {}) };
	const sub = await api.createWorkflow(json);
	await api.activateWorkflow(sub.id);
	return sub as { id: string };
}

async function published(json: any) {
	const workflow = await api.createWorkflow(json);
	await api.activateWorkflow(workflow.id);
	return workflow as { id: string };
}

/** Webhook -> [before] -> Run With Tenant Credential (the real node, or the control build's). */
async function parent(path: string, subWorkflowId: string, o: { control?: boolean; before?: any[]; respondAtOnce?: boolean } = {}) {
	const json = workflows.runWithTenantWorkflow({ name: path, path, subWorkflowId, n8nApi, postgres, kind: 'headerAuth', echoUrl: echo.url, options: HEADER_OPTIONS, before: o.before });
	const node = json.nodes.find((candidate: any) => candidate.name === NODE);
	if (o.control) node.type = controlType;
	if (o.respondAtOnce) json.nodes[0].parameters.responseMode = 'onReceived';
	return (await api.deployWorkflow(json)) as { id: string };
}

const nestedCalls = (from: string) => echo.requests.filter((request) => request.path === '/echo' && request.query?.from === from);
const sawPlaceholder = (from: string) => nestedCalls(from).filter((request) => request.headers['x-tenant-secret'] === PLACEHOLDER_SECRET).length;
const tenantApiCalls = () => echo.requests.filter((request) => request.path === '/echo').length;

/** The newest finished webhook execution of the workflow, with its data. */
async function lastExecution(workflowId: string, statuses = ['error', 'success', 'crashed']): Promise<any> {
	let found: any;
	const done = await waitUntil(async () => {
		const executions = await api.getExecutions({ workflowId, includeData: true });
		found = executions.find((execution: any) => execution.mode === 'webhook' && statuses.includes(execution.status));
		return Boolean(found);
	}, 60_000);
	if (!done) throw new Error(`no ${statuses.join('/')} webhook execution of workflow ${workflowId}`);
	return found;
}

/** One call must be refused in our node before anything ran: the error matches, no credential, the tenant API got nothing. */
async function expectRefused(path: string, workflowId: string, tenant: string, patterns: RegExp[]) {
	const before = tenantApiCalls();
	const secret = secretFor(tenant, RUN);
	const response = await api.callWebhook(path, { body: { tenantId: tenant, secret } });
	const execution = await lastExecution(workflowId);
	const error = executionError(execution);
	const text = redactSecrets(`${error.message} | ${error.description}`);
	process.stderr.write(`[unbound paths] ${path}: HTTP ${response.status}; ${text.slice(0, 260)}\n`);
	expect(response.status).toBe(500);
	expect(error.node).toBe(NODE);
	for (const pattern of patterns) expect(text).toMatch(pattern);
	expect(`${error.message}${error.description}`.includes(secret)).toBe(false);
	expect(await tenantCredentials(api, tenant)).toEqual([]);
	expect(tenantApiCalls()).toBe(before);
}

describe('(a) a nested Execute Workflow', () => {
	it('by ID: a called workflow on its own credential runs; one on the placeholder is refused; control: without the check it calls with the placeholder', async () => {
		const good = await published(callingWorkflow('nested on its own credential', fixed, 'nested-fixed'));
		const bad = await published(callingWorkflow('nested on the placeholder', placeholder, 'nested-placeholder'));
		const goodSub = await subWorkflow('sub-workflow calling a fixed-credential workflow', { extraNodes: [executeById(good.id)] });
		const badSub = await subWorkflow('sub-workflow calling a placeholder workflow', { extraNodes: [executeById(bad.id)] });

		const supported = await parent('nested-id-ok', goodSub.id);
		const secret = secretFor('a1', RUN);
		const answer = await api.callWebhook('nested-id-ok', { body: { tenantId: 'a1', secret } });
		if (answer.status !== 200) await reportFailures(api, supported.id);
		expect(answer.status).toBe(200);
		// The sub-workflow's own call got the tenant's secret; the nested call its fixed credential, never the placeholder.
		expect(echo.requests.some((request) => request.path === '/echo' && request.query?.from === undefined && request.headers['x-tenant-secret'] === secret)).toBe(true);
		expect(seenSecret(answer.body)).toBe(digest(FIXED_SECRET));
		expect(sawPlaceholder('nested-fixed')).toBe(0);

		const refused = await parent('nested-id-refused', badSub.id);
		await expectRefused('nested-id-refused', refused.id, 'a2', [/"Run Nested"/, /"Nested Call"/, /nested on the placeholder/, /uses the placeholder credential/]);
		expect(nestedCalls('nested-placeholder')).toHaveLength(0);

		const control = await parent('nested-id-control', badSub.id, { control: true });
		const controlAnswer = await api.callWebhook('nested-id-control', { body: { tenantId: 'a3', secret: secretFor('a3', RUN) } });
		process.stderr.write(`[unbound paths] control (by ID): HTTP ${controlAnswer.status}, the nested call saw the placeholder ${sawPlaceholder('nested-placeholder')} time(s)\n`);
		if (controlAnswer.status !== 200) await reportFailures(api, control.id);
		expect(controlAnswer.status).toBe(200);
		expect(seenSecret(controlAnswer.body)).toBe(digest(PLACEHOLDER_SECRET));
		expect(sawPlaceholder('nested-placeholder')).toBe(1);
	});

	it('inline (Source: Define Below): on its own credential it runs; on the placeholder it is refused; control: without the check it calls with the placeholder', async () => {
		const goodSub = await subWorkflow('sub-workflow with an inline fixed-credential workflow', { extraNodes: [executeInline(callingWorkflow('inline fixed', fixed, 'inline-fixed'))] });
		const badSub = await subWorkflow('sub-workflow with an inline placeholder workflow', { extraNodes: [executeInline(callingWorkflow('inline placeholder', placeholder, 'inline-placeholder'))] });

		const supported = await parent('nested-inline-ok', goodSub.id);
		const answer = await api.callWebhook('nested-inline-ok', { body: { tenantId: 'a4', secret: secretFor('a4', RUN) } });
		if (answer.status !== 200) await reportFailures(api, supported.id);
		expect(answer.status).toBe(200);
		expect(seenSecret(answer.body)).toBe(digest(FIXED_SECRET));

		const refused = await parent('nested-inline-refused', badSub.id);
		await expectRefused('nested-inline-refused', refused.id, 'a5', [/"Nested Call" of the workflow defined in node "Run Nested"/, /uses the placeholder credential/]);

		await parent('nested-inline-control', badSub.id, { control: true });
		const controlAnswer = await api.callWebhook('nested-inline-control', { body: { tenantId: 'a6', secret: secretFor('a6', RUN) } });
		process.stderr.write(`[unbound paths] control (inline): HTTP ${controlAnswer.status}, the nested call saw the placeholder ${sawPlaceholder('inline-placeholder')} time(s)\n`);
		expect(controlAnswer.status).toBe(200);
		expect(seenSecret(controlAnswer.body)).toBe(digest(PLACEHOLDER_SECRET));
		expect(sawPlaceholder('inline-placeholder')).toBe(1);
	});
});

describe('(b) the error workflow', () => {
	it('one using the placeholder is refused; control: without the check a failing sub-execution runs it and it calls with the placeholder', async () => {
		const errorTrigger = { id: 'error-trigger', name: 'Error Trigger', type: 'n8n-nodes-base.errorTrigger', typeVersion: 1, position: [0, 0], parameters: {} };
		const errorWorkflow = await published(callingWorkflow('error workflow on the placeholder', placeholder, 'error-workflow', errorTrigger));
		const failing = await subWorkflow('failing sub-workflow with an error workflow', {
			extraNodes: [workflows.stopAndErrorNode('failing on purpose')],
			settings: { errorWorkflow: errorWorkflow.id },
		});
		const refused = await parent('error-workflow-refused', failing.id);
		await expectRefused('error-workflow-refused', refused.id, 'b1', [/the error workflow of sub-workflow/, /"Nested Call"/, /uses the placeholder credential/]);

		await parent('error-workflow-control', failing.id, { control: true });
		const controlAnswer = await api.callWebhook('error-workflow-control', { body: { tenantId: 'b2', secret: secretFor('b2', RUN) } });
		expect(controlAnswer.status).toBe(500);
		// n8n 2.40.7 runs the sub-workflow's error workflow after the inline sub-execution fails (its lifecycle hooks for sub-executions).
		const ran = await waitUntil(() => sawPlaceholder('error-workflow') > 0, 60_000);
		process.stderr.write(`[unbound paths] control (error workflow): the error workflow ${ran ? 'ran and called with the placeholder' : 'did NOT run'}\n`);
		expect(ran).toBe(true);
	});
});

describe('(d) a Wait in the sub-workflow', () => {
	const TENANTS = Array.from({ length: 10 }, (_, i) => `d${i}`);
	const waitNode = { id: 'wait', name: 'Wait For Callback', type: 'n8n-nodes-base.wait', typeVersion: 1.1, position: [0, 0], webhookId: `wait-${RUN}`, parameters: { resume: 'webhook', options: {} } };
	const split = workflows.codeNode('Split Tenants', 'return $input.first().json.body.tenants.map((t) => ({ json: { body: t } }));');
	const body = () => ({ tenants: TENANTS.map((tenant) => ({ tenantId: tenant, secret: secretFor(tenant, RUN) })) });
	let waiting: { id: string };

	beforeAll(async () => {
		waiting = await subWorkflow('sub-workflow waiting for a webhook', { extraNodes: [waitNode] });
	});

	it('10 tenants in one execution: refused at the first call naming the Wait, no credential made, the tenant API got nothing', async () => {
		const workflow = await parent('wait-one-execution', waiting.id, { before: [split] });
		const before = tenantApiCalls();
		const response = await api.callWebhook('wait-one-execution', { body: body() });
		const execution = await lastExecution(workflow.id);
		const error = executionError(execution);
		process.stderr.write(`[unbound paths] wait, one execution: HTTP ${response.status}; ${redactSecrets(error.message)}\n`);
		expect(response.status).toBe(500);
		expect(error.node).toBe(NODE);
		expect(error.message).toMatch(/"Wait For Callback" of sub-workflow "sub-workflow waiting for a webhook" can pause the execution/);
		for (const tenant of TENANTS) expect(await tenantCredentials(api, tenant)).toEqual([]);
		expect(tenantApiCalls()).toBe(before);
	});

	it('10 tenants across 10 executions: each refused, no credential made', async () => {
		const workflow = await parent('wait-executions', waiting.id);
		const before = tenantApiCalls();
		const answers = await Promise.all(TENANTS.map(async (tenant) => await api.callWebhook('wait-executions', { body: { tenantId: tenant, secret: secretFor(tenant, RUN) } })));
		expect(answers.map((answer: { status: number }) => answer.status)).toEqual(TENANTS.map(() => 500));
		const executions = await api.getExecutions({ workflowId: workflow.id, includeData: true });
		const errors = executions.filter((execution: any) => execution.mode === 'webhook').map((execution: any) => executionError(execution));
		expect(errors).toHaveLength(10);
		for (const error of errors) expect(error.message).toMatch(/"Wait For Callback".*can pause the execution/);
		for (const tenant of TENANTS) expect(await tenantCredentials(api, tenant)).toEqual([]);
		expect(tenantApiCalls()).toBe(before);
	});

	it('control: without the refusal, credentials are made and sub-executions are left waiting before the run-time backstop stops the node', async () => {
		const workflow = await parent('wait-control', waiting.id, { before: [split], control: true, respondAtOnce: true });
		const response = await api.callWebhook('wait-control', { body: body() });
		expect(response.status).toBe(200);
		// Let the execution settle where it settles (finished, or parked as waiting).
		let execution: any;
		await waitUntil(async () => {
			const executions = await api.getExecutions({ workflowId: workflow.id, includeData: true });
			execution = executions.find((candidate: any) => candidate.mode === 'webhook');
			return Boolean(execution) && execution.status !== 'running' && execution.status !== 'new';
		}, 120_000);
		const made = (await Promise.all(TENANTS.map(async (tenant) => (await tenantCredentials(api, tenant)).length))).reduce((a, b) => a + b, 0);
		const runs = execution?.data?.resultData?.runData?.[NODE] ?? [];
		const items = runs.flatMap((run: any) => (run.data?.main ?? []).flat());
		const subExecutions = new Set(items.map((item: any) => item?.metadata?.subExecution?.executionId).filter(Boolean));
		const waitingSubs = (await api.getExecutions({ status: 'waiting' })).filter((candidate: any) => candidate.id !== execution?.id).length;
		process.stderr.write(
			`[unbound paths] control (wait): parent execution ${execution?.id} status "${execution?.status}", waitTill ${execution?.waitTill ?? 'none'}; ` +
				`${made} tenant credentials made for ${TENANTS.length} tenants; node output: ${items.length} items from ${subExecutions.size} sub-executions; ` +
				`other executions waiting: ${waitingSubs}\n`,
		);
		// Without the refusal only the run-time backstop (a sub-execution came back waiting) stops it, after the
		// fact: tenants' credentials were made and their sub-executions are left waiting in n8n. The refusal
		// (tests above) makes none and runs none.
		expect(made).toBeGreaterThanOrEqual(1);
		expect(waitingSubs).toBeGreaterThanOrEqual(1);
		// The backstop keeps the calling execution from being parked by n8n (see runWithTenantParallel).
		expect(execution?.status).not.toBe('waiting');
	});

	it('a Wait of a fixed 2 s (n8n sleeps in the running execution) is allowed and answers with the tenant\'s secret', async () => {
		const shortWait = { ...waitNode, name: 'Short Wait', webhookId: `short-${RUN}`, parameters: { resume: 'timeInterval', amount: 2, unit: 'seconds' } };
		const sub = await subWorkflow('sub-workflow with a 2 s wait', { extraNodes: [shortWait] });
		const workflow = await parent('wait-short', sub.id);
		for (const tenant of ['s1', 's2']) {
			const secret = secretFor(tenant, RUN);
			const answer = await api.callWebhook('wait-short', { body: { tenantId: tenant, secret } });
			if (answer.status !== 200) await reportFailures(api, workflow.id);
			expect(answer.status).toBe(200);
			expect(seenSecret(answer.body)).toBe(digest(secret));
		}
	});
});
