/**
 * What a lock store fault leaves behind once the store is back, and the wall clock stepping while a
 * waiter waits (real throwaway PostgreSQL and Redis servers, see lockFaults.test.ts for the rest):
 * - a waiter's ticket the store could not take back is withdrawn (it must not hold the free key back);
 * - an acquire the store applied after the caller was told it failed is released again;
 * - a wall-clock step of an hour neither stretches nor cuts a wait (monotonic timing);
 * - Redis reports a holder's lease end by its own clock.
 */
import { LockTimeoutError } from '../../nodes/shared/lock/errors';
import { closeSharedPools } from '../../nodes/shared/lock/postgresPool';
import { closeLockEngines } from '../../nodes/shared/lock/registry';
import { MAX_SILENT_WAIT_MS } from '../../nodes/shared/lock/StoreLockEngine';
import { skewClock, withClockSkew } from '../helpers/clockSkew';
import { postgresStore, redisStore, type Store } from '../helpers/faultStores';
import { guard, options, rejectionOf, sleep, uniqueKey, untilQueued } from '../helpers/lockTesting';

jest.setTimeout(600_000);

const HOUR = 60 * 60 * 1000;
const LONG_TTL = 600_000;

describe.each([
	['postgres', postgresStore],
	['redis', redisStore],
] as const)('%s lock store: after a fault', (_backend, startStore) => {
	let store: Store;

	beforeAll(async () => {
		store = await startStore();
	});

	afterEach(async () => {
		await store.proxy.heal();
	});

	afterAll(async () => {
		await closeLockEngines();
		await closeSharedPools();
		await store?.close();
	});

	it("a waiter's ticket left behind by a store failure does not hold the free key back once the store is back", async () => {
		const { proxied, observer, proxy } = store;
		const key = uniqueKey('orphan-ticket');
		const held = await observer.acquire(key, options('exec-orphan-holder', LONG_TTL, 0));
		const waiting = rejectionOf(proxied.acquire(key, options('exec-orphan-waiter', LONG_TTL, LONG_TTL)));
		await untilQueued(proxied, key, 1);
		await proxy.refuse();
		await guard(waiting, 120_000, 'waiter while refused');
		await proxy.heal();
		expect(await observer.release(held)).toMatchObject({ status: 'released' });
		// The key is free and nobody is waiting for it any more.
		const lease = await proxied.acquire(key, options('exec-orphan-after', LONG_TTL, 0));
		await proxied.release(lease);
	});

	it('an acquire that failed with LockStoreUnavailableError leaves no lock behind once the store is back', async () => {
		const { proxied, observer, proxy } = store;
		const key = uniqueKey('phantom');
		proxy.blackhole();
		await guard(rejectionOf(proxied.acquire(key, options('exec-phantom', LONG_TTL, 0))), 120_000, 'acquire in a black hole');
		// Give the driver time to drop the connection it gave up on (pg does; ioredis keeps it).
		await sleep(2_000);
		await proxy.heal();
		// The store may apply the held-back attempt once the partition heals (ioredis keeps the command);
		// the engine then releases that call's token in the background. A bound, not a speed claim.
		await proxied.release(await proxied.acquire(uniqueKey('phantom-probe'), options('exec-phantom-probe', LONG_TTL, 0)));
		const giveUp = Date.now() + 15_000;
		while ((await observer.holder(key)) !== undefined && Date.now() < giveUp) await sleep(200);
		expect((await observer.holder(key))?.owner.executionId).toBeUndefined();
	});

	it.each([
		['back', -HOUR],
		['forward', HOUR],
	])('a wall-clock step %s by 1 h while waiting neither prolongs nor cuts the wait', async (direction, step) => {
		const { direct, observer } = store;
		const key = uniqueKey(`clock-step-${direction}`);
		const held = await observer.acquire(key, options('exec-step-holder', LONG_TTL, 0));
		const waitTimeoutMs = step < 0 ? 3_000 : 60_000;
		const settled = direct.acquire(key, options('exec-step-waiter', LONG_TTL, waitTimeoutMs)).then(
			(lease) => ({ lease, error: undefined }),
			(error: unknown) => ({ lease: undefined, error }),
		);
		await untilQueued(direct, key, 1);
		const restore = skewClock(step);
		try {
			if (step < 0) {
				// The wait must end (LockTimeoutError) about waitTimeoutMs after it began, not an hour later.
				const outcome = await guard(settled, 3 * (waitTimeoutMs + MAX_SILENT_WAIT_MS), 'waiter after the clock stepped back');
				expect(outcome.error).toBeInstanceOf(LockTimeoutError);
			} else {
				// Let the waiter look again (at most MAX_SILENT_WAIT_MS) with the clock an hour ahead: it must
				// still be waiting, and get the lock when it is released.
				await sleep(MAX_SILENT_WAIT_MS + 1_000);
				await observer.release(held);
				const outcome = await guard(settled, 3 * waitTimeoutMs, 'waiter after the clock stepped forward');
				expect(outcome.error).toBeUndefined();
				if (outcome.lease) await direct.release(outcome.lease);
			}
		} finally {
			restore();
			await observer.release(held);
		}
	});

	it("a LockTimeoutError reports the holder's lease end by the store's clock, whatever the waiter's clock says", async () => {
		const { direct, observer } = store;
		const key = uniqueKey('reported-end');
		const held = await observer.acquire(key, options('exec-reported-holder', LONG_TTL, 0));
		const error = await withClockSkew(HOUR, async () => await rejectionOf(direct.acquire(key, options('exec-reported-waiter', LONG_TTL, 0))));
		expect(error).toBeInstanceOf(LockTimeoutError);
		const reported = (error as LockTimeoutError).holder?.expiresAt.getTime() ?? 0;
		expect(Math.abs(reported - held.expiresAt.getTime())).toBeLessThan(5 * 60_000);
		await observer.release(held);
	});
});
