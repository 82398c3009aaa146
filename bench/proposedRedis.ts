/**
 * A bench-only PROTOTYPE of the cross-process fairness change recommended for the shared waiting
 * core, here on the Redis engine (nodes/shared/lock/RedisLockEngine.ts, ACQUIRE script), so
 * `npm run bench -- --proposed` can show its effect. Not used by the package.
 *
 * The problem it addresses: a release wakes the releasing process's own next waiter at once
 * (releasedHere), while other processes learn of it from PUBLISH / NOTIFY a little later, so the
 * releasing process's waiter reaches the store first and wins, every time, as long as that process
 * has waiters: the other processes starve.
 *
 * The change: each process whose FIFO head has found the key held registers in the store as
 * waiting (hash `<prefix>waiting:H`: instance -> since, kept from its first failed attempt; and
 * `<prefix>seen:H`: instance -> last attempt). A FREE key goes only to the instance that has waited
 * longest among live registrations (seen within `staleMs`); others are told to wait (and are woken
 * by the next release). Winning clears the instance's registration, so its next head queues behind
 * the other processes: the key rotates between processes, and within a process stays FIFO.
 * (In the real change, a process whose last waiter for a key gives up also removes its entry.)
 *
 * Also change C (see bench/proposedPostgres.ts): no store attempt while this process holds the key.
 */
import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';

import { LockStoreUnavailableError } from '../nodes/shared/lock/errors';
import { RedisLockEngine } from '../nodes/shared/lock/RedisLockEngine';
import type { Attempt } from '../nodes/shared/lock/StoreLockEngine';
import type { AcquireOptions } from '../nodes/shared/lock/types';

const FAIR_ACQUIRE = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[6])
local me = ARGV[8]
local stale = tonumber(ARGV[9])
local function wait_here()
  redis.call('HSETNX', KEYS[4], me, now)
  redis.call('HSET', KEYS[5], me, now)
  redis.call('PEXPIRE', KEYS[4], stale * 2)
  redis.call('PEXPIRE', KEYS[5], stale * 2)
end
local cur = redis.call('HMGET', KEYS[1], 'token', 'fence', 'execution', 'workflow', 'tenant', 'acquired')
if cur[1] then
  if cur[3] ~= ARGV[2] then
    wait_here()
    return {0, cur[3], cur[4] or '', cur[5] or '', cur[6], redis.call('PTTL', KEYS[1])}
  end
  redis.call('PEXPIRE', KEYS[1], ttl)
else
  local mine = tonumber(redis.call('HGET', KEYS[4], me) or now)
  local all = redis.call('HGETALL', KEYS[4])
  for i = 1, #all, 2 do
    local other, since = all[i], tonumber(all[i + 1])
    if other ~= me then
      local seen = tonumber(redis.call('HGET', KEYS[5], other) or 0)
      if now - seen > stale then
        redis.call('HDEL', KEYS[4], other)
        redis.call('HDEL', KEYS[5], other)
      elseif since < mine then
        wait_here()
        return {2, other}
      end
    end
  end
  local fence = redis.call('INCR', KEYS[2])
  redis.call('HSET', KEYS[1], 'token', ARGV[1], 'fence', fence, 'execution', ARGV[2], 'workflow', ARGV[3],
    'tenant', ARGV[4], 'key', ARGV[5], 'acquired', now)
  redis.call('PEXPIRE', KEYS[1], ttl)
  cur = {ARGV[1], tostring(fence), ARGV[2], ARGV[3], ARGV[4], tostring(now)}
end
redis.call('HDEL', KEYS[4], me)
redis.call('HDEL', KEYS[5], me)
redis.call('SADD', KEYS[3], ARGV[7])
if redis.call('PTTL', KEYS[3]) < ttl then redis.call('PEXPIRE', KEYS[3], ttl) end
return {1, cur[1], cur[2], cur[6], now + ttl, cur[1] ~= ARGV[1] and 1 or 0}`;

/** A registration older than this (no attempt since) no longer has priority: its process is gone. */
const STALE_MS = 12_000;
/** A waiter that yielded to an older one re-checks after this long even without a wake-up. */
const YIELD_RECHECK_MS = 1_000;

/**
 * Change C re-checks the store at least this often while a local execution holds the key. (The real
 * change keeps the local lease's expiry next to localHolders and waits until then at most.)
 */
const LOCAL_HOLDER_RECHECK_MS = 5_000;

export class FairRedisLockEngine extends RedisLockEngine {
	private readonly instance = randomUUID();

	constructor(
		private readonly redis: Redis,
		private readonly keyPrefix: string,
	) {
		super(redis, keyPrefix);
		redis.defineCommand('benchFairAcquire', { numberOfKeys: 5, lua: FAIR_ACQUIRE });
	}

	protected async attempt(key: string, keyHash: string, token: string, options: AcquireOptions): Promise<Attempt> {
		// Change C: another execution of this process holds the key, so the store can only say "held":
		// wait for this process's own release (releasedHere wakes us) instead of asking.
		const local = this.localHolders.get(keyHash);
		if (local !== undefined && local !== options.owner.executionId) return { remainingMs: LOCAL_HOLDER_RECHECK_MS };
		const { owner, ttlMs } = options;
		const p = this.keyPrefix;
		let reply: Array<string | number>;
		try {
			const run = (this.redis as unknown as Record<string, (...args: string[]) => Promise<Array<string | number>>>).benchFairAcquire;
			reply = await run.call(
				this.redis,
				`${p}lease:${keyHash}`,
				`${p}fence:${keyHash}`,
				`${p}exec:${owner.executionId}`,
				`${p}waiting:${keyHash}`,
				`${p}seen:${keyHash}`,
				token,
				owner.executionId,
				owner.workflowId ?? '',
				owner.tenantId ?? '',
				key,
				String(Math.ceil(ttlMs)),
				keyHash,
				this.instance,
				String(STALE_MS),
			);
		} catch (error) {
			throw new LockStoreUnavailableError('acquire', error);
		}
		const status = Number(reply[0]);
		if (status === 1) {
			return {
				lease: {
					token: String(reply[1]),
					fence: Number(reply[2]),
					acquiredAt: new Date(Number(reply[3])),
					expiresAt: new Date(Number(reply[4])),
					reentered: Number(reply[5]) === 1,
				},
				remainingMs: 0,
			};
		}
		// Yielded to a process that has waited longer: it takes the key; we are woken by its release.
		if (status === 2) return { remainingMs: YIELD_RECHECK_MS };
		const remainingMs = Math.max(0, Number(reply[5]));
		return {
			holder: {
				owner: { executionId: String(reply[1]), workflowId: reply[2] ? String(reply[2]) : undefined, tenantId: reply[3] ? String(reply[3]) : undefined },
				acquiredAt: new Date(Number(reply[4])),
				expiresAt: new Date(Date.now() + remainingMs),
			},
			remainingMs,
		};
	}
}
