/**
 * Issue 19, "the swap refuses", at the node: Tenant Credential Swap's execute() with n8n's public API
 * scripted (the recorded n8n 2.40.7 schemas) and the in-memory lock. Tenant data carrying an Authorization
 * Code tenant's tokens fails its item with an error naming the parameter, the item and what to do, and
 * never reaches the base credential; under Continue On Fail the item becomes an error item while another
 * base credential's Client Credentials item is swapped. The rule itself: tenantDataOAuthTokens.test.ts.
 */
import { NodeOperationError, type IDataObject, type IHttpRequestOptions, type INodeExecutionData } from 'n8n-workflow';

import { TenantCredentialSwap } from '../../nodes/TenantCredentialSwap/TenantCredentialSwap.node';
import { executeContext } from '../helpers/executeContext';
import recorded from '../fixtures/credentialSchemas.json';

const swapNode = new TenantCredentialSwap();
const CLIENT_SECRET = 'client-SECRET-0123456789';
const ACCESS_TOKEN = 'tenant-ACCESS-token-0123456789';
const REFRESH_TOKEN = 'tenant-REFRESH-token-0123456789';
const VALUES = [CLIENT_SECRET, ACCESS_TOKEN, REFRESH_TOKEN];

const AUTH_CODE_WITH_TOKENS = {
	grantType: 'authorizationCode',
	authUrl: 'https://idp.example.com/authorize',
	accessTokenUrl: 'https://idp.example.com/token',
	clientId: 'app-1',
	clientSecret: CLIENT_SECRET,
	scope: 'crm',
	authentication: 'header',
	oauthTokenData: { access_token: ACCESS_TOKEN, refresh_token: REFRESH_TOKEN, token_type: 'Bearer' },
};
const CLIENT_CREDENTIALS = { grantType: 'clientCredentials', accessTokenUrl: 'https://idp.example.com/token', clientId: 'app-2', clientSecret: CLIENT_SECRET, scope: '', authentication: 'body' };
/** Every field either shape sets: Allowed Fields is not what refuses the tokens. */
const ALLOWED = 'grantType,authUrl,accessTokenUrl,clientId,clientSecret,scope,authentication,oauthTokenData';

/** n8n's public API for two oAuth2Api base credentials: reads, the schema, PATCHes (recorded). */
function scriptedN8n() {
	const patched: Array<{ id: string; data: IDataObject }> = [];
	const unexpected: string[] = [];
	let calls = 0;
	const bases: Record<string, string> = { 'cred-auth-code': 'Shared CRM', 'cred-client': 'Shared Billing' };
	const send = async (options: IHttpRequestOptions) => {
		calls++;
		const path = new URL(options.url).pathname.replace(/^\/api\/v1/, '');
		const method = options.method ?? 'GET';
		const schema = /^\/credentials\/schema\/(.+)$/.exec(path);
		if (method === 'GET' && schema) return { statusCode: 200, body: (recorded.schemas as Record<string, unknown>)[decodeURIComponent(schema[1])] };
		const byId = /^\/credentials\/([^/]+)$/.exec(path);
		const id = byId ? decodeURIComponent(byId[1]) : '';
		if (byId && bases[id] && method === 'GET') return { statusCode: 200, body: { id, name: bases[id], type: 'oAuth2Api', updatedAt: '2026-12-01T00:00:00.000Z' } };
		if (byId && bases[id] && method === 'PATCH') {
			patched.push({ id, data: (options.body as { data: IDataObject }).data });
			return { statusCode: 200, body: { id, name: bases[id], type: 'oAuth2Api', updatedAt: new Date().toISOString() } };
		}
		unexpected.push(`${method} ${path}`);
		return { statusCode: 404, body: { message: 'Not Found' } };
	};
	return { send, patched, unexpected, calls: () => calls };
}

let executions = 0;
async function runSwap(scripted: ReturnType<typeof scriptedN8n>, items: Array<{ base: string; data: IDataObject }>, continueOnFail: boolean) {
	const { context } = executeContext({
		items: items.map((item, index): INodeExecutionData => ({ json: { tenant: `tenant-${index}` } })),
		executionId: `refuse-${++executions}`,
		continueOnFail,
		// A fresh API URL per run: n8n's answers (schemas, read-by-ID support) are cached per instance.
		credentials: { tenantSwapN8nApi: { baseUrl: `http://scripted-n8n-${executions}.invalid/api/v1`, apiKey: 'scripted-key', allowUnauthorizedCerts: false } },
		send: scripted.send as never,
		parameters: {
			baseCredential: (i: number) => ({ __rl: true, mode: 'id', value: items[i].base }),
			tenantId: (i: number) => `tenant-${i}`,
			credentialData: (i: number) => items[i].data,
			lockBackend: 'memory',
			options: { allowedFields: ALLOWED, renewLock: false, skipUnchanged: false },
		},
	});
	return (await swapNode.execute.call(context))[0];
}

describe('Tenant Credential Swap refuses an Authorization Code tenant\'s tokens in Credential Data', () => {
	it('fails the item with the parameter, the item and what to do; the base credential is never written; no value shown', async () => {
		const scripted = scriptedN8n();
		const error = await runSwap(scripted, [{ base: 'cred-auth-code', data: AUTH_CODE_WITH_TOKENS }], false).catch((e) => e);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error.message).toBe(
			'Parameter "Credential Data", item 0: Credential data sets "oauthTokenData" (the tenant\'s OAuth2 tokens) for a "oAuth2Api" credential with the Authorization Code grant: the tenant would lose the connection at a token refresh',
		);
		expect(error.description).toMatch(/into the base credential "Shared CRM", and the next swap replaces them/);
		expect(error.description).toMatch(/Tenant OAuth2 Connect node .*Run With Tenant Credential, credential source "Connected tenant"/);
		expect(error.description).toMatch(/Nothing was changed\.$/);
		for (const value of VALUES) expect(`${error.message} ${error.description}`).not.toContain(value);
		expect(scripted.patched).toEqual([]);
		expect(scripted.unexpected).toEqual([]);
	});

	it('control: the same data without "oauthTokenData" is swapped by the same node and API (so the tokens are what is refused)', async () => {
		const scripted = scriptedN8n();
		const { oauthTokenData: _tokens, ...settings } = AUTH_CODE_WITH_TOKENS;
		const output = await runSwap(scripted, [{ base: 'cred-auth-code', data: settings }], false);
		expect((output[0].json.tenantSwap as IDataObject).update).toBe('patched');
		expect(scripted.patched.map((patch) => patch.id)).toEqual(['cred-auth-code']);
		expect(scripted.unexpected).toEqual([]);
	});

	it('Continue On Fail: the refused item becomes an error item; a Client Credentials item of another base credential is swapped', async () => {
		const scripted = scriptedN8n();
		const output = await runSwap(
			scripted,
			[
				{ base: 'cred-client', data: CLIENT_CREDENTIALS },
				{ base: 'cred-auth-code', data: AUTH_CODE_WITH_TOKENS },
			],
			true,
		);
		expect(output).toHaveLength(2);
		expect((output[0].json.tenantSwap as IDataObject).update).toBe('patched');
		expect(output[1].json.error).toMatch(/^Parameter "Credential Data", item 1: Credential data sets "oauthTokenData" .* Authorization Code grant/);
		expect(output[1].json.errorDescription).toMatch(/Connected tenant/);
		expect(output[1].pairedItem).toEqual({ item: 1 });
		for (const value of VALUES) expect(JSON.stringify(output)).not.toContain(value);
		expect(scripted.patched.map((patch) => patch.id)).toEqual(['cred-client']);
		expect(scripted.unexpected).toEqual([]);
	});
});
