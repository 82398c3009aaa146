/**
 * A Redis restarted without persistence under a held lock (issue 17, finding 2): the lease and any
 * record of a release are gone, so the holder's next renewal reads "lost", never "released". The
 * control releases the lock from another process first: that one ends "released".
 * On a throwaway redis-server (--save "" --appendonly no) this file stops and starts itself.
 */
import Redis from 'ioredis';

import { LockLostError, LockReleasedError, LockStoreUnavailableError } from '../../nodes/shared/lock/errors';
import { LockClient } from '../../nodes/shared/lock/HeldLock';
import { RedisLockEngine } from '../../nodes/shared/lock/RedisLockEngine';
import type { LockHandle, LockLease } from '../../nodes/shared/lock/types';
import { startOwnRedis, type OwnRedis } from '../helpers/faultServers';
import { guard, options, rejectionOf, sleep, uniqueKey, uniqueName } from '../helpers/lockTesting';

jest.setTimeout(120_000);

const LONG = 600_000;
/** Short enough that a held lock renews (every TTL/3) soon after the restart. */
const HELD_TTL = 3_000;

let server: OwnRedis;
const clients: Redis[] = [];
const engines: RedisLockEngine[] = [];

/** An engine with its own connection ("another process"); all on one prefix. */
let prefix: string;
function engineOnServer(): RedisLockEngine {
	const client = new Redis({ host: server.host, port: server.port, maxRetriesPerRequest: 1, commandTimeout: 5_000 });
	client.on('error', () => undefined);
	clients.push(client);
	const engine = new RedisLockEngine(client, prefix);
	engines.push(engine);
	return engine;
}

beforeAll(async () => {
	server = await startOwnRedis();
	prefix = `${uniqueName('redis_restart')}:`;
});

afterAll(async () => {
	for (const engine of engines) await engine.close();
	for (const client of clients) client.disconnect();
	await server?.close();
});

async function restart(): Promise<void> {
	await server.stop();
	await server.start();
}

/** extend once Redis answers again (the first calls after a restart may meet the reconnect). */
async function extendWhenUp(engine: RedisLockEngine, handle: LockHandle): Promise<unknown> {
	for (let i = 0; i < 100; i++) {
		const outcome = await engine.extend(handle, LONG).then(
			(lease: LockLease) => lease,
			(error: unknown) => error,
		);
		if (!(outcome instanceof LockStoreUnavailableError)) return outcome;
		await sleep(100);
	}
	throw new Error('Redis did not answer after the restart');
}

describe('Redis restart without persistence', () => {
	it('engine: extend after the restart throws LockLostError, not LockReleasedError; after a release it throws LockReleasedError', async () => {
		const engine = engineOnServer();
		const released = await engine.acquire(uniqueKey('restart-released'), options('exec-restart-a', LONG, 0));
		await engine.release(released);
		expect(await rejectionOf(engine.extend(released, LONG))).toBeInstanceOf(LockReleasedError);

		const held = await engine.acquire(uniqueKey('restart-held'), options('exec-restart-b', LONG, 0));
		await restart();
		const lost = await extendWhenUp(engine, held);
		expect(lost).toBeInstanceOf(LockLostError);
		expect(lost).not.toBeInstanceOf(LockReleasedError);
		// The restart also forgot the tombstone: the released token now reads as lost too (the safe side).
		expect(await rejectionOf(engine.extend(released, LONG))).toBeInstanceOf(LockLostError);
	});

	// Fails with main's HeldLock (it took "no lease, no holder" for a release and ended 'released');
	// needs the held lock that maps LockLostError -> lost and LockReleasedError -> released.
	it("a held lock whose Redis restarts ends 'lost' (its lost signal fires with a LockLostError), not 'released'", async () => {
		const client = new LockClient(engineOnServer());
		const { lock } = await client.acquire(uniqueKey('restart-heldlock'), options('exec-restart-c', HELD_TTL, 0));
		await restart();
		await guard(lock.whenEnded(), 60_000, 'held lock after the restart');
		expect(lock.state).toBe('lost');
		expect(lock.lost.aborted).toBe(true);
		expect(lock.lost.reason).toBeInstanceOf(LockLostError);
	});

	// Control: the same held lock, released from another process (Release Lock elsewhere) before its renewal.
	it("control: a held lock released from another process ends 'released' and its lost signal stays quiet", async () => {
		const client = new LockClient(engineOnServer());
		const elsewhere = engineOnServer();
		const { lock } = await client.acquire(uniqueKey('restart-control'), options('exec-restart-d', HELD_TTL, 0));
		expect((await elsewhere.releaseExecution('exec-restart-d')).map((outcome) => outcome.status)).toEqual(['released']);
		await guard(lock.whenEnded(), 60_000, 'held lock after a release elsewhere');
		expect(lock.state).toBe('released');
		expect(lock.lost.aborted).toBe(false);
	});
});
