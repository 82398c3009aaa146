/**
 * Cross-process fairness and liveness of the store engines' waiting registry (StoreLockEngine).
 *
 * Every engine instance here has its own pool / Redis connection: it stands for another n8n process,
 * which hears of a release only through the store (NOTIFY / PUBLISH). The fairness properties are
 * orders and counts, never durations. Each is also run against the same engines built with
 * `fair: false` (no waiting registry: the old design, where the releasing process's own waiters
 * win), as a control showing that the property is really tested: there it must fail.
 */
import Redis from 'ioredis';

import { LockStoreUnavailableError, LockTimeoutError } from '../../nodes/shared/lock/errors';
import { hashLockKey } from '../../nodes/shared/lock/postgres';
import { RedisLockEngine } from '../../nodes/shared/lock/RedisLockEngine';
import { MAX_SILENT_WAIT_MS, type StoreLockEngine, type StoreLockOptions } from '../../nodes/shared/lock/StoreLockEngine';
import type { LockLease } from '../../nodes/shared/lock/types';
import {
	guard,
	isStrictlyIncreasing,
	options,
	PostgresLockFixture,
	rejectionOf,
	sleep,
	TcpProxy,
	testDatabaseUrl,
	uniqueKey,
	uniqueName,
	untilQueued,
} from '../helpers/lockTesting';

const LONG = 60_000;
/** A realistic critical section: a credential PATCH to n8n takes about this long. */
const HOLD_MS = 20;

/** One lock namespace (a PostgreSQL table / a Redis prefix) shared by engines standing for processes. */
interface Space {
	/** A new engine on connections of its own: another process. */
	engine(engineOptions?: StoreLockOptions): StoreLockEngine;
	/** An engine whose process can be made to vanish: `kill()` cuts its connections for good. */
	doomed(engineOptions?: StoreLockOptions): Promise<{ engine: StoreLockEngine; kill(): Promise<void> }>;
	/** The live tickets waiting for `key`, oldest first, with the end of their lease (store clock). */
	tickets(key: string): Promise<Date[]>;
	/** Makes the next ticket table / queue look like an install from before the registry (PostgreSQL only). */
	dropRegistry?(): Promise<void>;
	registryExists?(): Promise<boolean>;
}

interface Backend {
	space(): Space;
	close(): Promise<void>;
}

async function postgresBackend(): Promise<Backend> {
	const fixture = new PostgresLockFixture();
	const proxies: TcpProxy[] = [];
	return {
		space() {
			const name = { table: uniqueName('lock_fair') };
			const waitTable = `"public"."tsl_${hashLockKey(`public.${name.table}`).slice(0, 20)}_wait"`;
			return {
				engine: (engineOptions = {}) => fixture.engine(name, fixture.pool({ max: 4 }), engineOptions),
				async doomed(engineOptions = {}) {
					const proxy = TcpProxy.forUrl(testDatabaseUrl());
					proxies.push(proxy);
					await proxy.start();
					const pool = fixture.pool({ connectionString: proxy.urlFor(testDatabaseUrl()), max: 3, connectionTimeoutMillis: 3_000 });
					const engine = fixture.engine(name, pool, engineOptions);
					return { engine, kill: async () => await proxy.cut() };
				},
				async tickets(key) {
					const rows = await fixture.query<{ expires_at: Date }>(
						`SELECT expires_at FROM ${waitTable} WHERE key_hash = $1 AND expires_at > clock_timestamp() ORDER BY seq`,
						[hashLockKey(key)],
					);
					return rows.map((row) => row.expires_at);
				},
				async dropRegistry() {
					await fixture.query(`DROP TABLE IF EXISTS ${waitTable}`);
				},
				async registryExists() {
					const [row] = await fixture.query<{ found: boolean }>('SELECT to_regclass($1) IS NOT NULL AS found', [waitTable]);
					return row.found;
				},
			};
		},
		async close() {
			for (const proxy of proxies) await proxy.cut();
			await fixture.close();
		},
	};
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ensureRedis } = require('../harness/redis.js');

let redisServer: Promise<{ host: string; port: number }> | undefined;

async function redisBackend(): Promise<Backend> {
	const address = await (redisServer ??= ensureRedis() as Promise<{ host: string; port: number }>);
	const members: Array<{ client: Redis; engine: RedisLockEngine }> = [];
	const prefixes: string[] = [];
	const make = (prefix: string, engineOptions: StoreLockOptions) => {
		const client = new Redis({ host: address.host, port: address.port, maxRetriesPerRequest: 1 });
		client.on('error', () => undefined);
		const engine = new RedisLockEngine(client, prefix, engineOptions);
		members.push({ client, engine });
		return { client, engine };
	};
	return {
		space() {
			const prefix = `${uniqueName('lock_fair')}:`;
			prefixes.push(prefix);
			return {
				engine: (engineOptions = {}) => make(prefix, engineOptions).engine,
				async doomed(engineOptions = {}) {
					const { client, engine } = make(prefix, engineOptions);
					return {
						engine,
						kill: async () => {
							client.disconnect();
							await engine.close();
						},
					};
				},
				async tickets(key) {
					const admin = make(prefix, {}).client;
					const hash = hashLockKey(key);
					const [seconds, micros] = await admin.time();
					const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
					const queue = await admin.zrange(`${prefix}queue:${hash}`, 0, -1);
					const ends: Date[] = [];
					for (const ticket of queue) {
						const end = Number(await admin.hget(`${prefix}tickets:${hash}`, ticket));
						if (end > now) ends.push(new Date(end));
					}
					return ends;
				},
			};
		},
		async close() {
			const first = members[0]?.client;
			for (const prefix of prefixes) {
				const keys = first ? await first.keys(`${prefix}*`).catch(() => [] as string[]) : [];
				if (keys.length > 0 && first) await first.del(...keys).catch(() => undefined);
			}
			for (const member of members) {
				await member.engine.close();
				member.client.disconnect();
			}
		},
	};
}

/**
 * Waiters queue one after another, alternating over the engines, while a blocker holds the key;
 * then the blocker releases. Returns the order in which they got the lock.
 */
async function arrivalOrder(engines: StoreLockEngine[], count: number): Promise<{ arrived: string[]; served: string[]; fences: number[] }> {
	const key = uniqueKey('fair-order');
	const blocker = await engines[0].acquire(key, options('exec-order-blocker', LONG, 0));
	const arrived: string[] = [];
	const served: string[] = [];
	const fences: number[] = [];
	const waiters: Array<Promise<void>> = [];
	for (let i = 0; i < count; i++) {
		const engine = engines[i % engines.length];
		const who = `exec-order-${i}`;
		waiters.push(
			(async () => {
				const lease = await engine.acquire(key, options(who, LONG, LONG));
				served.push(who);
				fences.push(lease.fence);
				await sleep(HOLD_MS);
				await engine.release(lease);
			})(),
		);
		await untilQueued(engine, key, Math.floor(i / engines.length) + 1);
		arrived.push(who);
	}
	await engines[0].release(blocker);
	await guard(Promise.all(waiters), 60_000, 'queued waiters');
	return { arrived, served, fences };
}

interface RoundsResult {
	/** Who held the lock, in order. */
	sequence: string[];
	/** Per contender: the most times one other contender took the lock during one of its waits. */
	overtakes: Record<string, number>;
	fences: number[];
}

/**
 * `perEngine` contenders on each engine take the key `turns` times each, holding it HOLD_MS, and queue
 * again right after releasing (saturated, as in the benchmark). All start queued behind a blocker.
 */
async function rounds(engines: StoreLockEngine[], perEngine: number, turns: number): Promise<RoundsResult> {
	const key = uniqueKey('fair-rounds');
	const blocker = await engines[0].acquire(key, options('exec-rounds-blocker', LONG, 0));
	const sequence: string[] = [];
	const fences: number[] = [];
	const overtakes: Record<string, number> = {};
	const contenders = engines.flatMap((engine, e) => Array.from({ length: perEngine }, (_, c) => ({ engine, who: `p${e}c${c}` })));
	const runs = contenders.map(async ({ engine, who }) => {
		overtakes[who] = 0;
		for (let turn = 0; turn < turns; turn++) {
			const from = sequence.length;
			const lease: LockLease = await engine.acquire(key, options(`exec-${who}-${turn}`, LONG, LONG));
			// Who took the lock while this contender waited, and how often each.
			const during = new Map<string, number>();
			for (const other of sequence.slice(from)) during.set(other, (during.get(other) ?? 0) + 1);
			overtakes[who] = Math.max(overtakes[who], ...during.values(), 0);
			sequence.push(who);
			fences.push(lease.fence);
			await sleep(HOLD_MS);
			await engine.release(lease);
		}
	});
	for (const engine of engines) await untilQueued(engine, key, perEngine);
	await engines[0].release(blocker);
	await guard(Promise.all(runs), 90_000, 'contenders');
	return { sequence, overtakes, fences };
}

function worst(result: RoundsResult): number {
	return Math.max(...Object.values(result.overtakes));
}

describe.each<[string, () => Promise<Backend>]>([
	['postgres', postgresBackend],
	['redis', redisBackend],
])('%s lock engine: fairness across processes', (_name, makeBackend) => {
	let backend: Backend;
	beforeAll(async () => {
		backend = await makeBackend();
	});
	afterAll(async () => {
		await backend.close();
	});

	it('waiters in different processes get the lock in the order they queued (ticket order)', async () => {
		const space = backend.space();
		const engines = [space.engine(), space.engine(), space.engine()];
		const { arrived, served, fences } = await arrivalOrder(engines, 9);
		expect(served).toEqual(arrived);
		expect(isStrictlyIncreasing(fences)).toBe(true);
	});

	it('control: without the waiting registry the same waiters are not served in queue order', async () => {
		const space = backend.space();
		const engines = [space.engine({ fair: false }), space.engine({ fair: false }), space.engine({ fair: false })];
		const { arrived, served, fences } = await arrivalOrder(engines, 9);
		expect(served.sort()).toEqual([...arrived].sort());
		expect(isStrictlyIncreasing(fences)).toBe(true);
		// The releasing process serves its own next waiter first.
		const { arrived: again, served: order } = await arrivalOrder(engines, 9);
		expect([served, order]).not.toEqual([arrived, again]);
	});

	it('saturated, 4 processes x 3 contenders: no contender is passed by the same other contender more than twice while it waits', async () => {
		const space = backend.space();
		const engines = [space.engine(), space.engine(), space.engine(), space.engine()];
		const result = await rounds(engines, 3, 6);
		expect(result.sequence).toHaveLength(4 * 3 * 6);
		expect(isStrictlyIncreasing(result.fences)).toBe(true);
		// FIFO by ticket: once queued, a waiter can be passed by each other contender at most once
		// (whoever was queued ahead of it); one more for a contender that queued while this one's
		// first attempt was still on its way to the store.
		expect(Object.entries(result.overtakes).filter(([, times]) => times > 2)).toEqual([]);
	});

	it('control: without the waiting registry, contenders of the releasing process pass the others again and again', async () => {
		const space = backend.space();
		const engines = [space.engine({ fair: false }), space.engine({ fair: false }), space.engine({ fair: false }), space.engine({ fair: false })];
		const result = await rounds(engines, 3, 6);
		expect(result.sequence).toHaveLength(4 * 3 * 6);
		expect(isStrictlyIncreasing(result.fences)).toBe(true);
		expect(worst(result)).toBeGreaterThan(2);
	});

	it('a waiter that is not next makes no store attempt while the lock changes hands', async () => {
		const space = backend.space();
		const [a, b, c] = [space.engine(), space.engine(), space.engine()];
		const key = uniqueKey('fair-quiet');
		const held = await a.acquire(key, options('exec-quiet-holder', LONG, 0));
		const first = b.acquire(key, options('exec-quiet-1', LONG, LONG));
		await untilQueued(b, key, 1);
		const second = c.acquire(key, options('exec-quiet-2', LONG, LONG));
		await untilQueued(c, key, 1);
		// Count C's store attempts from here on (white-box: wrap the engine's attempt()).
		let attempts = 0;
		const target = c as unknown as { attempt: (...args: unknown[]) => Promise<unknown> };
		const original = target.attempt.bind(c);
		target.attempt = async (...args: unknown[]) => {
			attempts += 1;
			return await original(...args);
		};
		await a.release(held);
		const lease1 = await guard(first, 20_000, 'first waiter');
		await sleep(300);
		const quietWhileHeld = attempts;
		await b.release(lease1);
		const lease2 = await guard(second, 20_000, 'second waiter');
		expect(lease2.fence).toBe(lease1.fence + 1);
		// The release named the first waiter's ticket: the second slept through it and through the hold.
		expect(quietWhileHeld).toBe(0);
		expect(attempts).toBe(1);
		await c.release(lease2);
	});

	it('a ticket whose process vanished holds a free key back until its lease ends, and no longer', async () => {
		const space = backend.space();
		const [a, b] = [space.engine(), space.engine()];
		const ticketLeaseMs = 6_000;
		const doomed = await space.doomed({ ticketLeaseMs });
		const key = uniqueKey('fair-dead');
		const held = await a.acquire(key, options('exec-dead-holder', LONG, 0));
		const dying = rejectionOf(doomed.engine.acquire(key, options('exec-dead-waiter', LONG, LONG)));
		await untilQueued(doomed.engine, key, 1);
		const waiting = b.acquire(key, options('exec-dead-next', LONG, LONG));
		await untilQueued(b, key, 1);

		// The process dies: its waiter fails, and cannot withdraw its ticket.
		await doomed.kill();
		expect(await guard(dying, 20_000, 'the doomed waiter')).toBeInstanceOf(LockStoreUnavailableError);
		const tickets = await space.tickets(key);
		expect(tickets).toHaveLength(2);
		const deadTicketEnds = tickets[0];

		// The release names the dead ticket: the key is free, but the dead waiter came first.
		await a.release(held);
		expect(await a.holder(key)).toBeUndefined();
		expect(await rejectionOf(a.acquire(key, options('exec-dead-try-once', LONG, 0)))).toBeInstanceOf(LockTimeoutError);

		const next = await guard(waiting, 30_000, 'the waiter behind the dead ticket');
		expect(next.owner.executionId).toBe('exec-dead-next');
		expect(next.fence).toBe(held.fence + 1);
		// Both times by the store's clock: not before the dead ticket's lease ended, and soon after
		// (within one renewal period of the waiter: it sleeps until the lease ends, or is woken).
		expect(next.acquiredAt.getTime()).toBeGreaterThanOrEqual(deadTicketEnds.getTime());
		expect(next.acquiredAt.getTime()).toBeLessThan(deadTicketEnds.getTime() + MAX_SILENT_WAIT_MS);
		await b.release(next);
		// Nothing is left waiting: a single try gets the key.
		expect(await space.tickets(key)).toEqual([]);
		const after = await a.acquire(key, options('exec-dead-after', LONG, 0));
		await a.release(after);
	});

	it('a waiter that times out withdraws its ticket and hands the turn on', async () => {
		const space = backend.space();
		const [a, b, c] = [space.engine(), space.engine(), space.engine()];
		const key = uniqueKey('fair-timeout');
		const held = await a.acquire(key, options('exec-to-holder', LONG, 0));
		const impatient = rejectionOf(b.acquire(key, options('exec-to-impatient', LONG, 1_500)));
		await untilQueued(b, key, 1);
		const patient = c.acquire(key, options('exec-to-patient', LONG, LONG));
		await untilQueued(c, key, 1);
		expect(await guard(impatient, 20_000, 'impatient waiter')).toBeInstanceOf(LockTimeoutError);
		expect(await space.tickets(key)).toHaveLength(1);
		await a.release(held);
		const lease = await guard(patient, 20_000, 'patient waiter');
		expect(lease.owner.executionId).toBe('exec-to-patient');
		await c.release(lease);
		expect(await space.tickets(key)).toEqual([]);
	});
});

describe('postgres waiting registry on a lock table from before it existed', () => {
	let backend: Backend;
	beforeAll(async () => {
		backend = await postgresBackend();
	});
	afterAll(async () => {
		await backend.close();
	});

	it('a new engine on an old install creates the ticket table on first use; locking and queueing work', async () => {
		const space = backend.space();
		const old = space.engine();
		const key = uniqueKey('fair-upgrade');
		await old.release(await old.acquire(key, options('exec-upgrade-0', LONG, 0)));
		await space.dropRegistry?.();
		expect(await space.registryExists?.()).toBe(false);

		const [a, b] = [space.engine(), space.engine()];
		const held = await a.acquire(key, options('exec-upgrade-1', LONG, 0));
		expect(held.fence).toBe(2);
		expect(await space.registryExists?.()).toBe(true);
		const waiting = b.acquire(key, options('exec-upgrade-2', LONG, LONG));
		await untilQueued(b, key, 1);
		await a.release(held);
		const next = await guard(waiting, 20_000, 'waiter');
		expect(next.fence).toBe(3);
		await b.release(next);
	});
});
