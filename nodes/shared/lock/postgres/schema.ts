import { LockConfigurationError } from '../errors';
import { hashLockKey } from '../StoreLockEngine';
import type { PostgresStatements } from './statements';

export const DEFAULT_LOCK_SCHEMA = 'public';
export const DEFAULT_LOCK_TABLE = 'tenant_swap_locks';
export const AUDIT_TABLE = 'tenant_swap_audit';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

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

/**
 * The names of everything one lock table brings: the lock table (as the user named it) and the
 * objects derived from it, `tsl_<hash of schema.table>_<suffix>`. Hashed: derived names never
 * collide with a user's table, nor with those of another lock table sharing a long prefix.
 */
/** A text for a statement that takes no parameters (COMMENT ON): names here are validated identifiers, so this only has to survive the quote itself. */
export function quoteLiteral(text: string): string {
	return `'${text.replace(/'/g, "''")}'`;
}

export class LockTables {
	readonly schema: string;
	readonly table: string;
	/** `"schema"."table"`. */
	readonly locks: string;
	/** Prefix of every derived object's name. */
	readonly derivedName: string;
	readonly execIndex: string;
	/** Fences come from one sequence per lock table: they keep growing when a free row is deleted. */
	readonly fenceSequence: string;
	/** Released tokens (tombstones): an extend of one reads as released, not lost. */
	readonly released: string;
	readonly releasedIndex: string;
	/** The waiting registry: one ticket per waiting acquire call (see StoreLockEngine). */
	readonly wait: string;
	readonly waitIndex: string;
	readonly swapState: string;
	/** One audit table per schema; its lock_table column tells lock tables apart. */
	readonly audit: string;

	constructor(name: LockTableName = {}) {
		this.schema = validateIdentifier('schema', name.schema || DEFAULT_LOCK_SCHEMA);
		this.table = validateIdentifier('table', name.table || DEFAULT_LOCK_TABLE);
		if (this.table === AUDIT_TABLE) {
			throw new LockConfigurationError(`"${AUDIT_TABLE}" is the audit table's name: choose another lock table name`);
		}
		const derived = `tsl_${hashLockKey(`${this.schema}.${this.table}`).slice(0, 20)}`;
		const inSchema = (name: string) => `"${this.schema}"."${name}"`;
		this.locks = inSchema(this.table);
		this.derivedName = derived;
		this.execIndex = `"${derived}_exec_idx"`;
		this.fenceSequence = inSchema(`${derived}_fence`);
		this.released = inSchema(`${derived}_released`);
		this.releasedIndex = `"${derived}_released_until_idx"`;
		this.wait = inSchema(`${derived}_wait`);
		this.waitIndex = `"${derived}_wait_seq_idx"`;
		this.swapState = inSchema(`${derived}_state`);
		this.audit = inSchema(AUDIT_TABLE);
	}

	/** `schema.table`, for messages. */
	get label(): string {
		return `${this.schema}.${this.table}`;
	}
}

/**
 * Creates the lock database's tables on first use, and brings tables of older versions up to date.
 * Safe when many processes start at once. One per engine; its stores share it.
 */
export class LockSchema {
	private ready?: Promise<void>;

	constructor(
		private readonly statements: PostgresStatements,
		readonly tables: LockTables,
	) {}

	async ensureReady(): Promise<void> {
		this.ready ??= this.create().catch((error) => {
			this.ready = undefined;
			throw error;
		});
		await this.ready;
	}

	private async create(): Promise<void> {
		const t = this.tables;
		const exists = await this.statements.query<{ found: boolean }>(
			'ensure lock table',
			`SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL AND to_regclass($3) IS NOT NULL
			        AND to_regclass($4) IS NOT NULL AND to_regclass($5) IS NOT NULL AND to_regclass($6) IS NOT NULL
			        AND EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'instance_id' AND NOT attisdropped) AS found`,
			[t.locks, t.swapState, t.audit, t.wait, t.released, t.fenceSequence],
		);
		if (exists[0]?.found) return;
		await this.statements.transaction('lock table creation', async (client) => {
			await client.query('BEGIN');
			// Serialises concurrent creators: CREATE ... IF NOT EXISTS alone races on the catalog.
			await client.query("SELECT pg_advisory_xact_lock(hashtext('tenant_swap_lock_ddl'))");
			const schemaFound = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [t.schema]);
			if (schemaFound.rowCount === 0) await client.query(`CREATE SCHEMA "${t.schema}"`);
			await client.query(`CREATE TABLE IF NOT EXISTS ${t.locks} (
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
			await client.query(`CREATE INDEX IF NOT EXISTS ${t.execIndex} ON ${t.locks} (execution_id) WHERE token IS NOT NULL`);
			// The owner is instance + execution (added in 0.3): lock tables of older versions get the column.
			// Only when missing: ALTER TABLE takes an exclusive lock that would deadlock with running acquires.
			if (!(await hasColumn(client, t.locks, 'instance_id'))) await client.query(`ALTER TABLE ${t.locks} ADD COLUMN instance_id text`);
			// Fences came from a per-row counter before 0.6 (rows were kept forever for it). The sequence
			// starts above every fence handed out so far, so fences keep growing per key.
			const sequenceFound = await client.query('SELECT to_regclass($1) IS NOT NULL AS found', [t.fenceSequence]);
			if (!(sequenceFound.rows[0] as { found: boolean }).found) {
				await client.query(`CREATE SEQUENCE ${t.fenceSequence} AS bigint`);
				await client.query(`SELECT setval($1::regclass, COALESCE((SELECT max(fence) FROM ${t.locks}), 0) + 1, false)`, [t.fenceSequence]);
			}
			await client.query(`CREATE TABLE IF NOT EXISTS ${t.released} (
				token uuid PRIMARY KEY,
				key_hash text NOT NULL,
				released_at timestamptz NOT NULL DEFAULT clock_timestamp(),
				keep_until timestamptz NOT NULL
			)`);
			await client.query(`CREATE INDEX IF NOT EXISTS ${t.releasedIndex} ON ${t.released} (keep_until)`);
			// What a swap last wrote into each base credential: a keyed hash of the data, never the data.
			await client.query(`CREATE TABLE IF NOT EXISTS ${t.swapState} (
				credential_key text PRIMARY KEY,
				data_hmac text NOT NULL,
				credential_updated_at text NOT NULL,
				written_at timestamptz NOT NULL DEFAULT clock_timestamp()
			)`);
			await client.query(`CREATE TABLE IF NOT EXISTS ${t.audit} (
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
			await client.query(`CREATE INDEX IF NOT EXISTS "${AUDIT_TABLE}_at_idx" ON ${t.audit} (at)`);
			// Waiters' tickets (added in 0.2). UNLOGGED: no WAL, so registering and renewing a ticket
			// commits without a disk flush; after a database crash the table is empty and waiters
			// register again on their next attempt.
			await client.query(`CREATE UNLOGGED TABLE IF NOT EXISTS ${t.wait} (
				key_hash text NOT NULL,
				ticket uuid NOT NULL,
				seq bigint GENERATED ALWAYS AS IDENTITY,
				expires_at timestamptz NOT NULL,
				PRIMARY KEY (key_hash, ticket)
			)`);
			await client.query(`CREATE INDEX IF NOT EXISTS ${t.waitIndex} ON ${t.wait} (key_hash, seq)`);
			await client.query('COMMIT');
		});
	}
}

async function hasColumn(client: { query(text: string, values: unknown[]): Promise<{ rowCount: number | null }> }, table: string, column: string): Promise<boolean> {
	const found = await client.query('SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped', [table, column]);
	return (found.rowCount ?? 0) > 0;
}
