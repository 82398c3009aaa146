/**
 * The connect store (issue 19): one-time connect links, pending authorizations (the PKCE verifier
 * and browser binding between Start and Complete) and the tenants' connections, kept in the lock
 * store so every n8n process sees the same. Links and pending authorizations are single use and
 * expire; only SHA-256 hashes of their tokens are stored.
 */

/**
 * Why a link or state was refused:
 * - `unknown`: never issued, not a token of ours, or expired longer ago than the store remembers
 *   (the expiry grace: as long again as its TTL, at least 1 minute, at most 1 hour; see
 *   expiredGraceMs);
 * - `expired`: issued, its TTL is over (whether it was used or not);
 * - `used`: used once already, and not yet expired.
 */
export type ConnectRefusal = 'unknown' | 'expired' | 'used';

export interface ConnectLinkTarget {
	tenantId: string;
	/**
	 * Which app (OAuth2 client) the tenant connects to. Chosen by the node; it should name the n8n
	 * instance too when several instances share one lock store (credential IDs are per instance).
	 */
	appId: string;
}

export interface PendingAuthorization extends ConnectLinkTarget {
	/** The PKCE verifier: kept only until the state is used or expires. */
	codeVerifier: string;
	/** browserKeyHash of the browser key cookie set at Start. */
	browserKeyHash: string;
}

export interface TenantConnection extends ConnectLinkTarget {
	credentialId: string;
	credentialType: string;
	connectedAt: Date;
}

export type LinkUse = { ok: true; target: ConnectLinkTarget } | { ok: false; reason: ConnectRefusal };
export type AuthorizationCompletion = { ok: true; pending: PendingAuthorization } | { ok: false; reason: ConnectRefusal };

export interface ConnectStore {
	/** A new one-time link token for the target, valid `ttlMs` (by the store's clock). */
	createLink(target: ConnectLinkTarget, ttlMs: number): Promise<{ token: string; expiresAt: Date }>;
	/** Uses the link: of any number of concurrent calls with one token, exactly one gets ok. Any input is safe. */
	useLink(token: unknown): Promise<LinkUse>;
	/** A new state for the pending authorization, valid `ttlMs`. */
	startAuthorization(pending: PendingAuthorization, ttlMs: number): Promise<{ state: string; expiresAt: Date }>;
	/** Uses the state: of any number of concurrent calls with one state, exactly one gets ok. Any input is safe. */
	completeAuthorization(state: unknown): Promise<AuthorizationCompletion>;
	connectionOf(tenantId: string, appId: string): Promise<TenantConnection | undefined>;
	/** Creates or replaces the connection of (tenantId, appId). */
	saveConnection(connection: TenantConnection): Promise<void>;
	/** Deletes the connection and returns it (undefined when there was none), in one atomic step. */
	forgetConnection(tenantId: string, appId: string): Promise<TenantConnection | undefined>;
}

/** The two kinds of single-use tickets; a token of one kind is unknown as the other. */
export type TicketKind = 'link' | 'auth';

/** A ticket's redemption as a store answers it: the payload issued with it, or why not. */
export type TicketRedemption = { ok: true; payload: string } | { ok: false; reason: ConnectRefusal };

/** A connection as the stores keep it (connectedAt in ms since the epoch). */
export interface StoredConnection {
	tenantId: string;
	appId: string;
	credentialId: string;
	credentialType: string;
	connectedAtMs: number;
}

/**
 * What each backend implements (PostgreSQL, Redis, memory); connectStore.ts makes tokens, checks
 * input and turns payloads into the contract's types. Backends see token hashes only.
 */
export interface ConnectStorage {
	/**
	 * Stores a ticket: live for `ttlMs`, then answered `expired` for `graceMs`, then forgotten
	 * (`unknown`). Returns its expiry by the store's clock.
	 */
	issueTicket(kind: TicketKind, hash: string, payload: string, ttlMs: number, graceMs: number): Promise<Date>;
	/**
	 * One atomic step: a live, unused ticket becomes used (its payload is dropped, a tombstone stays
	 * until its expiry) and its payload is returned; otherwise the reason.
	 */
	redeemTicket(kind: TicketKind, hash: string): Promise<TicketRedemption>;
	readConnection(tenantId: string, appId: string): Promise<StoredConnection | undefined>;
	writeConnection(connection: StoredConnection): Promise<void>;
	/** Deletes and returns the connection in one atomic step. */
	deleteConnection(tenantId: string, appId: string): Promise<StoredConnection | undefined>;
}
