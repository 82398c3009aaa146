import { LockLostError, LockTimeoutError, LockWaitCancelledError, shorten, type Acquired, type HeldLockLogger, type SwapState } from '../lock';
import { NOT_SENT_LEASE_SHORT, type CallOptions, type CredentialSummary } from '../transport/n8nApiClient';
import { sleepUnlessWoken } from '../lock/waiting';
import { isCredentialGone, N8nApiError } from '../transport/n8nApiErrors';
import { releaseOrLetExpire } from './releaseLock';
import { stateWriteFailure } from './swapRecord';
import { SwapItemError } from './errors';
import { forgetResolved, readsById } from './plan';
import type { SwapContext, SwapGroup, TenantSwapInfo } from './types';

/*
 * The critical section: the locks, taken in one global order, and the update of each base
 * credential under its lock. Every lock renews itself from its grant (HeldLock), so time spent
 * waiting for a later key or on a slow PATCH never eats the lease of a key already held.
 */

/** Called with a failure; true = stop here (the node will throw). */
export type FailGroup = (error: unknown, group: SwapGroup) => boolean;

function lockKeysOf(group: SwapGroup): string[] {
	return group.tenantLockKey ? [group.lockKey, group.tenantLockKey] : [group.lockKey];
}

/**
 * Takes every group's keys (the base credential's, and the tenant's under Lock Scope "Tenant") in key
 * order for every execution, so two executions never wait on each other in a cycle. Groups sharing a
 * key share one lock. On a failure that stops the swap, releases only what this call took (a re-entered
 * lock belongs to an earlier swap of the execution) and returns undefined.
 */
export async function acquireInOrder(context: SwapContext, groups: SwapGroup[], fail: FailGroup): Promise<Map<string, Acquired> | undefined> {
	const wanted = groups.flatMap((group) => lockKeysOf(group).map((key) => ({ key, group })));
	wanted.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
	// Keys this execution took in earlier nodes (this process): the order this call must not invert by waiting.
	const heldBefore = context.locks.heldBy(context.owner).map((lock) => lock.key);
	const taken = new Map<string, Acquired>();
	const failed = new Set<SwapGroup>();
	for (const { key, group } of wanted) {
		if (failed.has(group)) continue;
		try {
			if (!taken.has(key)) taken.set(key, await acquireKey(context, key, group, heldBefore));
		} catch (error) {
			failed.add(group);
			if (fail(error, group)) {
				await releaseTaken(taken.values(), new Set(), context.lockLog);
				return undefined;
			}
		}
	}
	for (const group of groups) {
		if (failed.has(group)) continue;
		group.acquired = taken.get(group.lockKey);
		group.tenantAcquired = group.tenantLockKey ? taken.get(group.tenantLockKey) : undefined;
	}
	// Keys taken only for groups that failed on another key of theirs.
	const inUse = new Set(groups.filter((group) => !failed.has(group)).flatMap(lockKeysOf));
	for (const [key, acquired] of [...taken]) {
		if (inUse.has(key)) continue;
		taken.delete(key);
		await releaseTaken([acquired], new Set(), context.lockLog);
	}
	return taken;
}

/**
 * Takes one key. Where this execution already holds a key (from an earlier swap node) that sorts after
 * this one, it does not wait: another execution taking the two keys in the opposite order would wait
 * for this one while this one waits for it, until both time out. It tries once and, if the key is busy,
 * fails at once saying so.
 */
async function acquireKey(context: SwapContext, key: string, group: SwapGroup, heldBefore: string[]): Promise<Acquired> {
	const heldAfter = heldBefore.filter((held) => held > key);
	const mayWait = heldAfter.length === 0 || heldBefore.includes(key);
	try {
		return await context.locks.acquire(
			key,
			{
				owner: { ...context.owner, tenantId: group.tenantId },
				ttlMs: group.options.lockTtlMs,
				waitTimeoutMs: mayWait ? group.options.waitTimeoutMs : 0,
				...(context.cancelSignal ? { signal: context.cancelSignal } : {}),
			},
			context.lockLog,
		);
	} catch (error) {
		if (error instanceof LockTimeoutError && !mayWait) throw keyOrderError(key, heldAfter, group, error);
		if (error instanceof LockTimeoutError) throw lockTimeoutError(context, error, group);
		if (error instanceof LockWaitCancelledError) {
			throw new SwapItemError(error.message, group.itemIndexes, {
				description: 'n8n cancelled this execution while it waited: it left the queue for the lock, and nothing was changed.',
				cause: error,
			});
		}
		throw error;
	}
}

function keyOrderError(key: string, heldAfter: string[], group: SwapGroup, cause: LockTimeoutError): SwapItemError {
	const held = heldAfter.map((heldKey) => `"${shorten(heldKey)}"`).join(', ');
	return new SwapItemError(
		`Lock "${shorten(key)}" is held by another execution, and this execution already holds ${held} from an earlier Tenant Credential Swap node, which comes after it in the lock order: waiting could deadlock with an execution that takes them the other way round, so this swap did not wait`,
		group.itemIndexes,
		{
			description:
				'Take every base credential in one Tenant Credential Swap node (one node takes its keys in one order), or release the first lock (Release Lock) before swapping another. Nothing was changed.',
			cause,
		},
	);
}

/** The timeout, saying who holds the key where known, and whether that is this very execution (an earlier run of it). */
function lockTimeoutError(context: SwapContext, error: LockTimeoutError, group: SwapGroup): SwapItemError {
	const holder = error.holder?.owner;
	const self = holder && holder.executionId === context.owner.executionId && (holder.instanceId ?? '') === (context.owner.instanceId ?? '');
	const who = !holder
		? ''
		: self
			? `: held by this same execution (${holder.executionId})${holder.workflowId ? ` of workflow ${holder.workflowId}` : ''}, from an earlier run of it`
			: `: held by execution ${holder.executionId}${holder.workflowId ? ` of workflow ${holder.workflowId}` : ''}${holder.instanceId ? ` on n8n instance ${holder.instanceId}` : ''}`;
	const lease = error.holder ? ` since ${error.holder.acquiredAt.toISOString()}, lease ends ${error.holder.expiresAt.toISOString()}` : '';
	return new SwapItemError(`Timed out after ${error.waitedMs} ms waiting for lock "${shorten(error.key)}"${who}${lease}`, group.itemIndexes, {
		description: self
			? 'This execution took the lock before it paused or moved (a Wait node, or n8n running it again on another worker): the lease belongs to the process that took it, which no longer renews it here. It frees itself when its Lock TTL runs out. Release the lock before any Wait, or remove the Wait between Tenant Credential Swap and Release Lock.'
			: 'Another execution held the lock for the whole wait. Raise "Wait Timeout", or check that every path after Tenant Credential Swap reaches a Release Lock.',
		cause: error,
	});
}

/**
 * Frees the locks this swap took itself; re-entered ones stay with the earlier swap that took them.
 * `letExpire`: locks under which n8n may still apply an update whose answer was lost: they stop
 * renewing and end by their TTL, so a late write cannot land in the next holder's critical section.
 */
export async function releaseTaken(acquired: Iterable<Acquired>, letExpire: Set<Acquired>, log?: HeldLockLogger): Promise<void> {
	for (const entry of acquired) {
		if (entry.reentered) continue;
		if (letExpire.has(entry)) entry.lock.stopRenewing();
		else await releaseOrLetExpire(entry.lock, log, 'a swap that did not complete');
	}
}

/** The update failed in a way that n8n may still apply it (answer lost, timed out). */
export function mayStillLand(error: unknown): boolean {
	return error instanceof N8nApiError && error.operation === 'update base credential' && error.maybeProcessed;
}

/**
 * Below this much lease left, nothing is sent under the lock. 1 s is 25-50 times a PATCH's usual time
 * (20-40 ms), so an attempt with less left would likely be answered after the lease; a quarter of the
 * TTL keeps the floor under what a healthily renewed lease has left (renewals every TTL/3), so even a
 * 1 s TTL still sends while its store answers.
 */
export function sendFloorMs(ttlMs: number): number {
	return Math.max(1, Math.min(1_000, Math.floor(ttlMs / 4)));
}

/** Rounds of a PATCH that n8n answered with an error and, as a read showed, did not apply. */
const MAX_UPDATE_ROUNDS = 4;
/** Between reads while n8n may still apply an update whose answer was lost. */
const SETTLE_READ_EVERY_MS = 250;

/** How an API call under the lock is bounded: each attempt by the lease left when it is sent, and by the lock's loss. */
export function underLock(group: SwapGroup): CallOptions {
	const lock = group.acquired?.lock;
	if (!lock) return {};
	return { timeLeftMs: () => lock.remainingMs(), minimumTimeMs: sendFloorMs(lock.ttlMs), signal: lock.lost };
}

function leaseRanShort(group: SwapGroup, error: N8nApiError): SwapItemError {
	const floor = group.acquired ? sendFloorMs(group.acquired.lock.ttlMs) : 0;
	return new SwapItemError(
		new LockLostError(group.lockKey, `the lease ran short before the update: less than ${floor} ms of it was left, so the update was not sent and the base credential was not changed`).message,
		group.itemIndexes,
		{
			description:
				'The lock store renewed the lease too slowly (or not at all) for the update to finish within it. Run the execution again; if this repeats, check the lock database, or raise Lock TTL.',
			cause: error,
		},
	);
}

/** Not sent at all: the lease left was under the floor when the attempt was due. */
function notSentForLease(error: unknown): error is N8nApiError {
	return error instanceof N8nApiError && error.code === NOT_SENT_LEASE_SHORT && error.attempts === 0;
}

/**
 * A fresh read of the base credential under the lock: what a PATCH whose answer is lost is compared
 * with. undefined where n8n has no read by ID (before 2.20) or the read failed: such an update cannot
 * be confirmed, so its lost answer fails the item.
 */
async function readUnderLock(context: SwapContext, group: SwapGroup): Promise<CredentialSummary | undefined> {
	// Known to answer 405 (n8n before 2.20): no request under the lock that cannot help.
	if (!readsById(context.instanceId)) return undefined;
	try {
		return await context.api.getCredential(group.base.id, underLock(group));
	} catch (error) {
		if (notSentForLease(error)) throw leaseRanShort(group, error);
		return undefined;
	}
}

/** Under the lock: the remembered write is ours and n8n still reports its updatedAt (nobody edited since). */
function stillUnchanged(group: SwapGroup, state: SwapState | undefined, current: CredentialSummary | undefined): boolean {
	if (!group.maybeUnchanged || !group.dataHmac || state?.dataHmac !== group.dataHmac) return false;
	return Boolean(current?.updatedAt && current.updatedAt === state.credentialUpdatedAt);
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

/** What reading the credential after a failed update showed. */
type UpdateOutcome = { applied: CredentialSummary } | 'notApplied' | 'unknown';

/**
 * After an update whose outcome is unknown: reads the base credential (each read bounded by the lease
 * left, the lock renewing itself meanwhile) until n8n shows an updatedAt newer than the read taken
 * under this lock just before the update (so the write happened while this execution held the key:
 * ours), the lock is lost, or the wait ends. An error n8n answered itself ended its handler: one read
 * decides. Without an answer (timeout, reset, 502/504 from a proxy in front) n8n may still be applying
 * it: reads go on for one Lock TTL.
 */
async function settleUpdate(context: SwapContext, group: SwapGroup, before: CredentialSummary | undefined, failure: N8nApiError): Promise<UpdateOutcome> {
	const lock = group.acquired?.lock;
	const beforeMs = Date.parse(before?.updatedAt ?? '');
	if (!lock || Number.isNaN(beforeMs)) return 'unknown';
	const answered = failure.status !== undefined && failure.status !== 502 && failure.status !== 504;
	const until = performance.now() + (answered ? 0 : lock.ttlMs);
	for (;;) {
		if (lock.state !== 'held') return 'unknown';
		const current = await context.api.getCredential(group.base.id, underLock(group)).catch(() => undefined);
		if (lock.state !== 'held') return 'unknown';
		if (current && current.id === group.base.id && Date.parse(current.updatedAt ?? '') > beforeMs) return { applied: current };
		if (current && answered) return 'notApplied';
		if (performance.now() >= until || lock.remainingMs() < sendFloorMs(lock.ttlMs)) return 'unknown';
		const pause = sleepUnlessWoken(SETTLE_READ_EVERY_MS);
		const wake = () => pause.wake();
		lock.lost.addEventListener('abort', wake, { once: true });
		await pause.promise;
		lock.lost.removeEventListener('abort', wake);
	}
}

/**
 * The PATCH under the lock. Never repeated blindly: an attempt n8n may have carried out is settled by
 * reading the credential (settleUpdate), so a repeat can never land after the lease, in the next
 * holder's critical section. Each attempt's timeout is the lease left when it is sent.
 */
async function patchUnderLock(context: SwapContext, group: SwapGroup, before: CredentialSummary | undefined): Promise<CredentialSummary> {
	for (let round = 1; ; round++) {
		assertHeld(group, 'before');
		try {
			return await context.api.updateCredential(
				group.base.id,
				{ data: group.data, isPartialData: group.options.partialUpdate },
				{ ...underLock(group), noBlindRetry: true },
			);
		} catch (error) {
			// Not sent (too little lease left): earlier rounds, if any, were read back as not applied.
			if (notSentForLease(error)) throw leaseRanShort(group, error);
			if (!(error instanceof N8nApiError) || !error.maybeProcessed) throw error;
			const outcome = await settleUpdate(context, group, before, error);
			if (outcome !== 'notApplied' && outcome !== 'unknown') {
				context.logDebug?.('Tenant Credential Swap: an update whose answer failed was confirmed by reading the credential', {
					baseCredentialId: group.base.id,
					error: error.message,
				});
				return outcome.applied;
			}
			// Known not applied: the failure changed nothing, so the lock may be freed and the update tried again.
			if (outcome === 'notApplied' && round < MAX_UPDATE_ROUNDS) continue;
			throw outcome === 'notApplied' ? error.withAttempts(round, undefined, false) : error.withAttempts(round);
		}
	}
}

export async function updateBaseCredential(context: SwapContext, group: SwapGroup): Promise<{ updated: CredentialSummary; unchanged: boolean }> {
	assertHeld(group, 'before');
	// A fresh read under the lock (the one before the lock may predate another holder's write): both
	// for Skip Unchanged Data and as the "before" that confirms an update whose answer was lost.
	// Forget the last write before updating: if this one fails half-way, nobody may skip on stale knowledge.
	const forget = async () => await context.state.writeSwapState(group.stateKey, undefined);
	let current: CredentialSummary | undefined;
	if (group.maybeUnchanged && group.dataHmac) {
		const [state, read] = await Promise.all([context.state.readSwapState(group.stateKey), readUnderLock(context, group)]);
		if (read && stillUnchanged(group, state, read)) return { updated: read, unchanged: true };
		current = read;
		await forget();
	} else {
		[current] = await Promise.all([readUnderLock(context, group), forget()]);
	}
	const updated = await patchUnderLock(context, group, current).catch((error: unknown) => {
		forgetResolved(context.instanceId, group.base.id);
		if (error instanceof SwapItemError) throw error;
		assertHeld(group, 'during');
		if (isCredentialGone(error)) {
			throw new SwapItemError(`Base credential "${group.base.name}" (ID ${group.base.id}) no longer exists`, group.itemIndexes, {
				parameter: 'baseCredential',
				description: 'It was deleted, or the API key lost access to it. Pick an existing credential.',
			});
		}
		throw error;
	});
	assertHeld(group, 'during');
	const beforeMs = Date.parse(current?.updatedAt ?? group.base.updatedAt ?? '');
	const after = Date.parse(updated?.updatedAt ?? '');
	if (!updated || updated.id !== group.base.id || updated.type !== group.base.type || !(after > beforeMs || Number.isNaN(beforeMs))) {
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
		...(group.tenantAcquired ? { tenantLockKey: group.tenantAcquired.lock.key, tenantLockToken: group.tenantAcquired.lock.token } : {}),
		temporaryCredential: group.temporaryCredential,
		credentialTest: group.credentialTest,
		update: unchanged ? 'unchanged' : 'patched',
		updatedAt: updated.updatedAt,
	};
}
