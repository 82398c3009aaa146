/**
 * Lock semantics that both engines must share: TTL expiry, fencing, prompt wake-up, timeout errors,
 * re-entrancy, releaseExecution and settings validation. The same suite runs against PostgreSQL
 * (a unique table per run, `other` = a second engine on its own pool, like another n8n process)
 * and the in-memory engine.
 */
import {
	LockConfigurationError,
	LockLostError,
	LockReleasedError,
	LockTimeoutError,
	LockWaitCancelledError,
} from '../../nodes/shared/lock/errors';
import { MAX_LOCK_TTL_MS, sleepUnlessWoken, startBackgroundTimer } from '../../nodes/shared/lock/waiting';
import { memoryLockEngine, closeLockEngines } from '../../nodes/shared/lock/registry';
import { MemoryLockEngine } from '../../nodes/shared/lock/MemoryLockEngine';
import { LockClient } from '../../nodes/shared/lock/LockClient';
import type { LockEngine, LockLease } from '../../nodes/shared/lock/types';
import {
	guard,
	isStrictlyIncreasing,
	memoryFactory,
	options,
	postgresFactory,
	redisFactory,
	rejectionOf,
	sleep,
	uniqueKey,
	untilQueued,
	queuedWaiters,
	type EngineFactory,
	type EngineUnderTest,
} from '../helpers/lockTesting';

const LONG = 60_000;

describe.each<EngineFactory>([postgresFactory('lock_sem'), redisFactory('lock_sem'), memoryFactory])('$backend lock engine: semantics', (factory) => {
	let subject: EngineUnderTest;
	let engine: LockEngine;
	let other: LockEngine;

	beforeAll(async () => {
		subject = await factory.create();
		engine = subject.engine;
		other = subject.other;
	});
	afterAll(async () => {
		await subject.close();
	});

	describe('TTL expiry', () => {
		it('a holder that does not release loses the lock after its TTL; a waiter takes it over without waiting out its own timeout', async () => {
			const key = uniqueKey('ttl');
			const first = await engine.acquire(key, options('exec-ttl-a', 400, 0));
			// The guard is shorter than the waiter's own 40 s timeout: a waiter that only gets the lock
			// on its last try at the deadline fails here instead of passing slowly.
			const second = await guard(
				other.acquire(key, options('exec-ttl-b', LONG, 40_000)),
				20_000,
				'waiter on an expiring lease',
			);

			expect(second.owner.executionId).toBe('exec-ttl-b');
			expect(second.token).not.toBe(first.token);
			// Not taken before the first lease ran out (both dates from the store's clock).
			expect(second.acquiredAt.getTime()).toBeGreaterThanOrEqual(first.expiresAt.getTime());

			await expect(engine.extend(first, 10_000)).rejects.toBeInstanceOf(LockLostError);
			expect(await engine.release(first)).toEqual({ key, status: 'lost' });
			expect((await engine.holder(key))?.owner.executionId).toBe('exec-ttl-b');
			expect(await other.release(second)).toMatchObject({ key, status: 'released' });
		});

		it('an expired lease is free: holder() is empty, extend throws LockLostError, waitTimeoutMs 0 takes it over', async () => {
			const key = uniqueKey('ttl-free');
			const first = await engine.acquire(key, options('exec-ttlf-a', 150, 0));
			expect((await engine.holder(key))?.owner.executionId).toBe('exec-ttlf-a');
			await sleep(400);
			expect(await engine.holder(key)).toBeUndefined();
			expect(await other.holder(key)).toBeUndefined();
			const extendError = await rejectionOf(engine.extend(first, 10_000));
			expect(extendError).toBeInstanceOf(LockLostError);
			expect(extendError.message).toContain(key);

			const taker = await other.acquire(key, options('exec-ttlf-b', LONG, 0));
			expect(taker.fence).toBeGreaterThan(first.fence);
			expect(await engine.release(first)).toMatchObject({ status: 'lost' });
			await other.release(taker);
		});

		it('extend keeps a lease alive past its original TTL', async () => {
			const key = uniqueKey('ttl-extend');
			const first = await engine.acquire(key, options('exec-ext-a', 1_000, 0));
			const extended = await engine.extend(first, LONG);
			expect(extended).toMatchObject({ token: first.token, fence: first.fence });
			expect(extended.expiresAt.getTime()).toBeGreaterThan(first.expiresAt.getTime());
			await sleep(1_200);
			expect((await other.holder(key))?.owner.executionId).toBe('exec-ext-a');
			expect(await rejectionOf(other.acquire(key, options('exec-ext-b', LONG, 0)))).toBeInstanceOf(LockTimeoutError);
			expect(await engine.release(first)).toMatchObject({ status: 'released' });
		});
	});

	describe('fencing', () => {
		it('the fence grows strictly with every new holder, across release/re-acquire and engines', async () => {
			const key = uniqueKey('fence');
			const fences: number[] = [];
			const tokens = new Set<string>();
			for (let i = 0; i < 8; i++) {
				const via = i % 2 === 0 ? engine : other;
				const lease = await via.acquire(key, options(`exec-fence-${i % 3}`, LONG, 0));
				fences.push(lease.fence);
				tokens.add(lease.token);
				expect(await via.release(lease)).toMatchObject({ status: 'released' });
			}
			expect(isStrictlyIncreasing(fences)).toBe(true);
			expect(tokens.size).toBe(8);
		});

		it('re-entry keeps the fence; a takeover after expiry raises it', async () => {
			const key = uniqueKey('fence-takeover');
			const client = new LockClient(engine);
			const first = await client.acquire(key, options('exec-fto-a', 1_000, 0));
			const again = await client.acquire(key, options('exec-fto-a', 1_000, 0));
			expect(again).toMatchObject({ reentered: true });
			expect(again.lock.fence).toBe(first.lock.fence);
			first.lock.stopRenewing();
			const taker = await guard(other.acquire(key, options('exec-fto-b', LONG, 20_000)), 15_000, 'takeover');
			expect(taker.fence).toBeGreaterThan(first.lock.fence);
			expect(first.lock.state).toBe('expired');
			await other.release(taker);
		});

		it("an old holder's release after expiry and takeover leaves the new holder's lock in place", async () => {
			const key = uniqueKey('fence-stale');
			const old = await engine.acquire(key, options('exec-stale-old', 250, 0));
			const current = await guard(other.acquire(key, options('exec-stale-new', LONG, 20_000)), 15_000, 'takeover');
			expect(current.fence).toBeGreaterThan(old.fence);

			expect(await engine.release(old)).toEqual({ key, status: 'lost' });
			// The old holder's release must not free the new holder's lease.
			expect((await engine.holder(key))?.owner.executionId).toBe('exec-stale-new');
			expect((await other.holder(key))?.owner.executionId).toBe('exec-stale-new');
			expect(await rejectionOf(engine.acquire(key, options('exec-stale-third', LONG, 0)))).toBeInstanceOf(
				LockTimeoutError,
			);
			// Nor does its extend revive the old lease.
			await expect(engine.extend(old, LONG)).rejects.toBeInstanceOf(LockLostError);
			expect((await engine.holder(key))?.owner.executionId).toBe('exec-stale-new');

			const renewed = await other.extend(current, LONG);
			expect(renewed).toMatchObject({ token: current.token, fence: current.fence });
			expect(await other.release(current)).toMatchObject({ status: 'released' });
		});
	});

	describe('prompt wake-up', () => {
		it('a waiter blocked on a long lease gets the lock right after release, long before the TTL runs out', async () => {
			const key = uniqueKey('wake');
			const first = await engine.acquire(key, options('exec-wake-a', LONG, 0));
			const waiting = other.acquire(key, options('exec-wake-b', LONG, LONG));
			await untilQueued(other, key, 1);
			expect(await engine.release(first)).toMatchObject({ status: 'released' });

			const second = await guard(waiting, 30_000, 'woken waiter');
			expect(second.owner.executionId).toBe('exec-wake-b');
			expect(second.fence).toBe(first.fence + 1);
			// The first lease still had most of its 60 s to run: the waiter was woken, it did not outwait the TTL.
			expect(second.acquiredAt.getTime()).toBeLessThan(first.expiresAt.getTime() - LONG / 2);
			await other.release(second);
		});

		it('the wake-up is driven by the release itself, not by a timer (timers frozen while waiting)', async () => {
			// Fresh engines so every timer they create is a fake one; with timers frozen only an event
			// (in-process wake / PostgreSQL NOTIFY) can get the waiter going before the guard expires.
			const group = subject.group(2);
			const [holderEngine, waiterEngine] = group.engines;
			const key = uniqueKey('wake-frozen');
			try {
				// Warm up (table check, LISTEN connection: a wait > 0 starts it) before freezing.
				await waiterEngine.release(await waiterEngine.acquire(uniqueKey('warm'), options('exec-warm', LONG, 1_000)));
				const first = await holderEngine.acquire(key, options('exec-frozen-a', LONG, 0));
				jest.useFakeTimers({
					doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'Date', 'hrtime', 'performance'],
				});
				try {
					const waiting = waiterEngine.acquire(key, options('exec-frozen-b', LONG, LONG));
					await untilQueued(waiterEngine, key, 1);
					expect(await holderEngine.release(first)).toMatchObject({ status: 'released' });
					const second = await guard(waiting, 15_000, 'waiter with frozen timers');
					expect(second.owner.executionId).toBe('exec-frozen-b');
					await waiterEngine.release(second);
				} finally {
					jest.useRealTimers();
				}
			} finally {
				await group.close();
			}
		});

		it('after several hand-overs every waiter is woken in turn', async () => {
			const key = uniqueKey('wake-chain');
			const first = await engine.acquire(key, options('exec-chain-0', LONG, 0));
			const order: string[] = [];
			const waiters = [1, 2, 3, 4].map(async (i) => {
				const via = i % 2 === 0 ? engine : other;
				const lease = await via.acquire(key, options(`exec-chain-${i}`, LONG, LONG));
				order.push(lease.owner.executionId);
				expect(lease.acquiredAt.getTime()).toBeLessThan(first.expiresAt.getTime() - LONG / 2);
				await via.release(lease);
			});
			await untilQueued(other, key, 1);
			await engine.release(first);
			await guard(Promise.all(waiters), 30_000, 'chain of waiters');
			expect(order.sort()).toEqual(['exec-chain-1', 'exec-chain-2', 'exec-chain-3', 'exec-chain-4']);
		});
	});

	describe('timeouts', () => {
		it('waitTimeoutMs elapsing throws LockTimeoutError naming the holder execution, workflow and since-time', async () => {
			const key = uniqueKey('timeout');
			const held = await engine.acquire(key, options('exec-holder-5', LONG, 0, 'wf-timeouts'));
			const error = await rejectionOf(other.acquire(key, options('exec-waiter-5', LONG, 300)));

			expect(error).toBeInstanceOf(LockTimeoutError);
			expect(error.key).toBe(key);
			expect(error.message).toContain('exec-holder-5');
			expect(error.message).toContain('wf-timeouts');
			expect(error.message).toContain(held.acquiredAt.toISOString());
			expect(error.holder?.owner).toMatchObject({ executionId: 'exec-holder-5', workflowId: 'wf-timeouts' });
			// The holder is untouched by the failed wait.
			expect((await engine.holder(key))?.owner.executionId).toBe('exec-holder-5');
			await engine.release(held);
		});

		it('waitTimeoutMs 0 tries exactly once: succeeds on a free key, fails at once on a held one', async () => {
			const key = uniqueKey('timeout-zero');
			const held = await engine.acquire(key, options('exec-holder-0', LONG, 0, 'wf-zero'));
			const error = await rejectionOf(other.acquire(key, options('exec-waiter-0', LONG, 0)));
			expect(error).toBeInstanceOf(LockTimeoutError);
			expect(error.message).toContain('exec-holder-0');
			expect(error.message).toContain('wf-zero');
			expect(error.message).toContain(held.acquiredAt.toISOString());

			await engine.release(held);
			const now = await other.acquire(key, options('exec-waiter-0', LONG, 0));
			expect(now.fence).toBe(held.fence + 1);
			await other.release(now);
		});

		it('losers of a same-moment race with waitTimeoutMs 0 get a LockTimeoutError naming the winner', async () => {
			const group = subject.group(6);
			try {
				const reusedKey = uniqueKey('race-reused');
				const missing: string[] = [];
				for (let round = 0; round < 10; round++) {
					// Fresh keys (row inserted during the race) and a reused key (row released between rounds).
					for (const key of [uniqueKey('race-fresh'), reusedKey]) {
						const results = await Promise.allSettled(
							group.engines.map(async (e, i) => await e.acquire(key, options(`exec-race-${round}-${i}`, LONG, 0, 'wf-race'))),
						);
						const winners = results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<LockLease>).value);
						expect(winners).toHaveLength(1);
						const winner = winners[0];
						for (const result of results) {
							if (result.status === 'fulfilled') continue;
							expect(result.reason).toBeInstanceOf(LockTimeoutError);
							if (!String(result.reason.message).includes(winner.owner.executionId)) {
								missing.push(`${key === reusedKey ? 'reused' : 'fresh'} key: "${result.reason.message}"`);
							}
						}
						await group.engines[0].release(winner);
					}
				}
				expect(missing).toEqual([]);
			} finally {
				await group.close();
			}
		});

		it('waiters queued behind another waiter also time out with the holder named', async () => {
			const key = uniqueKey('timeout-queue');
			const held = await engine.acquire(key, options('exec-holder-q', LONG, 0, 'wf-queue'));
			const results = await Promise.all(
				[1, 2, 3].map(async (i) => await rejectionOf(other.acquire(key, options(`exec-q-${i}`, LONG, 400)))),
			);
			// And a try-once while others are queued.
			const waitingLonger = other.acquire(key, options('exec-q-long', LONG, 800)).catch((e) => e);
			await untilQueued(other, key, 1);
			results.push(await rejectionOf(other.acquire(key, options('exec-q-zero', LONG, 0))));
			results.push(await waitingLonger);
			for (const error of results) {
				expect(error).toBeInstanceOf(LockTimeoutError);
				expect(error.message).toContain('exec-holder-q');
				expect(error.message).toContain('wf-queue');
				expect(error.message).toContain(held.acquiredAt.toISOString());
			}
			await engine.release(held);
		});
	});

	describe('re-entrancy (by token, through LockClient) and owner identity', () => {
		it.each([
			['the same engine (in-process queue)', 'same'],
			['another engine (another process)', 'other'],
		])(
			'the holding owner re-acquires through its LockClient while another execution is queued via %s: renewed, no deadlock',
			async (_label, where) => {
				const key = uniqueKey('reenter');
				const client = new LockClient(engine);
				const waiterEngine = where === 'same' ? engine : other;
				const first = await client.acquire(key, options('exec-re-a', 5_000, 0));
				expect(first.reentered).toBe(false);
				const waiting = waiterEngine.acquire(key, options('exec-re-b', LONG, LONG));
				await untilQueued(waiterEngine, key, 1);

				const storeEndBefore = first.lock.expiresAt.getTime();
				const again = await guard(client.acquire(key, options('exec-re-a', LONG, LONG)), 10_000, 're-entrant acquire');
				expect(again.reentered).toBe(true);
				expect(again.lock).toBe(first.lock);
				expect(again.lock.expiresAt.getTime()).toBeGreaterThan(storeEndBefore);
				// Try-once re-entry also works with a waiter queued.
				const thrice = await guard(client.acquire(key, options('exec-re-a', LONG, 0)), 10_000, 're-entry, wait 0');
				expect(thrice).toMatchObject({ reentered: true });
				expect((await other.holder(key))?.owner.executionId).toBe('exec-re-a');

				// One release frees it (re-entry is a renewal, not a counter) and the queued waiter goes.
				expect(await first.lock.release()).toMatchObject({ status: 'released' });
				const second = await guard(waiting, 20_000, 'queued waiter after re-entrant holder released');
				expect(second).toMatchObject({ fence: first.lock.fence + 1 });
				expect(second.owner.executionId).toBe('exec-re-b');
				await waiterEngine.release(second);
				expect(client.size).toBe(0);
			},
		);

		it('another execution does not re-enter', async () => {
			const key = uniqueKey('reenter-other');
			const first = await engine.acquire(key, options('exec-ro-a', LONG, 0));
			expect(await rejectionOf(engine.acquire(key, options('exec-ro-b', LONG, 0)))).toBeInstanceOf(LockTimeoutError);
			expect(await rejectionOf(other.acquire(key, options('exec-ro-b', LONG, 0)))).toBeInstanceOf(LockTimeoutError);
			await engine.release(first);
		});

		it('the same execution ID does not re-enter in the store: a second run of it (another worker) waits like anyone', async () => {
			const key = uniqueKey('reenter-same-id');
			const first = await engine.acquire(key, options('exec-rerun', LONG, 0));
			expect(await rejectionOf(other.acquire(key, options('exec-rerun', LONG, 0)))).toBeInstanceOf(LockTimeoutError);
			// Nor through another process's LockClient: it holds no token for the key.
			expect(await rejectionOf(new LockClient(other).acquire(key, options('exec-rerun', LONG, 0)))).toBeInstanceOf(LockTimeoutError);
			await engine.release(first);
		});

		it('two n8n instances with the same execution ID exclude each other, and each releases only its own locks', async () => {
			const [shared, onlyA, onlyB] = ['shared', 'a', 'b'].map((name) => uniqueKey(`instances-${name}`));
			const ownerOf = (instanceId: string) => ({ instanceId, executionId: '123', workflowId: 'wf' });
			const a = await engine.acquire(shared, { owner: ownerOf('instance-a'), ttlMs: LONG, waitTimeoutMs: 0 });
			expect(await rejectionOf(other.acquire(shared, { owner: ownerOf('instance-b'), ttlMs: LONG, waitTimeoutMs: 0 }))).toBeInstanceOf(LockTimeoutError);
			expect((await other.holder(shared))?.owner).toMatchObject({ instanceId: 'instance-a', executionId: '123' });
			await engine.acquire(onlyA, { owner: ownerOf('instance-a'), ttlMs: LONG, waitTimeoutMs: 0 });
			await other.acquire(onlyB, { owner: ownerOf('instance-b'), ttlMs: LONG, waitTimeoutMs: 0 });

			const freedB = await other.releaseExecution('123', 'instance-b');
			expect(freedB.map((outcome) => outcome.key)).toEqual([onlyB]);
			expect((await engine.holder(shared))?.owner.instanceId).toBe('instance-a');
			expect((await engine.holder(onlyA))?.owner.instanceId).toBe('instance-a');
			// Without an instance only owners without one match: an instance's locks stay.
			expect(await engine.releaseExecution('123')).toEqual([]);
			const freedA = await engine.releaseExecution('123', 'instance-a');
			expect(freedA.map((outcome) => outcome.key).sort()).toEqual([shared, onlyA].sort());
			expect(await engine.release(a)).toMatchObject({ status: 'lost' });
		});
	});

	describe('releaseExecution', () => {
		it('frees exactly the locks of that execution and wakes their waiters', async () => {
			const keys = ['a', 'b', 'c'].map((k) => uniqueKey(`relx-${k}`));
			const foreignKey = uniqueKey('relx-foreign');
			const leases: LockLease[] = [];
			for (const key of keys) leases.push(await engine.acquire(key, options('exec-relx-e', LONG, 0)));
			const foreign = await other.acquire(foreignKey, options('exec-relx-f', LONG, 0));
			const waiting = other.acquire(keys[1], options('exec-relx-w', LONG, LONG));
			await untilQueued(other, keys[1], 1);

			const outcomes = await engine.releaseExecution('exec-relx-e');
			expect(outcomes.map((o) => o.key).sort()).toEqual([...keys].sort());
			for (const outcome of outcomes) expect(outcome.status).toBe('released');

			const woken = await guard(waiting, 30_000, 'waiter on a key freed by releaseExecution');
			expect(woken.owner.executionId).toBe('exec-relx-w');
			expect(woken.acquiredAt.getTime()).toBeLessThan(leases[1].expiresAt.getTime() - LONG / 2);

			expect(await engine.holder(keys[0])).toBeUndefined();
			expect(await engine.holder(keys[2])).toBeUndefined();
			expect((await engine.holder(foreignKey))?.owner.executionId).toBe('exec-relx-f');
			expect((await engine.holder(keys[1]))?.owner.executionId).toBe('exec-relx-w');
			// The execution's old handles are gone.
			for (const lease of leases) expect(await engine.release(lease)).toMatchObject({ status: 'lost' });
			expect(await engine.releaseExecution('exec-relx-e')).toEqual([]);
			expect(await engine.releaseExecution('exec-relx-nobody')).toEqual([]);

			await other.release(woken);
			await other.release(foreign);
		});
	});

	// Finding 7. Each fails with the signal ignored: the cancelled waiter takes its turn (its acquire
	// resolves) and the next waiter waits behind it for the whole 60 s lease (the guard trips).
	describe('cancellation (n8n cancels a waiting execution)', () => {
		it.each([
			['a cancelled waiter withdraws its ticket, never gets the lock, and the next waiter does', true],
			['control: the same waiter, not cancelled, takes its turn before the next waiter', false],
		])('%s', async (_label, cancelled) => {
			const key = uniqueKey(cancelled ? 'cancel' : 'cancel-control');
			const held = await engine.acquire(key, options('exec-cancel-holder', LONG, 0));
			const controller = new AbortController();
			const first = other.acquire(key, { ...options('exec-cancel-first', LONG, LONG), signal: controller.signal });
			const firstOutcome = first.then(
				(lease) => ({ lease }),
				(error: unknown) => ({ error }),
			);
			await untilQueued(other, key, 1);
			const next = other.acquire(key, options('exec-cancel-next', LONG, LONG));
			await untilQueued(other, key, 2);
			if (cancelled) {
				controller.abort();
				const outcome = await guard(firstOutcome, 10_000, 'cancelled waiter');
				expect('error' in outcome && outcome.error).toBeInstanceOf(LockWaitCancelledError);
				expect(queuedWaiters(other, key)).toBe(1);
			}
			expect(await engine.release(held)).toMatchObject({ status: 'released' });
			if (cancelled) {
				const lease = await guard(next, 20_000, 'next waiter after the cancelled one');
				// Nobody held the key in between: the cancelled waiter never had it.
				expect(lease).toMatchObject({ fence: held.fence + 1 });
				expect(lease.owner.executionId).toBe('exec-cancel-next');
				await other.release(lease);
			} else {
				const outcome = await guard(firstOutcome, 20_000, 'first waiter');
				expect('lease' in outcome && outcome.lease).toMatchObject({ fence: held.fence + 1 });
				if ('lease' in outcome) await other.release(outcome.lease);
				const lease = await guard(next, 20_000, 'next waiter');
				expect(lease.owner.executionId).toBe('exec-cancel-next');
				await other.release(lease);
			}
		});

		it('an acquire cancelled before it starts throws without touching the store (a free key stays free)', async () => {
			const key = uniqueKey('cancel-before');
			for (const waitTimeoutMs of [0, LONG]) {
				const error = await rejectionOf(engine.acquire(key, { ...options('exec-cancel-before', LONG, waitTimeoutMs), signal: AbortSignal.abort() }));
				expect(error).toBeInstanceOf(LockWaitCancelledError);
				expect(await other.holder(key)).toBeUndefined();
			}
		});
	});

	describe('settings and keys', () => {
		it.each([
			['ttl 0', { ttlMs: 0 }],
			['negative ttl', { ttlMs: -5 }],
			['NaN ttl', { ttlMs: Number.NaN }],
			['negative wait', { waitTimeoutMs: -1 }],
			['NaN wait', { waitTimeoutMs: Number.NaN }],
			['no execution ID', { owner: { executionId: '' } }],
		])('rejects %s with LockConfigurationError', async (_label, override) => {
			const key = uniqueKey('bad');
			const error = await rejectionOf(engine.acquire(key, { ...options('exec-bad', 1_000, 0), ...override }));
			expect(error).toBeInstanceOf(LockConfigurationError);
			expect(await engine.holder(key)).toBeUndefined();
		});

		it('rejects an empty key and a bad extend TTL with LockConfigurationError', async () => {
			expect(await rejectionOf(engine.acquire('', options('exec-bad', 1_000, 0)))).toBeInstanceOf(LockConfigurationError);
			const key = uniqueKey('bad-extend');
			const lease = await engine.acquire(key, options('exec-bad-ext', LONG, 0));
			for (const ttl of [0, -1, Number.NaN]) {
				expect(await rejectionOf(engine.extend(lease, ttl))).toBeInstanceOf(LockConfigurationError);
			}
			// The lease is intact after the refused extends.
			expect((await engine.holder(key))?.owner.executionId).toBe('exec-bad-ext');
			await engine.release(lease);
		});

		// Finding 9. Fails without the bound: a TTL above 2^31-1 ms would be taken (and its timers fire at once).
		it('refuses a TTL above 24 hours (acquire and extend) with a LockConfigurationError naming the limit; 24 hours is fine', async () => {
			const key = uniqueKey('ttl-bound');
			for (const ttlMs of [MAX_LOCK_TTL_MS + 1, 2 ** 31, 2 ** 40]) {
				const error = await rejectionOf(engine.acquire(key, options('exec-ttl-bound', ttlMs, 0)));
				expect(error).toBeInstanceOf(LockConfigurationError);
				expect(error.message).toContain(String(MAX_LOCK_TTL_MS));
			}
			expect(await engine.holder(key)).toBeUndefined();
			const lease = await engine.acquire(key, options('exec-ttl-bound', MAX_LOCK_TTL_MS, 0));
			expect(await rejectionOf(engine.extend(lease, 2 ** 31))).toBeInstanceOf(LockConfigurationError);
			await engine.extend(lease, MAX_LOCK_TTL_MS);
			expect(await engine.release(lease)).toMatchObject({ status: 'released' });
		});

		const tenKb = `${'x'.repeat(10 * 1024 - 1)}!`;
		it.each([
			['quotes and SQL', `tenant 'o''brien' "quoted" ; DROP TABLE users; -- \\ $1`],
			['unicode', 'mandant-münchen-租户-🔐-ключ-e\u0301-end'],
			['10 kB', tenKb],
		])('locks a key with %s', async (_label, key) => {
			const lease = await engine.acquire(key, options('exec-key-a', LONG, 0));
			expect(lease.key).toBe(key);
			expect((await other.holder(key))?.owner.executionId).toBe('exec-key-a');
			const error = await rejectionOf(other.acquire(key, options('exec-key-b', LONG, 0)));
			expect(error).toBeInstanceOf(LockTimeoutError);
			expect(await engine.release(lease)).toMatchObject({ key, status: 'released' });
			const next = await other.acquire(key, options('exec-key-b', LONG, 0));
			expect(next.fence).toBeGreaterThan(lease.fence);
			await other.release(next);
		});

		it('long keys that differ only at the end are different locks', async () => {
			const base = 'k'.repeat(10 * 1024);
			const a = await engine.acquire(`${base}-a`, options('exec-long-a', LONG, 0));
			const b = await other.acquire(`${base}-b`, options('exec-long-b', LONG, 0));
			expect((await engine.holder(`${base}-a`))?.owner.executionId).toBe('exec-long-a');
			expect((await engine.holder(`${base}-b`))?.owner.executionId).toBe('exec-long-b');
			await engine.release(a);
			await other.release(b);
		});
	});
});

describe('memory lock engine: registry', () => {
	afterAll(async () => {
		await closeLockEngines();
	});

	it('refuses queue mode with a LockConfigurationError telling to choose PostgreSQL', () => {
		let error: unknown;
		try {
			memoryLockEngine('queue');
		} catch (caught) {
			error = caught;
		}
		expect(error).toBeInstanceOf(LockConfigurationError);
		expect((error as Error).message).toMatch(/queue/i);
		expect((error as Error).message).toMatch(/PostgreSQL/);
	});

	it('serves one shared engine outside queue mode', () => {
		const engine = memoryLockEngine('regular');
		expect(engine).toBeInstanceOf(MemoryLockEngine);
		expect(memoryLockEngine('regular')).toBe(engine);
	});
});

describe('memory lock engine: its own store', () => {
	afterEach(() => jest.restoreAllMocks());

	// Finding 4. Fails on the old engine, which judged expiry by Date.now(): stepped an hour ahead,
	// the lease read as expired and the other owner took the key.
	it('a wall-clock step ahead does not end a lease (expiry is judged by the monotonic clock)', async () => {
		const engine = new MemoryLockEngine();
		const key = uniqueKey('mem-step-ahead');
		const lease = await engine.acquire(key, options('exec-step-a', LONG, 0));
		const realNow = Date.now();
		jest.spyOn(Date, 'now').mockReturnValue(realNow + 3_600_000);
		expect((await engine.holder(key))?.owner.executionId).toBe('exec-step-a');
		expect(await rejectionOf(engine.acquire(key, options('exec-step-b', LONG, 0)))).toBeInstanceOf(LockTimeoutError);
		expect(await engine.extend(lease, LONG)).toMatchObject({ token: lease.token });
		expect(await engine.release(lease)).toMatchObject({ status: 'released' });
	});

	// Fails on the old engine: stepped an hour back, a 200 ms lease stayed held for an hour.
	it('a wall-clock step back does not stretch a lease', async () => {
		const engine = new MemoryLockEngine();
		const key = uniqueKey('mem-step-back');
		await engine.acquire(key, options('exec-back-a', 200, 0));
		const realNow = Date.now();
		jest.spyOn(Date, 'now').mockReturnValue(realNow - 3_600_000);
		const next = await guard(engine.acquire(key, options('exec-back-b', LONG, 20_000)), 10_000, 'takeover after 200 ms');
		expect(next.owner.executionId).toBe('exec-back-b');
		await engine.release(next);
	});

	it('extend tells a recorded release (LockReleasedError) from a loss (LockLostError: taken, or gone)', async () => {
		const engine = new MemoryLockEngine({ releaseRecordMs: 20 });
		const key = uniqueKey('mem-records');
		const released = await engine.acquire(key, options('exec-rec-a', 20, 0));
		await engine.release(released);
		expect(await rejectionOf(engine.extend(released, LONG))).toBeInstanceOf(LockReleasedError);

		const expired = await engine.acquire(key, options('exec-rec-b', 20, 0));
		await sleep(40);
		const taker = await engine.acquire(key, options('exec-rec-c', LONG, 0));
		const taken = await rejectionOf(engine.extend(expired, LONG));
		expect(taken).toBeInstanceOf(LockLostError);
		expect(taken.reason).toBe('taken');
		await engine.release(taker);

		// The release record of the first lease has been forgotten (20 ms, then a sweep on the next call).
		await sleep(40);
		await engine.heldLocks(10);
		expect(await rejectionOf(engine.extend(released, LONG))).toBeInstanceOf(LockLostError);
	});

	// Fails when a record lives as long as the lease's whole span (acquired to expiry): a lock renewed
	// for hours left its release record for hours, though no renewal of it can come after its lease's end.
	it('a release record lasts the released lease\'s remaining time plus the record time, not how long it was held', async () => {
		const engine = new MemoryLockEngine({ releaseRecordMs: 20 });
		const key = uniqueKey('mem-record-span');
		const lease = await engine.acquire(key, options('exec-record-span', 400, 0));
		// Held at least 500 ms on a 400 ms lease: the lease's span (acquired to expiry) is at least 900 ms.
		for (let i = 0; i < 10; i++) {
			await sleep(50);
			await engine.extend(lease, 400);
		}
		await engine.release(lease);
		expect(await rejectionOf(engine.extend(lease, LONG))).toBeInstanceOf(LockReleasedError);
		// Past the lease's end (at most 400 ms) and the record time (20 ms), within its span; the next call sweeps.
		await sleep(600);
		await engine.heldLocks(10);
		expect(await rejectionOf(engine.extend(lease, LONG))).toBeInstanceOf(LockLostError);
	});

	// Finding 12. Fails on the old engine: one slot per key ever locked stayed in memory.
	it('keys locked once leave nothing behind: leases, tickets and release records are forgotten', async () => {
		const engine = new MemoryLockEngine({ releaseRecordMs: 20, ticketLeaseMs: 60 });
		const entries = () =>
			Object.values(engine as unknown as Record<string, unknown>)
				.filter((value): value is Map<unknown, unknown> => value instanceof Map)
				.reduce((sum, map) => sum + map.size, 0);
		const holder = await engine.acquire(uniqueKey('mem-growth-held'), options('exec-growth-held', 30, 0));
		// A waiter that gives up (or, on a slow machine, gets the key after the holder's 30 ms: then its lease runs out too).
		const queued = engine.acquire(holder.key, options('exec-growth-waiter', 20, 10)).catch(() => undefined);
		for (let i = 0; i < 500; i++) {
			const key = uniqueKey('mem-growth');
			await engine.release(await engine.acquire(key, options(`exec-growth-${i}`, 20, 0)));
		}
		await queued;
		await sleep(100);
		// The next call sweeps.
		await engine.heldLocks(10);
		expect(entries()).toBe(0);
	});

	it('the fence keeps growing for a key that was forgotten in between', async () => {
		const engine = new MemoryLockEngine();
		const key = uniqueKey('mem-fence');
		const first = await engine.acquire(key, options('exec-fence-a', LONG, 0));
		await engine.release(first);
		await engine.release(await engine.acquire(uniqueKey('mem-fence-other'), options('exec-fence-x', LONG, 0)));
		const second = await engine.acquire(key, options('exec-fence-b', LONG, 0));
		expect(second.fence).toBeGreaterThan(first.fence);
		await engine.release(second);
	});
});

describe('lock timers', () => {
	// Finding 9. Fails without the cap: Node fires a longer timer at once (and warns), so a loop on it spins.
	it('never asks Node for a timer longer than 2^31-1 ms', () => {
		const delays: number[] = [];
		const realSetTimeout = globalThis.setTimeout;
		const spy = jest.spyOn(globalThis, 'setTimeout').mockImplementation(((handler: () => void, ms?: number) => {
			delays.push(ms ?? 0);
			return realSetTimeout(handler, 0);
		}) as typeof setTimeout);
		try {
			sleepUnlessWoken(2 ** 32, true).wake();
			startBackgroundTimer(2 ** 40, () => undefined)();
		} finally {
			spy.mockRestore();
		}
		expect(delays).toHaveLength(2);
		for (const delay of delays) expect(delay).toBeLessThanOrEqual(2 ** 31 - 1);
	});
});
