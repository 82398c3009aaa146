/**
 * The OAuth2 connect flow `npm run dev` imports (examples/tenant-oauth2-*.json,
 * examples/run-with-connected-tenant*.json, filled in by scripts/lib/oauthConnect.js) and its
 * "Try it" lines. Checked without n8n: the workflows are wired to each other (one connection name,
 * one lock store, the trigger's start URL, the placeholder), the operator's webhooks are
 * authenticated, and nothing of the examples' placeholders survives the fill-in. The flow itself runs
 * in a browser in scripts/connect-check.js (npm run connect:check).
 */
/* eslint-disable @typescript-eslint/no-require-imports */
const { tryItLines } = require('../../scripts/dev.js') as {
	tryItLines: (base: string, paths: object, rwt: boolean, body: string, connect?: object) => string[];
};
const { connectExampleWorkflows, CONNECTION, DEFAULT_PATHS } = require('../../scripts/lib/oauthConnect.js');
/* eslint-enable @typescript-eslint/no-require-imports */

const PACKAGE = 'n8n-nodes-tenant-credential-swap';
const BASE = 'http://127.0.0.1:5678';
const ref = (id: string) => ({ id, name: `credential ${id}` });

interface Node {
	name: string;
	type: string;
	parameters: Record<string, any>;
	credentials?: Record<string, { id: string }>;
	onError?: string;
}
interface Workflow {
	name: string;
	nodes: Node[];
	connections: Record<string, { main: Array<Array<{ node: string }>> }>;
	settings: Record<string, unknown>;
}

function filled(paths = DEFAULT_PATHS) {
	const json = connectExampleWorkflows({
		n8nBaseUrl: BASE,
		providerUrl: 'http://127.0.0.1:4100',
		paths,
		n8nApi: ref('api1'),
		postgres: ref('pg1'),
		app: ref('app1'),
		operatorKey: ref('key1'),
		placeholder: ref('ph1'),
	});
	return { connect: json.connect as Workflow, links: json.links as Workflow, runSub: json.runSub as Workflow, run: json.run('sub1') as Workflow };
}

const byType = (workflow: Workflow, type: string) => workflow.nodes.filter((node) => node.type === type);
const named = (workflow: Workflow, name: string) => workflow.nodes.find((node) => node.name === name)!;
const targets = (workflow: Workflow, from: string) => workflow.connections[from].main.map((output) => output.map((c) => c.node));

describe('the connect flow examples, filled in for one n8n', () => {
	it('keep none of their placeholders (IDs, example URLs)', () => {
		const text = JSON.stringify(filled());
		expect(text).not.toMatch(/REPLACE_|example\.com/);
	});

	it('share one connection name and lock store: the trigger, both Connect operations and Run With Tenant Credential', () => {
		const { connect, links, run } = filled();
		const packaged = [connect, links, run].flatMap((workflow) => workflow.nodes.filter((node) => node.type.startsWith(`${PACKAGE}.`)));
		expect(packaged.map((node) => node.type).sort()).toEqual(
			[`${PACKAGE}.runWithTenantCredential`, `${PACKAGE}.tenantOAuth2Connect`, `${PACKAGE}.tenantOAuth2Connect`, `${PACKAGE}.tenantOAuth2ConnectTrigger`].sort(),
		);
		for (const node of packaged) {
			expect([node.name, node.parameters.connection, node.parameters.lockBackend, node.credentials?.postgres?.id]).toEqual([node.name, CONNECTION, 'postgres', 'pg1']);
		}
	});

	it("the trigger uses the app credential; Create Connect Link points at the trigger's production start URL", () => {
		const { connect, links } = filled({ connect: 'my-connect', links: 'my-links', run: 'my-run' });
		const trigger = byType(connect, `${PACKAGE}.tenantOAuth2ConnectTrigger`)[0];
		expect(trigger.parameters.path).toBe('my-connect');
		expect(trigger.credentials).toMatchObject({ oAuth2Api: { id: 'app1' }, tenantSwapN8nApi: { id: 'api1' } });
		expect(named(links, 'Create Connect Link').parameters).toMatchObject({ operation: 'createConnectLink', connectStartUrl: `${BASE}/webhook/my-connect/start` });
		expect(named(links, 'Disconnect').parameters.operation).toBe('disconnect');
		expect(named(links, 'Disconnect').credentials).toMatchObject({ tenantSwapN8nApi: { id: 'api1' } });
		expect(targets(connect, trigger.name)).toEqual([['Tenant Connected']]);
	});

	it("the operator's webhooks (links, run) want the Header Auth key: the Tenant ID picks the account", () => {
		const { links, run } = filled({ connect: 'c', links: 'my-links', run: 'my-run' });
		for (const [workflow, path] of [
			[links, 'my-links'],
			[run, 'my-run'],
		] as const) {
			const [webhook] = byType(workflow, 'n8n-nodes-base.webhook');
			expect(webhook.parameters).toMatchObject({ path, httpMethod: 'POST', authentication: 'headerAuth', responseMode: 'responseNode' });
			expect(webhook.credentials).toEqual({ httpHeaderAuth: expect.objectContaining({ id: 'key1' }) });
		}
	});

	it('links: Switch on body.action routes link / disconnect / anything else (400), each answered', () => {
		const { links } = filled();
		expect(targets(links, 'Operator Backend')).toEqual([['Action']]);
		expect(targets(links, 'Action')).toEqual([['Create Connect Link'], ['Disconnect'], ['Unknown Action']]);
		expect(named(links, 'Action').parameters.rules.values.map((rule: any) => rule.conditions.conditions[0].rightValue)).toEqual(['link', 'disconnect']);
		expect(targets(links, 'Create Connect Link')).toEqual([['Respond']]);
		expect(targets(links, 'Disconnect')).toEqual([['Respond']]);
		expect(named(links, 'Unknown Action').parameters.options.responseCode).toBe(400);
		// The link is a one-time capability: no successful execution keeps it.
		expect(links.settings.saveDataSuccessExecution).toBe('none');
	});

	it("run: Connected Tenant source with the sub-workflow's placeholder; a tenant not connected leaves on the error output (409)", () => {
		const { run, runSub } = filled();
		const node = byType(run, `${PACKAGE}.runWithTenantCredential`)[0];
		expect(node.parameters).toMatchObject({
			credentialSource: 'connectedTenant',
			subWorkflow: { value: 'sub1', cachedResultName: runSub.name },
			placeholderCredential: { value: 'ph1' },
			tenantId: '={{ $json.body.tenantId }}',
		});
		expect(node.parameters.credentialData).toBeUndefined();
		expect(node.onError).toBe('continueErrorOutput');
		expect(targets(run, node.name)).toEqual([['Respond'], ['Not Connected']]);
		expect(named(run, 'Not Connected').parameters.options.responseCode).toBe(409);
		const call = named(runSub, 'Who Am I');
		expect(call.parameters).toMatchObject({ url: 'http://127.0.0.1:4100/api/me', authentication: 'genericCredentialType', genericAuthType: 'oAuth2Api' });
		expect(call.credentials).toEqual({ oAuth2Api: expect.objectContaining({ id: 'ph1' }) });
	});

	it("the Redis lock backend moves every package node of them, the trigger's and the Connect node's too (one connect store)", () => {
		// eslint-disable-next-line @typescript-eslint/no-require-imports
		const { onRedisLock } = require('../../scripts/lib/stack.js');
		const redis = ref('redis1');
		for (const workflow of Object.values(filled())) {
			onRedisLock(workflow, redis);
			for (const node of workflow.nodes.filter((n) => n.type.startsWith(`${PACKAGE}.`))) {
				expect([node.name, node.parameters.lockBackend, node.credentials?.redis?.id, node.credentials?.postgres]).toEqual([node.name, 'redis', 'redis1', undefined]);
			}
		}
	});

	it('each workflow explains itself in a sticky note', () => {
		for (const workflow of Object.values(filled())) {
			const notes = byType(workflow, 'n8n-nodes-base.stickyNote');
			expect([workflow.name, notes.length]).toEqual([workflow.name, 1]);
			expect(notes[0].parameters.content).toMatch(/^## /);
		}
	});
});

describe('npm run dev: "Try it"', () => {
	const paths = { example: 'swap-path', control: 'control-path', runWithTenant: 'tenant-run' };
	const connect = { paths: { links: 'tenant-oauth-links', run: 'tenant-oauth-run' }, operatorHeader: { name: 'x-operator-key', value: 'k3y' }, tenantId: 'acme' };
	const webhookOf = (line: string) => /\/webhook\/(\S+)/.exec(line)?.[1];

	it('without the connect flow: the three flows as before', () => {
		const lines = tryItLines(BASE, paths, true, '{}');
		expect(lines.filter((line) => line.includes('curl')).map(webhookOf)).toEqual(['swap-path', 'tenant-run', 'control-path']);
	});

	it('with it: create a link (header auth), open it and Approve, run with the connection, disconnect', () => {
		const lines = tryItLines(BASE, paths, true, '{}', connect);
		const curls = lines.filter((line) => line.includes('curl'));
		expect(curls.map(webhookOf)).toEqual(['swap-path', 'tenant-run', 'control-path', 'tenant-oauth-links', 'tenant-oauth-run', 'tenant-oauth-links']);
		const [link, run, disconnect] = curls.slice(3);
		for (const line of [link, run, disconnect]) expect(line).toContain(`-H 'x-operator-key: k3y'`);
		expect(link).toContain(`-d '{"action":"link","tenantId":"acme"}'`);
		expect(run).toContain(`-d '{"tenantId":"acme"}'`);
		expect(disconnect).toContain(`-d '{"action":"disconnect","tenantId":"acme"}'`);
		const between = lines.slice(lines.indexOf(link) + 1, lines.indexOf(run)).join('\n');
		expect(between).toMatch(/open the printed connectUrl in a browser and press Approve/);
	});
});
