/**
 * The swap (runSwaps) on a real PostgreSQL lock store, with the n8n API scripted so that a test can count
 * what the swap asks n8n: Skip Unchanged Data never skips a check the earlier write did not have, and a
 * lock store that fails after n8n applied the update says that the credential did change.
 */
import { closeLockEngines, closeSharedPools, LockClient, postgresLockEngine, type LockStore, type SwapState } from '../../nodes/shared/lock';
import { runSwaps, type SwapOptions, type SwapRequest } from '../../nodes/shared/swap/swap';
import { N8nApiClient, type ApiRequest, type ApiResponse } from '../../nodes/shared/transport/n8nApiClient';
import { postgresCredential, unique } from '../helpers/fixtures';

const SECRET = 'tenant-a-SECRET-swap-safety-01';

/** A scripted n8n holding one header-auth credential; PATCH moves its updatedAt; every call is recorded. */
function scriptedN8n() {
	const calls: string[] = [];
	const id = unique('base');
	let updatedAt = new Date(Date.UTC(2026, 0, 1)).toISOString();
	const summary = () => ({ id, name: 'Base', type: 'httpHeaderAuth', updatedAt });
	const api = new N8nApiClient(
		{
			instanceId: unique('scripted-n8n'),
			async send(request: ApiRequest): Promise<ApiResponse> {
				calls.push(`${request.method} ${request.path}`);
				if (request.method === 'GET' && request.path === `/credentials/${id}`) return { statusCode: 200, body: summary() };
				if (request.method === 'GET' && request.path.startsWith('/credentials/schema/')) {
					return { statusCode: 200, body: { type: 'object', additionalProperties: false, properties: { name: { type: 'string' }, value: { type: 'string' } }, required: [] } };
				}
				if (request.method === 'PATCH' && request.path === `/credentials/${id}`) {
					updatedAt = new Date(Date.parse(updatedAt) + 1000).toISOString();
					return { statusCode: 200, body: summary() };
				}
				if (request.method === 'POST' && request.path === '/credentials') return { statusCode: 200, body: { id: 'tmp1', name: 'tmp', type: 'httpHeaderAuth' } };
				if (request.method === 'POST' && request.path === '/credentials/tmp1/test') return { statusCode: 200, body: { status: 'OK', message: 'Tested successfully' } };
				if (request.method === 'DELETE' && request.path === '/credentials/tmp1') return { statusCode: 200, body: {} };
				return { statusCode: 500, body: { message: `unexpected ${request.method} ${request.path}` } };
			},
		},
		{ attempts: 1, baseDelayMs: 0, maxDelayMs: 0 },
	);
	return { api, calls, id };
}

const baseOptions: SwapOptions = {
	lockScope: 'baseCredential',
	lockTtlMs: 30_000,
	waitTimeoutMs: 5_000,
	validateWithTemporaryCredential: false,
	testCredential: false,
	partialUpdate: false,
	skipUnchanged: true,
	allowedFields: [],
};

let engine: LockStore;

beforeAll(() => {
	engine = postgresLockEngine(postgresCredential() as never, { table: unique('safety_locks') });
});

afterAll(async () => {
	await closeLockEngines();
	await closeSharedPools();
});

async function swapOnce(n8n: ReturnType<typeof scriptedN8n>, options: Partial<SwapOptions>, lock: LockStore = engine) {
	const executionId = unique('exec');
	const request: SwapRequest = {
		itemIndex: 0,
		baseCredential: { mode: 'id', value: n8n.id },
		tenantId: 'tenant-a',
		data: { name: 'x-tenant-secret', value: SECRET },
		options: { ...baseOptions, ...options },
	};
	n8n.calls.length = 0;
	const locks = new LockClient(lock);
	const results = await runSwaps(
		{ api: n8n.api, locks, state: lock, owner: { executionId }, stopOnFirstError: true, instanceId: 'scripted', stateSecret: 'state-key-for-tests' },
		[request],
	);
	await locks.releaseOwner({ executionId });
	return { info: results.swapped.get(0), error: results.errors[0], calls: [...n8n.calls] };
}

describe('Skip Unchanged Data never skips a check the earlier write did not have', () => {
	it('the same data with Test Credential turned on is tested and written, not skipped', async () => {
		const n8n = scriptedN8n();
		const first = await swapOnce(n8n, {});
		expect(first.info).toMatchObject({ update: 'patched', credentialTest: 'skipped' });

		const again = await swapOnce(n8n, {});
		expect(again.info).toMatchObject({ update: 'unchanged' });
		expect(again.calls.filter((call) => !call.startsWith('GET'))).toEqual([]);

		// What the node sends with Test Credential on (it implies the temporary credential).
		const tested = await swapOnce(n8n, { testCredential: true, validateWithTemporaryCredential: true });
		expect(tested.error).toBeUndefined();
		expect(tested.info).toMatchObject({ update: 'patched', temporaryCredential: 'validated', credentialTest: 'passed' });
		expect(tested.calls).toEqual(expect.arrayContaining(['POST /credentials', 'POST /credentials/tmp1/test', 'DELETE /credentials/tmp1', `PATCH /credentials/${n8n.id}`]));

		// Tested once with these options: the same swap again is skipped.
		const testedAgain = await swapOnce(n8n, { testCredential: true, validateWithTemporaryCredential: true });
		expect(testedAgain.info).toMatchObject({ update: 'unchanged' });
	});

	it('a different Allowed Fields list writes again', async () => {
		const n8n = scriptedN8n();
		await swapOnce(n8n, {});
		const restricted = await swapOnce(n8n, { allowedFields: ['name', 'value'] });
		expect(restricted.info).toMatchObject({ update: 'patched' });
	});
});

describe('a lock store that fails after n8n applied the update', () => {
	/** The real engine, except that recording a write (not forgetting one) fails, as a lost connection would. */
	function failingStateWrites(real: LockStore): LockStore {
		return new Proxy(real, {
			get(target, property, receiver) {
				if (property === 'writeSwapState') {
					return async (key: string, state: SwapState | undefined) => {
						if (state !== undefined) throw new Error('Lock store unreachable during write swap state: connection terminated');
						await target.writeSwapState(key, state);
					};
				}
				const value = Reflect.get(target, property, receiver);
				return typeof value === 'function' ? value.bind(target) : value;
			},
		});
	}

	it('reports that the base credential now holds the tenant data, and never shows the data', async () => {
		const n8n = scriptedN8n();
		const { info, error, calls } = await swapOnce(n8n, {}, failingStateWrites(engine));
		expect(calls).toContain(`PATCH /credentials/${n8n.id}`);
		expect(info).toBeUndefined();
		expect(error.message).toMatch(/base credential was updated, but the lock store failed afterwards/);
		expect(error.options.description).toMatch(
			/^The base credential now holds this tenant's data; only the record used by Skip Unchanged Data could not be written/,
		);
		expect(`${error.message} ${error.options.description}`).not.toContain(SECRET);

		// Nothing was recorded, so the next swap writes again instead of skipping.
		const next = await swapOnce(n8n, {});
		expect(next.info).toMatchObject({ update: 'patched' });
	});
});
