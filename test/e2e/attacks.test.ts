/**
 * The attack suite of issue 16: a hostile webhook caller against both nodes, in one real n8n 2.40.7
 * running our packed package (n8n on PostgreSQL). Each attack has a control in the same n8n in which
 * it lands (the check absent: n8n's own PATCH of the base credential, or the field allowed):
 *   1. expression values in tenant data (arithmetic, $env of a canary variable, $execution.id, nested in
 *      an object, in an array) through the swap (full update), the swap's temporary-credential path
 *      (Validate With Temporary Credential + Test Credential) and Run With Tenant Credential;
 *   2. a caller-chosen OAuth2 token URL (a canary server on 127.0.0.1) with empty Allowed Fields;
 *   3. a flood of new tenants and data versions past maxTenantCredentials / maxCredentialsPerTenant;
 *   4. Tenant IDs with control characters, and of 10 kB;
 *   5. the items passed into the sub-execution: what n8n stored for a saved successful and a failed
 *      sub-execution holds no secret (control: passSecretsToSubWorkflow on);
 *   6. OAuth2 client credentials with `scope: ""` swaps and runs without Fields Allowed Empty;
 *   7. for everything refused: no credential, temporary credential, lock row or registry record, the
 *      base credential untouched, the tenant API and the canary server saw nothing, and no attack value in
 *      the error, the stored executions, the webhook answers, the lock database or n8n's log (the scan).
 * Another n8n release: ATTACKS_N8N_VERSION=2.8.4 (installed by the harness like test:versions).
 * n8n runs with N8N_BLOCK_ENV_ACCESS_IN_NODE=false (an operator setting for Code nodes): the worst case,
 * in which an expression's $env reaches process.env (2.40.7 blocks it by default). Caller policy: see
 * the caller-policy suite. Attack values carry a canary ("canary-<id>-Kx3") that is printed only in
 * failure messages.
 */
import { Client } from 'pg';

import { startE2eStack, testDatabaseUrl, waitUntil, type E2eStack, type EchoRequest, type Ref } from '../helpers/e2eStack';
import { headerAuthPlaceholder } from '../helpers/runWithTenant';

/* eslint-disable @typescript-eslint/no-require-imports */
const workflows = require('../harness/workflows.js');
const { startEchoService } = require('../harness/echo.js');
/* eslint-enable @typescript-eslint/no-require-imports */

jest.setTimeout(900_000);

const SWAP = 'Tenant Credential Swap';
const RWT: string = workflows.RUN_WITH_TENANT;
const SUB_TRIGGER: string = workflows.SUB_TRIGGER;
const CALL = 'Call Tenant API';
const TEMPORARY_PREFIX = 'tenant-swap tmp';
const TENANT_PREFIX = 'tenant-cred ';

const MARKER = 'Kx3';
const canary = (id: string) => `canary-${id}-${MARKER}`;
const WHOLE_CANARY = /canary-[A-Za-z0-9]+-Kx3/g;
/** The value of an environment variable set for n8n only; an expression reading $env would get it. */
const ENV_NAME = 'TSW_ATTACK_ENV_CANARY';
const ENV_CANARY = `envcanary-${Math.random().toString(36).slice(2, 10)}-${MARKER}`;
/** This run's tables and names. */
const RUN = Math.random().toString(36).slice(2, 8);
/** Another n8n release than the harness's (e.g. ATTACKS_N8N_VERSION=2.8.4, installed like test:versions). */
const N8N_VERSION = process.env.ATTACKS_N8N_VERSION;
/**
 * n8n before 2.20 (2.8.4 measured): its public API schema of oAuth2Api asks for serverUrl (the hidden
 * useDynamicClientRegistration is missing), scope, and for client credentials the additional body properties.
 */
const OLD_OAUTH_SCHEMA = N8N_VERSION !== undefined && Number(N8N_VERSION.split('.')[0]) === 2 && Number(N8N_VERSION.split('.')[1]) < 20;

let stack: E2eStack;
let n8n: any;
let api: any;
let echo: E2eStack['echo'];
let n8nApi: Ref;
let postgres: Ref;
/** The caller's own server: a token URL the caller chose points here. */
let attacker: { url: string; requests: EchoRequest[]; stop(): Promise<void> };

/** Every attack canary sent (not the controls'), the refused executions and the answers: for the scan. */
const sentAttackCanaries = new Set<string>();
const attackExecutions: any[] = [];
const attackResponses: Array<{ label: string; status: number; body: unknown }> = [];

beforeAll(async () => {
	stack = await startE2eStack({
		logLevel: 'debug',
		env: { [ENV_NAME]: ENV_CANARY, N8N_BLOCK_ENV_ACCESS_IN_NODE: 'false' },
		...(N8N_VERSION ? { n8nVersion: N8N_VERSION } : {}),
	});
	({ n8n, api, echo, n8nApi, postgres } = stack);
	attacker = await startEchoService();
});

afterAll(async () => {
	await attacker?.stop();
	await stack?.stop();
});

// -------------------------------------------------------------------------------------------------
// Calls and what they left

interface Outcome {
	response: { status: number; body: any };
	execution: any;
	/** What the tenant API (echo) and the caller's server got during this call. */
	echoSeen: EchoRequest[];
	attackerSeen: EchoRequest[];
}

const isDone = (execution: any) => !['new', 'running', 'waiting'].includes(execution.status);

/** Calls the webhook once; returns the answer, the new finished webhook execution and what the servers saw meanwhile. */
async function callOnce(workflowId: string, path: string, body: unknown): Promise<Outcome> {
	const before = new Set((await api.getExecutions({ workflowId })).map((execution: any) => execution.id));
	const echoFrom = echo.requests.length;
	const attackerFrom = attacker.requests.length;
	const response = await api.callWebhook(path, { body });
	let execution: any;
	const found = await waitUntil(async () => {
		const recent = await api.getExecutions({ workflowId, includeData: true, limit: 20 });
		execution = recent.find((e: any) => !before.has(e.id) && e.mode === 'webhook' && isDone(e));
		return Boolean(execution);
	}, 60_000);
	if (!found) throw new Error(`no new finished webhook execution of workflow ${workflowId}`);
	return { response, execution, echoSeen: echo.requests.slice(echoFrom), attackerSeen: attacker.requests.slice(attackerFrom) };
}

/** A webhook whose execution failed: n8n 2.40 answers 500, older n8n (2.8) 200 with an empty body. */
function answeredFailure(response: { status: number; body: unknown }): boolean {
	return response.status === 500 || (response.status === 200 && (response.body === undefined || response.body === ''));
}

/** The credential's updatedAt from the list (2.8 answers 405 to GET /credentials/:id). */
async function updatedAtOf(id: string): Promise<string> {
	const found = (await api.listCredentials()).find((c: Ref) => c.id === id);
	if (!found?.updatedAt) throw new Error(`credential ${id} not listed with updatedAt`);
	return found.updatedAt as string;
}

function errorText(execution: any): string {
	const error = execution?.data?.resultData?.error;
	return `${String(error?.message ?? '')} | ${String(error?.description ?? '')}`;
}

/** Replaces every attack canary and the env canary, for failure messages that must not print them. */
function masked(text: string): string {
	return text.replace(WHOLE_CANARY, '[canary]').split(ENV_CANARY).join('[env canary]');
}

async function withLockDatabase<T>(fn: (client: Client) => Promise<T>): Promise<T> {
	const client = new Client({ connectionString: testDatabaseUrl() });
	await client.connect();
	try {
		return await fn(client);
	} finally {
		await client.end();
	}
}

/** Lock rows (held or freed) any execution of the workflow ever made in the default lock table. */
async function lockRowsOf(workflowId: string): Promise<number> {
	return await withLockDatabase(async (client) => {
		const { rows } = await client.query('SELECT count(*)::int AS n FROM public.tenant_swap_locks WHERE workflow_id = $1', [workflowId]);
		return rows[0].n as number;
	});
}

/**
 * Rows naming the tenant in every table of the package but the audit trail: tenant credential
 * registries and, unless `locks` is false, the lock rows of any lock table; in any schema.
 */
async function storeRowsOf(tenantId: string, { locks = true } = {}): Promise<string[]> {
	return await withLockDatabase(async (client) => {
		const { rows: tables } = await client.query<{ schema: string; name: string }>(
			`SELECT c.table_schema AS schema, c.table_name AS name FROM information_schema.columns c
			  WHERE c.column_name = 'tenant_id' AND c.table_schema NOT IN ('pg_catalog', 'information_schema')
			    AND c.table_name NOT LIKE '%audit%'
			    AND ($1 OR NOT EXISTS (SELECT 1 FROM information_schema.columns k
			                            WHERE k.table_schema = c.table_schema AND k.table_name = c.table_name AND k.column_name = 'lock_key'))`,
			[locks],
		);
		const found: string[] = [];
		for (const { schema, name } of tables) {
			const { rows } = await client.query(`SELECT count(*)::int AS n FROM "${schema}"."${name}" WHERE tenant_id = $1`, [tenantId]);
			if (rows[0].n > 0) found.push(`${schema}.${name}: ${rows[0].n}`);
		}
		return found;
	});
}

async function temporaryCredentials(): Promise<string[]> {
	return (await api.listCredentials()).map((c: Ref) => c.name).filter((name: string) => name.startsWith(`${TEMPORARY_PREFIX} `));
}

async function credentialCount(): Promise<number> {
	return (await api.listCredentials()).length;
}

interface RefusalCheck {
	label: string;
	node: string;
	patterns: RegExp[];
	tenantId: string;
	workflowId: string;
	/** Swap: the base credential, which must not change. */
	base?: { id: string; updatedAt: string };
	credentialsBefore: number;
	/** Text that must not appear in the error (attack values). */
	secrets: string[];
}

/** Refused in our node, before anything was created, locked or sent; nothing of the attack in the error. */
async function expectRefused(outcome: Outcome, c: RefusalCheck) {
	const { response, execution } = outcome;
	attackExecutions.push(execution);
	attackResponses.push({ label: c.label, status: response.status, body: response.body });
	const text = errorText(execution);
	expect({ label: c.label, failed: answeredFailure(response) }).toEqual({ label: c.label, failed: true });
	expect(execution.status).toBe('error');
	expect(execution.data?.resultData?.error?.node?.name).toBe(c.node);
	for (const pattern of c.patterns) expect(masked(text)).toMatch(pattern);
	expect(c.secrets.filter((secret) => text.includes(secret)).map(masked)).toEqual([]);
	// Nothing went out: neither the tenant API nor the caller's server got a request.
	expect(outcome.echoSeen.map((r) => r.path)).toEqual([]);
	expect(outcome.attackerSeen.map((r) => r.path)).toEqual([]);
	// Nothing made, nothing locked, nothing registered.
	expect(await credentialCount()).toBe(c.credentialsBefore);
	expect(await temporaryCredentials()).toEqual([]);
	expect(await lockRowsOf(c.workflowId)).toBe(0);
	expect(await storeRowsOf(c.tenantId)).toEqual([]);
	if (c.base) expect(await updatedAtOf(c.base.id)).toBe(c.base.updatedAt);
}

function remember(body: unknown) {
	for (const found of JSON.stringify(body).match(WHOLE_CANARY) ?? []) sentAttackCanaries.add(found);
}

// -------------------------------------------------------------------------------------------------
// Workflows

const HEADER_FIELDS = 'name,value';
/** What an OAuth2 client-credentials tenant sends on this n8n, and the Allowed Fields listing it. */
const OAUTH_EXTRA: Record<string, unknown> = OLD_OAUTH_SCHEMA ? { scope: 'tenant-scope', sendAdditionalBodyProperties: false, additionalBodyProperties: '{}' } : {};
const OAUTH_FIELDS = `grantType,accessTokenUrl,clientId,clientSecret,authentication,scope${OLD_OAUTH_SCHEMA ? ',serverUrl,sendAdditionalBodyProperties,additionalBodyProperties' : ''}`;
/** OAuth2 client-credentials data for `accessTokenUrl` (with what this n8n's schema asks for). */
function oauthClient(clientId: string, clientSecret: string, accessTokenUrl: string): Record<string, unknown> {
	return { grantType: 'clientCredentials', accessTokenUrl, clientId, clientSecret, authentication: 'body', ...OAUTH_EXTRA, ...(OLD_OAUTH_SCHEMA ? { serverUrl: accessTokenUrl } : {}) };
}

/** Webhook -> Tenant Credential Swap (data from body.data) -> Call Tenant API with the base -> Release Lock. */
async function deploySwap(path: string, base: Ref, genericAuthType: string, options: Record<string, unknown>) {
	return (await api.deployWorkflow(
		workflows.chainWorkflow({
			name: `attacks: ${path}`,
			path,
			nodes: [
				workflows.swapNode({ n8nApi, postgres, baseCredentialId: base.id, credentialData: '={{ $json.body.data }}', options: { lockTtl: 60, waitTimeout: 30, ...options } }),
				workflows.httpCallNode({ url: `${echo.url}/echo`, genericAuthType, credential: base }),
				workflows.releaseNode({ postgres }),
			],
		}),
	)) as { id: string };
}

/** Webhook -> Run With Tenant Credential (data from body.data) of the sub-workflow. */
async function deployRwt(path: string, subWorkflowId: string, options: Record<string, unknown>, extra: Record<string, unknown> = {}) {
	return (await api.deployWorkflow(
		workflows.runWithTenantWorkflow({ name: `attacks: ${path}`, path, subWorkflowId, n8nApi, postgres, credentialData: '={{ $json.body.data }}', options, ...extra }),
	)) as { id: string };
}

/** The control: Webhook -> n8n's HTTP Request PATCHes body.data into the base credential, no check -> Call Tenant API. */
async function deployPlainPatch(path: string, kind: 'headerAuth' | 'oauth2', base: Ref) {
	return (await api.deployWorkflow(
		workflows.unlockedWorkflow({ name: `attacks control: ${path}`, path, kind, baseCredential: base, apiUrl: n8n.apiUrl, apiKey: n8n.apiKey, echoUrl: echo.url, dataExpression: '$json.body.data' }),
	)) as { id: string };
}

async function oauthBase(name: string): Promise<Ref> {
	return await api.createCredential({ name, type: 'oAuth2Api', data: { ...oauthClient('placeholder', 'x', `${echo.url}/oauth/token`), scope: '' } });
}

/** Creates and publishes a sub-workflow: production executions run only a published one (as n8n's Execute Workflow). */
async function publishedSub(json: unknown): Promise<{ id: string }> {
	const sub = await api.createWorkflow(json);
	await api.activateWorkflow(sub.id);
	return sub;
}

async function headerSub(name: string, extra: Record<string, unknown> = {}): Promise<{ id: string }> {
	const placeholder = await headerAuthPlaceholder(api, `placeholder (${name})`);
	return await publishedSub(workflows.tenantSubWorkflow({ name, kind: 'headerAuth', echoUrl: echo.url, credential: placeholder, ...extra }));
}

async function oauthSub(name: string): Promise<{ id: string }> {
	const placeholder = await oauthBase(`placeholder (${name})`);
	return await publishedSub(workflows.tenantSubWorkflow({ name, kind: 'oauth2', echoUrl: echo.url, credential: placeholder }));
}

const headerSeen = (outcome: Outcome) => outcome.echoSeen.filter((r) => r.path === '/echo').map((r) => r.headers['x-tenant-secret']);
const bearerSeen = (outcome: Outcome) => outcome.echoSeen.filter((r) => r.path === '/echo').map((r) => r.headers.authorization);

// -------------------------------------------------------------------------------------------------
// 1. Expressions

/**
 * Expression values; each evaluates to something recognisable and carries a marker only as text: an
 * attack's canary, or a control's `control-<id>` (n8n logs what a control evaluates; the scan must not
 * take that for an attack's leak).
 */
const EXPRESSIONS = {
	arithmetic: (marker: string) => `={{ "${marker}".length * 0 + 6 * 7 }}`,
	env: (marker: string) => `={{ $env.${ENV_NAME} + "${marker}".slice(0, 0) }}`,
	execution: (marker: string) => `={{ $execution.id + "${marker}".slice(0, 0) }}`,
	/**
	 * Throws an ExpressionError when n8n evaluates it (a node that does not exist): n8n then fails the node
	 * with "[Error resolving credentials]". (n8n turns other errors inside an expression into null.)
	 */
	throwing: (marker: string) => `={{ $("No node ${marker}").item.json }}`,
};
const control = (id: string) => `control-${id}`;

/** OAuth2 client credentials data whose stored token is `oauthTokenData` (n8n then uses it as is). */
function oauthWithToken(tokenData: Record<string, unknown>, accessTokenUrl = `${echo.url}/oauth/token`) {
	return { ...oauthClient('expr-tenant', 'expr-secret', accessTokenUrl), oauthTokenData: tokenData };
}

interface ExpressionCase {
	name: string;
	kind: 'headerAuth' | 'oauth2';
	/** The tenant data; `id` makes its canary. */
	data: (id: string) => Record<string, unknown>;
	/** The field path the error must name. */
	path: string;
}

const EXPRESSION_CASES: ExpressionCase[] = [
	{ name: 'arithmetic', kind: 'headerAuth', data: (id) => ({ name: 'x-tenant-secret', value: EXPRESSIONS.arithmetic(canary(id)) }), path: 'value' },
	{ name: '$env of a canary variable', kind: 'headerAuth', data: (id) => ({ name: 'x-tenant-secret', value: EXPRESSIONS.env(canary(id)) }), path: 'value' },
	{ name: '$execution.id', kind: 'headerAuth', data: (id) => ({ name: 'x-tenant-secret', value: EXPRESSIONS.execution(canary(id)) }), path: 'value' },
	{ name: 'in the header name', kind: 'headerAuth', data: (id) => ({ name: EXPRESSIONS.arithmetic(canary(id)), value: 'plain' }), path: 'name' },
	{
		name: 'nested in an object (oauthTokenData.access_token)',
		kind: 'oauth2',
		data: (id) => oauthWithToken({ access_token: EXPRESSIONS.arithmetic(canary(id)), token_type: 'bearer' }),
		path: 'oauthTokenData.access_token',
	},
	{
		name: 'in an array (oauthTokenData.extra[1])',
		kind: 'oauth2',
		data: (id) => oauthWithToken({ access_token: 'plain-token', token_type: 'bearer', extra: ['plain', EXPRESSIONS.throwing(canary(id))] }),
		path: 'oauthTokenData.extra[1]',
	},
];

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('1. expression values in tenant data', () => {
	const controlOutcomes = new Map<string, Outcome>();

	describe('control: the same data PATCHed into the base credential by n8n itself is evaluated', () => {
		let headerControl: { id: string };
		let oauthControl: { id: string };

		beforeAll(async () => {
			headerControl = await deployPlainPatch('attack-expr-control-header', 'headerAuth', await api.createCredential({ name: 'expr control base (header)', type: 'httpHeaderAuth', data: { name: 'x-tenant-secret', value: 'none' } }));
			oauthControl = await deployPlainPatch('attack-expr-control-oauth', 'oauth2', await oauthBase('expr control base (oauth2)'));
		});

		it('arithmetic: the tenant API got 42', async () => {
			const outcome = await callOnce(headerControl.id, 'attack-expr-control-header', { data: { name: 'x-tenant-secret', value: EXPRESSIONS.arithmetic(control('c1')) } });
			controlOutcomes.set('arithmetic', outcome);
			expect(outcome.response.status).toBe(200);
			expect(headerSeen(outcome)).toEqual(['42']);
		});

		it("$env: the tenant API got the value of n8n's environment variable", async () => {
			const outcome = await callOnce(headerControl.id, 'attack-expr-control-header', { data: { name: 'x-tenant-secret', value: EXPRESSIONS.env(control('c2')) } });
			controlOutcomes.set('env', outcome);
			expect(outcome.response.status).toBe(200);
			expect(headerSeen(outcome).map((seen) => seen === ENV_CANARY)).toEqual([true]);
		});

		it('$execution.id: the tenant API got the execution ID', async () => {
			const outcome = await callOnce(headerControl.id, 'attack-expr-control-header', { data: { name: 'x-tenant-secret', value: EXPRESSIONS.execution(control('c3')) } });
			expect(outcome.response.status).toBe(200);
			expect(headerSeen(outcome)).toEqual([String(outcome.execution.id)]);
		});

		it('nested in an object: the tenant API got "Bearer 42"', async () => {
			const outcome = await callOnce(oauthControl.id, 'attack-expr-control-oauth', { data: oauthWithToken({ access_token: EXPRESSIONS.arithmetic(control('c4')), token_type: 'bearer' }) });
			expect(outcome.response.status).toBe(200);
			expect(bearerSeen(outcome)).toEqual(['Bearer 42']);
		});

		it('in an array: n8n evaluated it (the call failed resolving the credential)', async () => {
			const outcome = await callOnce(oauthControl.id, 'attack-expr-control-oauth', {
				data: oauthWithToken({ access_token: 'plain-token', token_type: 'bearer', extra: ['plain', EXPRESSIONS.throwing(control('c5'))] }),
			});
			expect(masked(errorText(outcome.execution))).toMatch(/Error resolving credentials/);
			expect(answeredFailure(outcome.response)).toBe(true);
			expect(outcome.execution.data?.resultData?.lastNodeExecuted).toBe(CALL);
			// Control of the control: without the array element the same credential works.
			const clean = await callOnce(oauthControl.id, 'attack-expr-control-oauth', { data: oauthWithToken({ access_token: 'plain-token', token_type: 'bearer', extra: ['plain'] }) });
			expect(clean.response.status).toBe(200);
			expect(bearerSeen(clean)).toEqual(['Bearer plain-token']);
		});
	});

	interface Route {
		name: string;
		node: string;
		/** Deploys the route for a credential kind; returns its path, workflow and the base credential (swap). */
		deploy(kind: 'headerAuth' | 'oauth2'): Promise<{ path: string; workflow: { id: string }; base?: Ref }>;
	}

	const ROUTES: Route[] = [
		{
			name: 'Tenant Credential Swap (full update)',
			node: SWAP,
			async deploy(kind) {
				const base = kind === 'oauth2' ? await oauthBase(`expr swap base (${kind})`) : await api.createCredential({ name: `expr swap base (${kind})`, type: 'httpHeaderAuth', data: { name: 'x-tenant-secret', value: 'none' } });
				const path = `attack-expr-swap-${kind}`;
				const workflow = await deploySwap(path, base, kind === 'oauth2' ? 'oAuth2Api' : 'httpHeaderAuth', { allowedFields: kind === 'oauth2' ? `${OAUTH_FIELDS},oauthTokenData` : HEADER_FIELDS });
				return { path, workflow, base };
			},
		},
		{
			name: 'Tenant Credential Swap (temporary credential and credential test)',
			node: SWAP,
			async deploy(kind) {
				const base = kind === 'oauth2' ? await oauthBase(`expr swap tmp base (${kind})`) : await api.createCredential({ name: `expr swap tmp base (${kind})`, type: 'httpHeaderAuth', data: { name: 'x-tenant-secret', value: 'none' } });
				const path = `attack-expr-swaptmp-${kind}`;
				const workflow = await deploySwap(path, base, kind === 'oauth2' ? 'oAuth2Api' : 'httpHeaderAuth', {
					allowedFields: kind === 'oauth2' ? `${OAUTH_FIELDS},oauthTokenData` : HEADER_FIELDS,
					validateWithTemporaryCredential: true,
					testCredential: true,
				});
				return { path, workflow, base };
			},
		},
		{
			name: 'Run With Tenant Credential',
			node: RWT,
			async deploy(kind) {
				const sub = kind === 'oauth2' ? await oauthSub('expr sub-workflow (oauth2)') : await headerSub('expr sub-workflow (header)');
				const path = `attack-expr-rwt-${kind}`;
				const workflow = await deployRwt(path, sub.id, {
					allowedFields: kind === 'oauth2' ? `${OAUTH_FIELDS},oauthTokenData` : HEADER_FIELDS,
					credentialType: kind === 'oauth2' ? 'oAuth2Api' : 'httpHeaderAuth',
				});
				return { path, workflow };
			},
		},
	];

	ROUTES.forEach((route, routeIndex) => {
		describe(`through ${route.name}`, () => {
			const deployed = new Map<string, { path: string; workflow: { id: string }; base?: Ref }>();

			beforeAll(async () => {
				for (const kind of ['headerAuth', 'oauth2'] as const) deployed.set(kind, await route.deploy(kind));
			});

			EXPRESSION_CASES.forEach((expressionCase, caseIndex) => {
				it(`${expressionCase.name}: refused naming "${expressionCase.path}"; nothing sent, made or locked`, async () => {
					const { path, workflow, base } = deployed.get(expressionCase.kind)!;
					const id = `e${routeIndex}${caseIndex}`;
					const tenantId = `expr-${id}`;
					const data = expressionCase.data(id);
					const body = { tenantId, data };
					remember(body);
					const credentialsBefore = await credentialCount();
					const baseBefore = base ? { id: base.id, updatedAt: await updatedAtOf(base.id) } : undefined;
					const outcome = await callOnce(workflow.id, path, body);
					await expectRefused(outcome, {
						label: `1 ${route.name}: ${expressionCase.name}`,
						node: route.node,
						patterns: [/expression/i, new RegExp(`(^|[^\\w.\\[])${escapeRegExp(expressionCase.path)}($|[^\\w.\\[])`)],
						tenantId,
						workflowId: workflow.id,
						base: baseBefore,
						credentialsBefore,
						secrets: [canary(id), ...Object.values(EXPRESSIONS).map((make) => make(canary(id)))],
					});
				});
			});
		});
	});
});

// -------------------------------------------------------------------------------------------------
// 2. A caller-chosen token URL

describe('2. a caller-chosen OAuth2 token URL (a canary server on 127.0.0.1)', () => {
	const ssrfData = (id: string, secret = canary(id)) => oauthClient(`ssrf-${id}`, secret, `${attacker.url}/oauth/token`);

	async function swapRoute(name: string, allowedFields: string) {
		const base = await oauthBase(`ssrf swap base (${name})`);
		const path = `attack-ssrf-swap-${name}`;
		return { base, path, workflow: await deploySwap(path, base, 'oAuth2Api', allowedFields ? { allowedFields } : {}) };
	}

	async function rwtRoute(name: string, allowedFields: string) {
		const sub = await oauthSub(`ssrf sub-workflow (${name})`);
		const path = `attack-ssrf-rwt-${name}`;
		return { path, workflow: await deployRwt(path, sub.id, { credentialType: 'oAuth2Api', ...(allowedFields ? { allowedFields } : {}) }) };
	}

	it('Tenant Credential Swap, Allowed Fields empty: refused naming accessTokenUrl; the canary server got nothing', async () => {
		const { base, path, workflow } = await swapRoute('empty', '');
		const body = { tenantId: 'ssrf-s1', data: ssrfData('s1') };
		remember(body);
		const credentialsBefore = await credentialCount();
		const baseBefore = { id: base.id, updatedAt: await updatedAtOf(base.id) };
		const outcome = await callOnce(workflow.id, path, body);
		await expectRefused(outcome, {
			label: '2 swap token URL',
			node: SWAP,
			patterns: [/accessTokenUrl/],
			tenantId: 'ssrf-s1',
			workflowId: workflow.id,
			base: baseBefore,
			credentialsBefore,
			secrets: [canary('s1'), attacker.url],
		});
	});

	it('Run With Tenant Credential, Allowed Fields empty: refused naming accessTokenUrl; the canary server got nothing', async () => {
		const { path, workflow } = await rwtRoute('empty', '');
		const body = { tenantId: 'ssrf-r1', data: ssrfData('r1') };
		remember(body);
		const credentialsBefore = await credentialCount();
		const outcome = await callOnce(workflow.id, path, body);
		await expectRefused(outcome, {
			label: '2 Run With Tenant Credential token URL',
			node: RWT,
			patterns: [/accessTokenUrl/],
			tenantId: 'ssrf-r1',
			workflowId: workflow.id,
			credentialsBefore,
			secrets: [canary('r1'), attacker.url],
		});
	});

	it('control, Tenant Credential Swap with accessTokenUrl in Allowed Fields: the canary server got the token request', async () => {
		const { path, workflow } = await swapRoute('allowed', OAUTH_FIELDS);
		const outcome = await callOnce(workflow.id, path, { tenantId: 'ssrf-s2', data: ssrfData('s2', control('s2')) });
		expect(outcome.response.status).toBe(200);
		const tokenRequests = outcome.attackerSeen.filter((r) => r.path === '/oauth/token');
		expect(tokenRequests.map((r) => (r.body as any)?.client_secret === control('s2'))).toEqual([true]);
	});

	it('control, Run With Tenant Credential with accessTokenUrl in Allowed Fields: the canary server got the token request', async () => {
		const { path, workflow } = await rwtRoute('allowed', OAUTH_FIELDS);
		const outcome = await callOnce(workflow.id, path, { tenantId: 'ssrf-r2', data: ssrfData('r2', control('r2')) });
		expect(outcome.response.status).toBe(200);
		const tokenRequests = outcome.attackerSeen.filter((r) => r.path === '/oauth/token');
		expect(tokenRequests.map((r) => (r.body as any)?.client_secret === control('r2'))).toEqual([true]);
	});
});

// -------------------------------------------------------------------------------------------------
// 3. A flood of new tenants

describe('3. a flood of new tenants and data versions past the limits', () => {
	const header = (secret: string) => ({ name: 'x-tenant-secret', value: secret });
	const statusesOf = async (workflowId: string, path: string, calls: Array<{ tenantId: string; secret: string }>) => {
		const outcomes: Outcome[] = [];
		for (const call of calls) outcomes.push(await callOnce(workflowId, path, { tenantId: call.tenantId, data: header(call.secret) }));
		return outcomes;
	};
	/** Tenant f0 sends 3 data versions, then 5 more tenants come, one call each. */
	const callsFor = (prefix: string) => [
		{ tenantId: `${prefix}0`, secret: `flood-${prefix}0-v1` },
		{ tenantId: `${prefix}0`, secret: `flood-${prefix}0-v2` },
		{ tenantId: `${prefix}0`, secret: `flood-${prefix}0-v3` },
		...[1, 2, 3, 4, 5].map((n) => ({ tenantId: `${prefix}${n}`, secret: `flood-${prefix}${n}-v1` })),
	];
	const countsOf = async (prefix: string) => {
		const names = (await api.listCredentials()).map((c: Ref) => c.name).filter((name: string) => name.startsWith(TENANT_PREFIX));
		return [0, 1, 2, 3, 4, 5].map((n) => names.filter((name: string) => name.split(' ').includes(`${prefix}${n}`)).length);
	};

	it('maxTenantCredentials 5, maxCredentialsPerTenant 2: the 3rd version and the 6th and 7th credential refused, nothing made past them', async () => {
		const sub = await headerSub('flood sub-workflow');
		// A lock table of its own: its registry counts only this workflow's tenant credentials.
		const workflow = await deployRwt('attack-flood', sub.id, {
			allowedFields: HEADER_FIELDS,
			credentialType: 'httpHeaderAuth',
			maxTenantCredentials: 5,
			maxCredentialsPerTenant: 2,
			lockTable: `attack_flood_${RUN}`,
		});
		const outcomes = await statusesOf(workflow.id, 'attack-flood', callsFor('fl'));
		const summary = outcomes.map((o) => o.execution.status);
		process.stderr.write(`3. flood with limits 5/2: executions ${summary.join(' ')}\n`);
		expect(summary).toEqual(['success', 'success', 'error', 'success', 'success', 'success', 'error', 'error']);
		expect(masked(errorText(outcomes[2].execution))).toMatch(/maxCredentialsPerTenant|Credentials Per Tenant/i);
		for (const refused of [outcomes[6], outcomes[7]]) expect(masked(errorText(refused.execution))).toMatch(/maxTenantCredentials|Tenant Credentials/i);
		for (const refused of [outcomes[2], outcomes[6], outcomes[7]]) {
			expect(refused.execution.data?.resultData?.error?.node?.name).toBe(RWT);
			// Refused before the sub-workflow ran: the tenant API saw nothing.
			expect(refused.echoSeen.length).toBe(0);
			expect(errorText(refused.execution)).not.toMatch(/flood-fl\d-v\d/);
		}
		expect(await countsOf('fl')).toEqual([2, 1, 1, 1, 0, 0]);
		// No registry record for the refused tenants (a creation lock row may exist: the limit is checked under it).
		expect(await storeRowsOf('fl4', { locks: false })).toEqual([]);
		expect(await storeRowsOf('fl5', { locks: false })).toEqual([]);
		expect(await temporaryCredentials()).toEqual([]);
	});

	it('maxTenantCredentials 3, 10 new tenants at once: at most 3 credentials made, every other call refused', async () => {
		const sub = await headerSub('burst flood sub-workflow');
		await deployRwt('attack-flood-burst', sub.id, {
			allowedFields: HEADER_FIELDS,
			credentialType: 'httpHeaderAuth',
			maxTenantCredentials: 3,
			lockTable: `attack_burst_${RUN}`,
		});
		const tenants = Array.from({ length: 10 }, (_, n) => `fb${n}`);
		const answers = await Promise.all(tenants.map((tenantId) => api.callWebhook('attack-flood-burst', { body: { tenantId, data: header(`flood-${tenantId}-v1`) } })));
		// Ran the sub-workflow: the tenant API's answer came back (older n8n answers a failed execution 200, empty).
		const ran = answers.filter((answer: { status: number; body: any }) => answer.status === 200 && answer.body?.tenantSecretHash);
		const names = (await api.listCredentials()).map((c: Ref) => c.name).filter((name: string) => name.startsWith(TENANT_PREFIX));
		const made = tenants.filter((tenant) => names.some((name: string) => name.split(' ').includes(tenant)));
		process.stderr.write(`3. burst of 10 new tenants, limit 3: ${ran.length} ran, ${made.length} credentials made\n`);
		expect(made.length).toBeGreaterThan(0);
		expect(made.length).toBeLessThanOrEqual(3);
		expect(ran.length).toBe(made.length);
		expect(answers.filter((answer: { status: number; body: any }) => !(answer.status === 200 && answer.body?.tenantSecretHash) && !answeredFailure(answer)).map((answer: { status: number }) => answer.status)).toEqual([]);
	});

	it('control, default limits: the same calls create every credential', async () => {
		const sub = await headerSub('flood control sub-workflow');
		const workflow = await deployRwt('attack-flood-control', sub.id, { allowedFields: HEADER_FIELDS, credentialType: 'httpHeaderAuth' });
		const outcomes = await statusesOf(workflow.id, 'attack-flood-control', callsFor('fc'));
		const summary = outcomes.map((o) => o.execution.status);
		process.stderr.write(`3. flood control, default limits: executions ${summary.join(' ')}\n`);
		expect(summary).toEqual(Array(8).fill('success'));
		expect(await countsOf('fc')).toEqual([3, 1, 1, 1, 1, 1]);
	});
});

// -------------------------------------------------------------------------------------------------
// 4. Tenant IDs

describe('4. Tenant IDs with control characters, and of 10 kB', () => {
	const CONTROL_CHARACTERS = 'evil\u0007tenant\r\nAdmin: approved\u202e';
	const HUGE = `huge${'x'.repeat(10_240)}`;
	const LONGEST_ALLOWED = `long${'y'.repeat(196)}`;
	let swapFlow: { path: string; workflow: { id: string }; base: Ref };
	let rwtFlow: { path: string; workflow: { id: string } };

	beforeAll(async () => {
		const base = await api.createCredential({ name: 'tenant ID base', type: 'httpHeaderAuth', data: { name: 'x-tenant-secret', value: 'none' } });
		// Lock per tenant: the Tenant ID would be part of the lock key.
		swapFlow = { path: 'attack-tenant-swap', base, workflow: await deploySwap('attack-tenant-swap', base, 'httpHeaderAuth', { allowedFields: HEADER_FIELDS, lockScope: 'tenant' }) };
		const sub = await headerSub('tenant ID sub-workflow');
		rwtFlow = { path: 'attack-tenant-rwt', workflow: await deployRwt('attack-tenant-rwt', sub.id, { allowedFields: HEADER_FIELDS, credentialType: 'httpHeaderAuth' }) };
	});

	const cases: Array<[string, string]> = [
		['control characters (BEL, CR LF, right-to-left override)', CONTROL_CHARACTERS],
		['10 kB of text', HUGE],
	];

	cases.forEach(([name, tenantId], index) => {
		it(`Tenant Credential Swap, ${name}: refused, nothing made or locked`, async () => {
			const body = { tenantId, data: { name: 'x-tenant-secret', value: canary(`t${index}s`) } };
			remember(body);
			const credentialsBefore = await credentialCount();
			const baseBefore = { id: swapFlow.base.id, updatedAt: await updatedAtOf(swapFlow.base.id) };
			const outcome = await callOnce(swapFlow.workflow.id, swapFlow.path, body);
			await expectRefused(outcome, {
				label: `4 swap ${name}`,
				node: SWAP,
				patterns: [/Tenant ID/],
				tenantId,
				workflowId: swapFlow.workflow.id,
				base: baseBefore,
				credentialsBefore,
				secrets: [canary(`t${index}s`), 'x'.repeat(201), 'Admin: approved'],
			});
		});

		it(`Run With Tenant Credential, ${name}: refused, nothing made or locked`, async () => {
			const body = { tenantId, data: { name: 'x-tenant-secret', value: canary(`t${index}r`) } };
			remember(body);
			const credentialsBefore = await credentialCount();
			const outcome = await callOnce(rwtFlow.workflow.id, rwtFlow.path, body);
			await expectRefused(outcome, {
				label: `4 Run With Tenant Credential ${name}`,
				node: RWT,
				patterns: [/Tenant ID/],
				tenantId,
				workflowId: rwtFlow.workflow.id,
				credentialsBefore,
				secrets: [canary(`t${index}r`), 'x'.repeat(201), 'Admin: approved'],
			});
		});
	});

	it('control: n8n itself accepts a credential name with those characters (only our check keeps them out)', async () => {
		const made = await api.createCredential({ name: `${TENANT_PREFIX}${CONTROL_CHARACTERS} control`, type: 'httpHeaderAuth', data: { name: 'x', value: 'y' } });
		try {
			const listed = (await api.listCredentials()).find((c: Ref) => c.id === made.id);
			expect(listed?.name).toBe(`${TENANT_PREFIX}${CONTROL_CHARACTERS} control`);
		} finally {
			await api.deleteCredential(made.id);
		}
	});

	it('control: a Tenant ID of 200 characters (the limit) passes both nodes', async () => {
		const swapped = await callOnce(swapFlow.workflow.id, swapFlow.path, { tenantId: LONGEST_ALLOWED, data: { name: 'x-tenant-secret', value: 'long-tenant-secret' } });
		expect(swapped.response.status).toBe(200);
		expect(headerSeen(swapped)).toEqual(['long-tenant-secret']);
		const before = (await api.listCredentials()).filter((c: Ref) => c.name.startsWith(TENANT_PREFIX)).length;
		const ran = await callOnce(rwtFlow.workflow.id, rwtFlow.path, { tenantId: LONGEST_ALLOWED, data: { name: 'x-tenant-secret', value: 'long-tenant-secret' } });
		expect(ran.response.status).toBe(200);
		expect(headerSeen(ran)).toEqual(['long-tenant-secret']);
		const made = (await api.listCredentials()).filter((c: Ref) => c.name.startsWith(TENANT_PREFIX));
		expect(made.length).toBe(before + 1);
		// Shown in the name: at most 40 characters of it, only [A-Za-z0-9._@-].
		expect(made.some((c: Ref) => c.name.includes(LONGEST_ALLOWED.slice(0, 40)) && !c.name.includes(LONGEST_ALLOWED.slice(0, 41)))).toBe(true);
	});

	it('control: a Tenant ID with spaces, a slash and non-ASCII letters passes; its credential name shows only [A-Za-z0-9._@-]', async () => {
		const ran = await callOnce(rwtFlow.workflow.id, rwtFlow.path, { tenantId: 'Acme Corp/Zürich', data: { name: 'x-tenant-secret', value: 'acme-secret' } });
		expect(ran.response.status).toBe(200);
		expect(headerSeen(ran)).toEqual(['acme-secret']);
		const names = (await api.listCredentials()).map((c: Ref) => c.name).filter((name: string) => name.startsWith(TENANT_PREFIX));
		expect(names.some((name: string) => name.includes('Acme_Corp_Z_rich'))).toBe(true);
		// Every tenant credential's name, of every test here: prefix, tag, shown tenant and hash in that set.
		expect(names.filter((name: string) => !/^tenant-cred [A-Za-z0-9._@ -]+?( \(managed by Run With Tenant Credential(: do not edit or use)?\))?$/.test(name)).map(masked)).toEqual([]);
	});
});

// -------------------------------------------------------------------------------------------------
// 5. Items passed into the sub-execution

describe('5. the items passed into the sub-execution hold no secret (what n8n stored)', () => {
	const SUMMARY = workflows.setNode('Summary', { called: { type: 'boolean', value: '={{ true }}' } });
	let okSub: { id: string };
	let failingSub: { id: string };

	beforeAll(async () => {
		okSub = await headerSub('items sub-workflow (succeeds)', { pick: 'none', extraNodes: [SUMMARY] });
		failingSub = await headerSub('items sub-workflow (fails after the call)', { pick: 'none', extraNodes: [SUMMARY, workflows.stopAndErrorNode('failing on purpose after the call')] });
	});

	/** The stored sub-executions whose trigger got this tenant's item. */
	async function subExecutionsOf(tenantId: string): Promise<any[]> {
		let found: any[] = [];
		await waitUntil(async () => {
			const all = await api.getExecutions({ includeData: true, limit: 60 });
			found = all.filter((e: any) => isDone(e) && e.data?.resultData?.runData?.[SUB_TRIGGER] && JSON.stringify(e.data.resultData.runData[SUB_TRIGGER]).includes(`"${tenantId}"`));
			return found.length > 0;
		}, 30_000);
		return found;
	}

	/** Everything n8n stored of a sub-execution but the tenant API call's run data (the echo reflects the header by design). */
	const storedText = (execution: any) => {
		const resultData = execution.data?.resultData ?? {};
		const runData = Object.fromEntries(Object.entries(resultData.runData ?? {}).filter(([node]) => node !== CALL));
		return JSON.stringify({ ...execution.data, resultData: { ...resultData, runData } }) + JSON.stringify(execution.workflowData ?? null);
	};
	const triggerText = (execution: any) => JSON.stringify(execution.data.resultData.runData[SUB_TRIGGER]);

	async function run(path: string, subId: string, tenantId: string, secret: string, options: Record<string, unknown> = {}) {
		const workflow = await deployRwt(path, subId, { allowedFields: HEADER_FIELDS, credentialType: 'httpHeaderAuth', saveSuccessfulSubExecutions: true, ...options });
		const outcome = await callOnce(workflow.id, path, { tenantId, data: { name: 'x-tenant-secret', value: secret } });
		// The call used the secret: it is the tenant's, and it did reach the tenant API.
		expect(headerSeen(outcome).map((seen) => seen === secret)).toEqual([true]);
		const subs = await subExecutionsOf(tenantId);
		expect(subs.length).toBe(1);
		return { outcome, sub: subs[0] };
	}

	it('a saved successful sub-execution: no secret in its input items or anywhere else it stored', async () => {
		const secret = canary('i1');
		sentAttackCanaries.add(secret);
		const { outcome, sub } = await run('attack-items-ok', okSub.id, 'items-ok', secret);
		attackExecutions.push(outcome.execution);
		expect(outcome.response.status).toBe(200);
		expect(sub.status).toBe('success');
		expect(triggerText(sub)).toContain('"items-ok"');
		expect(storedText(sub).includes(secret)).toBe(false);
	});

	it('a failed sub-execution: no secret in its input items or anywhere else it stored', async () => {
		const secret = canary('i2');
		sentAttackCanaries.add(secret);
		const { outcome, sub } = await run('attack-items-fail', failingSub.id, 'items-fail', secret);
		attackExecutions.push(outcome.execution);
		expect(answeredFailure(outcome.response)).toBe(true);
		expect(sub.status).toBe('error');
		expect(masked(errorText(sub))).toMatch(/failing on purpose after the call/);
		expect(storedText(sub).includes(secret)).toBe(false);
	});

	it('control, passSecretsToSubWorkflow on: the secret is in the stored input items', async () => {
		const secret = `passed-${RUN}-secret`;
		const { outcome, sub } = await run('attack-items-pass', okSub.id, 'items-pass', secret, { passSecretsToSubWorkflow: true });
		expect(outcome.response.status).toBe(200);
		expect(triggerText(sub).includes(secret)).toBe(true);
	});
});

// -------------------------------------------------------------------------------------------------
// 6. OAuth2 with scope ""

describe('6. OAuth2 client credentials with scope "" swaps and runs without Fields Allowed Empty', () => {
	// Connection fields need Allowed Fields (decision 2); nothing else is set: no Fields Allowed Empty.
	const data = (tenant: string) => ({ ...oauthClient(tenant, `${tenant}-secret`, `${echo.url}/oauth/token`), scope: '' });

	it('Tenant Credential Swap', async () => {
		const base = await oauthBase('scope base');
		const workflow = await deploySwap('attack-scope-swap', base, 'oAuth2Api', { allowedFields: OAUTH_FIELDS });
		const outcome = await callOnce(workflow.id, 'attack-scope-swap', { tenantId: 'scope-s', data: data('scope-s') });
		expect(masked(errorText(outcome.execution))).toBe(' | ');
		expect(outcome.response.status).toBe(200);
		expect(outcome.echoSeen.filter((r) => r.path === '/oauth/token').map((r) => (r.body as any)?.client_id)).toEqual(['scope-s']);
		expect(outcome.response.body?.bearerClient).toBe('scope-s');
	});

	it('Run With Tenant Credential', async () => {
		const sub = await oauthSub('scope sub-workflow');
		const workflow = await deployRwt('attack-scope-rwt', sub.id, { allowedFields: OAUTH_FIELDS, credentialType: 'oAuth2Api' });
		const outcome = await callOnce(workflow.id, 'attack-scope-rwt', { tenantId: 'scope-r', data: data('scope-r') });
		expect(masked(errorText(outcome.execution))).toBe(' | ');
		expect(outcome.response.status).toBe(200);
		expect(outcome.echoSeen.filter((r) => r.path === '/oauth/token').map((r) => (r.body as any)?.client_id)).toEqual(['scope-r']);
	});
});

// -------------------------------------------------------------------------------------------------
// 7. The scan

describe('7. the scan: no attack value in what was refused', () => {
	interface Place {
		label: string;
		text: string;
	}

	function leaks(places: Place[], secrets: string[]): string[] {
		const found: string[] = [];
		for (const { label, text } of places) {
			for (const secret of secrets) if (text.includes(secret)) found.push(`${label}: ${masked(secret)}`);
			// A canary cut short or quoted in part (whole ones were counted above), with its context.
			for (const hit of text.matchAll(/canary-[A-Za-z0-9]*/g)) {
				if (secrets.some((secret) => text.startsWith(secret, hit.index))) continue;
				found.push(`${label}: part of a canary at ${JSON.stringify(masked(text.slice(Math.max(0, hit.index - 60), hit.index + 40)))}`);
			}
		}
		return found;
	}

	/** Our nodes' run data, resultData.error, the rest of resultData, workflowData: not the Webhook's (the request body, by design). */
	function executionPlaces(execution: any): Place[] {
		const resultData = execution?.data?.resultData ?? {};
		const runData = resultData.runData ?? {};
		const label = `execution ${execution.id} (workflow ${execution.workflowId})`;
		const error = resultData.error;
		return [
			...[SWAP, RWT, 'Release Lock'].map((node) => ({ label: `${label}, run data of "${node}"`, text: JSON.stringify(runData[node] ?? null) })),
			{ label: `${label}, resultData.error`, text: `${JSON.stringify(error ?? null)}\n${String(error?.message ?? '')}\n${String(error?.description ?? '')}\n${String(error?.stack ?? '')}` },
			{ label: `${label}, resultData without run data`, text: JSON.stringify({ ...resultData, runData: undefined }) },
			{ label: `${label}, workflowData`, text: JSON.stringify(execution.workflowData ?? null) },
		];
	}

	async function lockDatabasePlaces(): Promise<Place[]> {
		return await withLockDatabase(async (client) => {
			const { rows: tables } = await client.query<{ schema: string; name: string }>(
				`SELECT schemaname AS schema, tablename AS name FROM pg_tables
				  WHERE schemaname NOT IN ('pg_catalog', 'information_schema') AND (tablename LIKE 'tenant\\_%' OR tablename LIKE 'tsl\\_%' OR tablename LIKE 'attack\\_%')`,
			);
			const places: Place[] = [];
			for (const { schema, name } of tables) {
				const { rows } = await client.query<{ row: string }>(`SELECT row_to_json(t)::text AS row FROM "${schema}"."${name}" t`);
				places.push({ label: `lock database ${schema}.${name}`, text: rows.map((r) => r.row).join('\n') });
			}
			return places;
		});
	}

	it('the scanner finds a canary where one is (control)', () => {
		expect(leaks([{ label: 'control', text: `{"x":"${canary('z')}"}` }], [canary('z')])).toEqual([`control: ${masked(canary('z'))}`]);
		expect(leaks([{ label: 'cut', text: '{"x":"canary-zz"}' }], [canary('z')]).length).toBe(1);
	});

	it('no attack canary (nor the env canary) in the refused executions, the answers, the lock database or the log', async () => {
		const secrets = [...sentAttackCanaries, ENV_CANARY];
		// Control: attacks were sent and refused executions recorded; the Webhook's run data has their canaries.
		expect(sentAttackCanaries.size).toBeGreaterThanOrEqual(20);
		expect(attackExecutions.length).toBeGreaterThanOrEqual(20);
		const webhookText = attackExecutions.map((execution) => JSON.stringify(execution.data?.resultData?.runData?.Webhook ?? null)).join('\n');
		expect([...sentAttackCanaries].filter((secret) => !webhookText.includes(secret)).map(masked)).toEqual([]);
		const places: Place[] = [
			...attackExecutions.flatMap(executionPlaces),
			...attackResponses.map((r) => ({ label: `answer to ${r.label} (${r.status})`, text: JSON.stringify(r.body ?? null) })),
			...(await lockDatabasePlaces()),
			{ label: 'credential names', text: (await api.listCredentials()).map((c: Ref) => c.name).join('\n') },
		];
		expect(leaks(places, secrets)).toEqual([]);
		// The log: every attack canary; the env canary only reached n8n's process through its environment.
		const log: string = n8n.readLog();
		expect(log.length).toBeGreaterThan(0);
		expect(leaks([{ label: 'n8n log', text: log }], secrets)).toEqual([]);
	});
});
