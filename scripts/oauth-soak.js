#!/usr/bin/env node
// @ts-check
'use strict';
/**
 * npm run soak:oauth [-- --tenants 50 --calls 1000 --concurrency 20 --connect-concurrency 10 --ttl 5]
 *
 * Connected tenants (issue 19) under load in a real n8n 2.40.7 on PostgreSQL (lock backend PostgreSQL),
 * with the stand-in OAuth2 provider (test/helpers/oauthProvider.ts: rotating refresh tokens, access
 * tokens living --ttl seconds). The workflows are scripts/lib/oauthLoad.js's:
 *   1. Connect at scale: every tenant gets a link from the operator webhook (Tenant OAuth2 Connect,
 *      Create Connect Link) and follows it in a browser of its own (fetch, redirects, cookies) through
 *      the Tenant OAuth2 Connect Trigger and the provider, approving as its own provider account.
 *   2. Use under load: --calls webhook calls round-robin over the tenants, --concurrency in flight ->
 *      Run With Tenant Credential (Connected Tenant) -> sub-workflow -> HTTP Request (generic OAuth2,
 *      placeholder credential) GET /api/me?tenant=<tenant>. Tokens expire during the run, n8n refreshes.
 *   3. One more call per tenant: every tenant is still connected.
 *   4. Disconnect under load: calls for --disconnect-tenants tenants; a third of the way in, the
 *      operator webhook disconnects one of them.
 * It prints calls/s, latency, failures, bleed (an answer naming another tenant's account, and the
 * provider's count of calls carrying another tenant's token), refreshes (per tenant, and the bound of
 * one per tenant per expiry window), invalid_grant, runtime and load average. No link, state, code,
 * cookie or token is printed.
 *
 * Exit code 0: all tenants connected, 0 bleed, 0 failed, no tenant disconnected, refreshes within the
 * bound, and the disconnected tenant's later calls said "not connected" while no other tenant failed.
 * 1: one of these did not hold. 2: the soak could not run.
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const { startStack, takeOverSignals } = require('./lib/stack');
const { deployConnectedTenantRig, tenantIds, connectTenants, useUnderLoad, disconnectUnderLoad } = require('./lib/oauthLoad');

const USAGE = `usage: npm run soak:oauth [-- options]
  --tenants N               tenants that connect (default 50)
  --calls N                 webhook calls over them (default 1000)
  --concurrency N           calls in flight (default 20)
  --connect-concurrency N   tenants connecting at once (default 10)
  --ttl N                   the provider's access token lifetime in seconds (default 5)
  --disconnect-tenants N    tenants under load in the Disconnect phase (default 5)
  --disconnect-calls N      calls per tenant in the Disconnect phase (default 40)
  --json FILE               also write the figures to FILE (JSON, no secrets)`;

/** @param {string[]} argv */
function parseArgs(argv) {
	const o = { tenants: 50, calls: 1000, concurrency: 20, connectConcurrency: 10, ttl: 5, disconnectTenants: 5, disconnectCalls: 40, json: /** @type {string|undefined} */ (undefined) };
	/** @type {Record<string, Exclude<keyof typeof o, 'json'>>} */
	const numeric = {
		tenants: 'tenants',
		calls: 'calls',
		concurrency: 'concurrency',
		'connect-concurrency': 'connectConcurrency',
		ttl: 'ttl',
		'disconnect-tenants': 'disconnectTenants',
		'disconnect-calls': 'disconnectCalls',
	};
	for (let i = 0; i < argv.length; i++) {
		const arg = argv[i];
		if (arg === '-h' || arg === '--help') {
			process.stdout.write(`${USAGE}\n`);
			process.exit(0);
		}
		const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
		if (!m) throw new Error(`unknown argument ${arg}\n${USAGE}`);
		const text = m[2] ?? argv[++i];
		if (text === undefined) throw new Error(`--${m[1]} needs a value\n${USAGE}`);
		if (m[1] === 'json') o.json = path.resolve(text);
		else if (numeric[m[1]]) {
			const n = Number(text);
			if (!Number.isInteger(n) || n < 1) throw new Error(`--${m[1]} needs a whole number >= 1, got ${text}`);
			o[numeric[m[1]]] = n;
		} else throw new Error(`unknown argument --${m[1]}\n${USAGE}`);
	}
	if (o.tenants < 2 || o.disconnectTenants < 2) throw new Error('--tenants and --disconnect-tenants must be at least 2 (a bleed needs another tenant)');
	if (o.disconnectTenants > o.tenants) throw new Error('--disconnect-tenants cannot exceed --tenants');
	return o;
}

const out = (/** @type {string} */ line = '') => process.stdout.write(`${line}\n`);
const step = (/** @type {string} */ line) => out(`  · ${line}`);
const secs = (/** @type {number} */ ms) => `${(ms / 1000).toFixed(1)} s`;
const load = () => os.loadavg().map((n) => n.toFixed(2)).join(' ');

async function main() {
	const started = Date.now();
	let args;
	try {
		args = parseArgs(process.argv.slice(2));
	} catch (error) {
		process.stderr.write(`${/** @type {Error} */ (error).message}\n`);
		return 2;
	}
	/** @type {{stop?: () => Promise<void>}} */
	const stopper = {};
	/** @type {import('./lib/oauthLoad').Rig | undefined} */
	let rig;
	const cleanup = async () => {
		await rig?.provider.close().catch(() => undefined);
		await stopper.stop?.();
	};
	const signals = takeOverSignals(async (signal) => {
		out(`\n${signal}: stopping n8n, the provider and PostgreSQL ...`);
		await cleanup();
	});
	/** @type {Record<string, unknown>} */
	const figures = { args, cpus: os.cpus().length, loadAtStart: os.loadavg() };
	/** @type {string[]} */
	const broken = [];
	try {
		out(`OAuth2 connected tenants soak: ${args.tenants} tenants, ${args.calls} calls, ${args.concurrency} in flight, access tokens live ${args.ttl} s (load average ${load()})`);
		const stack = await startStack({ log: step, adoptSignals: signals.adopt, runWithTenantExample: false }, stopper);
		signals.adopt();
		const tag = Math.random().toString(36).slice(2, 8).replace(/[^a-z0-9]/g, 'x');
		rig = await deployConnectedTenantRig({ api: stack.api, n8nBaseUrl: stack.n8n.baseUrl, n8nApi: stack.credentials.n8nApi, postgres: stack.credentials.postgres, tag, accessTokenTtlSeconds: args.ttl });
		step(`n8n ${stack.n8n.baseUrl}; stand-in provider ${rig.provider.url}; workflows deployed`);

		// 1. Connect at scale
		const tenants = tenantIds(args.tenants);
		const connect = await connectTenants(rig, tenants, args.connectConcurrency);
		const notConnected = connect.outcomes.filter((outcome) => !outcome.connected);
		figures.connect = { tenants: tenants.length, connected: tenants.length - notConnected.length, wallMs: Math.round(connect.wallMs), problems: notConnected, load: os.loadavg() };
		out(`\n1. Connect: ${tenants.length - notConnected.length} of ${tenants.length} tenants connected in ${secs(connect.wallMs)} (${args.connectConcurrency} at once, ${(tenants.length / (connect.wallMs / 1000)).toFixed(1)}/s); token requests ${rig.provider.stats.tokenRequests} (code exchanges); load ${load()}`);
		for (const problem of notConnected.slice(0, 10)) out(`   ${problem.tenant}: ${problem.problem}`);
		if (notConnected.length) broken.push(`${notConnected.length} tenants did not connect`);

		// 2. Use under load
		const use = await useUnderLoad(rig, tenants, { count: args.calls, concurrency: args.concurrency });
		const { answers, ...useFigures } = use;
		figures.use = { ...useFigures, load: os.loadavg() };
		out(`\n2. Use: ${use.calls} calls in ${secs(use.wallMs)}: ${use.perSecond.toFixed(1)} calls/s (each a parent and a sub-execution), p50 ${Math.round(use.p50)} ms, p95 ${Math.round(use.p95)} ms; load ${load()}`);
		out(`   answers: ${use.verdicts.own} own account, ${use.verdicts.bled} bled, ${use.verdicts['not connected']} not connected, ${use.verdicts.failed} failed`);
		out(`   provider: ${use.provider.resourceCalls} /api/me answered, ${use.provider.tenantHintMismatches} with another tenant's token, ${use.provider.rejectedResourceCalls} expired-token 401s, ${use.provider.unknownTokenCalls} unknown tokens`);
		out(`   refreshes: ${use.refreshes.total} for ${use.calls} calls (${use.refreshes.fewestPerTenant}-${use.refreshes.mostPerTenant} per tenant over ${use.refreshes.providerSeconds.toFixed(1)} s; bound ${use.refreshes.windowsPerTenant} per tenant = one per ${use.refreshes.ttlSeconds} s window); invalid_grant ${use.provider.invalidGrants}, refresh token reuses ${use.provider.refreshReuses}`);
		for (const line of use.problems.slice(0, 10)) out(`   ${line}`);
		if (use.notStarted) broken.push(`${use.notStarted} calls not started`);
		if (use.verdicts.bled || use.provider.tenantHintMismatches) broken.push('bleed');
		if (use.verdicts.failed || use.verdicts['not connected']) broken.push('failed calls');
		if (use.refreshes.tenantsOverBound.length) broken.push(`tenants over the refresh bound: ${use.refreshes.tenantsOverBound.join(', ')}`);
		if (use.provider.invalidGrants) broken.push('invalid_grant during the use phase');

		// 3. Every tenant still connected
		const after = await useUnderLoad(rig, tenants, { count: tenants.length, concurrency: args.concurrency });
		figures.stillConnected = { own: after.verdicts.own, of: tenants.length, problems: after.problems };
		out(`\n3. One more call per tenant: ${after.verdicts.own} of ${tenants.length} answered with their own account`);
		for (const line of after.problems.slice(0, 10)) out(`   ${line}`);
		if (after.verdicts.own !== tenants.length) broken.push(`${tenants.length - after.verdicts.own} tenants no longer work`);

		// 4. Disconnect under load
		const underLoad = tenants.slice(0, args.disconnectTenants);
		const victim = underLoad[0];
		const dl = await disconnectUnderLoad(rig, underLoad, victim, { callsPerTenant: args.disconnectCalls, concurrency: args.concurrency });
		figures.disconnect = { ...dl, load: os.loadavg() };
		const v = dl.victimCalls;
		out(`\n4. Disconnect under load: ${dl.calls} calls over ${underLoad.length} tenants; Disconnect of ${victim} answered HTTP ${dl.disconnect.status} ${JSON.stringify(dl.disconnect.body)}`);
		out(`   ${victim}'s calls: before ${v.before.own} own; during ${v.during.own} own / ${v.during['not connected']} not connected / ${v.during.failed} failed; after ${v.after['not connected']} not connected / ${v.after.own} own / ${v.after.failed} failed`);
		out(`   other tenants: ${dl.others.own} own, ${dl.others.bled} bled, ${dl.others.failed + dl.others['not connected']} failed; provider mismatches ${dl.provider.tenantHintMismatches}`);
		for (const line of dl.victimAfter.slice(0, 3)) out(`   ${victim} after Disconnect: ${line}`);
		for (const line of dl.otherProblems.slice(0, 10)) out(`   other tenants: ${line}`);
		if (!v.after['not connected'] || v.after.own || v.after.failed || v.after.bled) broken.push(`${victim}'s calls after Disconnect did not all say "not connected"`);
		if (v.before.own !== Object.values(v.before).reduce((a, b) => a + b, 0)) broken.push(`${victim}'s calls before Disconnect did not all pass`);
		if (dl.others.own !== Object.values(dl.others).reduce((a, b) => a + b, 0) || dl.provider.tenantHintMismatches) broken.push('another tenant failed or bled during Disconnect');

		figures.runtimeMs = Date.now() - started;
		figures.loadAtEnd = os.loadavg();
		out(`\nruntime ${secs(Date.now() - started)} (n8n start-up included); load average ${load()} on ${os.cpus().length} CPUs`);
		out(broken.length ? `NOT OK: ${broken.join('; ')}` : 'OK: all connected, 0 bleed, 0 failed, none disconnected, refreshes within one per tenant per expiry window, Disconnect under load as expected');
		if (args.json) fs.writeFileSync(args.json, `${JSON.stringify({ ...figures, broken }, null, 2)}\n`);
		return broken.length ? 1 : 0;
	} catch (error) {
		process.stderr.write(`the soak could not run: ${/** @type {Error} */ (error).stack}\n`);
		return 2;
	} finally {
		await cleanup();
	}
}

main().then((code) => process.exit(code));
