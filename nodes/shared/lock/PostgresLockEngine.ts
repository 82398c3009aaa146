import { randomUUID } from 'node:crypto';
import { LoggerProxy } from 'n8n-workflow';
import { Client, Connection, type Pool, type PoolClient } from 'pg';

import { LockConfigurationError, LockLostError, LockStoreUnavailableError } from './errors';
import { attemptConnections, databaseLocation, retirePool, STATEMENT_TIMEOUT_MS, withPoolClient } from './postgresPool';
import { hashLockKey, StoreLockEngine, type Attempt, type QueueArgs, type StoreLockOptions } from './StoreLockEngine';
import type { AcquireOptions, AuditEvent, ListedLock, LockHandle, LockHolder, LockLease, LockOwner, ReleaseOutcome, SwapState } from './types';
import { sleepUnlessWoken, validateTtl } from './waiting';

export { hashLockKey } from './StoreLockEngine';

export const NOTIFY_CHANNEL = 'tenant_swap_lock_released';
export const DEFAULT_LOCK_SCHEMA = 'public';
export const DEFAULT_LOCK_TABLE = 'tenant_swap_locks';
export const AUDIT_TABLE = 'tenant_swap_audit';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * Statements of lock holders. They never queue behind waiters' attempts: attempts may use only
 * part of the pool (AttemptGate), so a renewal always finds a connection.
 */
const PRIORITY_OPERATIONS = new Set(['extend', 'release', 'read swap state', 'write swap state', 'notify probe']);
/** NOTIFY payloads the listener sends itself to learn whether notifications arrive at all. */
const PROBE_PREFIX = 'tsl-probe:';
/** Probe again this often: a pooler put in front later, or a broken session, is noticed. */
const PROBE_INTERVAL_MS = 60_000;
/** Probe again after this when the last probe could not be sent. */
const PROBE_RETRY_MS = 1_000;
/** The longest pause between two tries to bring a lost LISTEN connection back. */
const LISTENER_RETRY_MAX_MS = 30_000;
/** Rows of the audit table older than this are deleted (Redis caps its audit list instead). */
export const AUDIT_RETENTION_DAYS = 30;
/** Audit retention runs at most this often per engine, in the background after an audit write. */
const AUDIT_PRUNE_EVERY_MS = 60 * 60 * 1000;
/** Rows deleted per statement (and statements per run): a large backlog is removed in steps. */
const AUDIT_PRUNE_BATCH = 10_000;
const AUDIT_PRUNE_MAX_BATCHES = 100;

/** Connection behaviour; defaults are production values, tests shorten them. */
export interface PostgresConnectionOptions {
	/** A statement running longer is cancelled (and its connection discarded). */
	statementTimeoutMs?: number;
	/** How long the listener waits for its own probe NOTIFY before calling notifications broken. */
	probeTimeoutMs?: number;
	auditRetentionDays?: number;
}

/** Where the engine's one-time operator warnings go: n8n's log (n8n sets LoggerProxy up). */
export interface EngineLogger {
	warn(message: string, meta?: Record<string, unknown>): void;
}

/** See PostgresLockEngine.storeAccess. */
export interface PostgresStoreAccess {
	schema: string;
	/** Prefix for a derived table's name (`<derivedName>_<suffix>`), unique per lock table. */
	derivedName: string;
	/** `schema.table` of the lock table, for messages and table comments. */
	lockTable: string;
	/** Where the lock table is, without user or password: host, port, database, schema.table (JSON). */
	location: string;
	query<T>(operation: string, text: string, values: unknown[], prepare?: boolean): Promise<T[]>;
	/** Runs `work` on one connection; `work` sends BEGIN and COMMIT itself (rolled back when it throws). */
	transaction(operation: string, work: (client: PoolClient) => Promise<void>): Promise<void>;
}

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

interface LockRow {
	token: string | null;
	fence: string;
	instance_id: string | null;
	execution_id: string | null;
	workflow_id: string | null;
	tenant_id: string | null;
	acquired_at: Date | null;
	expires_at: Date | null;
	remaining_ms: number | null;
	acquired: boolean;
}

/** Released rows: which waiter's turn it is now (the oldest live ticket), for the local wake-up. */
interface FreedRow {
	key_hash: string;
	held_ms: number;
	next_ticket: string | null;
}

/**
 * Lease lock on a PostgreSQL table. One row per key (kept after release so the fence only grows);
 * expiry is judged by the database clock; waiters are woken by LISTEN/NOTIFY. Waiters queue in an
 * UNLOGGED ticket table next to it (see StoreLockEngine for the waiting registry).
 */
export class PostgresLockEngine extends StoreLockEngine {
	readonly backend = 'postgres' as const;

	private readonly schema: string;
	private readonly qualifiedTable: string;
	private readonly stateTable: string;
	private readonly waitTable: string;
	private readonly waitIndex: string;
	private readonly auditTable: string;
	private readonly table: string;
	private readonly indexName: string;
	/** `tsl_<hash of schema.table>`: the prefix of every table derived from the lock table. */
	private readonly derivedName: string;
	private ready?: Promise<void>;
	private listener?: Promise<Client>;
	private listenerClient?: Client;
	private dropListener?: () => void;
	/** The listener was started once: it is brought back whenever it drops, until close(). */
	private listening = false;
	private listenerRetryMs = 0;
	private readonly probes = new Map<string, () => void>();
	private warnedNoNotify = false;
	/** One warning per outage of the wake-up connection, not one per reconnect try. */
	private warnedListenerDown = false;
	private closed = false;
	private prepareStatements = true;
	private readonly gate: AttemptGate;
	private readonly statementTimeoutMs: number;
	private readonly probeTimeoutMs: number;
	private readonly auditRetentionDays: number;
	private lastAuditPrune = Number.NEGATIVE_INFINITY;
	/** The running audit clean-up, if any (tests wait for it). */
	private auditPrune?: Promise<void>;
	log: EngineLogger = LoggerProxy;

	constructor(
		/** The pool statements go to now (usePool replaces it). */
		private currentPool: Pool,
		name: LockTableName = {},
		options: StoreLockOptions = {},
		connection: PostgresConnectionOptions = {},
	) {
		super(options);
		this.gate = new AttemptGate(attemptConnections(currentPool.options.max ?? 10));
		this.statementTimeoutMs = connection.statementTimeoutMs ?? STATEMENT_TIMEOUT_MS;
		this.probeTimeoutMs = connection.probeTimeoutMs ?? 5_000;
		this.auditRetentionDays = connection.auditRetentionDays ?? AUDIT_RETENTION_DAYS;
		this.schema = validateIdentifier('schema', name.schema || DEFAULT_LOCK_SCHEMA);
		const table = validateIdentifier('table', name.table || DEFAULT_LOCK_TABLE);
		if (table === AUDIT_TABLE) {
			throw new LockConfigurationError(`"${AUDIT_TABLE}" is the audit table's name: choose another lock table name`);
		}
		this.qualifiedTable = `"${this.schema}"."${table}"`;
		// Hashed like the index: derived from the lock table's name, it must never collide with a user's table.
		const derived = `tsl_${hashLockKey(`${this.schema}.${table}`).slice(0, 20)}`;
		this.derivedName = derived;
		this.stateTable = `"${this.schema}"."${derived}_state"`;
		// The waiting registry: one ticket per waiting acquire call (see StoreLockEngine).
		this.waitTable = `"${this.schema}"."${derived}_wait"`;
		this.waitIndex = `"${derived}_wait_seq_idx"`;
		// One audit table per schema; its lock_table column tells lock tables apart.
		this.auditTable = `"${this.schema}"."${AUDIT_TABLE}"`;
		this.table = table;
		// Hashed: two long table names with one prefix must not share an index name.
		this.indexName = `"tsl_${hashLockKey(`${this.schema}.${table}`).slice(0, 20)}_exec_idx"`;
	}

	/** The pool this engine's statements go to. */
	get pool(): Pool {
		return this.currentPool;
	}

	/**
	 * For stores kept next to the locks (the tenant credential registry): statements that run like the
	 * engine's own (its current pool, the attempt gate, the statement timeout), never as priority work.
	 */
	storeAccess(): PostgresStoreAccess {
		const ordinary = (operation: string): string => {
			// A priority name would let these statements take the connections kept for renewals.
			if (PRIORITY_OPERATIONS.has(operation)) throw new Error(`"${operation}" is reserved for lock holders' statements`);
			return operation;
		};
		return {
			schema: this.schema,
			derivedName: this.derivedName,
			lockTable: `${this.schema}.${this.table}`,
			location: JSON.stringify({ ...databaseLocation(this.currentPool.options), lockTable: `${this.schema}.${this.table}` }),
			query: async <T>(operation: string, text: string, values: unknown[], prepare = false) =>
				await this.query<T>(ordinary(operation), text, values, prepare),
			transaction: async (operation, work) => await this.transaction(ordinary(operation), work),
		};
	}

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
			`SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL AND to_regclass($3) IS NOT NULL
			        AND to_regclass($4) IS NOT NULL
			        AND EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'instance_id' AND NOT attisdropped) AS found`,
			[this.qualifiedTable, this.stateTable, this.auditTable, this.waitTable],
		);
		if (exists[0]?.found) return;
		await this.transaction('lock table creation', async (client) => {
			await client.query('BEGIN');
			// Serialises concurrent creators: CREATE ... IF NOT EXISTS alone races on the catalog.
			await client.query("SELECT pg_advisory_xact_lock(hashtext('tenant_swap_lock_ddl'))");
			const schemaFound = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [this.schema]);
			if (schemaFound.rowCount === 0) await client.query(`CREATE SCHEMA "${this.schema}"`);
			await client.query(`CREATE TABLE IF NOT EXISTS ${this.qualifiedTable} (
				key_hash text PRIMARY KEY,
				lock_key text NOT NULL,
				token uuid,
				fence bigint NOT NULL DEFAULT 0,
				instance_id text,
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
			// The owner is instance + execution (added in 0.3): lock tables of older versions get the column.
			// Only when missing: ALTER TABLE takes an exclusive lock that would deadlock with running acquires.
			const column = await client.query(
				"SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'instance_id' AND NOT attisdropped",
				[this.qualifiedTable],
			);
			if (column.rowCount === 0) await client.query(`ALTER TABLE ${this.qualifiedTable} ADD COLUMN instance_id text`);
			// What a swap last wrote into each base credential: a keyed hash of the data, never the data.
			await client.query(`CREATE TABLE IF NOT EXISTS ${this.stateTable} (
				credential_key text PRIMARY KEY,
				data_hmac text NOT NULL,
				credential_updated_at text NOT NULL,
				written_at timestamptz NOT NULL DEFAULT clock_timestamp()
			)`);
			await client.query(`CREATE TABLE IF NOT EXISTS ${this.auditTable} (
				id bigserial PRIMARY KEY,
				at timestamptz NOT NULL DEFAULT clock_timestamp(),
				lock_table text NOT NULL,
				action text NOT NULL,
				outcome text NOT NULL,
				execution_id text NOT NULL,
				workflow_id text,
				tenant_id text,
				base_credential_id text,
				lock_key text,
				waited_ms integer,
				held_ms integer,
				detail text
			)`);
			await client.query(`CREATE INDEX IF NOT EXISTS "${AUDIT_TABLE}_at_idx" ON ${this.auditTable} (at)`);
			// Waiters' tickets (added in 0.2; created here for lock tables of older versions too). UNLOGGED:
			// no WAL, so registering and renewing a ticket commits without a disk flush; after a database
			// crash the table is empty and waiters register again on their next attempt.
			await client.query(`CREATE UNLOGGED TABLE IF NOT EXISTS ${this.waitTable} (
				key_hash text NOT NULL,
				ticket uuid NOT NULL,
				seq bigint GENERATED ALWAYS AS IDENTITY,
				expires_at timestamptz NOT NULL,
				PRIMARY KEY (key_hash, ticket)
			)`);
			await client.query(`CREATE INDEX IF NOT EXISTS ${this.waitIndex} ON ${this.waitTable} (key_hash, seq)`);
			await client.query('COMMIT');
		});
	}

	async extend(handle: LockHandle, ttlMs: number): Promise<LockLease> {
		validateTtl(ttlMs);
		const rows = await this.query<LockRow>(
			'extend',
			`UPDATE ${this.qualifiedTable}
			    SET expires_at = clock_timestamp() + $3 * interval '1 millisecond', updated_at = clock_timestamp()
			  WHERE key_hash = $1 AND token = $2 AND expires_at > clock_timestamp()
			RETURNING token, fence, instance_id, execution_id, workflow_id, tenant_id, acquired_at, expires_at,
			          NULL::float8 AS remaining_ms, true AS acquired`,
			[hashLockKey(handle.key), handle.token, ttlMs],
		);
		const row = rows[0];
		if (!row) throw new LockLostError(handle.key);
		return { key: handle.key, owner: ownerOf(row), waitedMs: 0, ...leaseOf(row) };
	}

	async release(handle: LockHandle): Promise<ReleaseOutcome> {
		const keyHash = hashLockKey(handle.key);
		const rows = await this.query<FreedRow & { live: boolean }>(
			'release',
			// Committed without waiting for the WAL flush: a release lost in a crash only keeps the key
			// until its TTL, and the next holder's (durable) commit flushes it anyway. The message names
			// the oldest live ticket: only that waiter wakes (the others wait their turn, asleep).
			`WITH s AS (SELECT set_config('synchronous_commit', 'off', true)),
			 freed AS (
			   UPDATE ${this.qualifiedTable} SET token = NULL, updated_at = clock_timestamp()
			    WHERE key_hash = $1 AND token = $2
			RETURNING key_hash, acquired_at, expires_at
			 ), turn AS (
			   SELECT key_hash, acquired_at, expires_at, ${this.nextTicketSql('freed.key_hash')} AS next_ticket FROM freed
			 )
			 SELECT key_hash, next_ticket, pg_notify('${NOTIFY_CHANNEL}', key_hash || COALESCE(' ' || next_ticket, '')),
			        EXTRACT(EPOCH FROM clock_timestamp() - acquired_at) * 1000 AS held_ms, expires_at > clock_timestamp() AS live
			   FROM turn, s`,
			[keyHash, handle.token],
			true,
		);
		if (!rows[0]) return { key: handle.key, status: 'lost' };
		this.releasedHere(keyHash, rows[0].next_ticket);
		// Ran out before this release (nobody took it yet): the section was not protected to the end.
		if (!rows[0].live) return { key: handle.key, status: 'lost' };
		return { key: handle.key, status: 'released', heldMs: Math.round(Number(rows[0].held_ms)) };
	}

	async releaseExecution(executionId: string, instanceId?: string): Promise<ReleaseOutcome[]> {
		const rows = await this.query<FreedRow & { lock_key: string }>(
			'release',
			`WITH s AS (SELECT set_config('synchronous_commit', 'off', true)),
			 freed AS (
			   UPDATE ${this.qualifiedTable} SET token = NULL, updated_at = clock_timestamp()
			    WHERE execution_id = $1 AND instance_id IS NOT DISTINCT FROM $2 AND token IS NOT NULL
			      AND expires_at > clock_timestamp()
			RETURNING key_hash, lock_key, acquired_at
			 ), turn AS (
			   SELECT key_hash, lock_key, acquired_at, ${this.nextTicketSql('freed.key_hash')} AS next_ticket FROM freed
			 )
			 SELECT key_hash, lock_key, next_ticket, pg_notify('${NOTIFY_CHANNEL}', key_hash || COALESCE(' ' || next_ticket, '')),
			        EXTRACT(EPOCH FROM clock_timestamp() - acquired_at) * 1000 AS held_ms
			   FROM turn, s ORDER BY lock_key`,
			[executionId, instanceId ?? null],
			true,
		);
		return rows.map((row) => {
			this.releasedHere(row.key_hash, row.next_ticket);
			return { key: row.lock_key, status: 'released' as const, heldMs: Math.round(Number(row.held_ms)) };
		});
	}

	/** The oldest live ticket waiting for a key (text), or NULL. */
	private nextTicketSql(keyHash: string): string {
		return `(SELECT w.ticket::text FROM ${this.waitTable} w
		          WHERE w.key_hash = ${keyHash} AND w.expires_at > clock_timestamp() ORDER BY w.seq LIMIT 1)`;
	}

	async holder(key: string): Promise<LockHolder | undefined> {
		await this.ensureReady();
		const rows = await this.query<LockRow>(
			'read holder',
			`SELECT token, fence, instance_id, execution_id, workflow_id, tenant_id, acquired_at, expires_at,
			        NULL::float8 AS remaining_ms, false AS acquired
			   FROM ${this.qualifiedTable}
			  WHERE key_hash = $1 AND token IS NOT NULL AND expires_at > clock_timestamp()`,
			[hashLockKey(key)],
		);
		return rows[0] ? holderOf(rows[0]) : undefined;
	}

	async heldLocks(limit: number): Promise<ListedLock[]> {
		await this.ensureReady();
		const rows = await this.query<LockRow & { lock_key: string; waiting: string }>(
			'list locks',
			`SELECT l.lock_key, l.token, l.fence, l.instance_id, l.execution_id, l.workflow_id, l.tenant_id, l.acquired_at, l.expires_at,
			        NULL::float8 AS remaining_ms, false AS acquired,
			        (SELECT count(*) FROM ${this.waitTable} w WHERE w.key_hash = l.key_hash AND w.expires_at > clock_timestamp()) AS waiting
			   FROM ${this.qualifiedTable} l
			  WHERE l.token IS NOT NULL AND l.expires_at > clock_timestamp()
			  ORDER BY l.acquired_at LIMIT $1`,
			[limit],
		);
		return rows.map((row) => ({
			key: row.lock_key,
			token: row.token as string,
			fence: Number(row.fence),
			owner: ownerOf(row),
			acquiredAt: row.acquired_at as Date,
			expiresAt: row.expires_at as Date,
			waiting: Number(row.waiting),
		}));
	}

	async readSwapState(credentialKey: string): Promise<SwapState | undefined> {
		await this.ensureReady();
		const rows = await this.query<{ data_hmac: string; credential_updated_at: string }>(
			'read swap state',
			`SELECT data_hmac, credential_updated_at FROM ${this.stateTable} WHERE credential_key = $1`,
			[credentialKey],
		);
		return rows[0] ? { dataHmac: rows[0].data_hmac, credentialUpdatedAt: rows[0].credential_updated_at } : undefined;
	}

	async writeSwapState(credentialKey: string, state: SwapState | undefined): Promise<void> {
		await this.ensureReady();
		if (!state) {
			await this.query('write swap state', `DELETE FROM ${this.stateTable} WHERE credential_key = $1`, [credentialKey]);
			return;
		}
		await this.query(
			'write swap state',
			`INSERT INTO ${this.stateTable} (credential_key, data_hmac, credential_updated_at) VALUES ($1, $2, $3)
			 ON CONFLICT (credential_key) DO UPDATE
			   SET data_hmac = EXCLUDED.data_hmac, credential_updated_at = EXCLUDED.credential_updated_at, written_at = clock_timestamp()`,
			[credentialKey, state.dataHmac, state.credentialUpdatedAt],
		);
	}

	/** One INSERT for all of a node run's events. */
	async audit(events: AuditEvent[]): Promise<void> {
		if (events.length === 0) return;
		await this.ensureReady();
		const columns = ['lock_table', 'action', 'outcome', 'execution_id', 'workflow_id', 'tenant_id', 'base_credential_id', 'lock_key', 'waited_ms', 'held_ms', 'detail'];
		const values: unknown[] = [];
		const rows = events.map((event) => {
			const row = [this.table, event.action, event.outcome, event.executionId, event.workflowId ?? null, event.tenantId ?? null, event.baseCredentialId ?? null, event.lockKey ?? null, roundOrNull(event.waitedMs), roundOrNull(event.heldMs), event.detail?.slice(0, 2000) ?? null];
			const placeholders = row.map((value) => {
				values.push(value);
				return `$${values.length}`;
			});
			return `(${placeholders.join(', ')})`;
		});
		await this.query('write audit', `INSERT INTO ${this.auditTable} (${columns.join(', ')}) VALUES ${rows.join(', ')}`, values);
		this.pruneAuditNow();
	}

	/**
	 * Audit retention: rows older than AUDIT_RETENTION_DAYS go, at most once an hour per engine, in
	 * the background (the audit write that triggers it does not wait), in batches so a large
	 * backlog never makes one long statement.
	 */
	private pruneAuditNow(): void {
		const now = performance.now();
		if (this.auditPrune || now - this.lastAuditPrune < AUDIT_PRUNE_EVERY_MS) return;
		this.lastAuditPrune = now;
		this.auditPrune = (async () => {
			for (let batch = 0; batch < AUDIT_PRUNE_MAX_BATCHES && !this.closing; batch++) {
				const deleted = await this.query<{ id: string }>(
					'prune audit',
					`DELETE FROM ${this.auditTable} WHERE id IN (
					   SELECT id FROM ${this.auditTable} WHERE at < clock_timestamp() - $1 * interval '1 day' ORDER BY at LIMIT $2)
					 RETURNING id`,
					[this.auditRetentionDays, AUDIT_PRUNE_BATCH],
				);
				if (deleted.length < AUDIT_PRUNE_BATCH) break;
			}
		})()
			// The next run (in an hour) tries again.
			.catch(() => undefined)
			.finally(() => {
				this.auditPrune = undefined;
			});
	}

	/** Stops listening; the shared pool itself is closed by its owner. */
	async close(): Promise<void> {
		this.closing = true;
		this.closed = true;
		await this.listener?.catch(() => undefined);
		this.dropListener?.();
		this.listenerDropped();
		await this.auditPrune;
	}

	/**
	 * Moves the engine to another pool of the same lock database (the credential's password
	 * changed): new statements and the listener use it at once, the old pool is closed once the
	 * statements already on it finished. Held locks are rows, not connections: they stay held, and
	 * whoever holds this engine object (held locks, the lease keeper) keeps working.
	 */
	usePool(pool: Pool): void {
		if (pool === this.currentPool) return;
		const old = this.currentPool;
		this.currentPool = pool;
		this.gate.resize(attemptConnections(pool.options.max ?? 10));
		retirePool(old);
		// The listener logged in with the old password: it reconnects (with the new pool's settings).
		this.listenerRetryMs = 0;
		this.dropListener?.();
	}

	// One statement: take a free or expired row, or report the holder. A row held by anyone is not
	// free, even for the same execution (re-entry is by token, in LockClient). A key visibly held is
	// not touched: ON CONFLICT DO UPDATE would lock the row (and cost a transaction and a WAL flush)
	// even when its WHERE refuses the update.
	// The waiting registry: a free key is taken only when no older live ticket waits ($8 = our ticket,
	// NULL for one try: then every live ticket is older). Taking removes our ticket; not taking
	// registers or renews it (and sweeps expired tickets of the key). Ticket writes go to an UNLOGGED
	// table, so a failed attempt still commits without a WAL flush.
	protected async attempt(key: string, keyHash: string, token: string, options: AcquireOptions, queue: QueueArgs): Promise<Attempt> {
		const { owner, ttlMs } = options;
		const rows = await this.query<LockRow>(
			'acquire',
			`WITH cur AS (
			   SELECT token, fence, instance_id, execution_id, workflow_id, tenant_id, acquired_at, expires_at
			     FROM ${this.qualifiedTable} WHERE key_hash = $1
			 ), ahead AS (
			   SELECT w.expires_at FROM ${this.waitTable} w
			    WHERE $9::boolean AND w.key_hash = $1 AND w.expires_at > clock_timestamp()
			      AND w.seq < COALESCE((SELECT m.seq FROM ${this.waitTable} m WHERE m.key_hash = $1 AND m.ticket = $8::uuid),
			                           9223372036854775807)
			    ORDER BY w.seq LIMIT 1
			 ), attempt AS (
			   INSERT INTO ${this.qualifiedTable} AS l
			          (key_hash, lock_key, token, fence, instance_id, execution_id, workflow_id, tenant_id, acquired_at, expires_at, updated_at)
			   SELECT $1::text, $2::text, $3::uuid, 1, $11::text, $4::text, $5::text, $6::text, clock_timestamp(),
			          clock_timestamp() + $7::float8 * interval '1 millisecond', clock_timestamp()
			    WHERE NOT EXISTS (SELECT 1 FROM cur WHERE cur.token IS NOT NULL AND cur.expires_at > clock_timestamp())
			      AND NOT EXISTS (SELECT 1 FROM ahead)
			   ON CONFLICT (key_hash) DO UPDATE SET
			          token        = EXCLUDED.token,
			          fence        = l.fence + 1,
			          acquired_at  = EXCLUDED.acquired_at,
			          instance_id  = EXCLUDED.instance_id,
			          execution_id = EXCLUDED.execution_id,
			          workflow_id  = EXCLUDED.workflow_id,
			          tenant_id    = EXCLUDED.tenant_id,
			          expires_at   = EXCLUDED.expires_at,
			          updated_at   = clock_timestamp()
			    WHERE l.token IS NULL OR l.expires_at <= clock_timestamp()
			RETURNING token, fence, instance_id, execution_id, workflow_id, tenant_id, acquired_at, expires_at
			 ), taken AS (
			   -- Our ticket, and tickets of the key whose waiters died (lease over).
			   DELETE FROM ${this.waitTable}
			    WHERE $8::uuid IS NOT NULL AND key_hash = $1 AND (ticket = $8::uuid OR expires_at <= clock_timestamp())
			      AND EXISTS (SELECT 1 FROM attempt)
			 ), swept AS (
			   DELETE FROM ${this.waitTable}
			    WHERE $8::uuid IS NOT NULL AND key_hash = $1 AND expires_at <= clock_timestamp() AND ticket <> $8::uuid
			      AND NOT EXISTS (SELECT 1 FROM attempt)
			 ), queued AS (
			   INSERT INTO ${this.waitTable} (key_hash, ticket, expires_at)
			   SELECT $1::text, $8::uuid, clock_timestamp() + $10::float8 * interval '1 millisecond'
			    WHERE $8::uuid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM attempt)
			   ON CONFLICT (key_hash, ticket) DO UPDATE SET expires_at = EXCLUDED.expires_at
			 )
			 SELECT token, fence, instance_id, execution_id, workflow_id, tenant_id, acquired_at, expires_at,
			        NULL::float8 AS remaining_ms, true AS acquired
			   FROM attempt
			 UNION ALL
			 SELECT cur.token, cur.fence, cur.instance_id, cur.execution_id, cur.workflow_id, cur.tenant_id, cur.acquired_at, cur.expires_at,
			        GREATEST(0, EXTRACT(EPOCH FROM
			          CASE WHEN cur.token IS NOT NULL AND cur.expires_at > clock_timestamp() THEN cur.expires_at
			               ELSE COALESCE((SELECT expires_at FROM ahead), clock_timestamp()) END - clock_timestamp()) * 1000)::float8,
			        false
			   FROM (SELECT 1) AS one LEFT JOIN cur ON true
			  WHERE NOT EXISTS (SELECT 1 FROM attempt)`,
			[keyHash, key, token, owner.executionId, owner.workflowId ?? null, owner.tenantId ?? null, ttlMs, queue.ticket ?? null, queue.fair, queue.ticketLeaseMs, owner.instanceId ?? null],
			true,
		);
		const row = rows[0];
		if (!row) return { recheckInMs: 0 };
		if (row.acquired) return { lease: leaseOf(row), recheckInMs: 0 };
		return { holder: holderOf(row), recheckInMs: row.remaining_ms ?? 0 };
	}

	protected async withdraw(keyHash: string, ticket: string): Promise<void> {
		// If ours was the oldest live ticket, the next one may now take a free key: name it in a message.
		// (Also when the key looks held: a release committing concurrently may have named our ticket.)
		await this.query(
			'withdraw',
			`WITH gone AS (
			   DELETE FROM ${this.waitTable} WHERE key_hash = $1 AND ticket = $2::uuid RETURNING seq
			 ), turn AS (
			   SELECT w.ticket::text AS ticket FROM ${this.waitTable} w, gone
			    WHERE w.key_hash = $1 AND w.ticket <> $2::uuid AND w.expires_at > clock_timestamp()
			      AND NOT EXISTS (SELECT 1 FROM ${this.waitTable} o
			                       WHERE o.key_hash = $1 AND o.seq < gone.seq AND o.expires_at > clock_timestamp())
			    ORDER BY w.seq LIMIT 1
			 )
			 SELECT pg_notify('${NOTIFY_CHANNEL}', $1 || ' ' || ticket) FROM turn`,
			[keyHash, ticket],
			true,
		);
	}

	protected async ensureListening(): Promise<void> {
		if (this.closed) return;
		this.listening = true;
		this.listener ??= this.startListener();
		await this.listener;
	}

	/**
	 * The LISTEN connection: a pg.Client of its own, outside the pool, so waking waiters never
	 * costs a pool connection and a killed listener never takes one from renewals. It counts as up
	 * (listenerUp: waiters sleep long and wait to be woken) only once a probe NOTIFY it sent itself
	 * came back: behind PgBouncer in transaction pooling LISTEN succeeds but nothing ever arrives,
	 * and waiters must then re-check on their own (StoreLockEngine's short degraded wait).
	 */
	private async startListener(): Promise<Client> {
		// pg-pool keeps the password as a non-enumerable option (out of stack traces): copy it by name.
		const client = new Client({ ...this.pool.options, password: this.pool.options.password });
		client.on('error', () => undefined);
		let dropped = false;
		const drop = () => {
			if (dropped) return;
			dropped = true;
			if (this.listenerClient === client || !this.listenerClient) {
				this.listener = undefined;
				this.listenerClient = undefined;
				this.dropListener = undefined;
			}
			void client.end().catch(() => undefined);
			this.listenerDropped();
			this.reconnectListener();
		};
		try {
			await client.connect();
			client.on('notification', (message) => {
				if (message.channel !== NOTIFY_CHANNEL || !message.payload) return;
				if (message.payload.startsWith(PROBE_PREFIX)) this.probes.get(message.payload)?.();
				else this.wakeFromMessage(message.payload);
			});
			client.on('error', drop);
			client.on('end', drop);
			await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
		} catch (error) {
			if (!this.warnedListenerDown) {
				this.warnedListenerDown = true;
				this.log.warn(
					`Tenant Credential Swap could not open its wake-up connection to the lock database (${(error as Error).message}); waiting executions re-check every 250 ms until it works. It keeps trying in the background.`,
					{ lockTable: `${this.schema}.${this.table}` },
				);
			}
			drop();
			throw error;
		}
		this.warnedListenerDown = false;
		this.listenerClient = client;
		this.dropListener = drop;
		this.listenerRetryMs = 0;
		void this.watchNotifications(client);
		return client;
	}

	/** Brings the listener back after a drop: at once, then with growing pauses while it fails. */
	private reconnectListener(): void {
		if (this.closed || !this.listening) return;
		const pause = this.listenerRetryMs;
		this.listenerRetryMs = Math.min(LISTENER_RETRY_MAX_MS, Math.max(1_000, pause * 2));
		void (async () => {
			if (pause > 0) await sleepUnlessWoken(pause, true).promise;
			if (this.closed || this.listener) return;
			// A failure drops again, which schedules the next try.
			this.listener = this.startListener();
			await this.listener.catch(() => undefined);
		})();
	}

	/** Probes now and every PROBE_INTERVAL_MS while `client` is the listener. */
	private async watchNotifications(client: Client): Promise<void> {
		while (!this.closed && this.listenerClient === client) {
			const outcome = await this.probe();
			if (this.closed || this.listenerClient !== client) return;
			if (outcome === 'arrived') {
				this.listenerUp = true;
			} else if (outcome === 'missing') {
				const wasUp = this.listenerUp;
				// Waiters asleep for a wake-up that will not come: they look again, and from now on often.
				if (wasUp) this.listenerDropped();
				this.listenerUp = false;
				if (!this.warnedNoNotify) {
					this.warnedNoNotify = true;
					this.log.warn(
						`Tenant Credential Swap: the lock database accepts LISTEN but a test notification sent through it did not arrive within ${this.probeTimeoutMs} ms. ` +
							'This is what PgBouncer in transaction pooling mode does. Locks still work: waiting executions re-check every 250 ms instead of being woken, ' +
							'so hand-offs take a little longer and cost more queries. Point the lock at PostgreSQL directly or at a session-pooling port to get wake-ups.',
						{ lockTable: `${this.schema}.${this.table}` },
					);
				}
			}
			// A probe the store did not answer (e.g. a stale pool connection after a restart) says
			// nothing about notifications: ask again soon rather than in a minute.
			await sleepUnlessWoken(outcome === 'failed' ? PROBE_RETRY_MS : PROBE_INTERVAL_MS, true).promise;
		}
	}

	/** Sends a NOTIFY only this listener expects and waits (up to probeTimeoutMs) for it to arrive. */
	private async probe(): Promise<'arrived' | 'missing' | 'failed'> {
		const payload = `${PROBE_PREFIX}${randomUUID()}`;
		const waiting = sleepUnlessWoken(this.probeTimeoutMs, true);
		let arrived = false;
		this.probes.set(payload, () => {
			arrived = true;
			waiting.wake();
		});
		try {
			await this.query('notify probe', 'SELECT pg_notify($1, $2)', [NOTIFY_CHANNEL, payload]);
			await waiting.promise;
			return arrived ? 'arrived' : 'missing';
		} catch {
			// The store did not answer: nothing learnt about notifications.
			waiting.wake();
			return 'failed';
		} finally {
			this.probes.delete(payload);
		}
	}

	/** A transaction on one connection, counted like any other attempt-side work. */
	private async transaction(operation: string, work: (client: PoolClient) => Promise<void>): Promise<void> {
		const entered = this.enterGate(operation);
		const leave = typeof entered === 'function' ? entered : await entered;
		try {
			await withPoolClient(this.pool, async (client) => {
				try {
					await work(client);
				} catch (error) {
					await client.query('ROLLBACK').catch(() => undefined);
					throw error;
				}
			});
		} catch (error) {
			throw new LockStoreUnavailableError(operation, error);
		} finally {
			leave();
		}
	}

	/** Synchronous when no wait is needed: statements reach the pool in the order they were made. */
	private enterGate(operation: string): (() => void) | Promise<() => void> {
		if (PRIORITY_OPERATIONS.has(operation)) return NO_GATE;
		return (
			this.gate.tryEnter() ??
			this.gate.enter(this.pool.options.connectionTimeoutMillis || 10_000).catch((error: unknown) => {
				throw new LockStoreUnavailableError(operation, error);
			})
		);
	}

	/**
	 * `prepare`: send as a named statement, parsed and planned once per connection (the hot-path
	 * statements are long CTEs: planning them is most of their cost). A pooler that does not keep
	 * prepared statements (PgBouncer in transaction mode before 1.21) refuses them before running
	 * anything; then this engine sends plain statements from then on.
	 *
	 * Attempts (everything not in PRIORITY_OPERATIONS) pass the AttemptGate first. Each statement
	 * runs under statementTimeoutMs, enforced by a cancel request (PgBouncer forwards those), after
	 * which its connection is discarded rather than reused.
	 */
	private async query<T>(operation: string, text: string, values: unknown[], prepare = false): Promise<T[]> {
		const entered = this.enterGate(operation);
		const leave = typeof entered === 'function' ? entered : await entered;
		try {
			return await withPoolClient(this.pool, async (client, discard) => {
				if (prepare && this.prepareStatements) {
					try {
						return await this.run<T>(client, discard, { name: statementName(text), text, values });
					} catch (error) {
						if (!PREPARED_STATEMENT_REFUSED.has((error as { code?: string }).code ?? '')) throw error;
						this.prepareStatements = false;
					}
				}
				return await this.run<T>(client, discard, { text, values });
			});
		} catch (error) {
			throw new LockStoreUnavailableError(operation, error);
		} finally {
			leave();
		}
	}

	private async run<T>(client: PoolClient, discard: () => void, statement: { name?: string; text: string; values: unknown[] }): Promise<T[]> {
		const timer = setTimeout(() => {
			// The cancel may land after the statement ended: never reuse a connection one was sent to.
			discard();
			cancelStatement(client);
		}, this.statementTimeoutMs);
		try {
			return (await client.query(statement)).rows as T[];
		} finally {
			clearTimeout(timer);
		}
	}
}

/**
 * Asks the server to cancel what `client` runs now: the protocol's CancelRequest on a new
 * connection, with the key the server (or PgBouncer, which forwards it) gave at start-up.
 */
function cancelStatement(client: PoolClient): void {
	const target = client as unknown as { host?: string; port?: number; processID?: number | null; secretKey?: number | null };
	if (target.processID === null || target.processID === undefined || target.secretKey === null || target.secretKey === undefined) return;
	// pg's own protocol writer (typed loosely in @types/pg).
	const connection = new Connection() as unknown as {
		on(event: 'error', listener: () => void): void;
		once(event: 'connect', listener: () => void): void;
		connect(portOrPath: number | string, host?: string): void;
		cancel(processID: number, secretKey: number): void;
	};
	connection.on('error', () => undefined);
	// Nothing else is written: the server (or PgBouncer) closes this connection itself once it read
	// the request, and PgBouncer 1.18 aborts on anything sent after it ("bad client state").
	connection.once('connect', () => connection.cancel(target.processID as number, target.secretKey as number));
	const host = target.host ?? 'localhost';
	const port = target.port ?? 5432;
	if (host.startsWith('/')) connection.connect(`${host}/.s.PGSQL.${port}`);
	else connection.connect(port, host);
}

const NO_GATE = (): void => undefined;

/**
 * At most `limit` attempts (waiters' statements) use connections at once; the rest of the pool is
 * kept for renewals and releases, which skip the gate. Waiting here is bounded like waiting for a
 * pool connection would be.
 */
class AttemptGate {
	private running = 0;
	private readonly queue: Array<() => void> = [];

	constructor(private limit: number) {}

	resize(limit: number): void {
		this.limit = limit;
		while (this.running < this.limit && this.queue.length > 0) {
			this.running += 1;
			this.queue.shift()?.();
		}
	}

	/** A slot now, or undefined when all are taken. */
	tryEnter(): (() => void) | undefined {
		if (this.running >= this.limit || this.queue.length > 0) return undefined;
		this.running += 1;
		return this.leaver();
	}

	async enter(timeoutMs: number): Promise<() => void> {
		const now = this.tryEnter();
		if (now) return now;
		const admitted = sleepUnlessWoken(timeoutMs, true);
		let ok = false;
		const admit = () => {
			ok = true;
			admitted.wake();
		};
		this.queue.push(admit);
		await admitted.promise;
		if (!ok) {
			this.queue.splice(this.queue.indexOf(admit), 1);
			throw new Error(`timeout exceeded when trying to connect (all ${this.limit} connections for attempts busy for ${timeoutMs} ms)`);
		}
		return this.leaver();
	}

	private leaver(): () => void {
		let left = false;
		return () => {
			if (left) return;
			left = true;
			// Hand the slot over to the next in line, or free it.
			const next = this.running <= this.limit ? this.queue.shift() : undefined;
			if (next) next();
			else this.running -= 1;
		};
	}
}

/** prepared statement "..." does not exist / already exists: the pooler mixes server sessions. */
const PREPARED_STATEMENT_REFUSED = new Set(['26000', '42P05']);

const statementNames = new Map<string, string>();
function statementName(text: string): string {
	let name = statementNames.get(text);
	if (!name) {
		name = `tsl_${hashLockKey(text).slice(0, 24)}`;
		statementNames.set(text, name);
	}
	return name;
}

function leaseOf(row: LockRow): NonNullable<Attempt['lease']> {
	return {
		token: row.token as string,
		fence: Number(row.fence),
		acquiredAt: row.acquired_at as Date,
		expiresAt: row.expires_at as Date,
	};
}

function holderOf(row: LockRow): LockHolder | undefined {
	if (!row.token || !row.execution_id || !row.acquired_at || !row.expires_at) return undefined;
	return { owner: ownerOf(row), acquiredAt: row.acquired_at, expiresAt: row.expires_at };
}

function ownerOf(row: LockRow): LockOwner {
	return {
		instanceId: row.instance_id ?? undefined,
		executionId: row.execution_id ?? '',
		workflowId: row.workflow_id ?? undefined,
		tenantId: row.tenant_id ?? undefined,
	};
}

function roundOrNull(value: number | undefined): number | null {
	return value === undefined || !Number.isFinite(value) ? null : Math.round(value);
}
