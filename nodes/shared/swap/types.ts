import type { IDataObject } from 'n8n-workflow';

import type { Acquired, LockClient, LockOwner, SwapStateStore } from '../lock';
import type { CredentialSummary, N8nApiClient } from '../transport/n8nApiClient';
import type { SwapItemError } from './errors';

export type LockScope = 'baseCredential' | 'tenant';

export interface SwapOptions {
	lockScope: LockScope;
	lockTtlMs: number;
	waitTimeoutMs: number;
	validateWithTemporaryCredential: boolean;
	testCredential: boolean;
	partialUpdate: boolean;
	/** When set, the base credential must be of this type. */
	expectedCredentialType?: string;
	/** Skip the update when the base credential still holds exactly this data from an earlier swap. */
	skipUnchanged: boolean;
	/** Fields the incoming data may set; empty = any field of the type. */
	allowedFields: string[];
	/** Fields the data may leave out or set empty; ['*'] for any. */
	allowEmptyFields?: string[];
}

export interface BaseCredentialRef {
	mode: string;
	value: string;
}

/** One item's wish: put `data` into the base credential for `tenantId`. */
export interface SwapRequest {
	itemIndex: number;
	baseCredential: BaseCredentialRef;
	tenantId: string;
	data: IDataObject;
	options: SwapOptions;
}

/** What the items carry on (no credential data). */
export interface TenantSwapInfo {
	baseCredentialId: string;
	baseCredentialName: string;
	baseCredentialType: string;
	tenantId: string;
	lockBackend: string;
	/** The base credential's lock (the one that guards it). */
	lockKey: string;
	token: string;
	fence: number;
	/** Lock Scope "Tenant": the tenant's lock, held besides the base credential's. */
	tenantLockKey?: string;
	tenantLockToken?: string;
	acquiredAt: string;
	expiresAt: string;
	waitedMs: number;
	reentered: boolean;
	temporaryCredential: 'validated' | 'skipped';
	credentialTest: 'passed' | 'notTestable' | 'skipped';
	/** `unchanged`: the base credential already held this data (written by an earlier swap, not edited since). */
	update: 'patched' | 'unchanged';
	updatedAt?: string;
}

export interface SwapContext {
	api: N8nApiClient;
	/** Where the locks are taken; each renews itself from its grant. */
	locks: LockClient;
	/** The swap's memory of what it last wrote (Skip Unchanged Data). */
	state: SwapStateStore;
	/** Who takes the locks: n8n instance + execution (+ workflow for the record). */
	owner: Omit<LockOwner, 'tenantId'>;
	/** Stop at the first failing group (the node will throw) instead of carrying on. */
	stopOnFirstError: boolean;
	/** Identifies the n8n instance whose API is called (its API URL), so two instances' credential IDs never mix. */
	instanceId: string;
	/** Key of the HMAC kept of what was written (the n8n API key); without it nothing is skipped. */
	stateSecret?: string;
	logDebug?: (message: string, meta?: Record<string, unknown>) => void;
	/** n8n's cancel signal for the execution (where the version offers it): a waiter leaves the queue. */
	cancelSignal?: AbortSignal;
	/** Where held locks report renewal trouble and loss (the node's logger). */
	lockLog?: { warn(message: string, meta?: Record<string, unknown>): void; debug(message: string, meta?: Record<string, unknown>): void };
}

export interface SwapResults {
	swapped: Map<number, TenantSwapInfo>;
	errors: SwapItemError[];
	/** The locks of the swaps that succeeded (renewing), one per key. */
	held: Acquired[];
}

/** The items that swap the same base credential, with what the swap learns on the way. */
export interface SwapGroup {
	base: CredentialSummary;
	requests: SwapRequest[];
	data: IDataObject;
	options: SwapOptions;
	tenantId: string;
	/** The base credential's lock: guards the update. */
	lockKey: string;
	/** Lock Scope "Tenant": the tenant's lock, taken besides the base credential's. */
	tenantLockKey?: string;
	itemIndexes: number[];
	secrets: Set<string>;
	temporaryCredential: TenantSwapInfo['temporaryCredential'];
	credentialTest: TenantSwapInfo['credentialTest'];
	acquired?: Acquired;
	tenantAcquired?: Acquired;
	/** Keyed hash of what this swap writes, and where the last one is remembered. */
	dataHmac?: string;
	stateKey: string;
	/** An earlier swap wrote exactly this data: checked again under the lock before skipping. */
	maybeUnchanged: boolean;
}
