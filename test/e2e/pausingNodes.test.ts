/**
 * A Wait node that pauses the execution between Tenant Credential Swap and Release Lock, in a real n8n
 * 2.40.7 running the packed package (issue 17, finding 6): the swap refuses to run, naming the Wait,
 * before it takes the lock or touches the base credential. Control: a 5 s Wait (n8n keeps it in the
 * running execution) swaps as usual.
 */
import { headerAuthBase, lockHolder, startE2eStack, type E2eStack } from '../helpers/e2eStack';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const workflows = require('../harness/workflows.js');

jest.setTimeout(600_000);

let stack: E2eStack;

beforeAll(async () => {
	stack = await startE2eStack();
});

afterAll(async () => {
	await stack?.stop();
});

async function deployWithWait(path: string, parameters: Record<string, unknown>) {
	const { api, n8nApi, postgres, echo } = stack;
	const baseCredential = await headerAuthBase(api, `base (${path})`);
	const workflow = workflows.exampleWorkflow({ name: path, path, baseCredential, n8nApi, postgres, echoUrl: echo.url });
	workflows.insertAfterSwap(workflow, {
		id: 'wait',
		name: 'Wait For Approval',
		type: 'n8n-nodes-base.wait',
		typeVersion: 1.1,
		position: [330, 200],
		webhookId: `${path}-wait`,
		parameters,
	});
	return { baseCredential, workflow: await api.deployWorkflow(workflow) };
}

it('a Wait that pauses (2 minutes) is refused, naming it, and the base credential and lock stay untouched', async () => {
	const { baseCredential, workflow } = await deployWithWait('paused-wait', { resume: 'timeInterval', amount: 2, unit: 'minutes' });
	const before = await stack.api.getCredential(baseCredential.id);
	const response = await stack.api.callWebhook('paused-wait', { body: { tenantId: 't1', secret: 'secret-paused' } });
	expect(response.status).toBe(500);
	const [execution] = await stack.api.waitForExecutions({ workflowId: workflow.id, count: 1, includeData: true, timeoutMs: 60_000 });
	const error = execution.data?.resultData?.error;
	expect(error?.message).toMatch(/"Wait For Approval" can pause this execution while it holds the lock of this Tenant Credential Swap: put Release Lock before it/);
	expect(error?.description).toMatch(/covered by the Lock TTL/);
	expect((await stack.api.getCredential(baseCredential.id)).updatedAt).toBe(before.updatedAt);
	expect(await lockHolder(baseCredential.id)).toBeNull();
});

it('control: a 5 s Wait (kept in the running execution) swaps and answers as usual', async () => {
	await deployWithWait('short-wait', { resume: 'timeInterval', amount: 5, unit: 'seconds' });
	const response = await stack.api.callWebhook('short-wait', { body: { tenantId: 't1', secret: 'secret-short' } });
	expect(response.status).toBe(200);
	expect(response.body.tenantSecret).toBe('secret-short');
});
