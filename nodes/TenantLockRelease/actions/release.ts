import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import {
	leaseKeeper,
	lockClientFor,
	ownerKey,
	takeLockLoss,
	takeLockLosses,
	type AuditEvent,
	type LockHandle,
	type LockLoss,
	type LockStore,
} from '../../shared/lock';
import { lockEngineFor } from '../../shared/lockParameters';
import { errorItem, toNodeError } from '../../shared/nodeErrors';
import { SwapItemError } from '../../shared/swap/errors';
import { lostLocksError, withLosses, type ReleasedLock } from './lostLocks';

type ReleaseMode = 'execution' | 'token' | 'executionId';

interface ReleaseSummary {
	released: number;
	lost: number;
	heldMs: number;
	locks: ReleasedLock[];
}

function carriedHandle(item: INodeExecutionData): LockHandle | undefined {
	const swap = item.json.tenantSwap as IDataObject | undefined;
	if (swap && typeof swap.lockKey === 'string' && typeof swap.token === 'string') {
		return { key: swap.lockKey, token: swap.token };
	}
	return undefined;
}

function summarise(outcomes: ReleasedLock[]): ReleaseSummary {
	return {
		released: outcomes.filter((outcome) => outcome.status === 'released').length,
		lost: outcomes.filter((outcome) => outcome.status === 'lost').length,
		heldMs: Math.max(0, ...outcomes.map((outcome) => outcome.heldMs ?? 0)),
		locks: outcomes,
	};
}

/**
 * This execution's locks, plus those it lost before this node: recorded in this process when and why,
 * or carried by the items but no longer ours.
 */
async function releaseOwnExecution(context: IExecuteFunctions, lock: LockStore, items: INodeExecutionData[]) {
	const owner = { instanceId: context.getInstanceId(), executionId: context.getExecutionId() };
	const released = await lockClientFor(lock).releaseOwner(owner);
	leaseKeeper().forget(ownerKey(owner));
	const releasedKeys = new Set(released.map((outcome) => outcome.key));
	const carriedLost: LockLoss[] = [];
	for (const item of items) {
		const handle = carriedHandle(item);
		if (handle && !releasedKeys.has(handle.key)) carriedLost.push({ ...handle, at: new Date(), reason: '' });
	}
	return summarise(withLosses(released, takeLockLosses(ownerKey(owner)), carriedLost));
}

/** One audit line per lock released or lost; best effort, like the swap's. */
async function auditReleases(
	context: IExecuteFunctions,
	lock: LockStore,
	mode: ReleaseMode,
	items: INodeExecutionData[],
	summaries: Map<number, ReleaseSummary | SwapItemError>,
): Promise<void> {
	const events: AuditEvent[] = [];
	const seen = new Set<ReleaseSummary>();
	for (const [itemIndex, summary] of summaries) {
		if (summary instanceof SwapItemError || seen.has(summary)) continue;
		seen.add(summary);
		const executionId =
			mode === 'executionId' ? String(context.getNodeParameter('executionId', itemIndex, '')) : context.getExecutionId();
		const tenantId = (items[itemIndex]?.json.tenantSwap as IDataObject | undefined)?.tenantId;
		for (const outcome of summary.locks) {
			events.push({
				action: 'release',
				outcome: outcome.status,
				executionId,
				workflowId: context.getWorkflow().id,
				tenantId: typeof tenantId === 'string' ? tenantId : undefined,
				lockKey: outcome.key,
				heldMs: outcome.heldMs,
				detail: outcome.status === 'lost' ? `Release Lock found the lock lost${outcome.reason ? `: ${outcome.reason}` : ''}` : undefined,
			});
		}
	}
	await lock.audit(events).catch((error: Error) => {
		context.logger.warn('Release Lock could not write its audit trail', { error: error.message });
	});
}

const BACKEND_NAMES: Record<string, string> = { postgres: 'PostgreSQL', redis: 'Redis', memory: 'In-Memory' };

/**
 * An item whose lock Tenant Credential Swap took on another backend than this node's: releasing
 * here would free nothing, and the failure would later read like an expired lock.
 */
function backendMismatch(context: IExecuteFunctions, items: INodeExecutionData[]): SwapItemError | undefined {
	const backend = String(context.getNodeParameter('lockBackend', 0, 'postgres'));
	const itemIndex = items.findIndex((item) => {
		const swapBackend = (item.json.tenantSwap as IDataObject | undefined)?.lockBackend;
		return typeof swapBackend === 'string' && swapBackend !== backend;
	});
	if (itemIndex < 0) return undefined;
	const swapBackend = String((items[itemIndex].json.tenantSwap as IDataObject).lockBackend);
	const name = (value: string) => `"${BACKEND_NAMES[value] ?? value}"`;
	return new SwapItemError(
		`Tenant Credential Swap took this lock on the ${name(swapBackend)} lock backend, but this Release Lock uses ${name(backend)}`,
		[itemIndex],
		{
			parameter: 'lockBackend',
			description: `Set Lock Backend here to ${name(swapBackend)}, with the same lock database (or Redis) and lock table as in Tenant Credential Swap. Released on another backend, the lock stays held: other executions wait until this execution ends (Renew Lock While Running) or until the Lock TTL runs out.`,
		},
	);
}

export async function executeRelease(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const items = this.getInputData();
	const continueOnFail = this.continueOnFail();
	const mode = this.getNodeParameter('releaseMode', 0, 'execution') as ReleaseMode;
	const options = this.getNodeParameter('options', 0, {}) as IDataObject;
	const failIfLost = options.failIfLost !== false;
	// A configuration error, not an item's: it fails the node even with Continue On Fail.
	const mismatch = mode === 'executionId' ? undefined : backendMismatch(this, items);
	if (mismatch) throw toNodeError(this, mismatch, mismatch.itemIndexes[0] ?? 0);
	const lock = await lockEngineFor(this);

	// Group items by what they release, so each lock is released once per execution.
	const summaries = new Map<number, ReleaseSummary | SwapItemError>();
	if (mode === 'execution') {
		const summary = await releaseOwnExecution(this, lock, items);
		items.forEach((_, index) => summaries.set(index, summary));
	} else {
		const pending = new Map<string, { indexes: number[]; run: () => Promise<ReleasedLock[]> }>();
		for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
			try {
				const [id, run] = mode === 'token' ? readTokenRelease(this, lock, itemIndex) : readExecutionRelease(this, lock, itemIndex);
				const entry = pending.get(id) ?? { indexes: [], run };
				entry.indexes.push(itemIndex);
				pending.set(id, entry);
			} catch (error) {
				if (!continueOnFail || !(error instanceof SwapItemError)) throw error instanceof SwapItemError ? toNodeError(this, error, itemIndex) : error;
				summaries.set(itemIndex, error);
			}
		}
		for (const { indexes, run } of pending.values()) {
			const summary = summarise(await run());
			for (const index of indexes) summaries.set(index, summary);
		}
	}

	await auditReleases(this, lock, mode, items, summaries);
	const warned = new Set<ReleaseSummary>();

	return [
		items.map((item, itemIndex) => {
			const summary = summaries.get(itemIndex) as ReleaseSummary | SwapItemError;
			let failure = summary instanceof SwapItemError ? summary : undefined;
			const lost = summary instanceof SwapItemError ? [] : summary.locks.filter((outcome) => outcome.status === 'lost');
			if (!failure && lost.length > 0) {
				const lostError = lostLocksError(lost, itemIndex);
				if (failIfLost) failure = lostError;
				else if (!warned.has(summary as ReleaseSummary)) {
					warned.add(summary as ReleaseSummary);
					this.logger.warn(`${lostError.message}. ${lostError.options.description ?? ''}`, { executionId: this.getExecutionId() });
				}
			}
			if (failure) {
				const nodeError = toNodeError(this, failure, itemIndex);
				if (!continueOnFail) throw nodeError;
				return errorItem(nodeError, itemIndex);
			}
			const json: IDataObject = { ...item.json, tenantLockRelease: summary as unknown as IDataObject };
			delete json.tenantSwap;
			return {
				json,
				binary: item.binary,
				pairedItem: { item: itemIndex },
			};
		}),
	];
}

function readTokenRelease(context: IExecuteFunctions, lock: LockStore, itemIndex: number): [string, () => Promise<ReleasedLock[]>] {
	const key = String(context.getNodeParameter('lockKey', itemIndex, '') ?? '');
	const token = String(context.getNodeParameter('token', itemIndex, '') ?? '');
	if (!key || key === 'undefined') {
		throw new SwapItemError('No lock key', [itemIndex], {
			parameter: 'lockKey',
			description: 'The item carries no tenantSwap.lockKey: connect this node after Tenant Credential Swap, or map the key.',
		});
	}
	if (!token || token === 'undefined') {
		throw new SwapItemError('No lock token', [itemIndex], {
			parameter: 'token',
			description: 'The item carries no tenantSwap.token: connect this node after Tenant Credential Swap, or map the token.',
		});
	}
	// Lock Scope Tenant: the swap also took the tenant's lock; the item carries it beside the base credential's.
	const tenantLock = carriedTenantHandle(context.getInputData()[itemIndex]);
	const handles = tenantLock && tenantLock.key !== key ? [{ key, token }, tenantLock] : [{ key, token }];
	return [
		handles.map((handle) => `${handle.key}\u0000${handle.token}`).join('\u0000'),
		async () => {
			const outcomes: ReleasedLock[] = [];
			for (const handle of handles) outcomes.push(...(await releaseByToken(lock, handle)));
			return outcomes;
		},
	];
}

function carriedTenantHandle(item: INodeExecutionData | undefined): LockHandle | undefined {
	const swap = item?.json.tenantSwap as IDataObject | undefined;
	if (swap && typeof swap.tenantLockKey === 'string' && typeof swap.tenantLockToken === 'string') {
		return { key: swap.tenantLockKey, token: swap.tenantLockToken };
	}
	return undefined;
}

async function releaseByToken(lock: LockStore, { key, token }: LockHandle): Promise<ReleasedLock[]> {
	const outcome = await lockClientFor(lock).releaseToken({ key, token });
	const loss = takeLockLoss(key, token);
	return outcome.status === 'lost' || loss ? withLosses(outcome.status === 'lost' ? [] : [outcome], loss ? [loss] : [], [{ key, token, at: new Date(), reason: '' }]) : [outcome];
}

function readExecutionRelease(context: IExecuteFunctions, lock: LockStore, itemIndex: number): [string, () => Promise<ReleasedLock[]>] {
	const executionId = String(context.getNodeParameter('executionId', itemIndex, '') ?? '').trim();
	if (!executionId || executionId === 'undefined') {
		throw new SwapItemError('No execution ID', [itemIndex], {
			parameter: 'executionId',
			description: 'In an Error Trigger workflow map {{ $json.execution.id }}.',
		});
	}
	return [
		executionId,
		async () => {
			// An error workflow runs on the same n8n instance as the execution it cleans up after.
			const owner = { instanceId: context.getInstanceId(), executionId };
			const outcomes = await lockClientFor(lock).releaseOwner(owner);
			leaseKeeper().forget(ownerKey(owner));
			return withLosses(outcomes, takeLockLosses(ownerKey(owner)), []);
		},
	];
}
