/**
 * The product's promise in a real n8n 2.40.7 running our packed package, installed the way the
 * community nodes panel installs it: concurrent tenants never see each other's secret.
 */
import { postgresCredential } from '../helpers/fixtures';
import { lockedWorkflow, unlockedWorkflow, PACKAGE } from './workflows';

/* eslint-disable @typescript-eslint/no-require-imports */
const { startN8n, packPackage } = require('../harness/n8n.js');
const { createApiClient } = require('../harness/api.js');
const { startEchoService } = require('../harness/echo.js');
/* eslint-enable @typescript-eslint/no-require-imports */

jest.setTimeout(900_000);

type Ref = { id: string; name: string };
let n8n: any;
let api: any;
let echo: { url: string; stop(): Promise<void> };
let n8nApi: Ref;
let postgres: Ref;

const secretOf = (tenant: string, call: number) => `secret-${tenant}-${call}-XyZ`;

beforeAll(async () => {
	const tarball = await packPackage(process.cwd());
	echo = await startEchoService();
	// n8n on PostgreSQL: on SQLite n8n 2.40.7 ran these webhook executions one at a time here, hiding bleed.
	const pg = postgresCredential();
	n8n = await startN8n({
		packageTarball: tarball,
		db: 'postgres',
		postgres: { host: pg.host, port: pg.port, user: pg.user, password: pg.password, adminDatabase: pg.database },
	});
	api = createApiClient(n8n);
	n8nApi = await api.createCredential({
		name: 'n8n API (tenant swap)',
		type: 'tenantSwapN8nApi',
		data: { baseUrl: n8n.apiUrl, apiKey: n8n.apiKey, allowUnauthorizedCerts: false },
	});
	postgres = await api.createCredential({
		name: 'Lock database',
		type: 'postgres',
		data: { host: pg.host, port: pg.port, database: pg.database, user: pg.user, password: pg.password, ssl: 'disable', allowUnauthorizedCerts: false, sshTunnel: false, maxConnections: 10 },
	});
});

afterAll(async () => {
	await n8n?.stop();
	await echo?.stop();
});

interface Call {
	tenant: string;
	secret: string;
}

function calls(count: number, tenants: number): Call[] {
	return Array.from({ length: count }, (_, i) => {
		const tenant = `t${String(i % tenants).padStart(2, '0')}`;
		return { tenant, secret: secretOf(tenant, i) };
	});
}

/** Fires every call at once; returns how many saw a secret other than their own. */
async function fire(path: string, list: Call[], seen: (body: any) => string | undefined, expected: (call: Call) => string) {
	const answers = await Promise.all(
		list.map(async (call) => {
			const response = await api.callWebhook(path, { body: { tenantId: call.tenant, secret: call.secret } });
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

const headerSeen = (body: any) => body?.tenantSecret;
const oauthSeen = (body: any) => body?.bearerClient;

describe('shared base credential (Header Auth), concurrent webhook calls', () => {
	it('the unlocked control bleeds (so the check can see bleed)', async () => {
		const base = await api.createCredential({ name: 'base (control)', type: 'httpHeaderAuth', data: { name: 'x-tenant-secret', value: 'none' } });
		await api.deployWorkflow(
			unlockedWorkflow({ name: 'control', path: 'control', kind: 'headerAuth', baseCredential: base, apiUrl: n8n.apiUrl, apiKey: n8n.apiKey, echoUrl: echo.url }),
		);
		const { failed, bled } = await fire('control', calls(60, 10), headerSeen, (call) => call.secret);
		expect(failed).toEqual([]);
		expect(bled.length).toBeGreaterThan(0);
	});

	it('the locked workflow bleeds 0 of 200 calls over 20 tenants and leaves no temporary credential', async () => {
		const base = await api.createCredential({ name: 'base (locked)', type: 'httpHeaderAuth', data: { name: 'x-tenant-secret', value: 'none' } });
		const workflow = await api.deployWorkflow(
			lockedWorkflow({ name: 'locked', path: 'locked', kind: 'headerAuth', baseCredential: base, n8nApi, postgres, echoUrl: echo.url }),
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

describe('OAuth2 client credentials through a local token endpoint', () => {
	const tenants = ['alpha', 'beta', 'gamma'];

	it('control: a partial PATCH keeps the first tenant\'s token, so later tenants use it', async () => {
		const base = await api.createCredential({
			name: 'oauth base (control)',
			type: 'oAuth2Api',
			data: { grantType: 'clientCredentials', accessTokenUrl: `${echo.url}/oauth/token`, clientId: 'nobody', clientSecret: 'x', authentication: 'body', scope: '' },
		});
		await api.deployWorkflow(
			unlockedWorkflow({ name: 'oauth control', path: 'oauth-control', kind: 'oauth2', baseCredential: base, apiUrl: n8n.apiUrl, apiKey: n8n.apiKey, echoUrl: echo.url, partialData: true }),
		);
		const seen: string[] = [];
		for (const tenant of tenants) {
			const response = await api.callWebhook('oauth-control', { body: { tenantId: tenant, secret: `${tenant}-client-secret` } });
			seen.push(oauthSeen(response.body));
		}
		expect(seen.filter((client, i) => client !== tenants[i]).length).toBeGreaterThan(0);
	});

	it('the swap gives every tenant its own token, sequentially and concurrently', async () => {
		const base = await api.createCredential({
			name: 'oauth base (locked)',
			type: 'oAuth2Api',
			data: { grantType: 'clientCredentials', accessTokenUrl: `${echo.url}/oauth/token`, clientId: 'nobody', clientSecret: 'x', authentication: 'body', scope: '' },
		});
		await api.deployWorkflow(
			lockedWorkflow({ name: 'oauth locked', path: 'oauth-locked', kind: 'oauth2', baseCredential: base, n8nApi, postgres, echoUrl: echo.url }),
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

it('loads the package under its npm name', () => {
	expect(PACKAGE).toBe('n8n-nodes-tenant-credential-swap');
});
