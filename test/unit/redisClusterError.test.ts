/**
 * The Redis lock needs one Redis: its scripts touch several keys of a lock at once. A Redis Cluster
 * answers CROSSSLOT (or MOVED / ASK / CLUSTERDOWN from a node that does not own the slot); that is
 * a configuration problem, reported as one, not as "store unreachable".
 */
import { ReplyError, type Redis } from 'ioredis';

import { LockConfigurationError, LockStoreUnavailableError } from '../../nodes/shared/lock/errors';
import { RedisLockEngine, redisError } from '../../nodes/shared/lock/RedisLockEngine';

/** A client whose every script and command fails with `reply`, as ioredis reports Redis's error replies. */
function answering(reply: Error): Redis {
	const fail = async () => {
		throw reply;
	};
	return new Proxy({ defineCommand: () => undefined, hmget: fail, hset: fail, del: fail, time: fail } as Record<string, unknown>, {
		get: (target, name) => target[name as string] ?? fail,
	}) as unknown as Redis;
}

describe('Redis Cluster answers', () => {
	it.each([
		"CROSSSLOT Keys in request don't hash to the same slot",
		'MOVED 3999 127.0.0.1:6381',
		'ASK 3999 127.0.0.1:6381',
		'CLUSTERDOWN The cluster is down',
	])('%s -> LockConfigurationError asking for a single Redis', async (message) => {
		const engine = new RedisLockEngine(answering(new ReplyError(message)));
		for (const call of [
			engine.acquire('k', { owner: { executionId: 'e' }, ttlMs: 1_000, waitTimeoutMs: 0 }),
			engine.release({ key: 'k', token: 't' }),
			engine.readSwapState('c'),
		]) {
			const error = await call.then(
				() => undefined,
				(e: unknown) => e,
			);
			expect(error).toBeInstanceOf(LockConfigurationError);
			expect((error as Error).message).toMatch(/single Redis server.*not a Redis Cluster/);
		}
	});

	it('other failures stay "store unreachable" (the control)', () => {
		expect(redisError('acquire', new Error('connect ECONNREFUSED 127.0.0.1:6379'))).toBeInstanceOf(LockStoreUnavailableError);
		expect(redisError('acquire', new ReplyError('NOSCRIPT No matching script'))).toBeInstanceOf(LockStoreUnavailableError);
	});
});
