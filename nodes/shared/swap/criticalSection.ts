import { LockLostError, type Acquired } from '../lock';
import type { CredentialSummary } from '../transport/n8nApiClient';
import { N8nApiError } from '../transport/n8nApiErrors';
import { stateWriteFailure } from './swapRecord';
import { SwapItemError } from './errors';
import { forgetResolved } from './plan';
import type { SwapContext, SwapGroup, TenantSwapInfo } from './types';

/*
 * The critical section: the locks, taken in one global order, and the update of each base
 * credential under its lock. Every lock renews itself from its grant (HeldLock), so time spent
 * waiting for a later key or on a slow PATCH never eats the lease of a key already held.
 */

/** Called with a failure; true = stop here (the node will throw). */
export type FailGroup = (error: unknown, group: SwapGroup) => boolean;

/**
 * Takes each group's lock, in key order for every execution, so two executions never wait on each
 * other in a cycle. Groups sharing a key (tenant scope) share one lock. On a failure that stops the
 * swap, releases only what this call took (a re-entered lock belongs to an earlier swap of the
 * execution) and returns undefined.
 */
export async function acquireInOrder(context: SwapContext, groups: SwapGroup[], fail: FailGroup): Promise<Map<string, Acquired> | undefined> {
	const ordered = [...groups].sort((a, b) => (a.lockKey < b.lockKey ? -1 : a.lockKey > b.lockKey ? 1 : 0));
	const taken = new Map<string, Acquired>();
	for (const group of ordered) {
		try {
			let acquired = taken.get(group.lockKey);
			if (!acquired) {
				acquired = await context.locks.acquire(
					group.lockKey,
					{
						owner: { ...context.owner, tenantId: group.tenantId },
						ttlMs: group.options.lockTtlMs,
						waitTimeoutMs: group.options.waitTimeoutMs,
					},
					context.lockLog,
				);
				taken.set(group.lockKey, acquired);
			}
			group.acquired = acquired;
		} catch (error) {
			if (fail(error, group)) {
				await releaseTaken(taken.values(), new Set());
				return undefined;
			}
		}
	}
	return taken;
}

/**
 * Frees the locks this swap took itself; re-entered ones stay with the earlier swap that took them.
 * `letExpire`: locks under which n8n may still apply an update whose answer was lost: they stop
 * renewing and end by their TTL, so a late write cannot land in the next holder's critical section.
 */
export async function releaseTaken(acquired: Iterable<Acquired>, letExpire: Set<Acquired>): Promise<void> {
	for (const entry of acquired) {
		if (entry.reentered) continue;
		if (letExpire.has(entry)) entry.lock.stopRenewing();
		else await entry.lock.release().catch(() => undefined);
	}
}

/** The update failed in a way that n8n may still apply it (answer lost, timed out). */
export function mayStillLand(error: unknown): boolean {
	return error instanceof N8nApiError && error.operation === 'update base credential' && error.maybeProcessed;
}

/** Under the lock: the remembered write is ours and n8n still reports its updatedAt (nobody edited since). */
async function stillUnchanged(context: SwapContext, group: SwapGroup): Promise<CredentialSummary | undefined> {
	if (!group.maybeUnchanged || !group.dataHmac) return undefined;
	const state = await context.state.readSwapState(group.stateKey);
	if (state?.dataHmac !== group.dataHmac) return undefined;
	// A fresh read: the one before the lock may predate another execution's or a person's edit.
	const current = await context.api.getCredential(group.base.id, underLock(group)).catch(() => undefined);
	return current?.updatedAt && current.updatedAt === state.credentialUpdatedAt ? current : undefined;
}

/** The lock must still be held: a write after the lease ended could overwrite the next holder's data. */
function assertHeld(group: SwapGroup, stage: 'before' | 'during'): void {
	const lock = group.acquired?.lock;
	if (lock && lock.state === 'held') return;
	const detail =
		stage === 'before'
			? 'it was lost before the update, so the base credential was not changed'
			: 'it was lost while n8n applied the update: another execution may now hold the lock and use the base credential';
	throw new SwapItemError(new LockLostError(group.lockKey, detail).message, group.itemIndexes, {
		description:
			stage === 'before'
				? 'The lock store could not renew the lease (unreachable, or slower than the Lock TTL). Check the lock database, or raise Lock TTL.'
				: 'Run the execution again. If this repeats, the lock store is unreachable for longer than the Lock TTL: check it, or raise Lock TTL.',
	});
}

export async function updateBaseCredential(context: SwapContext, group: SwapGroup): Promise<{ updated: CredentialSummary; unchanged: boolean }> {
	assertHeld(group, 'before');
	// The API calls under the lock get one Lock TTL in all; the lock renews itself meanwhile.
	group.updateDeadline = Date.now() + (group.acquired?.lock.ttlMs ?? group.options.lockTtlMs);
	const current = await stillUnchanged(context, group);
	if (current) return { updated: current, unchanged: true };
	// Forget the last write first: if this one fails half-way, nobody may skip on stale knowledge.
	await context.state.writeSwapState(group.stateKey, undefined);
	assertHeld(group, 'before');
	const updated = await context.api
		.updateCredential(
			group.base.id,
			{ data: group.data, isPartialData: group.options.partialUpdate },
			underLock(group),
		)
		.catch((error: unknown) => {
			forgetResolved(context.instanceId, group.base.id);
			assertHeld(group, 'during');
			if (error instanceof N8nApiError && error.status === 404 && /credential not found/i.test(error.apiMessage)) {
				throw new SwapItemError(`Base credential "${group.base.name}" (ID ${group.base.id}) no longer exists`, group.itemIndexes, {
					parameter: 'baseCredential',
					description: 'It was deleted, or the API key lost access to it. Pick an existing credential.',
				});
			}
			throw error;
		});
	assertHeld(group, 'during');
	const before = Date.parse(group.base.updatedAt ?? '');
	const after = Date.parse(updated?.updatedAt ?? '');
	if (!updated || updated.id !== group.base.id || updated.type !== group.base.type || !(after > before || Number.isNaN(before))) {
		throw new SwapItemError(
			`n8n did not confirm the update of base credential "${group.base.name}"`,
			group.itemIndexes,
			{ description: 'The answer to the update did not show the same credential with a newer update time. Check the credential in n8n before retrying.' },
		);
	}
	if (group.dataHmac && updated.updatedAt) {
		await context.state
			.writeSwapState(group.stateKey, { dataHmac: group.dataHmac, credentialUpdatedAt: updated.updatedAt })
			.catch((error: unknown) => {
				throw stateWriteFailure(error, group.itemIndexes);
			});
	}
	return { updated, unchanged: false };
}

/** How an API call under the lock is bounded: the update's time budget, and the lock's loss. */
function underLock(group: SwapGroup): { deadline?: number; signal?: AbortSignal } {
	return { deadline: group.updateDeadline, signal: group.acquired?.lock.lost };
}

export function swapInfo(group: SwapGroup, acquired: Acquired, tenantId: string, updated: CredentialSummary, unchanged: boolean): TenantSwapInfo {
	const { lock } = acquired;
	return {
		baseCredentialId: group.base.id,
		baseCredentialName: group.base.name,
		baseCredentialType: group.base.type,
		tenantId,
		lockBackend: acquired.lock.backend,
		lockKey: lock.key,
		token: lock.token,
		fence: lock.fence,
		acquiredAt: lock.acquiredAt.toISOString(),
		expiresAt: lock.expiresAt.toISOString(),
		waitedMs: acquired.waitedMs,
		reentered: acquired.reentered,
		temporaryCredential: group.temporaryCredential,
		credentialTest: group.credentialTest,
		update: unchanged ? 'unchanged' : 'patched',
		updatedAt: updated.updatedAt,
	};
}
