/**
 * HeldLock / LockClient on real stores: a held lock renews itself from the moment it is granted
 * (not from when the caller is done with the work that follows), keeps the locks taken earlier alive
 * while the caller waits for the next one, stays findable for "release the owner's locks" however
 * long it is renewed, is reported lost (signal + warning) when the store cannot confirm a renewal
 * before the lease ends, and leaves nothing behind in this process once it ended.
 * Each claim has a control: the same steps with a raw lease (no renewal) fail the claim.
 */
import { LockLostError, LockTimeoutError } from '../../nodes/shared/lock/errors';
import { LockClient } from '../../nodes/shared/lock/LockClient';
import type { LockEngine } from '../../nodes/shared/lock/types';
import { PostgresLockFixture, guard, memoryFactory, options, postgresFactory, redisFactory, sleep, TcpProxy, uniqueKey, uniqueName, type EngineFactory, type EngineUnderTest } from '../helpers/lockTesting';

const TTL = 600;

function recordingLogger() {
	const lines: string[] = [];
	return {
		lines,
		warn: (message: string) => lines.push(`warn ${message}`),
		debug: (message: string) => lines.push(`debug ${message}`),
	};
}

/**
 * Another owner trying to take `key` every 20 ms until stopped; counts how often it succeeded
 * (each success is released at once, so the original holder could continue).
 */
function contender(engine: LockEngine, key: string) {
	let running = true;
	let taken = 0;
	const done = (async () => {
		while (running) {
			try {
				const lease = await engine.acquire(key, options('exec-contender', 60_000, 0));
				taken += 1;
				await engine.release(lease);
			} catch (error) {
				if (!(error instanceof LockTimeoutError)) throw error;
			}
			await sleep(20);
		}
	})();
	return {
		stop: async () => {
			running = false;
			await done;
			return taken;
		},
	};
}

describe.each<EngineFactory>([postgresFactory('lock_held'), redisFactory('lock_held'), memoryFactory])('$backend: held locks', (factory) => {
	let subject: EngineUnderTest;
	let engine: LockEngine;
	let other: LockEngine;
	let client: LockClient;

	beforeAll(async () => {
		subject = await factory.create();
		engine = subject.engine;
		other = subject.other;
	});
	beforeEach(() => {
		client = new LockClient(engine);
	});
	afterEach(() => client.abandonAll());
	afterAll(async () => {
		await subject.close();
	});

	it('renews from the grant: after 3x its TTL of other work, nobody else has had the key', async () => {
		const key = uniqueKey('held-grant');
		const { lock } = await client.acquire(key, options('exec-grant', TTL, 0));
		const rival = contender(other, key);
		await sleep(3 * TTL);
		expect(await rival.stop()).toBe(0);
		expect(lock.state).toBe('held');
		expect(await lock.release()).toMatchObject({ status: 'released' });
	});

	it('control: a raw lease left alone for 3x its TTL is taken by the other owner', async () => {
		const key = uniqueKey('held-grant-control');
		await engine.acquire(key, options('exec-grant-control', TTL, 0));
		const rival = contender(other, key);
		await sleep(3 * TTL);
		expect(await rival.stop()).toBeGreaterThan(0);
	});

	it.each([
		['held locks (renewing)', true],
		['control: raw leases', false],
	])('a multi-key swap waiting 3x TTL for its second key keeps its first: %s', async (_label, renewing) => {
		const [first, second] = [uniqueKey('held-multi-a'), uniqueKey('held-multi-b')];
		const blocker = await other.acquire(second, options('exec-blocker', 60_000, 0));
		if (renewing) await client.acquire(first, options('exec-multi', TTL, 0));
		else await engine.acquire(first, options('exec-multi', TTL, 0));
		const rival = contender(other, first);
		// The swap waits for its second key; it gets it only after 3 TTLs.
		const waiting: Promise<unknown> = renewing ? client.acquire(second, options('exec-multi', TTL, 10 * TTL)) : engine.acquire(second, options('exec-multi', TTL, 10 * TTL));
		await sleep(3 * TTL);
		await other.release(blocker);
		await guard(waiting, 10_000, 'second key after the blocker left');
		const taken = await rival.stop();
		if (renewing) expect(taken).toBe(0);
		else expect(taken).toBeGreaterThan(0);
	});

	it('renewed past 2x its TTL, it is still found and freed by "release the owner\'s locks"', async () => {
		const key = uniqueKey('held-owner-index');
		const owner = { instanceId: 'instance-held', executionId: 'exec-index' };
		const { lock } = await client.acquire(key, { owner, ttlMs: TTL, waitTimeoutMs: 0 });
		await sleep(3 * TTL);
		expect(lock.state).toBe('held');
		const outcomes = await other.releaseExecution(owner.executionId, owner.instanceId);
		expect(outcomes).toEqual([expect.objectContaining({ key, status: 'released' })]);
		expect(await other.holder(key)).toBeUndefined();
	});

	it('stopRenewing: the lease runs out by its TTL, the lock ends as "expired" (not lost) and is forgotten', async () => {
		const key = uniqueKey('held-stop');
		const { lock } = await client.acquire(key, options('exec-stop', TTL, 0));
		lock.stopRenewing();
		await guard(lock.whenEnded(), 10 * TTL, 'lock ended by its TTL');
		expect(lock.state).toBe('expired');
		expect(lock.lost.aborted).toBe(false);
		expect(client.size).toBe(0);
		expect(await lock.release()).toMatchObject({ status: 'lost' });
		const next = await other.acquire(key, options('exec-after-stop', TTL, 5_000));
		await other.release(next);
	});

	it('300 locks taken and released leave no entry, timer or lease behind', async () => {
		const keys = Array.from({ length: 300 }, (_, i) => uniqueKey(`held-burst-${i}`));
		const acquired = await Promise.all(keys.map(async (key, i) => await client.acquire(key, options(`exec-burst-${i}`, 30_000, 0))));
		expect(client.size).toBe(300);
		await Promise.all(acquired.map(async ({ lock }) => await lock.release()));
		await Promise.all(acquired.map(async ({ lock }) => await guard(lock.whenEnded(), 5_000, 'renewal loop ended')));
		expect(client.size).toBe(0);
		for (const key of keys.slice(0, 5)) expect(await other.holder(key)).toBeUndefined();
	});
});

describe('postgres: a holder cut off from the lock store', () => {
	const fixture = new PostgresLockFixture();
	let proxy: TcpProxy;
	afterAll(async () => {
		await proxy?.cut();
		await fixture.close();
	});

	it('is told it lost the lock (signal with LockLostError, a warning) once the lease can no longer be confirmed', async () => {
		proxy = TcpProxy.forUrl(fixture.url);
		await proxy.start();
		const table = { table: uniqueName('lock_cut') };
		const cutOff = fixture.engine(table, fixture.pool({ connectionString: proxy.urlFor(fixture.url), max: 3, connectionTimeoutMillis: 500 }));
		const log = recordingLogger();
		const client = new LockClient(cutOff);
		const key = uniqueKey('held-cut');
		const { lock } = await client.acquire(key, options('exec-cut', TTL, 0), log);
		const lost = new Promise<unknown>((resolve) => lock.lost.addEventListener('abort', () => resolve(lock.lost.reason), { once: true }));

		await proxy.cut();
		const reason = await guard(lost, 20 * TTL, 'loss signalled');
		expect(reason).toBeInstanceOf(LockLostError);
		expect(lock.state).toBe('lost');
		expect(lock.remainingMs()).toBe(0);
		expect(log.lines.some((line) => line.startsWith('warn') && line.includes('lost a lock'))).toBe(true);
		expect(client.size).toBe(0);
		// Seen from the store, the lease ran out: another process takes the key.
		const next = await fixture.engine(table).acquire(key, options('exec-next', TTL, 5 * TTL));
		expect(next.fence).toBeGreaterThan(lock.fence);
	});
});
