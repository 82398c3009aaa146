/**
 * Tenant OAuth2 Connect Trigger in a real n8n 2.40.7 (our packed package, n8n on PostgreSQL, the lock
 * database on PostgreSQL), against the stand-in OAuth2 provider on 127.0.0.1, a fetch browser following
 * redirects and keeping cookies. Links are made with the connect store from the test, and in the last
 * test by the Tenant OAuth2 Connect node (Create Connect Link, then Disconnect) behind webhooks.
 *   - A tenant connects through the real flow: n8n holds its oAuth2Api credential with its tokens, and
 *     an HTTP Request node using that credential calls the provider's /api/me as that tenant.
 *   - Attacks, each with nothing created and a clear page: forged state, replayed state, expired link,
 *     link used twice, callback without start, error=access_denied, a state completed in another
 *     browser (no cookie). The browser check's control (the same attack connects without it) is in
 *     test/integration/tenantOAuthConnectTrigger.test.ts: a switch inside n8n's process is out of reach here.
 *   - No secret (link, state, code, cookie, token, client secret) in any page, n8n's log or a stored execution.
 */
import { closeLockEngines, DEFAULT_LOCK_SCHEMA, DEFAULT_LOCK_TABLE, postgresLockEngine } from '../../nodes/shared/lock';
import { postgresSettings } from '../../nodes/shared/lockParameters';
import { connectStoreFor } from '../../nodes/shared/tenantOAuth/connectStore';
import { newToken } from '../../nodes/shared/tenantOAuth/tokens';
import { startE2eStack, testDatabaseUrl, type E2eStack, type Ref } from '../helpers/e2eStack';
import { CookieJar, followConnectFlow, type ConnectFlowResult } from '../helpers/oauthBrowser';
import { startOAuthProvider, type OAuthClient, type OAuthProvider } from '../helpers/oauthProvider';

/* eslint-disable @typescript-eslint/no-require-imports */
const { PACKAGE, chainWorkflow } = require('../harness/workflows.js');
const { postgresCredentialData } = require('../harness/postgres.js');
/* eslint-enable @typescript-eslint/no-require-imports */

jest.setTimeout(600_000);

const CONNECTION = 'acme';
const PATH = `tenant-connect-${Math.random().toString(36).slice(2, 8)}`;
let stack: E2eStack;
let api: any;
let provider: OAuthProvider;
let client: OAuthClient;
let app: Ref;
let startUrl: string;
let callbackUrl: string;
let connectWorkflowId: string;
const startedAt = Date.now();
const seen: string[] = [];
const secrets = new Set<string>();

const store = () =>
	connectStoreFor(postgresLockEngine(postgresSettings(postgresCredentialData(testDatabaseUrl())), { schema: DEFAULT_LOCK_SCHEMA, table: DEFAULT_LOCK_TABLE }));

async function linkFor(tenantId: string, ttlMs = 600_000): Promise<string> {
	const { token } = await store().createLink({ tenantId, appId: CONNECTION }, ttlMs);
	secrets.add(token);
	return `${startUrl}?link=${token}`;
}

function remember(result: ConnectFlowResult): ConnectFlowResult {
	seen.push(result.finalBody);
	for (const step of result.steps) {
		const url = new URL(step.url);
		for (const name of ['code', 'state', 'link']) {
			const value = url.searchParams.get(name);
			if (value) secrets.add(value);
		}
	}
	for (const cookies of Object.values(result.cookies)) for (const value of Object.values(cookies)) if (value) secrets.add(value);
	return result;
}

async function connect(url: string, account: string, decision: 'approve' | 'deny' = 'approve') {
	return remember(await followConnectFlow(url, { account, decision }));
}

async function stopAtCallback(url: string, account: string) {
	const jar = new CookieJar();
	const result = remember(await followConnectFlow(url, { account, decision: 'approve', jar, stopBefore: (next) => next.pathname.endsWith('/callback') }));
	expect(result.stopped).toBe(true);
	const state = new URL(result.finalUrl).searchParams.get('state')!;
	return { callback: result.finalUrl, jar, state };
}

async function open(url: string, cookie?: string) {
	const response = await fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
	const body = await response.text();
	seen.push(body);
	return { status: response.status, body, headers: response.headers };
}

async function tenantCredentials(): Promise<Array<{ id: string; name: string; type: string }>> {
	return (await api.listCredentials()).filter((credential: { name: string }) => credential.name.startsWith(`tenant-oauth ${CONNECTION} `));
}

const countOf = async () => (await tenantCredentials()).length;

beforeAll(async () => {
	provider = await startOAuthProvider({ settings: { accessTokenTtlSeconds: 3600 } });
	client = provider.registerClient({ redirectUris: [] });
	secrets.add(client.clientSecret);
	stack = await startE2eStack();
	api = stack.api;
	startUrl = `${stack.n8n.baseUrl}/webhook/${PATH}/start`;
	callbackUrl = `${stack.n8n.baseUrl}/webhook/${PATH}/callback`;
	client.redirectUris.push(callbackUrl);
	app = await api.createCredential({
		name: 'Stand-in provider app',
		type: 'oAuth2Api',
		data: provider.appCredentialData(client),
	});
	const workflow = await api.createWorkflow({
		name: 'Tenant connect',
		nodes: [
			{
				id: 'trigger',
				name: 'Tenant OAuth2 Connect Trigger',
				type: `${PACKAGE}.tenantOAuth2ConnectTrigger`,
				typeVersion: 1,
				position: [0, 0],
				webhookId: `connect-${PATH}`,
				parameters: { path: PATH, connection: CONNECTION, lockBackend: 'postgres', options: {} },
				credentials: { oAuth2Api: app, tenantSwapN8nApi: stack.n8nApi, postgres: stack.postgres },
			},
			{ id: 'noop', name: 'Connected', type: 'n8n-nodes-base.noOp', typeVersion: 1, position: [220, 0], parameters: {} },
		],
		connections: { 'Tenant OAuth2 Connect Trigger': { main: [[{ node: 'Connected', type: 'main', index: 0 }]] } },
		settings: { saveDataSuccessExecution: 'all', saveDataErrorExecution: 'all' },
	});
	connectWorkflowId = workflow.id;
	await api.activateWorkflow(workflow.id);
	await api.waitForWebhook(`${PATH}/start`, 'GET', { workflowId: workflow.id });
	await api.waitForWebhook(`${PATH}/callback`, 'GET', { workflowId: workflow.id });
	const connectNode = (path: string, parameters: Record<string, unknown>) =>
		chainWorkflow({
			name: path,
			path,
			nodes: [
				{
					id: 'connect',
					name: 'Tenant OAuth2 Connect',
					type: `${PACKAGE}.tenantOAuth2Connect`,
					typeVersion: 1,
					parameters: { connection: CONNECTION, tenantId: '={{ $json.body.tenantId }}', lockBackend: 'postgres', ...parameters },
					credentials: { tenantSwapN8nApi: stack.n8nApi, postgres: stack.postgres },
				},
			],
		});
	await api.deployWorkflow(connectNode(`link-${PATH}`, { operation: 'createConnectLink', connectStartUrl: startUrl, linkExpiry: 15 }));
	await api.deployWorkflow(connectNode(`disconnect-${PATH}`, { operation: 'disconnect' }));
});

afterAll(async () => {
	try {
		const everything = [...seen, stack ? stack.n8n.readLog() : ''].join('\n');
		const leaked = [...secrets].filter((secret) => secret && secret.length >= 8 && everything.includes(secret));
		expect(leaked).toEqual([]);
	} finally {
		await stack?.stop();
		await provider?.close();
		await closeLockEngines();
		console.log(`[tenantOAuthConnect e2e] ran ${Math.round((Date.now() - startedAt) / 1000)} s (n8n start-up included)`);
	}
});

describe('a tenant connects through the real flow', () => {
	let credentialId: string;

	it('lands on "connected"; n8n holds its oAuth2Api credential; the workflow ran once, with no token in its data', async () => {
		const result = await connect(await linkFor('alice-co'), 'alice');
		expect(result.finalStatus).toBe(200);
		expect(result.finalBody).toContain('Your account is connected (acme)');
		const credentials = await tenantCredentials();
		expect(credentials).toHaveLength(1);
		expect(credentials[0]).toMatchObject({ type: 'oAuth2Api', name: 'tenant-oauth acme alice-co (connected by Tenant OAuth2 Connect: do not edit or use)' });
		credentialId = credentials[0].id;
		expect(await store().connectionOf('alice-co', CONNECTION)).toMatchObject({ credentialId, credentialType: 'oAuth2Api' });
		expect(provider.stats.account('alice').codeExchanges).toBe(1);
		const executions = await api.waitForExecutions({ workflowId: connectWorkflowId, count: 1, includeData: true });
		expect(executions).toHaveLength(1);
		const stored = JSON.stringify(executions);
		seen.push(stored);
		expect(stored).toContain('"status":"connected"');
		expect(stored).not.toMatch(/access_token|refresh_token|oauthTokenData|code_verifier/);
		expect(stored).toContain(credentialId);
	});

	it("an HTTP Request node using the tenant's credential calls the provider's /api/me as that tenant", async () => {
		const usePath = `use-${PATH}`;
		await api.deployWorkflow({
			name: 'Use tenant connection',
			nodes: [
				{ id: 'hook', name: 'Webhook', type: 'n8n-nodes-base.webhook', typeVersion: 2, position: [0, 0], webhookId: usePath, parameters: { path: usePath, httpMethod: 'POST', responseMode: 'lastNode' } },
				{
					id: 'me',
					name: 'Me',
					type: 'n8n-nodes-base.httpRequest',
					typeVersion: 4.2,
					position: [220, 0],
					parameters: { url: provider.resourceUrl, authentication: 'predefinedCredentialType', nodeCredentialType: 'oAuth2Api', options: {} },
					credentials: { oAuth2Api: { id: credentialId, name: 'tenant' } },
				},
			],
			connections: { Webhook: { main: [[{ node: 'Me', type: 'main', index: 0 }]] } },
		});
		const answer = await api.callWebhook(usePath, { method: 'POST', body: {} });
		expect(answer.status).toBe(200);
		expect(answer.body).toMatchObject({ account: 'alice', clientId: client.clientId });
		expect(provider.stats.account('alice').resourceCalls).toBeGreaterThanOrEqual(1);
	});
});

describe('attacks: a clear page, nothing created or changed', () => {
	it('a link used twice', async () => {
		const link = await linkFor('twice-co');
		expect((await connect(link, 'twice')).finalBody).toContain('Your account is connected');
		const before = await countOf();
		const again = await connect(link, 'twice');
		expect(again.finalStatus).toBe(400);
		expect(again.finalBody).toContain('This connect link was already used. Ask for a new link.');
		expect(again.steps).toHaveLength(1);
		expect(await countOf()).toBe(before);
		expect(provider.stats.account('twice').codeExchanges).toBe(1);
	});

	it('an expired link', async () => {
		const before = await countOf();
		const link = await linkFor('late-co', 1);
		await new Promise((resolve) => setTimeout(resolve, 50));
		const result = await connect(link, 'late');
		expect([result.finalStatus, result.steps.length]).toEqual([400, 1]);
		expect(result.finalBody).toContain('This connect link has expired. Ask for a new link.');
		expect(await countOf()).toBe(before);
		expect(provider.stats.account('late').authorizations).toBe(0);
	});

	it('a forged state (with a real browser key cookie and a real code)', async () => {
		const before = await countOf();
		const { callback, jar } = await stopAtCallback(await linkFor('forge-co'), 'forge');
		const forged = new URL(callback);
		forged.searchParams.set('state', newToken());
		const result = await open(forged.toString(), jar.headerFor(callback));
		expect(result.status).toBe(400);
		expect(result.body).toContain('This sign-in is not known here.');
		expect(await countOf()).toBe(before);
		expect(provider.stats.account('forge').codeExchanges).toBe(0);
		expect(await store().connectionOf('forge-co', CONNECTION)).toBeUndefined();
	});

	it('a replayed state (the callback opened again after it connected)', async () => {
		const { callback, jar } = await stopAtCallback(await linkFor('replay-co'), 'replay');
		const cookie = jar.headerFor(callback);
		expect((await open(callback, cookie)).body).toContain('Your account is connected');
		const before = await tenantCredentials();
		const connection = await store().connectionOf('replay-co', CONNECTION);
		const replay = await open(callback, cookie);
		expect(replay.status).toBe(400);
		expect(replay.body).toContain('This sign-in was already completed.');
		expect(await tenantCredentials()).toEqual(before);
		expect(await store().connectionOf('replay-co', CONNECTION)).toEqual(connection);
		expect(provider.stats.account('replay').codeExchanges).toBe(1);
	});

	it('a callback without a start', async () => {
		const before = await countOf();
		const tokenRequests = provider.stats.tokenRequests;
		for (const query of ['?code=abc', '', `?code=abc&state=${newToken()}`]) {
			const result = await open(`${callbackUrl}${query}`);
			expect(result.status).toBe(400);
			expect(result.body).toContain('This sign-in is not known here.');
		}
		expect(await countOf()).toBe(before);
		expect(provider.stats.tokenRequests).toBe(tokenRequests);
	});

	it('error=access_denied: the tenant declined, nothing changes', async () => {
		const before = await countOf();
		const result = await connect(await linkFor('deny-co'), 'deny', 'deny');
		expect(result.finalStatus).toBe(200);
		expect(result.finalBody).toContain('You declined the connection at the provider.');
		expect(await countOf()).toBe(before);
		expect(await store().connectionOf('deny-co', CONNECTION)).toBeUndefined();
	});

	it("a state completed in another browser (no cookie): the victim's account is not connected to the attacker's tenant", async () => {
		const before = await countOf();
		const { callback } = await stopAtCallback(await linkFor('mallory-co'), 'victim');
		const result = await open(callback);
		expect(result.status).toBe(403);
		expect(result.body).toContain('This sign-in was started in another browser.');
		expect(await countOf()).toBe(before);
		expect(provider.stats.account('victim').codeExchanges).toBe(0);
		expect(await store().connectionOf('mallory-co', CONNECTION)).toBeUndefined();
	});

	it('pages carry the protective headers', async () => {
		const page = await open(`${startUrl}?link=${newToken()}`);
		expect(page.status).toBe(400);
		expect(page.headers.get('cache-control')).toBe('no-store');
		expect(page.headers.get('referrer-policy')).toBe('no-referrer');
		expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
		expect(page.headers.get('content-type')).toContain('text/html');
	});
});

describe('with the Tenant OAuth2 Connect node', () => {
	it('Create Connect Link -> connect -> Disconnect deletes the credential -> a new link connects again with a new credential', async () => {
		const tenantId = 'wayne-co';
		const link = await api.callWebhook(`link-${PATH}`, { body: { tenantId } });
		expect(link.status).toBe(200);
		secrets.add(new URL(link.body.connectUrl).searchParams.get('link')!);
		expect((await connect(link.body.connectUrl, 'bruce')).finalBody).toContain('Your account is connected (acme)');
		const first = (await store().connectionOf(tenantId, CONNECTION))!.credentialId;
		expect((await tenantCredentials()).map((credential) => credential.id)).toContain(first);

		const disconnected = await api.callWebhook(`disconnect-${PATH}`, { body: { tenantId } });
		expect(disconnected.body).toMatchObject({ tenantId, disconnected: true, credentialDeleted: 'deleted' });
		expect((await tenantCredentials()).map((credential) => credential.id)).not.toContain(first);

		const again = await api.callWebhook(`link-${PATH}`, { body: { tenantId } });
		secrets.add(new URL(again.body.connectUrl).searchParams.get('link')!);
		expect((await connect(again.body.connectUrl, 'bruce')).finalBody).toContain('Your account is connected (acme)');
		const second = (await store().connectionOf(tenantId, CONNECTION))!.credentialId;
		expect(second).not.toBe(first);
		expect((await tenantCredentials()).filter((credential) => credential.name.includes(` ${tenantId} `)).map((credential) => credential.id)).toEqual([second]);
	});
});
