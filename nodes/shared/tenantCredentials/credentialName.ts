import { createHmac } from 'node:crypto';

import type { IDataObject } from 'n8n-workflow';

import { canonicalJson } from '../swap/credentialData';

/** Every tenant credential's name starts with this, so the package's own credentials are recognised. */
export const TENANT_CREDENTIAL_PREFIX = 'tenant-cred ';

/** n8n stores credential names of up to 128 characters. */
const MAX_NAME = 128;
const HMAC_CHARS = 24;

export interface TenantCredentialIdentity {
	tenantId: string;
	type: string;
	data: IDataObject;
	/** The project the credential lives in (the calling workflow's): a credential serves one project. */
	projectId?: string;
}

/**
 * The content address of a tenant's credential: the tenant ID in clear (for people), then a keyed
 * HMAC of tenant, type, data and project. The same data always finds the same credential; different
 * data never does; whoever can read credential names learns nothing about the data without the key.
 */
export function tenantCredentialName(key: string, { tenantId, type, data, projectId }: TenantCredentialIdentity): string {
	const digest = createHmac('sha256', key)
		.update(canonicalJson({ tenantId, type, data, projectId: projectId ?? null }))
		.digest('base64url')
		.slice(0, HMAC_CHARS);
	const room = MAX_NAME - TENANT_CREDENTIAL_PREFIX.length - HMAC_CHARS - 1;
	const shownTenant = tenantId.replace(/\s+/g, '_').slice(0, room);
	return `${TENANT_CREDENTIAL_PREFIX}${shownTenant} ${digest}`;
}

export function isTenantCredentialName(name: string): boolean {
	return name.startsWith(TENANT_CREDENTIAL_PREFIX);
}
