/**
 * Issue 19, "the swap refuses", at Run With Tenant Credential: its execute() with n8n's public API scripted
 * (the sub-workflow, the recorded n8n 2.40.7 schemas, credential creation) and the in-memory lock. A tenant
 * credential made from request data is deleted after Retention, taking the tokens n8n's refresh wrote into
 * it; so data carrying an Authorization Code tenant's tokens fails its item before anything is created,
 * with the same rule as the swap (nodes/shared/tenantData/oauthTokens.ts). Under Continue On Fail the item
 * becomes an error item and a Client Credentials item of the same execution still runs.
 */
import { NodeOperationError, type IDataObject, type IHttpRequestOptions, type INodeExecutionData } from 'n8n-workflow';

import { RunWithTenantCredential } from '../../nodes/RunWithTenantCredential/RunWithTenantCredential.node';
import { executeContext } from '../helpers/executeContext';
import recorded from '../fixtures/credentialSchemas.json';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { tenantSubWorkflow } = require('../harness/workflows.js');

const runNode = new RunWithTenantCredential();
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
const ALLOWED = 'grantType,authUrl,accessTokenUrl,clientId,clientSecret,scope,authentication,oauthTokenData';

/** n8n's public API: the sub-workflow (an oAuth2Api placeholder, any caller), schemas, credential creation (recorded). */
function scriptedN8n() {
	const sub = tenantSubWorkflow({ name: 'CRM sub-workflow', kind: 'oauth2', echoUrl: 'http://127.0.0.1:9', credential: { id: 'placeholder-1', name: 'CRM placeholder' }, pick: 'none' });
	const created: IDataObject[] = [];
	const unexpected: string[] = [];
	const send = async (options: IHttpRequestOptions) => {
		const path = new URL(options.url).pathname.replace(/^\/api\/v1/, '');
		const method = options.method ?? 'GET';
		const schema = /^\/credentials\/schema\/(.+)$/.exec(path);
		if (method === 'GET' && schema) return { statusCode: 200, body: (recorded.schemas as Record<string, unknown>)[decodeURIComponent(schema[1])] };
		if (method === 'GET' && path === '/workflows/sub-1') {
			return { statusCode: 200, body: { ...sub, id: 'sub-1', settings: { ...sub.settings, callerPolicy: 'any' }, shared: [{ role: 'workflow:owner', projectId: 'project-1' }] } };
		}
		if (method === 'GET' && path === '/workflows/workflow-1') return { statusCode: 404, body: { message: 'Not Found' } }; // the caller: its project unknown
		if (method === 'GET' && path === '/credentials') return { statusCode: 200, body: { data: [], nextCursor: null } }; // the orphan sweep's list: nothing to clean up
		if (method === 'POST' && path === '/credentials') {
			const body = options.body as IDataObject;
			created.push(body);
			return { statusCode: 200, body: { id: `tenant-cred-${created.length}`, name: body.name, type: body.type, createdAt: new Date().toISOString(), updatedAt: new Date().toISOString() } };
		}
		unexpected.push(`${method} ${path}`);
		return { statusCode: 404, body: { message: 'Not Found' } };
	};
	return { send, created, unexpected };
}

let executions = 0;
async function runRwt(scripted: ReturnType<typeof scriptedN8n>, data: IDataObject[], continueOnFail: boolean) {
	const subExecutions: INodeExecutionData[][] = [];
	const { context } = executeContext({
		items: data.map((_, index) => ({ json: { n: index } })),
		executionId: `refuse-rwt-${++executions}`,
		continueOnFail,
		// An editor run: the sub-workflow's saved version runs. A fresh API URL per run: answers are cached per instance.
		mode: 'manual',
		credentials: { tenantSwapN8nApi: { baseUrl: `http://scripted-n8n-rwt-${executions}.invalid/api/v1`, apiKey: 'scripted-key', allowUnauthorizedCerts: false } },
		send: scripted.send as never,
		executeWorkflow: async (_workflow, items) => {
			subExecutions.push(items);
			return { executionId: `sub-${subExecutions.length}`, data: [items.map(() => ({ json: { called: true } }))] };
		},
		parameters: {
			subWorkflow: { __rl: true, mode: 'id', value: 'sub-1' },
			tenantId: (i: number) => `tenant-${i}`,
			credentialData: (i: number) => data[i],
			lockBackend: 'memory',
			options: { allowedFields: ALLOWED, credentialType: 'oAuth2Api' },
		},
	});
	const output = await runNode.execute.call(context);
	return { output: output[0], subExecutions };
}

describe("Run With Tenant Credential refuses an Authorization Code tenant's tokens in Credential Data", () => {
	it('fails the item with the parameter, the item and what to do; no tenant credential, no sub-execution, no value shown', async () => {
		const scripted = scriptedN8n();
		const error = await runRwt(scripted, [AUTH_CODE_WITH_TOKENS], false).catch((e) => e);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error.message).toBe(
			'Parameter "Credential Data", item 0: Credential data sets "oauthTokenData" (the tenant\'s OAuth2 tokens) for a "oAuth2Api" credential with the Authorization Code grant: the tenant would lose the connection at a token refresh',
		);
		expect(error.description).toMatch(/into the tenant credential made from this data, which is deleted after Retention/);
		expect(error.description).toMatch(/Tenant OAuth2 Connect node .*credential source "Connected tenant"/);
		expect(error.description).toMatch(/Nothing was created\.$/);
		for (const value of VALUES) expect(`${error.message} ${error.description}`).not.toContain(value);
		expect(scripted.created).toEqual([]);
		expect(scripted.unexpected).toEqual([]);
	});

	it('control: the same data without "oauthTokenData" gets its tenant credential and runs (so the tokens are what is refused)', async () => {
		const scripted = scriptedN8n();
		const { oauthTokenData: _tokens, ...settings } = AUTH_CODE_WITH_TOKENS;
		const { output, subExecutions } = await runRwt(scripted, [settings], false);
		expect(output.map((item) => item.json)).toEqual([{ called: true }]);
		expect(subExecutions).toHaveLength(1);
		expect(scripted.created.map((body) => body.type)).toEqual(['oAuth2Api']);
		expect(scripted.unexpected).toEqual([]);
	});

	it('Continue On Fail: the refused item becomes an error item; a Client Credentials item runs with its own credential', async () => {
		const scripted = scriptedN8n();
		const { output, subExecutions } = await runRwt(scripted, [CLIENT_CREDENTIALS, AUTH_CODE_WITH_TOKENS], true);
		expect(output).toHaveLength(2);
		expect(output[0].json).toEqual({ called: true });
		expect(output[1].json.error).toMatch(/^Parameter "Credential Data", item 1: Credential data sets "oauthTokenData" .* Authorization Code grant/);
		expect(output[1].json.errorDescription).toMatch(/Connected tenant/);
		expect(output[1].pairedItem).toEqual({ item: 1 });
		for (const value of VALUES) expect(JSON.stringify(output)).not.toContain(value);
		expect(subExecutions.map((items) => items.map((item) => item.json))).toEqual([[{ n: 0 }]]);
		expect(scripted.created.map((body) => (body.data as IDataObject).grantType)).toEqual(['clientCredentials']);
		expect(scripted.unexpected).toEqual([]);
	});
});
