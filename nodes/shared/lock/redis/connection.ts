import type { RedisOptions } from 'ioredis';

import { LockConfigurationError, LockStoreUnavailableError } from '../errors';

/** The fields of n8n's built-in `redis` credential that matter for the lock. */
export interface RedisConnectionSettings {
	host: string;
	port?: number;
	user?: string;
	password?: string;
	database?: number;
	ssl?: boolean;
	disableTlsVerification?: boolean;
}

/** The way n8n's own Redis node reads its credential, for ioredis. */
export function redisOptionsFrom(settings: RedisConnectionSettings): RedisOptions {
	return {
		host: settings.host || 'localhost',
		port: Number(settings.port) || 6379,
		username: settings.user || undefined,
		password: settings.password || undefined,
		db: Number(settings.database) || 0,
		tls: settings.ssl === true ? { rejectUnauthorized: settings.disableTlsVerification !== true } : undefined,
		connectTimeout: 10_000,
		maxRetriesPerRequest: 2,
		enableOfflineQueue: true,
		lazyConnect: false,
	};
}

/** What a Redis Cluster (or a node of one) answers to the lock's multi-key scripts. */
const CLUSTER_REPLY = /^(CROSSSLOT|MOVED|ASK|CLUSTERDOWN|TRYAGAIN)\b/;

/**
 * A store error for `operation`, except that a Redis Cluster's answers become a configuration
 * error: the lock's scripts touch several keys of one lock and need a single Redis.
 */
export function redisError(operation: string, error: unknown): Error {
	const message = error instanceof Error ? error.message : String(error);
	if (CLUSTER_REPLY.test(message)) {
		return new LockConfigurationError(
			`The Redis lock backend needs a single Redis server (a primary, optionally with replicas), not a Redis Cluster: Redis answered "${message.split(' ')[0]}" during ${operation}. Point the Redis credential at a standalone Redis, or use the PostgreSQL lock backend.`,
		);
	}
	return new LockStoreUnavailableError(operation, error);
}
