import { createHash, randomUUID } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';

import { LockConfigurationError, LockLostError, LockStoreUnavailableError, LockTimeoutError } from './errors';
import type {
	AcquireOptions,
	LockEngine,
	LockHandle,
	LockHolder,
	LockLease,
	LockOwner,
	ReleaseOutcome,
} from './types';
import { KeyedFifo, sleepUnlessWoken, validateAcquireOptions } from './waiting';

export const NOTIFY_CHANNEL = 'tenant_swap_lock_released';
export const DEFAULT_LOCK_SCHEMA = 'public';
export const DEFAULT_LOCK_TABLE = 'tenant_swap_locks';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
/** Re-check a held lock at least this often even without a notification (lost NOTIFY, reconnects). */
const MAX_SILENT_WAIT_MS = 5_000;
/** While the LISTEN connection is down nobody can wake us, so check more often. */
const DEGRADED_WAIT_MS = 250;

export interface LockTableName {
	schema?: string;
	table?: string;
}

export function validateIdentifier(kind: string, value: string): string {
	if (!IDENTIFIER.test(value)) {
		throw new LockConfigurationError(
			`Invalid lock ${kind} name "${value.slice(0, 80)}": use letters, digits and underscores, starting with a letter or underscore, at most 63 characters`,
		);
	}
	return value;
}

/** Keys can be long and contain anything; the table is indexed by their hash. */
export function hashLockKey(key: string): string {
	return createHash('sha256').update(key, 'utf8').digest('hex');
}

interface LockRow {
	token: string | null;
	fence: string;
	execution_id: string | null;
	workflow_id: string | null;
	tenant_id: string | null;
	acquired_at: Date | null;
	expires_at: Date | null;
	remaining_ms: number | null;
	acquired: boolean;
	reentered: boolean;
}

/**
 * Lease lock on a PostgreSQL table. One row per key (kept after release so the fence only grows);
 * expiry is judged by the database clock; waiters are woken by LISTEN/NOTIFY.
 */
export class PostgresLockEngine implements LockEngine {
	readonly backend = 'postgres' as const;

	private readonly qualifiedTable: string;
	private readonly indexName: string;
	private ready?: Promise<void>;
	private listener?: Promise<PoolClient>;
	private readonly wakers = new Map<string, Set<() => void>>();
	private readonly fifo = new KeyedFifo();
	/** keyHash -> execution holding it from this process: lets a re-entrant acquire skip the local queue. */
	private readonly localHolders = new Map<string, string>();
	private closed = false;

	constructor(
		private readonly pool: Pool,
		name: LockTableName = {},
	) {
		const schema = validateIdentifier('schema', name.schema || DEFAULT_LOCK_SCHEMA);
		const table = validateIdentifier('table', name.table || DEFAULT_LOCK_TABLE);
		this.qualifiedTable = `"${schema}"."${table}"`;
		this.indexName = `"${table.slice(0, 50)}_exec_idx"`;
		this.schema = schema;
	}

	private readonly schema: string;

	/** Creates the lock table on first use; safe when many processes start at once. */
	async ensureReady(): Promise<void> {
		this.ready ??= this.createTable().catch((error) => {
			this.ready = undefined;
			throw error;
		});
		await this.ready;
	}

	private async createTable(): Promise<void> {
		const exists = await this.query<{ found: boolean }>(
			'ensure lock table',
			'SELECT to_regclass($1) IS NOT NULL AS found',
			[this.qualifiedTable],
		);
		if (exists[0]?.found) return;
		const client = await this.connect('ensure lock table');
		try {
			await client.query('BEGIN');
			// Serialises concurrent creators: CREATE ... IF NOT EXISTS alone races on the catalog.
			await client.query("SELECT pg_advisory_xact_lock(hashtext('tenant_swap_lock_ddl'))");
			const schemaFound = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [
				this.schema,
			]);
			if (schemaFound.rowCount === 0) await client.query(`CREATE SCHEMA "${this.schema}"`);
			await client.query(`CREATE TABLE IF NOT EXISTS ${this.qualifiedTable} (
				key_hash text PRIMARY KEY,
				lock_key text NOT NULL,
				token uuid,
				fence bigint NOT NULL DEFAULT 0,
				execution_id text,
				workflow_id text,
				tenant_id text,
				acquired_at timestamptz,
				expires_at timestamptz,
				updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
			)`);
			await client.query(
				`CREATE INDEX IF NOT EXISTS ${this.indexName} ON ${this.qualifiedTable} (execution_id) WHERE token IS NOT NULL`,
			);
			await client.query('COMMIT');
		} catch (error) {
			await client.query('ROLLBACK').catch(() => undefined);
			throw new LockStoreUnavailableError('lock table creation', error);
		} finally {
			client.release();
		}
	}

	async acquire(key: string, options: AcquireOptions): Promise<LockLease> {
		validateAcquireOptions(key, options);
		await this.ensureReady();
		const keyHash = hashLockKey(key);
		const started = Date.now();
		const deadline = started + options.waitTimeoutMs;
		const token = randomUUID();

		// Re-entry must not queue behind waiters for the lock this execution already holds.
		if (this.localHolders.get(keyHash) === options.owner.executionId || this.fifo.isIdle(keyHash)) {
			const row = await this.tryAcquire(key, keyHash, token, options);
			if (row.acquired) return this.toLease(key, keyHash, row, options.owner, started);
			if (options.waitTimeoutMs === 0) throw new LockTimeoutError(key, 0, this.toHolder(row));
		}

		const leave = await this.fifo.enter(keyHash, deadline);
		if (!leave) {
			throw new LockTimeoutError(key, Date.now() - started, await this.holder(key).catch(() => undefined));
		}
		try {
			await this.ensureListening();
			for (;;) {
				// Register before trying, so a release between the attempt and the wait still wakes us.
				const sleep = this.subscribe(keyHash);
				try {
					const row = await this.tryAcquire(key, keyHash, token, options);
					if (row.acquired) return this.toLease(key, keyHash, row, options.owner, started);
					const left = deadline - Date.now();
					if (left <= 0) throw new LockTimeoutError(key, Date.now() - started, this.toHolder(row));
					const leaseLeft = row.remaining_ms === null ? 0 : Math.ceil(row.remaining_ms) + 1;
					const silentCap = this.listenerUp ? MAX_SILENT_WAIT_MS : DEGRADED_WAIT_MS;
					sleep.arm(Math.min(left, leaseLeft, silentCap));
					await sleep.promise;
				} finally {
					sleep.cancel();
				}
			}
		} finally {
			leave();
		}
	}

	async extend(handle: LockHandle, ttlMs: number): Promise<LockLease> {
		if (!Number.isFinite(ttlMs) || ttlMs <= 0) {
			throw new LockConfigurationError(`The lock TTL must be greater than 0 (got ${ttlMs} ms)`);
		}
		const rows = await this.query<LockRow>(
			'extend',
			`UPDATE ${this.qualifiedTable}
			    SET expires_at = clock_timestamp() + $3 * interval '1 millisecond', updated_at = clock_timestamp()
			  WHERE key_hash = $1 AND token = $2 AND expires_at > clock_timestamp()
			RETURNING token, fence, execution_id, workflow_id, tenant_id, acquired_at, expires_at,
			          NULL::float8 AS remaining_ms, true AS acquired, true AS reentered`,
			[hashLockKey(handle.key), handle.token, ttlMs],
		);
		if (!rows[0]) throw new LockLostError(handle.key);
		return this.toLease(handle.key, hashLockKey(handle.key), rows[0], ownerOf(rows[0]), Date.now());
	}

	async release(handle: LockHandle): Promise<ReleaseOutcome> {
		const keyHash = hashLockKey(handle.key);
		const rows = await this.query<{ held_ms: number }>(
			'release',
			`WITH freed AS (
			   UPDATE ${this.qualifiedTable} SET token = NULL, updated_at = clock_timestamp()
			    WHERE key_hash = $1 AND token = $2
			RETURNING key_hash, acquired_at
			 )
			 SELECT pg_notify('${NOTIFY_CHANNEL}', key_hash),
			        EXTRACT(EPOCH FROM clock_timestamp() - acquired_at) * 1000 AS held_ms
			   FROM freed`,
			[keyHash, handle.token],
		);
		if (!rows[0]) return { key: handle.key, status: 'lost' };
		this.localHolders.delete(keyHash);
		return { key: handle.key, status: 'released', heldMs: Math.round(Number(rows[0].held_ms)) };
	}

	async releaseExecution(executionId: string): Promise<ReleaseOutcome[]> {
		const rows = await this.query<{ key_hash: string; lock_key: string; held_ms: number }>(
			'release',
			`WITH freed AS (
			   UPDATE ${this.qualifiedTable} SET token = NULL, updated_at = clock_timestamp()
			    WHERE execution_id = $1 AND token IS NOT NULL
			RETURNING key_hash, lock_key, acquired_at
			 )
			 SELECT key_hash, lock_key, pg_notify('${NOTIFY_CHANNEL}', key_hash),
			        EXTRACT(EPOCH FROM clock_timestamp() - acquired_at) * 1000 AS held_ms
			   FROM freed ORDER BY lock_key`,
			[executionId],
		);
		return rows.map((row) => {
			this.localHolders.delete(row.key_hash);
			return { key: row.lock_key, status: 'released' as const, heldMs: Math.round(Number(row.held_ms)) };
		});
	}

	async holder(key: string): Promise<LockHolder | undefined> {
		await this.ensureReady();
		const rows = await this.query<LockRow>(
			'read holder',
			`SELECT token, fence, execution_id, workflow_id, tenant_id, acquired_at, expires_at,
			        NULL::float8 AS remaining_ms, false AS acquired, false AS reentered
			   FROM ${this.qualifiedTable}
			  WHERE key_hash = $1 AND token IS NOT NULL AND expires_at > clock_timestamp()`,
			[hashLockKey(key)],
		);
		return rows[0] ? this.toHolder(rows[0]) : undefined;
	}

	/** Stops listening; the shared pool itself is closed by its owner. */
	async close(): Promise<void> {
		this.closed = true;
		const listener = this.listener;
		this.listener = undefined;
		this.listenerUp = false;
		if (listener) {
			const client = await listener.catch(() => undefined);
			client?.release(true);
		}
		this.wakeAll();
	}

	// One statement: take a free or expired row, renew our own (re-entry), or report the holder.
	private async tryAcquire(
		key: string,
		keyHash: string,
		token: string,
		options: AcquireOptions,
	): Promise<LockRow> {
		const { owner, ttlMs } = options;
		const rows = await this.query<LockRow>(
			'acquire',
			`WITH attempt AS (
			   INSERT INTO ${this.qualifiedTable} AS l
			          (key_hash, lock_key, token, fence, execution_id, workflow_id, tenant_id, acquired_at, expires_at, updated_at)
			   VALUES ($1, $2, $3, 1, $4, $5, $6, clock_timestamp(), clock_timestamp() + $7 * interval '1 millisecond', clock_timestamp())
			   ON CONFLICT (key_hash) DO UPDATE SET
			          token       = CASE WHEN l.token IS NOT NULL AND l.expires_at > clock_timestamp() THEN l.token ELSE EXCLUDED.token END,
			          fence       = CASE WHEN l.token IS NOT NULL AND l.expires_at > clock_timestamp() THEN l.fence ELSE l.fence + 1 END,
			          acquired_at = CASE WHEN l.token IS NOT NULL AND l.expires_at > clock_timestamp() THEN l.acquired_at ELSE EXCLUDED.acquired_at END,
			          execution_id = EXCLUDED.execution_id,
			          workflow_id  = EXCLUDED.workflow_id,
			          tenant_id    = EXCLUDED.tenant_id,
			          expires_at   = EXCLUDED.expires_at,
			          updated_at   = clock_timestamp()
			    WHERE l.token IS NULL OR l.expires_at <= clock_timestamp() OR l.execution_id = EXCLUDED.execution_id
			RETURNING token, fence, execution_id, workflow_id, tenant_id, acquired_at, expires_at
			 )
			 SELECT token, fence, execution_id, workflow_id, tenant_id, acquired_at, expires_at,
			        NULL::float8 AS remaining_ms, true AS acquired, token <> $3 AS reentered
			   FROM attempt
			 UNION ALL
			 SELECT token, fence, execution_id, workflow_id, tenant_id, acquired_at, expires_at,
			        GREATEST(0, EXTRACT(EPOCH FROM expires_at - clock_timestamp()) * 1000)::float8,
			        false, false
			   FROM ${this.qualifiedTable}
			  WHERE key_hash = $1 AND NOT EXISTS (SELECT 1 FROM attempt)`,
			[keyHash, key, token, owner.executionId, owner.workflowId ?? null, owner.tenantId ?? null, ttlMs],
		);
		// No row at all: the row was inserted and deleted in between; treat as free and retry soon.
		return rows[0] ?? { ...EMPTY_ROW };
	}

	private toLease(key: string, keyHash: string, row: LockRow, owner: LockOwner, started: number): LockLease {
		this.localHolders.set(keyHash, owner.executionId);
		return {
			key,
			token: row.token as string,
			fence: Number(row.fence),
			owner,
			acquiredAt: row.acquired_at as Date,
			expiresAt: row.expires_at as Date,
			waitedMs: Date.now() - started,
			reentered: row.reentered,
		};
	}

	private toHolder(row: LockRow): LockHolder | undefined {
		if (!row.token || !row.execution_id || !row.acquired_at || !row.expires_at) return undefined;
		return { owner: ownerOf(row), acquiredAt: row.acquired_at, expiresAt: row.expires_at };
	}

	private listenerUp = false;

	private async ensureListening(): Promise<void> {
		if (this.closed) return;
		this.listener ??= this.startListener();
		await this.listener.catch(() => undefined);
	}

	private async startListener(): Promise<PoolClient> {
		let client: PoolClient;
		try {
			client = await this.pool.connect();
		} catch (error) {
			this.listener = undefined;
			throw error;
		}
		const dropped = () => {
			if (!this.listenerUp && this.listener === undefined) return;
			this.listenerUp = false;
			this.listener = undefined;
			client.release(true);
			// Waiters may have missed a release: let them look again.
			this.wakeAll();
		};
		client.on('notification', (message) => {
			if (message.channel === NOTIFY_CHANNEL && message.payload) this.wake(message.payload);
		});
		client.on('error', dropped);
		client.on('end', dropped);
		try {
			await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
		} catch (error) {
			this.listener = undefined;
			client.release(true);
			throw error;
		}
		this.listenerUp = true;
		return client;
	}

	private subscribe(keyHash: string) {
		let wakeFn: () => void = () => undefined;
		let sleep: ReturnType<typeof sleepUnlessWoken> | undefined;
		let woken = false;
		const wake = () => {
			woken = true;
			sleep?.wake();
		};
		let set = this.wakers.get(keyHash);
		if (!set) {
			set = new Set();
			this.wakers.set(keyHash, set);
		}
		set.add(wake);
		wakeFn = wake;
		const handle = {
			promise: Promise.resolve(),
			arm: (ms: number) => {
				sleep = sleepUnlessWoken(woken ? 0 : ms);
				handle.promise = sleep.promise;
			},
			cancel: () => {
				sleep?.wake();
				const current = this.wakers.get(keyHash);
				current?.delete(wakeFn);
				if (current?.size === 0) this.wakers.delete(keyHash);
			},
		};
		return handle;
	}

	private wake(keyHash: string): void {
		for (const wake of this.wakers.get(keyHash) ?? []) wake();
	}

	private wakeAll(): void {
		for (const set of this.wakers.values()) for (const wake of set) wake();
	}

	private async connect(operation: string): Promise<PoolClient> {
		try {
			return await this.pool.connect();
		} catch (error) {
			throw new LockStoreUnavailableError(operation, error);
		}
	}

	private async query<T>(operation: string, text: string, values: unknown[]): Promise<T[]> {
		try {
			const result = await this.pool.query(text, values);
			return result.rows as T[];
		} catch (error) {
			throw new LockStoreUnavailableError(operation, error);
		}
	}
}

const EMPTY_ROW: LockRow = {
	token: null,
	fence: '0',
	execution_id: null,
	workflow_id: null,
	tenant_id: null,
	acquired_at: null,
	expires_at: null,
	remaining_ms: 0,
	acquired: false,
	reentered: false,
};

function ownerOf(row: LockRow): LockOwner {
	return {
		executionId: row.execution_id ?? '',
		workflowId: row.workflow_id ?? undefined,
		tenantId: row.tenant_id ?? undefined,
	};
}
