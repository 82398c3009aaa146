/**
 * Bounded background clean-up (issue 17): the clean-ups a down store refused (release by token of
 * what a failed attempt may have taken, withdrawal of a waiter's ticket) are retried by one worker
 * per engine, not one loop per failed call. 300 waiters failing against a down store cost one timer
 * and about one request a second; once the store answers, every clean-up is done once and nothing
 * is left pending. With the old per-call loops (one timer and one request a second per clean-up)
 * the timer and request bounds below fail (checked by reverting: 600 loops, 1,800 requests and as many timers in 3.2 s down);
 * with a withdrawal per orphan before each attempt, 50 later calls sent 15,000 requests (now 50).
 */
import { CleanUpQueue } from '../../nodes/shared/lock/cleanUpQueue';
import { LockStoreUnavailableError } from '../../nodes/shared/lock/errors';
import { MemoryLockEngine } from '../../nodes/shared/lock/MemoryLockEngine';
import type { Attempt, QueueArgs } from '../../nodes/shared/lock/StoreLockEngine';
import type { AcquireOptions, LockHandle, ReleaseOutcome } from '../../nodes/shared/lock/types';
import { options, sleep, uniqueKey } from '../helpers/lockTesting';

jest.setTimeout(120_000);

const WAITERS = 300;
const LATER_WAITERS = 50;
const LONG_TTL = 600_000;

function unreachable(operation: string): LockStoreUnavailableError {
	return new LockStoreUnavailableError(operation, Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
}

/**
 * A memory store that goes down: an attempt is applied but its answer is lost (a statement cut off
 * after it was sent), a release or withdrawal is refused. Counts the clean-up requests.
 */
class StoreThatGoesDown extends MemoryLockEngine {
	down = false;
	cleanUpRequests = 0;

	protected override async attempt(key: string, keyHash: string, token: string, acquireOptions: AcquireOptions, queue: QueueArgs): Promise<Attempt> {
		const result = await super.attempt(key, keyHash, token, acquireOptions, queue);
		if (this.down) throw unreachable('acquire');
		return result;
	}

	override async release(handle: LockHandle): Promise<ReleaseOutcome> {
		this.cleanUpRequests += 1;
		if (this.down) throw unreachable('release');
		return await super.release(handle);
	}

	protected override async withdraw(keyHash: string, ticket: string): Promise<void> {
		this.cleanUpRequests += 1;
		if (this.down) throw unreachable('withdraw');
		await super.withdraw(keyHash, ticket);
	}
}

async function until(condition: () => boolean, limitMs: number, what: string): Promise<void> {
	const giveUp = performance.now() + limitMs;
	while (!condition()) {
		if (performance.now() > giveUp) throw new Error(`timed out waiting for ${what}`);
		await sleep(20);
	}
}

describe('background clean-up after store failures is bounded', () => {
	it(`${WAITERS} waiters failing against a down store: one worker and timer, about one request a second while down (old per-call loops: one each), all clean-ups done once after it is back`, async () => {
		const engine = new StoreThatGoesDown({ ticketLeaseMs: LONG_TTL });
		const key = uniqueKey('bounded-clean-up');
		engine.down = true;

		const results = await Promise.allSettled(Array.from({ length: WAITERS }, async (_, i) => await engine.acquire(key, options(`exec-bounded-${i}`, LONG_TTL, LONG_TTL))));
		expect(results.every((result) => result.status === 'rejected' && result.reason instanceof LockStoreUnavailableError)).toBe(true);
		// The first call's attempt took the key (answer lost), the others' registered tickets. Each failed
		// call leaves a release by its token and a withdrawal of its ticket (the store may hold either).
		const queued = engine.pendingCleanUps();
		expect(queued.pending).toBe(2 * WAITERS);
		expect(queued.workers).toBe(1);

		// While down: one probe and one timer per retry period, whatever the number pending.
		const requestsBefore = engine.cleanUpRequests;
		const timers = jest.spyOn(globalThis, 'setTimeout');
		const downSince = performance.now();
		await sleep(3_200);
		const timersStarted = timers.mock.calls.length - 1; // this test's own sleep
		timers.mockRestore();
		const requestsWhileDown = engine.cleanUpRequests - requestsBefore;
		const periods = Math.ceil((performance.now() - downSince) / 1_000);
		expect(requestsWhileDown).toBeGreaterThanOrEqual(1);
		expect(requestsWhileDown).toBeLessThanOrEqual(periods + 1);
		expect(timersStarted).toBeLessThanOrEqual(periods + 1);
		expect(engine.pendingCleanUps()).toMatchObject({ pending: 2 * WAITERS, workers: 1, dropped: 0 });

		// Later calls while still down: before its attempt each tries to withdraw this process's orphan
		// tickets on the key, stopping at the first refusal: one request per call, not one per orphan
		// (that was 300 each: 15,000 for these 50).
		const requestsBeforeLater = engine.cleanUpRequests;
		const later = await Promise.allSettled(Array.from({ length: LATER_WAITERS }, async (_, i) => await engine.acquire(key, options(`exec-bounded-later-${i}`, LONG_TTL, LONG_TTL))));
		expect(later.every((result) => result.status === 'rejected')).toBe(true);
		const requestsByLaterCalls = engine.cleanUpRequests - requestsBeforeLater;
		expect(requestsByLaterCalls).toBeLessThanOrEqual(LATER_WAITERS + 1); // + a probe of the worker
		expect(engine.pendingCleanUps()).toMatchObject({ pending: 2 * (WAITERS + LATER_WAITERS), workers: 1 });

		// Back: the probe is answered, the rest is drained, each clean-up once.
		const requestsAtHeal = engine.cleanUpRequests;
		engine.down = false;
		await until(() => engine.pendingCleanUps().pending === 0, 10_000, 'the clean-ups to drain');
		const requestsAfterHeal = engine.cleanUpRequests - requestsAtHeal;
		expect(requestsAfterHeal).toBe(2 * (WAITERS + LATER_WAITERS));
		await until(() => engine.pendingCleanUps().workers === 0, 5_000, 'the worker to stop');

		// The key is free and no ticket waits for it: a one-try acquire (no ticket may wait) gets it.
		expect(await engine.holder(key)).toBeUndefined();
		const lease = await engine.acquire(key, options('exec-bounded-after', LONG_TTL, 0));
		expect(await engine.release(lease)).toMatchObject({ status: 'released' });
		console.log(`bounded clean-up: ${WAITERS} failed waiters, ${queued.pending} clean-ups, ${requestsWhileDown} requests and ${timersStarted} timers in ${periods} s down, ${requestsAfterHeal} requests after heal, ${requestsByLaterCalls} withdrawals by ${LATER_WAITERS} later calls`);
	});

	it('the queue keeps at most its capacity: the oldest clean-ups are dropped and counted (their leases and tickets end by their own TTL)', async () => {
		const givenUp: string[] = [];
		const queue = new CleanUpQueue(() => false, 3, 50);
		for (const id of ['a', 'b', 'c', 'd', 'e']) {
			queue.add(id, async () => await Promise.reject(unreachable('release')), LONG_TTL, () => givenUp.push(id));
		}
		expect(givenUp).toEqual(['a', 'b']);
		expect(queue.status()).toMatchObject({ pending: 3, dropped: 2 });
	});

	it('a clean-up whose give-up time passed is dropped while the store still refuses', async () => {
		const givenUp: string[] = [];
		let closed = false;
		const queue = new CleanUpQueue(() => closed, 10, 20);
		queue.add('short', async () => await Promise.reject(unreachable('release')), 30, () => givenUp.push('short'));
		queue.add('long', async () => await Promise.reject(unreachable('release')), LONG_TTL, () => givenUp.push('long'));
		await until(() => givenUp.length > 0, 5_000, 'the short clean-up to be given up');
		expect(givenUp).toEqual(['short']);
		expect(queue.status().pending).toBe(1);
		closed = true;
		await until(() => queue.status().workers === 0, 5_000, 'the worker to stop when closed');
	});
});
