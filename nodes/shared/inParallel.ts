/**
 * Runs `work` for each input, at most `limit` at a time, starting them in input order. Once `stop`
 * says so of a result, or `work` throws, no further input starts; those already started are awaited,
 * so nothing is left running when this returns or throws. Results keep the inputs' order; an input
 * never started has none. What `work` threw first in input order is thrown once all have settled.
 */
export async function settleInParallel<T, R>(
	inputs: readonly T[],
	limit: number,
	work: (input: T, index: number) => Promise<R>,
	stop: (result: R) => boolean = () => false,
): Promise<Array<R | undefined>> {
	const results = new Array<R | undefined>(inputs.length);
	let next = 0;
	let stopped = false;
	let thrown: { index: number; error: unknown } | undefined;
	const worker = async () => {
		while (!stopped && next < inputs.length) {
			const index = next++;
			try {
				results[index] = await work(inputs[index], index);
				if (stop(results[index] as R)) stopped = true;
			} catch (error) {
				stopped = true;
				if (!thrown || index < thrown.index) thrown = { index, error };
			}
		}
	};
	// At most `limit` workers, each running one input at a time: never more than `limit` in flight.
	const workers = Math.min(Math.max(1, Math.floor(limit)), inputs.length);
	await Promise.all(Array.from({ length: workers }, worker));
	if (thrown) throw thrown.error;
	return results;
}
