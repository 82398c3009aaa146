/**
 * Release Lock > List Held Locks on each backend: one item per held lock with its holder, since when
 * and how many wait; an item of that list fed to Release (The Lock on the Item) frees the stuck lock.
 * No n8n API is involved: the node reads the lock store only.
 */
import type { IDataObject } from 'n8n-workflow';

import { TenantLockRelease } from '../../nodes/TenantLockRelease/TenantLockRelease.node';
import { closeLockEngines, closeSharedPools, memoryLockEngine, postgresLockEngine, redisLockEngine, type LockStore } from '../../nodes/shared/lock';
import { executeContext, type ContextSpec } from '../helpers/executeContext';
import { postgresCredential, unique } from '../helpers/fixtures';
import { guard, untilQueued } from '../helpers/lockTesting';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ensureRedis } = require('../harness/redis.js');

const releaseNode = new TenantLockRelease();

type Setup = () => Promise<{ engine: LockStore; credentials: ContextSpec['credentials'] }>;

async function redisSetup(): Promise<{ engine: LockStore; credentials: ContextSpec['credentials'] }> {
	const server = (await ensureRedis()) as { host: string; port: number };
	const redis = { host: server.host, port: server.port, database: 0, ssl: false };
	return { engine: redisLockEngine(redis), credentials: { redis } };
}

afterAll(async () => {
	await closeLockEngines();
	await closeSharedPools();
});

describe.each([
	['memory', async () => ({ engine: memoryLockEngine(), credentials: {} })],
	['postgres', async () => ({ engine: postgresLockEngine(postgresCredential() as never, { table: 'list_locks_test' }), credentials: { postgres: postgresCredential() } })],
	['redis', redisSetup],
] as Array<[string, Setup]>)('Release Lock > List Held Locks (%s)', (backend, setup) => {
	let engine: LockStore;
	let credentials: ContextSpec['credentials'];
	beforeAll(async () => {
		({ engine, credentials } = await setup());
	});

	async function run(parameters: Record<string, unknown>, items: ContextSpec['items'] = [{ json: {} }]) {
		const { context } = executeContext({
			items,
			credentials,
			executionId: unique('ops'),
			parameters: { lockBackend: backend, options: { lockTable: 'list_locks_test' }, ...parameters },
		});
		return (await releaseNode.execute.call(context))[0];
	}

	it('lists who holds which key since when and how many wait, and a listed lock can be freed from the list', async () => {
		const [stuck, busy] = [unique('stuck'), unique('busy')];
		await engine.acquire(stuck, { owner: { instanceId: 'inst-x', executionId: 'exec-stuck', workflowId: 'wf-1', tenantId: 'acme' }, ttlMs: 600_000, waitTimeoutMs: 0 });
		const busyLease = await engine.acquire(busy, { owner: { executionId: 'exec-busy' }, ttlMs: 600_000, waitTimeoutMs: 0 });
		const waiter = engine.acquire(busy, { owner: { executionId: 'exec-waiter' }, ttlMs: 60_000, waitTimeoutMs: 60_000 });
		await untilQueued(engine, busy, 1);

		const listed = await run({ operation: 'list', limit: 1000 });
		const byKey = new Map(listed.map((item) => [item.json.lockKey, item.json as IDataObject]));
		expect(byKey.get(stuck)).toMatchObject({ executionId: 'exec-stuck', instanceId: 'inst-x', workflowId: 'wf-1', tenantId: 'acme', waiting: 0, lockBackend: backend });
		expect(byKey.get(busy)).toMatchObject({ executionId: 'exec-busy', waiting: 1 });
		expect(Date.parse(String(byKey.get(stuck)?.heldSince))).toBeLessThanOrEqual(Date.now());
		expect(Number(byKey.get(stuck)?.heldForMs)).toBeGreaterThanOrEqual(0);

		// Free the stuck one from the list, as an operator's workflow would.
		const stuckItem = listed.find((item) => item.json.lockKey === stuck)!;
		const released = await run({ operation: 'release', releaseMode: 'token', lockKey: stuckItem.json.lockKey, token: stuckItem.json.token }, [stuckItem]);
		expect(released[0].json.tenantLockRelease).toMatchObject({ released: 1, lost: 0 });
		expect(await engine.holder(stuck)).toBeUndefined();
		expect((await run({ operation: 'list', limit: 1000 })).map((item) => item.json.lockKey)).not.toContain(stuck);

		await engine.release(busyLease);
		await engine.release(await guard(waiter, 20_000, 'waiter'));
	});

	it('honours the limit and refuses a bad one, naming the parameter', async () => {
		for (let i = 0; i < 3; i++) await engine.acquire(unique('limit'), { owner: { executionId: `exec-limit-${i}` }, ttlMs: 60_000, waitTimeoutMs: 0 });
		expect(await run({ operation: 'list', limit: 2 })).toHaveLength(2);
		await expect(run({ operation: 'list', limit: 0 })).rejects.toThrow(/Parameter "Limit", item 0/);
	});
});
