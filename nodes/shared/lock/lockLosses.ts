/**
 * Locks of an execution that stopped being held before its Release Lock ran (lost, or run out after
 * renewal stopped), kept in this process so Release Lock can fail the execution with when and why,
 * even when the items no longer carry the lock. Release Lock runs in the process that swapped (a
 * pause between the two is refused); records nobody collects (no Release Lock) are dropped after an hour.
 */
export interface LockLoss {
	key: string;
	token: string;
	at: Date;
	/** Why, in words (no credential data). */
	reason: string;
}

const KEEP_MS = 60 * 60_000;
const MAX_OWNERS = 10_000;

/** ownerKey -> losses; Map order is insertion order, so the oldest owners come first. */
const losses = new Map<string, LockLoss[]>();

function sweep(now: number): void {
	for (const [owner, list] of losses) {
		const kept = list.filter((loss) => now - loss.at.getTime() < KEEP_MS);
		if (kept.length === 0) losses.delete(owner);
		else if (kept.length !== list.length) losses.set(owner, kept);
	}
	for (const owner of losses.keys()) {
		if (losses.size <= MAX_OWNERS) break;
		losses.delete(owner);
	}
}

export function recordLockLoss(ownerKey: string, loss: LockLoss): void {
	sweep(Date.now());
	const list = losses.get(ownerKey) ?? [];
	if (list.some((known) => known.key === loss.key && known.token === loss.token)) return;
	list.push(loss);
	losses.set(ownerKey, list);
}

/** The owner's losses, forgotten here (Release Lock reports each once). */
export function takeLockLosses(ownerKey: string): LockLoss[] {
	const list = losses.get(ownerKey) ?? [];
	losses.delete(ownerKey);
	return list;
}

/** The loss of one lease (by key and token), forgotten here. */
export function takeLockLoss(key: string, token: string): LockLoss | undefined {
	for (const [owner, list] of losses) {
		const index = list.findIndex((loss) => loss.key === key && loss.token === token);
		if (index < 0) continue;
		const [loss] = list.splice(index, 1);
		if (list.length === 0) losses.delete(owner);
		return loss;
	}
	return undefined;
}
