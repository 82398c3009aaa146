#!/usr/bin/env node
// @ts-check
'use strict';
/**
 * npm run demo [-- --calls 200 --tenants 20]
 *
 * Starts PostgreSQL, a stand-in tenant API, and a real n8n 2.40.7 with this package; deploys the
 * example workflow (locked) and an unlocked control, each with its own base credential; fires
 * concurrent webhook calls (each with its own secret) at the control, then at the locked workflow;
 * prints both side by side. Exit code 1 when the locked run bleeds, fails or leaves temporary
 * credentials; 2 when the demo itself could not run. Stops everything it started on every path.
 * No secret value is ever printed.
 */
const { startStack, takeOverSignals } = require('./lib/stack');
const { makeCalls, fire, summarize, describeFailures, redactSecrets, seenSecret, postJson } = require('./lib/load');

const USAGE = `usage: npm run demo [-- --calls N --tenants N]
  --calls N     concurrent webhook calls per run (default 200)
  --tenants N   tenants the calls are spread over (default 20)`;

/** @param {string[]} argv */
function parseArgs(argv) {
	const o = { calls: 200, tenants: 20 };
	for (let i = 0; i < argv.length; i++) {
		const arg = argv[i];
		if (arg === '-h' || arg === '--help') {
			process.stdout.write(`${USAGE}\n`);
			process.exit(0);
		}
		const m = /^--(calls|tenants)(?:=(.*))?$/.exec(arg);
		if (!m) throw new Error(`unknown argument ${arg}\n${USAGE}`);
		const text = m[2] ?? argv[++i];
		const n = Number(text);
		if (!Number.isInteger(n) || n < 1) throw new Error(`--${m[1]} needs a whole number >= 1, got ${text}`);
		o[/** @type {'calls'|'tenants'} */ (m[1])] = n;
	}
	if (o.tenants > o.calls) throw new Error(`--tenants (${o.tenants}) cannot exceed --calls (${o.calls})`);
	return o;
}

const out = (/** @type {string} */ line = '') => process.stdout.write(`${line}\n`);
const step = (/** @type {string} */ line) => out(`  · ${line}`);
const secs = (/** @type {number} */ ms) => `${(ms / 1000).toFixed(1)} s`;

/**
 * @param {ReturnType<typeof summarize> & {temporaryCredentials: number}} control
 * @param {ReturnType<typeof summarize> & {temporaryCredentials: number}} locked
 */
function table(control, locked) {
	const fmt = {
		int: (/** @type {number} */ n) => String(n),
		one: (/** @type {number} */ n) => (Number.isFinite(n) ? n.toFixed(1) : '-'),
		ms: (/** @type {number} */ n) => (Number.isFinite(n) ? String(Math.round(n)) : '-'),
	};
	/** @type {[string, (r: typeof control) => string][]} */
	const rows = [
		['calls', (r) => fmt.int(r.calls)],
		['HTTP failures', (r) => fmt.int(r.failures)],
		['bleed (answer not the caller\'s own secret)', (r) => fmt.int(r.bleed)],
		['executions/s (calls / wall time)', (r) => fmt.one(r.perSecond)],
		['wall time, s', (r) => (r.wallMs / 1000).toFixed(1)],
		['latency p50, ms', (r) => fmt.ms(r.p50)],
		['latency p95, ms', (r) => fmt.ms(r.p95)],
		['latency p99, ms', (r) => fmt.ms(r.p99)],
		['temporary credentials left', (r) => fmt.int(r.temporaryCredentials)],
	];
	const head = ['', 'control (no lock)', 'locked (Tenant Credential Swap)'];
	const w0 = Math.max(head[0].length, ...rows.map(([label]) => label.length));
	const w1 = head[1].length;
	const w2 = head[2].length;
	const line = (/** @type {string} */ a, /** @type {string} */ b, /** @type {string} */ c) =>
		`  ${a.padEnd(w0)}  ${b.padStart(w1)}  ${c.padStart(w2)}`;
	const lines = [line(...(/** @type {[string, string, string]} */ (head))), `  ${'-'.repeat(w0 + w1 + w2 + 4)}`];
	for (const [label, f] of rows) lines.push(line(label, f(control), f(locked)));
	return lines.join('\n');
}

async function main() {
	const started = Date.now();
	let args;
	try {
		args = parseArgs(process.argv.slice(2));
	} catch (err) {
		process.stderr.write(`${/** @type {Error} */ (err).message}\n`);
		return 2;
	}

	/** @type {{stop?: () => Promise<void>}} */
	const stopper = {};
	const signals = takeOverSignals(async (signal) => {
		out(`\n${signal}: stopping n8n, the echo service and PostgreSQL ...`);
		if (stopper.stop) await stopper.stop();
		out('stopped.');
	});

	out('Tenant Credential Swap demo: does a shared base credential bleed between concurrent tenants?');
	out(`  ${args.calls} concurrent webhook calls over ${args.tenants} tenants, every call with its own secret,`);
	out('  first to an unlocked control (HTTP PATCH of the base credential, no lock), then to the example');
	out('  workflow (Tenant Credential Swap ... Release Lock). A call "bleeds" when the tenant API saw a');
	out('  secret other than the caller\'s own. Secrets are never printed.');
	out('');

	try {
		const stack = await startStack({ log: step, adoptSignals: signals.adopt }, stopper);
		step(`n8n ${stack.n8n.baseUrl} ready; workflows "${stack.workflows.control.name}" and "${stack.workflows.example.name}" active`);

		/** @type {Record<string, number>} */
		const runMs = {};
		/**
		 * @param {'control'|'locked'} label
		 * @param {string} webhookPath
		 */
		const run = async (label, webhookPath) => {
			const url = `${stack.n8n.baseUrl}/webhook/${webhookPath}`;
			// one call first: the set-up works and the first-use costs (lock table, schema cache) are paid
			const [warm] = makeCalls(1, 1);
			const w = await postJson(url, { tenantId: warm.tenant, secret: warm.secret });
			const warmOk = w.status === 200 && seenSecret(w.body) === warm.secret;
			step(
				`${label}: warm-up call ${warmOk ? 'saw its own secret' : `did not work: ${redactSecrets(`HTTP ${w.status} ${w.error || JSON.stringify(w.body)}`, [warm]).slice(0, 300)}`}`,
			);
			const calls = makeCalls(args.calls, args.tenants);
			step(`${label}: firing ${calls.length} calls at once at /webhook/${webhookPath} ...`);
			let answered = 0;
			const ticker = setInterval(() => {
				if (!signals.signalled()) step(`${label}: ${answered}/${calls.length} answered`);
			}, 5000);
			const t0 = Date.now();
			let result;
			try {
				result = await fire(url, calls, (n) => (answered = n));
			} finally {
				clearInterval(ticker);
			}
			runMs[label] = Date.now() - t0;
			if (signals.signalled()) await new Promise(() => undefined); // the signal handler exits
			const summary = { ...summarize(result), ...(await stack.countTemporaryCredentials()) };
			step(`${label}: ${summary.calls} answered in ${secs(summary.wallMs)}, ${summary.failures} failed, ${summary.bleed} bled`);
			if (summary.failed.length) {
				for (const l of describeFailures(summary.failed, calls)) step(`${label}: failed: ${l}`);
			}
			return { summary, calls };
		};

		const control = await run('control', stack.paths.control);
		const locked = await run('locked', stack.paths.example);

		if (locked.summary.failures > 0) {
			// n8n's own account of why, without secrets
			const executions = await stack.api
				.getExecutions({ workflowId: stack.workflows.example.id, status: 'error', includeData: true, limit: 250 })
				.catch(() => []);
			/** @type {Map<string, number>} */
			const messages = new Map();
			for (const e of executions) {
				const error = e.data?.resultData?.error;
				const key = redactSecrets(`${error?.node?.name ?? '?'}: ${error?.message ?? '?'} ${error?.description ?? ''}`, locked.calls).slice(0, 300);
				messages.set(key, (messages.get(key) || 0) + 1);
			}
			for (const [m, n] of messages) step(`locked: failed execution: ${n} x ${m}`);
		}

		const c = control.summary;
		const l = locked.summary;
		out('');
		out(table(c, l));
		out('');
		const timing = [
			`PostgreSQL ${secs(stack.timings.postgres)}`,
			`build+pack ${secs(stack.timings.pack)}`,
			`n8n start ${secs(stack.timings.n8n)}`,
			`set-up ${secs(stack.timings.setup)}`,
			`control run ${secs(runMs.control)}`,
			`locked run ${secs(runMs.locked)}`,
			`total ${secs(Date.now() - started)}`,
		];
		out(`  timings: ${timing.join(', ')}`);
		if (c.bleed === 0) out('  note: the control did not bleed on this run, so the comparison shows less than usual (try more calls).');
		out('');
		const lockedOk = l.failures === 0 && l.bleed === 0 && l.temporaryCredentials === 0;
		if (lockedOk) {
			out(
				`PASS: locked 0 of ${l.calls} calls bled, 0 failed, no temporary credential left; the unlocked control bled ${c.bleed} of ${c.calls}.`,
			);
		} else {
			out(
				`FAIL: locked ${l.bleed} of ${l.calls} calls bled, ${l.failures} failed, ${l.temporaryCredentials} temporary credential(s) left (control bled ${c.bleed} of ${c.calls}).`,
			);
		}
		out('');
		step('stopping n8n, the echo service and PostgreSQL ...');
		await stack.stop();
		return lockedOk ? 0 : 1;
	} catch (err) {
		if (signals.signalled()) return new Promise(() => undefined); // the signal handler exits
		process.stderr.write(`\ndemo failed: ${/** @type {Error} */ (err).stack || err}\n`);
		out('  · stopping whatever was started ...');
		if (stopper.stop) await stopper.stop().catch(() => undefined);
		return 2;
	}
}

main().then((code) => process.exit(code));
