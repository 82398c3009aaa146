import type { IDataObject } from 'n8n-workflow';

import { LockTimeoutError, type HeldLockLogger, type LockClient, type LockOwner } from '../lock';
import { SwapItemError } from '../swap/errors';
import type { N8nApiClient } from '../transport/n8nApiClient';
import { TENANT_CREDENTIAL_BUSY_MS } from './inUse';
import type { TenantCredentialRegistry } from './registryTypes';

/** Creating a tenant credential takes a few API calls: the lock outlives them, renewing itself. */
const CREATE_LOCK_TTL_MS = 30_000;

export interface TenantCredentialContext {
	api: N8nApiClient;
	registry: TenantCredentialRegistry;
	locks: LockClient;
	owner: Omit<LockOwner, 'tenantId'>;
	/** The n8n instance (its API URL): registry records and lock keys of two instances never mix. */
	scope: string;
	lockLog?: HeldLockLogger;
}

export interface TenantCredentialWish {
	tenantId: string;
	type: string;
	/** Content address (tenantCredentialName). */
	name: string;
	data: IDataObject;
	/** The calling workflow's project: the credential must live there for n8n to let the workflow use it. */
	projectId?: string;
	retentionMs: number;
	testCredential: boolean;
	waitTimeoutMs: number;
	itemIndexes: number[];
}

export interface TenantCredential {
	id: string;
	name: string;
	/** This execution created it (the first use of this tenant's data). */
	created: boolean;
}

export function creationLockKey(name: string): string {
	return `tenant-credential:${name}`;
}

/**
 * The tenant's credential for exactly this data, marked in use: found in the registry (one store
 * round trip), or created once. Creation holds the name's lock, so many executions of a new tenant,
 * in any process, make one credential: the others wait, then find it.
 */
export async function tenantCredentialFor(context: TenantCredentialContext, wish: TenantCredentialWish): Promise<TenantCredential> {
	const { registry, scope, name } = { ...context, name: wish.name };
	const existing = await registry.useTenantCredential(scope, name, TENANT_CREDENTIAL_BUSY_MS, wish.retentionMs);
	if (existing) return { id: existing, name, created: false };

	const { lock, reentered } = await context.locks
		.acquire(
			creationLockKey(name),
			{ owner: { ...context.owner, tenantId: wish.tenantId }, ttlMs: CREATE_LOCK_TTL_MS, waitTimeoutMs: wish.waitTimeoutMs },
			context.lockLog,
		)
		.catch((error: unknown) => {
			if (!(error instanceof LockTimeoutError)) throw error;
			throw new SwapItemError(error.message, wish.itemIndexes, {
				parameter: 'options.waitTimeout',
				description: "Another execution was creating this tenant's credential for the whole wait (is the n8n API slow or unreachable?). Raise Wait Timeout, or retry.",
				cause: error,
			});
		});
	try {
		const madeMeanwhile = await registry.useTenantCredential(scope, name, TENANT_CREDENTIAL_BUSY_MS, wish.retentionMs);
		if (madeMeanwhile) return { id: madeMeanwhile, name, created: false };
		const created = await context.api.createCredential(
			{ name, type: wish.type, data: wish.data, ...(wish.projectId ? { projectId: wish.projectId } : {}) },
			'create tenant credential',
		);
		try {
			if (wish.testCredential) {
				const result = await context.api.testCredential(created.id);
				if (result.status !== 'OK') {
					throw new SwapItemError(`The tenant's credential failed n8n's credential test: ${result.message}`, wish.itemIndexes, {
						parameter: 'credentialData',
						description: "The tenant's data was refused by the service (or the test could not reach it). No credential was kept. Check the data the tenant sent.",
					});
				}
			}
			await registry.registerTenantCredential(
				{ scope, name, credentialId: created.id, credentialType: wish.type, tenantId: wish.tenantId, retentionMs: wish.retentionMs },
				TENANT_CREDENTIAL_BUSY_MS,
			);
		} catch (error) {
			// Unregistered, nobody would find or retire it: delete it now.
			await context.api.deleteCredential(created.id, 'delete tenant credential').catch(() => undefined);
			throw error;
		}
		return { id: created.id, name, created: true };
	} finally {
		if (!reentered) await lock.release().catch(() => undefined);
	}
}
