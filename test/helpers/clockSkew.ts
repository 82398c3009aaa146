/**
 * Skews this process's wall clock (Date.now() and `new Date()`) by a fixed offset, the way a worker
 * whose clock is off would see time. Timers (setTimeout, ...) and the monotonic clocks
 * (performance.now, process.hrtime) are left alone, so drivers keep working.
 */
const RealDate = Date;

/** The unskewed wall clock, for the test's own bookkeeping. */
export function realNow(): number {
	return RealDate.now();
}

function skewedDate(offsetMs: number): DateConstructor {
	class SkewedDate extends RealDate {
		constructor(...args: unknown[]) {
			if (args.length === 0) super(RealDate.now() + offsetMs);
			else super(...(args as [string | number | Date]));
		}

		static now(): number {
			return RealDate.now() + offsetMs;
		}
	}
	return SkewedDate as unknown as DateConstructor;
}

/** Installs the skew (replacing any earlier one); returns a function that restores the real clock. */
export function skewClock(offsetMs: number): () => void {
	globalThis.Date = skewedDate(offsetMs);
	return () => {
		globalThis.Date = RealDate;
	};
}

/** Runs `fn` with the clock skewed by `offsetMs` (0 = the real clock), restoring it afterwards. */
export async function withClockSkew<T>(offsetMs: number, fn: () => Promise<T>): Promise<T> {
	const restore = offsetMs === 0 ? () => undefined : skewClock(offsetMs);
	try {
		return await fn();
	} finally {
		restore();
	}
}
