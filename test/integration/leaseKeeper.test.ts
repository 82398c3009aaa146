/**
 * The lease keeper on real lock stores: it renews a held lease while the execution runs (however long),
 * frees the locks as soon as the execution is reported ended, keeps them while n8n cannot answer,
 * and leaves them to the TTL when it can never tell. `other` is a second engine (another process).
 * The n8n side (the executions API) is a function here; test/e2e/leaseRenewal.test.ts drives a real n8n.
 */
import { LockLostError, LockTimeoutError } from '../../nodes/shared/lock/errors';
import { LeaseKeeper, type ExecutionState } from '../../nodes/shared/lock/LeaseKeeper';
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

/** A scripted answer of n8n's executions API, switchable during the test. */
function executionStatus(initial: ExecutionState | Error) {
	const calls = { count: 0 };
	let answer: ExecutionState | Error = initial;
	return {
		calls,
		set: (next: ExecutionState | Error) => (answer = next),
		ask: async (): Promise<ExecutionState> => {
			calls.count += 1;
			if (answer instanceof Error) throw answer;
			return answer;
		},
	};
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
	let keeper: LeaseKeeper;
	let log: ReturnType<typeof recordingLogger>;

	beforeAll(async () => {
		subject = await factory.create();
		engine = subject.engine;
		other = subject.other;
	});
	beforeEach(() => {
		log = recordingLogger();
		keeper = new LeaseKeeper(engine, log);
	});
	afterEach(() => keeper.stopAll());
	afterAll(async () => {
		await subject.close();
	});

	async function held(key: string, executionId: string, ttlMs = TTL) {
		const lease = await engine.acquire(key, options(executionId, ttlMs, 0));
		return { key, token: lease.token };
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

	it('control: without the keeper the lease runs out after its TTL and another process takes the lock', async () => {
		const key = uniqueKey('keep-control');
		await held(key, 'exec-control');
		await sleep(3 * TTL);
		expect(await takenByOther(key)).toBe(true);
	});

	it('keeps the lock past 3x its TTL while the execution runs; nobody else gets it', async () => {
		const key = uniqueKey('keep-running');
		const status = executionStatus('running');
		keeper.keep({ executionId: 'exec-slow', handles: [await held(key, 'exec-slow')], ttlMs: TTL, executionState: status.ask });
		await sleep(3 * TTL);
		expect(await takenByOther(key)).toBe(false);
		expect((await other.holder(key))?.owner.executionId).toBe('exec-slow');
		expect(status.calls.count).toBeGreaterThan(0);
	});

	it('frees the locks of an execution reported ended long before the TTL, and says so once', async () => {
		const keys = [uniqueKey('keep-ended-a'), uniqueKey('keep-ended-b')];
		const status = executionStatus('running');
		const released: ReleaseOutcome[][] = [];
		keeper.keep({
			executionId: 'exec-ended',
			handles: [await held(keys[0], 'exec-ended', 120_000), await held(keys[1], 'exec-ended', 120_000)],
			ttlMs: 120_000,
			executionState: status.ask,
			onReleased: (outcomes) => void released.push(outcomes),
		});
		status.set('ended');
		// The TTL is two minutes: a free lock within 30 s can only be the keeper's doing.
		await eventually(async () => (await other.holder(keys[0])) === undefined, 30_000, 'lock of the ended execution freed');
		expect(await other.holder(keys[1])).toBeUndefined();
		expect(released).toHaveLength(1);
		expect(released[0].map((outcome) => outcome.status)).toEqual(['released', 'released']);
		expect(keeper.keptExecutions()).not.toContain('exec-ended');
	});

	it('keeps the lock while n8n cannot answer (API down): losing it could let another tenant in', async () => {
		const key = uniqueKey('keep-unknown');
		const status = executionStatus(new Error('connect ECONNREFUSED 127.0.0.1:5678'));
		keeper.keep({ executionId: 'exec-api-down', handles: [await held(key, 'exec-api-down')], ttlMs: TTL, executionState: status.ask });
		await sleep(3 * TTL);
		expect(await takenByOther(key)).toBe(false);
		expect(log.lines.some((line) => line.startsWith('warn') && line.includes('could not ask n8n'))).toBe(true);

		status.set('ended');
		await eventually(async () => (await other.holder(key)) === undefined, 30_000, 'freed once n8n answers');
	});

	it('leaves the lock to its TTL when the API key can never see the execution, with a warning naming the scope', async () => {
		const key = uniqueKey('keep-untrackable');
		const status = executionStatus('untrackable');
		keeper.keep({ executionId: 'exec-hidden', handles: [await held(key, 'exec-hidden')], ttlMs: TTL, executionState: status.ask });
		await eventually(async () => keeper.keptExecutions().length === 0, 10_000, 'keeper gave up');
		expect(log.lines.some((line) => line.includes('execution:read'))).toBe(true);
		await sleep(2 * TTL);
		expect(await takenByOther(key)).toBe(true);
	});

	it('forget (Release Lock ran) stops the renewals', async () => {
		const key = uniqueKey('keep-forget');
		const status = executionStatus('running');
		const handle = await held(key, 'exec-forget');
		keeper.keep({ executionId: 'exec-forget', handles: [handle], ttlMs: TTL, executionState: status.ask });
		keeper.forget('exec-forget');
		expect(keeper.keptExecutions()).toEqual([]);
		await sleep(3 * TTL);
		expect(await takenByOther(key)).toBe(true);
	});

	it('never renews a lease it lost: after a release elsewhere and a new holder, the new holder keeps the lock', async () => {
		const key = uniqueKey('keep-lost');
		const status = executionStatus('running');
		const handle = await held(key, 'exec-first');
		keeper.keep({ executionId: 'exec-first', handles: [handle], ttlMs: TTL, executionState: status.ask });
		await engine.release(handle);
		const successor = await other.acquire(key, options('exec-successor', 60_000, 0));
		await eventually(async () => keeper.keptExecutions().length === 0, 10_000, 'keeper dropped the lost lease');
		expect((await other.holder(key))?.owner.executionId).toBe('exec-successor');
		expect(await rejectionOf(engine.extend(handle, TTL))).toBeInstanceOf(LockLostError);
		await other.release(successor);
	});

	it('a cancelled execution is checked at once, not at the next interval', async () => {
		const key = uniqueKey('keep-cancel');
		const status = executionStatus('running');
		const cancel = new AbortController();
		keeper.keep({
			executionId: 'exec-cancel',
			handles: [await held(key, 'exec-cancel', 120_000)],
			// A long TTL spaces the looks by the 1 s cap; the abort must not wait for it.
			ttlMs: 120_000,
			executionState: status.ask,
			cancelSignal: cancel.signal,
		});
		expect(status.calls.count).toBe(0);
		status.set('ended');
		cancel.abort();
		// Synchronously: the abort itself asks n8n, no timer involved.
		expect(status.calls.count).toBe(1);
		await eventually(async () => (await other.holder(key)) === undefined, 30_000, 'freed after cancel');
	});

	it('renews every lease of an execution, also those added by a later swap of the same execution', async () => {
		const keys = [uniqueKey('keep-join-a'), uniqueKey('keep-join-b')];
		const status = executionStatus('running');
		keeper.keep({ executionId: 'exec-join', handles: [await held(keys[0], 'exec-join')], ttlMs: TTL, executionState: status.ask });
		keeper.keep({ executionId: 'exec-join', handles: [await held(keys[1], 'exec-join')], ttlMs: TTL, executionState: status.ask });
		expect(keeper.keptExecutions()).toEqual(['exec-join']);
		await sleep(3 * TTL);
		expect(await takenByOther(keys[0])).toBe(false);
		expect(await takenByOther(keys[1])).toBe(false);
	});
});
