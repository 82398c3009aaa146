/**
 * The lease keeper on real lock stores: held locks renew themselves (HeldLock); the keeper decides
 * when that ends. It frees the locks as soon as the execution is reported ended, keeps them while n8n
 * cannot answer, stops their renewal (TTL applies) when it can never tell, and reports a lost lock.
 * `other` is a second engine (another process). The n8n side (the executions API) is a function
 * here; test/e2e/leaseRenewal.test.ts drives a real n8n.
 */
import { LockLostError, LockTimeoutError } from '../../nodes/shared/lock/errors';
import { LockClient, type HeldLock } from '../../nodes/shared/lock/HeldLock';
import type { ExecutionLookup, ExecutionStatusSource } from '../../nodes/shared/lock/executionFollowing';
import { LeaseKeeper } from '../../nodes/shared/lock/LeaseKeeper';
import type { LockEngine, ReleaseOutcome } from '../../nodes/shared/lock/types';
import {
	options,
	postgresFactory,
	redisFactory,
	rejectionOf,
	sleep,
	uniqueKey,
	type EngineFactory,
	type EngineUnderTest,
} from '../helpers/lockTesting';

const TTL = 900;

/**
 * A scripted answer of n8n's executions API about one execution, switchable during the test. It
 * cannot list (as for a key without execution:list): every round asks about the execution itself.
 */
function executionStatus(initial: ExecutionLookup | Error) {
	const calls = { count: 0 };
	let answer: ExecutionLookup | Error = initial;
	const source: ExecutionStatusSource = {
		id: uniqueKey('n8n'),
		listRunning: async () => undefined,
		lookUp: async () => {
			calls.count += 1;
			if (answer instanceof Error) throw answer;
			return answer;
		},
	};
	return { calls, source, set: (next: ExecutionLookup | Error) => (answer = next) };
}

function recordingLogger() {
	const lines: string[] = [];
	return {
		lines,
		warn: (message: string, meta?: Record<string, unknown>) => lines.push(`warn ${message} ${JSON.stringify(meta ?? {})}`),
		debug: (message: string, meta?: Record<string, unknown>) => lines.push(`debug ${message} ${JSON.stringify(meta ?? {})}`),
	};
}

/** Resolves when `check` holds; rejects after `limitMs` (a liveness guard, not a speed claim). */
async function eventually(check: () => Promise<boolean>, limitMs: number, what: string): Promise<void> {
	const giveUp = Date.now() + limitMs;
	while (!(await check())) {
		if (Date.now() > giveUp) throw new Error(`${what}: not after ${limitMs} ms`);
		await sleep(50);
	}
}

describe.each<EngineFactory>([postgresFactory('lock_keep'), redisFactory('lock_keep')])('$backend: lease keeper', (factory) => {
	let subject: EngineUnderTest;
	let engine: LockEngine;
	let other: LockEngine;
	let client: LockClient;
	let keeper: LeaseKeeper;
	let log: ReturnType<typeof recordingLogger>;

	beforeAll(async () => {
		subject = await factory.create();
		engine = subject.engine;
		other = subject.other;
	});
	beforeEach(() => {
		log = recordingLogger();
		keeper = new LeaseKeeper(log);
		client = new LockClient(engine);
	});
	afterEach(() => {
		keeper.stopAll();
		client.abandonAll();
	});
	afterAll(async () => {
		await subject.close();
	});

	async function held(key: string, executionId: string, ttlMs = TTL): Promise<HeldLock> {
		return (await client.acquire(key, options(executionId, ttlMs, 0), log)).lock;
	}

	function watch(executionId: string, locks: HeldLock[], status: { source: ExecutionStatusSource }, extra: Partial<Parameters<LeaseKeeper['keep']>[0]> = {}) {
		keeper.keep({ ownerKey: executionId, executionId, locks, statusSource: status.source, followed: true, ...extra });
	}

	async function takenByOther(key: string): Promise<boolean> {
		try {
			const lease = await other.acquire(key, options('exec-other', 60_000, 0));
			await other.release(lease);
			return true;
		} catch (error) {
			if (error instanceof LockTimeoutError) return false;
			throw error;
		}
	}

	it('control: a raw lease (no renewal) runs out after its TTL and another process takes the lock', async () => {
		const key = uniqueKey('keep-control');
		await engine.acquire(key, options('exec-control', TTL, 0));
		await sleep(3 * TTL);
		expect(await takenByOther(key)).toBe(true);
	});

	it('keeps the lock past 3x its TTL while the execution runs; nobody else gets it', async () => {
		const key = uniqueKey('keep-running');
		const status = executionStatus('running');
		watch('exec-slow', [await held(key, 'exec-slow')], status);
		await sleep(3 * TTL);
		expect(await takenByOther(key)).toBe(false);
		expect((await other.holder(key))?.owner.executionId).toBe('exec-slow');
		expect(status.calls.count).toBeGreaterThan(0);
	});

	it('frees the locks of an execution reported ended long before the TTL, and says so once', async () => {
		const keys = [uniqueKey('keep-ended-a'), uniqueKey('keep-ended-b')];
		const status = executionStatus('running');
		const released: ReleaseOutcome[][] = [];
		watch('exec-ended', [await held(keys[0], 'exec-ended', 120_000), await held(keys[1], 'exec-ended', 120_000)], status, {
			onReleased: (outcomes) => void released.push(outcomes),
		});
		status.set('ended');
		// The TTL is two minutes: a free lock within 30 s can only be the keeper's doing.
		await eventually(async () => (await other.holder(keys[0])) === undefined, 30_000, 'lock of the ended execution freed');
		expect(await other.holder(keys[1])).toBeUndefined();
		await eventually(async () => released.length === 1, 10_000, 'release reported');
		expect(released[0].map((outcome) => outcome.status)).toEqual(['released', 'released']);
		expect(keeper.keptOwners()).not.toContain('exec-ended');
		expect(client.size).toBe(0);
	});

	it('keeps the lock while n8n cannot answer (API down): losing it could let another tenant in', async () => {
		const key = uniqueKey('keep-unknown');
		const status = executionStatus(new Error('connect ECONNREFUSED 127.0.0.1:5678'));
		watch('exec-api-down', [await held(key, 'exec-api-down')], status);
		await sleep(3 * TTL);
		expect(await takenByOther(key)).toBe(false);
		expect(log.lines.filter((line) => line.startsWith('warn') && line.includes('could not ask n8n'))).toHaveLength(1);

		status.set('ended');
		await eventually(async () => (await other.holder(key)) === undefined, 30_000, 'freed once n8n answers');
	});

	it('stops renewing (the TTL applies) when the API key can never see the execution, with a warning naming the scope', async () => {
		const key = uniqueKey('keep-untrackable');
		const status = executionStatus('forbidden');
		const lock = await held(key, 'exec-hidden');
		watch('exec-hidden', [lock], status);
		await eventually(async () => keeper.keptOwners().length === 0, 10_000, 'keeper gave up');
		expect(log.lines.some((line) => line.includes('execution:read'))).toBe(true);
		await sleep(2 * TTL);
		expect(await takenByOther(key)).toBe(true);
		expect(lock.state).toBe('expired');
		expect(lock.lost.aborted).toBe(false);
	});

	it('Release Lock (releaseOwner, then forget) frees the locks and stops watching', async () => {
		const key = uniqueKey('keep-forget');
		const status = executionStatus('running');
		const lock = await held(key, 'exec-forget');
		watch('exec-forget', [lock], status);
		expect(await client.releaseOwner({ executionId: 'exec-forget' })).toEqual([expect.objectContaining({ key, status: 'released' })]);
		keeper.forget('exec-forget');
		expect(keeper.keptOwners()).toEqual([]);
		expect(await takenByOther(key)).toBe(true);
		expect(lock.state).toBe('released');
	});

	it('a lease taken over by another owner is reported lost (signal, warning, onLost) and never renewed again', async () => {
		const key = uniqueKey('keep-lost');
		const status = executionStatus('running');
		const lock = await held(key, 'exec-first');
		const lost: HeldLock[] = [];
		watch('exec-first', [lock], status, { onLost: (which) => void lost.push(which) });
		// Someone frees the key behind the holder's back (a crashed store, an operator) and another takes
		// it; the pause only keeps a renewal from landing between the two (it would find the key free).
		lock.stopRenewing();
		await engine.release(lock);
		const successor = await other.acquire(key, options('exec-successor', 60_000, 0));
		lock.resumeRenewing();
		await eventually(async () => lock.lost.aborted, 10_000, 'loss noticed');
		expect(lock.state).toBe('lost');
		expect(lock.lost.reason).toBeInstanceOf(LockLostError);
		expect(lost).toEqual([lock]);
		expect(log.lines.some((line) => line.startsWith('warn') && line.includes('lost a lock'))).toBe(true);
		await eventually(async () => keeper.keptOwners().length === 0, 10_000, 'keeper dropped the lost lease');
		expect((await other.holder(key))?.owner.executionId).toBe('exec-successor');
		expect(await rejectionOf(engine.extend(lock, TTL))).toBeInstanceOf(LockLostError);
		await other.release(successor);
	});

	it('a cancelled execution is checked at once, not at the next interval', async () => {
		const key = uniqueKey('keep-cancel');
		const status = executionStatus('running');
		const cancel = new AbortController();
		// A long TTL spaces the rounds by the 3 s cap; the abort must not wait for it.
		watch('exec-cancel', [await held(key, 'exec-cancel', 120_000)], status, { cancelSignal: cancel.signal });
		expect(status.calls.count).toBe(0);
		status.set('ended');
		cancel.abort();
		// Synchronously: the abort itself asks n8n, no timer involved.
		expect(status.calls.count).toBe(1);
		await eventually(async () => (await other.holder(key)) === undefined, 30_000, 'freed after cancel');
	});

	it('watches every lock of an execution, also those added by a later swap of the same execution', async () => {
		const keys = [uniqueKey('keep-join-a'), uniqueKey('keep-join-b')];
		const status = executionStatus('running');
		watch('exec-join', [await held(keys[0], 'exec-join')], status);
		watch('exec-join', [await held(keys[1], 'exec-join')], status);
		expect(keeper.keptOwners()).toEqual(['exec-join']);
		await sleep(3 * TTL);
		expect(await takenByOther(keys[0])).toBe(false);
		expect(await takenByOther(keys[1])).toBe(false);
		status.set('ended');
		await eventually(async () => (await other.holder(keys[1])) === undefined && (await other.holder(keys[0])) === undefined, 30_000, 'both freed');
	});
});
