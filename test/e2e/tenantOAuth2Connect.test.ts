/**
 * Tenant OAuth2 Connect (issue 19) in a real n8n 2.40.7 running our packed package, n8n on PostgreSQL,
 * the connect store in the lock database on TEST_DATABASE_URL:
 * - Create Connect Link behind a webhook: the link it answers is stored in the lock database, bound to
 *   the caller's tenant and connection, and works once (redeemed here, as the trigger would).
 * - Disconnect behind a webhook deletes the tenant's oAuth2Api credential (made through n8n's public
 *   API, with token data) and forgets the connection; again: not connected; a credential deleted by
 *   hand counts as gone; concurrent Disconnects of one tenant delete once.
 */
import { DEFAULT_LOCK_SCHEMA, DEFAULT_LOCK_TABLE, closeLockEngines, closeSharedPools, postgresLockEngine } from '../../nodes/shared/lock';
import { postgresSettings } from '../../nodes/shared/lockParameters';
import { connectStoreFor } from '../../nodes/shared/tenantOAuth/connectStore';
import type { ConnectStore } from '../../nodes/shared/tenantOAuth/types';
import { startE2eStack, testDatabaseUrl, type E2eStack, type Ref } from '../helpers/e2eStack';

/* eslint-disable @typescript-eslint/no-require-imports */
const workflows = require('../harness/workflows.js');
const { postgresCredentialData } = require('../harness/postgres.js');
/* eslint-enable @typescript-eslint/no-require-imports */

jest.setTimeout(600_000);

const START_URL = 'https://n8n.example.com/webhook/tenant-connect/start';
const RUN = Math.random().toString(36).slice(2, 8);

let stack: E2eStack;
let api: any;
let store: ConnectStore;

function connectNode(parameters: Record<string, unknown>, credentials: Record<string, Ref>) {
	return {
		id: 'connect',
		name: 'Tenant OAuth2 Connect',
		type: `${workflows.PACKAGE}.tenantOAuth2Connect`,
		typeVersion: 1,
		position: [0, 0],
		parameters: { connection: 'hubspot', tenantId: '={{ $json.body.tenantId }}', lockBackend: 'postgres', ...parameters },
		credentials,
	};
}

async function call(path: string, tenantId: string): Promise<{ status: number; body: any }> {
	return await api.callWebhook(path, { body: { tenantId } });
}

/** A tenant's connected credential, as the trigger's Complete leaves it: an oAuth2Api credential with token data, recorded. */
async function connectedTenant(tenantId: string): Promise<string> {
	const credential = await api.createCredential({
		name: `tenant-oauth hubspot ${tenantId} (e2e)`,
		type: 'oAuth2Api',
		data: {
			grantType: 'authorizationCode',
			authUrl: 'http://127.0.0.1:9/authorize',
			accessTokenUrl: 'http://127.0.0.1:9/token',
			clientId: 'client',
			clientSecret: 'client-secret-e2e',
			scope: '',
			authQueryParameters: '',
			authentication: 'header',
			serverUrl: '', // n8n 2.8.4's public API asks for it (see tenantCredentialData)
			oauthTokenData: { access_token: `access-${RUN}`, refresh_token: `refresh-${RUN}`, token_type: 'Bearer' },
		},
	});
	await store.saveConnection({ tenantId, appId: 'hubspot', credentialId: credential.id, credentialType: 'oAuth2Api', connectedAt: new Date() });
	return credential.id;
}

async function credentialStatus(id: string): Promise<number> {
	try {
		await api.getCredential(id);
		return 200;
	} catch (error) {
		const status = (error as { status?: number }).status ?? -1;
		// n8n 2.8.4 answers 405 to GET /credentials/:id: its list says whether the credential exists.
		if (status !== 405) return status;
		return (await api.listCredentials()).some((credential: { id: string }) => credential.id === id) ? 200 : 404;
	}
}

beforeAll(async () => {
	stack = await startE2eStack();
	api = stack.api;
	store = connectStoreFor(postgresLockEngine(postgresSettings(postgresCredentialData(testDatabaseUrl())), { schema: DEFAULT_LOCK_SCHEMA, table: DEFAULT_LOCK_TABLE }));
	await api.deployWorkflow(
		workflows.chainWorkflow({
			name: 'Create connect link',
			path: `connect-link-${RUN}`,
			nodes: [connectNode({ operation: 'createConnectLink', connectStartUrl: START_URL, linkExpiry: 15 }, { postgres: stack.postgres })],
		}),
	);
	await api.deployWorkflow(
		workflows.chainWorkflow({
			name: 'Disconnect',
			path: `disconnect-${RUN}`,
			nodes: [connectNode({ operation: 'disconnect' }, { tenantSwapN8nApi: stack.n8nApi, postgres: stack.postgres })],
		}),
	);
});

afterAll(async () => {
	await closeLockEngines();
	await closeSharedPools();
	await stack?.stop();
});

it("Create Connect Link answers a link bound to the caller's tenant and connection, usable once", async () => {
	const tenantId = `acme-${RUN}`;
	const answer = await call(`connect-link-${RUN}`, tenantId);
	expect(answer.status).toBe(200);
	expect(Object.keys(answer.body).sort()).toEqual(['connection', 'connectUrl', 'expiresAt', 'tenantId'].sort());
	expect(answer.body).toMatchObject({ tenantId, connection: 'hubspot' });
	expect(String(answer.body.connectUrl).startsWith(`${START_URL}?link=`)).toBe(true);
	expect(Date.parse(answer.body.expiresAt)).toBeGreaterThan(Date.now() + 14 * 60_000);
	const token = new URL(answer.body.connectUrl).searchParams.get('link');
	expect(await store.useLink(token)).toEqual({ ok: true, target: { tenantId, appId: 'hubspot' } });
	expect(await store.useLink(token)).toEqual({ ok: false, reason: 'used' });
});

it("Disconnect deletes the tenant's credential in n8n and forgets the connection; again, it says not connected", async () => {
	const tenantId = `globex-${RUN}`;
	const credentialId = await connectedTenant(tenantId);
	expect(await credentialStatus(credentialId)).toBe(200);
	const first = await call(`disconnect-${RUN}`, tenantId);
	expect(first).toMatchObject({ status: 200, body: { tenantId, connection: 'hubspot', disconnected: true, credentialDeleted: 'deleted' } });
	expect(await credentialStatus(credentialId)).toBe(404);
	expect(await store.connectionOf(tenantId, 'hubspot')).toBeUndefined();
	const second = await call(`disconnect-${RUN}`, tenantId);
	expect(second).toMatchObject({ status: 200, body: { tenantId, connection: 'hubspot', disconnected: false, credentialDeleted: 'none' } });
});

it('a credential deleted by hand in n8n counts as gone', async () => {
	const tenantId = `initech-${RUN}`;
	const credentialId = await connectedTenant(tenantId);
	await api.deleteCredential(credentialId);
	const answer = await call(`disconnect-${RUN}`, tenantId);
	expect(answer).toMatchObject({ status: 200, body: { disconnected: true, credentialDeleted: 'gone' } });
});

it('10 concurrent Disconnects of one tenant: one deletes, the others say not connected', async () => {
	const tenantId = `umbrella-${RUN}`;
	const credentialId = await connectedTenant(tenantId);
	const answers = await Promise.all(Array.from({ length: 10 }, async () => await call(`disconnect-${RUN}`, tenantId)));
	expect(answers.map((answer) => answer.status)).toEqual(Array(10).fill(200));
	expect(answers.filter((answer) => answer.body.disconnected).map((answer) => answer.body.credentialDeleted)).toEqual(['deleted']);
	expect(answers.filter((answer) => !answer.body.disconnected).every((answer) => answer.body.credentialDeleted === 'none')).toBe(true);
	expect(await credentialStatus(credentialId)).toBe(404);
});
