/**
 * Redis with replicas (issue 17): with a replica wait configured, acquire and extend WAIT until that
 * many replicas have the write; fewer is a failed call (acquire gives the grant back and throws
 * LockStoreUnavailableError; extend throws, so a held lock retries while its lease lasts).
 * Real servers on loopback: a throwaway primary with a real replica (redis-server --replicaof), and a
 * lone Redis as the control, where WAIT answers 0.
 */
import Redis from 'ioredis';

import { LockConfigurationError, LockLostError, LockStoreUnavailableError } from '../../nodes/shared/lock/errors';
import { LockClient } from '../../nodes/shared/lock/HeldLock';
import { RedisKeyLayout } from '../../nodes/shared/lock/redis/keys';
import { replicaWaitFromEnvironment } from '../../nodes/shared/lock/redis/replicaWait';
import { RedisLockEngine, type ReplicaWait } from '../../nodes/shared/lock/RedisLockEngine';
import { closeLockEngines, redisLockEngine } from '../../nodes/shared/lock/registry';
import { hashLockKey } from '../../nodes/shared/lock/StoreLockEngine';
import { startOwnRedis, type OwnRedis } from '../helpers/faultServers';
import { guard, options, rejectionOf, sleep, uniqueKey, uniqueName } from '../helpers/lockTesting';

jest.setTimeout(180_000);

const LONG = 600_000;
const ONE_REPLICA: ReplicaWait = { replicas: 1, timeoutMs: 2_000 };

let primary: OwnRedis;
let replica: OwnRedis;
let lone: OwnRedis;
const clients: Redis[] = [];
const engines: RedisLockEngine[] = [];

function clientOn(server: OwnRedis): Redis {
	const client = new Redis({ host: server.host, port: server.port, maxRetriesPerRequest: 1, commandTimeout: 8_000 });
	client.on('error', () => undefined);
	clients.push(client);
	return client;
}

function engineOn(server: OwnRedis, prefix: string, replicaWait?: ReplicaWait): RedisLockEngine {
	const engine = new RedisLockEngine(clientOn(server), prefix, { replicaWait });
	engines.push(engine);
	return engine;
}

async function untilReplicating(): Promise<void> {
	const admin = clientOn(primary);
	for (let i = 0; i < 300; i++) {
		if (/connected_slaves:1\b/.test(await admin.info('replication')) && (await admin.wait(1, 200)) >= 1) return;
		await sleep(100);
	}
	throw new Error('the replica did not catch up with the primary');
}

beforeAll(async () => {
	[primary, lone] = await Promise.all([startOwnRedis(), startOwnRedis()]);
	replica = await startOwnRedis(['--replicaof', '127.0.0.1', String(primary.port)]);
	await untilReplicating();
});

afterAll(async () => {
	await closeLockEngines();
	for (const engine of engines) await engine.close();
	for (const client of clients) client.disconnect();
	await Promise.all([replica?.close(), primary?.close(), lone?.close()]);
});

describe('WAIT for replicas after acquire and extend', () => {
	it('with a replica: acquire and extend succeed, and the replica has the lease as soon as acquire returns', async () => {
		const prefix = `${uniqueName('redis_wait')}:`;
		const engine = engineOn(primary, prefix, ONE_REPLICA);
		const onReplica = clientOn(replica);
		const key = uniqueKey('wait-ok');
		const lease = await engine.acquire(key, options('exec-wait-ok', LONG, 0));
		// Read once, no polling: WAIT returned only after the replica had the write.
		expect(await onReplica.hget(new RedisKeyLayout(prefix).lease(hashLockKey(key)), 'token')).toBe(lease.token);
		const extended = await engine.extend(lease, LONG);
		expect(extended.token).toBe(lease.token);
		expect(await engine.release(lease)).toMatchObject({ status: 'released' });
	});

	// The control for the test above, and what fails with the replica wait removed: without a replica
	// WAIT answers 0, so the same settings refuse the grant and the renewal.
	it('control, a Redis without replicas (WAIT answers 0): acquire gives the grant back and throws LockStoreUnavailableError; extend throws it and the lease stays', async () => {
		expect(await clientOn(lone).wait(1, 100)).toBe(0);
		const prefix = `${uniqueName('redis_wait_none')}:`;
		const waiting = engineOn(lone, prefix, { replicas: 1, timeoutMs: 200 });
		const plain = engineOn(lone, prefix);
		const key = uniqueKey('wait-none');

		const refused = await rejectionOf(waiting.acquire(key, options('exec-wait-none', LONG, 0)));
		expect(refused).toBeInstanceOf(LockStoreUnavailableError);
		expect(refused.message).toMatch(/acquire.*only 0 of the 1 Redis replicas/);
		// The grant was given back at once: the key is free for the next one (a one-try acquire).
		expect(await plain.holder(key)).toBeUndefined();
		const taken = await plain.acquire(key, options('exec-wait-plain', LONG, 0));

		const renewal = await rejectionOf(waiting.extend(taken, LONG));
		expect(renewal).toBeInstanceOf(LockStoreUnavailableError);
		expect(renewal.message).toMatch(/extend.*only 0 of the 1/);
		expect((await plain.holder(key))?.owner.executionId).toBe('exec-wait-plain');
		expect(await plain.release(taken)).toMatchObject({ status: 'released' });
	});

	it('a replica that stops: acquire fails, a held lock cannot renew and ends lost at its deadline; with the replica back, acquire works again', async () => {
		const prefix = `${uniqueName('redis_wait_down')}:`;
		const engine = engineOn(primary, prefix, { replicas: 1, timeoutMs: 300 });
		const client = new LockClient(engine);
		const { lock } = await client.acquire(uniqueKey('wait-held'), options('exec-wait-held', 3_000, 0));
		await replica.stop();
		try {
			expect(await rejectionOf(engine.acquire(uniqueKey('wait-down'), options('exec-wait-down', LONG, 0)))).toBeInstanceOf(LockStoreUnavailableError);
			await guard(lock.whenEnded(), 60_000, 'held lock while its renewals cannot be confirmed');
			expect(lock.state).toBe('lost');
			expect(lock.lost.reason).toBeInstanceOf(LockLostError);
		} finally {
			await replica.start();
		}
		await untilReplicating();
		const again = await engine.acquire(uniqueKey('wait-back'), options('exec-wait-back', LONG, 0));
		await engine.release(again);
	});

	it('the registry applies the setting (and the deployment variables) to its engine', async () => {
		const prefix = `${uniqueName('redis_wait_reg')}:`;
		const engine = redisLockEngine(lone.settings(), prefix, { replicas: 1, timeoutMs: 100 });
		expect(await rejectionOf(engine.acquire(uniqueKey('reg-wait'), options('exec-reg', LONG, 0)))).toBeInstanceOf(LockStoreUnavailableError);
		// The same engine, the setting removed: the next call does not wait.
		expect(redisLockEngine(lone.settings(), prefix, undefined)).toBe(engine);
		await engine.release(await engine.acquire(uniqueKey('reg-nowait'), options('exec-reg', LONG, 0)));

		expect(replicaWaitFromEnvironment({})).toBeUndefined();
		expect(replicaWaitFromEnvironment({ TENANT_SWAP_REDIS_WAIT_REPLICAS: '0' })).toBeUndefined();
		expect(replicaWaitFromEnvironment({ TENANT_SWAP_REDIS_WAIT_REPLICAS: '1' })).toEqual({ replicas: 1, timeoutMs: 1_000 });
		expect(replicaWaitFromEnvironment({ TENANT_SWAP_REDIS_WAIT_REPLICAS: '2', TENANT_SWAP_REDIS_WAIT_TIMEOUT_MS: '250' })).toEqual({ replicas: 2, timeoutMs: 250 });
		for (const env of [
			{ TENANT_SWAP_REDIS_WAIT_REPLICAS: 'one' },
			{ TENANT_SWAP_REDIS_WAIT_REPLICAS: '-1' },
			// WAIT 0 blocks for ever; above 5 s it would hold the connection near the command timeout.
			{ TENANT_SWAP_REDIS_WAIT_REPLICAS: '1', TENANT_SWAP_REDIS_WAIT_TIMEOUT_MS: '0' },
			{ TENANT_SWAP_REDIS_WAIT_REPLICAS: '1', TENANT_SWAP_REDIS_WAIT_TIMEOUT_MS: '60000' },
		]) {
			expect(() => replicaWaitFromEnvironment(env)).toThrow(LockConfigurationError);
			expect(() => replicaWaitFromEnvironment(env)).toThrow(/TENANT_SWAP_REDIS_WAIT_REPLICAS/);
		}
	});
});
