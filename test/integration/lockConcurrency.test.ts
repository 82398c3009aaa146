/**
 * Concurrency of both lock engines: mutual exclusion under many contenders (with a control run
 * proving the overlap detector fires without the lock), many keys at once, and FIFO fairness
 * within one process. PostgreSQL additionally runs contenders through separate engine instances
 * with separate pools, like several n8n processes, where the in-process FIFO cannot help.
 */
import {
	guard,
	isStrictlyIncreasing,
	memoryFactory,
	noLockEngine,
	options,
	OverlapDetector,
	postgresFactory,
	redisFactory,
	uniqueKey,
	untilQueued,
	type AcquireRelease,
	type EngineFactory,
	type EngineUnderTest,
} from '../helpers/lockTesting';

const LONG = 60_000;
const CONTENDERS = 60;

/** Every contender acquires `key`, runs the detector's critical section, releases. */
async function contend(
	engines: AcquireRelease[],
	key: string,
	count: number,
	detector: OverlapDetector,
	fences: number[],
	label: string,
): Promise<void> {
	await Promise.all(
		Array.from({ length: count }, async (_, i) => {
			const engine = engines[i % engines.length];
			const lease = await engine.acquire(key, options(`exec-${label}-${i}`, LONG, LONG));
			fences.push(lease.fence);
			try {
				await detector.critical(key, `exec-${label}-${i}`);
			} finally {
				const outcome = await engine.release(lease);
				if (outcome.status !== 'released') detector.violations.push(`exec-${label}-${i} lost its lock`);
			}
		}),
	);
}

describe('overlap detector control run (no lock)', () => {
	it(`detects overlaps when the same ${CONTENDERS} contenders run through a "lock" that excludes nobody`, async () => {
		const detector = new OverlapDetector();
		const fences: number[] = [];
		await contend([noLockEngine()], uniqueKey('control'), CONTENDERS, detector, fences, 'control');
		expect(detector.entries).toBe(CONTENDERS);
		expect(detector.violations.length).toBeGreaterThan(0);
	});
});

describe.each<EngineFactory>([postgresFactory('lock_conc'), redisFactory('lock_conc'), memoryFactory])('$backend lock engine: concurrency', (factory) => {
	let subject: EngineUnderTest;

	beforeAll(async () => {
		subject = await factory.create();
	});
	afterAll(async () => {
		await subject.close();
	});

	it(`mutual exclusion: ${CONTENDERS} concurrent contenders on one key through one engine`, async () => {
		const key = uniqueKey('mutex');
		const detector = new OverlapDetector();
		const fences: number[] = [];
		await guard(contend([subject.engine], key, CONTENDERS, detector, fences, 'one'), 50_000, 'contenders');

		expect(detector.violations).toEqual([]);
		expect(detector.entries).toBe(CONTENDERS);
		// Each holder got a new fence, in the order they entered.
		expect(fences).toHaveLength(CONTENDERS);
		expect(isStrictlyIncreasing(fences)).toBe(true);
		expect(await subject.engine.holder(key)).toBeUndefined();
	});

	it(`mutual exclusion: ${CONTENDERS} contenders spread over the engine and its peer`, async () => {
		const key = uniqueKey('mutex-two');
		const detector = new OverlapDetector();
		const fences: number[] = [];
		await guard(
			contend([subject.engine, subject.other], key, CONTENDERS, detector, fences, 'two'),
			50_000,
			'contenders',
		);
		expect(detector.violations).toEqual([]);
		expect(detector.entries).toBe(CONTENDERS);
		expect(isStrictlyIncreasing(fences)).toBe(true);
	});

	it('many keys in parallel: 200 keys x 3 contenders all complete with per-key exclusion', async () => {
		const keys = Array.from({ length: 200 }, (_, i) => uniqueKey(`many-${i}`));
		const detector = new OverlapDetector();
		const fencesByKey = new Map<string, number[]>(keys.map((key) => [key, []]));
		const engines = [subject.engine, subject.other];
		let done = 0;
		await guard(
			Promise.all(
				keys.flatMap((key, k) =>
					[0, 1, 2].map(async (c) => {
						const engine = engines[(k + c) % engines.length];
						const who = `exec-many-${k}-${c}`;
						const lease = await engine.acquire(key, options(who, LONG, LONG));
						fencesByKey.get(key)?.push(lease.fence);
						await detector.critical(key, who, 2, 1);
						expect(await engine.release(lease)).toMatchObject({ status: 'released' });
						done += 1;
					}),
				),
			),
			50_000,
			'200 keys x 3 contenders',
		);
		expect(done).toBe(600);
		expect(detector.entries).toBe(600);
		expect(detector.violations).toEqual([]);
		for (const [key, fences] of fencesByKey) {
			expect({ key, increasing: isStrictlyIncreasing(fences), count: fences.length }).toEqual({
				key,
				increasing: true,
				count: 3,
			});
		}
	});

	describe('FIFO fairness within one process', () => {
		it('waiters that queue one after another acquire in arrival order', async () => {
			const engine = subject.engine;
			const key = uniqueKey('fifo');
			const holder = await engine.acquire(key, options('exec-fifo-holder', LONG, 0));
			const order: number[] = [];
			const waiters: Array<Promise<void>> = [];
			for (let i = 0; i < 8; i++) {
				waiters.push(
					(async () => {
						const lease = await engine.acquire(key, options(`exec-fifo-${i}`, LONG, LONG));
						order.push(i);
						await engine.release(lease);
					})(),
				);
				await untilQueued(engine, key, i + 1);
			}
			await engine.release(holder);
			await guard(Promise.all(waiters), 30_000, 'FIFO waiters');
			expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
		});

		it('waiters that all call acquire() in the same tick acquire in call order', async () => {
			const engine = subject.engine;
			const key = uniqueKey('fifo-burst');
			const holder = await engine.acquire(key, options('exec-burst-holder', LONG, 0));
			const order: number[] = [];
			const waiters = Array.from({ length: 12 }, async (_, i) => {
				const lease = await engine.acquire(key, options(`exec-burst-${i}`, LONG, LONG));
				order.push(i);
				await engine.release(lease);
			});
			await untilQueued(engine, key, 12);
			await engine.release(holder);
			await guard(Promise.all(waiters), 30_000, 'burst waiters');
			expect(order).toEqual(Array.from({ length: 12 }, (_, i) => i));
		});
	});
});

describe('postgres lock engine: mutual exclusion across processes', () => {
	let subject: EngineUnderTest;

	beforeAll(async () => {
		subject = await postgresFactory('lock_xproc').create();
	});
	afterAll(async () => {
		await subject.close();
	});

	it(`${CONTENDERS} contenders through 10 engine instances with separate pools`, async () => {
		const group = subject.group(10);
		try {
			const key = uniqueKey('mutex-xproc');
			const detector = new OverlapDetector();
			const fences: number[] = [];
			await guard(contend(group.engines, key, CONTENDERS, detector, fences, 'xproc'), 50_000, 'contenders');
			expect(detector.violations).toEqual([]);
			expect(detector.entries).toBe(CONTENDERS);
			expect(isStrictlyIncreasing(fences)).toBe(true);
		} finally {
			await group.close();
		}
	});

	it('one contender per engine, 20 engines, several rounds (no in-process FIFO to lean on)', async () => {
		const group = subject.group(20, 2);
		try {
			const key = uniqueKey('mutex-xproc-solo');
			const detector = new OverlapDetector();
			const fences: number[] = [];
			for (let round = 0; round < 3; round++) {
				await guard(
					contend(group.engines, key, group.engines.length, detector, fences, `solo${round}`),
					30_000,
					'round',
				);
			}
			expect(detector.violations).toEqual([]);
			expect(detector.entries).toBe(60);
			expect(isStrictlyIncreasing(fences)).toBe(true);
		} finally {
			await group.close();
		}
	});
});
