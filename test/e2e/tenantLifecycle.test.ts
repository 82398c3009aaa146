/**
 * Lifecycle that cannot strand a tenant, and offboarding (issue 18, points 3, 4 and 6), on a real
 * n8n 2.40.7 with a second, non-owner user (global:member) whose API key the node uses, everything in
 * the member's personal project (outside an owner's project n8n answers a deleted credential with
 * "does not have access", and a DELETE of a missing one with `Credential with ID "x" not found.`).
 *
 *   (a) a tenant credential deleted by hand: the call that meets it fails with the truth, the next
 *       works. Control: n8n's words there are "does not have access", not "does not exist" (the only
 *       words the node recognised before): then the record was kept and every call failed alike.
 *   (b) the sweep against n8n's real 404s (member's and owner's words) and a 403 (another project's
 *       credential): a batch with those deletes the others; a credential a workflow references is kept.
 *   (c) offboarding under load (the tenant's and other tenants' executions running): no bleed, no
 *       execution of another tenant fails, the tenant's next call creates a new credential; a second
 *       offboarding finds none.
 */
import { N8nApiClient } from '../../nodes/shared/transport/n8nApiClient';
import { tenantCredentialRegistryFor } from '../../nodes/shared/tenantCredentials/registry';
import type { TenantCredentialRegistry } from '../../nodes/shared/tenantCredentials/registryTypes';
import { forgetReportedCauses } from '../../nodes/shared/tenantCredentials/reportOnce';
import { sweepOnce } from '../../nodes/shared/tenantCredentials/sweep';
import { startE2eStack, testDatabaseUrl, waitUntil, type E2eStack, type Ref } from '../helpers/e2eStack';
import { PostgresLockFixture, sleep, uniqueName } from '../helpers/lockTesting';
import { FetchTransport } from '../helpers/fetchTransport';
import { addMember, type Member } from '../helpers/memberUser';
import { digest, fireCalls, headerAuthPlaceholder, reportFailures, secretFor, seenSecret, tenantCredentials, type Call } from '../helpers/runWithTenant';

/* eslint-disable @typescript-eslint/no-require-imports */
const workflows = require('../harness/workflows.js');
const { postgresCredentialData } = require('../harness/postgres.js');
/* eslint-enable @typescript-eslint/no-require-imports */

jest.setTimeout(1_200_000);

const RUN = Math.random().toString(36).slice(2, 8);
const HEADER_OPTIONS = { allowedFields: 'name,value', credentialType: 'httpHeaderAuth' };
const RUN_PATH = `life-run-${RUN}`;
const OFFBOARD_PATH = `life-offboard-${RUN}`;

let stack: E2eStack;
let n8n: any;
let api: any;
let member: Member;
let runWorkflow: { id: string };
let n8nApiOfMember: Ref;
let postgresOfMember: Ref;
const fixture = new PostgresLockFixture();

beforeAll(async () => {
	stack = await startE2eStack();
	({ n8n, api } = stack);
	member = await addMember(n8n, RUN);
	const mApi = member.api;
	// Everything below is the member's: made with the member's key, in the member's personal project.
	n8nApiOfMember = await mApi.createCredential({ name: 'n8n API (member)', type: 'tenantSwapN8nApi', data: { baseUrl: n8n.apiUrl, apiKey: member.apiKey, allowUnauthorizedCerts: false } });
	postgresOfMember = await mApi.createCredential({ name: 'Lock database (member)', type: 'postgres', data: postgresCredentialData(testDatabaseUrl()) });
	const placeholder = await headerAuthPlaceholder(mApi, 'placeholder (member)');
	const sub = await mApi.createWorkflow(workflows.tenantSubWorkflow({ name: 'member sub-workflow', kind: 'headerAuth', echoUrl: stack.echo.url, credential: placeholder, slowStep: true }));
	await mApi.activateWorkflow(sub.id);
	runWorkflow = await mApi.deployWorkflow(
		workflows.runWithTenantWorkflow({ name: 'member: run', path: RUN_PATH, subWorkflowId: sub.id, n8nApi: n8nApiOfMember, postgres: postgresOfMember, kind: 'headerAuth', echoUrl: stack.echo.url, options: HEADER_OPTIONS }),
	);
	const offboardNode = workflows.runWithTenantNode({ subWorkflowId: sub.id, n8nApi: n8nApiOfMember, postgres: postgresOfMember, credentialData: '{}' });
	offboardNode.parameters = { operation: 'offboardTenant', tenantId: '={{ $json.body.tenantId }}', lockBackend: 'postgres', options: {} };
	await mApi.deployWorkflow(workflows.chainWorkflow({ name: 'member: offboard', path: OFFBOARD_PATH, nodes: [offboardNode] }));
});

afterAll(async () => {
	await stack?.stop();
	await fixture.close();
});

const call = async (tenant: string, extra: Record<string, unknown> = {}) => await api.callWebhook(RUN_PATH, { body: { tenantId: tenant, secret: secretFor(tenant, RUN), ...extra } });

/** The Run With Tenant Credential error of the newest failed execution of the member's workflow. */
async function lastNodeError(): Promise<{ message: string; description: string }> {
	const failed = await api.getExecutions({ workflowId: runWorkflow.id, includeData: true, status: 'error' });
	const error = failed.map((execution: any) => execution.data?.resultData?.error).find((candidate: any) => candidate?.node?.name === 'Run With Tenant Credential');
	return { message: String(error?.message ?? ''), description: String(error?.description ?? '') };
}

describe('(a) a tenant credential deleted by hand in the member\'s project', () => {
	it('the call that meets it fails with the truth; the next call creates it again and works', async () => {
		const tenant = `a1-${RUN}`;
		expect((await call(tenant)).status).toBe(200);
		const [made] = await tenantCredentials(api, tenant);
		expect(made).toBeDefined();
		await api.deleteCredential(made.id);

		const failing = await call(tenant);
		expect(failing.status).toBe(500);
		const error = await lastNodeError();
		// The control: n8n's words here. The node used to forget a record only on "does not exist".
		expect(error.message).toMatch(/does not have access to the credential/);
		expect(error.message).not.toMatch(/does not exist/);
		expect(error.description).toMatch(/was deleted outside this node.*It is forgotten now: the tenant's next execution creates it again/);
		expect(JSON.stringify(error)).not.toContain(secretFor(tenant, RUN));

		const next = await call(tenant);
		if (next.status !== 200) await reportFailures(api, runWorkflow.id);
		expect(next.status).toBe(200);
		expect(seenSecret(next.body)).toBe(digest(secretFor(tenant, RUN)));
		const now = await tenantCredentials(api, tenant);
		expect(now.map((credential) => credential.id)).not.toContain(made.id);
		expect(now).toHaveLength(1);
	});
});

describe("(b) the sweep against n8n's real answers", () => {
	let registry: TenantCredentialRegistry;
	beforeAll(() => {
		registry = tenantCredentialRegistryFor(fixture.engine({ schema: uniqueName('life_e2e'), table: 'locks' }));
	});
	afterEach(() => forgetReportedCauses());

	const header = (name: string) => ({ name, type: 'httpHeaderAuth', data: { name: 'x-tenant', value: 'not-a-secret' } });
	const register = async (scope: string, id: string) =>
		await registry.registerTenantCredential({ scope, name: `tenant-cred e2e acme ${id}`, credentialId: id, credentialType: 'httpHeaderAuth', tenantId: 'acme', retentionMs: 0 }, 0);

	it("member's key: gone (404), another project's (403), referenced and deletable in one batch: the deletable one goes, the gone one is forgotten, the others stay", async () => {
		const scope = `${n8n.apiUrl}#member-${RUN}`;
		const gone = await member.api.createCredential(header(`tenant-cred b gone ${RUN}`));
		await api.deleteCredential(gone.id);
		const othersProject = await api.createCredential(header(`tenant-cred b owner ${RUN}`));
		const referenced = await member.api.createCredential(header(`tenant-cred b wired ${RUN}`));
		await member.api.createWorkflow(
			workflows.chainWorkflow({
				name: `wired by hand ${RUN}`,
				path: `life-wired-${RUN}`,
				nodes: [workflows.httpCallNode({ name: 'By Hand', url: `${stack.echo.url}/echo`, genericAuthType: 'httpHeaderAuth', credential: { id: referenced.id, name: referenced.name } })],
			}),
		);
		const deletable = await member.api.createCredential(header(`tenant-cred b plain ${RUN}`));
		for (const id of [gone.id, othersProject.id, referenced.id, deletable.id]) await register(scope, id);
		await sleep(20);

		const transport = new FetchTransport(n8n.apiUrl, member.apiKey);
		const warnings: Array<{ message: string; meta?: Record<string, unknown> }> = [];
		const log = { warn: (message: string, meta?: Record<string, unknown>) => warnings.push({ message, meta }), debug: () => undefined };
		const counts = await sweepOnce({ registry, api: new N8nApiClient(transport, { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 }), scope, log });

		const answers = Object.fromEntries(transport.requests.filter((request) => request.method === 'DELETE').map((request) => [decodeURIComponent(request.path.split('/').pop()!), `${request.status} ${request.message}`]));
		process.stderr.write(`(b) n8n's answers to the member's deletes: ${JSON.stringify(Object.values(answers))}\n`);
		expect(answers[gone.id]).toBe(`404 Credential with ID "${gone.id}" not found.`);
		expect(answers[othersProject.id]).toMatch(/^403 /);
		expect(answers[deletable.id]).toMatch(/^200 /);
		expect(answers[referenced.id]).toBeUndefined();
		expect(counts).toEqual({ retired: 4, deleted: 1, gone: 1, referenced: 1, failed: 1, notTried: 0 });
		const left = (await registry.listTenantCredentials(scope, 10)).map((record) => `${record.credentialId}:${record.state}`).sort();
		expect(left).toEqual([`${othersProject.id}:retiring`, `${referenced.id}:retiring`].sort());
		expect((await api.listCredentials()).map((credential: Ref) => credential.id)).toEqual(expect.arrayContaining([othersProject.id, referenced.id]));
		expect(warnings.map((warning) => warning.message).sort()).toEqual([
			'Run With Tenant Credential could not delete unused tenant credentials',
			'Run With Tenant Credential keeps an unused tenant credential: workflows reference it',
		]);
	});

	it("owner's key: a credential deleted by hand answers 404 \"Not Found\" and its record is forgotten", async () => {
		const scope = `${n8n.apiUrl}#owner-${RUN}`;
		const gone = await api.createCredential(header(`tenant-cred b owner-gone ${RUN}`));
		await api.deleteCredential(gone.id);
		await register(scope, gone.id);
		await sleep(20);
		const transport = new FetchTransport(n8n.apiUrl, n8n.apiKey);
		const counts = await sweepOnce({ registry, api: new N8nApiClient(transport, { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 }), scope, log: { warn: () => undefined, debug: () => undefined } });
		expect(transport.requests.filter((request) => request.method === 'DELETE').map((request) => `${request.status} ${request.message}`)).toEqual(['404 Not Found']);
		expect(counts).toMatchObject({ retired: 1, gone: 1 });
		expect(await registry.listTenantCredentials(scope, 10)).toEqual([]);
	});
});

describe('(c) offboarding under load', () => {
	it("deletes the tenant's credentials while its and other tenants' executions run: no bleed, no other tenant fails, its next call recreates", async () => {
		const victim = `v-${RUN}`;
		const others = Array.from({ length: 4 }, (_, index) => `o${index}-${RUN}`);
		for (const tenant of [victim, ...others]) expect((await call(tenant)).status).toBe(200);
		const [before] = await tenantCredentials(api, victim);

		// 60 calls, 12 in flight; each waits 300 ms in the sub-workflow before its node reads the credential.
		const calls: Call[] = Array.from({ length: 60 }, (_, index) => {
			const tenant = index % 3 === 0 ? victim : others[index % others.length];
			return { tenant, secret: secretFor(tenant, RUN), extra: { slowMs: 300 } };
		});
		const load = fireCalls(api, RUN_PATH, calls, { concurrency: 12, seen: seenSecret, expected: (c) => digest(c.secret) });
		// Offboard once executions are running (some of the victim's are in flight).
		await waitUntil(() => stack.echo.requests.filter((request) => request.path === '/echo').length > 20, 60_000);
		const offboarded = await api.callWebhook(OFFBOARD_PATH, { body: { tenantId: victim } });
		const { answers, failed, bled } = await load;

		expect(offboarded.status).toBe(200);
		expect(offboarded.body).toMatchObject({ tenantId: victim });
		expect(offboarded.body.found).toBeGreaterThanOrEqual(1);
		expect(offboarded.body.deleted + offboarded.body.alreadyGone).toBe(offboarded.body.found);
		expect(bled).toEqual([]);
		const otherFailures = failed.filter((answer) => answer.call.tenant !== victim);
		if (otherFailures.length > 0) await reportFailures(api, runWorkflow.id);
		expect(otherFailures).toEqual([]);
		const victimFailures = failed.filter((answer) => answer.call.tenant === victim).length;
		process.stderr.write(
			`(c) offboarding found ${offboarded.body.found}, deleted ${offboarded.body.deleted}, already gone ${offboarded.body.alreadyGone}; ` +
				`${answers.length} calls: ${failed.length} failed, all of them the offboarded tenant's (${victimFailures} of ${calls.filter((c) => c.tenant === victim).length}); 0 bled\n`,
		);
		// The credential from before is gone; the tenant's next call works with a new one.
		expect((await api.listCredentials()).map((credential: Ref) => credential.id)).not.toContain(before.id);
		const next = await call(victim);
		expect(next.status).toBe(200);
		expect(seenSecret(next.body)).toBe(digest(secretFor(victim, RUN)));
		expect((await tenantCredentials(api, victim)).map((credential) => credential.id)).not.toContain(before.id);

		// Offboarding twice in a row: the first deletes the new one, the second finds none.
		const again = await api.callWebhook(OFFBOARD_PATH, { body: { tenantId: victim } });
		expect(again.body).toMatchObject({ found: 1, deleted: 1, alreadyGone: 0 });
		const idle = await api.callWebhook(OFFBOARD_PATH, { body: { tenantId: victim } });
		expect(idle.body).toMatchObject({ found: 0, deleted: 0, alreadyGone: 0, referencedBy: [] });
		expect(await tenantCredentials(api, victim)).toEqual([]);
		// Other tenants kept theirs.
		for (const tenant of others) expect(await tenantCredentials(api, tenant)).toHaveLength(1);
	});
});
