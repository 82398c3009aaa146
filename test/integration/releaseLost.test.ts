/**
 * Release Lock after the swap node returned: a lock the execution lost in between fails the execution
 * (finding 6 of issue 17: it used to only log), naming the lock and when and why it was lost; with
 * "Fail If Lock Was Lost" off it only warns. The nodes run as in nodes.test.ts (executeContext), on
 * the in-memory lock backend, with n8n's API scripted: a running execution, a base credential.
 */
import { NodeOperationError, type IDataObject, type INodeExecutionData } from 'n8n-workflow';

import { TenantCredentialSwap } from '../../nodes/TenantCredentialSwap/TenantCredentialSwap.node';
import { TenantLockRelease } from '../../nodes/TenantLockRelease/TenantLockRelease.node';
import { closeLockEngines, LockStoreUnavailableError, lockClientFor, memoryLockEngine, stopLeaseKeepers } from '../../nodes/shared/lock';
import { executeContext } from '../helpers/executeContext';
import { itemsOf } from '../helpers/fixtures';

const swapNode = new TenantCredentialSwap();
const releaseNode = new TenantLockRelease();
const BASE = 'base-lost';
const KEY = `credential:${BASE}`;

const summary = { id: BASE, name: 'Base', type: 'httpHeaderAuth', updatedAt: '2026-01-01T00:00:00.000Z' };
const schema = { properties: { name: { type: 'string' }, value: { type: 'string' } } };
/** n8n's API as the nodes use it here; every execution runs. */
async function send(options: { method?: string; url: string }) {
	const path = new URL(options.url).pathname.replace(/^\/api\/v1/, '');
	if (options.method === 'GET' && path === `/credentials/${BASE}`) return { statusCode: 200, body: summary };
	if (options.method === 'GET' && path.startsWith('/credentials/schema/')) return { statusCode: 200, body: schema };
	if (options.method === 'PATCH' && path === `/credentials/${BASE}`) return { statusCode: 200, body: { ...summary, updatedAt: new Date().toISOString() } };
	if (options.method === 'GET' && path === '/executions') return { statusCode: 200, body: { data: [], nextCursor: null } };
	if (options.method === 'GET' && path.startsWith('/executions/')) return { statusCode: 200, body: { status: 'running', stoppedAt: null } };
	return { statusCode: 500, body: { message: `unexpected ${options.method} ${path}` } };
}

let executionCounter = 700;
const credentials = { tenantSwapN8nApi: { baseUrl: 'http://127.0.0.1:9/api/v1', apiKey: 'scripted', allowUnauthorizedCerts: false } };

async function runSwap(executionId: string) {
	const { context } = executeContext({
		items: itemsOf({ tenantId: 'a' }),
		credentials,
		executionId,
		send: send as never,
		parameters: {
			baseCredential: { __rl: true, mode: 'id', value: BASE },
			tenantId: 'tenant-a',
			credentialData: { name: 'x-tenant-secret', value: 'tenant-a-secret' },
			lockBackend: 'memory',
			options: { lockTtl: 0.3, waitTimeout: 5 },
		},
	});
	return (await swapNode.execute.call(context))[0];
}

async function runRelease(executionId: string, items: INodeExecutionData[], options: IDataObject = {}) {
	const { context, logs } = executeContext({
		items,
		credentials,
		executionId,
		send: send as never,
		parameters: { lockBackend: 'memory', releaseMode: 'execution', options },
	});
	return { output: (await releaseNode.execute.call(context))[0], logs };
}

/** The store stops answering this process's renewals until the lease is gone (as a Redis restart or a stall would). */
async function loseTheLock(executionId: string): Promise<void> {
	const engine = memoryLockEngine();
	const [held] = lockClientFor(engine).heldBy({ instanceId: 'test-instance', executionId });
	const extend = jest.spyOn(engine, 'extend').mockRejectedValue(new LockStoreUnavailableError('extend', new Error('connection reset')));
	try {
		await new Promise<void>((resolve) => held.lost.addEventListener('abort', () => resolve(), { once: true }));
	} finally {
		extend.mockRestore();
	}
	// Another execution takes the key once the store let the lease go.
	const thief = await engine.acquire(KEY, { owner: { executionId: 'thief' }, ttlMs: 30_000, waitTimeoutMs: 5_000 });
	await engine.release(thief);
}

/** What the nodes between Swap and Release Lock typically output: the swap's tenantSwap is gone. */
const httpNodeOutput: INodeExecutionData[] = [{ json: { answer: 'from the tenant API' } }];

afterAll(async () => {
	stopLeaseKeepers();
	await closeLockEngines();
});

describe('Release Lock after a lock was lost behind the swap', () => {
	it('control: after a normal hold it frees the lock and succeeds', async () => {
		const executionId = String(executionCounter++);
		await runSwap(executionId);
		const { output } = await runRelease(executionId, httpNodeOutput);
		expect(output[0].json.tenantLockRelease).toMatchObject({ released: 1, lost: 0 });
		expect(await memoryLockEngine().holder(KEY)).toBeUndefined();
	});

	// Fails with the fix reverted: Release Lock answered { released: 0, lost: 0 } (the items no longer carry the lock) and the loss only reached the log.
	it('fails the execution, naming the lock, when and why it was lost, and that the nodes between may have used another tenant\'s credential; audited', async () => {
		const executionId = String(executionCounter++);
		const swapped = await runSwap(executionId);
		expect(swapped[0].json.tenantSwap).toMatchObject({ lockRenewal: 'on' });
		await loseTheLock(executionId);

		const error = await runRelease(executionId, httpNodeOutput).catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(NodeOperationError);
		const { message, description } = error as NodeOperationError;
		expect(message).toMatch(new RegExp(`Lock lost before release: lock "${KEY}" was lost at \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z: the lock store did not confirm a renewal before the lease ran out`));
		expect(description).toMatch(/the nodes in between may have used another tenant's credential/);
		expect(description).toMatch(/Fail If Lock Was Lost/);
		expect(`${message} ${description}`).not.toContain('tenant-a-secret');

		const audit = memoryLockEngine().auditTrail.filter((event) => event.executionId === executionId && event.outcome === 'lost');
		expect(audit).toEqual([
			expect.objectContaining({ action: 'release', lockKey: KEY, detail: expect.stringMatching(/lease was lost while the execution ran/) }),
			expect.objectContaining({ action: 'release', lockKey: KEY, detail: expect.stringMatching(/Release Lock found the lock lost/) }),
		]);
	});

	it('with "Fail If Lock Was Lost" off it only warns, and the output lists the lost lock with when and why', async () => {
		const executionId = String(executionCounter++);
		await runSwap(executionId);
		await loseTheLock(executionId);

		const { output, logs } = await runRelease(executionId, httpNodeOutput, { failIfLost: false });
		expect(output[0].json.tenantLockRelease).toMatchObject({
			released: 0,
			lost: 1,
			locks: [{ key: KEY, status: 'lost', lostAt: expect.any(String), reason: expect.stringMatching(/did not confirm a renewal/) }],
		});
		expect(logs.filter((line) => line.startsWith('warn') && line.includes('Lock lost before release'))).toHaveLength(1);
	});
});
