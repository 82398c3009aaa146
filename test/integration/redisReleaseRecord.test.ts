/**
 * Redis lock, what it keeps (issue 17, findings 2, 12 and the owner index's shape):
 * - a release leaves a tombstone for the token, so `extend` tells "released" (LockReleasedError) from
 *   any other absence of the lease (LockLostError), and the tombstone expires;
 * - fences come from one counter, so nothing per key outlives its lease or queue; an earlier
 *   version's per-key fence counter is continued above, then deleted;
 * - the owner index's name comes from TypeScript (the lease records it), and is emptied on release.
 * Each test fails with its fix reverted (said per test).
 */
import type Redis from 'ioredis';

import { LockLostError, LockReleasedError } from '../../nodes/shared/lock/errors';
import { RedisKeyLayout } from '../../nodes/shared/lock/redis/keys';
import { RedisLockEngine, TOMBSTONE_MARGIN_MS } from '../../nodes/shared/lock/RedisLockEngine';
import { hashLockKey } from '../../nodes/shared/lock/StoreLockEngine';
import { guard, options, redisFactory, rejectionOf, sleep, uniqueKey, untilQueued, type EngineUnderTest } from '../helpers/lockTesting';

const LONG = 60_000;

let subject: EngineUnderTest;
let engine: RedisLockEngine;
let other: RedisLockEngine;
let redis: Redis;
let keys: RedisKeyLayout;

beforeAll(async () => {
	subject = await redisFactory('redis_record').create();
	engine = subject.engine as RedisLockEngine;
	other = subject.other as RedisLockEngine;
	// White-box: the engine's own connection, for reading what it left in Redis.
	redis = (engine as unknown as { client: Redis }).client;
	keys = new RedisKeyLayout(engine.storeAccess().prefix);
});

afterAll(async () => {
	await subject.close();
});

describe('a release is recorded (tombstone)', () => {
	// Reverted (no tombstone), both extends throw LockLostError.
	it('extend after release, or after releaseExecution from another process, throws LockReleasedError', async () => {
		const key = uniqueKey('tomb-release');
		const lease = await engine.acquire(key, options('exec-tomb-a', LONG, 0));
		expect(await other.release(lease)).toMatchObject({ status: 'released' });
		const error = await rejectionOf(engine.extend(lease, LONG));
		expect(error).toBeInstanceOf(LockReleasedError);
		expect(error).not.toBeInstanceOf(LockLostError);

		const key2 = uniqueKey('tomb-release-exec');
		const lease2 = await engine.acquire(key2, options('exec-tomb-b', LONG, 0));
		expect(await other.releaseExecution('exec-tomb-b')).toEqual([expect.objectContaining({ key: key2, status: 'released' })]);
		expect(await rejectionOf(engine.extend(lease2, LONG))).toBeInstanceOf(LockReleasedError);
	});

	it('any other absence is LockLostError: expired, taken over, or the lease gone without a record (what a Redis restart without persistence leaves)', async () => {
		const expired = await engine.acquire(uniqueKey('tomb-expired'), options('exec-tomb-c', 150, 0));
		await sleep(400);
		expect(await rejectionOf(engine.extend(expired, LONG))).toBeInstanceOf(LockLostError);

		const key = uniqueKey('tomb-taken');
		const old = await engine.acquire(key, options('exec-tomb-d', 150, 0));
		const taker = await guard(other.acquire(key, options('exec-tomb-e', LONG, 10_000)), 10_000, 'takeover');
		const error = await rejectionOf(engine.extend(old, LONG));
		expect(error).toBeInstanceOf(LockLostError);
		expect(error).not.toBeInstanceOf(LockReleasedError);
		await other.release(taker);

		const vanished = await engine.acquire(uniqueKey('tomb-vanished'), options('exec-tomb-f', LONG, 0));
		await redis.del(keys.lease(hashLockKey(vanished.key)));
		const lost = await rejectionOf(engine.extend(vanished, LONG));
		expect(lost).toBeInstanceOf(LockLostError);
		expect(lost.message).toMatch(/no record of its release/);
	});

	it('the tombstone lives the lease left plus the margin, then goes: a release leaves nothing for ever', async () => {
		const lease = await engine.acquire(uniqueKey('tomb-ttl'), options('exec-tomb-g', 5_000, 0));
		await engine.release(lease);
		const left = await redis.pttl(keys.tombstone(lease.token));
		expect(left).toBeGreaterThan(TOMBSTONE_MARGIN_MS);
		expect(left).toBeLessThanOrEqual(TOMBSTONE_MARGIN_MS + 5_000);
		// A release of an already released token is still "lost" (the lease is not there) and records nothing new.
		expect(await engine.release(lease)).toMatchObject({ status: 'lost' });
	});
});

describe('growth: nothing per key outlives its lease or queue', () => {
	/** Every key under the engine's prefix without a TTL. */
	async function keysWithoutExpiry(): Promise<string[]> {
		const all = await redis.keys(`${keys.prefix}*`);
		const forever: string[] = [];
		for (const name of all) if ((await redis.pttl(name)) === -1) forever.push(name);
		return forever.sort();
	}

	// Reverted (per-key fence counters), 12 `fence:<hash>` keys stay without a TTL.
	it('after 12 keys were locked, waited for, and released, only the one fence counter has no TTL', async () => {
		for (let i = 0; i < 12; i++) {
			const key = uniqueKey(`growth-${i}`);
			const held = await engine.acquire(key, options(`exec-growth-${i}`, LONG, 0));
			const waiting = other.acquire(key, options(`exec-growth-w-${i}`, LONG, LONG));
			await untilQueued(other, key, 1);
			await engine.release(held);
			await other.release(await guard(waiting, 10_000, 'waiter'));
		}
		expect(await keysWithoutExpiry()).toEqual([keys.fence]);
		// Queues and ticket sets vanish once empty; the owner indexes with their last lease.
		expect(await redis.keys(`${keys.prefix}queue:*`)).toEqual([]);
		expect(await redis.keys(`${keys.prefix}tickets:*`)).toEqual([]);
		expect(await redis.keys(`${keys.prefix}exec:exec-growth*`)).toEqual([]);
	});

	// Reverted (per-key counter), the fence restarts at 1 and the old counter stays.
	it("a key fenced by an earlier version's per-key counter continues above it; that counter is deleted, and the global one never goes back", async () => {
		const key = uniqueKey('legacy-fence');
		await redis.set(keys.legacyFence(hashLockKey(key)), '1000000');
		const first = await engine.acquire(key, options('exec-legacy-a', LONG, 0));
		expect(first.fence).toBe(1_000_001);
		expect(await redis.exists(keys.legacyFence(hashLockKey(key)))).toBe(0);
		await engine.release(first);
		const second = await engine.acquire(key, options('exec-legacy-b', LONG, 0));
		const elsewhere = await other.acquire(uniqueKey('legacy-other'), options('exec-legacy-c', LONG, 0));
		expect(second.fence).toBeGreaterThan(first.fence);
		expect(elsewhere.fence).toBeGreaterThan(second.fence);
		await engine.release(second);
		await other.release(elsewhere);
	});
});

describe('owner index: named once, in TypeScript', () => {
	// Reverted (Lua rebuilding the name from the prefix), the lease records no index and this fails.
	it('the lease records the index name the key layout built; release empties it, releaseExecution finds it', async () => {
		const key = uniqueKey('index');
		const owner = { executionId: 'exec-index', instanceId: 'instance-index', workflowId: 'wf' };
		const lease = await engine.acquire(key, { owner, ttlMs: LONG, waitTimeoutMs: 0 });
		const index = keys.ownerIndex(owner.executionId, owner.instanceId);
		expect(await redis.hget(keys.lease(hashLockKey(key)), 'index')).toBe(index);
		expect(await redis.smembers(index)).toEqual([hashLockKey(key)]);
		await engine.extend(lease, LONG);
		expect(await redis.pttl(index)).toBeGreaterThan(LONG / 2);
		await engine.release(lease);
		expect(await redis.exists(index)).toBe(0);

		const again = await engine.acquire(key, { owner, ttlMs: LONG, waitTimeoutMs: 0 });
		expect((await other.releaseExecution(owner.executionId, owner.instanceId)).map((outcome) => outcome.key)).toEqual([key]);
		expect(await rejectionOf(engine.extend(again, LONG))).toBeInstanceOf(LockReleasedError);
	});
});
