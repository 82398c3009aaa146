/**
 * Run With Tenant Credential binds by identity, in a real n8n 2.40.7 running our packed package: only
 * the nodes wired to the Placeholder Credential get the tenant's credential.
 *
 * The sub-workflow calls two hosts with Header Auth: the tenant's API (the placeholder) and a logging
 * host (a fixed credential of its own). What is checked:
 *   (a) over concurrent calls of many tenants, the logging host only ever sees its fixed secret and
 *       the tenant's API sees each tenant's own; control: the same sub-workflow rebound the old way (every
 *       credential of the type), run inline by n8n's own Execute Workflow node with each tenant's
 *       credential, sends the tenants' secrets to the logging host;
 *   (b) the Placeholder Credential left empty (workflows made before it) with two credentials: refused,
 *       naming both, nothing sent, nothing created;
 *   (c) stale entries (n8n keeps a node's credential after its authentication changed): neither decide
 *       which credential is the placeholder nor make the logging host see a tenant's secret;
 *   (d) a tenant credential as placeholder (by its name, and one whose name does not say so: the
 *       registry knows its ID): refused, nothing sent;
 *   (e) From List offers the sub-workflow's credentials, never a tenant credential.
 * No secret is printed: hosts are checked by counting.
 */
import { startE2eStack, waitUntil, type E2eStack, type Ref } from '../helpers/e2eStack';
import { executionError, fireCalls, headerAuthPlaceholder, reportFailures, secretFor, tenantCredentials, type Call } from '../helpers/runWithTenant';

/* eslint-disable @typescript-eslint/no-require-imports */
const workflows = require('../harness/workflows.js');
const { startEchoService } = require('../harness/echo.js');
/* eslint-enable @typescript-eslint/no-require-imports */

jest.setTimeout(1_200_000);

const NODE = workflows.RUN_WITH_TENANT as string;
const TRIGGER = 'When Executed by Another Workflow';
const RUN = Math.random().toString(36).slice(2, 8);
/** The logging host's own secret: the only one it may ever see. */
const LOG_SECRET = `log-fixed-${RUN}`;

let stack: E2eStack;
let api: any;
let n8n: any;
let tenantHost: E2eStack['echo'];
let logHost: { url: string; requests: Array<{ path: string; headers: Record<string, unknown>; query: Record<string, string> }>; stop(): Promise<void> };
let placeholder: Ref;
let logCredential: Ref;

beforeAll(async () => {
	stack = await startE2eStack();
	({ api, n8n, echo: tenantHost } = stack);
	logHost = await startEchoService();
	placeholder = await headerAuthPlaceholder(api, `Tenant API (placeholder) ${RUN}`);
	logCredential = await api.createCredential({ name: `Logging host ${RUN}`, type: 'httpHeaderAuth', data: { name: 'x-tenant-secret', value: LOG_SECRET } });
});

afterAll(async () => {
	await logHost?.stop();
	await stack?.stop();
});

/** The tenant the sub-execution runs for, as a URL query (the trigger's item is the webhook's). */
const tenantQuery = `?tenant={{ $('${TRIGGER}').item.json.body.tenantId }}`;

/** HTTP Request v4.2 GET `url`; `auth` the credential it uses (generic type), `kept` entries left from earlier settings. */
function httpNode(name: string, url: string, auth?: { type: string; credential: Ref }, kept: Record<string, Ref> = {}) {
	return {
		id: name.replace(/\W/g, '-'),
		name,
		type: 'n8n-nodes-base.httpRequest',
		typeVersion: 4.2,
		position: [0, 0],
		parameters: auth ? { method: 'GET', url, authentication: 'genericCredentialType', genericAuthType: auth.type, options: {} } : { method: 'GET', url, options: {} },
		credentials: { ...kept, ...(auth ? { [auth.type]: { id: auth.credential.id, name: auth.credential.name } } : {}) },
	};
}

/** Trigger -> the nodes, in a chain. */
function chain(name: string, nodes: any[]) {
	const all = [{ id: 'trigger', name: TRIGGER, type: 'n8n-nodes-base.executeWorkflowTrigger', typeVersion: 1.1, position: [0, 0], parameters: { inputSource: 'passthrough' } }, ...nodes].map(
		(node, index) => ({ ...node, position: [index * 220, 0] }),
	);
	const connections: Record<string, unknown> = {};
	for (let i = 0; i + 1 < all.length; i++) connections[all[i].name] = { main: [[{ node: all[i + 1].name, type: 'main', index: 0 }]] };
	return { name, settings: { executionOrder: 'v1' }, nodes: all, connections };
}

/** Call Tenant API (the placeholder) -> Log (the logging host, its fixed credential of the same type). */
function twoHostSubWorkflow(name: string, tenantCredential: Ref = placeholder) {
	return chain(name, [
		httpNode('Call Tenant API', `=${tenantHost.url}/echo${tenantQuery}`, { type: 'httpHeaderAuth', credential: tenantCredential }),
		httpNode('Log', `=${logHost.url}/echo${tenantQuery}`, { type: 'httpHeaderAuth', credential: logCredential }),
	]);
}

async function published(json: unknown): Promise<{ id: string }> {
	const sub = await api.createWorkflow(json);
	await api.activateWorkflow(sub.id);
	return sub;
}

function deployNode(name: string, path: string, subWorkflowId: string, node: Record<string, unknown> = {}) {
	return api.deployWorkflow(
		workflows.runWithTenantWorkflow({
			name,
			path,
			subWorkflowId,
			n8nApi: stack.n8nApi,
			postgres: stack.postgres,
			kind: 'headerAuth',
			echoUrl: tenantHost.url,
			options: { allowedFields: 'name,value' },
			...node,
		}),
	);
}

type Seen = { path: string; headers: Record<string, unknown>; query: Record<string, string> };
const header = (request: Seen) => String(request.headers['x-tenant-secret'] ?? '');

/** Per host: requests, and how many carried something other than what that host may see. */
function judgeHosts(secrets: Map<string, string>, tenantSeen: Seen[], logSeen: Seen[]) {
	const tenantSecrets = new Set(secrets.values());
	return {
		tenantRequests: tenantSeen.length,
		tenantWrong: tenantSeen.filter((request) => header(request) !== secrets.get(request.query.tenant ?? '')).length,
		logRequests: logSeen.length,
		logNotFixed: logSeen.filter((request) => header(request) !== LOG_SECRET).length,
		logSawTenantSecret: logSeen.filter((request) => tenantSecrets.has(header(request))).length,
	};
}

function callsOver(tenants: string[], count: number, secrets: Map<string, string>): Call[] {
	return Array.from({ length: count }, (_, i) => {
		const tenant = tenants[(i * 7) % tenants.length];
		return { tenant, secret: secrets.get(tenant) as string };
	});
}

describe('(a) a fixed credential of the placeholder\'s type keeps its own secret', () => {
	const TENANTS = Array.from({ length: 12 }, (_, i) => `b${String(i).padStart(2, '0')}`);
	const CALLS = 120;
	const IN_FLIGHT = 20;
	const secrets = new Map(TENANTS.map((tenant) => [tenant, secretFor(tenant, RUN)]));
	const list = callsOver(TENANTS, CALLS, secrets);
	let sub: { id: string };

	beforeAll(async () => {
		sub = await published(twoHostSubWorkflow(`two hosts ${RUN}`));
	});

	it(`${CALLS} calls over ${TENANTS.length} tenants, ${IN_FLIGHT} in flight: the logging host sees only its own secret, the tenant's API each tenant's`, async () => {
		const workflow = await deployNode('bind by identity', 'bind-identity', sub.id, { placeholder });
		tenantHost.requests.length = 0;
		logHost.requests.length = 0;
		const { failed, answers } = await fireCalls(api, 'bind-identity', list, { concurrency: IN_FLIGHT, seen: () => undefined, expected: () => '' });
		const judged = judgeHosts(secrets, tenantHost.requests as Seen[], logHost.requests);
		process.stderr.write(`(a) bind by identity: ${CALLS} calls, ${failed.length} failed, ${JSON.stringify(judged)}\n`);
		if (failed.length > 0) await reportFailures(api, workflow.id);
		expect(failed.length).toBe(0);
		expect(answers.length).toBe(CALLS);
		expect(judged).toEqual({ tenantRequests: CALLS, tenantWrong: 0, logRequests: CALLS, logNotFixed: 0, logSawTenantSecret: 0 });
		for (const tenant of TENANTS) expect((await tenantCredentials(api, tenant)).length).toBe(1);
	});

	it("control: rebound by type (the old binding), run inline by n8n's Execute Workflow node with each tenant's credential, the logging host gets the tenants' secrets", async () => {
		// The tenants' credentials the node made above, by tenant.
		const credentialOf: Record<string, string> = {};
		for (const tenant of TENANTS) credentialOf[tenant] = (await tenantCredentials(api, tenant))[0].id;
		// The old rebinding: every entry of the type, whatever its ID.
		const template = twoHostSubWorkflow(`two hosts, rebound by type ${RUN}`);
		for (const node of template.nodes as any[]) {
			if (node.credentials?.httpHeaderAuth) node.credentials.httpHeaderAuth = { id: '__TENANT_CREDENTIAL__', name: 'tenant credential' };
		}
		// The sub-workflow's own expressions are kept out of this expression's braces.
		const text = JSON.stringify(template).split('{{').join('__OPEN__').split('}}').join('__CLOSE__');
		const workflowJson =
			`={{ ${JSON.stringify(text)}.split("__TENANT_CREDENTIAL__").join(${JSON.stringify(credentialOf)}[$json.body.tenantId])` +
			'.split("__OPEN__").join(String.fromCharCode(123, 123)).split("__CLOSE__").join(String.fromCharCode(125, 125)) }}';
		const control = await api.deployWorkflow(
			workflows.chainWorkflow({
				name: 'control: rebound by type',
				path: 'bind-by-type-control',
				nodes: [
					{
						id: 'execute',
						name: 'Execute Workflow',
						type: 'n8n-nodes-base.executeWorkflow',
						typeVersion: 1.2,
						parameters: { source: 'parameter', workflowJson, mode: 'once', options: {} },
					},
				],
			}),
		);
		tenantHost.requests.length = 0;
		logHost.requests.length = 0;
		const { failed } = await fireCalls(api, 'bind-by-type-control', list.slice(0, 30), { concurrency: 10, seen: () => undefined, expected: () => '' });
		const judged = judgeHosts(secrets, tenantHost.requests as Seen[], logHost.requests);
		process.stderr.write(`(a) control, rebound by type: 30 calls, ${failed.length} failed, ${JSON.stringify(judged)}\n`);
		if (failed.length > 0) await reportFailures(api, control.id, 'Execute Workflow');
		expect(judged.tenantWrong).toBe(0);
		expect(judged.logSawTenantSecret).toBeGreaterThan(0);
		expect(judged.logSawTenantSecret).toBe(judged.logRequests);
	});
});

/** The node's stored error for one refused call, and what the hosts and n8n saw meanwhile. */
async function refusedCall(path: string, subWorkflowId: string, tenant: string, node: Record<string, unknown> = {}) {
	const workflow = await deployNode(`refused: ${path}`, path, subWorkflowId, node);
	tenantHost.requests.length = 0;
	logHost.requests.length = 0;
	const secret = secretFor(tenant, RUN);
	const response = await api.callWebhook(path, { body: { tenantId: tenant, secret } });
	let execution: any;
	await waitUntil(async () => {
		const executions = await api.getExecutions({ workflowId: workflow.id, includeData: true });
		execution = executions.find((candidate: any) => candidate.mode === 'webhook' && !['new', 'running', 'waiting'].includes(candidate.status));
		return Boolean(execution);
	}, 60_000);
	const error = executionError(execution);
	const text = `${error.message} | ${error.description}`;
	expect(response.status).toBe(500);
	expect(error.node).toBe(NODE);
	expect(text.includes(secret)).toBe(false);
	expect(tenantHost.requests.length + logHost.requests.length).toBe(0);
	expect(await tenantCredentials(api, tenant)).toEqual([]);
	return { error, text };
}

describe('(b) Placeholder Credential empty (workflows made before it)', () => {
	it('two credentials: refused, naming both (name and type) and the parameter; nothing sent or created', async () => {
		const sub = await published(twoHostSubWorkflow(`two hosts, no placeholder ${RUN}`));
		const { error } = await refusedCall('bind-empty-two', sub.id, 'empty-two');
		expect(error.message).toContain(`use 2 credentials: "${placeholder.name}" (httpHeaderAuth), "${logCredential.name}" (httpHeaderAuth)`);
		expect(error.message).toMatch(/^Parameter "Placeholder Credential"/);
		expect(error.description).toContain('Pick the Placeholder Credential');
	});

	it('one credential: inferred, as before the parameter existed', async () => {
		const sub = await published(chain(`one credential ${RUN}`, [httpNode('Call Tenant API', `=${tenantHost.url}/echo${tenantQuery}`, { type: 'httpHeaderAuth', credential: placeholder })]));
		await deployNode('inferred', 'bind-inferred', sub.id);
		tenantHost.requests.length = 0;
		const secret = secretFor('inferred', RUN);
		expect((await api.callWebhook('bind-inferred', { body: { tenantId: 'inferred', secret } })).status).toBe(200);
		expect(tenantHost.requests.map((request) => header(request as Seen) === secret)).toEqual([true]);
	});
});

describe('(c) stale credential entries', () => {
	it('neither make the choice ambiguous nor reach the logging host; rebinding a stale placeholder entry sends nothing of the tenant', async () => {
		const queryKey = await api.createCredential({ name: `Logging host query key ${RUN}`, type: 'httpQueryAuth', data: { name: 'log-key', value: LOG_SECRET } });
		const sub = await published(
			chain(`stale entries ${RUN}`, [
				httpNode('Call Tenant API', `=${tenantHost.url}/echo${tenantQuery}`, { type: 'httpHeaderAuth', credential: placeholder }),
				// Was the placeholder's Header Auth, now a Query Auth key of its own: n8n kept the Header Auth entry.
				httpNode('Log', `=${logHost.url}/echo${tenantQuery}`, { type: 'httpQueryAuth', credential: queryKey }, { httpHeaderAuth: placeholder }),
				// Was the logging host's Header Auth, now no authentication: n8n kept the entry.
				httpNode('Audit', `=${logHost.url}/echo${tenantQuery}&from=audit`, undefined, { httpHeaderAuth: logCredential }),
			]),
		);
		// Empty Placeholder Credential, Credential Type Header Auth: counting every entry would see two (the placeholder, the logging host's).
		const workflow = await deployNode('stale entries', 'bind-stale', sub.id, { options: { allowedFields: 'name,value', credentialType: 'httpHeaderAuth' } });
		const tenants = ['stale-a', 'stale-b', 'stale-c'];
		const secrets = new Map(tenants.map((tenant) => [tenant, secretFor(tenant, RUN)]));
		tenantHost.requests.length = 0;
		logHost.requests.length = 0;
		const { failed } = await fireCalls(api, 'bind-stale', callsOver(tenants, 12, secrets), { concurrency: 6, seen: () => undefined, expected: () => '' });
		if (failed.length > 0) await reportFailures(api, workflow.id);
		expect(failed.length).toBe(0);
		const tenantSeen = tenantHost.requests as Seen[];
		expect(tenantSeen.length).toBe(12);
		expect(tenantSeen.filter((request) => header(request) !== secrets.get(request.query.tenant ?? '')).length).toBe(0);
		const logSeen = logHost.requests.filter((request) => request.query.from !== 'audit');
		const auditSeen = logHost.requests.filter((request) => request.query.from === 'audit');
		expect([logSeen.length, auditSeen.length]).toEqual([12, 12]);
		// Log sends its own query key, no header; Audit sends nothing.
		expect(logSeen.filter((request) => request.query['log-key'] === LOG_SECRET && header(request) === '').length).toBe(12);
		expect(auditSeen.filter((request) => header(request) === '' && request.query['log-key'] === undefined).length).toBe(12);
	});
});

describe('(d) a tenant credential as placeholder', () => {
	let tenantCredential: Ref;

	beforeAll(async () => {
		const made = await tenantCredentials(api, 'b00');
		expect(made.length).toBe(1);
		tenantCredential = { id: made[0].id, name: made[0].name };
	});

	it('by its name: refused, saying why and what to do; nothing sent or created', async () => {
		const sub = await published(twoHostSubWorkflow(`tenant credential as placeholder ${RUN}`, tenantCredential));
		const { error } = await refusedCall('bind-tenant-placeholder', sub.id, 'tenant-as-placeholder', { placeholder: tenantCredential });
		expect(error.message).toContain("is a tenant's credential");
		expect(error.message).toMatch(/^Parameter "Placeholder Credential"/);
		expect(error.description).toContain('for every tenant');
	});

	it('renamed (the node entry does not say tenant-cred): the registry knows its ID, refused; control: the real placeholder under that name runs', async () => {
		const renamed = { id: tenantCredential.id, name: 'My API key' };
		const sub = await published(twoHostSubWorkflow(`renamed tenant credential ${RUN}`, renamed));
		const { error } = await refusedCall('bind-renamed-tenant', sub.id, 'renamed-tenant', { placeholder: renamed });
		expect(error.message).toContain("is a tenant's credential");
		const control = await published(twoHostSubWorkflow(`renamed control ${RUN}`, { id: placeholder.id, name: 'My API key' }));
		await deployNode('renamed control', 'bind-renamed-control', control.id, { placeholder });
		expect((await api.callWebhook('bind-renamed-control', { body: { tenantId: 'renamed-control', secret: secretFor('renamed-control', RUN) } })).status).toBe(200);
	});

	it('From List offers the sub-workflow\'s credentials with their nodes, never a tenant credential', async () => {
		const mixed = await api.createWorkflow(
			chain(`list ${RUN}`, [
				httpNode('Call Tenant API', `${tenantHost.url}/echo`, { type: 'httpHeaderAuth', credential: placeholder }),
				httpNode('Log', `${logHost.url}/echo`, { type: 'httpHeaderAuth', credential: logCredential }),
				httpNode('Oops', `${logHost.url}/echo`, { type: 'httpQueryAuth', credential: tenantCredential }),
			]),
		);
		const answer = await n8n.rest('POST', 'dynamic-node-parameters/resource-locator-results', {
			nodeTypeAndVersion: { name: `${workflows.PACKAGE}.runWithTenantCredential`, version: 1 },
			path: 'placeholderCredential',
			methodName: 'searchPlaceholderCredentials',
			currentNodeParameters: { subWorkflow: { __rl: true, mode: 'id', value: mixed.id }, placeholderCredential: { __rl: true, mode: 'list', value: '' } },
			credentials: { tenantSwapN8nApi: stack.n8nApi },
		});
		expect(answer.status).toBe(200);
		const results = answer.body.data.results as Array<{ name: string; value: string }>;
		expect(results.map((result) => result.value)).toEqual([placeholder.id, logCredential.id]);
		expect(results[0].name).toBe(`${placeholder.name} (httpHeaderAuth), used by Call Tenant API`);
		expect(JSON.stringify(answer.body)).not.toContain('tenant-cred');
	});
});
