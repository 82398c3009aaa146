import { Pool } from 'pg';

import { PostgresLockEngine } from '../../nodes/shared/lock/postgres';

describe('PostgresLockEngine basics', () => {
	let pool: Pool;
	let engine: PostgresLockEngine;
	beforeAll(() => {
		pool = new Pool({ connectionString: process.env.TEST_DATABASE_URL, max: 10 });
		engine = new PostgresLockEngine(pool, { table: `basic_${process.pid}` });
	});
	afterAll(async () => {
		await engine.close();
		await pool.end();
	});

	it('acquires, blocks a second owner, wakes it on release', async () => {
		const first = await engine.acquire('k1', { owner: { executionId: 'e1' }, ttlMs: 10_000, waitTimeoutMs: 0 });
		expect(first.fence).toBe(1);
		const waiting = engine.acquire('k1', { owner: { executionId: 'e2' }, ttlMs: 10_000, waitTimeoutMs: 20_000 });
		await new Promise((r) => setTimeout(r, 50));
		expect(await engine.release(first)).toMatchObject({ status: 'released' });
		const second = await waiting;
		expect(second.fence).toBe(2);
		expect(await engine.release(first)).toMatchObject({ status: 'lost' });
		await engine.release(second);
	});
});
