/** The measuring loops: uncontended acquire+release, and N contenders on one or many keys. */
import type { LockKind, Release } from './locks';
import { jain, summarize, type Summary } from './stats';

const sleep = async (ms: number) => await new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface UncontendedResult {
	iterations: number;
	/** acquire() call to release() resolved, ms. */
	cycle: Summary;
	acquire: Summary;
	release: Summary;
	/** p50 of the first and last tenth of the iterations: a growing cost (e.g. index bloat) shows here. */
	firstTenthP50: number;
	lastTenthP50: number;
	roundTripsPerCycle: number;
	roundTrips: Record<string, number>;
	/** p50 of each store round trip by operation, ms. */
	roundTripP50: Record<string, number>;
}

export interface UncontendedCase {
	kind: LockKind;
	key: string;
}

/**
 * Uncontended acquire+release for several lock kinds, interleaved in blocks of `block` iterations
 * (kind A 100, kind B 100, ..., then again), so background noise on a small machine hits every kind alike.
 */
export async function uncontendedInterleaved(
	cases: UncontendedCase[],
	warmup: number,
	iterations: number,
	block = 100,
): Promise<UncontendedResult[]> {
	const contenders = await Promise.all(cases.map(async (c) => await c.kind.contender(0)));
	for (const [i, c] of cases.entries()) for (let n = 0; n < warmup; n++) await (await contenders[i].acquire(c.key))();
	for (const c of cases) c.kind.counters.reset();
	const samples = cases.map(() => ({ cycle: [] as number[], acquire: [] as number[], release: [] as number[] }));
	for (let done = 0; done < iterations; done += block) {
		const n = Math.min(block, iterations - done);
		for (const [i, c] of cases.entries()) {
			for (let k = 0; k < n; k++) {
				const t0 = performance.now();
				const releaseIt = await contenders[i].acquire(c.key);
				const t1 = performance.now();
				await releaseIt();
				const t2 = performance.now();
				samples[i].cycle.push(t2 - t0);
				samples[i].acquire.push(t1 - t0);
				samples[i].release.push(t2 - t1);
			}
		}
	}
	const tenth = Math.max(1, Math.floor(iterations / 10));
	return cases.map((c, i) => {
		const { cycle, acquire, release } = samples[i];
		const roundTripP50: Record<string, number> = {};
		for (const [operation, values] of Object.entries(c.kind.counters.roundTripMs)) roundTripP50[operation] = summarize(values).p50;
		return {
			iterations,
			cycle: summarize(cycle),
			acquire: summarize(acquire),
			release: summarize(release),
			firstTenthP50: summarize(cycle.slice(0, tenth)).p50,
			lastTenthP50: summarize(cycle.slice(-tenth)).p50,
			roundTripsPerCycle: c.kind.counters.totalRoundTrips() / iterations,
			roundTrips: { ...c.kind.counters.roundTrips },
			roundTripP50,
		};
	});
}

export interface ContendOptions {
	contenders: number;
	keys: string[];
	/** Time each holder keeps the lock (0 = empty critical section). */
	holdMs: number;
	/** Measured window, after the warm-up. */
	seconds: number;
	warmupSeconds: number;
	/** Upper bound on loop iterations per contender (the time bound normally ends the loop first). */
	maxIterations: number;
}

export interface ContendResult {
	contenders: number;
	keys: number;
	holdMs: number;
	seconds: number;
	/** Acquisitions that resolved inside the measured window. */
	grants: number;
	/** Acquisitions of the whole run (warm-up and drain included). */
	totalGrants: number;
	locksPerSecond: number;
	perContender: number[];
	jain: number;
	/**
	 * acquire() call to acquire() resolved, ms, for every acquisition that resolved after the warm-up
	 * (also those that resolved after the window, while the run drained: a contender starved for the
	 * whole window shows up here with its full wait).
	 */
	wait: Summary;
	/** release() call to release() resolved, ms. */
	release: Summary;
	/** Acquisitions in the window per engine instance (contender i uses instance i % 2). */
	perInstance: number[];
	/**
	 * One key only: from the moment the previous holder's release() resolved to the moment the next
	 * holder's acquire() resolved, for next holders that were already waiting when release() was
	 * called. Negative when the next holder's acquire resolved first (the store handed over before
	 * the releasing client heard back).
	 */
	handoff?: Summary;
	/** One key only: previous holder's release() CALL to the next holder's acquire() resolved (release + handoff). */
	releaseToNextAcquire?: Summary;
	/** Two holders of one key at once, as this process saw it (must be 0). */
	violations: number;
	errors: number;
	/** Engine store attempts per grant, whole run (ours only). */
	attemptsPerGrant?: number;
	failedAttemptsPerGrant?: number;
	/** Store round trips per grant, whole run. */
	roundTripsPerGrant: number;
	roundTrips: Record<string, number>;
	/** p50 of each store round trip by operation (includes waiting for a pool connection), ms. */
	roundTripP50: Record<string, number>;
}

interface Grant {
	callAt: number;
	acquiredAt: number;
	releaseCalledAt: number;
	releasedAt: number;
}

export async function contend(kind: LockKind, o: ContendOptions): Promise<ContendResult> {
	const contenders = await Promise.all(Array.from({ length: o.contenders }, async (_, i) => await kind.contender(i)));
	kind.counters.reset();
	const start = performance.now();
	const windowStart = start + o.warmupSeconds * 1000;
	const end = windowStart + o.seconds * 1000;
	const inside = new Map<string, number>();
	const grants = new Map<string, Grant[]>();
	const waits: number[] = [];
	const releases: number[] = [];
	const perContender = new Array<number>(o.contenders).fill(0);
	let violations = 0;
	let errors = 0;
	let inWindow = 0;

	await Promise.all(
		contenders.map(async (contender, index) => {
			for (let n = 0; n < o.maxIterations && performance.now() < end; n++) {
				const key = o.keys.length === 1 ? o.keys[0] : o.keys[Math.floor(Math.random() * o.keys.length)];
				const callAt = performance.now();
				let release: Release;
				try {
					release = await contender.acquire(key);
				} catch {
					errors += 1;
					continue;
				}
				const acquiredAt = performance.now();
				const holders = inside.get(key) ?? 0;
				if (holders !== 0) violations += 1;
				inside.set(key, holders + 1);
				const grant: Grant = { callAt, acquiredAt, releaseCalledAt: 0, releasedAt: 0 };
				if (o.keys.length === 1) {
					let list = grants.get(key);
					if (!list) grants.set(key, (list = []));
					list.push(grant);
				}
				if (acquiredAt >= windowStart) waits.push(acquiredAt - callAt);
				if (acquiredAt >= windowStart && acquiredAt < end) {
					perContender[index] += 1;
					inWindow += 1;
				}
				if (o.holdMs > 0) await sleep(o.holdMs);
				inside.set(key, (inside.get(key) ?? 1) - 1);
				grant.releaseCalledAt = performance.now();
				try {
					await release();
				} catch {
					errors += 1;
				}
				grant.releasedAt = performance.now();
				if (acquiredAt >= windowStart && acquiredAt < end) releases.push(grant.releasedAt - grant.releaseCalledAt);
			}
		}),
	);

	let handoff: Summary | undefined;
	let releaseToNextAcquire: Summary | undefined;
	if (o.keys.length === 1) {
		const list = grants.get(o.keys[0]) ?? [];
		const gaps: number[] = [];
		const fromCall: number[] = [];
		for (let k = 1; k < list.length; k++) {
			const previous = list[k - 1];
			const next = list[k];
			if (next.acquiredAt < windowStart || next.acquiredAt >= end) continue;
			if (next.callAt >= previous.releaseCalledAt) continue; // was not waiting
			gaps.push(next.acquiredAt - previous.releasedAt);
			fromCall.push(next.acquiredAt - previous.releaseCalledAt);
		}
		handoff = summarize(gaps);
		releaseToNextAcquire = summarize(fromCall);
	}
	const counters = kind.counters;
	const totalGrants = Math.max(1, counters.grants);
	return {
		contenders: o.contenders,
		keys: o.keys.length,
		holdMs: o.holdMs,
		seconds: o.seconds,
		grants: inWindow,
		totalGrants: counters.grants,
		locksPerSecond: inWindow / o.seconds,
		perContender,
		jain: jain(perContender),
		wait: summarize(waits),
		release: summarize(releases),
		perInstance: [0, 1].map((parity) => perContender.filter((_, i) => i % 2 === parity).reduce((s, v) => s + v, 0)),
		handoff,
		releaseToNextAcquire,
		violations,
		errors,
		attemptsPerGrant: counters.attempts ? counters.attempts / totalGrants : undefined,
		failedAttemptsPerGrant: counters.attempts ? counters.failedAttempts / totalGrants : undefined,
		roundTripsPerGrant: counters.totalRoundTrips() / totalGrants,
		roundTrips: { ...counters.roundTrips },
		roundTripP50: Object.fromEntries(Object.entries(counters.roundTripMs).map(([operation, values]) => [operation, summarize(values).p50])),
	};
}
