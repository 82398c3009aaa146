/**
 * A lock engine wrapper that injects store faults into one holder's calls while the store itself
 * stays healthy for everyone else (as when one process's connection stalls): a renewal that hangs,
 * a release that cannot reach the store, a store that restarted empty.
 */
import { LockStoreUnavailableError } from '../../nodes/shared/lock/errors';
import type { LockEngine } from '../../nodes/shared/lock/types';

export interface Faults {
	/** extend does not answer until `answerHungExtends()` (then fails as a timed-out call would). */
	hangExtend: boolean;
	/** release fails as if the store were unreachable. */
	failRelease: boolean;
	/** extend goes to this engine instead (a store that restarted without its data). */
	restartedStore?: LockEngine;
	/** Calls of extend that reached the wrapper. */
	extendCalls: number;
	/** Calls of release that reached the wrapper. */
	releaseCalls: number;
	/** What happened, in order ("extend answered" when a hung extend settles; tests add their own). */
	readonly events: string[];
	/** Lets every hung extend answer (with a LockStoreUnavailableError). */
	answerHungExtends(): void;
}

export function faultyEngine(inner: LockEngine): { engine: LockEngine; faults: Faults } {
	let hung: Array<() => void> = [];
	const faults: Faults = {
		hangExtend: false,
		failRelease: false,
		extendCalls: 0,
		releaseCalls: 0,
		events: [],
		answerHungExtends() {
			const waiting = hung;
			hung = [];
			for (const answer of waiting) answer();
		},
	};
	const engine: LockEngine = {
		backend: inner.backend,
		acquire: async (key, options) => await inner.acquire(key, options),
		async extend(handle, ttlMs) {
			faults.extendCalls += 1;
			if (faults.hangExtend) {
				await new Promise<void>((resolve) => hung.push(resolve));
				faults.events.push('extend answered');
				throw new LockStoreUnavailableError('extend', new Error('statement timeout'));
			}
			return await (faults.restartedStore ?? inner).extend(handle, ttlMs);
		},
		async release(handle) {
			faults.releaseCalls += 1;
			if (faults.failRelease) throw new LockStoreUnavailableError('release', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
			return await inner.release(handle);
		},
		releaseExecution: async (executionId, instanceId) => await inner.releaseExecution(executionId, instanceId),
		holder: async (key) => await (faults.restartedStore ?? inner).holder(key),
		heldLocks: async (limit) => await inner.heldLocks(limit),
	};
	return { engine, faults };
}
