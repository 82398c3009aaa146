import type { ConnectStorage, StoredConnection, TicketKind, TicketRedemption } from './types';

/** Open and remembered tickets one process holds at most; beyond, new ones are refused. */
export const MAX_MEMORY_TICKETS = 10_000;
/** Connections one process holds at most (they stay until forgotten). */
export const MAX_MEMORY_CONNECTIONS = 100_000;
/** Expired tickets are swept (by an issue) this often at most, and whenever the store is full. */
const SWEEP_EVERY_MS = 1000;

interface Ticket {
	kind: TicketKind;
	/** Dropped when used or found expired. */
	payload?: string;
	used: boolean;
	expiresAt: number;
	forgetAt: number;
}

/**
 * The connect store of the In-Memory lock backend (one n8n process), bounded. Every method does its
 * work without an await in between, so each is one atomic step, as on the stores.
 */
export class MemoryConnectStorage implements ConnectStorage {
	private readonly tickets = new Map<string, Ticket>();
	private readonly connections = new Map<string, StoredConnection>();
	private lastSweep: number;

	constructor(
		private readonly now: () => number = Date.now,
		private readonly maxTickets = MAX_MEMORY_TICKETS,
		private readonly maxConnections = MAX_MEMORY_CONNECTIONS,
	) {
		this.lastSweep = now();
	}

	async issueTicket(kind: TicketKind, hash: string, payload: string, ttlMs: number, graceMs: number): Promise<Date> {
		const now = this.now();
		if (this.tickets.size >= this.maxTickets || now - this.lastSweep >= SWEEP_EVERY_MS) this.sweep(now);
		if (this.tickets.size >= this.maxTickets) {
			throw new Error(`The in-memory connect store holds ${this.maxTickets} open links and authorizations: try again later, or use a PostgreSQL or Redis lock store`);
		}
		if (this.tickets.has(hash)) throw new Error('A connect token was issued twice (random token collision)');
		const expiresAt = now + ttlMs;
		this.tickets.set(hash, { kind, payload, used: false, expiresAt, forgetAt: expiresAt + graceMs });
		return new Date(expiresAt);
	}

	async redeemTicket(kind: TicketKind, hash: string): Promise<TicketRedemption> {
		const now = this.now();
		const ticket = this.tickets.get(hash);
		if (!ticket || ticket.kind !== kind) return { ok: false, reason: 'unknown' };
		if (ticket.forgetAt <= now) {
			this.tickets.delete(hash);
			return { ok: false, reason: 'unknown' };
		}
		if (ticket.expiresAt <= now) {
			ticket.payload = undefined;
			return { ok: false, reason: 'expired' };
		}
		if (ticket.used || ticket.payload === undefined) return { ok: false, reason: 'used' };
		const payload = ticket.payload;
		ticket.used = true;
		ticket.payload = undefined;
		return { ok: true, payload };
	}

	async readConnection(tenantId: string, appId: string): Promise<StoredConnection | undefined> {
		const found = this.connections.get(connectionKey(tenantId, appId));
		return found && { ...found };
	}

	async writeConnection(connection: StoredConnection): Promise<void> {
		const key = connectionKey(connection.tenantId, connection.appId);
		if (!this.connections.has(key) && this.connections.size >= this.maxConnections) {
			throw new Error(`The in-memory connect store holds ${this.maxConnections} connections: use a PostgreSQL or Redis lock store`);
		}
		this.connections.set(key, { ...connection });
	}

	async deleteConnection(tenantId: string, appId: string): Promise<StoredConnection | undefined> {
		const key = connectionKey(tenantId, appId);
		const found = this.connections.get(key);
		this.connections.delete(key);
		return found;
	}

	/** How many tickets are held (tests: the store stays bounded). */
	get ticketCount(): number {
		return this.tickets.size;
	}

	private sweep(now: number): void {
		this.lastSweep = now;
		for (const [hash, ticket] of this.tickets) {
			if (ticket.forgetAt <= now) this.tickets.delete(hash);
			else if (ticket.expiresAt <= now) ticket.payload = undefined;
		}
	}
}

/** Unambiguous for any strings: JSON of the pair. */
function connectionKey(tenantId: string, appId: string): string {
	return JSON.stringify([tenantId, appId]);
}
