import type Redis from 'ioredis';

import { LockConfigurationError } from '../errors';

/**
 * After an acquire or an extend, wait (Redis `WAIT`) until `replicas` replicas have the write, for at
 * most `timeoutMs`. Fewer confirmations make the call fail: a failover to a replica that missed the
 * grant would otherwise hand the key out twice.
 */
export interface ReplicaWait {
	replicas: number;
	timeoutMs: number;
}

/** WAIT blocks the engine's one connection: it must end well before the command timeout (10 s). */
export const MAX_REPLICA_WAIT_MS = 5_000;
export const DEFAULT_REPLICA_WAIT_MS = 1_000;

export const WAIT_REPLICAS_VARIABLE = 'TENANT_SWAP_REDIS_WAIT_REPLICAS';
export const WAIT_TIMEOUT_VARIABLE = 'TENANT_SWAP_REDIS_WAIT_TIMEOUT_MS';

/** undefined = no waiting (0 replicas). */
export function validateReplicaWait(wait: ReplicaWait | undefined): ReplicaWait | undefined {
	if (!wait || wait.replicas === 0) return undefined;
	if (!Number.isInteger(wait.replicas) || wait.replicas < 0 || wait.replicas > 100) {
		throw new LockConfigurationError(`The number of Redis replicas to wait for must be a whole number from 0 to 100 (got ${wait.replicas})`);
	}
	// WAIT 0 would block for ever.
	if (!Number.isInteger(wait.timeoutMs) || wait.timeoutMs < 1 || wait.timeoutMs > MAX_REPLICA_WAIT_MS) {
		throw new LockConfigurationError(`The Redis replica wait must be from 1 to ${MAX_REPLICA_WAIT_MS} ms (got ${wait.timeoutMs})`);
	}
	return { replicas: wait.replicas, timeoutMs: wait.timeoutMs };
}

/** The deployment's setting (every n8n process of one deployment should have the same). */
export function replicaWaitFromEnvironment(env: NodeJS.ProcessEnv): ReplicaWait | undefined {
	const replicas = env[WAIT_REPLICAS_VARIABLE]?.trim();
	if (!replicas) return undefined;
	const timeout = env[WAIT_TIMEOUT_VARIABLE]?.trim();
	try {
		return validateReplicaWait({ replicas: Number(replicas), timeoutMs: timeout ? Number(timeout) : DEFAULT_REPLICA_WAIT_MS });
	} catch (error) {
		throw new LockConfigurationError(`${WAIT_REPLICAS_VARIABLE} / ${WAIT_TIMEOUT_VARIABLE}: ${(error as Error).message}`);
	}
}

/**
 * How many replicas have every write this connection sent so far (`WAIT`). `replyStream`: the
 * connection the write was answered on; if the client reconnected since, WAIT would ask about a
 * fresh connection without writes (and answer at once), so the write counts as unconfirmed (0).
 */
export async function replicasConfirming(client: Redis, wait: ReplicaWait, replyStream: unknown): Promise<number> {
	const confirmed = await client.wait(wait.replicas, wait.timeoutMs);
	return client.stream === replyStream ? Number(confirmed) : 0;
}
