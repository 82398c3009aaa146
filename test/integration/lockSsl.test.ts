/**
 * The lock database credential's SSL settings, through the real lock engine, against a second
 * throwaway PostgreSQL with TLS on and a self-signed certificate (test/helpers/sslPostgres.ts).
 * Each setting means what it means in n8n's own Postgres node (see poolConfigFrom).
 */
import { randomBytes } from 'node:crypto';

import {
	closeLockEngines,
	closeSharedPools,
	LockConfigurationError,
	LockStoreUnavailableError,
	poolConfigFrom,
	postgresLockEngine,
	sharedPool,
	type PostgresConnectionSettings,
} from '../../nodes/shared/lock';
import { lockInFreshProcess, startSslPostgres, type SslPostgres } from '../helpers/sslPostgres';

jest.setTimeout(180_000);

let server: SslPostgres;
const table = `ssl_locks_${process.pid}_${randomBytes(3).toString('hex')}`;
let keys = 0;

beforeAll(async () => {
	server = await startSslPostgres();
});

afterEach(async () => {
	// Every test gets fresh pools: an idle connection from an earlier test must not hide a refusal.
	await closeLockEngines();
	await closeSharedPools();
});

afterAll(async () => {
	await closeLockEngines();
	await closeSharedPools();
	await server?.stop();
});

/** Takes and frees one lock through the engine; reports whether the pool's connection is encrypted. */
async function lockRoundTrip(settings: PostgresConnectionSettings): Promise<{ encrypted: boolean }> {
	const engine = postgresLockEngine(settings, { table });
	keys += 1;
	const lease = await engine.acquire(`ssl-key-${keys}`, {
		owner: { executionId: `ssl-exec-${keys}` },
		ttlMs: 10_000,
		waitTimeoutMs: 0,
	});
	const { rows } = await sharedPool(poolConfigFrom(settings)).query<{ ssl: boolean }>(
		'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
	);
	expect(await engine.release(lease)).toMatchObject({ status: 'released' });
	return { encrypted: rows[0].ssl };
}

async function refusal(settings: PostgresConnectionSettings): Promise<Error & { cause?: { code?: string } }> {
	try {
		await lockRoundTrip(settings);
	} catch (error) {
		return error as Error & { cause?: { code?: string } };
	}
	throw new Error(`expected the lock engine to refuse ${JSON.stringify({ ...settings, password: '***' })}`);
}

describe('lock database credential SSL, against PostgreSQL with a self-signed certificate', () => {
	it.each(['require', 'allow', 'verify-full'])(
		'ssl=%s without Ignore SSL Issues verifies the certificate and refuses the self-signed one',
		async (ssl) => {
			const error = await refusal(server.credential({ ssl }));
			expect(error).toBeInstanceOf(LockStoreUnavailableError);
			expect(error.message).toMatch(/self[- ]signed certificate/);
			expect(error.cause?.code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
		},
	);

	it('Ignore SSL Issues connects encrypted without checking the certificate (the hidden SSL field stays "disable")', async () => {
		expect(await lockRoundTrip(server.credential({ allowUnauthorizedCerts: true, ssl: 'disable' }))).toEqual({
			encrypted: true,
		});
		expect(await lockRoundTrip(server.credential({ allowUnauthorizedCerts: true, ssl: 'require', maxConnections: 5 }))).toEqual({
			encrypted: true,
		});
	});

	it('ssl=disable connects unencrypted while the server accepts plain connections', async () => {
		expect(await lockRoundTrip(server.credential({ ssl: 'disable' }))).toEqual({ encrypted: false });
		// A credential without an SSL value is n8n's default, "disable".
		expect(await lockRoundTrip(server.credential({ ssl: undefined }))).toEqual({ encrypted: false });
	});

	it('ssl=disable is refused by a server that requires TLS; Ignore SSL Issues still connects', async () => {
		await server.requireTls(true);
		try {
			const error = await refusal(server.credential({ ssl: 'disable' }));
			expect(error).toBeInstanceOf(LockStoreUnavailableError);
			expect(error.message).toMatch(/pg_hba\.conf.*no encryption/);
			expect(await lockRoundTrip(server.credential({ allowUnauthorizedCerts: true }))).toEqual({ encrypted: true });
		} finally {
			await server.requireTls(false);
		}
	});

	it('ssl=require trusts a certificate from NODE_EXTRA_CA_CERTS and checks the host name against it', async () => {
		const trusted = await lockInFreshProcess(server.credential({ ssl: 'require' }), table, {
			NODE_EXTRA_CA_CERTS: server.certificateFile,
		});
		expect(trusted).toEqual({ connected: true, encrypted: true });

		// Same server and trusted certificate, reached as "localhost": the certificate names only 127.0.0.1.
		const wrongName = await lockInFreshProcess(server.credential({ ssl: 'require', host: 'localhost' }), table, {
			NODE_EXTRA_CA_CERTS: server.certificateFile,
		});
		expect(wrongName).toMatchObject({ connected: false, errorName: 'LockStoreUnavailableError' });
		expect(wrongName.message).toMatch(/does not match certificate's altnames/);

		const untrusted = await lockInFreshProcess(server.credential({ ssl: 'require' }), table, {});
		expect(untrusted).toMatchObject({ connected: false, errorName: 'LockStoreUnavailableError' });
		expect(untrusted.message).toMatch(/self[- ]signed certificate/);
	});

	it('Maximum Number of Connections bounds the pool, with waiters and LISTEN under load', async () => {
		const role = `lock_max_${process.pid}_${randomBytes(3).toString('hex')}`;
		const password = randomBytes(9).toString('hex');
		await server.admin(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
		await server.admin(`CREATE SCHEMA ${role} AUTHORIZATION ${role}`);
		try {
			const settings = server.credential({ user: role, password, allowUnauthorizedCerts: true, maxConnections: 3 });
			// 3 in all: the pool (2) and the LISTEN connection outside it.
			expect(poolConfigFrom(settings).max).toBe(2);
			const engine = postgresLockEngine(settings, { schema: role, table: 'locks' });
			const pool = sharedPool(poolConfigFrom(settings));

			let peak = 0;
			let sampling = true;
			const sampler = (async () => {
				while (sampling) {
					const rows = await server.admin<{ n: number }>(
						'SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1',
						[role],
					);
					peak = Math.max(peak, rows[0].n);
					await new Promise((r) => setTimeout(r, 5));
				}
			})();

			// One holder, 6 waiters on its key (they need the LISTEN connection), 12 other keys at once.
			const held = await engine.acquire('contended', { owner: { executionId: 'holder' }, ttlMs: 20_000, waitTimeoutMs: 0 });
			const waiters = Array.from({ length: 6 }, async (_, i) => {
				const lease = await engine.acquire('contended', { owner: { executionId: `waiter-${i}` }, ttlMs: 20_000, waitTimeoutMs: 30_000 });
				await engine.release(lease);
			});
			const others = Array.from({ length: 12 }, async (_, i) => {
				const lease = await engine.acquire(`free-${i}`, { owner: { executionId: `other-${i}` }, ttlMs: 20_000, waitTimeoutMs: 30_000 });
				await engine.holder(`free-${i}`);
				await engine.release(lease);
			});
			await Promise.all(others);
			await new Promise((r) => setTimeout(r, 100));
			await engine.release(held);
			await Promise.all(waiters);
			sampling = false;
			await sampler;

			expect(pool.totalCount).toBeLessThanOrEqual(2);
			expect(peak).toBeLessThanOrEqual(3);
			// The load did reach the bound (LISTEN + queries), so the bound is what held it.
			expect(peak).toBeGreaterThanOrEqual(2);
		} finally {
			await closeLockEngines();
			await closeSharedPools();
			await server.admin(`DROP SCHEMA ${role} CASCADE`);
			await server.admin(`DROP ROLE ${role}`);
		}
	});

	it('refuses settings it cannot honour instead of ignoring them', () => {
		const refused = (overrides: Partial<PostgresConnectionSettings>) => () =>
			postgresLockEngine(server.credential(overrides), { table });
		expect(refused({ sshTunnel: true })).toThrow(LockConfigurationError);
		expect(refused({ sshTunnel: true })).toThrow(/SSH tunnel/);
		expect(refused({ maxConnections: 2 })).toThrow(/Maximum Number of Connections.*at least 3/);
		expect(refused({ ssl: 'prefer' })).toThrow(/SSL setting "prefer"/);
	});
});
