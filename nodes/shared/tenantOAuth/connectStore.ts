/**
 * STAND-IN for core's store (helper `core`, branch s8-core): the contract of oauth-design.md ("Core
 * contract"), in memory only, so the trigger compiles and its unit tests run. The lead takes core's
 * version (PostgreSQL / Redis / Memory) in its place.
 */
import type { LockStore } from '../lock';
import { isWellFormedToken, newToken, tokenHash } from './tokens';

export type ConnectRefusal = 'unknown' | 'expired' | 'used';
export interface ConnectLinkTarget {
	tenantId: string;
	appId: string;
}
export interface PendingAuthorization extends ConnectLinkTarget {
	codeVerifier: string;
	browserKeyHash: string;
}
export interface TenantConnection extends ConnectLinkTarget {
	credentialId: string;
	credentialType: string;
	connectedAt: Date;
}
export interface ConnectStore {
	createLink(target: ConnectLinkTarget, ttlMs: number): Promise<{ token: string; expiresAt: Date }>;
	useLink(token: string): Promise<{ ok: true; target: ConnectLinkTarget } | { ok: false; reason: ConnectRefusal }>;
	startAuthorization(pending: PendingAuthorization, ttlMs: number): Promise<{ state: string; expiresAt: Date }>;
	completeAuthorization(state: string): Promise<{ ok: true; pending: PendingAuthorization } | { ok: false; reason: ConnectRefusal }>;
	connectionOf(tenantId: string, appId: string): Promise<TenantConnection | undefined>;
	saveConnection(connection: TenantConnection): Promise<void>;
	forgetConnection(tenantId: string, appId: string): Promise<TenantConnection | undefined>;
}

interface Entry<T> {
	value: T;
	expiresAt: number;
	used: boolean;
}

class MemoryConnectStore implements ConnectStore {
	private readonly links = new Map<string, Entry<ConnectLinkTarget>>();
	private readonly states = new Map<string, Entry<PendingAuthorization>>();
	private readonly connections = new Map<string, TenantConnection>();

	async createLink(target: ConnectLinkTarget, ttlMs: number) {
		this.sweep();
		const token = newToken();
		const expiresAt = Date.now() + ttlMs;
		this.links.set(tokenHash(token), { value: { ...target }, expiresAt, used: false });
		return { token, expiresAt: new Date(expiresAt) };
	}

	async useLink(token: string) {
		const taken = this.take(this.links, token);
		return taken.ok ? { ok: true as const, target: taken.value } : taken;
	}

	async startAuthorization(pending: PendingAuthorization, ttlMs: number) {
		this.sweep();
		const state = newToken();
		const expiresAt = Date.now() + ttlMs;
		this.states.set(tokenHash(state), { value: { ...pending }, expiresAt, used: false });
		return { state, expiresAt: new Date(expiresAt) };
	}

	async completeAuthorization(state: string) {
		const taken = this.take(this.states, state);
		return taken.ok ? { ok: true as const, pending: taken.value } : taken;
	}

	async connectionOf(tenantId: string, appId: string) {
		return this.connections.get(JSON.stringify([tenantId, appId]));
	}

	async saveConnection(connection: TenantConnection) {
		this.connections.set(JSON.stringify([connection.tenantId, connection.appId]), { ...connection });
	}

	async forgetConnection(tenantId: string, appId: string) {
		const key = JSON.stringify([tenantId, appId]);
		const known = this.connections.get(key);
		this.connections.delete(key);
		return known;
	}

	private take<T>(entries: Map<string, Entry<T>>, token: string): { ok: true; value: T } | { ok: false; reason: ConnectRefusal } {
		if (!isWellFormedToken(token)) return { ok: false, reason: 'unknown' };
		const entry = entries.get(tokenHash(token));
		if (!entry) return { ok: false, reason: 'unknown' };
		if (entry.used) return { ok: false, reason: 'used' };
		if (entry.expiresAt <= Date.now()) return { ok: false, reason: 'expired' };
		entry.used = true;
		return { ok: true, value: entry.value };
	}

	/** Used and expired entries are kept a while (so "used" can be told apart), then dropped. */
	private sweep(): void {
		const cutoff = Date.now() - 24 * 3_600_000;
		for (const entries of [this.links, this.states] as Array<Map<string, Entry<unknown>>>) {
			for (const [key, entry] of entries) if (entry.expiresAt < cutoff) entries.delete(key);
		}
	}
}

const stores = new WeakMap<LockStore, ConnectStore>();

export function connectStoreFor(store: LockStore): ConnectStore {
	let connectStore = stores.get(store);
	if (!connectStore) {
		connectStore = new MemoryConnectStore();
		stores.set(store, connectStore);
	}
	return connectStore;
}
