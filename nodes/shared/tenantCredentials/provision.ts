import type { IDataObject } from 'n8n-workflow';

import { LockTimeoutError, type HeldLockLogger, type LockClient, type LockOwner } from '../lock';
import { ownerKey } from '../lock/types';
import { SwapItemError } from '../swap/errors';
import { releaseOrLetExpire } from '../swap/releaseLock';
import type { N8nApiClient } from '../transport/n8nApiClient';
import { registryTag, shownTenantId, tenantCredentialDisplayName, type TenantCredentialNaming } from './credentialName';
import { TENANT_CREDENTIAL_BUSY_MS } from './inUse';
import type { TenantCredentialRegistry } from './registryTypes';
import { useTenantCredentialShared } from './sharedUse';

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
	limits: TenantCredentialLimits;
}

/** Decision 5: how many live credentials (active or retiring: each still exists in n8n) a new one may join. */
export interface TenantCredentialLimits {
	/** Per registry (lock store) and n8n instance. */
	maxTenantCredentials: number;
	/** Per tenant: its data versions. */
	maxCredentialsPerTenant: number;
}

export const DEFAULT_TENANT_CREDENTIAL_LIMITS: Readonly<TenantCredentialLimits> = Object.freeze({ maxTenantCredentials: 5000, maxCredentialsPerTenant: 5 });

let limitGuard = true;

/** For tests only: `false` counts without the registry-wide guard (the control that must overshoot); undefined restores it. */
export function configureLimitGuard(enabled?: boolean): void {
	limitGuard = enabled ?? true;
}

let creationsPerOwner = true;

/** For tests only: `false` lets one owner's creations overlap (the control that must overshoot); undefined restores it. */
export function configureOneCreationPerOwner(enabled?: boolean): void {
	creationsPerOwner = enabled ?? true;
}

/** How this registry names credentials for this n8n: its tag and its own secret (read once per process). */
export async function tenantCredentialNaming(registry: TenantCredentialRegistry, scope: string): Promise<TenantCredentialNaming> {
	return { tag: registryTag(registry.storeIdentity, scope), key: await registry.contentKey() };
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

/** Held while a new credential is counted, created and registered: counts and creations of one registry never interleave. */
export function limitGuardKey(scope: string): string {
	return `tenant-credential-limits:${scope}`;
}

/**
 * The tenant's credential for exactly this data, marked in use: found in the registry (one store
 * round trip, shared by the uses that start while it is in flight), or created once. Creation holds the name's lock, so many executions of a new tenant,
 * in any process, make one credential: the others wait, then find it.
 */
export async function tenantCredentialFor(context: TenantCredentialContext, wish: TenantCredentialWish): Promise<TenantCredential> {
	const { registry, scope, name } = { ...context, name: wish.name };
	const existing = await useTenantCredentialShared(registry, scope, name, TENANT_CREDENTIAL_BUSY_MS, wish.retentionMs);
	if (existing) return { id: existing, name, created: false };

	return await oneCreationPerOwner(context.owner, async () =>
		await holding(context, wish, creationLockKey(name), NAME_LOCK_TIMEOUT, async () => {
			const madeMeanwhile = await registry.useTenantCredential(scope, name, TENANT_CREDENTIAL_BUSY_MS, wish.retentionMs);
			if (madeMeanwhile) return { id: madeMeanwhile, name, created: false };
			// The registry-wide guard (one creation at a time per registry and n8n, across processes): a burst
			// of new tenants cannot all pass the count before any is registered. Only first uses of new data take it.
			const create = async () => await createWithinLimits(context, wish);
			const id = limitGuard ? await holding(context, wish, limitGuardKey(scope), GUARD_TIMEOUT, create) : await create();
			return { id, name, created: true };
		}),
	);
}

/** The creation each owner (one execution) is running in this process, if any. */
const creations = new Map<string, Promise<unknown>>();

/**
 * Creations of one owner, one after another. Locks are re-entrant per owner, so two tenants of one
 * execution creating at once would share the limit guard (and, for the same name, the name's lock):
 * both could count before either registers. Creations are one at a time per registry anyway.
 */
async function oneCreationPerOwner<T>(owner: TenantCredentialContext['owner'], work: () => Promise<T>): Promise<T> {
	if (!creationsPerOwner) return await work();
	const key = ownerKey(owner);
	const before = creations.get(key);
	const mine = (async () => {
		await before?.catch(() => undefined);
		return await work();
	})();
	const settled = mine.catch(() => undefined);
	creations.set(key, settled);
	try {
		return await mine;
	} finally {
		if (creations.get(key) === settled) creations.delete(key);
	}
}

const NAME_LOCK_TIMEOUT = "Another execution was creating this tenant's credential for the whole wait (is the n8n API slow or unreachable?). Raise Wait Timeout, or retry.";
const GUARD_TIMEOUT =
	'Other executions were creating tenant credentials for the whole wait (new credentials are created one at a time; is the n8n API slow, or Test Credential slow?). Raise Wait Timeout, or retry. Nothing was created.';

/** Runs `work` holding the lock `key` (renewed while it runs); a wait past Wait Timeout is an item error saying `timeoutHelp`. */
export async function holding<T>(
	context: TenantCredentialContext,
	wish: Pick<TenantCredentialWish, 'tenantId' | 'waitTimeoutMs' | 'itemIndexes'>,
	key: string, timeoutHelp: string, work: () => Promise<T>): Promise<T> {
	const { lock, reentered } = await context.locks
		.acquire(key, { owner: { ...context.owner, tenantId: wish.tenantId }, ttlMs: CREATE_LOCK_TTL_MS, waitTimeoutMs: wish.waitTimeoutMs }, context.lockLog)
		.catch((error: unknown) => {
			if (!(error instanceof LockTimeoutError)) throw error;
			throw new SwapItemError(error.message, wish.itemIndexes, { parameter: 'options.waitTimeout', description: timeoutHelp, cause: error });
		});
	try {
		return await work();
	} finally {
		if (!reentered) await releaseOrLetExpire(lock, context.lockLog, "a tenant credential's creation");
	}
}

/** Refuses, before anything is created, a credential that would pass either limit (decision 5). */
async function checkLimits({ registry, scope }: TenantCredentialContext, wish: TenantCredentialWish): Promise<void> {
	const { maxTenantCredentials, maxCredentialsPerTenant } = wish.limits;
	const live = await registry.countLiveTenantCredentials(scope, wish.tenantId, Math.max(maxTenantCredentials, maxCredentialsPerTenant));
	const wait = 'Credentials unused for Retention are deleted in the background (until then they count).';
	if (live.tenant >= maxCredentialsPerTenant) {
		throw new SwapItemError(
			`No new credential for tenant "${shownTenantId(wish.tenantId)}": it already has ${live.tenant} live credentials (Max Credentials per Tenant is ${maxCredentialsPerTenant})`,
			wish.itemIndexes,
			{
				parameter: 'options.maxCredentialsPerTenant',
				description: `Each new credential data of a tenant (e.g. a rotated key) makes one more credential. ${wait} Raise Max Credentials per Tenant, lower Retention, or wait for the tenant's unused credentials to be retired. Nothing was created.`,
			},
		);
	}
	if (live.total >= maxTenantCredentials) {
		throw new SwapItemError(
			`No new tenant credential: this lock store already holds ${live.total} live tenant credentials for this n8n (Max Tenant Credentials is ${maxTenantCredentials})`,
			wish.itemIndexes,
			{
				parameter: 'options.maxTenantCredentials',
				description: `Each new tenant, and each new credential data of a tenant, makes one more credential. ${wait} Raise Max Tenant Credentials, lower Retention, or wait for unused credentials to be retired. Nothing was created.`,
			},
		);
	}
}

/** Counts, creates in n8n, tests, and registers: the caller holds the name's lock and the limit guard. */
async function createWithinLimits(context: TenantCredentialContext, wish: TenantCredentialWish): Promise<string> {
	await checkLimits(context, wish);
	const { registry, scope, name } = { ...context, name: wish.name };
	const created = await context.api.createCredential(
		{ name: tenantCredentialDisplayName(name), type: wish.type, data: wish.data, ...(wish.projectId ? { projectId: wish.projectId } : {}) },
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
			{ scope, name, credentialId: created.id, credentialType: wish.type, tenantId: wish.tenantId, projectId: wish.projectId, retentionMs: wish.retentionMs },
			TENANT_CREDENTIAL_BUSY_MS,
		);
	} catch (error) {
		// Unregistered, nobody would find or retire it: delete it now.
		await context.api.deleteCredential(created.id, 'delete tenant credential').catch(() => undefined);
		throw error;
	}
	return created.id;
}
