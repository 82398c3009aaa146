/**
 * The swap's critical section against its lease (issue 17, finding 1): nothing is sent under the lock
 * that cannot be answered within the lease left, and an update whose answer is lost is settled by
 * reading the credential, never by sending it again.
 *
 * The lock store is the memory engine; the holder reaches it through a wrapper that can stop
 * answering its renewals (a store that stalls for one holder while another process still reaches it).
 * n8n is a fake that applies PATCHes to its own credentials and records who wrote what, when.
 */
import { LockClient, MemoryLockEngine, type LockHandle, type LockLease, type LockStore } from '../../nodes/shared/lock';
import { runSwaps, type SwapOptions, type SwapRequest } from '../../nodes/shared/swap/swap';
import { FakeN8n, type PatchBehaviour } from '../helpers/fakeN8n';
import { sleep } from '../helpers/lockTesting';

jest.setTimeout(30_000);

/** The holder's view of the store: the same engine, except that its renewals can stop being answered. */
function stallableStore(engine: MemoryLockEngine): { store: LockStore; stallRenewals(): void } {
	let stalled = false;
	const store = new Proxy(engine, {
		get(target, property, receiver) {
			if (property === 'extend') {
				return async (handle: LockHandle, ttlMs: number): Promise<LockLease> => {
					if (stalled) return await new Promise<never>(() => undefined);
					return await target.extend(handle, ttlMs);
				};
			}
			const value = Reflect.get(target, property, receiver);
			return typeof value === 'function' ? value.bind(target) : value;
		},
	});
	return { store, stallRenewals: () => (stalled = true) };
}

const options = (ttlMs: number): SwapOptions => ({
	lockScope: 'baseCredential',
	lockTtlMs: ttlMs,
	waitTimeoutMs: 10_000,
	validateWithTemporaryCredential: false,
	testCredential: false,
	partialUpdate: false,
	skipUnchanged: false,
	allowedFields: [],
});

function request(itemIndex: number, id: string, tenant: string, ttlMs: number): SwapRequest {
	return { itemIndex, baseCredential: { mode: 'id', value: id }, tenantId: tenant, data: { name: 'x-tenant', value: tenant }, options: options(ttlMs) };
}

async function swap(fake: FakeN8n, locks: LockClient, store: LockStore, executionId: string, requests: SwapRequest[]) {
	return await runSwaps(
		{ api: fake.client(executionId), locks, state: store, owner: { executionId }, stopOnFirstError: true, instanceId: 'fake' },
		requests,
	);
}

describe('a holder whose store stops answering its renewals (another process still reaches it)', () => {
	/**
	 * The proof, replayed: the holder takes credential:cred-1, then waits for cred-2 (held by a
	 * rival) while its renewals hang, so it starts the update of cred-1 late in its lease. Its PATCH is
	 * applied but the answer is lost. The next holder of cred-1 writes its own tenant. With the fix
	 * reverted (deadline "update start + TTL", blind retries) the holder sends its PATCH again after its
	 * lease ended and the credential ends with the holder's tenant under the next holder's lock.
	 */
	it('sends no second PATCH after its lease ended: the next holder\'s tenant stays in the credential', async () => {
		const ttlMs = 2_000;
		const engine = new MemoryLockEngine();
		const fake = new FakeN8n(['cred-1', 'cred-2']);
		const holder = stallableStore(engine);
		const holderLocks = new LockClient(holder.store);
		const rivalLocks = new LockClient(engine);

		// A rival holds cred-2 for a second, so the holder's update of cred-1 starts with about 1 s left.
		const rivalOnTwo = await rivalLocks.acquire('credential:cred-2', { owner: { executionId: 'rival-2' }, ttlMs: 10_000, waitTimeoutMs: 0 });
		fake.script.push('applyThenLoseAnswer');
		fake.failAfterMs = 900;
		holder.stallRenewals();
		const holderRun = swap(fake, holderLocks, holder.store, 'holder', [request(0, 'cred-1', 'holder-tenant', ttlMs), request(1, 'cred-2', 'holder-tenant', ttlMs)]);
		await sleep(50);
		// The next holder of cred-1 (another process): waits for it, then writes its own tenant.
		let nextHolderAt = Infinity;
		const nextHolder = (async () => {
			const acquired = await rivalLocks.acquire('credential:cred-1', { owner: { executionId: 'next' }, ttlMs: 10_000, waitTimeoutMs: 10_000 });
			nextHolderAt = performance.now();
			fake.apply('cred-1', 'next-tenant', 'next');
			return acquired;
		})();
		await sleep(1_000);
		await rivalOnTwo.lock.release();

		const results = await holderRun;
		const next = await nextHolder;
		await sleep(1_000); // time for a blind repeat to go out (the fix reverted: within 300 ms)

		const holderPatches = fake.patches.filter((patch) => patch.by === 'holder' && patch.id === 'cred-1');
		expect(holderPatches).toHaveLength(1);
		expect(holderPatches.every((patch) => patch.at < nextHolderAt)).toBe(true);
		expect(fake.credentials.get('cred-1')!.value).toBe('next-tenant');
		expect(results.swapped.size).toBe(0);
		// The item fails either way; which message depends on whether the holder's deadline passed while
		// its answer was lost (the lock lost during the update) or while it read to settle it.
		expect(results.errors[0].message).toMatch(/update base credential|lost while n8n applied the update/);
		await next.lock.release();
		holderLocks.abandonAll();
		rivalLocks.abandonAll();
	});

	it('with less than the floor of its lease left, it sends no PATCH at all and says the lease ran short (base credential unchanged)', async () => {
		// Fails with the fix reverted: the update was sent with whatever was left.
		const ttlMs = 2_000;
		const engine = new MemoryLockEngine();
		const fake = new FakeN8n(['cred-1', 'cred-2']);
		const holder = stallableStore(engine);
		const holderLocks = new LockClient(holder.store);
		const rivalLocks = new LockClient(engine);
		const rivalOnTwo = await rivalLocks.acquire('credential:cred-2', { owner: { executionId: 'rival-2' }, ttlMs: 10_000, waitTimeoutMs: 0 });
		holder.stallRenewals();
		const holderRun = swap(fake, holderLocks, holder.store, 'holder', [request(0, 'cred-1', 'holder-tenant', ttlMs), request(1, 'cred-2', 'holder-tenant', ttlMs)]);
		// 1.7 s of a 2 s lease gone when cred-2 comes free: 300 ms left, under the 500 ms floor.
		await sleep(1_700);
		await rivalOnTwo.lock.release();
		const results = await holderRun;

		expect(fake.patches.filter((patch) => patch.by === 'holder')).toEqual([]);
		expect(fake.credentials.get('cred-1')!.value).toBe('initial');
		expect(results.errors[0].message).toMatch(/Lost lock "credential:cred-1": the lease ran short before the update: less than 500 ms of it was left, so the update was not sent and the base credential was not changed/);
		holderLocks.abandonAll();
		rivalLocks.abandonAll();
	});
});

describe('an update whose outcome is unknown is settled by reading, never sent again blindly', () => {
	async function healthySwap(script: PatchBehaviour[], ttlMs = 2_000) {
		const engine = new MemoryLockEngine();
		const fake = new FakeN8n(['cred-1']);
		fake.script.push(...script);
		fake.failAfterMs = 100;
		const locks = new LockClient(engine);
		const results = await swap(fake, locks, engine, 'exec', [request(0, 'cred-1', 'tenant-a', ttlMs)]);
		const holder = await engine.holder('credential:cred-1');
		return { fake, results, holder, locks };
	}

	it('applied, answer lost: a read shows the newer updatedAt, the swap succeeds with one PATCH', async () => {
		// Fails with the fix reverted: the PATCH was sent twice.
		const { fake, results, locks } = await healthySwap(['applyThenLoseAnswer']);
		expect(results.errors).toEqual([]);
		expect(results.swapped.get(0)).toMatchObject({ update: 'patched', updatedAt: fake.summary('cred-1').updatedAt });
		expect(fake.patches).toHaveLength(1);
		expect(fake.credentials.get('cred-1')!.value).toBe('tenant-a');
		await locks.releaseOwner({ executionId: 'exec' });
	});

	it('answered 500 and not applied (a read shows the old updatedAt): sent again, then succeeds', async () => {
		const { fake, results, locks } = await healthySwap(['fail500']);
		expect(results.errors).toEqual([]);
		expect(fake.patches.map((patch) => patch.value)).toEqual(['tenant-a']);
		await locks.releaseOwner({ executionId: 'exec' });
	});

	it('answered 500 every time and never applied: a clear error saying nothing changed, and the lock freed', async () => {
		const { fake, results, holder } = await healthySwap(['fail500', 'fail500', 'fail500', 'fail500', 'fail500']);
		expect(fake.patches).toEqual([]);
		expect(results.errors[0].message).toMatch(/update base credential.*gave up after 4 attempts/);
		expect(results.errors[0].options.description).toMatch(/The base credential was not changed\./);
		expect(holder).toBeUndefined();
	});

	it('no answer and never applied: reads for one Lock TTL, then fails, and the lock runs out its TTL instead of being freed', async () => {
		// Fails with the fix reverted: the PATCH was repeated after the timeout.
		const { fake, results, holder, locks } = await healthySwap(['neverApply', 'neverApply', 'neverApply'], 1_000);
		expect(fake.patches).toHaveLength(1);
		expect(results.errors[0].options.description).toMatch(/n8n may have applied the update before the failure/);
		expect(holder?.owner.executionId).toBe('exec');
		locks.abandonAll();
	});
});

describe('an n8n without read by ID (before 2.20)', () => {
	/** n8n 2.8-2.19: GET /credentials/:id is not a route (405); the list is how a credential is found. */
	class FakeN8nWithoutReadById extends FakeN8n {
		readonly reads: string[] = [];
		override async handle(request: Parameters<FakeN8n['handle']>[0], by: string) {
			if (request.method === 'GET' && request.path === '/credentials') {
				return { statusCode: 200, body: { data: [...this.credentials.keys()].map((id) => this.summary(id)), nextCursor: null } };
			}
			if (request.method === 'GET' && /^\/credentials\/[^/]+$/.test(request.path) && !request.path.startsWith('/credentials/schema')) {
				this.reads.push(request.path);
				return { statusCode: 405, body: { message: 'Method Not Allowed' } };
			}
			return await super.handle(request, by);
		}
	}

	it('sends no read under the lock once n8n answered 405 to one (fails with the memo removed: one 405 per swap under the lock)', async () => {
		const fake = new FakeN8nWithoutReadById(['cred-old']);
		const engine = new MemoryLockEngine();
		const locks = new LockClient(engine);
		// `instanceId` is the memo's key: a fresh one, so earlier tests' n8n does not count.
		const run = async (executionId: string, tenant: string) =>
			await runSwaps(
				{ api: fake.client(executionId), locks, state: engine, owner: { executionId }, stopOnFirstError: true, instanceId: 'fake-without-read-by-id' },
				[request(0, 'cred-old', tenant, 5_000)],
			);
		for (let i = 0; i < 3; i++) {
			const results = await run(`exec-old-${i}`, `tenant-${i}`);
			expect(results.errors).toEqual([]);
			await locks.releaseOwner({ executionId: `exec-old-${i}` });
		}
		// The first resolution found the route missing; no swap read under its lock after that.
		expect(fake.reads).toEqual(['/credentials/cred-old']);
		expect(fake.patches.map((patch) => patch.value)).toEqual(['tenant-0', 'tenant-1', 'tenant-2']);
	});
});
