import { Connection, type Pool, type PoolClient } from 'pg';

import { LockStoreBusyError, LockStoreUnavailableError } from '../errors';
import { attemptConnections, poolLoad, retirePool, STATEMENT_TIMEOUT_MS, withPoolClient } from '../postgresPool';
import { hashLockKey } from '../StoreLockEngine';
import { AttemptGate, AttemptGateTimeout } from './attemptGate';

/**
 * Statements of lock holders. They never queue behind waiters' attempts: attempts may use only
 * part of the pool (AttemptGate), so a renewal always finds a connection.
 */
export const PRIORITY_OPERATIONS = new Set(['extend', 'release', 'read swap state', 'write swap state', 'notify probe']);

/** pg-pool's error when every connection stayed checked out for connectionTimeoutMillis. */
const POOL_QUEUE_TIMEOUT = 'timeout exceeded when trying to connect';

/** prepared statement "..." does not exist / already exists: the pooler mixes server sessions. */
const PREPARED_STATEMENT_REFUSED = new Set(['26000', '42P05']);

/**
 * How this process sends statements to one lock database: its current pool, the attempt gate, the
 * statement time limit, prepared statements where the server keeps them, and store errors
 * (LockStoreUnavailableError, or LockStoreBusyError for congestion in this process).
 * The lock engine and the stores next to it (swap state, audit, tenant credentials) share one.
 */
export class PostgresStatements {
	private readonly gate: AttemptGate;
	private prepareStatements = true;

	constructor(
		private currentPool: Pool,
		private readonly statementTimeoutMs = STATEMENT_TIMEOUT_MS,
	) {
		this.gate = new AttemptGate(attemptConnections(currentPool.options.max ?? 10));
	}

	get pool(): Pool {
		return this.currentPool;
	}

	/**
	 * New statements go to `pool` from now on; the old pool is closed once the statements already on
	 * it finished. Returns whether the pool changed.
	 */
	usePool(pool: Pool): boolean {
		if (pool === this.currentPool) return false;
		const old = this.currentPool;
		this.currentPool = pool;
		this.gate.resize(attemptConnections(pool.options.max ?? 10));
		retirePool(old);
		return true;
	}

	/**
	 * `prepare`: send as a named statement, parsed and planned once per connection (the hot-path
	 * statements are long CTEs: planning them is most of their cost). A pooler that does not keep
	 * prepared statements (PgBouncer in transaction mode before 1.21) refuses them before running
	 * anything; then plain statements are sent from then on.
	 *
	 * Attempts (everything not in PRIORITY_OPERATIONS) pass the AttemptGate first. Each statement
	 * runs under statementTimeoutMs, enforced by a cancel request (PgBouncer forwards those), after
	 * which its connection is discarded rather than reused.
	 */
	async query<T>(operation: string, text: string, values: unknown[], prepare = false): Promise<T[]> {
		const entered = this.enterGate(operation);
		const leave = typeof entered === 'function' ? entered : await entered;
		const pool = this.pool;
		try {
			return await withPoolClient(pool, async (client, discard) => {
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
			throw this.storeError(operation, pool, error);
		} finally {
			leave();
		}
	}

	/** Runs `work` on one connection; `work` sends BEGIN and COMMIT itself (rolled back when it throws). */
	async transaction(operation: string, work: (client: PoolClient) => Promise<void>): Promise<void> {
		const entered = this.enterGate(operation);
		const leave = typeof entered === 'function' ? entered : await entered;
		const pool = this.pool;
		try {
			await withPoolClient(pool, async (client) => {
				try {
					await work(client);
				} catch (error) {
					await client.query('ROLLBACK').catch(() => undefined);
					throw error;
				}
			});
		} catch (error) {
			throw this.storeError(operation, pool, error);
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
				throw this.storeError(operation, this.pool, error);
			})
		);
	}

	/**
	 * Congestion in this process (every attempt slot, or every pool connection, held by our own
	 * statements for the whole connection timeout) is LockStoreBusyError; anything else (connect
	 * refused or timed out, statement failed or cancelled) is LockStoreUnavailableError.
	 */
	private storeError(operation: string, pool: Pool, error: unknown): LockStoreUnavailableError {
		if (error instanceof LockStoreUnavailableError) return error;
		const inFlight = poolLoad(pool).inFlight + this.gate.waiting + 1;
		const max = pool.options.max ?? 10;
		if (error instanceof AttemptGateTimeout) return new LockStoreBusyError(operation, inFlight, error.limit, error.waitedMs, error);
		// The pool's queue timed out while all its connections were checked out by our statements:
		// they were busy, not failing to connect (connections still connecting would not count).
		if (error instanceof Error && error.message === POOL_QUEUE_TIMEOUT && poolLoad(pool).checkedOut >= max) {
			return new LockStoreBusyError(operation, inFlight, max, pool.options.connectionTimeoutMillis || 0, error);
		}
		return new LockStoreUnavailableError(operation, error);
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

const NO_GATE = (): void => undefined;

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

const statementNames = new Map<string, string>();
function statementName(text: string): string {
	let name = statementNames.get(text);
	if (!name) {
		name = `tsl_${hashLockKey(text).slice(0, 24)}`;
		statementNames.set(text, name);
	}
	return name;
}
