/**
 * A throwaway PgBouncer (Debian's `pgbouncer`) on a free loopback port in front of the test
 * database, in transaction pooling mode: what many managed PostgreSQL offerings put in front.
 *
 * Clients log in to PgBouncer with any user and password (auth_type any); PgBouncer logs in to
 * PostgreSQL with the test database's own user and password. Missing binary: the helper installs it
 * with apt-get when it may (root), else it throws. A PgBouncer test must fail, never skip.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { getFreePort } = require('../harness/ports.js') as { getFreePort(): Promise<number> };

export interface PgBouncer {
	readonly host: '127.0.0.1';
	readonly port: number;
	/** The database name clients use (PgBouncer maps it to the real one). */
	readonly database: string;
	/** A URL for the test database through PgBouncer. */
	readonly url: string;
	/** The user PgBouncer logs in as (clients must use the same name: pools are per user). */
	readonly user: string;
	stop(): Promise<void>;
}

const BINARY_PATHS = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'];

function findPgbouncer(): string | undefined {
	for (const path of BINARY_PATHS) if (spawnSync('test', ['-x', path]).status === 0) return path;
	const found = spawnSync('sh', ['-c', 'command -v pgbouncer'], { encoding: 'utf8' });
	return found.status === 0 && found.stdout.trim() ? found.stdout.trim() : undefined;
}

function pgbouncerBinary(): string {
	let binary = findPgbouncer();
	const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
	if (!binary && isRoot && spawnSync('sh', ['-c', 'command -v apt-get']).status === 0) {
		const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
		spawnSync('apt-get', ['install', '-y', '-qq', 'pgbouncer'], { stdio: 'ignore', env });
		binary = findPgbouncer();
	}
	if (!binary) {
		throw new Error('The PgBouncer tests need Debian\'s pgbouncer (apt-get install pgbouncer); it is not installed and could not be installed.');
	}
	return binary;
}

async function accepting(port: number): Promise<boolean> {
	return await new Promise((resolve) => {
		const socket = connect({ host: '127.0.0.1', port });
		socket.once('connect', () => {
			socket.destroy();
			resolve(true);
		});
		socket.once('error', () => resolve(false));
	});
}

/** Starts PgBouncer in front of `databaseUrl` (default: the test database). */
export async function startPgBouncer(databaseUrl: string, poolMode: 'transaction' | 'session' = 'transaction'): Promise<PgBouncer> {
	const binary = pgbouncerBinary();
	const target = new URL(databaseUrl);
	const port = await getFreePort();
	const dir = mkdtempSync(join(tmpdir(), 'tenant-swap-pgbouncer-'));
	// PgBouncer refuses to run as root; the Debian package's `postgres` user runs it.
	chmodSync(dir, 0o777);
	const user = decodeURIComponent(target.username || 'postgres');
	const password = decodeURIComponent(target.password);
	const realDatabase = decodeURIComponent(target.pathname.slice(1) || 'postgres');
	const database = 'lockdb';
	const quote = (value: string) => `'${value.replace(/'/g, "''")}'`;
	writeFileSync(
		join(dir, 'pgbouncer.ini'),
		[
			'[databases]',
			`${database} = host=${target.hostname || '127.0.0.1'} port=${target.port || 5432} dbname=${quote(realDatabase)} user=${quote(user)}` +
				(password ? ` password=${quote(password)}` : ''),
			'[pgbouncer]',
			'listen_addr = 127.0.0.1',
			`listen_port = ${port}`,
			`unix_socket_dir =`,
			'auth_type = any',
			`pool_mode = ${poolMode}`,
			'max_client_conn = 2000',
			'default_pool_size = 20',
			'server_reset_query =',
			`logfile = ${join(dir, 'pgbouncer.log')}`,
			`pidfile = ${join(dir, 'pgbouncer.pid')}`,
			'',
		].join('\n'),
	);
	chmodSync(join(dir, 'pgbouncer.ini'), 0o644);
	const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
	const child: ChildProcess = spawn(binary, [...(isRoot ? ['-u', 'postgres'] : []), join(dir, 'pgbouncer.ini')], { stdio: ['ignore', 'ignore', 'pipe'] });
	let stderr = '';
	child.stderr?.on('data', (chunk: Buffer) => {
		stderr = (stderr + chunk.toString()).slice(-4_000);
	});
	let exited = false;
	child.once('exit', () => {
		exited = true;
	});
	for (let i = 0; i < 200 && !(await accepting(port)); i++) {
		if (exited) throw new Error(`pgbouncer exited at start: ${stderr}`);
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
	if (!(await accepting(port))) throw new Error(`pgbouncer did not accept connections on ${port}: ${stderr}`);
	const url = `postgres://${encodeURIComponent(user)}:x@127.0.0.1:${port}/${database}`;
	return {
		host: '127.0.0.1',
		port,
		database,
		url,
		user,
		stop: async () => {
			if (!exited) {
				const done = new Promise((resolve) => child.once('exit', resolve));
				child.kill('SIGINT');
				await done;
			}
			rmSync(dir, { recursive: true, force: true });
		},
	};
}
