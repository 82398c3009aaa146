import type { IExecuteFunctions } from 'n8n-workflow';

import { leaseKeeper, ownerKey, recordLockLoss, type AuditEvent, type AuditTrail, type HeldLock } from '../../shared/lock';
import type { SwapRequest, SwapResults } from '../../shared/swap/swap';
import type { N8nApiCredentials } from '../../shared/transport/publicApiTransport';
import { N8nExecutionStatusSource } from './executionStatusSource';
import { followabilityAtSwap, renewalStates, type RenewalState } from './renewal';

/** Locks whose end this process already watches (a re-entered lock comes back in a later swap). */
const watchedForLoss = new WeakSet<HeldLock>();

function messageOf(reason: unknown): string {
	return reason instanceof Error ? reason.message : String(reason);
}

/**
 * A lock that stops being held before Release Lock (lost, or run out once renewal stopped) is recorded
 * for Release Lock, which fails the execution, and audited when it is lost.
 */
function recordLosses(owner: string, locks: HeldLock[], audit: (events: AuditEvent[]) => Promise<void>, executionId: string, workflowId: string): void {
	for (const held of locks) {
		if (watchedForLoss.has(held)) continue;
		watchedForLoss.add(held);
		const { key, token } = held;
		held.lost.addEventListener(
			'abort',
			() => {
				const reason = messageOf(held.lost.reason);
				recordLockLoss(owner, { key, token, at: new Date(), reason });
				void audit([{ action: 'release', outcome: 'lost', executionId, workflowId, lockKey: key, detail: `the lease was lost while the execution ran: ${reason}` }]);
			},
			{ once: true },
		);
		const ttlSeconds = held.ttlMs / 1000;
		void held.whenEnded().then(() => {
			if (held.state !== 'expired') return;
			recordLockLoss(owner, {
				key,
				token,
				at: new Date(),
				reason: `its Lock TTL (${ttlSeconds} s) ran out after renewal had stopped (Renew Lock While Running off, or n8n could not show the execution)`,
			});
		});
	}
}

/**
 * The swap's locks renew themselves from their grant. Where the item asked for it (Renew Lock While
 * Running) and n8n shows this execution to the API key, the process's keeper watches the execution
 * and ends them with it; elsewhere renewal stops now and the Lock TTL runs from the last renewal.
 * Returns what each item's output says about it, judged by the keeper's own rule.
 */
export async function keepLeasesWhileRunning(
	context: IExecuteFunctions,
	auditTrail: AuditTrail,
	apiCredentials: N8nApiCredentials,
	requests: Array<SwapRequest & { renewLock: boolean }>,
	results: SwapResults,
): Promise<Map<number, RenewalState>> {
	const executionId = context.getExecutionId();
	const workflowId = context.getWorkflow().id ?? '';
	const owner = ownerKey({ instanceId: context.getInstanceId(), executionId });
	const log = context.logger;
	const audit = async (events: AuditEvent[]) => await auditTrail.audit(events).catch(() => undefined);
	recordLosses(
		owner,
		results.held.map(({ lock }) => lock),
		audit,
		executionId,
		workflowId,
	);

	const renewKeys = new Set<string>();
	for (const request of requests) {
		const info = results.swapped.get(request.itemIndex);
		if (info && request.renewLock) {
			renewKeys.add(info.lockKey);
			if (info.tenantLockKey) renewKeys.add(info.tenantLockKey);
		}
	}
	const watched: HeldLock[] = [];
	for (const { lock: held } of results.held) {
		if (renewKeys.has(held.key)) watched.push(held);
		else held.stopRenewing();
	}
	const swapped = new Set(results.swapped.keys());
	if (watched.length === 0) return renewalStates(context, 'followed', requests, swapped);

	const source = N8nExecutionStatusSource.forKeeper(context, apiCredentials);
	const followability = await followabilityAtSwap(source, executionId, workflowId || undefined);
	if (followability === 'forbidden' || followability === 'notVisible') {
		log.warn(
			`Tenant Credential Swap cannot follow execution ${executionId} through the n8n API (${
				followability === 'forbidden' ? 'the API key lacks the execution:read scope' : 'n8n does not show this execution to the API key'
			}), so its lock is not renewed: it is held until Release Lock or until the Lock TTL runs out`,
			{ executionId },
		);
		for (const held of watched) held.stopRenewing();
		return renewalStates(context, followability, requests, swapped);
	}
	leaseKeeper().keep({
		log,
		ownerKey: owner,
		executionId,
		locks: watched,
		statusSource: source,
		followed: followability === 'followed',
		cancelSignal: context.getExecutionCancelSignal?.(),
		onReleased: async (outcomes) => {
			await audit(
				outcomes.map((outcome) => ({
					action: 'release',
					outcome: outcome.status,
					executionId,
					workflowId,
					lockKey: outcome.key,
					heldMs: outcome.heldMs,
					detail: 'the execution ended without Release Lock',
				})),
			);
		},
	});
	return renewalStates(context, followability, requests, swapped);
}
