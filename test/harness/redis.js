// @ts-check
'use strict';
/**
 * A Redis for the queue-mode tests: REDIS_URL or 127.0.0.1:6379 when reachable; else a throwaway
 * `redis-server` on a free loopback port, installed from Debian's packages first when it is missing
 * and we may (root with apt-get). n8n's queue mode needs a real Redis (Bull runs Lua scripts).
 */
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const { spawn, spawnSync } = require('child_process');
const { getFreePort } = require('./ports');

/** @param {string} host @param {number} port */
function ping(host, port) {
	return new Promise((resolve) => {
		const socket = net.connect({ host, port });
		let answer = '';
		const done = (/** @type {boolean} */ ok) => {
			socket.destroy();
			resolve(ok);
		};
		socket.setTimeout(2000, () => done(false));
		socket.once('error', () => done(false));
		socket.once('connect', () => socket.write('PING\r\n'));
		socket.on('data', (chunk) => {
			answer += chunk.toString();
			if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
		});
	});
}


function findRedisServer() {
	const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
	return found.status === 0 ? found.stdout.trim() : undefined;
}

/** @param {(line: string) => void} progress */
function installRedisServer(progress) {
	const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
	if (!isRoot || spawnSync('sh', ['-c', 'command -v apt-get']).status !== 0) return undefined;
	progress('no Redis here: installing redis-server from Debian packages (apt-get)');
	const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
	spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env });
	const result = spawnSync('apt-get', ['install', '-y', '-qq', 'redis-server'], { stdio: 'ignore', env });
	return result.status === 0 ? findRedisServer() : undefined;
}

/**
 * @param {{onProgress?: (line: string) => void, own?: boolean}} [o]
 *        own: always start a throwaway redis-server (nothing else uses it), even when one answers
 * @returns {Promise<{host: string, port: number, own: boolean, stop: () => Promise<void>}>}
 */
async function ensureRedis(o = {}) {
	const progress = o.onProgress || ((line) => process.stderr.write(`[redis] ${line}\n`));
	const configured = process.env.REDIS_URL ? new URL(process.env.REDIS_URL) : undefined;
	const host = configured?.hostname || '127.0.0.1';
	const port = Number(configured?.port || 6379);
	if (!o.own && (await ping(host, port))) return { host, port, own: false, stop: async () => undefined };

	const binary = findRedisServer() ?? installRedisServer(progress);
	if (!binary) {
		throw new Error(
			'The queue-mode tests need Redis: none answered on 127.0.0.1:6379 (or REDIS_URL), and no redis-server could be installed. Install one (Debian: apt-get install redis-server) or set REDIS_URL.',
		);
	}
	const ownPort = await getFreePort();
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenant-swap-redis-'));
	const child = spawn(binary, ['--bind', '127.0.0.1', '--port', String(ownPort), '--save', '', '--appendonly', 'no', '--dir', dir], {
		stdio: 'ignore',
	});
	const killOnExit = () => child.kill('SIGKILL');
	process.once('exit', killOnExit);
	for (let i = 0; i < 100 && !(await ping('127.0.0.1', ownPort)); i++) await new Promise((r) => setTimeout(r, 100));
	if (!(await ping('127.0.0.1', ownPort))) throw new Error(`redis-server did not start on 127.0.0.1:${ownPort}`);
	progress(`started a throwaway Redis on 127.0.0.1:${ownPort}`);
	return {
		host: '127.0.0.1',
		port: ownPort,
		own: true,
		stop: async () => {
			process.removeListener('exit', killOnExit);
			child.kill('SIGTERM');
			fs.rmSync(dir, { recursive: true, force: true });
		},
	};
}

module.exports = { ensureRedis };
