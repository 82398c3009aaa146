/**
 * The lease keeper on real lock stores: held locks renew themselves (HeldLock); the keeper decides
 * when that ends. It frees the locks as soon as the execution is reported ended, keeps them while n8n
 * cannot answer, stops their renewal (TTL applies) when it can never tell, and reports a lost lock.
 * `other` is a second engine (another process). The n8n side (the executions API) is a function
 * here; test/e2e/leaseRenewal.test.ts drives a real n8n.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { IExecuteFunctions } from 'n8n-workflow';

import { LockLostError, LockTimeoutError } from '../../nodes/shared/lock/errors';
import type { HeldLock } from '../../nodes/shared/lock/HeldLock';
import { LockClient } from '../../nodes/shared/lock/LockClient';
import { executionStateOf, type ExecutionLookup, type ExecutionStatusSource } from '../../nodes/shared/lock/executionFollowing';
import { MemoryLockEngine } from '../../nodes/shared/lock/MemoryLockEngine';
import { N8nExecutionStatusSource } from '../../nodes/TenantCredentialSwap/actions/executionStatusSource';
import { followabilityAtSwap, renewalStates } from '../../nodes/TenantCredentialSwap/actions/renewal';
import { executeContext } from '../helpers/executeContext';
import { LeaseKeeper } from '../../nodes/shared/lock/LeaseKeeper';
import { faultyEngine } from '../helpers/faultyLockEngine';
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
 * The TTL of tests that expect a lock kept past 3x its TTL: renewal runs every TTL/3, so a stall of the
 * test process (GC, a loaded CI machine) longer than 2/3 of the TTL loses the lease by design.
 */
const KEPT_TTL = 2_000;

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

	/** Nobody else can take the key; when someone can, the failure says what the lock and the log saw. */
	async function expectStillOurs(key: string, lock: HeldLock): Promise<void> {
		const taken = await takenByOther(key);
		expect({ key, taken, lockState: taken ? lock.state : 'held', log: taken ? log.lines : [] }).toEqual({ key, taken: false, lockState: 'held', log: [] });
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
		const lock = await held(key, 'exec-slow', KEPT_TTL);
		watch('exec-slow', [lock], status);
		await sleep(3 * KEPT_TTL);
		await expectStillOurs(key, lock);
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
		// Freed one after the other: the second may still be on its way when the first reads free.
		await eventually(async () => (await other.holder(keys[0])) === undefined && (await other.holder(keys[1])) === undefined, 30_000, 'locks of the ended execution freed');
		await eventually(async () => released.length === 1, 10_000, 'release reported');
		expect(released[0].map((outcome) => outcome.status)).toEqual(['released', 'released']);
		expect(keeper.keptOwners()).not.toContain('exec-ended');
		expect(client.size).toBe(0);
	});

	it('keeps the lock while n8n cannot answer (API down): losing it could let another tenant in', async () => {
		const key = uniqueKey('keep-unknown');
		const status = executionStatus(new Error('connect ECONNREFUSED 127.0.0.1:5678'));
		const lock = await held(key, 'exec-api-down', KEPT_TTL);
		watch('exec-api-down', [lock], status);
		await sleep(3 * KEPT_TTL);
		await expectStillOurs(key, lock);
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
		// The store loses the lease without a record of a release (a restart without persistence) and
		// another owner takes the key there: the holder's next renewal finds it taken. (A release is
		// recorded since issue 17 and would read as "released", not lost.)
		const restarted = await factory.create();
		const { engine: faulty, faults } = faultyEngine(engine);
		const lock = (await new LockClient(faulty).acquire(key, options('exec-first', TTL, 0), log)).lock;
		const lost: HeldLock[] = [];
		watch('exec-first', [lock], status, { onLost: (which) => void lost.push(which) });
		const successor = await restarted.engine.acquire(key, options('exec-successor', 60_000, 0));
		faults.restartedStore = restarted.engine;
		await eventually(async () => lock.lost.aborted, 10_000, 'loss noticed');
		expect(lock.state).toBe('lost');
		expect(lock.lost.reason).toBeInstanceOf(LockLostError);
		expect(lost).toEqual([lock]);
		expect(log.lines.some((line) => line.startsWith('warn') && line.includes('lost a lock'))).toBe(true);
		await eventually(async () => keeper.keptOwners().length === 0, 10_000, 'keeper dropped the lost lease');
		expect((await restarted.engine.holder(key))?.owner.executionId).toBe('exec-successor');
		expect(await rejectionOf(restarted.engine.extend(lock, TTL))).toBeInstanceOf(LockLostError);
		await restarted.engine.release(successor);
		await engine.release(lock);
		await restarted.close();
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
		const locks = [await held(keys[0], 'exec-join', KEPT_TTL), await held(keys[1], 'exec-join', KEPT_TTL)];
		watch('exec-join', [locks[0]], status);
		watch('exec-join', [locks[1]], status);
		expect(keeper.keptOwners()).toEqual(['exec-join']);
		await sleep(3 * KEPT_TTL);
		await expectStillOurs(keys[0], locks[0]);
		await expectStillOurs(keys[1], locks[1]);
		status.set('ended');
		await eventually(async () => (await other.holder(keys[1])) === undefined && (await other.holder(keys[0])) === undefined, 30_000, 'both freed');
	});
});

/**
 * A fake n8n executions API on loopback: what each execution is (running, ended, gone = 404), whether
 * the key may list, and an outage switch; it counts every request.
 */
async function fakeExecutionsApi() {
	const executions = new Map<string, 'running' | 'success' | 'gone'>();
	const requests = { list: 0, lookUp: 0 };
	const lookedUp = new Set<string>();
	const settings = { outage: false, listing: 'works' as 'works' | 'forbidden' | 'leavesRunningOut' };
	const server = createServer((request, response) => {
		const url = new URL(request.url ?? '/', 'http://127.0.0.1');
		const answer = (status: number, body: unknown) => {
			response.writeHead(status, { 'content-type': 'application/json' });
			response.end(JSON.stringify(body));
		};
		const single = /^\/api\/v1\/executions\/([^/]+)$/.exec(url.pathname);
		if (url.pathname === '/api/v1/executions') requests.list += 1;
		else if (single) {
			requests.lookUp += 1;
			lookedUp.add(decodeURIComponent(single[1]));
		}
		if (settings.outage) return answer(503, { message: 'Database is not ready!' });
		if (url.pathname === '/api/v1/executions') {
			if (settings.listing === 'forbidden') return answer(403, { message: 'Forbidden' });
			const running = settings.listing === 'works' ? [...executions].filter(([, status]) => status === 'running') : [];
			return answer(200, { data: running.map(([id, status]) => ({ id, status })), nextCursor: null });
		}
		const status = single ? executions.get(decodeURIComponent(single[1])) : undefined;
		if (!status || status === 'gone') return answer(404, { message: 'Not Found' });
		return answer(200, { id: single![1], status, stoppedAt: status === 'running' ? null : new Date().toISOString() });
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const port = (server.address() as AddressInfo).port;
	const credentials = { baseUrl: `http://127.0.0.1:${port}/api/v1`, apiKey: 'fake-api-key-not-logged', allowUnauthorizedCerts: false };
	// The node's context as n8n gives it; the source keeps only its HTTP helper.
	const { context } = executeContext({ items: [], parameters: {}, credentials: { tenantSwapN8nApi: credentials }, executionId: 'unused' });
	return {
		executions,
		requests,
		lookedUp,
		settings,
		source: () => N8nExecutionStatusSource.forKeeper(context, credentials),
		total: () => requests.list + requests.lookUp,
		reset: () => {
			Object.assign(requests, { list: 0, lookUp: 0 });
			lookedUp.clear();
		},
		close: async () => await new Promise<void>((resolve) => server.close(() => resolve())),
	};
}

describe('lease keeper cost and reading of n8n (fake n8n executions API, memory lock store)', () => {
	const HOLDERS = 50;
	const ROUNDS = 20;
	let api: Awaited<ReturnType<typeof fakeExecutionsApi>>;
	let engine: MemoryLockEngine;
	let client: LockClient;
	let keeper: LeaseKeeper;
	let log: ReturnType<typeof recordingLogger> & { info: (message: string) => number };

	beforeEach(async () => {
		api = await fakeExecutionsApi();
		engine = new MemoryLockEngine();
		client = new LockClient(engine);
		const recorder = recordingLogger();
		log = { ...recorder, info: (message: string) => recorder.lines.push(`info ${message}`) };
		// Rounds only when the test says: requests are counted per round, not per second of wall clock.
		keeper = new LeaseKeeper(log, { autoRun: false });
	});
	afterEach(async () => {
		keeper.stopAll();
		client.abandonAll();
		await api.close();
	});

	/** `count` executions of one n8n, each holding one lock (TTL 30 s, the node's default), watched by the keeper. */
	async function holders(count: number, followed = true) {
		const source = api.source();
		const held: Array<{ executionId: string; lock: HeldLock; released: ReleaseOutcome[][] }> = [];
		for (let index = 0; index < count; index++) {
			const executionId = String(1000 + index);
			api.executions.set(executionId, 'running');
			const lock = (await client.acquire(uniqueKey(`cost-${index}`), options(executionId, 30_000, 0), log)).lock;
			const released: ReleaseOutcome[][] = [];
			keeper.keep({ ownerKey: executionId, executionId, locks: [lock], statusSource: source, followed, log, onReleased: (outcomes) => void released.push(outcomes) });
			held.push({ executionId, lock, released });
		}
		return { source, held };
	}

	async function rounds(count: number): Promise<void> {
		for (let round = 0; round < count; round++) await keeper.checkNow();
	}

	/** Requests a second at the keeper's own pace: per round, divided by its interval. */
	function perSecond(requests: number, roundsRun: number, sourceId: string): number {
		return requests / roundsRun / (keeper.roundIntervalMs(sourceId)! / 1000);
	}

	// Fails with the fix reverted: the keeper asked GET /executions/:id once a second per execution (50/s here).
	it(`${HOLDERS} held executions cost one listing per round: at most a few status requests a second`, async () => {
		const { source, held } = await holders(HOLDERS);
		await rounds(ROUNDS);
		expect(api.requests).toEqual({ list: ROUNDS, lookUp: 0 });
		expect(keeper.roundIntervalMs(source.id)).toBe(3_000);
		expect(perSecond(api.total(), ROUNDS, source.id)).toBeLessThanOrEqual(1);
		expect(held.every(({ lock }) => lock.state === 'held')).toBe(true);
		expect(keeper.keptOwners()).toHaveLength(HOLDERS);
	});

	it(`without the listing (key lacks execution:list, or an older n8n leaves running executions out), lookups are bounded per round and every execution is still asked about`, async () => {
		for (const listing of ['forbidden', 'leavesRunningOut'] as const) {
			api.settings.listing = listing;
			api.reset();
			const { source } = await holders(HOLDERS);
			await rounds(ROUNDS);
			// One listing (the first round finds out), then at most LOOKUPS_PER_SECOND x 3 s lookups a round.
			expect(api.requests.list).toBe(1);
			expect(api.requests.lookUp).toBeLessThanOrEqual(ROUNDS * 6);
			expect(perSecond(api.total(), ROUNDS, source.id)).toBeLessThanOrEqual(2.1);
			expect(api.lookedUp.size).toBe(HOLDERS);
			keeper.stopAll();
			client.abandonAll();
		}
	});

	// Fails with the fix reverted: the keeper warned once a second per execution while n8n was down.
	it('one warning per outage (not per execution or round), debug lines in between, one line when n8n answers again', async () => {
		const { held } = await holders(HOLDERS);
		api.settings.outage = true;
		await rounds(ROUNDS);
		const warnings = () => log.lines.filter((line) => line.startsWith('warn') && line.includes('could not ask n8n'));
		expect(warnings()).toHaveLength(1);
		expect(warnings()[0]).toContain('Database is not ready');
		expect(log.lines.filter((line) => line.startsWith('debug') && line.includes('could not ask n8n'))).toHaveLength(ROUNDS - 1);
		// Nothing is freed while n8n cannot answer.
		expect(held.every(({ lock }) => lock.state === 'held')).toBe(true);

		api.settings.outage = false;
		await rounds(3);
		expect(log.lines.filter((line) => line.startsWith('info') && line.includes('reaches n8n again'))).toHaveLength(1);
		api.settings.outage = true;
		await rounds(3);
		expect(warnings()).toHaveLength(2);
		expect(log.lines.join('\n')).not.toContain('fake-api-key-not-logged');
	});

	it('an execution that ended (not listed, confirmed by its own lookup) is freed; the others keep their locks', async () => {
		const { held } = await holders(HOLDERS);
		await rounds(1);
		const ended = held[17];
		api.executions.set(ended.executionId, 'success');
		api.reset();
		await rounds(1);
		expect(api.requests).toEqual({ list: 1, lookUp: 1 });
		expect(ended.lock.state).toBe('released');
		expect(await engine.holder(ended.lock.key)).toBeUndefined();
		expect(ended.released).toEqual([[expect.objectContaining({ key: ended.lock.key, status: 'released' })]]);
		expect(held.filter(({ lock }) => lock.state === 'held')).toHaveLength(HOLDERS - 1);
	});

	// Fails with the fix reverted: the lock freed in the round whose other release failed was never reported (no audit line).
	it('an ended execution whose store fails one of two releases: retried next round, both reported once', async () => {
		const source = api.source();
		const executionId = '4242';
		api.executions.set(executionId, 'success');
		const locks = [
			(await client.acquire(uniqueKey('retry-a'), options(executionId, 30_000, 0), log)).lock,
			(await client.acquire(uniqueKey('retry-b'), options(executionId, 30_000, 0), log)).lock,
		];
		const released: ReleaseOutcome[][] = [];
		keeper.keep({ ownerKey: executionId, executionId, locks, statusSource: source, followed: true, log, onReleased: (outcomes) => void released.push(outcomes) });
		const release = jest.spyOn(engine, 'release').mockRejectedValueOnce(new Error('store hiccup'));
		await rounds(1);
		expect(released).toEqual([]);
		expect(log.lines.filter((line) => line.startsWith('warn') && line.includes('could not free a lock'))).toHaveLength(1);
		await rounds(1);
		release.mockRestore();
		expect(released).toHaveLength(1);
		expect(released[0].map((outcome) => outcome.key).sort()).toEqual(locks.map((lock) => lock.key).sort());
		expect(locks.every((lock) => lock.state === 'released')).toBe(true);
	});

	// Fails when a round drops locks that ended by themselves before reporting: the refused lock's own
	// background retry freed it between two rounds, and the lock freed earlier was never reported (no audit line).
	it('an ended execution whose refused release the lock itself retried before the next round: both reported once', async () => {
		const source = api.source();
		const executionId = '4343';
		api.executions.set(executionId, 'success');
		const locks = [
			(await client.acquire(uniqueKey('self-retry-a'), options(executionId, 3_000, 0), log)).lock,
			(await client.acquire(uniqueKey('self-retry-b'), options(executionId, 3_000, 0), log)).lock,
		];
		const released: ReleaseOutcome[][] = [];
		keeper.keep({ ownerKey: executionId, executionId, locks, statusSource: source, followed: true, log, onReleased: (outcomes) => void released.push(outcomes) });
		const release = jest.spyOn(engine, 'release').mockRejectedValueOnce(new Error('store hiccup'));
		await rounds(1);
		release.mockRestore();
		expect(released).toEqual([]);
		// The refused lock retries its release itself (every TTL/10) and ends before the keeper's next round.
		await Promise.all(locks.map(async (lock) => await lock.whenEnded()));
		await rounds(1);
		expect(released).toHaveLength(1);
		expect(released[0].map((outcome) => outcome.key).sort()).toEqual(locks.map((lock) => lock.key).sort());
		expect(keeper.keptOwners()).not.toContain(executionId);
	});

	it('404 after it was seen running: ended and not kept by n8n, so freed; 404 never seen running: cannot be followed, renewal stops (TTL applies), said once', async () => {
		const { held } = await holders(2);
		const unsavedSeen = held[0];
		await rounds(1);
		api.executions.set(unsavedSeen.executionId, 'gone');
		await rounds(1);
		expect(unsavedSeen.lock.state).toBe('released');

		// Swapped while n8n could not answer (followed: false), and n8n never shows it: not an end.
		const [unseen] = (await holders(1, false)).held;
		api.executions.set(unseen.executionId, 'gone');
		await rounds(2);
		expect(unseen.lock.state).toBe('held');
		expect(unseen.released).toEqual([]);
		expect(keeper.keptOwners()).not.toContain(unseen.executionId);
		expect(log.lines.filter((line) => line.startsWith('warn') && line.includes(`cannot follow execution ${unseen.executionId}`))).toEqual([
			expect.stringContaining('n8n does not show this execution to the API key'),
		]);
		// Renewal stopped: the lease runs out by its TTL (30 s here) instead of being freed early.
		expect(await engine.holder(unseen.lock.key)).toBeDefined();
	});
});

describe("the swap's lockRenewal reads n8n's answer with the keeper's rule", () => {
	function sourceAnswering(answer: ExecutionLookup | Error): ExecutionStatusSource {
		return {
			id: uniqueKey('n8n'),
			listRunning: async () => undefined,
			lookUp: async () => {
				if (answer instanceof Error) throw answer;
				return answer;
			},
		};
	}

	// Fails with the fix reverted: a 404 at swap time was reported "on" while the keeper judged the execution untrackable.
	it.each([
		['running', 'followed', 'on', undefined],
		['waiting', 'followed', 'on', undefined],
		['not-found', 'notVisible', 'unavailable', /does not show this execution to the API key/],
		['ended', 'notVisible', 'unavailable', /does not show this execution to the API key/],
		['forbidden', 'forbidden', 'unavailable', /lacks the execution:read scope/],
		[new Error('connect ECONNREFUSED'), 'unknown', 'on', /did not answer/],
	] as const)('n8n answers %s: %s, lockRenewal %s', async (answer, followability, lockRenewal, problem) => {
		const source = sourceAnswering(answer as ExecutionLookup | Error);
		const judged = await followabilityAtSwap(source, '42', undefined);
		expect(judged).toBe(followability);
		const hints: unknown[] = [];
		const context = { addExecutionHints: (...added: unknown[]) => hints.push(...added) } as unknown as IExecuteFunctions;
		const states = renewalStates(context, judged, [{ itemIndex: 0, renewLock: true }], new Set([0]));
		expect(states.get(0)?.lockRenewal).toBe(lockRenewal);
		if (problem) {
			expect(states.get(0)?.lockRenewalProblem).toMatch(problem);
			expect(hints).toEqual([expect.objectContaining({ type: 'warning', message: expect.stringMatching(problem) })]);
		} else {
			expect(hints).toEqual([]);
		}
		// The keeper, asked the same about an execution not yet seen running, agrees.
		if (answer instanceof Error) return;
		const state = executionStateOf(answer as ExecutionLookup, false);
		expect(state === 'running').toBe(followability === 'followed');
	});
});
