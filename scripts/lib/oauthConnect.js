// @ts-check
'use strict';
/**
 * The OAuth2 connect flow of `npm run dev` and `npm run connect:check`: the stand-in OAuth2 provider
 * (test/helpers/oauthProvider.ts, on 127.0.0.1) and the four examples/ workflows that let a tenant
 * connect its own account and run with it:
 *   - examples/tenant-oauth2-connect.json          Tenant OAuth2 Connect Trigger (start/callback)
 *   - examples/tenant-oauth2-links.json            operator webhook (header auth) -> link / disconnect
 *   - examples/run-with-connected-tenant.json      operator webhook -> Run With Tenant Credential (Connected Tenant)
 *   - examples/run-with-connected-tenant-sub-workflow.json   HTTP Request on the provider's /api/me
 * with the credentials they need: the operator's Header Auth key, the app's `oAuth2Api` credential
 * (authorization code, the provider's URLs, a client registered with n8n's callback URL) and the
 * sub-workflow's placeholder `oAuth2Api` credential.
 */
const fs = require('fs');
const path = require('path');
const { randomBytes } = require('crypto');
const { requireTs } = require('./requireTs');

const EXAMPLES = path.resolve(__dirname, '..', '..', 'examples');
/** The connection name the examples share (trigger, Connect node, Run With Tenant Credential). */
const CONNECTION = 'demo';
/** The header the operator's backend authenticates with on the links and run webhooks. */
const OPERATOR_HEADER = 'x-operator-key';
const DEFAULT_PATHS = Object.freeze({ connect: 'tenant-connect', links: 'tenant-oauth-links', run: 'tenant-oauth-run' });
/** Access tokens of the stand-in provider live this long; n8n refreshes them (the provider rotates refresh tokens). */
const ACCESS_TOKEN_TTL_SECONDS = 600;

/** @typedef {{id: string, name: string}} Ref */
/** @typedef {{connect: string, links: string, run: string}} ConnectPaths */

/**
 * The stand-in provider on 127.0.0.1 (a free port unless given).
 * @param {{port?: number}} [o]
 * @returns {Promise<import('../../test/helpers/oauthProvider').OAuthProvider>}
 */
async function startDemoProvider(o = {}) {
	const { startOAuthProvider } = requireTs('../../test/helpers/oauthProvider.ts', __dirname);
	return await startOAuthProvider({ port: o.port, settings: { accessTokenTtlSeconds: ACCESS_TOKEN_TTL_SECONDS } });
}

/**
 * An example's JSON with its placeholders replaced (IDs, URLs, paths).
 * @param {string} name  file name in examples/ without .json
 * @param {Record<string, string>} replacements
 */
function loadConnectExample(name, replacements) {
	let text = fs.readFileSync(path.join(EXAMPLES, `${name}.json`), 'utf8');
	for (const [placeholder, value] of Object.entries(replacements)) text = text.split(placeholder).join(value);
	return JSON.parse(text);
}

/**
 * The four workflows for this n8n, in the order they must be created (the sub-workflow's ID goes
 * into the run workflow).
 * @param {{n8nBaseUrl: string, providerUrl: string, paths: ConnectPaths, n8nApi: Ref, postgres: Ref, app: Ref, operatorKey: Ref, placeholder: Ref}} o
 */
function connectExampleWorkflows(o) {
	/** @param {string} text */
	const quoted = (text) => JSON.stringify(text).slice(1, -1);
	const common = {
		REPLACE_N8N_API_CREDENTIAL_ID: o.n8nApi.id,
		REPLACE_POSTGRES_CREDENTIAL_ID: o.postgres.id,
		REPLACE_OPERATOR_HEADER_AUTH_CREDENTIAL_ID: o.operatorKey.id,
		REPLACE_OAUTH2_APP_CREDENTIAL_ID: o.app.id,
		REPLACE_PLACEHOLDER_CREDENTIAL_ID: o.placeholder.id,
		'https://n8n.example.com/webhook/tenant-connect/start': quoted(`${o.n8nBaseUrl}/webhook/${o.paths.connect}/start`),
		'https://provider.example.com': quoted(o.providerUrl),
		'"tenant-connect"': JSON.stringify(o.paths.connect),
		'"tenant-oauth-links"': JSON.stringify(o.paths.links),
		'"tenant-oauth-run"': JSON.stringify(o.paths.run),
	};
	return {
		connect: loadConnectExample('tenant-oauth2-connect', common),
		links: loadConnectExample('tenant-oauth2-links', common),
		runSub: loadConnectExample('run-with-connected-tenant-sub-workflow', common),
		/** @param {string} subWorkflowId */
		run: (subWorkflowId) => loadConnectExample('run-with-connected-tenant', { ...common, REPLACE_SUB_WORKFLOW_ID: subWorkflowId }),
	};
}

/**
 * Registers the app at the provider (redirect URI: n8n's callback webhook), creates the credentials
 * and the four workflows, publishes them and waits for their webhooks.
 * @param {ReturnType<typeof import('../../test/harness/api.js').createApiClient>} api
 * @param {{n8nBaseUrl: string, provider: import('../../test/helpers/oauthProvider').OAuthProvider, n8nApi: Ref, postgres: Ref,
 *          paths?: Partial<ConnectPaths>, onLock?: (workflow: any) => any}} o
 *        onLock: puts the package's nodes on another lock backend (all four share one connect store)
 */
async function deployConnectContent(api, o) {
	const paths = { ...DEFAULT_PATHS, ...o.paths };
	const onLock = o.onLock ?? ((/** @type {any} */ workflow) => workflow);
	const callbackUrl = `${o.n8nBaseUrl}/webhook/${paths.connect}/callback`;
	const client = o.provider.registerClient({ redirectUris: [callbackUrl] });
	const operatorHeader = { name: OPERATOR_HEADER, value: randomBytes(18).toString('base64url') };
	const operatorKey = await api.createCredential({ name: 'Operator backend key (header auth)', type: 'httpHeaderAuth', data: operatorHeader });
	const app = await api.createCredential({
		name: 'Stand-in provider app',
		type: 'oAuth2Api',
		data: o.provider.appCredentialData(client),
	});
	// Dummy values: Run With Tenant Credential puts the connected tenant's credential in its place.
	const placeholder = await api.createCredential({
		name: 'Provider account (placeholder)',
		type: 'oAuth2Api',
		data: o.provider.appCredentialData({ clientId: 'placeholder', clientSecret: 'placeholder' }, { scope: '' }),
	});
	const json = connectExampleWorkflows({ n8nBaseUrl: o.n8nBaseUrl, providerUrl: o.provider.url, paths, n8nApi: o.n8nApi, postgres: o.postgres, app, operatorKey, placeholder });
	const connect = await api.createWorkflow(onLock(json.connect));
	await api.activateWorkflow(connect.id);
	await api.waitForWebhook(`${paths.connect}/start`, 'GET', { workflowId: connect.id });
	await api.waitForWebhook(`${paths.connect}/callback`, 'GET', { workflowId: connect.id });
	const links = await api.deployWorkflow(onLock(json.links));
	// Production executions run only a published sub-workflow.
	const runSub = await api.createWorkflow(json.runSub);
	await api.activateWorkflow(runSub.id);
	const run = await api.deployWorkflow(onLock(json.run(runSub.id)));
	return {
		connection: CONNECTION,
		paths,
		callbackUrl,
		operatorHeader,
		credentials: { operatorKey, app, placeholder },
		workflows: { connect, links, run, runSub },
	};
}

module.exports = { startDemoProvider, deployConnectContent, connectExampleWorkflows, CONNECTION, OPERATOR_HEADER, DEFAULT_PATHS, ACCESS_TOKEN_TTL_SECONDS };
