import type Redis from 'ioredis';

import { LockLostError, LockReleasedError, LockStoreUnavailableError } from './errors';
import { redisError } from './redis/connection';
import { DEFAULT_REDIS_PREFIX, RedisKeyLayout } from './redis/keys';
import { replicasConfirming, validateReplicaWait, type ReplicaWait } from './redis/replicaWait';
import { ACQUIRE, DESCRIBE, EXTEND, HOLDER, RELEASE, RELEASE_EXECUTION, scriptName, WITHDRAW } from './redis/scripts';
import { hashLockKey, StoreLockEngine, type Attempt, type QueueArgs, type StoreLockOptions } from './StoreLockEngine';
import type { AcquireOptions, AuditEvent, ListedLock, LockHandle, LockHolder, LockLease, LockOwner, ReleaseOutcome, SwapState } from './types';
import { validateTtl } from './waiting';

export { DEFAULT_REDIS_PREFIX } from './redis/keys';
export { redisError, redisOptionsFrom, type RedisConnectionSettings } from './redis/connection';
export type { ReplicaWait } from './redis/replicaWait';

const REDIS_AUDIT_KEEP = 100_000;

/**
 * How long a release's tombstone outlives the lease it records (it starts with the lease's remaining
 * time). The holder counts its lease from when it sent its last renewal, before Redis set the end, so
 * its own deadline comes no later than the released lease's end: after that it counts the lock as
 * gone whatever the store says, and the record is no longer needed. The minute covers a renewal sent
 * just before that deadline and delivered late (ioredis gives up after 10 s; the bytes may still
 * arrive) and a step of Redis's clock below a minute. A tombstone that is gone early only turns a
 * release into a loss (the safe side), never the other way.
 */
export const TOMBSTONE_MARGIN_MS = 60_000;

export interface RedisLockOptions extends StoreLockOptions {
	/** WAIT for replicas after acquire and extend (off by default). See ReplicaWait. */
	replicaWait?: ReplicaWait;
}

/** See RedisLockEngine.storeAccess. */
export interface RedisStoreAccess {
	/** The engine's key prefix (DEFAULT_REDIS_PREFIX unless configured): every key starts with it. */
	prefix: string;
	/** Where the keys are, without user or password: host, port, database and key prefix (JSON). */
	location: string;
	/** `name` must be unique per script (ioredis defines it as a command on the client). */
	runScript(operation: string, name: string, script: string, keys: string[], args: string[]): Promise<unknown>;
}

/**
 * Lease lock in Redis: same semantics as the PostgreSQL engine (TTL by the store's clock, token-checked
 * release with a tombstone, fences, prompt wake-up through PUBLISH/SUBSCRIBE). One Redis (a primary,
 * optionally with replicas: see RedisLockOptions.replicaWait), not a cluster. Key layout: redis/keys.ts.
 */
export class RedisLockEngine extends StoreLockEngine {
	readonly backend = 'redis' as const;

	private readonly keys: RedisKeyLayout;
	private replicaWait?: ReplicaWait;
	private subscriber?: Redis;
	private listening?: Promise<void>;

	constructor(
		/** The connection commands go to (useClient replaces it after a password change). */
		private client: Redis,
		prefix = DEFAULT_REDIS_PREFIX,
		options: RedisLockOptions = {},
	) {
		super(options);
		this.keys = new RedisKeyLayout(prefix);
		this.replicaWait = validateReplicaWait(options.replicaWait);
	}

	/** Changes the replica wait from the next call on (the registry applies the deployment's setting). */
	setReplicaWait(wait: ReplicaWait | undefined): void {
		this.replicaWait = validateReplicaWait(wait);
	}

	protected async ensureReady(): Promise<void> {}

	protected async ensureListening(): Promise<void> {
		this.listening ??= (async () => {
			const subscriber = this.client.duplicate();
			this.subscriber = subscriber;
			subscriber.on('message', (channel: string, hash: string) => {
				if (channel === this.keys.releaseChannel) this.wakeFromMessage(hash);
			});
			// On reconnect ioredis re-subscribes; messages sent meanwhile are lost, so look again.
			subscriber.on('close', () => {
				if (this.subscriber === subscriber) this.listenerDropped();
			});
			subscriber.on('ready', () => {
				if (this.subscriber === subscriber) this.listenerUp = true;
			});
			subscriber.on('error', () => undefined);
			await subscriber.subscribe(this.keys.releaseChannel);
			this.listenerUp = true;
		})().catch((error) => {
			this.listening = undefined;
			this.subscriber?.disconnect();
			this.subscriber = undefined;
			throw redisError('subscribe', error);
		});
		await this.listening;
	}

	/**
	 * Moves the engine to another connection to the same Redis (the credential's password changed);
	 * the subscriber, logged in with the old password, is replaced too. The old client is closed by
	 * the registry once its pending replies arrived.
	 */
	useClient(client: Redis): void {
		if (client === this.client) return;
		this.client = client;
		const subscriber = this.subscriber;
		if (!subscriber) return;
		this.subscriber = undefined;
		this.listening = undefined;
		subscriber.disconnect();
		this.listenerDropped();
		if (!this.closing) void this.ensureListening().catch(() => undefined);
	}

	protected async attempt(key: string, keyHash: string, token: string, options: AcquireOptions, queue: QueueArgs): Promise<Attempt> {
		const { owner, ttlMs } = options;
		const keys = this.keys;
		const { reply, replicas } = await this.write(
			'acquire',
			ACQUIRE,
			[keys.lease(keyHash), keys.fence, keys.legacyFence(keyHash), keys.ownerIndex(owner.executionId, owner.instanceId), keys.queue(keyHash), keys.tickets(keyHash)],
			[
				token,
				owner.executionId,
				owner.workflowId ?? '',
				owner.tenantId ?? '',
				key,
				String(Math.ceil(ttlMs)),
				keyHash,
				queue.ticket ?? '',
				String(queue.ticketLeaseMs),
				queue.fair ? '1' : '0',
				owner.instanceId ?? '',
			],
			(answer) => Number(answer[0]) === 1,
		);
		// Free, but an older live ticket comes first: wait at most until that ticket's lease ends.
		if (Number(reply[0]) === 2) return { recheckInMs: Math.max(0, Number(reply[1])) };
		if (Number(reply[0]) === 1) {
			if (replicas) {
				// A grant the replicas may not have is no grant: give it back now (the caller's clean-up retries it if this fails).
				await this.release({ key, token }).catch(() => undefined);
				throw replicas;
			}
			return {
				lease: {
					token: String(reply[1]),
					fence: Number(reply[2]),
					acquiredAt: new Date(Number(reply[3])),
					expiresAt: new Date(Number(reply[4])),
				},
				recheckInMs: 0,
			};
		}
		const recheckInMs = Math.max(0, Number(reply[5]));
		return {
			holder: {
				owner: ownerOf(reply[1], reply[2], reply[3], reply[7]),
				acquiredAt: new Date(Number(reply[4])),
				// By Redis's clock, like every other time of a lease.
				expiresAt: new Date(Number(reply[6])),
			},
			recheckInMs,
		};
	}

	async extend(handle: LockHandle, ttlMs: number): Promise<LockLease> {
		validateTtl(ttlMs);
		const keyHash = hashLockKey(handle.key);
		const { reply, replicas } = await this.write(
			'extend',
			EXTEND,
			[this.keys.lease(keyHash), this.keys.tombstone(handle.token)],
			[handle.token, String(Math.ceil(ttlMs)), keyHash],
			(answer) => Number(answer[0]) === 1,
		);
		if (Number(reply[0]) === 2) throw new LockReleasedError(handle.key);
		if (Number(reply[0]) !== 1) throw new LockLostError(handle.key, 'Redis has no lease for it and no record of its release (it expired, was taken over, or Redis lost it: a restart without persistence, a failover)');
		// A renewal the replicas may not have: fail it, so the held lock tries again while its lease lasts.
		if (replicas) throw replicas;
		return {
			key: handle.key,
			token: handle.token,
			fence: Number(reply[1]),
			owner: ownerOf(reply[2], reply[3], reply[4], reply[7]),
			acquiredAt: new Date(Number(reply[5])),
			expiresAt: new Date(Number(reply[6])),
			waitedMs: 0,
		};
	}

	async release(handle: LockHandle): Promise<ReleaseOutcome> {
		const keyHash = hashLockKey(handle.key);
		const keys = this.keys;
		const reply = (await this.run(
			'release',
			RELEASE,
			[keys.lease(keyHash), keys.queue(keyHash), keys.tickets(keyHash), keys.tombstone(handle.token)],
			[handle.token, keys.releaseChannel, keyHash, String(TOMBSTONE_MARGIN_MS)],
		)) as Array<number | string>;
		if (Number(reply[0]) !== 1) return { key: handle.key, status: 'lost' };
		this.releasedHere(keyHash, String(reply[2] ?? '') || null);
		return { key: handle.key, status: 'released', heldMs: Number(reply[1]) };
	}

	async releaseExecution(executionId: string, instanceId?: string): Promise<ReleaseOutcome[]> {
		const keys = this.keys;
		const reply = (await this.run(
			'release',
			RELEASE_EXECUTION,
			[keys.ownerIndex(executionId, instanceId)],
			[
				executionId,
				keys.releaseChannel,
				instanceId ?? '',
				String(TOMBSTONE_MARGIN_MS),
				keys.insideScripts.lease,
				keys.insideScripts.queue,
				keys.insideScripts.tickets,
				keys.insideScripts.tombstone,
			],
		)) as Array<string | number>;
		const outcomes: ReleaseOutcome[] = [];
		for (let i = 0; i < reply.length; i += 4) {
			this.releasedHere(String(reply[i]), String(reply[i + 3] ?? '') || null);
			outcomes.push({ key: String(reply[i + 1]), status: 'released', heldMs: Number(reply[i + 2]) });
		}
		return outcomes.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
	}

	protected async withdraw(keyHash: string, ticket: string): Promise<void> {
		const keys = this.keys;
		await this.run('withdraw', WITHDRAW, [keys.lease(keyHash), keys.queue(keyHash), keys.tickets(keyHash)], [ticket, keys.releaseChannel, keyHash]);
	}

	async holder(key: string): Promise<LockHolder | undefined> {
		const reply = (await this.run('read holder', HOLDER, [this.keys.lease(hashLockKey(key))], [])) as Array<string | number>;
		if (Number(reply[0]) !== 1) return undefined;
		return { owner: ownerOf(reply[1], reply[2], reply[3], reply[6]), acquiredAt: new Date(Number(reply[4])), expiresAt: new Date(Number(reply[5])) };
	}

	async heldLocks(limit: number): Promise<ListedLock[]> {
		const found: ListedLock[] = [];
		let cursor = '0';
		try {
			do {
				const [next, leaseKeys] = await this.client.scan(cursor, 'MATCH', this.keys.leasePattern, 'COUNT', 500);
				cursor = next;
				for (const leaseKey of leaseKeys) {
					const reply = (await this.run('list locks', DESCRIBE, [leaseKey, this.keys.tickets(this.keys.hashOfLease(leaseKey))], [])) as Array<string | number>;
					if (Number(reply[0]) !== 1) continue;
					found.push({
						key: String(reply[8]),
						token: String(reply[1]),
						fence: Number(reply[2]),
						owner: ownerOf(reply[3], reply[4], reply[5], reply[7]),
						acquiredAt: new Date(Number(reply[6])),
						expiresAt: new Date(Number(reply[9])),
						waiting: Number(reply[10]),
					});
				}
			} while (cursor !== '0');
		} catch (error) {
			if (error instanceof LockStoreUnavailableError) throw error;
			throw new LockStoreUnavailableError('list locks', error);
		}
		return found.sort((a, b) => a.acquiredAt.getTime() - b.acquiredAt.getTime()).slice(0, limit);
	}

	async readSwapState(credentialKey: string): Promise<SwapState | undefined> {
		try {
			const [dataHmac, credentialUpdatedAt] = await this.client.hmget(this.keys.swapState(credentialKey), 'dataHmac', 'credentialUpdatedAt');
			return dataHmac && credentialUpdatedAt ? { dataHmac, credentialUpdatedAt } : undefined;
		} catch (error) {
			throw redisError('read swap state', error);
		}
	}

	async writeSwapState(credentialKey: string, state: SwapState | undefined): Promise<void> {
		try {
			if (state) await this.client.hset(this.keys.swapState(credentialKey), { ...state });
			else await this.client.del(this.keys.swapState(credentialKey));
		} catch (error) {
			throw redisError('write swap state', error);
		}
	}

	/** A capped list `<prefix>audit`, newest first: LRANGE tenant-swap:audit 0 49. */
	async audit(events: AuditEvent[]): Promise<void> {
		if (events.length === 0) return;
		try {
			const [seconds, micros] = await this.client.time();
			const at = new Date(Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)).toISOString();
			await this.client
				.multi()
				.lpush(this.keys.audit, ...events.map((event) => JSON.stringify({ at, ...event })))
				.ltrim(this.keys.audit, 0, REDIS_AUDIT_KEEP - 1)
				.exec();
		} catch (error) {
			throw redisError('write audit', error);
		}
	}

	/** Stops listening; the shared client is closed by its owner. */
	async close(): Promise<void> {
		this.closing = true;
		this.subscriber?.disconnect();
		this.subscriber = undefined;
		this.listening = undefined;
		this.listenerDropped();
	}

	/**
	 * For stores kept next to the locks (the tenant credential registry): the key prefix, and scripts
	 * run on this engine's current client (no connection of their own), failing like the lock's.
	 */
	storeAccess(): RedisStoreAccess {
		const { host, port, db } = this.client.options;
		const prefix = this.keys.prefix;
		return {
			prefix,
			location: JSON.stringify({ host: host || 'localhost', port: Number(port) || 6379, db: Number(db) || 0, prefix }),
			runScript: async (operation, name, script, keys, args) => await this.run(operation, script, keys, args, this.client, name),
		};
	}

	/**
	 * Runs a script that writes what the replicas must have when `mustReplicate(reply)`; with a replica
	 * wait configured it then WAITs on the same connection. `replicas`: the error to throw when fewer
	 * replicas than configured confirmed (the script did run).
	 */
	private async write(
		operation: string,
		script: string,
		keys: string[],
		args: string[],
		mustReplicate: (reply: Array<string | number>) => boolean,
	): Promise<{ reply: Array<string | number>; replicas?: Error }> {
		const client = this.client;
		const wait = this.replicaWait;
		const reply = (await this.run(operation, script, keys, args, client)) as Array<string | number>;
		if (!wait || !mustReplicate(reply)) return { reply };
		// The connection the reply came on: WAIT only counts writes of its own connection.
		const replyStream = client.stream;
		let confirmed: number;
		try {
			confirmed = await replicasConfirming(client, wait, replyStream);
		} catch (error) {
			return { reply, replicas: redisError(`${operation} (WAIT for replicas)`, error) };
		}
		if (confirmed >= wait.replicas) return { reply };
		return {
			reply,
			replicas: new LockStoreUnavailableError(
				operation,
				new Error(`only ${confirmed} of the ${wait.replicas} Redis replicas to wait for confirmed the write within ${wait.timeoutMs} ms (WAIT)`),
			),
		};
	}

	private async run(operation: string, script: string, keys: string[], args: string[], client = this.client, name = scriptName(script)): Promise<unknown> {
		try {
			// EVALSHA with the script's hash, sending the script only when Redis does not know it yet.
			const commands = client as unknown as Record<string, (...a: string[]) => Promise<unknown>>;
			if (typeof commands[name] !== 'function') client.defineCommand(name, { numberOfKeys: keys.length, lua: script });
			return await commands[name](...keys, ...args);
		} catch (error) {
			throw redisError(operation, error);
		}
	}
}

function ownerOf(executionId: unknown, workflowId: unknown, tenantId: unknown, instanceId: unknown): LockOwner {
	return {
		instanceId: instanceId ? String(instanceId) : undefined,
		executionId: String(executionId ?? ''),
		workflowId: workflowId ? String(workflowId) : undefined,
		tenantId: tenantId ? String(tenantId) : undefined,
	};
}
