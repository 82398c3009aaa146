import { createHash, createHmac } from 'node:crypto';

import type { IDataObject } from 'n8n-workflow';

import { canonicalJson } from '../swap/credentialData';

/** Every tenant credential's name starts with this, so the package's own credentials are recognised. */
export const TENANT_CREDENTIAL_PREFIX = 'tenant-cred ';

/** n8n stores credential names of up to 128 characters; the registry's names stay far below (12 + 9 + 41 + 24). */
const MAX_N8N_NAME_CHARS = 128;
const HMAC_CHARS = 24;
const TAG_CHARS = 8;
/** How much of the tenant ID a name shows (decision 4): enough for people, never misleading text. */
export const SHOWN_TENANT_CHARS = 40;

export interface TenantCredentialIdentity {
	tenantId: string;
	type: string;
	data: IDataObject;
	/** The project the credential lives in (the calling workflow's): a credential serves one project. */
	projectId?: string;
}

/** Which registry a name belongs to, and the registry's own secret for the content address. */
export interface TenantCredentialNaming {
	/** registryTag(): the lock store and n8n Base URL the credential is registered for. */
	tag: string;
	/** The registry's random secret (TenantCredentialRegistry.contentKey), never the n8n API key. */
	key: string;
}

/**
 * The short tag of one registry (a lock store: PostgreSQL host, port, database and lock table, or
 * Redis host, port, database and key prefix) for one n8n (its API Base URL). It is in every name, so
 * an orphan pass deletes only what its own registry creates: never another lock store's credentials,
 * or those of another n8n reached through the same store.
 */
export function registryTag(storeIdentity: string, scope: string): string {
	return createHash('sha256').update(`${storeIdentity}\u0000${scope}`).digest('base64url').slice(0, TAG_CHARS);
}

/** The tenant ID as names and errors show it: only [A-Za-z0-9._@-] (others become "_"), at most `length` characters. */
export function shownTenantId(tenantId: string, length = SHOWN_TENANT_CHARS): string {
	return [...tenantId]
		.slice(0, length)
		.join('')
		.replace(/[^A-Za-z0-9._@-]/g, '_');
}

/**
 * The content address of a tenant's credential: `tenant-cred <tag> <tenant> <hmac>`. The tenant ID
 * (shown safely, for people), then a keyed HMAC of tenant, type, data and project. The same data
 * always finds the same credential; different data never does; whoever can read credential names
 * learns nothing about the data without the registry's secret.
 */
export function tenantCredentialName({ tag, key }: TenantCredentialNaming, { tenantId, type, data, projectId }: TenantCredentialIdentity): string {
	const digest = createHmac('sha256', key)
		.update(canonicalJson({ tenantId, type, data, projectId: projectId ?? null }))
		.digest('base64url')
		.slice(0, HMAC_CHARS);
	return `${registryNamePrefix(tag)}${shownTenantId(tenantId)} ${digest}`;
}

/** What every name of this registry starts with. */
export function registryNamePrefix(tag: string): string {
	return `${TENANT_CREDENTIAL_PREFIX}${tag} `;
}

/**
 * What n8n's credential lists show after the registry's name, so a user who finds one there (they are
 * the newest credentials of the project, and n8n lets anyone with access edit or pick them) reads that
 * the node owns it. The short form when a long tenant ID would push the name past n8n's limit.
 */
export const MANAGED_NOTE = ' (managed by Run With Tenant Credential: do not edit or use)';
export const MANAGED_NOTE_SHORT = ' (managed by Run With Tenant Credential)';

/**
 * The name a tenant credential gets in n8n: the registry's name (its key, unchanged, so credentials made
 * before the note existed are still found) followed by the note.
 */
export function tenantCredentialDisplayName(name: string): string {
	const full = `${name}${MANAGED_NOTE}`;
	return full.length <= MAX_N8N_NAME_CHARS ? full : `${name}${MANAGED_NOTE_SHORT}`;
}

export function isTenantCredentialName(name: string): boolean {
	return name.startsWith(TENANT_CREDENTIAL_PREFIX);
}

/** How Tenant OAuth2 Connect names a tenant's connected credential: `tenant-oauth <connection> <tenant> (...)`. Never a registry's (the orphan pass ignores it). */
export const CONNECTED_CREDENTIAL_PREFIX = 'tenant-oauth ';

export function isConnectedCredentialName(name: string): boolean {
	return name.startsWith(CONNECTED_CREDENTIAL_PREFIX);
}

/**
 * A name this registry made (its tag), with or without the managed note (credentials made before it
 * existed have none): the only ones its orphan pass may delete. Old names without a tag never match.
 */
export function isRegistryCredentialName(name: string, tag: string): boolean {
	const prefix = registryNamePrefix(tag);
	if (!name.startsWith(prefix)) return false;
	let rest = name.slice(prefix.length);
	for (const note of [MANAGED_NOTE, MANAGED_NOTE_SHORT]) {
		if (rest.endsWith(note)) {
			rest = rest.slice(0, -note.length);
			break;
		}
	}
	// Two words after the prefix: tenant, HMAC. An old `tenant-cred <tenant> <hmac>` has one fewer.
	return /^\S+ \S+$/.test(rest);
}
