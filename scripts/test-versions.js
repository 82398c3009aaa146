#!/usr/bin/env node
// @ts-check
'use strict';
/**
 * npm run test:versions -- <n8n version...>     e.g. npm run test:versions -- 2.8.4 2.20.12 2.41.1
 *
 * Not in CI: each version is a separate n8n install (about 4 min and 2.8 GB, cached afterwards in
 * ~/.cache/n8n-nodes-tenant-credential-swap). Per version, one after another: install it (n8n before
 * 2.30 with the npm override xlsx 0.18.5), start it on PostgreSQL with the packed package installed the
 * way the nodes panel installs it, and run the smoke:
 *   loads      both node types and the credential type are registered
 *   swap       one webhook call through the example (swap, tenant API, Release Lock) sees its own secret
 *   burst      20 concurrent calls over 5 tenants: 0 failed, 0 bled, no temporary credential left
 *   credtest   the credential's Test button (POST /rest/credentials/test) on a working key
 *   swaptest   the swap with Options > Test Credential on (n8n's public test endpoint)
 *   rwt        one webhook call through Run With Tenant Credential (a tenant credential made, the
 *              sub-workflow's call sees the tenant's own secret)
 *   exprswap / exprrwt   tenant data holding an expression (`={{ 6*7 }}`) is refused by each node
 *              before anything is sent (the tenant API gets nothing)
 *   urlswap / urlrwt     an OAuth2 tenant whose token URL points at a canary server, Allowed Fields
 *              empty, is refused by each node; the canary server gets nothing
 * The issue-18 matrix: 2.8.4 2.20.12 2.40.7 2.41.1. 2.41.3 (the registry's newest) does not install here:
 * `npm install n8n@2.41.3` fails with ETARGET for @n8n/agents@0.26.2, and with an override to 0.26.1
 * next for @n8n/ai-node-sdk@0.31.2 (neither is published in this registry; 2.41.2 is not published at all).
 * Prints one line per check and a table at the end; exit code 1 if a version failed a check that
 * version is documented to pass. n8n 1.x needs Node 22 (n8n 2.x: 24) and is not covered here.
 */
const path = require('path');
const { ensurePostgres, postgresCredentialData } = require('../test/harness/postgres.js');
const { startN8n, packPackage } = require('../test/harness/n8n.js');
const { createApiClient } = require('../test/harness/api.js');
const { startEchoService, digest } = require('../test/harness/echo.js');
const workflows = require('../test/harness/workflows.js');
const { exampleWorkflow } = workflows;
const { makeCalls, fire, summarize, postJson } = require('./lib/load');

const REPO = path.resolve(__dirname, '..');
const PACKAGE = 'n8n-nodes-tenant-credential-swap';

const out = (/** @type {string} */ line = '') => process.stdout.write(`${line}\n`);

/**
 * @param {string} version
 * @param {{postgresUrl: string, tarball: string, echoUrl: string, echo: import('../test/harness/echo.js').EchoService,
 *          canary: import('../test/harness/echo.js').EchoService}} env  canary: the server a hostile token URL points at
 * @returns {Promise<Record<string, string>>} check -> result text ("ok ..." or "FAIL ...")
 */
async function smoke(version, env) {
	/** @type {Record<string, string>} */
	const results = {};
	const t0 = Date.now();
	const n8n = await startN8n({
		n8nVersion: version,
		packageTarball: env.tarball,
		db: 'postgres',
		postgres: { url: env.postgresUrl },
		onProgress: (/** @type {string} */ line) => out(`    [${version}] ${line}`),
	});
	results.install = `ok (ready after ${Math.round((Date.now() - t0) / 1000)} s)`;
	try {
		const api = createApiClient(n8n);
		const check = async (/** @type {string} */ name, /** @type {() => Promise<string>} */ fn) => {
			try {
				results[name] = await fn();
			} catch (error) {
				results[name] = `FAIL ${String(/** @type {Error} */ (error).message).split('\n')[0].slice(0, 300)}`;
			}
			out(`    [${version}] ${name}: ${results[name]}`);
		};

		await check('loads', async () => {
			const res = await fetch(`${n8n.baseUrl}/types/nodes.json`, { headers: { cookie: n8n.cookie } });
			const names = /** @type {Array<{name: string}>} */ (await res.json()).map((t) => t.name);
			const ours = names.filter((n) => n.startsWith(`${PACKAGE}.`)).sort();
			if (ours.length !== 3) throw new Error(`node types registered: ${JSON.stringify(ours)}`);
			return 'ok (3 node types)';
		});

		// 2.8 to 2.20 refuse these credentials without the fields their schemas list (measured).
		const n8nApi = await api.createCredential({
			name: 'Tenant Swap n8n account',
			type: 'tenantSwapN8nApi',
			data: { baseUrl: n8n.apiUrl, apiKey: n8n.apiKey, allowUnauthorizedCerts: false, allowedHttpRequestDomains: 'all' },
		});
		const postgres = await api.createCredential({ name: 'Lock database', type: 'postgres', data: postgresCredentialData(env.postgresUrl) });
		const base = await api.createCredential({ name: 'Tenant API (base)', type: 'httpHeaderAuth', data: { name: 'x-tenant-secret', value: 'nobody' } });

		await check('credtest', async () => {
			const result = await api.testCredentialInternal({
				id: n8nApi.id,
				name: n8nApi.name,
				type: 'tenantSwapN8nApi',
				data: { baseUrl: n8n.apiUrl, apiKey: n8n.apiKey, allowUnauthorizedCerts: false },
			});
			if (result.status !== 'OK') throw new Error(`Test button: ${result.status} ${result.message ?? ''}`);
			return `ok (${result.message ?? 'OK'})`;
		});

		const url = (/** @type {string} */ p) => `${n8n.baseUrl}/webhook/${p}`;
		await api.deployWorkflow(exampleWorkflow({ path: 'v-smoke', baseCredential: base, n8nApi, postgres, echoUrl: env.echoUrl, waitTimeout: 120 }));

		await check('swap', async () => {
			const [call] = makeCalls(1, 1);
			const result = summarize(await fire(url('v-smoke'), [call], () => undefined));
			if (result.failures || result.bleed) throw new Error(`${result.failures} failed, ${result.bleed} bled: ${JSON.stringify(result.failed).slice(0, 200)}`);
			return 'ok (saw its own secret)';
		});

		await check('burst', async () => {
			const calls = makeCalls(20, 5);
			const result = summarize(await fire(url('v-smoke'), calls, () => undefined));
			const left = (await api.listCredentials()).filter((c) => String(c.name).startsWith('tenant-swap tmp')).length;
			if (result.failures || result.bleed || left) throw new Error(`${result.failures} failed, ${result.bleed} bled, ${left} temporary credentials left`);
			return `ok (20 calls, 5 tenants: 0 failed, 0 bled)`;
		});

		await check('swaptest', async () => {
			const workflow = exampleWorkflow({ path: 'v-swaptest', name: 'swap with Test Credential', baseCredential: base, n8nApi, postgres, echoUrl: env.echoUrl });
			const swap = workflow.nodes.find((/** @type {any} */ n) => n.name === 'Tenant Credential Swap');
			swap.parameters.options.testCredential = true;
			const deployed = await api.deployWorkflow(workflow);
			const [call] = makeCalls(1, 1);
			const result = summarize(await fire(url('v-swaptest'), [call], () => undefined));
			if (!result.failures && !result.bleed) return 'ok (test passed, swapped)';
			const [failed] = await api.getExecutions({ workflowId: deployed.id, status: 'error', includeData: true });
			const error = failed?.data?.resultData?.error;
			return `refused: ${String(error?.message ?? 'no stored error').slice(0, 400)}`;
		});

		await check('rwt', async () => {
			const placeholder = await api.createCredential({ name: 'placeholder (sub-workflow)', type: 'httpHeaderAuth', data: { name: 'x-tenant-secret', value: 'placeholder' } });
			const sub = await publishedSubWorkflow(api, workflows.tenantSubWorkflow({ name: 'tenant sub-workflow', kind: 'headerAuth', echoUrl: env.echoUrl, credential: placeholder }));
			const deployed = await api.deployWorkflow(
				workflows.runWithTenantWorkflow({
					name: 'Run With Tenant Credential',
					path: 'v-rwt',
					subWorkflowId: sub.id,
					n8nApi,
					postgres,
					kind: 'headerAuth',
					echoUrl: env.echoUrl,
					options: { allowedFields: 'name,value', credentialType: 'httpHeaderAuth' },
				}),
			);
			const secret = `s-rwt-${Date.now()}`;
			const answer = await postJson(url('v-rwt'), { tenantId: 'v-tenant', secret });
			const seen = /** @type {any} */ (answer.body)?.tenantSecretHash;
			if (answer.status !== 200 || seen !== digest(secret)) {
				const { node, message } = await storedError(api, deployed.id);
				throw new Error(`HTTP ${answer.status}, ${seen === digest(secret) ? 'saw its own secret' : 'did not see its own secret'}; ${node}: ${message}`);
			}
			const made = (await api.listCredentials()).filter((c) => String(c.name).startsWith('tenant-cred ')).length;
			return `ok (saw its own secret; ${made} tenant credential)`;
		});

		// Tenant data as hostile input: each attack refused in our node, nothing sent to any server.
		const swapWorkflow = async (/** @type {string} */ p, /** @type {any} */ base, /** @type {string} */ authType, /** @type {Record<string, unknown>} */ options) =>
			api.deployWorkflow(
				workflows.chainWorkflow({
					name: `attack: ${p}`,
					path: p,
					nodes: [
						workflows.swapNode({ n8nApi, postgres, baseCredentialId: base.id, credentialData: '={{ $json.body.data }}', options: { lockTtl: 60, waitTimeout: 30, ...options } }),
						workflows.httpCallNode({ url: `${env.echoUrl}/echo`, genericAuthType: authType, credential: base }),
						workflows.releaseNode({ postgres }),
					],
				}),
			);
		const rwtWorkflow = async (/** @type {string} */ p, /** @type {string} */ kind, /** @type {Record<string, unknown>} */ options) => {
			const placeholder =
				kind === 'oauth2'
					? await createOauthCredential(api, `placeholder (${p})`, 'placeholder', `${env.echoUrl}/oauth/token`)
					: await api.createCredential({ name: `placeholder (${p})`, type: 'httpHeaderAuth', data: { name: 'x-tenant-secret', value: 'placeholder' } });
			const sub = await publishedSubWorkflow(api, workflows.tenantSubWorkflow({ name: `sub-workflow (${p})`, kind, echoUrl: env.echoUrl, credential: placeholder }));
			return api.deployWorkflow(
				workflows.runWithTenantWorkflow({ name: `attack: ${p}`, path: p, subWorkflowId: sub.id, n8nApi, postgres, credentialData: '={{ $json.body.data }}', options }),
			);
		};
		const expression = { name: 'x-tenant-secret', value: '={{ 6*7 }}' };
		const headerOptions = { allowedFields: 'name,value', credentialType: 'httpHeaderAuth' };

		await check('exprswap', async () => {
			const workflow = await swapWorkflow('v-expr-swap', base, 'httpHeaderAuth', { allowedFields: 'name,value' });
			return await expectRefused(api, workflow.id, url('v-expr-swap'), { tenantId: 'v-expr', data: expression }, 'Tenant Credential Swap', /expression/i, [env.echo]);
		});
		await check('exprrwt', async () => {
			const workflow = await rwtWorkflow('v-expr-rwt', 'headerAuth', headerOptions);
			return await expectRefused(api, workflow.id, url('v-expr-rwt'), { tenantId: 'v-expr', data: expression }, 'Run With Tenant Credential', /expression/i, [env.echo]);
		});
		const hostile = oauthData('v-url', `${env.canary.url}/oauth/token`, false);
		await check('urlswap', async () => {
			const oauthBase = await createOauthCredential(api, 'OAuth2 base', 'nobody', `${env.echoUrl}/oauth/token`);
			const workflow = await swapWorkflow('v-url-swap', oauthBase, 'oAuth2Api', {});
			return await expectRefused(api, workflow.id, url('v-url-swap'), { tenantId: 'v-url', data: hostile }, 'Tenant Credential Swap', /accessTokenUrl/, [env.echo, env.canary]);
		});
		await check('urlrwt', async () => {
			const workflow = await rwtWorkflow('v-url-rwt', 'oauth2', { credentialType: 'oAuth2Api' });
			return await expectRefused(api, workflow.id, url('v-url-rwt'), { tenantId: 'v-url', data: hostile }, 'Run With Tenant Credential', /accessTokenUrl/, [env.echo, env.canary]);
		});
	} finally {
		await n8n.stop();
	}
	return results;
}

/**
 * OAuth2 client credentials data (scope "" as n8n's form saves it, unless withScope is false).
 * @param {string} clientId
 * @param {string} accessTokenUrl
 * @param {boolean} [withScope]
 */
function oauthData(clientId, accessTokenUrl, withScope = true) {
	return { grantType: 'clientCredentials', accessTokenUrl, clientId, clientSecret: `${clientId}-secret`, authentication: 'body', ...(withScope ? { scope: '' } : {}) };
}

/**
 * Creates a sub-workflow and publishes (activates) it: production executions run only a published one.
 * @param {any} api
 * @param {any} json
 */
async function publishedSubWorkflow(api, json) {
	const sub = await api.createWorkflow(json);
	await api.activateWorkflow(sub.id);
	return sub;
}

/**
 * Creates an OAuth2 (client credentials) credential. 2.20.12's asks for jwksUriNotice unless jweEnabled is false. 2.8.4's public API schema asks for serverUrl when
 * the hidden useDynamicClientRegistration is missing (and refuses that field itself), and for client
 * credentials sendAdditionalBodyProperties and additionalBodyProperties (read from its schema): there
 * those are sent too.
 * @param {any} api
 * @param {string} name
 * @param {string} clientId
 * @param {string} accessTokenUrl
 */
async function createOauthCredential(api, name, clientId, accessTokenUrl) {
	/** @type {Record<string, unknown>} */
	let data = oauthData(clientId, accessTokenUrl);
	// Each refusal names what this version's schema still asks for: add it and try again (at most twice).
	for (let attempt = 0; ; attempt++) {
		try {
			return await api.createCredential({ name, type: 'oAuth2Api', data });
		} catch (error) {
			const message = String(/** @type {Error} */ (error).message);
			if (attempt >= 2) throw error;
			// 2.20.12 asks for the JWE notice unless JWE is switched off explicitly, then for serverUrl (measured).
			if (/requires property \\?"jwksUriNotice/.test(message)) data = { ...data, jweEnabled: false };
			else if (/requires property \\?"(serverUrl|sendAdditionalBodyProperties)/.test(message)) {
				data = { ...data, serverUrl: accessTokenUrl, sendAdditionalBodyProperties: false, additionalBodyProperties: '{}' };
			} else throw error;
		}
	}
}

/**
 * The error stored by the workflow's newest finished webhook execution.
 * @param {any} api
 * @param {string} workflowId
 */
async function storedError(api, workflowId) {
	const done = await api.waitForExecutions({ workflowId, count: 1, includeData: true, timeoutMs: 60000 });
	const execution = done.find((/** @type {any} */ e) => e.mode === 'webhook') ?? done[0];
	const error = execution?.data?.resultData?.error;
	return { status: String(execution?.status), node: String(error?.node?.name ?? '-'), message: `${error?.message ?? ''} | ${error?.description ?? ''}`.slice(0, 300) };
}

/**
 * One call that our node must refuse (error naming `pattern`) while none of the servers gets a request.
 * Older n8n answers a failed webhook with 200 and an empty body: the stored execution says what happened.
 * @param {any} api
 * @param {string} workflowId
 * @param {string} webhookUrl
 * @param {unknown} body
 * @param {string} node
 * @param {RegExp} pattern
 * @param {Array<{requests: unknown[]}>} servers
 */
async function expectRefused(api, workflowId, webhookUrl, body, node, pattern, servers) {
	const before = servers.map((server) => server.requests.length);
	await postJson(webhookUrl, body);
	const error = await storedError(api, workflowId);
	const sent = servers.reduce((sum, server, i) => sum + server.requests.length - before[i], 0);
	if (error.status !== 'error' || error.node !== node || !pattern.test(error.message) || sent !== 0) {
		throw new Error(`not refused as expected: ${error.status}, ${sent} request(s) sent; ${error.node}: ${error.message}`);
	}
	return `ok (refused, 0 requests sent: ${error.message.split(' | ')[0].slice(0, 120)})`;
}

async function main() {
	const versions = process.argv.slice(2).filter((a) => !a.startsWith('-'));
	if (versions.length === 0 || versions.some((v) => !/^\d+\.\d+\.\d+$/.test(v))) {
		process.stderr.write('usage: npm run test:versions -- <n8n version...>   e.g. 2.8.4 2.20.12 2.41.1\n');
		return 2;
	}
	if (versions.some((v) => Number(v.split('.')[0]) < 2)) {
		process.stderr.write('n8n 1.x needs Node 22 (the harness runs n8n 2.x on Node 24): not covered by this script\n');
		return 2;
	}
	const pg = await ensurePostgres({ onProgress: (line) => out(`  [postgres] ${line.replace(/\/\/([^:@/]+):[^@]*@/, '//$1:***@')}`) });
	const echo = await startEchoService();
	const canary = await startEchoService();
	/** @type {Record<string, Record<string, string>>} */
	const table = {};
	try {
		out('  packing the package ...');
		const tarball = await packPackage(REPO);
		for (const version of versions) {
			out(`  n8n ${version}:`);
			try {
				table[version] = await smoke(version, { postgresUrl: pg.url, tarball, echoUrl: echo.url, echo, canary });
			} catch (error) {
				table[version] = { install: `FAIL ${String(/** @type {Error} */ (error).message).split('\n')[0].slice(0, 300)}` };
			}
		}
	} finally {
		await echo.stop().catch(() => undefined);
		await canary.stop().catch(() => undefined);
		await pg.stop().catch(() => undefined);
	}
	out('');
	out('| n8n | install + start | loads | credential Test button | swap + release | 20 concurrent, 5 tenants | swap with Test Credential | Run With Tenant Credential |');
	out('| --- | --- | --- | --- | --- | --- | --- | --- |');
	for (const [version, r] of Object.entries(table)) {
		out(`| ${version} | ${[r.install, r.loads, r.credtest, r.swap, r.burst, r.swaptest, r.rwt].map((x) => (x ?? '-').replace(/\|/g, '/')).join(' | ')} |`);
	}
	out('');
	out('| n8n | expression refused: swap | expression refused: Run With Tenant Credential | token URL refused: swap | token URL refused: Run With Tenant Credential |');
	out('| --- | --- | --- | --- | --- |');
	for (const [version, r] of Object.entries(table)) {
		out(`| ${version} | ${[r.exprswap, r.exprrwt, r.urlswap, r.urlrwt].map((x) => (x ?? '-').replace(/\|/g, '/')).join(' | ')} |`);
	}
	// "refused" on swaptest is a measured answer, not a failure of the package
	const failed = Object.values(table).some((r) => Object.values(r).some((x) => x.startsWith('FAIL')));
	return failed ? 1 : 0;
}

main().then(
	(code) => process.exit(code),
	(error) => {
		process.stderr.write(`${error.stack || error}\n`);
		process.exit(2);
	},
);
