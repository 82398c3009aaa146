/**
 * The swap-state memory the lock engines keep next to the locks (readSwapState / writeSwapState),
 * and, for PostgreSQL, that the extra state table never collides with another lock table.
 * Kept apart from the lock suites so a change of this newer API cannot stop them from compiling.
 */
import type { SwapState } from '../../nodes/shared/lock/types';
import {
	memoryFactory,
	options,
	PostgresLockFixture,
	postgresFactory,
	redisFactory,
	uniqueKey,
	uniqueName,
	type EngineFactory,
	type EngineUnderTest,
} from '../helpers/lockTesting';

const state = (n: number): SwapState => ({ dataHmac: `hmac-${n}`, credentialUpdatedAt: `2026-01-0${n}T00:00:00.000Z` });

describe.each<EngineFactory>([postgresFactory('lock_state'), redisFactory('lock_state'), memoryFactory])('$backend lock engine: swap state', (factory) => {
	let subject: EngineUnderTest;
	beforeAll(async () => {
		subject = await factory.create();
	});
	afterAll(async () => {
		await subject.close();
	});

	it('remembers, overwrites and forgets per credential, and every engine on the store sees it', async () => {
		const { engine, other } = subject;
		const a = uniqueKey('cred-a');
		const b = uniqueKey('cred-b');
		expect(await engine.readSwapState(a)).toBeUndefined();
		await engine.writeSwapState(a, state(1));
		await engine.writeSwapState(b, state(2));
		expect(await other.readSwapState(a)).toEqual(state(1));
		await other.writeSwapState(a, state(3));
		expect(await engine.readSwapState(a)).toEqual(state(3));
		expect(await engine.readSwapState(b)).toEqual(state(2));
		await engine.writeSwapState(a, undefined);
		expect(await other.readSwapState(a)).toBeUndefined();
		expect(await other.readSwapState(b)).toEqual(state(2));
	});
});

describe('postgres lock engine: swap-state table names', () => {
	const fixture = new PostgresLockFixture();
	afterAll(async () => {
		await fixture.close();
	});

	it('two lock tables whose names share their first 57 characters keep separate swap state', async () => {
		const prefix = uniqueName('lock_st').padEnd(57, 'q');
		const first = fixture.engine({ table: `${prefix}_aaaa` });
		const second = fixture.engine({ table: `${prefix}_bbbb` });
		const credential = uniqueKey('cred');
		await first.writeSwapState(credential, state(1));
		expect(await second.readSwapState(credential)).toBeUndefined();
	});

	it('a lock table named X_state next to a lock table X: X created first, then X_state still locks', async () => {
		const table = uniqueName('lock_pair');
		const plain = fixture.engine({ table });
		await plain.release(await plain.acquire(uniqueKey('pair'), options('exec-pair', 60_000, 0)));
		const suffixed = fixture.engine({ table: `${table}_state` });
		const outcome = await suffixed
			.acquire(uniqueKey('pair'), options('exec-pair', 60_000, 0))
			.then(async (lease) => (await suffixed.release(lease)).status)
			.catch((error: Error) => `${error.name}: ${error.message}`);
		expect(outcome).toBe('released');
	});

	it('a lock table named X_state next to a lock table X: X_state created first, then X keeps swap state', async () => {
		const table = uniqueName('lock_pair');
		const suffixed = fixture.engine({ table: `${table}_state` });
		await suffixed.release(await suffixed.acquire(uniqueKey('pair'), options('exec-pair', 60_000, 0)));
		const plain = fixture.engine({ table });
		const credential = uniqueKey('cred');
		const error = await plain.writeSwapState(credential, state(1)).then(
			() => undefined,
			(caught: Error) => caught,
		);
		expect(error).toBeUndefined();
		expect(await plain.readSwapState(credential)).toEqual(state(1));
		// And the lock table X_state still locks.
		const lease = await suffixed.acquire(uniqueKey('pair'), options('exec-pair-2', 60_000, 0));
		expect((await suffixed.release(lease)).status).toBe('released');
	});
});
