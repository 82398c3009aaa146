/**
 * poolConfigFrom: n8n's `postgres` credential -> pg pool config, field by field as n8n's own Postgres
 * node (nodes/Postgres/transport getPostgresConfig) reads it; refusals for what the lock cannot honour.
 * test/integration/lockSsl.test.ts shows the same settings against a real TLS server.
 */
import { LockConfigurationError, poolConfigFrom, type PostgresConnectionSettings } from '../../nodes/shared/lock';
import {
	attemptConnections,
	connectionIdentity,
	LISTENER_CONNECTIONS,
	LOCK_CONNECTION_LIMIT,
	POSTGRES_SSL_MODES,
	sslConfigFrom,
} from '../../nodes/shared/lock/postgresPool';

const base: PostgresConnectionSettings = {
	host: 'db.internal',
	port: 6543,
	database: 'locks',
	user: 'n8n',
	password: 'pw',
	ssl: 'disable',
	allowUnauthorizedCerts: false,
	maxConnections: 100,
	sshTunnel: false,
};
const config = (overrides: Partial<PostgresConnectionSettings>) => poolConfigFrom({ ...base, ...overrides });

describe('poolConfigFrom: SSL as n8n reads it', () => {
	it.each([
		// ssl field, Ignore SSL Issues, resulting pg `ssl`
		['disable', false, false],
		[undefined, false, false],
		['allow', false, true],
		['require', false, true],
		['verify', false, true],
		['verify-full', false, true],
		['disable', true, { rejectUnauthorized: false }],
		['require', true, { rejectUnauthorized: false }],
		[undefined, true, { rejectUnauthorized: false }],
	] as const)('ssl=%s, allowUnauthorizedCerts=%s -> ssl %j', (ssl, allowUnauthorizedCerts, expected) => {
		expect(config({ ssl, allowUnauthorizedCerts }).ssl).toEqual(expected);
	});

	it('always sets `ssl`, so PGSSLMODE in the environment cannot change what the credential says', () => {
		expect(Object.prototype.hasOwnProperty.call(config({ ssl: undefined }), 'ssl')).toBe(true);
	});

	it('offers exactly the values n8n has offered', () => {
		expect([...POSTGRES_SSL_MODES]).toEqual(['disable', 'allow', 'require', 'verify', 'verify-full']);
	});

	it.each(['prefer', 'verify-ca', 'true', '', 'DISABLE'])('refuses the SSL value %j', (ssl) => {
		expect(() => config({ ssl })).toThrow(LockConfigurationError);
		expect(() => config({ ssl })).toThrow(/SSL setting/);
	});

	it('refuses a non-boolean Ignore SSL Issues', () => {
		expect(() => sslConfigFrom({ ssl: 'require', allowUnauthorizedCerts: 'true' as never })).toThrow(/Ignore SSL Issues/);
	});
});

describe('poolConfigFrom: connection fields', () => {
	it('maps host, port, database, user and password', () => {
		expect(config({})).toMatchObject({ host: 'db.internal', port: 6543, database: 'locks', user: 'n8n', password: 'pw' });
		expect(config({ port: undefined }).port).toBe(5432);
	});

	it('bounds the lock to min(Maximum Number of Connections, 10) connections: the pool plus the LISTEN connection', () => {
		// n8n's default of 100 (and anything above 10) is capped: a burst must not starve the database.
		expect(config({ maxConnections: 100 }).max).toBe(LOCK_CONNECTION_LIMIT - LISTENER_CONNECTIONS);
		expect(LOCK_CONNECTION_LIMIT).toBe(10);
		expect(config({ maxConnections: 3 }).max).toBe(2);
		expect(config({ maxConnections: '7' as never }).max).toBe(6);
		expect(config({ maxConnections: undefined }).max).toBe(9);
	});

	it('sends no start-up parameter PgBouncer refuses (statement_timeout, options)', () => {
		const startup = config({});
		expect(startup).not.toHaveProperty('statement_timeout');
		expect(startup).not.toHaveProperty('options');
		expect(startup).not.toHaveProperty('lock_timeout');
		expect(startup).not.toHaveProperty('idle_in_transaction_session_timeout');
	});

	it.each([0, 1, 2, -5, 2.5, Number.NaN, 'many'])('refuses Maximum Number of Connections %p', (maxConnections) => {
		expect(() => config({ maxConnections: maxConnections as never })).toThrow(/Maximum Number of Connections/);
	});

	it.each([0, 70000, 'x'])('refuses port %p', (port) => {
		expect(() => config({ port: port as never })).toThrow(/port/);
	});

	it('refuses an SSH tunnel', () => {
		expect(() => config({ sshTunnel: true })).toThrow(/SSH tunnel/);
	});
});

describe('poolConfigFrom: connection strings (tests and tools)', () => {
	const url = 'postgres://u:p@127.0.0.1:5432/db';

	it('applies the SSL fields and the pool size to a URL without SSL parameters', () => {
		expect(poolConfigFrom({ ...base, connectionString: url, ssl: 'require' })).toMatchObject({ connectionString: url, ssl: true, max: 9 });
		expect(poolConfigFrom({ ...base, connectionString: url, allowUnauthorizedCerts: true }).ssl).toEqual({ rejectUnauthorized: false });
	});

	it('leaves SSL to a URL that sets it, and refuses SSL set in both places', () => {
		const own = poolConfigFrom({ ...base, connectionString: `${url}?sslmode=require`, ssl: undefined });
		expect(own.connectionString).toBe(`${url}?sslmode=require`);
		expect(Object.prototype.hasOwnProperty.call(own, 'ssl')).toBe(false);
		expect(() => poolConfigFrom({ ...base, connectionString: `${url}?sslmode=require`, ssl: 'disable' })).toThrow(/one place/);
	});
});

describe('connectionIdentity: which pool and engine a credential gets', () => {
	it('is the same for a rotated password (same engine), while the fingerprint differs (new pool)', () => {
		const before = connectionIdentity(config({ password: 'old-secret' }));
		const after = connectionIdentity(config({ password: 'new-secret' }));
		expect(after.identity).toBe(before.identity);
		expect(after.fingerprint).not.toBe(before.fingerprint);
	});

	it.each([
		['host', { host: 'other.internal' }],
		['port', { port: 6544 }],
		['database', { database: 'other' }],
		['user', { user: 'other' }],
		['ssl', { ssl: 'require' }],
	] as const)('differs when the %s differs', (_field, overrides) => {
		expect(connectionIdentity(config(overrides as Partial<PostgresConnectionSettings>)).identity).not.toBe(connectionIdentity(config({})).identity);
	});

	it('leaves the password of a connection string out of the identity', () => {
		const a = connectionIdentity(poolConfigFrom({ ...base, connectionString: 'postgres://u:one@127.0.0.1:5432/db' }));
		const b = connectionIdentity(poolConfigFrom({ ...base, connectionString: 'postgres://u:two@127.0.0.1:5432/db' }));
		const kv1 = connectionIdentity(poolConfigFrom({ ...base, connectionString: "host=h user=u password='o n e' dbname=d" }));
		const kv2 = connectionIdentity(poolConfigFrom({ ...base, connectionString: 'host=h user=u password=two dbname=d' }));
		expect(a.identity).toBe(b.identity);
		expect(kv1.identity).toBe(kv2.identity);
		expect(a.fingerprint).not.toBe(b.fingerprint);
	});
});

describe('attemptConnections: the renewal lane', () => {
	it.each([
		[9, 7],
		[3, 1],
		[2, 1],
		[1, 1],
	])('a pool of %i lets attempts use %i connections, keeping the rest for renewals', (poolMax, attempts) => {
		expect(attemptConnections(poolMax)).toBe(attempts);
	});
});
