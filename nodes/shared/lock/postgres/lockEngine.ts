import type { Pool, PoolClient } from 'pg';

import { LockLostError, LockReleasedError } from '../errors';
import { databaseLocation } from '../postgresPool';
import { hashLockKey, StoreLockEngine, type Attempt, type QueueArgs, type StoreLockOptions } from '../StoreLockEngine';
import type { AcquireOptions, AuditEvent, ListedLock, LockHandle, LockHolder, LockLease, ReleaseOutcome, SwapState } from '../types';
import { validateTtl } from '../waiting';
import { AUDIT_RETENTION_DAYS, PostgresAuditTrail } from './auditTrail';
import { listenerFor, type ListenerSubscriber, type PostgresListener } from './listener';
import { LockStatements } from './lockStatements';
import { holderOf, leaseOf, ownerOf, type FreedRow, type LockRow } from './rows';
import { LockSchema, LockTables, type LockTableName } from './schema';
import { PostgresStatements, PRIORITY_OPERATIONS } from './statements';
import { PostgresSwapStateStore } from './swapStateStore';

/**
 * A free row (released, or its lease ran out) is deleted once free this long. Far longer than any
 * statement lives (STATEMENT_TIMEOUT_MS): see the fence note in lockStatements.ts.
 */
export const FREE_ROW_GRACE_MS = 10 * 60 * 1000;
/** The sweep of free rows, old tombstones and dead tickets runs at most this often per engine, after a release. */
const SWEEP_EVERY_MS = 60 * 1000;
/** Rows of each kind deleted per statement, and statements per sweep: a backlog goes in steps. */
const SWEEP_BATCH = 1_000;
const SWEEP_MAX_BATCHES = 20;

/** Connection behaviour; defaults are production values, tests shorten them. */
export interface PostgresConnectionOptions {
	/** A statement running longer is cancelled (and its connection discarded). */
	statementTimeoutMs?: number;
	/** How long the listener waits for its own probe NOTIFY before calling notifications broken. */
	probeTimeoutMs?: number;
	auditRetentionDays?: number;
	/** See FREE_ROW_GRACE_MS. */
	freeRowGraceMs?: number;
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

/** What one sweep deleted. */
export interface SweepResult {
	rows: number;
	tombstones: number;
	tickets: number;
}

/**
 * Lease lock on a PostgreSQL table: one row per key in use, fences from the table's sequence,
 * expiry judged by the database clock, releases recorded as tombstones, waiters woken by
 * LISTEN/NOTIFY (one listener per pool) and queued in an UNLOGGED ticket table (see
 * StoreLockEngine for the waiting registry). The swap state and the audit trail are their own
 * stores on the same statements (swapState, auditTrail); the engine passes their calls on so it can
 * stand for the whole lock store (LockStore).
 */
export class PostgresLockEngine extends StoreLockEngine {
	readonly backend = 'postgres' as const;
	readonly swapState: PostgresSwapStateStore;
	readonly auditTrail: PostgresAuditTrail;

	private readonly tables: LockTables;
	private readonly statements: PostgresStatements;
	private readonly schema: LockSchema;
	private readonly sql: LockStatements;
	private readonly probeTimeoutMs?: number;
	private readonly freeRowGraceMs: number;
	private listener?: PostgresListener;
	private readonly subscriber: ListenerSubscriber;
	private closed = false;
	private lastSweep = Number.NEGATIVE_INFINITY;
	/** The running background sweep, if any (tests and close() wait for it). */
	private sweeping?: Promise<unknown>;

	constructor(pool: Pool, name: LockTableName = {}, options: StoreLockOptions = {}, connection: PostgresConnectionOptions = {}) {
		super(options);
		this.tables = new LockTables(name);
		this.statements = new PostgresStatements(pool, connection.statementTimeoutMs);
		this.schema = new LockSchema(this.statements, this.tables);
		this.sql = new LockStatements(this.tables);
		this.swapState = new PostgresSwapStateStore(this.statements, this.schema);
		this.auditTrail = new PostgresAuditTrail(this.statements, this.schema, connection.auditRetentionDays ?? AUDIT_RETENTION_DAYS);
		this.probeTimeoutMs = connection.probeTimeoutMs;
		this.freeRowGraceMs = connection.freeRowGraceMs ?? FREE_ROW_GRACE_MS;
		this.subscriber = {
			lockTable: this.tables.label,
			onMessage: (payload) => this.wakeFromMessage(payload),
			onDropped: () => this.listenerDropped(),
			onUp: (up) => {
				this.listenerUp = up;
			},
		};
	}

	/** The pool this engine's statements go to. */
	get pool(): Pool {
		return this.statements.pool;
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
			schema: this.tables.schema,
			derivedName: this.tables.derivedName,
			lockTable: this.tables.label,
			location: JSON.stringify({ ...databaseLocation(this.pool.options), lockTable: this.tables.label }),
			query: async <T>(operation: string, text: string, values: unknown[], prepare = false) =>
				await this.statements.query<T>(ordinary(operation), text, values, prepare),
			transaction: async (operation, work) => await this.statements.transaction(ordinary(operation), work),
		};
	}

	/** Creates the lock tables on first use (and migrates older ones); safe when many processes start at once. */
	async ensureReady(): Promise<void> {
		await this.schema.ensureReady();
	}

	async extend(handle: LockHandle, ttlMs: number): Promise<LockLease> {
		validateTtl(ttlMs);
		const keyHash = hashLockKey(handle.key);
		const rows = await this.statements.query<LockRow>('extend', this.sql.extend, [keyHash, handle.token, ttlMs]);
		const row = rows[0];
		if (row) return { key: handle.key, owner: ownerOf(row), waitedMs: 0, ...leaseOf(row) };
		// Not renewed: a release of this token was recorded (its owner freed it), or the lease is gone.
		const released = await this.statements.query('extend', this.sql.releasedToken, [keyHash, handle.token]);
		if (released.length > 0) throw new LockReleasedError(handle.key);
		throw new LockLostError(handle.key);
	}

	async release(handle: LockHandle): Promise<ReleaseOutcome> {
		const keyHash = hashLockKey(handle.key);
		const rows = await this.statements.query<FreedRow & { live: boolean }>('release', this.sql.release, [keyHash, handle.token], true);
		if (!rows[0]) return { key: handle.key, status: 'lost' };
		this.releasedHere(keyHash, rows[0].next_ticket);
		this.sweepInBackground();
		// Ran out before this release (nobody took it yet): the section was not protected to the end.
		if (!rows[0].live) return { key: handle.key, status: 'lost' };
		return { key: handle.key, status: 'released', heldMs: Math.round(Number(rows[0].held_ms)) };
	}

	async releaseExecution(executionId: string, instanceId?: string): Promise<ReleaseOutcome[]> {
		const rows = await this.statements.query<FreedRow & { lock_key: string }>('release', this.sql.releaseExecution, [executionId, instanceId ?? null], true);
		if (rows.length > 0) this.sweepInBackground();
		return rows.map((row) => {
			this.releasedHere(row.key_hash, row.next_ticket);
			return { key: row.lock_key, status: 'released' as const, heldMs: Math.round(Number(row.held_ms)) };
		});
	}

	async holder(key: string): Promise<LockHolder | undefined> {
		await this.ensureReady();
		const rows = await this.statements.query<LockRow>('read holder', this.sql.holder, [hashLockKey(key)]);
		return rows[0] ? holderOf(rows[0]) : undefined;
	}

	async heldLocks(limit: number): Promise<ListedLock[]> {
		await this.ensureReady();
		const rows = await this.statements.query<LockRow & { lock_key: string; waiting: string }>('list locks', this.sql.heldLocks, [limit]);
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

	// The lock store's other two parts (LockStore), kept in their own stores.
	async readSwapState(credentialKey: string): Promise<SwapState | undefined> {
		return await this.swapState.readSwapState(credentialKey);
	}

	async writeSwapState(credentialKey: string, state: SwapState | undefined): Promise<void> {
		await this.swapState.writeSwapState(credentialKey, state);
	}

	async audit(events: AuditEvent[]): Promise<void> {
		await this.auditTrail.audit(events);
	}

	/**
	 * Deletes rows of keys free for longer than the grace (released or run out), tombstones past their
	 * time and dead waiters' tickets, in bounded batches. Runs in the background after releases; tests
	 * call it directly.
	 */
	async sweep(): Promise<SweepResult> {
		await this.ensureReady();
		const total: SweepResult = { rows: 0, tombstones: 0, tickets: 0 };
		for (let batch = 0; batch < SWEEP_MAX_BATCHES && !this.closing; batch++) {
			const [deleted] = await this.statements.query<SweepResult>('sweep', this.sql.sweep, [this.freeRowGraceMs, SWEEP_BATCH], true);
			total.rows += deleted.rows;
			total.tombstones += deleted.tombstones;
			total.tickets += deleted.tickets;
			if (Math.max(deleted.rows, deleted.tombstones, deleted.tickets) < SWEEP_BATCH) break;
		}
		return total;
	}

	private sweepInBackground(): void {
		const now = performance.now();
		if (this.sweeping || this.closing || now - this.lastSweep < SWEEP_EVERY_MS) return;
		this.lastSweep = now;
		this.sweeping = this.sweep()
			// The next release after SWEEP_EVERY_MS tries again.
			.catch(() => undefined)
			.finally(() => {
				this.sweeping = undefined;
			});
	}

	protected async attempt(key: string, keyHash: string, token: string, options: AcquireOptions, queue: QueueArgs): Promise<Attempt> {
		const { owner, ttlMs } = options;
		const rows = await this.statements.query<LockRow>(
			'acquire',
			this.sql.acquire,
			[keyHash, key, token, owner.executionId, owner.workflowId ?? null, owner.tenantId ?? null, ttlMs, queue.ticket ?? null, queue.fair, queue.ticketLeaseMs, owner.instanceId ?? null],
			true,
		);
		const row = rows[0];
		if (!row) return { recheckInMs: 0 };
		if (row.acquired) return { lease: leaseOf(row), recheckInMs: 0 };
		return { holder: holderOf(row), recheckInMs: row.remaining_ms ?? 0 };
	}

	protected async withdraw(keyHash: string, ticket: string): Promise<void> {
		await this.statements.query('withdraw', this.sql.withdraw, [keyHash, ticket], true);
	}

	/** Subscribes to the pool's listener (one LISTEN connection per pool, whatever the lock tables). */
	protected async ensureListening(): Promise<void> {
		if (this.closed) return;
		this.listener ??= listenerFor(this.pool, this.probeTimeoutMs);
		await this.listener.subscribe(this.subscriber);
	}

	/** Stops listening; the shared pool itself is closed by its owner. */
	async close(): Promise<void> {
		this.closing = true;
		this.closed = true;
		this.listener?.unsubscribe(this.subscriber);
		this.listener = undefined;
		this.listenerDropped();
		await Promise.all([this.auditTrail.close(), this.sweeping]);
	}

	/**
	 * Moves the engine to another pool of the same lock database (the credential's password
	 * changed): new statements and the listener use it at once, the old pool is closed once the
	 * statements already on it finished. Held locks are rows, not connections: they stay held, and
	 * whoever holds this engine object (held locks, the lease keeper) keeps working.
	 */
	usePool(pool: Pool): void {
		if (!this.statements.usePool(pool)) return;
		// The listener logged in with the old password: listen through the new pool's.
		const old = this.listener;
		if (!old) return;
		old.unsubscribe(this.subscriber);
		this.listener = undefined;
		void this.ensureListening().catch(() => undefined);
	}
}
