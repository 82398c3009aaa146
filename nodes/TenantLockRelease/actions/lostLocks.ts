import type { LockLoss, ReleaseOutcome } from '../../shared/lock';
import { SwapItemError } from '../../shared/swap/errors';

/** One lock in Release Lock's output; a lost one says when and why where this process knows. */
export type ReleasedLock = ReleaseOutcome & { lostAt?: string; reason?: string };

/**
 * The release's outcomes plus the losses: those recorded in this process (when and why), then those
 * only the items or the store report (`carried`, reason unknown). One entry per lost key.
 */
export function withLosses(outcomes: ReleaseOutcome[], recorded: LockLoss[], carried: LockLoss[]): ReleasedLock[] {
	const result: ReleasedLock[] = outcomes.filter((outcome) => outcome.status !== 'lost');
	const lostKeys = new Set<string>();
	for (const loss of [...recorded, ...outcomes.filter((outcome) => outcome.status === 'lost').map((outcome) => ({ key: outcome.key, token: '', at: undefined, reason: '' })), ...carried]) {
		if (lostKeys.has(loss.key)) continue;
		lostKeys.add(loss.key);
		result.push({
			key: loss.key,
			status: 'lost',
			...(loss.reason && loss.at ? { lostAt: loss.at.toISOString(), reason: loss.reason } : {}),
		});
	}
	return result.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function describe(lock: ReleasedLock): string {
	if (!lock.reason) {
		return `"${lock.key}" was no longer held by this execution when Release Lock ran (its lease ran out or the lock store lost it)`;
	}
	// LockLostError's message repeats the key: keep only the why.
	const why = lock.reason.replace(/^Lost lock "[^"]*": /, '');
	return `"${lock.key}" was lost at ${lock.lostAt}: ${why}`;
}

/** Release Lock's error (or warning) for locks lost before it ran. */
export function lostLocksError(lost: ReleasedLock[], itemIndex: number): SwapItemError {
	const message =
		lost.length === 1 ? `Lock lost before release: lock ${describe(lost[0])}` : `${lost.length} locks lost before release: ${lost.map(describe).join('; ')}`;
	return new SwapItemError(message, [itemIndex], {
		description:
			"Between Tenant Credential Swap and this node this execution did not hold the lock, so another execution may have written its tenant's data into the base credential: " +
			"the nodes in between may have used another tenant's credential. Check what they did for this tenant. " +
			"If the lock store was unreachable or restarted, n8n's log has the details; if Renew Lock While Running was off or unavailable, set a Lock TTL longer than the longest run to this node. " +
			'To only log a warning instead, turn off "Fail If Lock Was Lost".',
	});
}
