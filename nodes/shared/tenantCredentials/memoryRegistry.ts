import { randomBytes } from 'node:crypto';

import { credentialIdBatch, durationMs, nonEmpty, positiveLimit } from './checks';
import type { LiveTenantCredentialCounts, NewTenantCredential, TenantCredentialRecord, TenantCredentialRegistry } from './registryTypes';

interface Entry {
	name: string;
	credentialType: string;
	tenantId: string;
	projectId?: string;
	state: 'active' | 'retiring';
	lastUsedAt: number;
	busyUntil: number;
	retentionMs: number;
	/** Undefined while retiring only because register replaced it: no sweep has claimed it yet. */
	retiredAt?: number;
}

interface Scope {
	byId: Map<string, Entry>;
	/** name -> credential ID of its active record. */
	active: Map<string, string>;
}

/**
 * The registry of the In-Memory lock backend (one n8n process). Every method does its work without
 * an await in between, so each is one atomic step, as on the stores.
 */
export class MemoryTenantCredentialRegistry implements TenantCredentialRegistry {
	/**
	 * One In-Memory lock store per n8n process: the same tag after a restart, so the orphan pass deletes
	 * the credentials the lost records named (their names, from the lost secret, are never found again).
	 */
	readonly storeIdentity = 'memory';
	private readonly scopes = new Map<string, Scope>();
	private readonly secret = randomBytes(32).toString('base64url');

	constructor(private readonly now: () => number = Date.now) {}

	async contentKey(): Promise<string> {
		return this.secret;
	}

	async countLiveTenantCredentials(scope: string, tenantId: string, atMost: number): Promise<LiveTenantCredentialCounts> {
		const max = positiveLimit(atMost);
		const found = this.scopes.get(scope);
		if (!found) return { total: 0, tenant: 0 };
		let tenant = 0;
		for (const entry of found.byId.values()) {
			if (entry.tenantId === tenantId && ++tenant >= max) break;
		}
		return { total: Math.min(found.byId.size, max), tenant };
	}

	async useTenantCredential(scope: string, name: string, busyMs: number, retentionMs: number): Promise<string | undefined> {
		const busy = durationMs('Busy time', busyMs);
		const retention = durationMs('Retention', retentionMs);
		const found = this.scopes.get(scope);
		const id = found?.active.get(name);
		const entry = id === undefined ? undefined : found?.byId.get(id);
		if (!entry || entry.state !== 'active') return undefined;
		const now = this.now();
		entry.lastUsedAt = now;
		entry.busyUntil = Math.max(entry.busyUntil, now + busy);
		entry.retentionMs = retention;
		return id;
	}

	async registerTenantCredential(record: NewTenantCredential, busyMs: number): Promise<void> {
		const busy = durationMs('Busy time', busyMs);
		const retention = durationMs('Retention', record.retentionMs);
		for (const field of ['scope', 'name', 'credentialId', 'credentialType', 'tenantId'] as const) nonEmpty(field, record[field]);
		const scope = this.scope(record.scope);
		const oldId = scope.active.get(record.name);
		const old = oldId === undefined || oldId === record.credentialId ? undefined : scope.byId.get(oldId);
		if (old) {
			// Kept (with its busyUntil) for the sweep to delete, not dropped: its credential exists in n8n.
			old.state = 'retiring';
			old.retiredAt = undefined;
		}
		const previous = scope.byId.get(record.credentialId);
		if (previous && previous.name !== record.name && scope.active.get(previous.name) === record.credentialId) scope.active.delete(previous.name);
		const now = this.now();
		scope.byId.set(record.credentialId, {
			name: record.name,
			credentialType: record.credentialType,
			tenantId: record.tenantId,
			projectId: record.projectId,
			state: 'active',
			lastUsedAt: now,
			busyUntil: now + busy,
			retentionMs: retention,
		});
		scope.active.set(record.name, record.credentialId);
	}

	async keepTenantCredentialsBusy(scope: string, names: string[], busyMs: number): Promise<void> {
		const busy = durationMs('Busy time', busyMs);
		const found = this.scopes.get(scope);
		if (!found) return;
		const until = this.now() + busy;
		for (const name of names) {
			const id = found.active.get(name);
			const entry = id === undefined ? undefined : found.byId.get(id);
			if (entry?.state === 'active') entry.busyUntil = Math.max(entry.busyUntil, until);
		}
	}

	async retireUnusedTenantCredentials(scope: string, limit: number, staleRetiringMs: number): Promise<TenantCredentialRecord[]> {
		const max = positiveLimit(limit);
		const stale = durationMs('Stale retiring time', staleRetiringMs);
		const found = this.scopes.get(scope);
		if (!found) return [];
		const now = this.now();
		const retired: TenantCredentialRecord[] = [];
		const candidates = [...found.byId].sort(([, a], [, b]) => a.lastUsedAt - b.lastUsedAt);
		for (const [id, entry] of candidates) {
			if (retired.length >= max) break;
			if (!retirable(entry, now, stale)) continue;
			if (entry.state === 'active' && found.active.get(entry.name) === id) found.active.delete(entry.name);
			entry.state = 'retiring';
			entry.retiredAt = now;
			retired.push(recordOf(scope, id, entry));
		}
		return retired;
	}

	async retireTenantCredentialsOf(scope: string, tenantId: string, limit: number): Promise<TenantCredentialRecord[]> {
		const max = positiveLimit(limit);
		nonEmpty('tenantId', tenantId);
		const found = this.scopes.get(scope);
		if (!found) return [];
		const now = this.now();
		const retired: TenantCredentialRecord[] = [];
		for (const [id, entry] of found.byId) {
			if (retired.length >= max) break;
			if (entry.tenantId !== tenantId) continue;
			if (found.active.get(entry.name) === id) found.active.delete(entry.name);
			entry.state = 'retiring';
			entry.retiredAt = now;
			retired.push(recordOf(scope, id, entry));
		}
		return retired;
	}

	async forgetTenantCredential(scope: string, credentialId: string): Promise<void> {
		const found = this.scopes.get(scope);
		const entry = found?.byId.get(credentialId);
		if (!found || !entry) return;
		if (found.active.get(entry.name) === credentialId) found.active.delete(entry.name);
		found.byId.delete(credentialId);
		if (found.byId.size === 0) this.scopes.delete(scope);
	}

	async knownTenantCredentialIds(scope: string, credentialIds: string[]): Promise<Set<string>> {
		const ids = credentialIdBatch(credentialIds);
		const found = this.scopes.get(scope);
		return new Set(found ? ids.filter((id) => found.byId.has(id)) : []);
	}

	async listTenantCredentials(scope: string, limit: number): Promise<TenantCredentialRecord[]> {
		const max = positiveLimit(limit);
		const found = this.scopes.get(scope);
		if (!found) return [];
		return [...found.byId]
			.sort(([, a], [, b]) => b.lastUsedAt - a.lastUsedAt)
			.slice(0, max)
			.map(([id, entry]) => recordOf(scope, id, entry));
	}

	private scope(scope: string): Scope {
		let found = this.scopes.get(scope);
		if (!found) {
			found = { byId: new Map(), active: new Map() };
			this.scopes.set(scope, found);
		}
		return found;
	}
}

function retirable(entry: Entry, now: number, staleMs: number): boolean {
	if (entry.busyUntil >= now) return false;
	if (entry.state === 'active') return entry.lastUsedAt + entry.retentionMs < now;
	return entry.retiredAt === undefined || entry.retiredAt < now - staleMs;
}

function recordOf(scope: string, credentialId: string, entry: Entry): TenantCredentialRecord {
	return {
		scope,
		name: entry.name,
		credentialId,
		credentialType: entry.credentialType,
		tenantId: entry.tenantId,
		projectId: entry.projectId,
		state: entry.state,
		lastUsedAt: new Date(entry.lastUsedAt),
		busyUntil: new Date(entry.busyUntil),
		retentionMs: entry.retentionMs,
		retiredAt: entry.retiredAt === undefined ? undefined : new Date(entry.retiredAt),
	};
}
