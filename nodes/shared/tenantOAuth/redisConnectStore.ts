import type { RedisLockEngine, RedisStoreAccess } from '../lock/RedisLockEngine';
import { hashLockKey } from '../lock/StoreLockEngine';
import type { ConnectStorage, StoredConnection, TicketKind, TicketRedemption } from './types';

/*
 * Keys, under the lock engine's prefix P (`tenant-swap:` by default):
 *
 *   P oc:<kind>:<token hash>        the ticket's payload (JSON), expires with the ticket (PX TTL);
 *                                   deleted when used
 *   P oc:<kind>:<token hash>:mark   `open|used` `|<expiry ms>|<forget ms>`: outlives the payload by the
 *                                   grace (PX TTL + grace), so used and expired differ from unknown
 *   P oc:conn:<SHA-256 of [app, tenant]>  the connection (JSON), no expiry: kept until forgotten
 *
 * <kind> is link or auth, the token hash a SHA-256 in hex; tenant and app IDs are only in values.
 * Scripts are atomic and take time from Redis (TIME), like the lock's: one Redis, not a cluster.
 */

const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

// KEYS: payload, mark. ARGV: payload, ttl ms, grace ms, ttl + grace ms.
const ISSUE = `${NOW}
if redis.call('EXISTS', KEYS[2]) == 1 then return false end
local exp = now + tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], 'open|' .. string.format('%d', exp) .. '|' .. string.format('%d', exp + tonumber(ARGV[3])), 'PX', ARGV[4])
return exp`;

// KEYS: payload, mark. Reply: {'ok', payload} or {reason}.
const REDEEM = `${NOW}
local mark = redis.call('GET', KEYS[2])
if not mark then return {'unknown'} end
local state, exp, forget = string.match(mark, '^(%a+)|(%d+)|(%d+)$')
if not state or now >= tonumber(forget) then return {'unknown'} end
if now >= tonumber(exp) then
  redis.call('DEL', KEYS[1])
  return {'expired'}
end
if state ~= 'open' then return {'used'} end
local payload = redis.call('GET', KEYS[1])
if not payload then return {'expired'} end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], 'used|' .. exp .. '|' .. forget)
redis.call('PEXPIREAT', KEYS[2], forget)
return {'ok', payload}`;

// KEYS: connection. ARGV: JSON.
const SAVE = `redis.call('SET', KEYS[1], ARGV[1])
return 1`;

// KEYS: connection.
const READ = `return redis.call('GET', KEYS[1])`;

// KEYS: connection. What was there, deleted in the same step.
const FORGET = `local found = redis.call('GET', KEYS[1])
if found then redis.call('DEL', KEYS[1]) end
return found`;

/** The connect store in the lock's Redis, on the lock engine's connection and key prefix (layout above). */
export class RedisConnectStorage implements ConnectStorage {
	private readonly store: RedisStoreAccess;

	constructor(engine: RedisLockEngine) {
		this.store = engine.storeAccess();
	}

	async issueTicket(kind: TicketKind, hash: string, payload: string, ttlMs: number, graceMs: number): Promise<Date> {
		const keys = this.ticketKeys(kind, hash);
		const expiresAt = await this.store.runScript('connect ticket issue', 'connectTicketIssue', ISSUE, keys, [
			payload,
			String(ttlMs),
			String(graceMs),
			String(ttlMs + graceMs),
		]);
		if (typeof expiresAt !== 'number') throw new Error('A connect token was issued twice (random token collision)');
		return new Date(expiresAt);
	}

	async redeemTicket(kind: TicketKind, hash: string): Promise<TicketRedemption> {
		const reply = (await this.store.runScript('connect ticket redeem', 'connectTicketRedeem', REDEEM, this.ticketKeys(kind, hash), [])) as unknown[];
		const [answer, payload] = reply.map((value) => String(value));
		if (answer === 'ok') return { ok: true, payload };
		if (answer === 'used' || answer === 'expired') return { ok: false, reason: answer };
		return { ok: false, reason: 'unknown' };
	}

	async readConnection(tenantId: string, appId: string): Promise<StoredConnection | undefined> {
		const found = await this.store.runScript('tenant connection read', 'tenantConnectionRead', READ, [this.connectionKey(tenantId, appId)], []);
		return connectionOf(found, tenantId, appId);
	}

	async writeConnection(connection: StoredConnection): Promise<void> {
		await this.store.runScript('tenant connection save', 'tenantConnectionSave', SAVE, [this.connectionKey(connection.tenantId, connection.appId)], [
			JSON.stringify(connection),
		]);
	}

	async deleteConnection(tenantId: string, appId: string): Promise<StoredConnection | undefined> {
		const found = await this.store.runScript('tenant connection forget', 'tenantConnectionForget', FORGET, [this.connectionKey(tenantId, appId)], []);
		return connectionOf(found, tenantId, appId);
	}

	private ticketKeys(kind: TicketKind, hash: string): string[] {
		const payload = `${this.store.prefix}oc:${kind}:${hash}`;
		return [payload, `${payload}:mark`];
	}

	private connectionKey(tenantId: string, appId: string): string {
		// Hashed: tenant and app IDs are any text of any length.
		return `${this.store.prefix}oc:conn:${hashLockKey(JSON.stringify([appId, tenantId]))}`;
	}
}

function connectionOf(found: unknown, tenantId: string, appId: string): StoredConnection | undefined {
	if (found === null || found === undefined) return undefined;
	const stored = JSON.parse(String(found)) as StoredConnection;
	if (stored.tenantId !== tenantId || stored.appId !== appId || typeof stored.credentialId !== 'string' || typeof stored.connectedAtMs !== 'number') {
		throw new Error('The connect store holds a connection under another tenant\'s key');
	}
	return stored;
}
