/**
 * How the swap waits for its keys (issue 17): across swap nodes of one execution it never waits in an
 * order that can deadlock (finding 12), a timeout says who holds the key and whether that is this very
 * execution (finding 11), and n8n's cancel signal reaches the wait (finding 7).
 * Memory lock engine, one process (one LockClient: two executions of one n8n process); fake n8n.
 */
import type { IDataObject } from 'n8n-workflow';

import { TenantCredentialSwap } from '../../nodes/TenantCredentialSwap/TenantCredentialSwap.node';
import {
	LockClient,
	LockTimeoutError,
	LockWaitCancelledError,
	MemoryLockEngine,
	memoryLockEngine,
	type AcquireOptions,
	type LockLease,
	type LockStore,
} from '../../nodes/shared/lock';
import { runSwaps, type SwapRequest } from '../../nodes/shared/swap/swap';
import { executeContext } from '../helpers/executeContext';
import { FakeN8n } from '../helpers/fakeN8n';
import { itemsOf, unique } from '../helpers/fixtures';
import { rejectionOf, sleep } from '../helpers/lockTesting';

jest.setTimeout(30_000);

function request(id: string, waitTimeoutMs: number): SwapRequest {
	return {
		itemIndex: 0,
		baseCredential: { mode: 'id', value: id },
		tenantId: 'tenant-a',
		data: { name: 'x-tenant', value: 'v' },
		options: { lockScope: 'baseCredential', lockTtlMs: 30_000, waitTimeoutMs, validateWithTemporaryCredential: false, testCredential: false, partialUpdate: false, skipUnchanged: false, allowedFields: [] },
	};
}

function swapper(store: LockStore, locks: LockClient, fake: FakeN8n) {
	return async (executionId: string, id: string, waitTimeoutMs: number, extra: { instanceId?: string; cancelSignal?: AbortSignal } = {}) =>
		await runSwaps(
			{
				api: fake.client(executionId),
				locks,
				state: store,
				owner: { executionId, instanceId: extra.instanceId, workflowId: 'wf-1' },
				cancelSignal: extra.cancelSignal,
				stopOnFirstError: true,
				instanceId: 'fake',
			},
			[request(id, waitTimeoutMs)],
		);
}

describe('keys taken by two swap nodes of one execution', () => {
	it('a second swap node that would wait for a key sorting before one its execution holds fails at once, naming both keys', async () => {
		// Fails with the fix reverted: both executions waited for each other until Wait Timeout (both timed out).
		const engine = new MemoryLockEngine();
		const locks = new LockClient(engine);
		const swap = swapper(engine, locks, new FakeN8n(['cred-a', 'cred-b']));
		expect((await swap('E1', 'cred-a', 0)).errors).toEqual([]);
		expect((await swap('E2', 'cred-b', 0)).errors).toEqual([]);

		// E1 holds a < b and waits for b: the global order, allowed.
		let e1Done = false;
		const e1Second = swap('E1', 'cred-b', 10_000).finally(() => (e1Done = true));
		await sleep(200);
		// E2 holds b and wants a: waiting could close the cycle, so it does not wait.
		const e2Second = await swap('E2', 'cred-a', 10_000);
		expect(e1Done).toBe(false);
		expect(e2Second.errors[0].message).toMatch(
			/Lock "credential:cred-a" is held by another execution, and this execution already holds "credential:cred-b" from an earlier Tenant Credential Swap node.*so this swap did not wait/,
		);
		expect(e2Second.errors[0].options.description).toMatch(/Take every base credential in one Tenant Credential Swap node.*or release the first lock/);

		// E2 fails and frees its locks: E1 goes on.
		await locks.releaseOwner({ executionId: 'E2' });
		expect((await e1Second).errors).toEqual([]);
		await locks.releaseOwner({ executionId: 'E1' });
	});

	it('the rule does not get in the way: a later key, or a free earlier one, is taken as usual', async () => {
		const engine = new MemoryLockEngine();
		const locks = new LockClient(engine);
		const swap = swapper(engine, locks, new FakeN8n(['cred-a', 'cred-b']));
		expect((await swap('E1', 'cred-b', 0)).errors).toEqual([]);
		expect((await swap('E1', 'cred-a', 10_000)).errors).toEqual([]);
		await locks.releaseOwner({ executionId: 'E1' });
	});

	it('control, without the rule: two executions taking two keys in opposite orders wait for each other until both time out', async () => {
		const engine = new MemoryLockEngine();
		const locks = new LockClient(engine);
		const take = async (executionId: string, key: string) => await locks.acquire(key, { owner: { executionId }, ttlMs: 30_000, waitTimeoutMs: 1_000 });
		await take('E1', 'credential:cred-a');
		await take('E2', 'credential:cred-b');
		const [first, second] = await Promise.all([rejectionOf(take('E1', 'credential:cred-b')), rejectionOf(take('E2', 'credential:cred-a'))]);
		expect(first).toBeInstanceOf(LockTimeoutError);
		expect(second).toBeInstanceOf(LockTimeoutError);
		locks.abandonAll();
	});
});

describe('a lock timeout says who holds the key', () => {
	it('this same execution (an earlier run of it, e.g. before a Wait resumed it on another worker): said so, with what to do', async () => {
		// Fails with the fix reverted: the message named only an execution ID, its own.
		const engine = new MemoryLockEngine();
		// The earlier run: another process (its own LockClient) took the key for the same instance + execution.
		await new LockClient(engine).acquire('credential:cred-a', { owner: { executionId: 'E1', instanceId: 'inst-1', workflowId: 'wf-1' }, ttlMs: 30_000, waitTimeoutMs: 0 });
		const swap = swapper(engine, new LockClient(engine), new FakeN8n(['cred-a']));
		const { errors } = await swap('E1', 'cred-a', 200, { instanceId: 'inst-1' });
		expect(errors[0].message).toMatch(/waiting for lock "credential:cred-a": held by this same execution \(E1\) of workflow wf-1, from an earlier run of it since /);
		expect(errors[0].options.description).toMatch(/the lease belongs to the process that took it.*Lock TTL.*Release the lock before any Wait/);
	});

	it('another execution: its workflow and n8n instance', async () => {
		const engine = new MemoryLockEngine();
		await new LockClient(engine).acquire('credential:cred-a', { owner: { executionId: 'E9', instanceId: 'inst-2', workflowId: 'wf-9' }, ttlMs: 30_000, waitTimeoutMs: 0 });
		const swap = swapper(engine, new LockClient(engine), new FakeN8n(['cred-a']));
		const { errors } = await swap('E1', 'cred-a', 200, { instanceId: 'inst-1' });
		expect(errors[0].message).toMatch(/held by execution E9 of workflow wf-9 on n8n instance inst-2 since /);
		expect(errors[0].options.description).toMatch(/Another execution held the lock for the whole wait/);
	});
});

describe("n8n's cancel signal", () => {
	/** The memory engine, with a wait that ends when the signal is aborted (as StoreLockEngine's waiters do). */
	function cancellable(engine: MemoryLockEngine): { store: LockStore; signals: Array<AbortSignal | undefined> } {
		const signals: Array<AbortSignal | undefined> = [];
		const store = new Proxy(engine, {
			get(target, property, receiver) {
				if (property === 'acquire') {
					return async (key: string, options: AcquireOptions): Promise<LockLease> => {
						signals.push(options.signal);
						return await new Promise<LockLease>((resolve, reject) => {
							options.signal?.addEventListener('abort', () => reject(new LockWaitCancelledError(key, 10)), { once: true });
							target.acquire(key, options).then(resolve, reject);
						});
					};
				}
				const value = Reflect.get(target, property, receiver);
				return typeof value === 'function' ? value.bind(target) : value;
			},
		});
		return { store, signals };
	}

	it('reaches the wait, and a cancelled wait is a clear item error saying nothing changed', async () => {
		const engine = new MemoryLockEngine();
		await new LockClient(engine).acquire('credential:cred-a', { owner: { executionId: 'holder' }, ttlMs: 30_000, waitTimeoutMs: 0 });
		const { store, signals } = cancellable(engine);
		const fake = new FakeN8n(['cred-a']);
		const cancel = new AbortController();
		const waiting = swapper(store, new LockClient(store), fake)('E1', 'cred-a', 2_000, { cancelSignal: cancel.signal });
		await sleep(100);
		cancel.abort();
		const { errors } = await waiting;
		expect(signals).toEqual([cancel.signal]);
		expect(errors[0].message).toMatch(/Stopped waiting for lock "credential:cred-a" after \d+ ms: the execution was cancelled/);
		expect(errors[0].options.description).toMatch(/left the queue for the lock, and nothing was changed/);
		expect(fake.patches).toEqual([]);
	});

	it('the node passes this.getExecutionCancelSignal() to the lock', async () => {
		// Fails with the fix reverted: the swap's acquire got no signal.
		const seen: Array<AbortSignal | undefined> = [];
		const spy = jest.spyOn(LockClient.prototype, 'acquire').mockImplementation(async function (this: LockClient, key, options) {
			seen.push(options.signal);
			spy.mockRestore();
			return await LockClient.prototype.acquire.call(this, key, options);
		});
		const cancel = new AbortController();
		const fake = new FakeN8n(['cred-a']);
		const executionId = unique('exec');
		const { context } = executeContext({
			items: itemsOf({}),
			credentials: { tenantSwapN8nApi: { baseUrl: 'http://127.0.0.1:9/api/v1', apiKey: 'k', allowUnauthorizedCerts: false } },
			executionId,
			cancelSignal: cancel.signal,
			send: fake.httpSend(executionId) as never,
			parameters: {
				baseCredential: { __rl: true, mode: 'id', value: 'cred-a' },
				tenantId: 'tenant-a',
				credentialData: { name: 'x-tenant', value: 'v' },
				lockBackend: 'memory',
				options: { renewLock: false, skipUnchanged: false },
			},
		});
		const output = (await new TenantCredentialSwap().execute.call(context))[0];
		expect((output[0].json.tenantSwap as IDataObject).update).toBe('patched');
		expect(seen).toEqual([cancel.signal]);
		await new LockClient(memoryLockEngine()).releaseOwner({ executionId, instanceId: 'test-instance' });
	});
});
