/**
 * Run With Tenant Credential, Credential Source "Connected Tenant", in a real n8n 2.40.7 (PostgreSQL)
 * running our packed package. Three tenants each have an `oAuth2Api` credential (authorization code)
 * made through the public API with their own `oauthTokenData` (access tokens without expiry, so n8n
 * never refreshes them here), and a connection saved directly in the connect store (the lock database).
 * The sub-workflow's HTTP Request (generic OAuth2) calls the echo with `?tenant=<the item's tenant>`;
 * the echo records the Bearer token of each call.
 *   - 30 concurrent webhook calls over the 3 tenants: every call's token is its own tenant's (0 bleed).
 *   - Control: the same run with every connection pointing at one tenant's credential: the check
 *     counts the other tenants' calls as bled.
 *   - A tenant not connected: the node's item leaves on n8n's error output ("Continue (using error
 *     output)"), which answers "send a connect link"; the connected tenants' calls still pass.
 *   - A connected credential deleted by hand: n8n refuses it, the item fails as "not connected (its
 *     credential was deleted)" on the error output, and the connection is forgotten.
 * Tokens are compared by digest and never printed.
 */
import { randomBytes } from 'node:crypto';

import { closeLockEngines, closeSharedPools, postgresLockEngine } from '../../nodes/shared/lock';
import { postgresSettings } from '../../nodes/shared/lockParameters';
import { connectStoreFor } from '../../nodes/shared/tenantOAuth/connectStore';
import type { ConnectStore } from '../../nodes/shared/tenantOAuth/types';
import { startE2eStack, testDatabaseUrl, type E2eStack, type Ref } from '../helpers/e2eStack';
import { digest, mapLimit, oauthPlaceholder } from '../helpers/runWithTenant';

/* eslint-disable @typescript-eslint/no-require-imports */
const workflows = require('../harness/workflows.js');
const { postgresCredentialData } = require('../harness/postgres.js');
/* eslint-enable @typescript-eslint/no-require-imports */

jest.setTimeout(1_200_000);

const TENANTS = ['alpha', 'beta', 'gamma'];
const CONNECTION = 'echoapp';
const LOCK_TABLE = `connected_e2e_${process.pid}`;

let stack: E2eStack;
let api: any;
let store: ConnectStore;
/** Each tenant's connected credential, and the digest of its access token (the token itself is never kept in output). */
const credentialOf = new Map<string, Ref>();
const tenantOfTokenDigest = new Map<string, string>();

beforeAll(async () => {
	stack = await startE2eStack();
	api = stack.api;
	store = connectStoreFor(postgresLockEngine(postgresSettings(postgresCredentialData(testDatabaseUrl())), { table: LOCK_TABLE }));
	for (const tenant of TENANTS) {
		const accessToken = `tok-${tenant}-${randomBytes(12).toString('hex')}`;
		tenantOfTokenDigest.set(digest(accessToken), tenant);
		credentialOf.set(
			tenant,
			await api.createCredential({
				name: `tenant-oauth ${CONNECTION} ${tenant} (connected by Tenant OAuth2 Connect: do not edit or use)`,
				type: 'oAuth2Api',
				data: {
					grantType: 'authorizationCode',
					authUrl: `${stack.echo.url}/oauth/authorize`,
					accessTokenUrl: `${stack.echo.url}/oauth/token`,
					clientId: 'echo-app',
					clientSecret: 'echo-app-secret',
					scope: '',
					authQueryParameters: '',
					authentication: 'header',
					serverUrl: '', // n8n 2.8.4's public API asks for it (see tenantCredentialData)
					oauthTokenData: { access_token: accessToken, token_type: 'Bearer' },
				},
			}),
		);
	}
});

afterAll(async () => {
	await closeLockEngines();
	await closeSharedPools();
	await stack?.stop();
});

/** Points every tenant's connection at a credential (`as` picks whose). */
async function connectAll(as: (tenant: string) => string): Promise<void> {
	for (const tenant of TENANTS) {
		await store.saveConnection({ tenantId: tenant, appId: CONNECTION, credentialId: credentialOf.get(as(tenant))!.id, credentialType: 'oAuth2Api', connectedAt: new Date() });
	}
}

/**
 * Webhook -> Run With Tenant Credential (Connected Tenant, error output on) -> [error output] Send Connect Link.
 * The sub-workflow calls the echo with the item's tenant in the query.
 */
async function deploy(path: string): Promise<{ id: string }> {
	const placeholder = await oauthPlaceholder(api, `placeholder (${path})`, stack.echo.url);
	const subJson = workflows.tenantSubWorkflow({ name: `sub (${path})`, kind: 'oauth2', echoUrl: stack.echo.url, credential: placeholder, pick: 'set' });
	const call = subJson.nodes.find((node: { name: string }) => node.name === 'Call Tenant API');
	// A short delay at the echo: the tenants' calls are in flight there at the same time (peakInFlight).
	call.parameters.url = `=${stack.echo.url}/echo?delay=150&tenant={{ encodeURIComponent($json.body.tenantId) }}`;
	const sub = await api.createWorkflow(subJson);
	await api.activateWorkflow(sub.id);
	const run = workflows.runWithTenantNode({ subWorkflowId: sub.id, n8nApi: stack.n8nApi, postgres: stack.postgres, credentialData: '', placeholder, onError: 'continueErrorOutput', options: { lockTable: LOCK_TABLE } });
	delete run.parameters.credentialData;
	run.parameters.credentialSource = 'connectedTenant';
	run.parameters.connection = CONNECTION;
	run.position = [220, 0];
	const sendLink = { ...workflows.setNode('Send Connect Link', { sendConnectLink: { type: 'boolean', value: true }, error: { type: 'string', value: '={{ $json.error }}' } }), position: [440, 200] };
	const parent = workflows.chainWorkflow({ name: `parent (${path})`, path, nodes: [run] });
	parent.nodes.push(sendLink);
	parent.connections[workflows.RUN_WITH_TENANT] = { main: [[], [{ node: 'Send Connect Link', type: 'main', index: 0 }]] };
	return await api.deployWorkflow(parent);
}

/** Fires the calls (all at once), then reads the echo: per /echo request, whose token it carried and whose item it was. */
async function fire(path: string, tenants: string[]) {
	stack.echo.reset();
	const answers = await mapLimit(tenants, tenants.length, async (tenant) => ({ tenant, response: await api.callWebhook(path, { body: { tenantId: tenant } }) }));
	const calls = stack.echo.requests
		.filter((request) => request.path === '/echo')
		.map((request) => {
			const bearer = /^Bearer\s+(.+)$/i.exec(String(request.headers.authorization ?? ''))?.[1];
			return { tenant: String(request.query?.tenant), tokenOf: bearer ? (tenantOfTokenDigest.get(digest(bearer)) ?? 'an unknown token') : 'no token' };
		});
	const bled = calls.filter((call) => call.tokenOf !== call.tenant);
	return { answers, calls, bled, peakInFlight: stack.echo.peakInFlight };
}

const calls30 = () => Array.from({ length: 30 }, (_, i) => TENANTS[i % TENANTS.length]);
const summary = (bled: Array<{ tenant: string; tokenOf: string }>) => {
	const kinds = new Map<string, number>();
	for (const call of bled) kinds.set(`${call.tenant} used ${call.tokenOf}'s token`, (kinds.get(`${call.tenant} used ${call.tokenOf}'s token`) ?? 0) + 1);
	return [...kinds].map(([kind, count]) => `${count} x ${kind}`).sort();
};

it('30 concurrent calls over 3 connected tenants: each call carries its own tenant\'s token (0 bleed)', async () => {
	await connectAll((tenant) => tenant);
	await deploy('connected-bleed');
	const { answers, calls, bled, peakInFlight } = await fire('connected-bleed', calls30());
	process.stderr.write(`connected tenants: ${answers.length} calls, ${calls.length} reached the echo, at most ${peakInFlight} in flight there, ${bled.length} bled\n`);
	// Concurrent for real: several tenants' calls were at the echo at once.
	expect(peakInFlight).toBeGreaterThan(1);
	expect(answers.filter((answer) => answer.response.status !== 200 || answer.response.body?.sendConnectLink).map((answer) => answer.tenant)).toEqual([]);
	expect(calls).toHaveLength(30);
	expect(summary(bled)).toEqual([]);
	// Nothing was made or registered for the tenants: the credentials are the 3 connected ones.
	const names = (await api.listCredentials()).map((credential: { name: string }) => credential.name);
	expect(names.filter((name: string) => name.startsWith('tenant-cred '))).toEqual([]);
});

it('control: every connection pointing at alpha\'s credential, the same check counts beta\'s and gamma\'s calls as bled', async () => {
	await connectAll(() => 'alpha');
	await deploy('connected-control');
	const { calls, bled } = await fire('connected-control', calls30());
	process.stderr.write(`control (all bound to alpha): ${calls.length} calls reached the echo, ${bled.length} bled\n`);
	expect(summary(bled)).toEqual(['10 x beta used alpha\'s token', '10 x gamma used alpha\'s token']);
});

it('a tenant not connected leaves on the error output (send a connect link); the connected tenants\' calls pass', async () => {
	await connectAll((tenant) => tenant);
	await deploy('connected-missing');
	const { answers, bled } = await fire('connected-missing', ['alpha', 'stranger', 'beta', 'stranger']);
	const byTenant = (tenant: string) => answers.filter((answer) => answer.tenant === tenant).map((answer) => answer.response);
	for (const response of byTenant('stranger')) {
		expect(response.status).toBe(200);
		expect(response.body.sendConnectLink).toBe(true);
		expect(String(response.body.error)).toContain(`Tenant "stranger" has not connected ${CONNECTION}: send them a connect link (Tenant OAuth2 Connect → Create Connect Link)`);
	}
	for (const response of [...byTenant('alpha'), ...byTenant('beta')]) {
		expect(response.status).toBe(200);
		expect(response.body.sendConnectLink).toBeUndefined();
	}
	expect(summary(bled)).toEqual([]);
});

it('a connected credential deleted by hand: the call fails as not connected (its credential was deleted), and the connection is forgotten', async () => {
	const doomed = await api.createCredential({
		name: `tenant-oauth ${CONNECTION} delta (connected by Tenant OAuth2 Connect: do not edit or use)`,
		type: 'oAuth2Api',
		data: {
			grantType: 'authorizationCode',
			authUrl: `${stack.echo.url}/oauth/authorize`,
			accessTokenUrl: `${stack.echo.url}/oauth/token`,
			clientId: 'echo-app',
			clientSecret: 'echo-app-secret',
			scope: '',
			authQueryParameters: '',
			authentication: 'header',
			serverUrl: '', // n8n 2.8.4's public API asks for it (see tenantCredentialData)
			oauthTokenData: { access_token: `tok-delta-${randomBytes(12).toString('hex')}`, token_type: 'Bearer' },
		},
	});
	await store.saveConnection({ tenantId: 'delta', appId: CONNECTION, credentialId: doomed.id, credentialType: 'oAuth2Api', connectedAt: new Date() });
	await connectAll((tenant) => tenant);
	await deploy('connected-deleted');
	await api.deleteCredential(doomed.id);
	const { answers } = await fire('connected-deleted', ['delta', 'alpha']);
	const [delta, alpha] = answers.map((answer) => answer.response);
	expect(delta.status).toBe(200);
	expect(delta.body.sendConnectLink).toBe(true);
	expect(String(delta.body.error)).toContain(`Tenant "delta" is not connected (its credential was deleted) to ${CONNECTION}: send them a connect link`);
	expect(await store.connectionOf('delta', CONNECTION)).toBeUndefined();
	expect(alpha.status).toBe(200);
	expect(alpha.body.sendConnectLink).toBeUndefined();
});
