/**
 * Another "n8n process" holding a lock: a fresh Node process that takes a lock through this
 * package's real lock engine (the TypeScript sources, transpiled on load, built by the registry
 * exactly as the nodes build it), reports the lease on stdout and then just stays alive, so a test
 * can SIGKILL it while it holds the lock.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';

import type { PostgresConnectionSettings } from '../../nodes/shared/lock/postgresPool';
import type { RedisConnectionSettings } from '../../nodes/shared/lock/RedisLockEngine';
import { REQUIRE_TYPESCRIPT } from './childScripts';

const REPO_ROOT = resolve(__dirname, '..', '..');
const LOCK_REGISTRY = resolve(__dirname, '../../nodes/shared/lock/registry.ts');

const HOLDER_SCRIPT = `${REQUIRE_TYPESCRIPT}const config = JSON.parse(process.env.LOCK_HOLDER_CONFIG);
const lock = require(config.lockIndex);
(async () => {
	const engine = config.backend === 'postgres'
		? lock.postgresLockEngine(config.settings, config.table ? { table: config.table } : {})
		: lock.redisLockEngine(config.settings, config.prefix);
	try {
		const lease = await engine.acquire(config.key, {
			owner: { executionId: config.executionId, workflowId: 'wf-killed-holder' },
			ttlMs: config.ttlMs,
			waitTimeoutMs: 0,
		});
		process.stdout.write(JSON.stringify({ held: true, token: lease.token, fence: lease.fence,
			acquiredAt: lease.acquiredAt.toISOString(), expiresAt: lease.expiresAt.toISOString() }) + '\\n');
	} catch (error) {
		process.stdout.write(JSON.stringify({ held: false, error: error.name + ': ' + error.message }) + '\\n');
		process.exit(1);
	}
	// Hold the lock (and the connections) until killed.
	setInterval(() => undefined, 60000);
})();
`;

export interface HeldByChild {
	readonly pid: number;
	readonly executionId: string;
	readonly token: string;
	readonly fence: number;
	/** By the lock store's clock, as the engine reported it. */
	readonly acquiredAt: Date;
	readonly expiresAt: Date;
	/** SIGKILLs the process (no cleanup of any kind) and resolves once it is gone. */
	kill(): Promise<void>;
}

export type HolderBackend =
	| { backend: 'postgres'; settings: PostgresConnectionSettings; table?: string }
	| { backend: 'redis'; settings: RedisConnectionSettings; prefix?: string };

const children = new Set<ChildProcess>();

/** Starts a process that takes `key` with `ttlMs` and holds it; resolves once it holds the lock. */
export async function holdLockInChildProcess(
	store: HolderBackend,
	key: string,
	executionId: string,
	ttlMs: number,
): Promise<HeldByChild> {
	const child = spawn(process.execPath, ['-e', HOLDER_SCRIPT], {
		cwd: REPO_ROOT,
		env: { ...process.env, LOCK_HOLDER_CONFIG: JSON.stringify({ ...store, lockIndex: LOCK_REGISTRY, key, executionId, ttlMs }) },
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	children.add(child);
	const exited = new Promise<void>((done) => child.once('exit', () => done()));
	void exited.then(() => children.delete(child));
	let stderr = '';
	child.stderr?.on('data', (chunk: Buffer) => {
		stderr = (stderr + chunk.toString()).slice(-4_000);
	});
	const line = await new Promise<string>((answer, failed) => {
		const timer = setTimeout(() => failed(new Error(`lock holder process did not report within 60 s\n${stderr}`)), 60_000);
		createInterface({ input: child.stdout! }).once('line', (text) => {
			clearTimeout(timer);
			answer(text);
		});
		void exited.then(() => {
			clearTimeout(timer);
			failed(new Error(`lock holder process exited early\n${stderr}`));
		});
	});
	const report = JSON.parse(line) as { held: boolean; error?: string; token: string; fence: number; acquiredAt: string; expiresAt: string };
	if (!report.held) {
		child.kill('SIGKILL');
		throw new Error(`lock holder process could not take the lock: ${report.error}`);
	}
	return {
		pid: child.pid as number,
		executionId,
		token: report.token,
		fence: report.fence,
		acquiredAt: new Date(report.acquiredAt),
		expiresAt: new Date(report.expiresAt),
		kill: async () => {
			if (child.exitCode === null && child.signalCode === null) {
				child.kill('SIGKILL');
				await exited;
			}
		},
	};
}

/** For afterAll: kills every holder process still running. */
export async function killHolderProcesses(): Promise<void> {
	await Promise.all(
		[...children].map(async (child) => {
			const gone = new Promise<void>((done) => child.once('exit', () => done()));
			child.kill('SIGKILL');
			await gone;
		}),
	);
}
