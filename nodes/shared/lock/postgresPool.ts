import { createHash } from 'node:crypto';
import { DatabaseError, Pool, type PoolClient, type PoolConfig } from 'pg';

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

/**
 * The most connections one lock engine opens to its database, whatever the credential says: n8n's
 * `postgres` credential defaults Maximum Number of Connections to 100, and a lock pool of 100 on
 * n8n's own database starved it under a burst. Waiters need O(1) connections (they sleep between
 * attempts), so 10 is plenty.
 */
export const LOCK_CONNECTION_LIMIT = 10;
/** The LISTEN connection (a pg.Client outside the pool, one per pool: see postgres/listener.ts). */
export const LISTENER_CONNECTIONS = 1;
/** Listener + at least one connection for attempts + one that renewals keep for themselves. */
const MIN_MAX_CONNECTIONS = 3;
/**
 * Per-statement time limit, enforced by the engine with a cancel request (what libpq's and JDBC's
 * query timeouts do). Not the `statement_timeout` start-up parameter: PgBouncer refuses to connect
 * with it ("unsupported startup parameter").
 */
export const STATEMENT_TIMEOUT_MS = 15_000;
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
 * - Maximum Number of Connections: an upper bound, not a target. The lock opens at most
 *   min(that, 10) connections: the pool (`max`) plus one LISTEN connection outside it.
 *
 * Anything the lock cannot honour is refused with a LockConfigurationError instead of being
 * ignored: an SSH tunnel, an SSL value n8n never offered, a non-boolean Ignore SSL Issues, fewer
 * than 3 connections, an impossible port.
 */
export function poolConfigFrom(settings: PostgresConnectionSettings): PoolConfig {
	if (settings.sshTunnel) {
		throw new LockConfigurationError(
			'The lock database credential uses an SSH tunnel, which the lock does not support yet. Use a credential that connects directly.',
		);
	}
	const common: PoolConfig = {
		max: Math.min(maxConnectionsFrom(settings.maxConnections), LOCK_CONNECTION_LIMIT) - LISTENER_CONNECTIONS,
		connectionTimeoutMillis: 10_000,
		idleTimeoutMillis: 30_000,
		// Client-side backstop after the engine's cancel at STATEMENT_TIMEOUT_MS (a cancel cannot
		// help when the server no longer answers at all); the connection is then thrown away.
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
	if (value === undefined || value === null) return LOCK_CONNECTION_LIMIT;
	const max = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
	if (typeof max !== 'number' || !Number.isInteger(max) || max < MIN_MAX_CONNECTIONS) {
		throw new LockConfigurationError(
			`The lock database credential's "Maximum Number of Connections" must be a whole number of at least ${MIN_MAX_CONNECTIONS} (got ${describe(value)}): the lock keeps one connection open to be woken when a lock is released, and needs one for waiters' attempts and one that renewals of held locks keep for themselves.`,
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

/**
 * Who a pool logs in as and where, without the secret: a credential whose password changed is the
 * same lock database (the same engine), reached by a new pool.
 */
export function connectionIdentity(config: PoolConfig): { identity: string; fingerprint: string } {
	const withoutSecret: PoolConfig = { ...config, password: undefined };
	if (config.connectionString !== undefined) withoutSecret.connectionString = withoutPassword(config.connectionString);
	return { identity: hash(withoutSecret), fingerprint: hash(config) };
}

/**
 * Which database a pool reaches, without user or password: host, port and database name (from the
 * connection string when there is one). Identifies a lock store across processes configured alike.
 */
export function databaseLocation(config: PoolConfig): { host: string; port: number; database: string } {
	let { host, port, database } = config;
	if (config.connectionString !== undefined) {
		try {
			const url = new URL(config.connectionString);
			host = url.hostname || host;
			port = url.port ? Number(url.port) : port;
			database = decodeURIComponent(url.pathname.replace(/^\//, '')) || database;
		} catch {
			// A libpq key=value string: its text without the password identifies it.
			host = withoutPassword(config.connectionString);
		}
	}
	return { host: host || 'localhost', port: Number(port) || 5432, database: database || '' };
}

function withoutPassword(connectionString: string): string {
	try {
		const url = new URL(connectionString);
		url.password = '';
		return url.toString();
	} catch {
		// A libpq key=value string.
		return connectionString.replace(/password\s*=\s*('(?:[^'\\]|\\.)*'|\S*)/gi, '');
	}
}

function hash(value: unknown): string {
	return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

/** One pool per lock database (connection identity) per process, shared by every node and execution. */
const pools = new Map<string, { pool: Pool; fingerprint: string }>();

/**
 * The process's pool for `config`'s connection identity. When the identity comes with another
 * password (a rotated credential), a new pool replaces the old one, which is retired: closed once
 * the statements engines started on it have finished (retirePool). The registry moves the engines
 * over first. Held locks are rows in the database, not connections: nothing is lost.
 */
export function sharedPool(config: PoolConfig): Pool {
	const { identity, fingerprint } = connectionIdentity(config);
	const current = pools.get(identity);
	if (current?.fingerprint === fingerprint) return current.pool;
	const pool = new Pool(config);
	// An idle client's error (server restart) must not crash n8n; the next query reconnects.
	pool.on('error', () => undefined);
	pools.set(identity, { pool, fingerprint });
	if (current) retirePool(current.pool);
	return pool;
}

/**
 * Per pool: statements running or waiting for a connection (`count`, so a retired pool ends only
 * after them), and how many of them hold a connection (`checkedOut`, to tell congestion from an
 * unreachable store).
 */
const inFlight = new WeakMap<Pool, { count: number; checkedOut: number; retired: boolean }>();

function usage(pool: Pool): { count: number; checkedOut: number; retired: boolean } {
	let entry = inFlight.get(pool);
	if (!entry) {
		entry = { count: 0, checkedOut: 0, retired: false };
		inFlight.set(pool, entry);
	}
	return entry;
}

/** Statements of this process on `pool`: in flight (running or waiting for a connection), and holding a connection. */
export function poolLoad(pool: Pool): { inFlight: number; checkedOut: number } {
	const entry = usage(pool);
	return { inFlight: entry.count, checkedOut: entry.checkedOut };
}

/**
 * Runs `work` on a connection of `pool`, counted as in flight (see retirePool). The connection is
 * thrown away instead of reused when `work` failed other than with an answer from the server
 * (a broken or timed-out connection), or when `work` asks for it (`discard`).
 */
export async function withPoolClient<T>(pool: Pool, work: (client: PoolClient, discard: () => void) => Promise<T>): Promise<T> {
	const entry = usage(pool);
	entry.count += 1;
	try {
		const client = await pool.connect();
		entry.checkedOut += 1;
		let discarded = false;
		let failure: Error | undefined;
		// A connection lost while checked out is reported on the client too (and to the statement):
		// without a listener that event would crash n8n. pg-pool's own query() does the same.
		const onError = (error: Error) => {
			failure = error;
		};
		client.on('error', onError);
		try {
			return await work(client, () => {
				discarded = true;
			});
		} catch (error) {
			if (!(error instanceof DatabaseError)) failure = error instanceof Error ? error : new Error(String(error));
			throw error;
		} finally {
			client.off('error', onError);
			entry.checkedOut -= 1;
			client.release(failure ?? (discarded ? new Error('discarded') : undefined));
		}
	} finally {
		entry.count -= 1;
		if (entry.retired && entry.count === 0) endRetired(pool);
	}
}

/** Closes `pool` once no statement started through withPoolClient runs on it any more. */
export function retirePool(pool: Pool): void {
	const entry = usage(pool);
	if (entry.retired) return;
	entry.retired = true;
	if (entry.count === 0) endRetired(pool);
}

function endRetired(pool: Pool): void {
	// pg-pool's end() waits for checked-out clients; nothing of ours waits in its queue any more.
	void pool.end().catch(() => undefined);
}

/** For tests and shutdown: ends every shared pool. */
export async function closeSharedPools(): Promise<void> {
	const all = [...pools.values()];
	pools.clear();
	await Promise.all(all.map(async ({ pool }) => await pool.end().catch(() => undefined)));
}

/** How many connections of the pool attempts may use at once; the rest is kept for renewals. */
export function attemptConnections(poolMax: number): number {
	const reserved = poolMax >= 3 ? 2 : poolMax - 1;
	return Math.max(1, poolMax - reserved);
}
