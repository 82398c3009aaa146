// @ts-check
'use strict';
/**
 * Starts a real n8n (2.40.7, Node 24, loopback only) with this package installed the way
 * n8n's community-nodes panel installs it, and hands back everything a test needs.
 *
 *   const n8n = await startN8n({ packageTarball: await packPackage(repoDir) });
 *   ... n8n.apiUrl, n8n.apiKey, n8n.cookie ...
 *   await n8n.stop();
 */
const crypto = require('crypto');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const { spawn, execFile } = require('child_process');
const { ensureN8nInstalled } = require('./install');
const { getFreePort } = require('./ports');

const TMP_PREFIX = 'tenant-swap-n8n-';
/** Prefix of every PostgreSQL database and Redis key space a run creates; `<prefix><pid>_<rand>`. */
const RUN_PREFIX = 'tsw_';
const OWNER = Object.freeze({
	email: 'owner@tenant-swap.test',
	firstName: 'Test',
	lastName: 'Owner',
	password: 'Tenant-Swap-Passw0rd',
});

/**
 * @typedef {object} PostgresOptions
 * @property {string} [url]       postgres://user:password@host:port/adminDatabase (default $TEST_DATABASE_URL)
 * @property {string} [host]      default $PGHOST or 127.0.0.1
 * @property {number} [port]      default $PGPORT or 5432
 * @property {string} [user]      default $PGUSER or postgres
 * @property {string} [password]  default $PGPASSWORD or ''
 * @property {string} [adminDatabase] database to connect to for CREATE/DROP DATABASE (default postgres)
 * @property {string} [database]  use this existing database instead of creating a fresh one (not dropped)
 * @property {number} [poolSize]  DB_POSTGRESDB_POOL_SIZE (default 10)
 */

/**
 * @typedef {object} RedisOptions
 * @property {string} [host] default 127.0.0.1
 * @property {number} [port] default 6379
 * @property {number} [db]   QUEUE_BULL_REDIS_DB (default 0)
 */

/**
 * @typedef {object} StartOptions
 * @property {number} [port]            main HTTP port (default: a free port)
 * @property {'sqlite'|'postgres'} [db] default sqlite
 * @property {PostgresOptions} [postgres]
 * @property {string} [packageTarball]  npm pack output to install the panel way (optional)
 * @property {string[]} [extraPackageTarballs]  more npm pack outputs to install the panel way after it (e.g. a control build under another name)
 * @property {Record<string,string|undefined>} [env] extra env for main and workers (undefined deletes)
 * @property {'regular'|'queue'} [mode] default regular
 * @property {number} [workers]         queue mode: number of `n8n worker` processes (default 1)
 * @property {RedisOptions} [redis]     queue mode
 * @property {string} [encryptionKey]   default: random per run
 * @property {string} [logLevel]        N8N_LOG_LEVEL (default info)
 * @property {number} [startTimeoutMs]  default 180000
 * @property {number} [stopGraceMs]     SIGTERM -> SIGKILL delay (default 8000)
 * @property {boolean} [keepUserFolder] keep the user folder after stop (also $TENANT_SWAP_KEEP_TMP=1)
 * @property {string} [n8nVersion]     n8n release to run (default: install.js' N8N_VERSION)
 * @property {(line: string) => void} [onProgress] progress lines (default: stderr)
 */

/**
 * @typedef {object} WorkerInfo
 * @property {number} index
 * @property {number} pid           watchdog pid = process group id
 * @property {number} healthPort    QUEUE_HEALTH_CHECK_PORT (GET /healthz, /healthz/readiness)
 * @property {number} brokerPort    N8N_RUNNERS_BROKER_PORT
 * @property {string} logFile
 */

/**
 * @typedef {object} N8nHandle
 * @property {string} runId
 * @property {string} baseUrl   http://127.0.0.1:<port>
 * @property {string} apiUrl    <baseUrl>/api/v1
 * @property {string} apiKey    public API key with every scope
 * @property {{email: string, password: string, firstName: string, lastName: string}} owner
 * @property {string} cookie    `n8n-auth=...` for /rest (send with browserId)
 * @property {string} browserId value for the `browser-id` header /rest needs with the cookie
 * @property {string} logFile   main process output
 * @property {number} pid       main process: watchdog pid = process group id (n8n runs in that group)
 * @property {string} userFolder N8N_USER_FOLDER
 * @property {string} nodesDir  <userFolder>/.n8n/nodes
 * @property {number} port
 * @property {string} encryptionKey
 * @property {'sqlite'|'postgres'} db
 * @property {string|undefined} database postgres database name
 * @property {'regular'|'queue'} mode
 * @property {WorkerInfo[]} workers
 * @property {{bull: string, redis: string, cache: string}|undefined} redisPrefixes queue mode
 * @property {Record<string,string>} env  the environment n8n runs with (for extra processes)
 * @property {string|undefined} packageName
 * @property {number} startupMs  time from spawn to ready (owner + API key done)
 * @property {(method: string, urlPath: string, body?: unknown) => Promise<{status: number, body: any}>} rest
 *           call /rest/<urlPath> as the owner (cookie + browser-id)
 * @property {() => string} readLog       main log text
 * @property {() => string[]} logErrors   main log lines that look like load/start errors
 * @property {() => Promise<void>} stop
 */

/** @type {Set<{pid: number}>} process groups still running, killed on exit */
const liveGroups = new Set();
let exitHooksInstalled = false;

function installExitHooks() {
	if (exitHooksInstalled) return;
	exitHooksInstalled = true;
	const killAll = () => {
		for (const g of liveGroups) {
			try {
				process.kill(-g.pid, 'SIGKILL');
			} catch {
				/* gone */
			}
		}
		liveGroups.clear();
	};
	process.on('exit', killAll);
	for (const sig of /** @type {NodeJS.Signals[]} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])) {
		const handler = () => {
			killAll();
			// If nobody else handles the signal, behave as if we had not been listening.
			if (process.listenerCount(sig) === 1) {
				process.removeListener(sig, handler);
				process.kill(process.pid, sig);
			}
		};
		process.on(sig, handler);
	}
}

/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));


/**
 * Several distinct free ports.
 * @param {number} n
 * @returns {Promise<number[]>}
 */
async function getFreePorts(n) {
	/** @type {Set<number>} */
	const ports = new Set();
	while (ports.size < n) ports.add(await getFreePort());
	return [...ports];
}

/**
 * @param {string} cmd
 * @param {string[]} args
 * @param {{cwd?: string, env?: NodeJS.ProcessEnv, timeoutMs?: number}} [o]
 * @returns {Promise<{stdout: string, stderr: string}>}
 */
function run(cmd, args, o = {}) {
	return new Promise((resolve, reject) => {
		execFile(
			cmd,
			args,
			{ cwd: o.cwd, env: o.env || cleanNpmEnv(), maxBuffer: 64 * 1024 * 1024, timeout: o.timeoutMs || 10 * 60 * 1000 },
			(err, stdout, stderr) => {
				if (err) {
					const e = new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`);
					reject(e);
				} else resolve({ stdout: String(stdout), stderr: String(stderr) });
			},
		);
	});
}

/** process.env without the npm_* settings an `npm test` passes down. */
function cleanNpmEnv() {
	/** @type {NodeJS.ProcessEnv} */
	const env = { ...process.env };
	for (const k of Object.keys(env)) if (/^npm_/i.test(k)) delete env[k];
	delete env.NODE_OPTIONS;
	return env;
}

/**
 * Builds the package (`npm run build`) and packs it (`npm pack --json`) into a temp dir.
 * If $TENANT_SWAP_PACKAGE_TARBALL names an existing file, returns it instead (set it in
 * jest's globalSetup so parallel workers do not build into dist/ at the same time).
 * @param {string} repoDir
 * @param {{build?: boolean, outDir?: string}} [o]
 * @returns {Promise<string>} absolute tarball path
 */
async function packPackage(repoDir, o = {}) {
	const preset = process.env.TENANT_SWAP_PACKAGE_TARBALL;
	if (preset && fs.existsSync(preset)) return preset;
	if (o.build !== false) await run('npm', ['run', 'build'], { cwd: repoDir });
	const outDir = o.outDir || fs.mkdtempSync(path.join(os.tmpdir(), 'tenant-swap-pack-'));
	// --ignore-scripts: prepack would build a second time
	const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', outDir], {
		cwd: repoDir,
	});
	const info = JSON.parse(stdout.slice(stdout.indexOf('[')));
	return path.join(outDir, info[0].filename);
}

/**
 * Installs a packed tarball into <userFolder>/.n8n/nodes exactly as n8n 2.40.7's
 * community-packages service does after `npm pack <name>@<version>`.
 * @param {string} tarball
 * @param {string} nodesDir  <userFolder>/.n8n/nodes
 * @returns {Promise<{name: string, version: string, dir: string}>}
 */
async function installPackageLikePanel(tarball, nodesDir) {
	const staging = fs.mkdtempSync(path.join(nodesDir, '.unpack-'));
	await run('tar', ['-xzf', tarball, '-C', staging, '--strip-components=1']);
	const pkg = JSON.parse(fs.readFileSync(path.join(staging, 'package.json'), 'utf8'));
	const dir = path.join(nodesDir, 'node_modules', ...pkg.name.split('/'));
	fs.mkdirSync(path.dirname(dir), { recursive: true });
	fs.renameSync(staging, dir);
	const { devDependencies, peerDependencies, optionalDependencies, ...kept } = pkg;
	fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(kept, null, 2), 'utf8');
	await run(
		'npm',
		[
			'install',
			'--audit=false',
			'--fund=false',
			'--bin-links=false',
			'--install-strategy=shallow',
			'--ignore-scripts=true',
			'--package-lock=false',
		],
		{ cwd: dir },
	);
	const listFile = path.join(nodesDir, 'package.json');
	/** @type {{name: string, private: boolean, dependencies: Record<string,string>}} */
	let list = { name: 'installed-nodes', private: true, dependencies: {} };
	if (fs.existsSync(listFile)) list = JSON.parse(fs.readFileSync(listFile, 'utf8'));
	list.dependencies = { ...(list.dependencies || {}), [pkg.name]: pkg.version };
	fs.writeFileSync(listFile, JSON.stringify(list, null, 2), 'utf8');
	return { name: pkg.name, version: pkg.version, dir };
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL and Redis bookkeeping

/**
 * Connection settings, first found wins: the fields of `p`, `p.url`, $TEST_DATABASE_URL
 * (set by test/setup/globalSetup.ts), the PG* variables, 127.0.0.1:5432 as postgres.
 * @param {PostgresOptions} [p]
 */
function pgConfig(p = {}) {
	const urlText = p.url || process.env.TEST_DATABASE_URL;
	/** @type {Partial<Record<'host'|'port'|'user'|'password'|'database', string>>} */
	let u = {};
	if (urlText) {
		const url = new URL(urlText);
		u = {
			host: url.hostname || undefined,
			port: url.port || undefined,
			user: url.username ? decodeURIComponent(url.username) : undefined,
			password: url.password ? decodeURIComponent(url.password) : undefined,
			database: url.pathname.replace(/^\//, '') || undefined,
		};
	}
	return {
		host: p.host || u.host || process.env.PGHOST || '127.0.0.1',
		port: Number(p.port || u.port || process.env.PGPORT || 5432),
		user: p.user || u.user || process.env.PGUSER || 'postgres',
		password: p.password ?? u.password ?? process.env.PGPASSWORD ?? '',
		adminDatabase: p.adminDatabase || u.database || 'postgres',
	};
}

/**
 * @param {ReturnType<typeof pgConfig>} cfg
 * @param {(client: import('pg').Client) => Promise<void>} fn
 */
async function withPgAdmin(cfg, fn) {
	// pg is a runtime dependency of the package, so it is always installed in the repo
	const { Client } = require('pg');
	const client = new Client({
		host: cfg.host,
		port: cfg.port,
		user: cfg.user,
		password: cfg.password,
		database: cfg.adminDatabase,
		connectionTimeoutMillis: 10000,
	});
	await client.connect();
	try {
		await fn(client);
	} finally {
		await client.end().catch(() => {});
	}
}

/** @param {string} name */
function ownerPidOf(name) {
	const m = new RegExp(`^${RUN_PREFIX}(\\d+)_`).exec(name);
	return m ? Number(m[1]) : undefined;
}

/** @param {number} pid */
function pidAlive(pid) {
	try {
		process.kill(pid, 0);
		return true;
	} catch (err) {
		return /** @type {NodeJS.ErrnoException} */ (err).code === 'EPERM';
	}
}

/**
 * Minimal RESP client: one command, one reply.
 * @param {RedisOptions} r
 * @param {(string|number)[]} args
 * @returns {Promise<any>}
 */
function redisCommand(r, args) {
	return new Promise((resolve, reject) => {
		const sock = net.createConnection({ host: r.host || '127.0.0.1', port: r.port || 6379 });
		let buf = Buffer.alloc(0);
		/** @type {(string|number)[][]} */
		const cmds = [];
		if (r.db) cmds.push(['SELECT', r.db]);
		cmds.push(args);
		let pending = cmds.length;
		/** @type {any} */
		let last;
		sock.setTimeout(10000, () => sock.destroy(new Error('redis timeout')));
		sock.on('error', reject);
		sock.on('connect', () => {
			for (const c of cmds) {
				sock.write(`*${c.length}\r\n${c.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('')}`);
			}
		});
		sock.on('data', (d) => {
			buf = Buffer.concat([buf, d]);
			for (;;) {
				const parsed = parseResp(buf, 0);
				if (!parsed) return;
				buf = buf.subarray(parsed.end);
				last = parsed.value;
				if (--pending === 0) {
					sock.end();
					if (last instanceof Error) reject(last);
					else resolve(last);
					return;
				}
			}
		});
	});
}

/**
 * @param {Buffer} b
 * @param {number} i
 * @returns {{value: any, end: number} | null}
 */
function parseResp(b, i) {
	const nl = b.indexOf('\r\n', i);
	if (nl < 0) return null;
	const type = String.fromCharCode(b[i]);
	const line = b.toString('utf8', i + 1, nl);
	if (type === '+') return { value: line, end: nl + 2 };
	if (type === '-') return { value: new Error(line), end: nl + 2 };
	if (type === ':') return { value: Number(line), end: nl + 2 };
	if (type === '$') {
		const len = Number(line);
		if (len < 0) return { value: null, end: nl + 2 };
		if (b.length < nl + 2 + len + 2) return null;
		return { value: b.toString('utf8', nl + 2, nl + 2 + len), end: nl + 2 + len + 2 };
	}
	if (type === '*') {
		const n = Number(line);
		if (n < 0) return { value: null, end: nl + 2 };
		const out = [];
		let pos = nl + 2;
		for (let k = 0; k < n; k++) {
			const item = parseResp(b, pos);
			if (!item) return null;
			out.push(item.value);
			pos = item.end;
		}
		return { value: out, end: pos };
	}
	throw new Error(`unexpected RESP type ${type}`);
}

const DEL_BY_PATTERN = `local n = 0
for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k); n = n + 1 end
return n`;

/**
 * Deletes every key that starts with one of the prefixes.
 * @param {RedisOptions} r
 * @param {string[]} prefixes
 */
async function redisDeletePrefixes(r, prefixes) {
	let n = 0;
	for (const p of prefixes) n += Number(await redisCommand(r, ['EVAL', DEL_BY_PATTERN, 0, `${p}*`]));
	return n;
}

/**
 * Drops databases and Redis keys of earlier runs whose test process is gone.
 * @param {{pg?: ReturnType<typeof pgConfig>, redis?: RedisOptions}} o
 */
async function sweepStale(o) {
	if (o.pg) {
		await withPgAdmin(o.pg, async (c) => {
			const { rows } = await c.query('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${RUN_PREFIX}%`]);
			for (const { datname } of rows) {
				const pid = ownerPidOf(datname);
				if (pid && !pidAlive(pid)) await c.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`).catch(() => {});
			}
		}).catch(() => {});
	}
	if (o.redis) {
		try {
			/** @type {string[]} */
			const keys = await redisCommand(o.redis, ['KEYS', `${RUN_PREFIX}*`]);
			/** @type {Set<string>} */
			const dead = new Set();
			for (const k of keys) {
				const run = /^(tsw_\d+_[0-9a-z]+)/.exec(k);
				const pid = run && ownerPidOf(run[1]);
				if (run && pid && !pidAlive(pid)) dead.add(run[1]);
			}
			if (dead.size) await redisDeletePrefixes(o.redis, [...dead]);
		} catch {
			/* best effort */
		}
	}
	// temp folders of dead runs
	try {
		for (const entry of fs.readdirSync(os.tmpdir())) {
			if (!entry.startsWith(TMP_PREFIX)) continue;
			const pid = ownerPidOf(entry.slice(TMP_PREFIX.length));
			const dir = path.join(os.tmpdir(), entry);
			if (pid && !pidAlive(pid) && Date.now() - fs.statSync(dir).mtimeMs > 60 * 60 * 1000) {
				// keep logs of failed runs for an hour; user folders are large (sqlite, node_modules)
				fs.rmSync(dir, { recursive: true, force: true });
			}
		}
	} catch {
		/* best effort */
	}
}

// ---------------------------------------------------------------------------------------------
// HTTP

/**
 * @param {string} url
 * @param {number} timeoutMs
 * @param {() => string | undefined} [failed] returns a reason when waiting is pointless
 */
async function waitForHttpOk(url, timeoutMs, failed) {
	const deadline = Date.now() + timeoutMs;
	let lastErr = '';
	while (Date.now() < deadline) {
		const why = failed && failed();
		if (why) throw new Error(why);
		try {
			const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
			if (res.ok) return;
			lastErr = `HTTP ${res.status}`;
		} catch (err) {
			lastErr = /** @type {Error} */ (err).message;
		}
		await sleep(250);
	}
	throw new Error(`timed out after ${timeoutMs} ms waiting for ${url} (${lastErr})`);
}

/**
 * @param {string} baseUrl
 * @param {{cookie?: string, browserId?: string}} auth
 * @param {string} method
 * @param {string} urlPath  below /rest/
 * @param {unknown} [body]
 * @returns {Promise<{status: number, body: any, headers: Headers}>}
 */
async function restCall(baseUrl, auth, method, urlPath, body) {
	/** @type {Record<string,string>} */
	const headers = { accept: 'application/json' };
	if (auth.cookie) headers.cookie = auth.cookie;
	if (auth.browserId) headers['browser-id'] = auth.browserId;
	if (body !== undefined) headers['content-type'] = 'application/json';
	const res = await fetch(`${baseUrl}/rest/${urlPath.replace(/^\/+/, '')}`, {
		method,
		headers,
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	const text = await res.text();
	let parsed;
	try {
		parsed = text ? JSON.parse(text) : undefined;
	} catch {
		parsed = text;
	}
	return { status: res.status, body: parsed, headers: res.headers };
}

// ---------------------------------------------------------------------------------------------

/**
 * Spawns `node n8n <args>` under the watchdog, as a new process group, output to logFile.
 * @param {{nodeBin: string, n8nBin: string}} bins
 * @param {string[]} args
 * @param {Record<string,string>} env
 * @param {string} logFile
 * @param {number} graceMs
 */
function spawnGroup(bins, args, env, logFile, graceMs) {
	const fd = fs.openSync(logFile, 'a');
	const child = spawn(
		bins.nodeBin,
		[path.join(__dirname, 'watchdog.js'), String(process.pid), String(graceMs), '--', bins.nodeBin, bins.n8nBin, ...args],
		{ env, stdio: ['ignore', fd, fd], detached: true },
	);
	fs.closeSync(fd);
	child.unref();
	const group = { pid: /** @type {number} */ (child.pid) };
	liveGroups.add(group);
	/** @type {{code: number|null, signal: string|null} | undefined} */
	let exited;
	const exitPromise = new Promise((resolve) => {
		child.on('exit', (code, signal) => {
			exited = { code, signal };
			resolve(exited);
		});
	});
	return {
		child,
		group,
		exitPromise,
		exited: () => exited,
		/** SIGTERM the leader, SIGKILL the group after graceMs (+2 s) */
		async stop() {
			if (!exited) {
				try {
					process.kill(group.pid, 'SIGTERM');
				} catch {
					/* gone */
				}
				/** @type {NodeJS.Timeout | undefined} */
				let timer;
				await Promise.race([exitPromise, new Promise((r) => (timer = setTimeout(r, graceMs + 2000)))]);
				clearTimeout(timer);
			}
			try {
				process.kill(-group.pid, 'SIGKILL');
			} catch {
				/* gone */
			}
			liveGroups.delete(group);
		},
	};
}

/** @param {string} file @param {number} [lines] */
function tail(file, lines = 40) {
	try {
		return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
	} catch {
		return '';
	}
}

/**
 * Lines of n8n's log that show something went wrong while loading nodes or starting.
 * @param {string} text
 */
function errorLines(text) {
	return text
		.split('\n')
		.filter((l) => /\b(error|errors|failed|cannot find module|unrecognized node type|exception)\b/i.test(l))
		.filter((l) => !/^(Starting|Finished) migration|Python task runner/i.test(l));
}

const DISABLED_MODULES = ['mcp-registry', 'instance-ai', 'workflow-builder', 'chat-hub', 'agents', 'insights'];

/**
 * The modules to switch off that this n8n version knows: n8n refuses to start when
 * N8N_DISABLED_MODULES names one it does not have (2.20.12: 'Unknown module "mcp-registry"').
 * @param {string} n8nDir
 */
function disabledModules(n8nDir) {
	const file = path.join(n8nDir, 'node_modules', '@n8n', 'backend-common', 'dist', 'modules', 'modules.config.js');
	let known;
	try {
		const list = /MODULE_NAMES = \[([^\]]*)\]/.exec(fs.readFileSync(file, 'utf8'));
		known = list ? [...list[1].matchAll(/'([^']+)'/g)].map((m) => m[1]) : undefined;
	} catch {
		known = undefined;
	}
	return (known ? DISABLED_MODULES.filter((name) => known.includes(name)) : DISABLED_MODULES).join(',');
}

/**
 * Starts n8n (and, in queue mode, its workers). See StartOptions.
 * @param {StartOptions} [opts]
 * @returns {Promise<N8nHandle>}
 */
async function startN8n(opts = {}) {
	const progress = opts.onProgress || ((line) => process.stderr.write(`[n8n] ${line}\n`));
	const mode = opts.mode || 'regular';
	const dbType = opts.db || 'sqlite';
	if (mode === 'queue' && dbType !== 'postgres') {
		throw new Error("queue mode needs db: 'postgres' (main and workers share the database)");
	}
	const workerCount = mode === 'queue' ? (opts.workers ?? 1) : 0;
	const graceMs = opts.stopGraceMs ?? 8000;
	const startTimeoutMs = opts.startTimeoutMs ?? 180000;
	installExitHooks();

	const bins = await ensureN8nInstalled({ onProgress: progress, version: opts.n8nVersion });

	const runId = `${RUN_PREFIX}${process.pid}_${crypto.randomBytes(5).toString('hex')}`;
	const root = fs.mkdtempSync(path.join(os.tmpdir(), `${TMP_PREFIX}${runId}-`));
	const userFolder = path.join(root, 'user');
	const logDir = path.join(root, 'logs');
	const nodesDir = path.join(userFolder, '.n8n', 'nodes');
	fs.mkdirSync(nodesDir, { recursive: true });
	fs.mkdirSync(logDir, { recursive: true });
	const logFile = path.join(logDir, 'n8n-main.log');

	const pg = dbType === 'postgres' ? pgConfig(opts.postgres) : undefined;
	/** @type {RedisOptions|undefined} */
	const redis = mode === 'queue' ? { host: '127.0.0.1', port: 6379, db: 0, ...(opts.redis || {}) } : undefined;
	const redisPrefixes = redis
		? { redis: `${runId}_n8n`, cache: `${runId}_cache`, bull: `${runId}_bull` }
		: undefined;
	/** @type {string|undefined} */
	let database;
	let createdDatabase = false;
	/** @type {ReturnType<typeof spawnGroup>[]} */
	const procs = [];
	let stopped = false;

	const cleanup = async () => {
		if (stopped) return;
		stopped = true;
		await Promise.all(procs.map((p) => p.stop()));
		if (pg && createdDatabase && database) {
			const name = database;
			await withPgAdmin(pg, async (c) => {
				await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
			}).catch((err) => progress(`could not drop database ${name}: ${err.message}`));
		}
		if (redis && redisPrefixes) {
			await redisDeletePrefixes(redis, [redisPrefixes.redis, redisPrefixes.cache, redisPrefixes.bull]).catch((err) =>
				progress(`could not clean Redis keys of ${runId}: ${err.message}`),
			);
		}
		if (!(opts.keepUserFolder || process.env.TENANT_SWAP_KEEP_TMP === '1')) {
			fs.rmSync(userFolder, { recursive: true, force: true, maxRetries: 3 });
		}
	};

	try {
		await sweepStale({ pg, redis });
		if (redis) {
			const pong = await redisCommand(redis, ['PING']).catch((err) => {
				throw new Error(`queue mode needs Redis at ${redis.host}:${redis.port}: ${err.message}`);
			});
			if (pong !== 'PONG') throw new Error(`unexpected Redis answer ${pong}`);
		}

		// package + database in parallel
		const packageInstall = opts.packageTarball
			? installPackageLikePanel(path.resolve(opts.packageTarball), nodesDir)
			: Promise.resolve(undefined);
		const dbSetup = (async () => {
			if (!pg) return;
			if (opts.postgres?.database) {
				database = opts.postgres.database;
				return;
			}
			database = runId;
			await withPgAdmin(pg, async (c) => {
				await c.query(`CREATE DATABASE "${database}"`);
			});
			createdDatabase = true;
		})();
		const tPrep = Date.now();
		const [pkg] = await Promise.all([packageInstall, dbSetup]);
		if (pkg) progress(`installed ${pkg.name}@${pkg.version} the panel way in ${((Date.now() - tPrep) / 1000).toFixed(1)} s`);
		// More packages (e.g. a control build under another name), one after another: each rewrites nodes/package.json.
		for (const extra of opts.extraPackageTarballs || []) {
			const installed = await installPackageLikePanel(path.resolve(extra), nodesDir);
			progress(`installed ${installed.name}@${installed.version} the panel way (extra package)`);
		}
		if (!pkg) {
			fs.writeFileSync(
				path.join(nodesDir, 'package.json'),
				JSON.stringify({ name: 'installed-nodes', private: true, dependencies: {} }, null, 2),
			);
		}

		const [port, brokerPort, ...workerPorts] = await getFreePorts(2 + 2 * workerCount);
		const mainPort = opts.port || port;
		const encryptionKey = opts.encryptionKey || crypto.randomBytes(24).toString('hex');
		const baseUrl = `http://127.0.0.1:${mainPort}`;

		/** @type {Record<string,string>} */
		const env = {};
		for (const [k, v] of Object.entries(process.env)) {
			if (v === undefined) continue;
			// nothing of the caller's n8n/npm/jest setup may leak in (NODE_ENV=test breaks n8n)
			if (/^(N8N_|DB_|QUEUE_|EXECUTIONS_|NODES_|GENERIC_TIMEZONE$|WEBHOOK_URL$|npm_|NODE_ENV$|NODE_OPTIONS$|JEST_|TS_JEST)/i.test(k)) continue;
			env[k] = v;
		}
		Object.assign(env, {
			PATH: `${path.dirname(bins.nodeBin)}${path.delimiter}${process.env.PATH || ''}`,
			N8N_USER_FOLDER: userFolder,
			N8N_ENCRYPTION_KEY: encryptionKey,
			N8N_PORT: String(mainPort),
			N8N_LISTEN_ADDRESS: '127.0.0.1',
			N8N_HOST: '127.0.0.1',
			N8N_PROTOCOL: 'http',
			N8N_WEBHOOK_URL: `${baseUrl}/`,
			N8N_EDITOR_BASE_URL: `${baseUrl}/`,
			N8N_SECURE_COOKIE: 'false',
			// quiet, offline, fast
			N8N_DIAGNOSTICS_ENABLED: 'false',
			N8N_VERSION_NOTIFICATIONS_ENABLED: 'false',
			N8N_VERSION_NOTIFICATIONS_WHATS_NEW_ENABLED: 'false',
			N8N_TEMPLATES_ENABLED: 'false',
			N8N_DISABLED_MODULES: disabledModules(bins.n8nDir),
			N8N_PERSONALIZATION_ENABLED: 'false',
			N8N_HIRING_BANNER_ENABLED: 'false',
			N8N_DYNAMIC_BANNERS_ENABLED: 'false',
			N8N_VERIFIED_PACKAGES_ENABLED: 'false', // never fetch the vetted-nodes list from n8n's servers
			N8N_UNVERIFIED_PACKAGES_ENABLED: 'true',
			N8N_LICENSE_AUTO_RENEW_ENABLED: 'false',
			N8N_AI_ENABLED: 'false',
			N8N_PUBLIC_API_SWAGGERUI_DISABLED: 'true',
			N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS: 'true',
			N8N_GRACEFUL_SHUTDOWN_TIMEOUT: String(Math.max(1, Math.floor(graceMs / 1000) - 1)),
			N8N_LOG_LEVEL: opts.logLevel || 'info',
			N8N_LOG_OUTPUT: 'console',
			GENERIC_TIMEZONE: 'UTC',
			// 2.40.7 publishes (activates) workflows through an outbox polled every 15 s; a wake-up
			// usually processes it at once, the poll is the fallback
			N8N_WORKFLOW_PUBLICATION_OUTBOX_POLL_INTERVAL_MS: '1000',
			// task runner (Code node) broker: one port per process
			N8N_RUNNERS_MODE: 'internal',
			N8N_RUNNERS_BROKER_LISTEN_ADDRESS: '127.0.0.1',
			N8N_RUNNERS_BROKER_PORT: String(brokerPort),
			N8N_WORKER_SERVER_ADDRESS: '127.0.0.1',
		});
		if (pg && database) {
			Object.assign(env, {
				DB_TYPE: 'postgresdb',
				DB_POSTGRESDB_HOST: pg.host,
				DB_POSTGRESDB_PORT: String(pg.port),
				DB_POSTGRESDB_USER: pg.user,
				DB_POSTGRESDB_PASSWORD: pg.password,
				DB_POSTGRESDB_DATABASE: database,
				DB_POSTGRESDB_POOL_SIZE: String(opts.postgres?.poolSize ?? 10),
			});
		} else {
			env.DB_TYPE = 'sqlite';
		}
		if (redis && redisPrefixes) {
			Object.assign(env, {
				EXECUTIONS_MODE: 'queue',
				QUEUE_BULL_REDIS_HOST: redis.host || '127.0.0.1',
				QUEUE_BULL_REDIS_PORT: String(redis.port || 6379),
				QUEUE_BULL_REDIS_DB: String(redis.db || 0),
				QUEUE_BULL_PREFIX: redisPrefixes.bull,
				N8N_REDIS_KEY_PREFIX: redisPrefixes.redis,
				N8N_CACHE_REDIS_KEY_PREFIX: redisPrefixes.cache,
			});
		}
		for (const [k, v] of Object.entries(opts.env || {})) {
			if (v === undefined) delete env[k];
			else env[k] = v;
		}

		// main ---------------------------------------------------------------------------------
		const t0 = Date.now();
		progress(`starting n8n ${bins.n8nVersion} (${mode}, ${dbType}) on ${baseUrl}, log ${logFile}`);
		const main = spawnGroup(bins, ['start'], env, logFile, graceMs);
		procs.push(main);
		const mainFailed = () => {
			const e = main.exited();
			return e ? `n8n exited during start-up (exit code ${e.code ?? e.signal}); log tail:\n${tail(logFile)}` : undefined;
		};
		await waitForHttpOk(`${baseUrl}/healthz/readiness`, startTimeoutMs, mainFailed);

		// workers (after main: it ran the migrations) --------------------------------------------
		/** @type {WorkerInfo[]} */
		const workers = [];
		for (let i = 0; i < workerCount; i++) {
			const healthPort = workerPorts[2 * i];
			const wBroker = workerPorts[2 * i + 1];
			const wLog = path.join(logDir, `n8n-worker-${i + 1}.log`);
			const wEnv = { ...env, QUEUE_HEALTH_CHECK_ACTIVE: 'true', QUEUE_HEALTH_CHECK_PORT: String(healthPort), N8N_RUNNERS_BROKER_PORT: String(wBroker) };
			const proc = spawnGroup(bins, ['worker'], wEnv, wLog, graceMs);
			procs.push(proc);
			workers.push({ index: i + 1, pid: proc.group.pid, healthPort, brokerPort: wBroker, logFile: wLog });
		}
		const workersReady = Promise.all(
			workers.map((w, i) =>
				waitForHttpOk(`http://127.0.0.1:${w.healthPort}/healthz/readiness`, startTimeoutMs, () => {
					const e = procs[i + 1].exited();
					return e ? `n8n worker ${w.index} exited (exit code ${e.code ?? e.signal}); log tail:\n${tail(w.logFile)}` : undefined;
				}),
			),
		);

		// owner + API key --------------------------------------------------------------------------
		const browserId = crypto.randomUUID();
		/** @type {{status: number, body: any, headers: Headers} | undefined} */
		let setup;
		for (let attempt = 0; attempt < 20; attempt++) {
			setup = await restCall(baseUrl, { browserId }, 'POST', 'owner/setup', OWNER);
			if (setup.status === 200) break;
			if (setup.status !== 404 && setup.status < 500) break;
			await sleep(500);
		}
		if (!setup || setup.status !== 200) {
			throw new Error(`POST /rest/owner/setup answered ${setup?.status}: ${JSON.stringify(setup?.body)}`);
		}
		const authCookie = setup.headers
			.getSetCookie()
			.map((c) => c.split(';')[0])
			.find((c) => c.startsWith('n8n-auth='));
		if (!authCookie) throw new Error('owner setup returned no n8n-auth cookie');
		const auth = { cookie: authCookie, browserId };
		const scopesRes = await restCall(baseUrl, auth, 'GET', 'api-keys/scopes');
		if (scopesRes.status !== 200) throw new Error(`GET /rest/api-keys/scopes answered ${scopesRes.status}`);
		const scopes = scopesRes.body.data;
		const keyRes = await restCall(baseUrl, auth, 'POST', 'api-keys', {
			label: `harness-${runId}`,
			scopes,
			expiresAt: null,
		});
		if (keyRes.status !== 200 || !keyRes.body?.data?.rawApiKey) {
			throw new Error(`POST /rest/api-keys answered ${keyRes.status}: ${JSON.stringify(keyRes.body)}`);
		}
		await workersReady;
		const startupMs = Date.now() - t0;
		progress(`n8n ready in ${(startupMs / 1000).toFixed(1)} s${workerCount ? ` with ${workerCount} worker(s)` : ''}`);

		/** @type {N8nHandle} */
		const handle = {
			runId,
			baseUrl,
			apiUrl: `${baseUrl}/api/v1`,
			apiKey: keyRes.body.data.rawApiKey,
			owner: { ...OWNER },
			cookie: authCookie,
			browserId,
			logFile,
			pid: main.group.pid,
			userFolder,
			nodesDir,
			port: mainPort,
			encryptionKey,
			db: dbType,
			database,
			mode,
			workers,
			redisPrefixes,
			env,
			packageName: pkg?.name,
			startupMs,
			rest: async (method, urlPath, body) => {
				const r = await restCall(baseUrl, auth, method, urlPath, body);
				return { status: r.status, body: r.body };
			},
			readLog: () => fs.readFileSync(logFile, 'utf8'),
			logErrors: () => errorLines(fs.readFileSync(logFile, 'utf8')),
			stop: cleanup,
		};
		return handle;
	} catch (err) {
		await cleanup().catch(() => {});
		const e = /** @type {Error} */ (err);
		e.message = `${e.message}\n(n8n log: ${logFile})`;
		throw e;
	}
}

module.exports = {
	startN8n,
	packPackage,
	installPackageLikePanel,
	getFreePort,
	getFreePorts,
	redisCommand,
	sweepStale,
	pgConfig,
	OWNER,
};
