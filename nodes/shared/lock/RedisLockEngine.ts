import Redis, { type RedisOptions } from 'ioredis';

import { LockConfigurationError, LockLostError, LockStoreUnavailableError } from './errors';
import { hashLockKey, StoreLockEngine, type Attempt, type QueueArgs, type StoreLockOptions } from './StoreLockEngine';
import type { AcquireOptions, AuditEvent, ListedLock, LockHandle, LockHolder, LockLease, LockOwner, ReleaseOutcome, SwapState } from './types';
import { validateTtl } from './waiting';

export const DEFAULT_REDIS_PREFIX = 'tenant-swap:';
const REDIS_AUDIT_KEEP = 100_000;

/**
 * Keys, for a key hash H: `<prefix>lease:H` (a hash with the holder, expiring with the lease),
 * `<prefix>fence:H` (a counter that never expires, so the fence only grows),
 * `<prefix>exec:<owner>` (the key hashes an owner holds; owner = `<instance>:<execution>`, or the
 * execution alone; it lives as long as the owner's longest lease), and the waiting registry:
 * `<prefix>queue:H` (a sorted set: ticket -> arrival number) with `<prefix>tickets:H` (a hash:
 * ticket -> end of its lease); both expire two ticket leases after the last registration.
 * Time is Redis's own (TIME).
 */
const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** The owner index key of a lease hash's fields (instance, execution). */
const OWNER_INDEX = `local function owner_index(prefix, instance, execution)
  if instance and instance ~= '' then return prefix .. 'exec:' .. instance .. ':' .. execution end
  return prefix .. 'exec:' .. execution
end`;

/**
 * The oldest live ticket of a queue ranked before `stop` ('' = the oldest of all), with the end of
 * its lease; nil if none. Expired tickets found at the head on the way are removed.
 */
const FIRST_LIVE = `local function first_live(queue, tickets, now, stop)
  while true do
    local head = redis.call('ZRANGE', queue, 0, 0)
    if #head == 0 or head[1] == stop then return nil end
    local ends = tonumber(redis.call('HGET', tickets, head[1]) or '0')
    if ends > now then return head[1], ends end
    redis.call('ZREM', queue, head[1])
    redis.call('HDEL', tickets, head[1])
  end
end`;

// KEYS: lease, fence, owner index, queue, tickets.
// ARGV: token, execution, workflow, tenant, key, ttl, hash, ticket ('' = one try), ticket lease, fair (1/0), instance
// A key held by anyone is not free, even for the same execution: re-entry is by token (LockClient).
const ACQUIRE = `${NOW}
${FIRST_LIVE}
local ttl = tonumber(ARGV[6])
local ticket = ARGV[8]
local function wait_in_queue()
  if ticket == '' then return end
  if not redis.call('ZSCORE', KEYS[4], ticket) then
    local last = redis.call('ZRANGE', KEYS[4], -1, -1, 'WITHSCORES')
    redis.call('ZADD', KEYS[4], #last > 0 and tonumber(last[2]) + 1 or 1, ticket)
  end
  local lease = tonumber(ARGV[9])
  redis.call('HSET', KEYS[5], ticket, now + lease)
  redis.call('PEXPIRE', KEYS[4], lease * 2)
  redis.call('PEXPIRE', KEYS[5], lease * 2)
end
local cur = redis.call('HMGET', KEYS[1], 'token', 'execution', 'workflow', 'tenant', 'acquired', 'instance')
if cur[1] then
  wait_in_queue()
  local pttl = redis.call('PTTL', KEYS[1])
  return {0, cur[2], cur[3] or '', cur[4] or '', cur[5], pttl, now + pttl, cur[6] or ''}
end
if ARGV[10] == '1' then
  local ahead, ends = first_live(KEYS[4], KEYS[5], now, ticket)
  if ahead then
    wait_in_queue()
    return {2, ends - now}
  end
end
local fence = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'fence', fence, 'execution', ARGV[2], 'workflow', ARGV[3],
  'tenant', ARGV[4], 'key', ARGV[5], 'acquired', now, 'instance', ARGV[11])
redis.call('PEXPIRE', KEYS[1], ttl)
if ticket ~= '' then
  redis.call('ZREM', KEYS[4], ticket)
  redis.call('HDEL', KEYS[5], ticket)
end
redis.call('SADD', KEYS[3], ARGV[7])
if redis.call('PTTL', KEYS[3]) < ttl then redis.call('PEXPIRE', KEYS[3], ttl) end
return {1, ARGV[1], fence, now, now + ttl, 0}`;

// KEYS: lease, queue, tickets. ARGV: token, channel, hash, prefix
// The message names the oldest live ticket ("<hash> <ticket>"): only that waiter wakes.
const RELEASE = `${NOW}
${FIRST_LIVE}
${OWNER_INDEX}
local cur = redis.call('HMGET', KEYS[1], 'token', 'acquired', 'execution', 'instance')
if cur[1] ~= ARGV[1] then return {0} end
redis.call('DEL', KEYS[1])
redis.call('SREM', owner_index(ARGV[4], cur[4], cur[3]), ARGV[3])
local turn = first_live(KEYS[2], KEYS[3], now, '')
redis.call('PUBLISH', ARGV[2], turn and (ARGV[3] .. ' ' .. turn) or ARGV[3])
return {1, now - tonumber(cur[2]), turn or ''}`;

// KEYS: owner index. ARGV: execution, channel, prefix, instance ('' = none)
const RELEASE_EXECUTION = `${NOW}
${FIRST_LIVE}
local out = {}
for _, hash in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local lease = ARGV[3] .. 'lease:' .. hash
  local cur = redis.call('HMGET', lease, 'execution', 'key', 'acquired', 'instance')
  if cur[1] == ARGV[1] and (cur[4] or '') == ARGV[4] then
    redis.call('DEL', lease)
    local turn = first_live(ARGV[3] .. 'queue:' .. hash, ARGV[3] .. 'tickets:' .. hash, now, '')
    redis.call('PUBLISH', ARGV[2], turn and (hash .. ' ' .. turn) or hash)
    table.insert(out, hash)
    table.insert(out, cur[2])
    table.insert(out, now - tonumber(cur[3]))
    table.insert(out, turn or '')
  end
end
redis.call('DEL', KEYS[1])
return out`;

// KEYS: lease, queue, tickets. ARGV: ticket, channel, hash
// Removes a ticket; if it was the oldest live one and the key is free, the next one's turn has come.
const WITHDRAW = `${NOW}
${FIRST_LIVE}
local was_first = redis.call('ZSCORE', KEYS[2], ARGV[1]) and not first_live(KEYS[2], KEYS[3], now, ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
if was_first and redis.call('EXISTS', KEYS[1]) == 0 then
  local turn = first_live(KEYS[2], KEYS[3], now, '')
  if turn then redis.call('PUBLISH', ARGV[2], ARGV[3] .. ' ' .. turn) end
end
return 1`;

// KEYS: lease. ARGV: token, ttl, prefix, hash
// The owner index must outlive every lease it lists, or "release the owner's locks" finds nothing.
const EXTEND = `${NOW}
${OWNER_INDEX}
local cur = redis.call('HMGET', KEYS[1], 'token', 'fence', 'execution', 'workflow', 'tenant', 'acquired', 'instance')
if cur[1] ~= ARGV[1] then return {0} end
local ttl = tonumber(ARGV[2])
redis.call('PEXPIRE', KEYS[1], ttl)
local index = owner_index(ARGV[3], cur[7], cur[3])
redis.call('SADD', index, ARGV[4])
if redis.call('PTTL', index) < ttl then redis.call('PEXPIRE', index, ttl) end
return {1, cur[2], cur[3], cur[4] or '', cur[5] or '', cur[6], now + ttl, cur[7] or ''}`;

// KEYS: lease, tickets. The lease with its remaining time and the number of live tickets.
const DESCRIBE = `${NOW}
local cur = redis.call('HMGET', KEYS[1], 'token', 'fence', 'execution', 'workflow', 'tenant', 'acquired', 'instance', 'key')
if not cur[1] then return {0} end
local waiting = 0
for _, ends in ipairs(redis.call('HVALS', KEYS[2])) do
  if tonumber(ends) > now then waiting = waiting + 1 end
end
return {1, cur[1], cur[2], cur[3], cur[4] or '', cur[5] or '', cur[6], cur[7] or '', cur[8] or '', now + redis.call('PTTL', KEYS[1]), waiting}`;

// KEYS: lease.
const HOLDER = `${NOW}
local cur = redis.call('HMGET', KEYS[1], 'execution', 'workflow', 'tenant', 'acquired', 'instance')
if not cur[1] then return {0} end
return {1, cur[1], cur[2] or '', cur[3] or '', cur[4], now + redis.call('PTTL', KEYS[1]), cur[5] or ''}`;

/** See RedisLockEngine.storeAccess. */
export interface RedisStoreAccess {
	/** The engine's key prefix (DEFAULT_REDIS_PREFIX unless configured): every key starts with it. */
	prefix: string;
	/** Where the keys are, without user or password: host, port, database and key prefix (JSON). */
	location: string;
	/** `name` must be unique per script (ioredis defines it as a command on the client). */
	runScript(operation: string, name: string, script: string, keys: string[], args: string[]): Promise<unknown>;
}

/** The fields of n8n's built-in `redis` credential that matter for the lock. */
export interface RedisConnectionSettings {
	host: string;
	port?: number;
	user?: string;
	password?: string;
	database?: number;
	ssl?: boolean;
	disableTlsVerification?: boolean;
}

/** The way n8n's own Redis node reads its credential, for ioredis. */
export function redisOptionsFrom(settings: RedisConnectionSettings): RedisOptions {
	return {
		host: settings.host || 'localhost',
		port: Number(settings.port) || 6379,
		username: settings.user || undefined,
		password: settings.password || undefined,
		db: Number(settings.database) || 0,
		tls: settings.ssl === true ? { rejectUnauthorized: settings.disableTlsVerification !== true } : undefined,
		connectTimeout: 10_000,
		maxRetriesPerRequest: 2,
		enableOfflineQueue: true,
		lazyConnect: false,
	};
}

/**
 * Lease lock in Redis: same semantics as the PostgreSQL engine (TTL by the store's clock, token-checked
 * release, fences, re-entry, prompt wake-up through PUBLISH/SUBSCRIBE). One Redis, not a cluster.
 */
export class RedisLockEngine extends StoreLockEngine {
	readonly backend = 'redis' as const;

	private readonly channel: string;
	private subscriber?: Redis;
	private listening?: Promise<void>;

	constructor(
		/** The connection commands go to (useClient replaces it after a password change). */
		private client: Redis,
		private readonly prefix = DEFAULT_REDIS_PREFIX,
		options: StoreLockOptions = {},
	) {
		super(options);
		if (!/^[\w:.-]{1,100}$/.test(prefix)) {
			throw new LockConfigurationError(`Invalid Redis key prefix "${prefix.slice(0, 80)}": use letters, digits, _ : . - (at most 100)`);
		}
		this.channel = `${prefix}released`;
	}

	protected async ensureReady(): Promise<void> {}

	protected async ensureListening(): Promise<void> {
		this.listening ??= (async () => {
			const subscriber = this.client.duplicate();
			this.subscriber = subscriber;
			subscriber.on('message', (channel: string, hash: string) => {
				if (channel === this.channel) this.wakeFromMessage(hash);
			});
			// On reconnect ioredis re-subscribes; messages sent meanwhile are lost, so look again.
			subscriber.on('close', () => {
				if (this.subscriber === subscriber) this.listenerDropped();
			});
			subscriber.on('ready', () => {
				if (this.subscriber === subscriber) this.listenerUp = true;
			});
			subscriber.on('error', () => undefined);
			await subscriber.subscribe(this.channel);
			this.listenerUp = true;
		})().catch((error) => {
			this.listening = undefined;
			this.subscriber?.disconnect();
			this.subscriber = undefined;
			throw redisError('subscribe', error);
		});
		await this.listening;
	}

	/**
	 * Moves the engine to another connection to the same Redis (the credential's password changed);
	 * the subscriber, logged in with the old password, is replaced too. The old client is closed by
	 * the registry once its pending replies arrived.
	 */
	useClient(client: Redis): void {
		if (client === this.client) return;
		this.client = client;
		const subscriber = this.subscriber;
		if (!subscriber) return;
		this.subscriber = undefined;
		this.listening = undefined;
		subscriber.disconnect();
		this.listenerDropped();
		if (!this.closing) void this.ensureListening().catch(() => undefined);
	}

	protected async attempt(key: string, keyHash: string, token: string, options: AcquireOptions, queue: QueueArgs): Promise<Attempt> {
		const { owner, ttlMs } = options;
		const reply = (await this.run(
			'acquire',
			ACQUIRE,
			[this.leaseKey(keyHash), this.fenceKey(keyHash), this.ownerIndexKey(owner.executionId, owner.instanceId), this.queueKey(keyHash), this.ticketsKey(keyHash)],
			[
				token,
				owner.executionId,
				owner.workflowId ?? '',
				owner.tenantId ?? '',
				key,
				String(Math.ceil(ttlMs)),
				keyHash,
				queue.ticket ?? '',
				String(queue.ticketLeaseMs),
				queue.fair ? '1' : '0',
				owner.instanceId ?? '',
			],
		)) as Array<string | number>;
		// Free, but an older live ticket comes first: wait at most until that ticket's lease ends.
		if (Number(reply[0]) === 2) return { recheckInMs: Math.max(0, Number(reply[1])) };
		if (Number(reply[0]) === 1) {
			return {
				lease: {
					token: String(reply[1]),
					fence: Number(reply[2]),
					acquiredAt: new Date(Number(reply[3])),
					expiresAt: new Date(Number(reply[4])),
				},
				recheckInMs: 0,
			};
		}
		const recheckInMs = Math.max(0, Number(reply[5]));
		return {
			holder: {
				owner: ownerOf(reply[1], reply[2], reply[3], reply[7]),
				acquiredAt: new Date(Number(reply[4])),
				// By Redis's clock, like every other time of a lease.
				expiresAt: new Date(Number(reply[6])),
			},
			recheckInMs,
		};
	}

	async extend(handle: LockHandle, ttlMs: number): Promise<LockLease> {
		validateTtl(ttlMs);
		const keyHash = hashLockKey(handle.key);
		const reply = (await this.run('extend', EXTEND, [this.leaseKey(keyHash)], [handle.token, String(Math.ceil(ttlMs)), this.prefix, keyHash])) as Array<string | number>;
		if (Number(reply[0]) !== 1) throw new LockLostError(handle.key);
		return {
			key: handle.key,
			token: handle.token,
			fence: Number(reply[1]),
			owner: ownerOf(reply[2], reply[3], reply[4], reply[7]),
			acquiredAt: new Date(Number(reply[5])),
			expiresAt: new Date(Number(reply[6])),
			waitedMs: 0,
		};
	}

	async release(handle: LockHandle): Promise<ReleaseOutcome> {
		const keyHash = hashLockKey(handle.key);
		const reply = (await this.run('release', RELEASE, [this.leaseKey(keyHash), this.queueKey(keyHash), this.ticketsKey(keyHash)], [
			handle.token,
			this.channel,
			keyHash,
			this.prefix,
		])) as Array<number | string>;
		if (Number(reply[0]) !== 1) return { key: handle.key, status: 'lost' };
		this.releasedHere(keyHash, String(reply[2] ?? '') || null);
		return { key: handle.key, status: 'released', heldMs: Number(reply[1]) };
	}

	async releaseExecution(executionId: string, instanceId?: string): Promise<ReleaseOutcome[]> {
		const reply = (await this.run('release', RELEASE_EXECUTION, [this.ownerIndexKey(executionId, instanceId)], [
			executionId,
			this.channel,
			this.prefix,
			instanceId ?? '',
		])) as Array<string | number>;
		const outcomes: ReleaseOutcome[] = [];
		for (let i = 0; i < reply.length; i += 4) {
			this.releasedHere(String(reply[i]), String(reply[i + 3] ?? '') || null);
			outcomes.push({ key: String(reply[i + 1]), status: 'released', heldMs: Number(reply[i + 2]) });
		}
		return outcomes.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
	}

	protected async withdraw(keyHash: string, ticket: string): Promise<void> {
		await this.run('withdraw', WITHDRAW, [this.leaseKey(keyHash), this.queueKey(keyHash), this.ticketsKey(keyHash)], [ticket, this.channel, keyHash]);
	}

	async holder(key: string): Promise<LockHolder | undefined> {
		const reply = (await this.run('read holder', HOLDER, [this.leaseKey(hashLockKey(key))], [])) as Array<string | number>;
		if (Number(reply[0]) !== 1) return undefined;
		return { owner: ownerOf(reply[1], reply[2], reply[3], reply[6]), acquiredAt: new Date(Number(reply[4])), expiresAt: new Date(Number(reply[5])) };
	}

	async heldLocks(limit: number): Promise<ListedLock[]> {
		const found: ListedLock[] = [];
		let cursor = '0';
		try {
			do {
				const [next, keys] = await this.client.scan(cursor, 'MATCH', `${this.prefix}lease:*`, 'COUNT', 500);
				cursor = next;
				for (const leaseKey of keys) {
					const hash = leaseKey.slice(`${this.prefix}lease:`.length);
					const reply = (await this.run('list locks', DESCRIBE, [leaseKey, this.ticketsKey(hash)], [])) as Array<string | number>;
					if (Number(reply[0]) !== 1) continue;
					found.push({
						key: String(reply[8]),
						token: String(reply[1]),
						fence: Number(reply[2]),
						owner: ownerOf(reply[3], reply[4], reply[5], reply[7]),
						acquiredAt: new Date(Number(reply[6])),
						expiresAt: new Date(Number(reply[9])),
						waiting: Number(reply[10]),
					});
				}
			} while (cursor !== '0');
		} catch (error) {
			if (error instanceof LockStoreUnavailableError) throw error;
			throw new LockStoreUnavailableError('list locks', error);
		}
		return found.sort((a, b) => a.acquiredAt.getTime() - b.acquiredAt.getTime()).slice(0, limit);
	}

	async readSwapState(credentialKey: string): Promise<SwapState | undefined> {
		try {
			const [dataHmac, credentialUpdatedAt] = await this.client.hmget(this.stateKey(credentialKey), 'dataHmac', 'credentialUpdatedAt');
			return dataHmac && credentialUpdatedAt ? { dataHmac, credentialUpdatedAt } : undefined;
		} catch (error) {
			throw redisError('read swap state', error);
		}
	}

	async writeSwapState(credentialKey: string, state: SwapState | undefined): Promise<void> {
		try {
			if (state) await this.client.hset(this.stateKey(credentialKey), { ...state });
			else await this.client.del(this.stateKey(credentialKey));
		} catch (error) {
			throw redisError('write swap state', error);
		}
	}

	/** A capped list `<prefix>audit`, newest first: LRANGE tenant-swap:audit 0 49. */
	async audit(events: AuditEvent[]): Promise<void> {
		if (events.length === 0) return;
		try {
			const [seconds, micros] = await this.client.time();
			const at = new Date(Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)).toISOString();
			await this.client
				.multi()
				.lpush(`${this.prefix}audit`, ...events.map((event) => JSON.stringify({ at, ...event })))
				.ltrim(`${this.prefix}audit`, 0, REDIS_AUDIT_KEEP - 1)
				.exec();
		} catch (error) {
			throw redisError('write audit', error);
		}
	}

	/** Stops listening; the shared client is closed by its owner. */
	async close(): Promise<void> {
		this.closing = true;
		this.subscriber?.disconnect();
		this.subscriber = undefined;
		this.listening = undefined;
		this.listenerDropped();
	}

	private leaseKey(keyHash: string): string {
		return `${this.prefix}lease:${keyHash}`;
	}

	private queueKey(keyHash: string): string {
		return `${this.prefix}queue:${keyHash}`;
	}

	private ticketsKey(keyHash: string): string {
		return `${this.prefix}tickets:${keyHash}`;
	}

	private stateKey(credentialKey: string): string {
		return `${this.prefix}state:${credentialKey}`;
	}

	private fenceKey(keyHash: string): string {
		return `${this.prefix}fence:${keyHash}`;
	}

	/** Must match OWNER_INDEX in the scripts. */
	private ownerIndexKey(executionId: string, instanceId?: string): string {
		return instanceId ? `${this.prefix}exec:${instanceId}:${executionId}` : `${this.prefix}exec:${executionId}`;
	}

	/**
	 * For stores kept next to the locks (the tenant credential registry): the key prefix, and scripts
	 * run on this engine's current client (no connection of their own), failing like the lock's.
	 */
	storeAccess(): RedisStoreAccess {
		const { host, port, db } = this.client.options;
		return {
			prefix: this.prefix,
			location: JSON.stringify({ host: host || 'localhost', port: Number(port) || 6379, db: Number(db) || 0, prefix: this.prefix }),
			runScript: async (operation, name, script, keys, args) => await this.run(operation, script, keys, args, name),
		};
	}

	private async run(operation: string, script: string, keys: string[], args: string[], name = scriptName(script)): Promise<unknown> {
		try {
			// EVALSHA with the script's hash, sending the script only when Redis does not know it yet.
			const client = this.client as unknown as Record<string, (...a: string[]) => Promise<unknown>>;
			if (typeof client[name] !== 'function') this.client.defineCommand(name, { numberOfKeys: keys.length, lua: script });
			return await client[name](...keys, ...args);
		} catch (error) {
			throw redisError(operation, error);
		}
	}
}

/** What a Redis Cluster (or a node of one) answers to the lock's multi-key scripts. */
const CLUSTER_REPLY = /^(CROSSSLOT|MOVED|ASK|CLUSTERDOWN|TRYAGAIN)\b/;

/**
 * A store error for `operation`, except that a Redis Cluster's answers become a configuration
 * error: the lock's scripts touch several keys of one lock and need a single Redis.
 */
export function redisError(operation: string, error: unknown): Error {
	const message = error instanceof Error ? error.message : String(error);
	if (CLUSTER_REPLY.test(message)) {
		return new LockConfigurationError(
			`The Redis lock backend needs a single Redis server (a primary, optionally with replicas), not a Redis Cluster: Redis answered "${message.split(' ')[0]}" during ${operation}. Point the Redis credential at a standalone Redis, or use the PostgreSQL lock backend.`,
		);
	}
	return new LockStoreUnavailableError(operation, error);
}

const SCRIPT_NAMES = new Map<string, string>([
	[ACQUIRE, 'tenantSwapAcquire'],
	[RELEASE, 'tenantSwapRelease'],
	[RELEASE_EXECUTION, 'tenantSwapReleaseExecution'],
	[EXTEND, 'tenantSwapExtend'],
	[HOLDER, 'tenantSwapHolder'],
	[DESCRIBE, 'tenantSwapDescribe'],
	[WITHDRAW, 'tenantSwapWithdraw'],
]);

function scriptName(script: string): string {
	return SCRIPT_NAMES.get(script) as string;
}

function ownerOf(executionId: unknown, workflowId: unknown, tenantId: unknown, instanceId: unknown): LockOwner {
	return {
		instanceId: instanceId ? String(instanceId) : undefined,
		executionId: String(executionId ?? ''),
		workflowId: workflowId ? String(workflowId) : undefined,
		tenantId: tenantId ? String(tenantId) : undefined,
	};
}
