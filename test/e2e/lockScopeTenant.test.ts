/**
 * Lock Scope "Tenant" on one shared base credential, in a real n8n 2.40.7 running our packed package
 * (issue 17, finding 10): it takes the base credential's lock besides the tenant's, so 100 concurrent
 * webhook calls over 20 tenants bleed 0. Before the fix it took `tenant:<id>` alone: 95 of 100 bled.
 *
 * The control gives exactly the exclusion the old key gave (one execution at a time per tenant, none
 * across tenants) by sending each tenant's calls one after another, tenants at once, to the unlocked
 * pattern: it must bleed, so the check can see bleed.
 */
import { headerAuthBase, startE2eStack, type E2eStack } from '../helpers/e2eStack';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const workflows = require('../harness/workflows.js');

jest.setTimeout(600_000);

const CALLS = 100;
const TENANTS = 20;

let stack: E2eStack;

beforeAll(async () => {
	stack = await startE2eStack();
});

afterAll(async () => {
	await stack?.stop();
});

interface Call {
	tenant: string;
	secret: string;
}

const calls: Call[] = Array.from({ length: CALLS }, (_, i) => {
	const tenant = `t${String(i % TENANTS).padStart(2, '0')}`;
	return { tenant, secret: `secret-${tenant}-${i}-XyZ` };
});

async function call(path: string, { tenant, secret }: Call) {
	const response = await stack.api.callWebhook(path, { body: { tenantId: tenant, secret } });
	return { status: response.status as number, bled: response.status === 200 && response.body?.tenantSecret !== secret };
}

it(`Lock Scope Tenant on one shared base credential: ${CALLS} concurrent calls over ${TENANTS} tenants, 0 bleed`, async () => {
	const { api, n8nApi, postgres, echo } = stack;
	const baseCredential = await headerAuthBase(api, 'shared base (lock scope tenant)');
	await api.deployWorkflow(
		workflows.exampleWorkflow({ name: 'tenant scope, shared base', path: 'tenant-scope-shared', baseCredential, n8nApi, postgres, echoUrl: echo.url, lockScope: 'tenant' }),
	);
	const answers = await Promise.all(calls.map(async (c) => await call('tenant-scope-shared', c)));
	process.stderr.write(`lock scope tenant, shared base: ${answers.filter((answer) => answer.bled).length} of ${CALLS} bled\n`);
	expect(answers.filter((answer) => answer.status !== 200).map((answer) => answer.status)).toEqual([]);
	expect(answers.filter((answer) => answer.bled)).toHaveLength(0);
});

it('control: one execution at a time per tenant and none across tenants (what tenant:<id> alone gave) bleeds', async () => {
	const { api, n8n, echo } = stack;
	const baseCredential = await headerAuthBase(api, 'shared base (control)');
	await api.deployWorkflow(
		workflows.unlockedWorkflow({ name: 'control, per-tenant order', path: 'tenant-key-control', kind: 'headerAuth', baseCredential, apiUrl: n8n.apiUrl, apiKey: n8n.apiKey, echoUrl: echo.url }),
	);
	const byTenant = new Map<string, Call[]>();
	for (const c of calls) byTenant.set(c.tenant, [...(byTenant.get(c.tenant) ?? []), c]);
	const answers = (
		await Promise.all(
			[...byTenant.values()].map(async (list) => {
				const results = [];
				for (const c of list) results.push(await call('tenant-key-control', c));
				return results;
			}),
		)
	).flat();
	process.stderr.write(`control (per-tenant exclusion only): ${answers.filter((answer) => answer.bled).length} of ${CALLS} bled\n`);
	expect(answers.filter((answer) => answer.status !== 200)).toEqual([]);
	expect(answers.filter((answer) => answer.bled).length).toBeGreaterThan(0);
});
