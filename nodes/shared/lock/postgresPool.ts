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
	ssl?: 'disable' | 'allow' | 'require' | 'verify' | 'verify-full' | string;
	allowUnauthorizedCerts?: boolean;
	maxConnections?: number;
	sshTunnel?: boolean;
	/** Tests and tools may pass a URL instead of the fields above. */
	connectionString?: string;
}

const DEFAULT_MAX_CONNECTIONS = 10;

/** Turns the credential into a pg pool config the way n8n's Postgres node reads it. */
export function poolConfigFrom(settings: PostgresConnectionSettings): PoolConfig {
	if (settings.sshTunnel) {
		throw new LockConfigurationError(
			'The lock database credential uses an SSH tunnel, which the lock does not support yet. Use a credential that connects directly.',
		);
	}
	// Less than 2 would leave nothing for queries once the LISTEN connection is taken.
	const max = Math.max(2, Number(settings.maxConnections) || DEFAULT_MAX_CONNECTIONS);
	const common: PoolConfig = {
		max,
		connectionTimeoutMillis: 10_000,
		idleTimeoutMillis: 30_000,
		statement_timeout: 15_000,
		query_timeout: 20_000,
		application_name: 'n8n-tenant-credential-swap',
		keepAlive: true,
	};
	if (settings.connectionString) return { ...common, connectionString: settings.connectionString };
	let ssl: PoolConfig['ssl'] = false;
	if (settings.allowUnauthorizedCerts === true) ssl = { rejectUnauthorized: false };
	else if (settings.ssl && settings.ssl !== 'disable') ssl = true;
	return {
		...common,
		host: settings.host,
		port: Number(settings.port) || 5432,
		database: settings.database,
		user: settings.user,
		password: settings.password,
		ssl,
	};
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
