import { createHash } from 'node:crypto';
import { Pool, type PoolConfig } from 'pg';

import { LockConfigurationError } from './errors';

/** The fields of n8n's built-in `postgres` credential that matter for the lock pool. */
export interface PostgresConnectionSettings {
	host: string;
	port?: number;
	database: string;
	user: string;
	password?: string;
	/**
	 * n8n's "SSL" field. n8n 2.x offers disable, allow and require; credentials saved by older n8n
	 * versions can still hold verify or verify-full.
	 */
	ssl?: 'disable' | 'allow' | 'require' | 'verify' | 'verify-full' | string;
	/** n8n's "Ignore SSL Issues (Insecure)". */
	allowUnauthorizedCerts?: boolean;
	/** n8n's "Maximum Number of Connections". */
	maxConnections?: number;
	sshTunnel?: boolean;
	/** Tests and tools may pass a URL instead of the fields above. */
	connectionString?: string;
}

/** Every value n8n's `postgres` credential has offered for its SSL field. */
export const POSTGRES_SSL_MODES = ['disable', 'allow', 'require', 'verify', 'verify-full'] as const;

/** pg's own default pool size, which n8n's Postgres node also gets when the credential has none. */
const DEFAULT_MAX_CONNECTIONS = 10;
/** The lock keeps one connection for LISTEN (to be woken on release) and needs one more for queries. */
const MIN_MAX_CONNECTIONS = 2;
/** Query parameters with which a connection string configures TLS itself (pg-connection-string). */
const URL_SSL_PARAMETERS = ['ssl', 'sslmode', 'sslcert', 'sslkey', 'sslrootcert', 'sslnegotiation'];

/**
 * Turns n8n's `postgres` credential into a pg pool config, with the same meaning n8n's own Postgres
 * node (nodes/Postgres/transport, getPostgresConfig) gives each field:
 *
 * - Ignore SSL Issues on: TLS without certificate checks (`ssl: { rejectUnauthorized: false }`),
 *   whatever the (then hidden) SSL field says.
 * - SSL disable (or no value): no TLS.
 * - SSL allow, require, verify, verify-full: TLS with the certificate chain checked against Node's
 *   trusted CAs (plus NODE_EXTRA_CA_CERTS) and the host name checked against the certificate
 *   (`ssl: true`). n8n also sets a `sslmode` key, which pg ignores in a config object, so "allow"
 *   does not fall back to a plain connection and "require" does check the certificate: this is what
 *   n8n's Postgres node does with the same credential, and the lock does the same, on purpose.
 * - Maximum Number of Connections: the pool's `max`.
 *
 * Anything the lock cannot honour is refused with a LockConfigurationError instead of being
 * ignored: an SSH tunnel, an SSL value n8n never offered, a non-boolean Ignore SSL Issues, fewer
 * than 2 connections, an impossible port.
 */
export function poolConfigFrom(settings: PostgresConnectionSettings): PoolConfig {
	if (settings.sshTunnel) {
		throw new LockConfigurationError(
			'The lock database credential uses an SSH tunnel, which the lock does not support yet. Use a credential that connects directly.',
		);
	}
	const common: PoolConfig = {
		max: maxConnectionsFrom(settings.maxConnections),
		connectionTimeoutMillis: 10_000,
		idleTimeoutMillis: 30_000,
		statement_timeout: 15_000,
		query_timeout: 20_000,
		application_name: 'n8n-tenant-credential-swap',
		keepAlive: true,
	};
	const ssl = sslConfigFrom(settings);
	if (settings.connectionString) {
		if (urlConfiguresSsl(settings.connectionString)) {
			if (settings.ssl !== undefined || settings.allowUnauthorizedCerts === true) {
				throw new LockConfigurationError(
					'The lock database connection string sets SSL parameters and the SSL fields are set too: configure SSL in one place only.',
				);
			}
			// The URL's own sslmode decides, as pg reads it.
			return { ...common, connectionString: settings.connectionString };
		}
		return { ...common, connectionString: settings.connectionString, ssl };
	}
	return {
		...common,
		host: settings.host,
		port: portFrom(settings.port),
		database: settings.database,
		user: settings.user,
		password: settings.password,
		ssl,
	};
}

/** The `ssl` entry of the pool config, exactly as n8n's Postgres node derives it. */
export function sslConfigFrom(settings: Pick<PostgresConnectionSettings, 'ssl' | 'allowUnauthorizedCerts'>): PoolConfig['ssl'] {
	const { ssl, allowUnauthorizedCerts } = settings;
	if (allowUnauthorizedCerts !== undefined && typeof allowUnauthorizedCerts !== 'boolean') {
		throw new LockConfigurationError(
			`The lock database credential's "Ignore SSL Issues" must be true or false (got ${describe(allowUnauthorizedCerts)}).`,
		);
	}
	if (ssl !== undefined && !(POSTGRES_SSL_MODES as readonly unknown[]).includes(ssl)) {
		throw new LockConfigurationError(
			`The lock database credential's SSL setting ${describe(ssl)} is not one n8n's Postgres credential offers (${POSTGRES_SSL_MODES.join(', ')}).`,
		);
	}
	// n8n hides the SSL field while Ignore SSL Issues is on and connects with TLS, unverified.
	if (allowUnauthorizedCerts === true) return { rejectUnauthorized: false };
	return ssl !== undefined && ssl !== 'disable';
}

function maxConnectionsFrom(value: unknown): number {
	if (value === undefined || value === null) return DEFAULT_MAX_CONNECTIONS;
	const max = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
	if (typeof max !== 'number' || !Number.isInteger(max) || max < MIN_MAX_CONNECTIONS) {
		throw new LockConfigurationError(
			`The lock database credential's "Maximum Number of Connections" must be a whole number of at least ${MIN_MAX_CONNECTIONS} (got ${describe(value)}): the lock keeps one connection open to be woken when a lock is released and needs at least one more for its queries.`,
		);
	}
	return max;
}

function portFrom(value: unknown): number {
	if (value === undefined || value === null || value === '') return 5432;
	const port = Number(value);
	if (!Number.isInteger(port) || port < 1 || port > 65535) {
		throw new LockConfigurationError(`The lock database credential's port must be 1 to 65535 (got ${describe(value)}).`);
	}
	return port;
}

function urlConfiguresSsl(connectionString: string): boolean {
	let url: URL;
	try {
		url = new URL(connectionString);
	} catch {
		// A libpq key=value string or a socket path: pg parses it; it carries no URL parameters.
		return false;
	}
	return URL_SSL_PARAMETERS.some((name) => url.searchParams.has(name));
}

function describe(value: unknown): string {
	const text = typeof value === 'string' ? `"${value}"` : String(value);
	return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

/** One pool per lock database per process, shared by every node and execution. */
const pools = new Map<string, Pool>();

export function poolKey(config: PoolConfig): string {
	return createHash('sha256').update(JSON.stringify(config)).digest('hex');
}

export function sharedPool(config: PoolConfig): Pool {
	const key = poolKey(config);
	let pool = pools.get(key);
	if (!pool) {
		pool = new Pool(config);
		// An idle client's error (server restart) must not crash n8n; the next query reconnects.
		pool.on('error', () => undefined);
		pools.set(key, pool);
	}
	return pool;
}

/** For tests and shutdown: ends every shared pool. */
export async function closeSharedPools(): Promise<void> {
	const all = [...pools.values()];
	pools.clear();
	await Promise.all(all.map(async (pool) => await pool.end().catch(() => undefined)));
}
