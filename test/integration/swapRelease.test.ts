/**
 * A release the lock store does not confirm (issue 17, finding 5): the swap logs a warning and the
 * lock stops renewing, so its lease ends by its TTL. With the fix reverted the failure was swallowed
 * and the held lock went on renewing for ever (65 renewals over 20 TTLs in the proof).
 */
import { LockClient, LockStoreUnavailableError, MemoryLockEngine, type LockHandle, type LockLease, type LockStore } from '../../nodes/shared/lock';
import { runSwaps, type SwapRequest } from '../../nodes/shared/swap/swap';
import { FakeN8n } from '../helpers/fakeN8n';
import { sleep } from '../helpers/lockTesting';

jest.setTimeout(30_000);

/** The memory engine, except that releases fail (the store unreachable) and renewals are counted. */
function failingReleases(engine: MemoryLockEngine): { store: LockStore; extends: () => number } {
	let extendCount = 0;
	const store = new Proxy(engine, {
		get(target, property, receiver) {
			if (property === 'release') {
				return async () => {
					throw new LockStoreUnavailableError('release', new Error('connection terminated'));
				};
			}
			if (property === 'extend') {
				return async (handle: LockHandle, ttlMs: number): Promise<LockLease> => {
					extendCount += 1;
					return await target.extend(handle, ttlMs);
				};
			}
			const value = Reflect.get(target, property, receiver);
			return typeof value === 'function' ? value.bind(target) : value;
		},
	});
	return { store, extends: () => extendCount };
}

it('a swap that fails under the lock and cannot release it: a warning, no more renewals, the lease ends by its TTL', async () => {
	const ttlMs = 300;
	const engine = new MemoryLockEngine();
	const { store, extends: renewals } = failingReleases(engine);
	const locks = new LockClient(store);
	const fake = new FakeN8n(['cred-1']);
	// The base credential vanished before the PATCH: the swap fails and frees the lock it took.
	fake.script.push('notFound');
	const warnings: string[] = [];
	const log = { warn: (message: string, meta?: object) => warnings.push(`${message} ${JSON.stringify(meta)}`), debug: () => undefined };
	const request: SwapRequest = {
		itemIndex: 0,
		baseCredential: { mode: 'id', value: 'cred-1' },
		tenantId: 'tenant-a',
		data: { name: 'x-tenant', value: 'SECRET-release-test' },
		options: { lockScope: 'baseCredential', lockTtlMs: ttlMs, waitTimeoutMs: 0, validateWithTemporaryCredential: false, testCredential: false, partialUpdate: false, skipUnchanged: false, allowedFields: [] },
	};

	const results = await runSwaps(
		{ api: fake.client('exec'), locks, state: store, owner: { executionId: 'exec' }, stopOnFirstError: true, instanceId: 'fake', lockLog: log },
		[request],
	);
	expect(results.errors[0].message).toMatch(/no longer exists/);
	const atFailure = renewals();

	// Ten TTLs: a lock renewed on would have been renewed about thirty times.
	await sleep(10 * ttlMs);
	expect(renewals() - atFailure).toBeLessThanOrEqual(1);
	expect(locks.size).toBe(0);
	expect(await engine.holder('credential:cred-1')).toBeUndefined();
	expect(warnings.some((line) => line.includes('could not release the lock of a swap that did not complete') && line.includes('ends by its TTL'))).toBe(true);
	expect(warnings.join('\n')).not.toContain('SECRET-release-test');
});
