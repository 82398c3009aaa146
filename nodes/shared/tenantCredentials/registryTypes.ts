/**
 * The registry of tenant credentials (Run With Tenant Credential): which n8n credential holds which
 * tenant's data, when it was last used, and whether an execution may still be using it. It lives in
 * the lock store, so every n8n process (main, workers, other instances) sees the same records.
 *
 * A record is `active` (executions may use it) or `retiring` (chosen for deletion; nobody may start
 * using it). `use` and `retire` are single atomic steps on the record, so a credential that an
 * execution marked as in use is never retired, and a retired one is never handed out again.
 */

/** One tenant credential as the registry knows it. Never credential data. */
export interface TenantCredentialRecord {
	/** The n8n instance whose API manages the credential (its API URL): IDs of two instances never mix. */
	scope: string;
	/** The credential's name in n8n: tenant + keyed HMAC of type and data (content address). */
	name: string;
	credentialId: string;
	credentialType: string;
	tenantId: string;
	state: 'active' | 'retiring';
	lastUsedAt: Date;
	/** Until then an execution may still be using the credential: it is not retired before. */
	busyUntil: Date;
	/** Unused this long, the credential is retired (each use sets it from the node's Retention option). */
	retentionMs: number;
	/**
	 * When a sweep (retireUnusedTenantCredentials) claimed it; a retirement that did not finish is
	 * picked up again later. Undefined while active, and for a record `register` replaced that no sweep
	 * has claimed yet.
	 */
	retiredAt?: Date;
}

/**
 * How many IDs one knownTenantCredentialIds call takes at most: one page of n8n's credentials list
 * (its public API returns at most 250 a page), so a call stays one short statement or script.
 */
export const MAX_KNOWN_CREDENTIAL_IDS = 250;

export interface NewTenantCredential {
	scope: string;
	name: string;
	credentialId: string;
	credentialType: string;
	tenantId: string;
	retentionMs: number;
}

export interface TenantCredentialRegistry {
	/**
	 * The active credential of this name, marked as used now and busy for `busyMs` (its retention set to
	 * `retentionMs`), in one atomic step; undefined when there is none (never created, or retiring).
	 * busyUntil never moves back (another execution may have asked for longer). Times by the store's clock.
	 */
	useTenantCredential(scope: string, name: string, busyMs: number, retentionMs: number): Promise<string | undefined>;
	/**
	 * Records a credential just created in n8n (or an existing one adopted) as the active one of its
	 * name, used now and busy for `busyMs`. An active record of the same name is replaced (callers hold
	 * the name's lock, so that only happens when its credential vanished from n8n): it becomes
	 * `retiring` without retiredAt and keeps its busyUntil: a sweep returns it once it is no longer busy.
	 * Registering a credential ID the registry already has (adoption) makes that record the active one.
	 */
	registerTenantCredential(record: NewTenantCredential, busyMs: number): Promise<void>;
	/**
	 * Pushes busyUntil of these active credentials to now + busyMs (executions still running with them),
	 * never back; in one step for all names. Unknown names and retiring records are left alone.
	 */
	keepTenantCredentialsBusy(scope: string, names: string[], busyMs: number): Promise<void>;
	/**
	 * Marks as `retiring` (retiredAt = now) and returns, at most `limit`, each record in one atomic step:
	 * active records unused for their retention and no longer busy, records `register` replaced once no
	 * longer busy, and records claimed longer than `staleRetiringMs` ago (a clean-up that died). Two
	 * concurrent sweeps never return the same record (unless it went stale in between).
	 */
	retireUnusedTenantCredentials(scope: string, limit: number, staleRetiringMs: number): Promise<TenantCredentialRecord[]>;
	/** Deletes the record of this credential, whatever its state (after the credential was deleted in n8n, or found gone). */
	forgetTenantCredential(scope: string, credentialId: string): Promise<void>;
	/**
	 * Which of these credential IDs have a record in the scope, whatever its state (active or
	 * retiring): the others are unknown to this registry (orphans, or another lock store's). At most
	 * MAX_KNOWN_CREDENTIAL_IDS IDs a call; one statement or script on the stores; reads only.
	 */
	knownTenantCredentialIds(scope: string, credentialIds: string[]): Promise<Set<string>>;
	/** Every record of the scope (for operators and tests), at most `limit`, newest use first. */
	listTenantCredentials(scope: string, limit: number): Promise<TenantCredentialRecord[]>;
}
