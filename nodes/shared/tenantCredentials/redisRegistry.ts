import { randomBytes } from 'node:crypto';

import type { RedisLockEngine, RedisStoreAccess } from '../lock/RedisLockEngine';
import { hashLockKey } from '../lock/StoreLockEngine';
import { credentialIdBatch, durationMs, nonEmpty, positiveLimit } from './checks';
import type { LiveTenantCredentialCounts, NewTenantCredential, TenantCredentialRecord, TenantCredentialRegistry } from './registryTypes';

/*
 * Keys, under the lock engine's prefix P (`tenant-swap:` by default), for a scope whose SHA-256 is S:
 *
 *   P tc:key                     the registry's content key (contentKey): set once, never expires
 *   P tc:S:cred:<credential ID>  hash: name, type, tenant, project ('' = none), state (active|retiring),
 *                                used, busy, retention (ms; times in ms by Redis's clock), retired (only
 *                                once a sweep claimed it), tset (its tenant set's key)
 *   P tc:S:active                hash: name -> credential ID of the name's active record
 *   P tc:S:due                   sorted set: records no sweep has claimed -> when they may be retired
 *                                (active: max(used + retention, busy); replaced by register: busy)
 *   P tc:S:claimed               sorted set: records a sweep claimed -> retired
 *   P tc:S:used                  sorted set: every record -> used (listing, newest first; its size is
 *                                the scope's live count)
 *   P tc:S:tenant:<SHA-256 of tenant ID>  set: the tenant's records (its size is the tenant's live count)
 *
 * A record is in exactly one of due and claimed, and in used; forget deletes it from all of them, and
 * Redis drops an index once it is empty, so keys live as long as the records. Retire reads only the
 * due and claimed entries whose time has come (never a SCAN), then checks each record itself.
 * Scripts are atomic and take time from Redis (TIME): one step per call, whatever the process clocks.
 * They touch record keys they compute (like the lock's scripts): one Redis, not a cluster.
 */

const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** The reply row of a record: id, name, type, tenant, state, used, busy, retention, retired ('' = none), project ('' = none). */
const ROW = `local function row(id, rec)
  local f = redis.call('HMGET', rec, 'name', 'type', 'tenant', 'state', 'used', 'busy', 'retention', 'retired', 'project')
  return {id, f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8] or '', f[9] or ''}
end`;

// KEYS: active, due, used. ARGV: name, busy ms, retention ms, record key prefix.
const USE = `${NOW}
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return false end
local rec = ARGV[4] .. id
local cur = redis.call('HMGET', rec, 'state', 'busy')
if cur[1] ~= 'active' then return false end
local busy = math.max(tonumber(cur[2]), now + tonumber(ARGV[2]))
local retention = tonumber(ARGV[3])
redis.call('HSET', rec, 'used', now, 'busy', busy, 'retention', retention)
redis.call('ZADD', KEYS[2], math.max(now + retention, busy), id)
redis.call('ZADD', KEYS[3], now, id)
return id`;

// KEYS: active, due, claimed, used, tenant set. ARGV: name, id, type, tenant, retention ms, busy ms, record key prefix, project.
const REGISTER = `${NOW}
local name, id, prefix = ARGV[1], ARGV[2], ARGV[7]
local old = redis.call('HGET', KEYS[1], name)
if old and old ~= id then
  local orec = prefix .. old
  local busy = redis.call('HGET', orec, 'busy')
  if busy then
    redis.call('HSET', orec, 'state', 'retiring')
    redis.call('HDEL', orec, 'retired')
    redis.call('ZADD', KEYS[2], tonumber(busy), old)
    redis.call('ZREM', KEYS[3], old)
  end
end
local rec = prefix .. id
local previous = redis.call('HGET', rec, 'name')
if previous and previous ~= name and redis.call('HGET', KEYS[1], previous) == id then redis.call('HDEL', KEYS[1], previous) end
local retention = tonumber(ARGV[5])
local busy = now + tonumber(ARGV[6])
local oldset = redis.call('HGET', rec, 'tset')
if oldset and oldset ~= KEYS[5] then redis.call('SREM', oldset, id) end
redis.call('HSET', rec, 'name', name, 'type', ARGV[3], 'tenant', ARGV[4], 'project', ARGV[8], 'state', 'active', 'used', now, 'busy', busy, 'retention', retention, 'tset', KEYS[5])
redis.call('HDEL', rec, 'retired')
redis.call('SADD', KEYS[5], id)
redis.call('HSET', KEYS[1], name, id)
redis.call('ZADD', KEYS[2], math.max(now + retention, busy), id)
redis.call('ZREM', KEYS[3], id)
redis.call('ZADD', KEYS[4], now, id)
return 1`;

// KEYS: active, due. ARGV: busy ms, record key prefix, names...
const KEEP_BUSY = `${NOW}
local busy = now + tonumber(ARGV[1])
for i = 3, #ARGV do
  local id = redis.call('HGET', KEYS[1], ARGV[i])
  if id then
    local rec = ARGV[2] .. id
    local cur = redis.call('HMGET', rec, 'state', 'busy', 'used', 'retention')
    if cur[1] == 'active' and tonumber(cur[2]) < busy then
      redis.call('HSET', rec, 'busy', busy)
      redis.call('ZADD', KEYS[2], math.max(tonumber(cur[3]) + tonumber(cur[4]), busy), id)
    end
  end
end
return 1`;

// KEYS: active, due, claimed. ARGV: limit, stale retiring ms, record key prefix.
// Index entries are only hints: every record is checked before it is claimed.
const RETIRE = `${NOW}
${ROW}
local limit, stale, prefix = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local out = {}
local function claim(id, rec)
  redis.call('HSET', rec, 'state', 'retiring', 'retired', now)
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[3], now, id)
  local name = redis.call('HGET', rec, 'name')
  if redis.call('HGET', KEYS[1], name) == id then redis.call('HDEL', KEYS[1], name) end
  table.insert(out, row(id, rec))
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. (now - stale), 'LIMIT', 0, limit)) do
  local rec = prefix .. id
  local cur = redis.call('HMGET', rec, 'state', 'retired')
  if not cur[1] then
    redis.call('ZREM', KEYS[3], id)
  elseif cur[1] == 'retiring' and cur[2] and tonumber(cur[2]) < now - stale then
    claim(id, rec)
  end
end
if #out < limit then
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. now, 'LIMIT', 0, limit - #out)) do
    local rec = prefix .. id
    local cur = redis.call('HMGET', rec, 'state', 'used', 'retention', 'busy', 'retired')
    if not cur[1] then
      redis.call('ZREM', KEYS[2], id)
    elseif cur[1] == 'retiring' and cur[5] then
      redis.call('ZREM', KEYS[2], id)
      redis.call('ZADD', KEYS[3], tonumber(cur[5]), id)
    else
      local busy = tonumber(cur[4])
      local due = busy
      if cur[1] == 'active' then due = math.max(tonumber(cur[2]) + tonumber(cur[3]), busy) end
      if due < now then claim(id, rec) else redis.call('ZADD', KEYS[2], due, id) end
    end
  end
end
return out`;

// KEYS: active, due, claimed, tenant set. ARGV: limit, record key prefix.
// Every record of the tenant, whatever its state or busy mark: retiring, claimed now.
const RETIRE_TENANT = `${NOW}
${ROW}
local limit, prefix = tonumber(ARGV[1]), ARGV[2]
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  if #out >= limit then break end
  local rec = prefix .. id
  local name = redis.call('HGET', rec, 'name')
  if not name then
    redis.call('SREM', KEYS[4], id)
  else
    redis.call('HSET', rec, 'state', 'retiring', 'retired', now)
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZADD', KEYS[3], now, id)
    if redis.call('HGET', KEYS[1], name) == id then redis.call('HDEL', KEYS[1], name) end
    table.insert(out, row(id, rec))
  end
end
return out`;

// KEYS: active, due, claimed, used. ARGV: id, record key prefix.
const FORGET = `local rec = ARGV[2] .. ARGV[1]
local f = redis.call('HMGET', rec, 'name', 'tset')
local name = f[1]
if name and redis.call('HGET', KEYS[1], name) == ARGV[1] then redis.call('HDEL', KEYS[1], name) end
if f[2] then redis.call('SREM', f[2], ARGV[1]) end
redis.call('DEL', rec)
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
return 1`;

// KEYS: used. ARGV: limit, record key prefix.
const LIST = `${ROW}
local out = {}
for _, id in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)) do
  local rec = ARGV[2] .. id
  if redis.call('EXISTS', rec) == 1 then table.insert(out, row(id, rec)) end
end
return out`;

// No KEYS. ARGV: record key prefix, credential IDs... A record exists as long as its hash does
// (register writes every field at once, forget deletes the key).
const KNOWN = `local out = {}
for i = 2, #ARGV do
  if redis.call('EXISTS', ARGV[1] .. ARGV[i]) == 1 then table.insert(out, ARGV[i]) end
end
return out`;

// KEYS: content key. ARGV: a new random key (kept only when there is none yet).
const CONTENT_KEY = `redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])`;

// KEYS: used, tenant set. Both O(1): no scan, whatever the scope holds.
const COUNT = `return {redis.call('ZCARD', KEYS[1]), redis.call('SCARD', KEYS[2])}`;

interface ScopeKeys {
	record: string;
	active: string;
	due: string;
	claimed: string;
	used: string;
	tenant(tenantId: string): string;
}

/** The registry in the lock's Redis, on the lock engine's connection and key prefix (layout above). */
export class RedisTenantCredentialRegistry implements TenantCredentialRegistry {
	private readonly store: RedisStoreAccess;
	readonly storeIdentity: string;
	private key?: Promise<string>;

	constructor(engine: RedisLockEngine) {
		this.store = engine.storeAccess();
		this.storeIdentity = `redis:${this.store.location}`;
	}

	async contentKey(): Promise<string> {
		this.key ??= (async () => {
			const key = await this.store.runScript('tenant credential key', 'tenantCredentialKey', CONTENT_KEY, [`${this.store.prefix}tc:key`], [
				randomBytes(32).toString('base64url'),
			]);
			if (typeof key !== 'string' || key === '') throw new Error(`The tenant credential registry's key is missing from ${this.store.prefix}tc:key`);
			return key;
		})().catch((error: unknown) => {
			this.key = undefined;
			throw error;
		});
		return await this.key;
	}

	async countLiveTenantCredentials(scope: string, tenantId: string, atMost: number): Promise<LiveTenantCredentialCounts> {
		const max = positiveLimit(atMost);
		const keys = this.keys(scope);
		const [total, tenant] = (await this.store.runScript('tenant credential count', 'tenantCredentialCount', COUNT, [keys.used, keys.tenant(tenantId)], [])) as number[];
		return { total: Math.min(Number(total), max), tenant: Math.min(Number(tenant), max) };
	}

	async useTenantCredential(scope: string, name: string, busyMs: number, retentionMs: number): Promise<string | undefined> {
		const busy = durationMs('Busy time', busyMs);
		const retention = durationMs('Retention', retentionMs);
		const keys = this.keys(scope);
		const id = await this.store.runScript('tenant credential use', 'tenantCredentialUse', USE, [keys.active, keys.due, keys.used], [
			name,
			String(busy),
			String(retention),
			keys.record,
		]);
		return typeof id === 'string' ? id : undefined;
	}

	async registerTenantCredential(record: NewTenantCredential, busyMs: number): Promise<void> {
		const busy = durationMs('Busy time', busyMs);
		const retention = durationMs('Retention', record.retentionMs);
		for (const field of ['scope', 'name', 'credentialId', 'credentialType', 'tenantId'] as const) nonEmpty(field, record[field]);
		const keys = this.keys(record.scope);
		await this.store.runScript(
			'tenant credential register',
			'tenantCredentialRegister',
			REGISTER,
			[keys.active, keys.due, keys.claimed, keys.used, keys.tenant(record.tenantId)],
			[record.name, record.credentialId, record.credentialType, record.tenantId, String(retention), String(busy), keys.record, record.projectId ?? ''],
		);
	}

	async keepTenantCredentialsBusy(scope: string, names: string[], busyMs: number): Promise<void> {
		const busy = durationMs('Busy time', busyMs);
		const unique = [...new Set(names)];
		if (unique.length === 0) return;
		const keys = this.keys(scope);
		await this.store.runScript('tenant credential keep busy', 'tenantCredentialKeepBusy', KEEP_BUSY, [keys.active, keys.due], [
			String(busy),
			keys.record,
			...unique,
		]);
	}

	async retireUnusedTenantCredentials(scope: string, limit: number, staleRetiringMs: number): Promise<TenantCredentialRecord[]> {
		const max = positiveLimit(limit);
		const stale = durationMs('Stale retiring time', staleRetiringMs);
		const keys = this.keys(scope);
		const rows = (await this.store.runScript('tenant credential retire', 'tenantCredentialRetire', RETIRE, [keys.active, keys.due, keys.claimed], [
			String(max),
			String(stale),
			keys.record,
		])) as unknown[][];
		return rows.map((row) => recordOf(scope, row));
	}

	async retireTenantCredentialsOf(scope: string, tenantId: string, limit: number): Promise<TenantCredentialRecord[]> {
		const max = positiveLimit(limit);
		nonEmpty('tenantId', tenantId);
		const keys = this.keys(scope);
		const rows = (await this.store.runScript(
			'tenant credential offboard',
			'tenantCredentialRetireTenant',
			RETIRE_TENANT,
			[keys.active, keys.due, keys.claimed, keys.tenant(tenantId)],
			[String(max), keys.record],
		)) as unknown[][];
		return rows.map((row) => recordOf(scope, row));
	}

	async forgetTenantCredential(scope: string, credentialId: string): Promise<void> {
		const keys = this.keys(scope);
		await this.store.runScript('tenant credential forget', 'tenantCredentialForget', FORGET, [keys.active, keys.due, keys.claimed, keys.used], [
			credentialId,
			keys.record,
		]);
	}

	async knownTenantCredentialIds(scope: string, credentialIds: string[]): Promise<Set<string>> {
		const ids = credentialIdBatch(credentialIds);
		if (ids.length === 0) return new Set();
		const keys = this.keys(scope);
		const known = (await this.store.runScript('tenant credential known', 'tenantCredentialKnown', KNOWN, [], [keys.record, ...ids])) as unknown[];
		return new Set(known.map(String));
	}

	async listTenantCredentials(scope: string, limit: number): Promise<TenantCredentialRecord[]> {
		const max = positiveLimit(limit);
		const keys = this.keys(scope);
		const rows = (await this.store.runScript('tenant credential list', 'tenantCredentialList', LIST, [keys.used], [String(max), keys.record])) as unknown[][];
		return rows.map((row) => recordOf(scope, row));
	}

	private keys(scope: string): ScopeKeys {
		// Hashed: a scope is a URL (any length, any characters).
		const base = `${this.store.prefix}tc:${hashLockKey(scope)}:`;
		return {
			record: `${base}cred:`,
			active: `${base}active`,
			due: `${base}due`,
			claimed: `${base}claimed`,
			used: `${base}used`,
			tenant: (tenantId) => `${base}tenant:${hashLockKey(tenantId)}`,
		};
	}
}

function recordOf(scope: string, row: unknown[]): TenantCredentialRecord {
	const [credentialId, name, credentialType, tenantId, state, used, busy, retention, retired, projectId] = row.map((value) => String(value ?? ''));
	return {
		scope,
		name,
		credentialId,
		credentialType,
		tenantId,
		projectId: projectId === '' ? undefined : projectId,
		state: state === 'active' ? 'active' : 'retiring',
		lastUsedAt: new Date(Number(used)),
		busyUntil: new Date(Number(busy)),
		retentionMs: Number(retention),
		retiredAt: retired === '' ? undefined : new Date(Number(retired)),
	};
}
