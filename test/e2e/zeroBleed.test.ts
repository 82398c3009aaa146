/**
 * The product's promise in a real n8n 2.40.7 running our packed package, installed the way the
 * community nodes panel installs it: concurrent tenants never see each other's secret.
 * n8n runs on PostgreSQL: on SQLite n8n 2.40.7 ran these webhook executions one at a time here,
 * which hides bleed.
 */
import { headerAuthBase as headerAuthBaseIn, lockHolder, startE2eStack, waitUntil, type E2eStack, type Ref } from '../helpers/e2eStack';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const workflows = require('../harness/workflows.js');

jest.setTimeout(900_000);

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

interface Call {
	tenant: string;
	secret: string;
	path?: string;
}

function calls(count: number, tenants: number): Call[] {
	return Array.from({ length: count }, (_, i) => {
		const tenant = `t${String(i % tenants).padStart(2, '0')}`;
		return { tenant, secret: `secret-${tenant}-${i}-XyZ` };
	});
}

/** Fires every call at once; returns the failures and the calls that saw something other than their own. */
async function fire(path: string, list: Call[], seen: (body: any) => string | undefined, expected: (call: Call) => string) {
	const answers = await Promise.all(
		list.map(async (call) => {
			const response = await api.callWebhook(call.path ?? path, { body: { tenantId: call.tenant, secret: call.secret } });
			return { call, status: response.status, seen: seen(response.body) };
		}),
	);
	const failed = answers.filter((answer) => answer.status !== 200);
	const bled = answers.filter((answer) => answer.status === 200 && answer.seen !== expected(answer.call));
	return { failed, bled, answers };
}

/** Prints the distinct error messages of failed executions, so a red run says why. */
async function reportFailures(workflowId: string) {
	const executions = await api.getExecutions({ workflowId, includeData: true, status: 'error' });
	const messages = new Map<string, number>();
	for (const execution of executions) {
		const error = execution.data?.resultData?.error;
		const key = `${error?.node?.name ?? '?'}: ${error?.message ?? '?'} | ${error?.description ?? ''}`.slice(0, 400);
		messages.set(key, (messages.get(key) ?? 0) + 1);
	}
	process.stderr.write(`failed executions:\n${[...messages].map(([m, n]) => `  ${n} x ${m}`).join('\n')}\n`);
}

const headerAuthBase = async (name: string) => await headerAuthBaseIn(api, name);

const headerSeen = (body: any) => body?.tenantSecret;
const oauthSeen = (body: any) => body?.bearerClient;

describe('shared base credential (Header Auth), concurrent webhook calls', () => {
	it('the unlocked control bleeds (so the check can see bleed)', async () => {
		const baseCredential = await headerAuthBase('base (control)');
		await api.deployWorkflow(
			workflows.unlockedWorkflow({ name: 'control', path: 'control', kind: 'headerAuth', baseCredential, apiUrl: n8n.apiUrl, apiKey: n8n.apiKey, echoUrl: echo.url }),
		);
		const { failed, bled } = await fire('control', calls(60, 10), headerSeen, (call) => call.secret);
		expect(failed).toEqual([]);
		expect(bled.length).toBeGreaterThan(0);
	});

	it('the example workflow bleeds 0 of 200 calls over 20 tenants and leaves no temporary credential', async () => {
		const baseCredential = await headerAuthBase('base (locked)');
		const workflow = await api.deployWorkflow(
			workflows.exampleWorkflow({ name: 'locked', path: 'locked', baseCredential, n8nApi, postgres, echoUrl: echo.url }),
		);
		const { failed, bled, answers } = await fire('locked', calls(200, 20), headerSeen, (call) => call.secret);
		if (failed.length > 0) await reportFailures(workflow.id);
		expect(failed.map((f) => f.status)).toEqual([]);
		expect(bled.map((b) => `${b.call.tenant} saw ${b.seen}`)).toEqual([]);
		expect(answers[0].seen).toBe(answers[0].call.secret);
		const leftovers = (await api.listCredentials()).filter((c: Ref) => c.name.startsWith('tenant-swap tmp'));
		expect(leftovers).toEqual([]);

		// No tenant secret in what n8n stored of the swap's output (the webhook's own output has it,
		// and the echo service reports it back to the nodes after the swap, by design of this test).
		const executions = await api.waitForExecutions({ workflowId: workflow.id, count: 200, includeData: true, timeoutMs: 120_000 });
		for (const execution of executions.slice(0, 20)) {
			const runs = execution.data?.resultData?.runData?.['Tenant Credential Swap'] ?? [];
			const output = JSON.stringify(runs.map((run: any) => run.data));
			expect(output).toContain('tenantSwap');
			expect(output).not.toMatch(/secret-t\d\d-\d+-XyZ/);
		}
	});
});

describe('per-tenant base credentials, lock scope Tenant', () => {
	it('bleeds 0, and executions of different tenants run at the same time', async () => {
		const tenants = ['t00', 't01', 't02', 't03', 't04'];
		const workflowIds: string[] = [];
		for (const tenant of tenants) {
			const baseCredential = await headerAuthBase(`base (${tenant})`);
			const workflow = await api.deployWorkflow(
				workflows.exampleWorkflow({ name: `per-tenant ${tenant}`, path: `tenant-${tenant}`, baseCredential, n8nApi, postgres, echoUrl: echo.url, lockScope: 'tenant' }),
			);
			workflowIds.push(workflow.id);
		}
		const list = calls(100, tenants.length).map((call) => ({ ...call, path: `tenant-${call.tenant}` }));
		const { failed, bled } = await fire('', list, headerSeen, (call) => call.secret);
		expect(failed.map((f) => f.status)).toEqual([]);
		expect(bled).toEqual([]);

		// Overlap: some execution of one tenant ran while an execution of another tenant was running.
		const spans: Array<{ tenant: number; start: number; stop: number }> = [];
		for (const [tenant, workflowId] of workflowIds.entries()) {
			for (const execution of await api.waitForExecutions({ workflowId, count: 20, timeoutMs: 60_000 })) {
				spans.push({ tenant, start: Date.parse(execution.startedAt), stop: Date.parse(execution.stoppedAt) });
			}
		}
		const overlapping = spans.some((a) => spans.some((b) => a.tenant !== b.tenant && a.start < b.stop && b.start < a.stop));
		expect(overlapping).toBe(true);
	});
});

describe('examples/per-tenant-base-credentials.json', () => {
	it('routes each tenant to its own base credential and bleeds 0 of 40 concurrent calls', async () => {
		const acme = await headerAuthBase('Acme API (base)');
		const globex = await headerAuthBase('Globex API (base)');
		await api.deployWorkflow(workflows.perTenantExampleWorkflow({ path: 'per-tenant-example', acme, globex, n8nApi, postgres, echoUrl: echo.url }));
		const list = Array.from({ length: 40 }, (_, i) => {
			const tenant = i % 2 === 0 ? 'acme' : 'globex';
			return { tenant, secret: `secret-${tenant}-${i}` };
		});
		const { failed, bled } = await fire('per-tenant-example', list, headerSeen, (call) => call.secret);
		expect(failed.map((f) => f.status)).toEqual([]);
		expect(bled).toEqual([]);
	});
});

describe('a run that fails between swap and release', () => {
	function failingWorkflow(name: string, path: string, baseCredential: Ref, errorWorkflowId?: string) {
		const workflow = workflows.exampleWorkflow({ name, path, baseCredential, n8nApi, postgres, echoUrl: echo.url, errorWorkflowId });
		// Renewal off: these tests are about the TTL and the error workflow (leaseRenewal.test.ts covers renewal).
		workflows.withSwapOptions(workflow, { renewLock: false });
		return workflows.insertBeforeRelease(workflow, {
			id: 'fail',
			name: 'Fail',
			type: 'n8n-nodes-base.stopAndError',
			typeVersion: 1,
			position: [550, 200],
			parameters: { errorMessage: 'failing on purpose between swap and release' },
		});
	}

	it('without an error workflow the lock stays held until its TTL (control)', async () => {
		const baseCredential = await headerAuthBase('base (fails, no error workflow)');
		await api.deployWorkflow(failingWorkflow('fails without release', 'fails-bare', baseCredential));
		const response = await api.callWebhook('fails-bare', { body: { tenantId: 't', secret: 'secret-x' } });
		expect(response.status).toBe(500);
		expect(await lockHolder(baseCredential.id)).not.toBeNull();
	});

	it('the Error Trigger example frees the lock, and the next execution gets it without waiting for the TTL', async () => {
		const errorWorkflow = await api.createWorkflow(workflows.errorTriggerWorkflow({ postgres, name: 'release on error' }));
		// n8n 2.40.7 runs an error workflow only when it is active (published).
		await api.activateWorkflow(errorWorkflow.id);
		const baseCredential = await headerAuthBase('base (fails, error workflow)');
		await api.deployWorkflow(failingWorkflow('fails with error workflow', 'fails-handled', baseCredential, errorWorkflow.id));
		const response = await api.callWebhook('fails-handled', { body: { tenantId: 't', secret: 'secret-y' } });
		expect(response.status).toBe(500);
		// The Error Trigger workflow runs after the failed execution; the lock TTL is 120 s.
		const freed = await waitUntil(async () => (await lockHolder(baseCredential.id)) === null, 30_000);
		if (!freed) {
			const runs = await api.getExecutions({ workflowId: errorWorkflow.id, includeData: true });
			process.stderr.write(`error workflow runs: ${JSON.stringify(runs).slice(0, 3000)}\n`);
			process.stderr.write(`log: ${n8n.readLog().split('\n').filter((l: string) => /error/i.test(l)).slice(-30).join('\n')}\n`);
		}
		expect(freed).toBe(true);

		await api.deployWorkflow(
			workflows.exampleWorkflow({ name: 'next on same key', path: 'next-same-key', baseCredential, n8nApi, postgres, echoUrl: echo.url, waitTimeout: 10 }),
		);
		const next = await api.callWebhook('next-same-key', { body: { tenantId: 't', secret: 'secret-z' } });
		expect(next.status).toBe(200);
		expect(next.body.tenantSecret).toBe('secret-z');
	});
});

describe('OAuth2 client credentials through a local token endpoint', () => {
	const tenants = ['alpha', 'beta', 'gamma'];
	const oauthBase = async (name: string) =>
		await api.createCredential({
			name,
			type: 'oAuth2Api',
			data: { grantType: 'clientCredentials', accessTokenUrl: `${echo.url}/oauth/token`, clientId: 'nobody', clientSecret: 'x', authentication: 'body', scope: '' },
		});

	it("control: a partial PATCH keeps the first tenant's token, so later tenants use it", async () => {
		const baseCredential = await oauthBase('oauth base (control)');
		await api.deployWorkflow(
			workflows.unlockedWorkflow({ name: 'oauth control', path: 'oauth-control', kind: 'oauth2', baseCredential, apiUrl: n8n.apiUrl, apiKey: n8n.apiKey, echoUrl: echo.url, partialData: true }),
		);
		const seen: string[] = [];
		for (const tenant of tenants) {
			const response = await api.callWebhook('oauth-control', { body: { tenantId: tenant, secret: `${tenant}-client-secret` } });
			seen.push(oauthSeen(response.body));
		}
		expect(seen.filter((client, i) => client !== tenants[i]).length).toBeGreaterThan(0);
	});

	it('the swap gives every tenant its own token, sequentially and concurrently', async () => {
		const baseCredential = await oauthBase('oauth base (locked)');
		await api.deployWorkflow(
			workflows.lockedWorkflow({ name: 'oauth locked', path: 'oauth-locked', kind: 'oauth2', baseCredential, n8nApi, postgres, echoUrl: echo.url }),
		);
		const seen: string[] = [];
		for (const tenant of [...tenants, ...tenants]) {
			const response = await api.callWebhook('oauth-locked', { body: { tenantId: tenant, secret: `${tenant}-client-secret` } });
			expect(response.status).toBe(200);
			seen.push(oauthSeen(response.body));
		}
		expect(seen).toEqual([...tenants, ...tenants]);

		const list = Array.from({ length: 30 }, (_, i) => ({ tenant: tenants[i % 3], secret: `${tenants[i % 3]}-client-secret` }));
		const { failed, bled } = await fire('oauth-locked', list, oauthSeen, (call) => call.tenant);
		expect(failed.map((f) => f.status)).toEqual([]);
		expect(bled).toEqual([]);
	});
});

describe('what `npm run demo` and `npm run dev` import', () => {
	it('publishes the error workflow (n8n skips an unpublished one), and the example names it', async () => {
		// eslint-disable-next-line @typescript-eslint/no-require-imports
		const { deployStackContent } = require('../../scripts/lib/stack.js');
		const { workflows: deployed } = await deployStackContent(api, {
			apiUrl: n8n.apiUrl,
			apiKey: n8n.apiKey,
			postgresUrl: process.env.TEST_DATABASE_URL,
			echoUrl: echo.url,
			examplePath: 'stack-example',
			controlPath: 'stack-control',
		});
		expect((await api.getWorkflow(deployed.errorWorkflow.id)).active).toBe(true);
		const example = await api.getWorkflow(deployed.example.id);
		expect(example.active).toBe(true);
		expect(example.settings?.errorWorkflow).toBe(deployed.errorWorkflow.id);
	});
});
