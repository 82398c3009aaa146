#!/usr/bin/env node
// @ts-check
'use strict';
/**
 * npm run dev [-- --port 5678]
 *
 * A real n8n 2.40.7 on http://127.0.0.1:<port> (loopback only) with this package installed the way
 * the community nodes panel installs it, on PostgreSQL, with the credentials and the example
 * workflows imported: the locked example (its error workflow set to the Error Trigger release
 * workflow), the unlocked control, and a stand-in tenant API; and the OAuth2 connect flow (a tenant
 * connects its own account at a stand-in OAuth2 provider on 127.0.0.1, then runs with it: see
 * scripts/lib/oauthConnect.js). Runs until Ctrl-C / SIGTERM, then stops everything it started.
 * Rebuilds and repacks the package on every start.
 */
const net = require('net');
const { startStack, takeOverSignals, sleep } = require('./lib/stack');

const USAGE = `usage: npm run dev [-- --port N]
  --port N   n8n's port on 127.0.0.1 (default 5678)`;

/** @param {string[]} argv */
function parseArgs(argv) {
	let port = 5678;
	for (let i = 0; i < argv.length; i++) {
		const arg = argv[i];
		if (arg === '-h' || arg === '--help') {
			process.stdout.write(`${USAGE}\n`);
			process.exit(0);
		}
		const m = /^--port(?:=(.*))?$/.exec(arg);
		if (!m) throw new Error(`unknown argument ${arg}\n${USAGE}`);
		const text = m[1] ?? argv[++i];
		port = Number(text);
		if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--port needs a port number, got ${text}`);
	}
	return { port };
}

/**
 * Is `port` free on 127.0.0.1?
 * @param {number} port
 * @returns {Promise<boolean>}
 */
function portFree(port) {
	return new Promise((resolve) => {
		const srv = net.createServer();
		srv.once('error', () => resolve(false));
		srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
	});
}

/**
 * @typedef {object} ConnectTryIt  the OAuth2 connect flow's part of "Try it"
 * @property {{links: string, run: string}} paths  webhook paths of the operator's links and run workflows
 * @property {{name: string, value: string}} operatorHeader  the Header Auth both webhooks want
 * @property {string} tenantId  the tenant the example lines connect
 */

/**
 * One curl per imported webhook flow, each under its name; with `connect`, the OAuth2 connect flow's
 * steps: create a link (as the operator's backend), open it and Approve, run with the connection.
 * @param {string} base
 * @param {{example: string, control: string, runWithTenant: string}} paths
 * @param {boolean} withRunWithTenant  the Run With Tenant Credential pair was imported
 * @param {string} body
 * @param {ConnectTryIt} [connect]
 * @returns {string[]}
 */
function tryItLines(base, paths, withRunWithTenant, body, connect) {
	const curl = (/** @type {string} */ webhookPath, data = body, headers = '') =>
		`    curl -s -X POST ${base}/webhook/${webhookPath}${headers} -H 'content-type: application/json' -d '${data}'`;
	const lines = [
		'  Tenant Credential Swap (locked example):',
		curl(paths.example),
		...(withRunWithTenant ? ['  Run With Tenant Credential (the tenant\'s own credential, no shared lock):', curl(paths.runWithTenant)] : []),
		'  Unlocked control (bleeds under load):',
		curl(paths.control),
	];
	if (!connect) return lines;
	const auth = ` -H '${connect.operatorHeader.name}: ${connect.operatorHeader.value}'`;
	const tenant = JSON.stringify(connect.tenantId);
	return [
		...lines,
		`  Tenant OAuth2 Connect (tenant ${connect.tenantId} connects its own account at the stand-in OAuth2 provider):`,
		`    1. your backend asks for ${connect.tenantId}'s one-time connect link:`,
		curl(connect.paths.links, `{"action":"link","tenantId":${tenant}}`, auth),
		'    2. open the printed connectUrl in a browser and press Approve (the provider\'s consent page); the page says connected',
		`    3. run with ${connect.tenantId}'s connected account (the provider's /api/me answers whose token it got):`,
		curl(connect.paths.run, `{"tenantId":${tenant}}`, auth),
		`    disconnect ${connect.tenantId} (step 3 then answers 409 "not connected"):`,
		curl(connect.paths.links, `{"action":"disconnect","tenantId":${tenant}}`, auth),
	];
}

const out = (/** @type {string} */ line = '') => process.stdout.write(`${line}\n`);
const step = (/** @type {string} */ line) => out(`  · ${line}`);

async function main() {
	let args;
	try {
		args = parseArgs(process.argv.slice(2));
	} catch (err) {
		process.stderr.write(`${/** @type {Error} */ (err).message}\n`);
		return 2;
	}
	if (!(await portFree(args.port))) {
		process.stderr.write(`port ${args.port} on 127.0.0.1 is in use; pick another with: npm run dev -- --port <N>\n`);
		return 2;
	}

	/** @type {{stop?: () => Promise<void>}} */
	const stopper = {};
	const signals = takeOverSignals(async (signal) => {
		out(`\n${signal}: stopping n8n, the echo service, the OAuth2 provider and PostgreSQL ...`);
		if (stopper.stop) await stopper.stop();
		out('stopped.');
	});

	out(`Starting n8n with n8n-nodes-tenant-credential-swap on http://127.0.0.1:${args.port} ...`);
	let stack;
	try {
		stack = await startStack({ port: args.port, log: step, adoptSignals: signals.adopt, oauthConnect: true }, stopper);
	} catch (err) {
		if (signals.signalled()) return new Promise(() => undefined); // the signal handler exits
		process.stderr.write(`\ndev failed to start: ${/** @type {Error} */ (err).stack || err}\n`);
		if (stopper.stop) await stopper.stop().catch(() => undefined);
		return 2;
	}

	const base = stack.n8n.baseUrl;
	const webhookUrl = `${base}/webhook/${stack.paths.example}`;
	const wf = stack.workflows;
	const body = JSON.stringify({ tenantId: 'acme', secret: 'acme-secret-1' });
	out('');
	out('n8n is running. Ctrl-C stops it (and deletes its database).');
	out('');
	out(`  Editor      ${base}/`);
	out(`  Sign in     ${stack.n8n.owner.email}  /  ${stack.n8n.owner.password}`);
	out('  Workflows');
	out(`    ${wf.example.name}`);
	out(`      ${base}/workflow/${wf.example.id}   (active, error workflow set)`);
	out(`    ${wf.control.name}`);
	out(`      ${base}/workflow/${wf.control.id}   (active)`);
	out(`    ${wf.errorWorkflow.name}`);
	out(`      ${base}/workflow/${wf.errorWorkflow.id}   (active: n8n runs only a published error workflow)`);
	if (wf.runWithTenant && wf.runWithTenantSub) {
		out(`    ${wf.runWithTenant.name}`);
		out(`      ${base}/workflow/${wf.runWithTenant.id}   (active; runs the sub-workflow below with the tenant's own credential)`);
		out(`    ${wf.runWithTenantSub.name}`);
		out(`      ${base}/workflow/${wf.runWithTenantSub.id}   (published: production executions run its published version; wired to the placeholder credential)`);
	}
	const connect = stack.oauthConnect;
	if (connect) {
		for (const [workflow, note] of [
			[connect.workflows.connect, `(active; the tenant's browser: ${base}/webhook/${connect.paths.connect}/start and /callback)`],
			[connect.workflows.links, '(active; your backend: create a connect link / disconnect, header auth)'],
			[connect.workflows.run, "(active; runs the sub-workflow below with the tenant's connected account)"],
			[connect.workflows.runSub, '(published; its HTTP Request uses the placeholder OAuth2 credential)'],
		]) {
			out(`    ${workflow.name}`);
			out(`      ${base}/workflow/${workflow.id}   ${note}`);
		}
	}
	out(`  Webhook     POST ${webhookUrl}`);
	out(`              (unlocked control: POST ${base}/webhook/${stack.paths.control})`);
	out(`              (Run With Tenant Credential: POST ${base}/webhook/${stack.paths.runWithTenant}, same body)`);
	out(`  Tenant API  ${stack.echo.url}/echo (stand-in: answers the x-tenant-secret header it received)`);
	if (stack.provider && connect) {
		out(`  OAuth2      ${stack.provider.url} (stand-in provider: consent page with Approve/Deny, /api/me answers whose token it got;`);
		out(`              app credential "${connect.credentials.app.name}", its redirect URL ${connect.callbackUrl})`);
	}
	out(`  n8n log     ${stack.n8n.logFile}`);
	out('');
	out('Try it (each imported flow):');
	const connectTryIt = connect ? { paths: connect.paths, operatorHeader: connect.operatorHeader, tenantId: 'acme' } : undefined;
	for (const line of tryItLines(base, stack.paths, Boolean(wf.runWithTenant), body, connectTryIt)) out(line);
	out('');

	// stay up; say so if n8n goes away on its own
	let downSince = 0;
	for (;;) {
		await sleep(5000);
		if (signals.signalled()) return new Promise(() => undefined);
		const up = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(4000) })
			.then((r) => r.ok)
			.catch(() => false);
		if (up) downSince = 0;
		else if (!downSince) downSince = Date.now();
		else if (Date.now() - downSince > 30000 && !signals.signalled()) {
			process.stderr.write(`n8n has not answered ${base}/healthz for 30 s; see ${stack.n8n.logFile}. Stopping.\n`);
			await stack.stop();
			return 1;
		}
	}
}

if (require.main === module) main().then((code) => process.exit(code));

module.exports = { tryItLines };
