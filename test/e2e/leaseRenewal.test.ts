/**
 * Lease renewal in a real n8n 2.40.7 running the packed package: a node slower than 2x the Lock TTL
 * between swap and release keeps the lock (nothing bleeds), and an execution that fails after the
 * swap frees its lock within seconds, without an error workflow and long before the TTL.
 * Each claim has its control: the same workflow with "Renew Lock While Running" off.
 */
import { headerAuthBase as headerAuthBaseIn, lockHolder, startE2eStack, waitUntil, type E2eStack, type Ref } from '../helpers/e2eStack';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const workflows = require('../harness/workflows.js');

jest.setTimeout(600_000);

let stack: E2eStack;
let n8n: any;
let api: any;
let echo: E2eStack['echo'];
let n8nApi: Ref;
let postgres: Ref;

beforeAll(async () => {
	stack = await startE2eStack();
	({ n8n, api, echo, n8nApi, postgres } = stack);
});

afterAll(async () => {
	await stack?.stop();
});

const TTL_SECONDS = 2;
const SLOW_SECONDS = 5;

const headerAuthBase = async (name: string) => await headerAuthBaseIn(api, name);

/** Webhook -> swap (TTL 2 s) -> Wait 5 s -> Call Tenant API -> Release Lock. */
function slowWorkflow(name: string, path: string, baseCredential: Ref, renewLock: boolean) {
	const workflow = workflows.exampleWorkflow({ name, path, baseCredential, n8nApi, postgres, echoUrl: echo.url });
	workflows.withSwapOptions(workflow, { lockTtl: TTL_SECONDS, renewLock });
	return workflows.insertAfterSwap(workflow, {
		id: 'slow',
		name: 'Slow Step',
		type: 'n8n-nodes-base.wait',
		typeVersion: 1.1,
		position: [330, 200],
		webhookId: `${path}-wait`,
		parameters: { resume: 'timeInterval', amount: SLOW_SECONDS, unit: 'seconds' },
	});
}

/** Three tenants at once on one base credential; what each saw after the slow step. */
async function fireTenants(path: string) {
	const tenants = ['t1', 't2', 't3'];
	return await Promise.all(
		tenants.map(async (tenant) => {
			const secret = `renewal-secret-${tenant}-QxZ`;
			const response = await api.callWebhook(path, { body: { tenantId: tenant, secret } });
			return { tenant, status: response.status, ownSecret: response.body?.tenantSecret === secret };
		}),
	);
}

describe(`a node slower than 2x the Lock TTL (${SLOW_SECONDS} s vs ${TTL_SECONDS} s) between swap and release`, () => {
	it('control, renewal off: the lock runs out mid-section and a tenant sees another tenant\'s secret or loses its lock', async () => {
		const baseCredential = await headerAuthBase('base (slow, no renewal)');
		await api.deployWorkflow(slowWorkflow('slow without renewal', 'slow-bare', baseCredential, false));
		const answers = await fireTenants('slow-bare');
		// Release Lock fails an execution whose lock was taken over (its nodes may have used another tenant's data).
		const harmed = answers.filter((answer) => answer.status !== 200 || !answer.ownSecret);
		expect(harmed.length).toBeGreaterThan(0);
	});

	it('renewal on (default): every tenant keeps the lock through the slow node and sees only its own secret', async () => {
		const baseCredential = await headerAuthBase('base (slow, renewal)');
		await api.deployWorkflow(slowWorkflow('slow with renewal', 'slow-renewed', baseCredential, true));
		const answers = await fireTenants('slow-renewed');
		expect(answers.filter((answer) => answer.status !== 200 || !answer.ownSecret)).toEqual([]);
	});
});

describe('an execution that fails after the swap, with no error workflow', () => {
	function failingWorkflow(name: string, path: string, baseCredential: Ref, renewLock: boolean) {
		const workflow = workflows.exampleWorkflow({ name, path, baseCredential, n8nApi, postgres, echoUrl: echo.url });
		// A long TTL: a lock freed within the test's limit can only have been freed by the renewal's check.
		workflows.withSwapOptions(workflow, { lockTtl: 300, renewLock });
		return workflows.insertBeforeRelease(workflow, {
			id: 'fail',
			name: 'Fail',
			type: 'n8n-nodes-base.stopAndError',
			typeVersion: 1,
			position: [550, 200],
			parameters: { errorMessage: 'failing on purpose between swap and release' },
		});
	}

	it('renewal on: the lock is freed within seconds, long before its 300 s TTL, and the next execution gets it', async () => {
		const baseCredential = await headerAuthBase('base (fails, renewal)');
		await api.deployWorkflow(failingWorkflow('fails with renewal', 'fails-renewed', baseCredential, true));
		const response = await api.callWebhook('fails-renewed', { body: { tenantId: 't', secret: 'secret-failing' } });
		expect(response.status).toBe(500);
		const freed = await waitUntil(async () => (await lockHolder(baseCredential.id)) === null, 60_000);
		if (!freed) process.stderr.write(`n8n log:\n${n8n.readLog().split('\n').slice(-40).join('\n')}\n`);
		expect(freed).toBe(true);

		await api.deployWorkflow(
			workflows.exampleWorkflow({ name: 'next after failure', path: 'next-after-failure', baseCredential, n8nApi, postgres, echoUrl: echo.url, waitTimeout: 10 }),
		);
		const next = await api.callWebhook('next-after-failure', { body: { tenantId: 't2', secret: 'secret-next' } });
		expect(next.status).toBe(200);
		expect(next.body.tenantSecret).toBe('secret-next');
	});

	it('control, renewal off: the same failure keeps the lock held (until the TTL)', async () => {
		const baseCredential = await headerAuthBase('base (fails, no renewal)');
		await api.deployWorkflow(failingWorkflow('fails without renewal', 'fails-bare-renewal', baseCredential, false));
		const response = await api.callWebhook('fails-bare-renewal', { body: { tenantId: 't', secret: 'secret-failing-2' } });
		expect(response.status).toBe(500);
		// As long as the renewal case was given, and then some: still held.
		await new Promise((resolve) => setTimeout(resolve, 10_000));
		expect(await lockHolder(baseCredential.id)).not.toBeNull();
	});
});
