import { MemoryLockEngine } from '../lock/MemoryLockEngine';
import { PostgresLockEngine } from '../lock/postgres';
import { RedisLockEngine } from '../lock/RedisLockEngine';
import type { LockStore } from '../lock/types';
import { MemoryConnectStorage } from './memoryConnectStore';
import { PostgresConnectStorage } from './postgresConnectStore';
import { RedisConnectStorage } from './redisConnectStore';
import { isWellFormedToken, newToken, tokenHash } from './tokens';
import type {
	AuthorizationCompletion,
	ConnectLinkTarget,
	ConnectStorage,
	ConnectStore,
	LinkUse,
	PendingAuthorization,
	StoredConnection,
	TenantConnection,
	TicketKind,
} from './types';

/** Links are sent by e-mail or chat at most: a month is plenty. */
export const MAX_CONNECT_TTL_MS = 30 * 24 * 60 * 60 * 1000;
/** IDs and types stored as data: generous, but bounded. */
export const MAX_CONNECT_FIELD_LENGTH = 1024;
const MIN_GRACE_MS = 60_000;
const MAX_GRACE_MS = 60 * 60 * 1000;
/** RFC 7636 section 4.1: 43 to 128 unreserved characters. */
const CODE_VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * How long an expired ticket is still answered `expired` (then `unknown`): as long again as its TTL,
 * at least 1 minute, at most 1 hour. Tables and keys hold a ticket for its TTL plus this, no longer.
 */
export function expiredGraceMs(ttlMs: number): number {
	return Math.min(Math.max(ttlMs, MIN_GRACE_MS), MAX_GRACE_MS);
}

export interface ConnectStoreOptions {
	/** Replaces expiredGraceMs (tests). */
	graceMs?: (ttlMs: number) => number;
}

/** One connect store per lock engine (PostgreSQL: it remembers that its tables exist). */
const stores = new WeakMap<LockStore, ConnectStore>();

/** The connect store kept in this lock store: the lock engine's pool or Redis client, or its process's memory. */
export function connectStoreFor(store: LockStore): ConnectStore {
	let connectStore = stores.get(store);
	if (!connectStore) {
		connectStore = new TenantConnectStore(connectStorageOf(store));
		stores.set(store, connectStore);
	}
	return connectStore;
}

/** A new backend for the lock store (connectStoreFor keeps one per lock store; tests make their own). */
export function connectStorageOf(store: LockStore): ConnectStorage {
	if (store instanceof PostgresLockEngine) return new PostgresConnectStorage(store);
	if (store instanceof RedisLockEngine) return new RedisConnectStorage(store);
	if (store instanceof MemoryLockEngine) return new MemoryConnectStorage();
	throw new Error(`No connect store for the "${store.backend}" lock store ${store.constructor.name}`);
}

/**
 * The contract on any backend: makes the tokens (only their hashes reach the backend), checks what
 * goes in (programming errors throw) and what comes out of a ticket (hostile tokens are `unknown`
 * without a round trip).
 */
export class TenantConnectStore implements ConnectStore {
	private readonly graceMs: (ttlMs: number) => number;

	constructor(
		private readonly storage: ConnectStorage,
		options: ConnectStoreOptions = {},
	) {
		this.graceMs = options.graceMs ?? expiredGraceMs;
	}

	async createLink(target: ConnectLinkTarget, ttlMs: number): Promise<{ token: string; expiresAt: Date }> {
		const payload = JSON.stringify({ tenantId: field('tenantId', target?.tenantId), appId: field('appId', target?.appId) });
		const { token, expiresAt } = await this.issue('link', payload, ttlMs);
		return { token, expiresAt };
	}

	async useLink(token: unknown): Promise<LinkUse> {
		const redeemed = await this.redeem('link', token);
		if (!redeemed.ok) return redeemed;
		const { tenantId, appId } = storedFields(redeemed.payload, ['tenantId', 'appId']);
		return { ok: true, target: { tenantId, appId } };
	}

	async startAuthorization(pending: PendingAuthorization, ttlMs: number): Promise<{ state: string; expiresAt: Date }> {
		if (typeof pending?.codeVerifier !== 'string' || !CODE_VERIFIER.test(pending.codeVerifier)) {
			throw new TypeError('The code verifier must be 43 to 128 unreserved characters (RFC 7636)');
		}
		if (typeof pending.browserKeyHash !== 'string' || !SHA256_HEX.test(pending.browserKeyHash)) {
			throw new TypeError('The browser key hash must be a SHA-256 in lower-case hex (browserKeyHash)');
		}
		const payload = JSON.stringify({
			tenantId: field('tenantId', pending.tenantId),
			appId: field('appId', pending.appId),
			codeVerifier: pending.codeVerifier,
			browserKeyHash: pending.browserKeyHash,
		});
		const { token, expiresAt } = await this.issue('auth', payload, ttlMs);
		return { state: token, expiresAt };
	}

	async completeAuthorization(state: unknown): Promise<AuthorizationCompletion> {
		const redeemed = await this.redeem('auth', state);
		if (!redeemed.ok) return redeemed;
		const pending = storedFields(redeemed.payload, ['tenantId', 'appId', 'codeVerifier', 'browserKeyHash']);
		return { ok: true, pending };
	}

	async connectionOf(tenantId: string, appId: string): Promise<TenantConnection | undefined> {
		const stored = await this.storage.readConnection(field('tenantId', tenantId), field('appId', appId));
		return stored && connectionOf(stored);
	}

	async saveConnection(connection: TenantConnection): Promise<void> {
		const connectedAtMs = connection?.connectedAt instanceof Date ? connection.connectedAt.getTime() : Number.NaN;
		if (!Number.isFinite(connectedAtMs)) throw new TypeError('The connection needs a valid connectedAt date');
		await this.storage.writeConnection({
			tenantId: field('tenantId', connection.tenantId),
			appId: field('appId', connection.appId),
			credentialId: field('credentialId', connection.credentialId),
			credentialType: field('credentialType', connection.credentialType),
			connectedAtMs,
		});
	}

	async forgetConnection(tenantId: string, appId: string): Promise<TenantConnection | undefined> {
		const stored = await this.storage.deleteConnection(field('tenantId', tenantId), field('appId', appId));
		return stored && connectionOf(stored);
	}

	private async issue(kind: TicketKind, payload: string, ttlMs: number): Promise<{ token: string; expiresAt: Date }> {
		if (!Number.isInteger(ttlMs) || ttlMs < 1 || ttlMs > MAX_CONNECT_TTL_MS) {
			throw new RangeError(`The TTL must be a whole number of milliseconds from 1 to ${MAX_CONNECT_TTL_MS} (got ${String(ttlMs)})`);
		}
		const token = newToken();
		const expiresAt = await this.storage.issueTicket(kind, tokenHash(token), payload, ttlMs, Math.ceil(this.graceMs(ttlMs)));
		return { token, expiresAt };
	}

	private async redeem(kind: TicketKind, token: unknown) {
		// Not the shape of our tokens (wrong type, length or characters): never ours, no round trip.
		if (!isWellFormedToken(token)) return { ok: false as const, reason: 'unknown' as const };
		return await this.storage.redeemTicket(kind, tokenHash(token));
	}
}

function field(name: string, value: unknown): string {
	if (typeof value !== 'string' || value.length === 0 || value.length > MAX_CONNECT_FIELD_LENGTH) {
		throw new TypeError(`The ${name} must be a string of 1 to ${MAX_CONNECT_FIELD_LENGTH} characters`);
	}
	// PostgreSQL's text cannot hold it: refused on every backend alike.
	if (value.includes('\u0000')) throw new TypeError(`The ${name} must not contain a NUL character`);
	return value;
}

/** The payload a ticket was issued with; a store holding something else is broken, not hostile input. */
function storedFields<K extends string>(payload: string, names: K[]): Record<K, string> {
	let parsed: unknown;
	try {
		parsed = JSON.parse(payload);
	} catch {
		parsed = undefined;
	}
	const out = {} as Record<K, string>;
	for (const name of names) {
		const value = (parsed as Record<string, unknown> | undefined)?.[name];
		if (typeof value !== 'string') throw new Error(`The connect store returned a ticket without its ${name}`);
		out[name] = value;
	}
	return out;
}

function connectionOf(stored: StoredConnection): TenantConnection {
	return {
		tenantId: stored.tenantId,
		appId: stored.appId,
		credentialId: stored.credentialId,
		credentialType: stored.credentialType,
		connectedAt: new Date(stored.connectedAtMs),
	};
}
