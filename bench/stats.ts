/** Small statistics helpers for the benchmark (nearest-rank percentiles, Jain's index). */

export interface Summary {
	n: number;
	min: number;
	p50: number;
	p99: number;
	max: number;
	mean: number;
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
	if (sorted.length === 0) return NaN;
	const rank = Math.ceil((p / 100) * sorted.length);
	return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export function summarize(values: readonly number[]): Summary {
	const sorted = [...values].sort((a, b) => a - b);
	const n = sorted.length;
	const mean = n ? sorted.reduce((s, v) => s + v, 0) / n : NaN;
	return {
		n,
		min: n ? sorted[0] : NaN,
		p50: percentile(sorted, 50),
		p99: percentile(sorted, 99),
		max: n ? sorted[n - 1] : NaN,
		mean,
	};
}

/** Jain's fairness index: 1 = every contender got the same share, 1/n = one got everything. */
export function jain(counts: readonly number[]): number {
	const n = counts.length;
	const sum = counts.reduce((s, v) => s + v, 0);
	const squares = counts.reduce((s, v) => s + v * v, 0);
	return n === 0 || squares === 0 ? NaN : (sum * sum) / (n * squares);
}

/** Rounds for JSON and tables: 3 significant decimals below 10, 1 above. */
export function round(value: number, digits = 3): number {
	if (!Number.isFinite(value)) return value;
	const factor = 10 ** digits;
	return Math.round(value * factor) / factor;
}
