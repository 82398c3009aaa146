/**
 * settleInParallel: at most `limit` at a time (counted), results in input order, and on a stop or a
 * throw nothing new starts while everything started settles before it returns or throws.
 */
import { settleInParallel } from '../../nodes/shared/inParallel';

/** Work items that end only when the test lets them go; counts how many run at once. */
function heldWork() {
	const held = new Map<number, () => void>();
	const state = { inFlight: 0, peak: 0, started: [] as number[], ended: [] as number[] };
	const work = async (input: number) => {
		state.inFlight += 1;
		state.peak = Math.max(state.peak, state.inFlight);
		state.started.push(input);
		await new Promise<void>((resolve) => held.set(input, resolve));
		state.inFlight -= 1;
		state.ended.push(input);
		if (input < 0) throw new Error(`failed ${input}`);
		return input * 10;
	};
	const flush = async () => {
		for (let turn = 0; turn < 10; turn++) await Promise.resolve();
	};
	/** Lets the newest held item go. */
	const letNewestGo = async () => {
		await flush();
		const newest = [...held.keys()].pop();
		if (newest === undefined) return false;
		held.get(newest)!();
		held.delete(newest);
		await flush();
		return true;
	};
	return { work, state, letNewestGo };
}

async function drive<T>(promise: Promise<T>, letNewestGo: () => Promise<boolean>): Promise<T> {
	let settled = false;
	const watched = promise.finally(() => {
		settled = true;
	});
	watched.catch(() => undefined);
	while (!settled && (await letNewestGo()));
	return await watched;
}

it.each([1, 3, 8])('limit %i: never more in flight than the limit (reached), results in input order though they end newest first', async (limit) => {
	const { work, state, letNewestGo } = heldWork();
	const inputs = [1, 2, 3, 4, 5, 6, 7];
	const results = await drive(settleInParallel(inputs, limit, work), letNewestGo);
	expect(state.peak).toBe(Math.min(limit, inputs.length));
	expect(results).toEqual([10, 20, 30, 40, 50, 60, 70]);
	if (limit > 1) expect(state.ended).not.toEqual(state.started);
});

it('a stop: nothing new starts, those started settle, the rest have no result', async () => {
	const { work, state, letNewestGo } = heldWork();
	const results = await drive(
		settleInParallel([1, 2, 3, 4, 5, 6], 3, work, (result) => result === 30),
		letNewestGo,
	);
	// 1, 2, 3 start; 3 (newest) ends first and stops; 1 and 2 still settle.
	expect(state.started).toEqual([1, 2, 3]);
	expect(state.ended).toEqual([3, 2, 1]);
	expect(results).toEqual([10, 20, 30, undefined, undefined, undefined]);
});

it('a throw: thrown only once those started have settled, the first in input order', async () => {
	const { work, state, letNewestGo } = heldWork();
	let inFlightAtThrow = -1;
	const error = await drive(
		settleInParallel([1, -2, -3, 4, 5], 3, work).catch((caught: Error) => {
			inFlightAtThrow = state.inFlight;
			return caught;
		}),
		letNewestGo,
	);
	expect(state.started).toEqual([1, -2, -3]);
	expect(inFlightAtThrow).toBe(0);
	expect((error as Error).message).toBe('failed -2');
});

it('no inputs: no work', async () => {
	const work = jest.fn(async () => 1);
	expect(await settleInParallel([], 4, work)).toEqual([]);
	expect(work).not.toHaveBeenCalled();
});
