/**
 * Tenants in parallel within one execution (issue 18, point 5), in a real n8n 2.40.7 running the packed
 * package: one webhook call carries 10 tenants' items; Run With Tenant Credential runs one sub-execution
 * per tenant, whose Call Tenant API asks the echo to answer 1.5 s later. The echo counts the requests it
 * holds unanswered at once (counted, not timed).
 *   - Tenants in Parallel 1 (the control): exactly one call in flight at a time;
 *   - Tenants in Parallel 4: more than one in flight, never more than 4;
 * and in both, every output item carries its own tenant's secret (0 bleed), in input order, paired with
 * its input item.
 */
import { startE2eStack, waitUntil, type E2eStack } from '../helpers/e2eStack';
import { digest, headerAuthPlaceholder, redactSecrets, secretFor, seenSecret } from '../helpers/runWithTenant';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const workflows = require('../harness/workflows.js');

jest.setTimeout(900_000);

const NODE = workflows.RUN_WITH_TENANT as string;
const RUN = Math.random().toString(36).slice(2, 8);
/** Not in alphabetical order: the output must follow the input, not the tenants' names. */
const TENANTS = ['p7', 'p2', 'p9', 'p0', 'p5', 'p3', 'p8', 'p1', 'p6', 'p4'];
const TENANT_API_DELAY_MS = 1500;

let stack: E2eStack;
let subWorkflowId: string;

beforeAll(async () => {
	stack = await startE2eStack();
	const placeholder = await headerAuthPlaceholder(stack.api, 'placeholder (parallel)');
	const sub = await stack.api.createWorkflow(
		workflows.tenantSubWorkflow({ name: 'sub-workflow (parallel)', kind: 'headerAuth', echoUrl: stack.echo.url, credential: placeholder, echoQueryFromBody: true }),
	);
	await stack.api.activateWorkflow(sub.id);
	subWorkflowId = sub.id;
});

afterAll(async () => {
	await stack?.stop();
});

/** Webhook -> Split Items (one per tenant) -> Run With Tenant Credential; one call, its finished execution. */
async function runTenantsAtOnce(path: string, tenantsInParallel: number) {
	const { api, n8nApi, postgres, echo } = stack;
	const split = workflows.codeNode('Split Items', 'return $input.first().json.body.items.map((body) => ({ json: { body } }));');
	const workflow = await api.deployWorkflow(
		workflows.runWithTenantWorkflow({
			name: `parallel ${tenantsInParallel}`,
			path,
			subWorkflowId,
			n8nApi,
			postgres,
			kind: 'headerAuth',
			echoUrl: echo.url,
			options: { allowedFields: 'name,value', credentialType: 'httpHeaderAuth', tenantsInParallel },
			before: [split],
		}),
	);
	echo.reset();
	const items = TENANTS.map((tenantId) => ({ tenantId, secret: secretFor(tenantId, RUN), delay: TENANT_API_DELAY_MS }));
	const response = await api.callWebhook(path, { body: { items } });
	let execution: any;
	const finished = await waitUntil(async () => {
		const executions = await api.getExecutions({ workflowId: workflow.id, includeData: true });
		execution = executions.find((candidate: any) => candidate.mode === 'webhook' && !['new', 'running', 'waiting'].includes(candidate.status));
		return Boolean(execution);
	}, 120_000);
	if (!finished) throw new Error(`no finished execution of ${path}`);
	const output = (execution.data.resultData.runData[NODE]?.[0]?.data?.main?.[0] ?? []) as Array<{ json: any; pairedItem?: unknown }>;
	const tenantApiCalls = echo.requests.filter((request: { path: string }) => request.path === '/echo').length;
	return { response, execution, output, peak: echo.peakInFlight, tenantApiCalls };
}

function expectOwnTenantsInOrder(output: Array<{ json: any; pairedItem?: unknown }>) {
	expect(output.length).toBe(TENANTS.length);
	const seen = output.map((item) => seenSecret(item.json));
	const expected = TENANTS.map((tenant) => digest(secretFor(tenant, RUN)));
	// Compared as digests (never a secret in a failure message): 0 bleed, and input order.
	expect(seen).toEqual(expected);
	expect(output.map((item) => item.pairedItem)).toEqual(TENANTS.map((_, index) => ({ item: index })));
	expect(redactSecrets(JSON.stringify(output))).toBe(JSON.stringify(output));
}

it('control: Tenants in Parallel 1 runs the 10 tenants one after another (1 call in flight at a time)', async () => {
	const { response, execution, output, peak, tenantApiCalls } = await runTenantsAtOnce('rwt-parallel-1', 1);
	expect(response.status).toBe(200);
	expect(execution.status).toBe('success');
	expect(tenantApiCalls).toBe(TENANTS.length);
	expect(peak).toBe(1);
	expectOwnTenantsInOrder(output);
});

it('Tenants in Parallel 4: more than one tenant API call in flight, never more than 4; every item its own tenant, in input order', async () => {
	const { response, execution, output, peak, tenantApiCalls } = await runTenantsAtOnce('rwt-parallel-4', 4);
	expect(response.status).toBe(200);
	expect(execution.status).toBe('success');
	expect(tenantApiCalls).toBe(TENANTS.length);
	expect(peak).toBeGreaterThan(1);
	expect(peak).toBeLessThanOrEqual(4);
	expectOwnTenantsInOrder(output);
	process.stderr.write(`[parallel] 10 tenants in one execution, Tenants in Parallel 4: peak ${peak} tenant API calls in flight\n`);
});
