/**
 * The Lua scripts of the Redis lock, one per step, so each step is atomic. Key names come from
 * RedisKeyLayout (keys.ts) as KEYS, or as name prefixes in ARGV for keys a script finds by hash.
 * A lease hash records the name of its owner index (`index`, given as a KEY at acquire), so release
 * and extend reach it without rebuilding it. Time is Redis's own (TIME).
 */

const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

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

/** Records a release: the token's tombstone lives the lease's remaining time plus `margin` ms. */
const TOMBSTONE = `local function tombstone(name, lease, hash, margin)
  local left = redis.call('PTTL', lease)
  if left < 0 then left = 0 end
  redis.call('SET', name, hash, 'PX', left + margin)
end`;

/** Where a lease's owner index is, if the lease names it (leases of versions before it do not). */
const UNINDEX = `local function unindex(index, hash)
  if index and index ~= '' then redis.call('SREM', index, hash) end
end`;

// KEYS: lease, fence counter, legacy per-key fence, owner index, queue, tickets.
// ARGV: token, execution, workflow, tenant, key, ttl, hash, ticket ('' = one try), ticket lease, fair (1/0), instance
// A key held by anyone is not free, even for the same execution: re-entry is by token (LockClient).
export const ACQUIRE = `${NOW}
${FIRST_LIVE}
local ttl = tonumber(ARGV[6])
local ticket = ARGV[8]
local function wait_in_queue()
  if ticket == '' then return end
  if not redis.call('ZSCORE', KEYS[5], ticket) then
    local last = redis.call('ZRANGE', KEYS[5], -1, -1, 'WITHSCORES')
    redis.call('ZADD', KEYS[5], #last > 0 and tonumber(last[2]) + 1 or 1, ticket)
  end
  local lease = tonumber(ARGV[9])
  redis.call('HSET', KEYS[6], ticket, now + lease)
  redis.call('PEXPIRE', KEYS[5], lease * 2)
  redis.call('PEXPIRE', KEYS[6], lease * 2)
end
local cur = redis.call('HMGET', KEYS[1], 'token', 'execution', 'workflow', 'tenant', 'acquired', 'instance')
if cur[1] then
  wait_in_queue()
  local pttl = redis.call('PTTL', KEYS[1])
  return {0, cur[2], cur[3] or '', cur[4] or '', cur[5], pttl, now + pttl, cur[6] or ''}
end
if ARGV[10] == '1' then
  local ahead, ends = first_live(KEYS[5], KEYS[6], now, ticket)
  if ahead then
    wait_in_queue()
    return {2, ends - now}
  end
end
local fence = redis.call('INCR', KEYS[2])
-- A key fenced by an earlier version's own counter: continue above it, once, then drop that counter.
local legacy = redis.call('GET', KEYS[3])
if legacy then
  local above = tonumber(legacy) + 1
  if above > fence then
    fence = above
    redis.call('SET', KEYS[2], fence)
  end
  redis.call('DEL', KEYS[3])
end
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'fence', fence, 'execution', ARGV[2], 'workflow', ARGV[3],
  'tenant', ARGV[4], 'key', ARGV[5], 'acquired', now, 'instance', ARGV[11], 'index', KEYS[4])
redis.call('PEXPIRE', KEYS[1], ttl)
if ticket ~= '' then
  redis.call('ZREM', KEYS[5], ticket)
  redis.call('HDEL', KEYS[6], ticket)
end
redis.call('SADD', KEYS[4], ARGV[7])
if redis.call('PTTL', KEYS[4]) < ttl then redis.call('PEXPIRE', KEYS[4], ttl) end
return {1, ARGV[1], fence, now, now + ttl, 0}`;

// KEYS: lease, queue, tickets, tombstone. ARGV: token, channel, hash, tombstone margin ms
// The message names the oldest live ticket ("<hash> <ticket>"): only that waiter wakes.
export const RELEASE = `${NOW}
${FIRST_LIVE}
${TOMBSTONE}
${UNINDEX}
local cur = redis.call('HMGET', KEYS[1], 'token', 'acquired', 'index')
if cur[1] ~= ARGV[1] then return {0} end
tombstone(KEYS[4], KEYS[1], ARGV[3], tonumber(ARGV[4]))
redis.call('DEL', KEYS[1])
unindex(cur[3], ARGV[3])
local turn = first_live(KEYS[2], KEYS[3], now, '')
redis.call('PUBLISH', ARGV[2], turn and (ARGV[3] .. ' ' .. turn) or ARGV[3])
return {1, now - tonumber(cur[2]), turn or ''}`;

// KEYS: owner index. ARGV: execution, channel, instance ('' = none), tombstone margin ms,
// then the name prefixes of lease, queue, tickets and tombstone keys (RedisKeyLayout.insideScripts).
export const RELEASE_EXECUTION = `${NOW}
${FIRST_LIVE}
${TOMBSTONE}
local out = {}
for _, hash in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local lease = ARGV[5] .. hash
  local cur = redis.call('HMGET', lease, 'execution', 'key', 'acquired', 'instance', 'token')
  if cur[1] == ARGV[1] and (cur[4] or '') == ARGV[3] then
    tombstone(ARGV[8] .. cur[5], lease, hash, tonumber(ARGV[4]))
    redis.call('DEL', lease)
    local turn = first_live(ARGV[6] .. hash, ARGV[7] .. hash, now, '')
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
export const WITHDRAW = `${NOW}
${FIRST_LIVE}
local was_first = redis.call('ZSCORE', KEYS[2], ARGV[1]) and not first_live(KEYS[2], KEYS[3], now, ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
if was_first and redis.call('EXISTS', KEYS[1]) == 0 then
  local turn = first_live(KEYS[2], KEYS[3], now, '')
  if turn then redis.call('PUBLISH', ARGV[2], ARGV[3] .. ' ' .. turn) end
end
return 1`;

// KEYS: lease, tombstone. ARGV: token, ttl, hash
// {2}: the token's release is recorded; {0}: any other absence (expired, taken over, Redis forgot it).
// The owner index must outlive every lease it lists, or "release the owner's locks" finds nothing.
export const EXTEND = `${NOW}
local cur = redis.call('HMGET', KEYS[1], 'token', 'fence', 'execution', 'workflow', 'tenant', 'acquired', 'instance', 'index')
if cur[1] ~= ARGV[1] then
  if redis.call('EXISTS', KEYS[2]) == 1 then return {2} end
  return {0}
end
local ttl = tonumber(ARGV[2])
redis.call('PEXPIRE', KEYS[1], ttl)
local index = cur[8]
if index and index ~= '' then
  redis.call('SADD', index, ARGV[3])
  if redis.call('PTTL', index) < ttl then redis.call('PEXPIRE', index, ttl) end
end
return {1, cur[2], cur[3], cur[4] or '', cur[5] or '', cur[6], now + ttl, cur[7] or ''}`;

// KEYS: lease, tickets. The lease with its remaining time and the number of live tickets.
export const DESCRIBE = `${NOW}
local cur = redis.call('HMGET', KEYS[1], 'token', 'fence', 'execution', 'workflow', 'tenant', 'acquired', 'instance', 'key')
if not cur[1] then return {0} end
local waiting = 0
for _, ends in ipairs(redis.call('HVALS', KEYS[2])) do
  if tonumber(ends) > now then waiting = waiting + 1 end
end
return {1, cur[1], cur[2], cur[3], cur[4] or '', cur[5] or '', cur[6], cur[7] or '', cur[8] or '', now + redis.call('PTTL', KEYS[1]), waiting}`;

// KEYS: lease.
export const HOLDER = `${NOW}
local cur = redis.call('HMGET', KEYS[1], 'execution', 'workflow', 'tenant', 'acquired', 'instance')
if not cur[1] then return {0} end
return {1, cur[1], cur[2] or '', cur[3] or '', cur[4], now + redis.call('PTTL', KEYS[1]), cur[5] or ''}`;

const SCRIPT_NAMES = new Map<string, string>([
	[ACQUIRE, 'tenantSwapAcquire'],
	[RELEASE, 'tenantSwapRelease'],
	[RELEASE_EXECUTION, 'tenantSwapReleaseExecution'],
	[EXTEND, 'tenantSwapExtend'],
	[HOLDER, 'tenantSwapHolder'],
	[DESCRIBE, 'tenantSwapDescribe'],
	[WITHDRAW, 'tenantSwapWithdraw'],
]);

/** The command name ioredis defines for a script (unique per script on a client). */
export function scriptName(script: string): string {
	return SCRIPT_NAMES.get(script) as string;
}
