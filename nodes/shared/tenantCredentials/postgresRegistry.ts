import type { PostgresLockEngine, PostgresStoreAccess } from '../lock/PostgresLockEngine';
import { credentialIdBatch, durationMs, nonEmpty, positiveLimit } from './checks';
import type { NewTenantCredential, TenantCredentialRecord, TenantCredentialRegistry } from './registryTypes';

interface RecordRow {
	scope: string;
	name: string;
	credential_id: string;
	credential_type: string;
	tenant_id: string;
	state: 'active' | 'retiring';
	last_used_at: Date | string;
	busy_until: Date | string;
	retention_ms: string | number;
	retired_at: Date | string | null;
}

const COLUMNS = 'scope, name, credential_id, credential_type, tenant_id, state, last_used_at, busy_until, retention_ms, retired_at';

/**
 * What retire takes, by the database clock: no longer busy, and either active and unused for its
 * retention, or retiring and not claimed by a sweep (replaced by register), or claimed by a sweep
 * that did not finish within $3 ms. A claimed record was not busy when claimed and nothing makes a
 * retiring record busy again, so the busy condition only holds back replaced records.
 */
const RETIRABLE = (t: string) => `${t}.busy_until < clock_timestamp() AND (
	  (${t}.state = 'active' AND ${t}.last_used_at + ${t}.retention_ms * interval '1 millisecond' < clock_timestamp())
	  OR (${t}.state = 'retiring' AND (${t}.retired_at IS NULL OR ${t}.retired_at < clock_timestamp() - $3::float8 * interval '1 millisecond')))`;

/**
 * The registry in a table next to the lock table (`<lock table's derived name>_tenant_creds`, see
 * DDL below), created on first use. Statements go through the lock engine (its pool, attempt gate
 * and statement timeout), as ordinary work, never ahead of lock renewals.
 *
 * use and retire are each one UPDATE whose WHERE holds the conditions, so PostgreSQL's row lock
 * orders them: a use that updated a record first makes it busy (retire's re-check of the row then
 * refuses it), a retire that got there first made it `retiring` (use's re-check refuses it).
 */
export class PostgresTenantCredentialRegistry implements TenantCredentialRegistry {
	private readonly store: PostgresStoreAccess;
	private readonly table: string;
	private readonly activeIndex: string;
	private readonly usedIndex: string;
	private ready?: Promise<void>;

	constructor(engine: PostgresLockEngine) {
		this.store = engine.storeAccess();
		this.table = `"${this.store.schema}"."${this.store.derivedName}_tenant_creds"`;
		this.activeIndex = `"${this.store.derivedName}_tenant_creds_active_idx"`;
		this.usedIndex = `"${this.store.derivedName}_tenant_creds_used_idx"`;
	}

	async useTenantCredential(scope: string, name: string, busyMs: number, retentionMs: number): Promise<string | undefined> {
		const busy = durationMs('Busy time', busyMs);
		const retention = durationMs('Retention', retentionMs);
		await this.ensureReady();
		const rows = await this.store.query<{ credential_id: string }>(
			'tenant credential use',
			// One clock reading per row, taken when the row is written (after any wait for its lock).
			// busy_until never shrinks: an execution that marked it busy for longer still runs.
			`UPDATE ${this.table} t
			    SET retention_ms = $4,
			        (last_used_at, busy_until) = (SELECT n.at, GREATEST(t.busy_until, n.at + $3::float8 * interval '1 millisecond')
			                                        FROM (SELECT clock_timestamp() AS at) n)
			  WHERE t.scope = $1 AND t.name = $2 AND t.state = 'active'
			RETURNING t.credential_id`,
			[scope, name, busy, retention],
			true,
		);
		return rows[0]?.credential_id;
	}

	async registerTenantCredential(record: NewTenantCredential, busyMs: number): Promise<void> {
		const busy = durationMs('Busy time', busyMs);
		const retention = durationMs('Retention', record.retentionMs);
		for (const field of ['scope', 'name', 'credentialId', 'credentialType', 'tenantId'] as const) nonEmpty(field, record[field]);
		await this.ensureReady();
		await this.store.transaction('tenant credential register', async (client) => {
			await client.query('BEGIN');
			// Registers of one name one after another: the second one then sees (and replaces) the first,
			// instead of failing on the one-active-record-per-name index.
			await client.query("SELECT pg_advisory_xact_lock(hashtext('tenant_swap_credential:' || $1), hashtext($2))", [record.scope, record.name]);
			// Replaced, not deleted: it keeps busy_until, and the sweep deletes its credential once not busy.
			await client.query(
				`UPDATE ${this.table} SET state = 'retiring', retired_at = NULL
				  WHERE scope = $1 AND name = $2 AND state = 'active' AND credential_id <> $3`,
				[record.scope, record.name, record.credentialId],
			);
			await client.query(
				`INSERT INTO ${this.table} (${COLUMNS})
				 SELECT $1, $2, $3, $4, $5, 'active', n.at, n.at + $7::float8 * interval '1 millisecond', $6, NULL
				   FROM (SELECT clock_timestamp() AS at) n
				 ON CONFLICT (scope, credential_id) DO UPDATE SET
				        name = EXCLUDED.name, credential_type = EXCLUDED.credential_type, tenant_id = EXCLUDED.tenant_id,
				        state = 'active', last_used_at = EXCLUDED.last_used_at, busy_until = EXCLUDED.busy_until,
				        retention_ms = EXCLUDED.retention_ms, retired_at = NULL`,
				[record.scope, record.name, record.credentialId, record.credentialType, record.tenantId, retention, busy],
			);
			await client.query('COMMIT');
		});
	}

	async keepTenantCredentialsBusy(scope: string, names: string[], busyMs: number): Promise<void> {
		const busy = durationMs('Busy time', busyMs);
		const unique = [...new Set(names)];
		if (unique.length === 0) return;
		await this.ensureReady();
		await this.store.query(
			'tenant credential keep busy',
			`UPDATE ${this.table}
			    SET busy_until = GREATEST(busy_until, clock_timestamp() + $3::float8 * interval '1 millisecond')
			  WHERE scope = $1 AND name = ANY($2::text[]) AND state = 'active'`,
			[scope, unique, busy],
			true,
		);
	}

	async retireUnusedTenantCredentials(scope: string, limit: number, staleRetiringMs: number): Promise<TenantCredentialRecord[]> {
		const max = positiveLimit(limit);
		const stale = durationMs('Stale retiring time', staleRetiringMs);
		await this.ensureReady();
		// SKIP LOCKED: a record another sweep (or a use) has locked is left to it, never waited for.
		// The UPDATE checks again on the locked row (it cannot have changed since, but it costs nothing).
		const rows = await this.store.query<RecordRow>(
			'tenant credential retire',
			`WITH due AS (
			   SELECT c.credential_id FROM ${this.table} c
			    WHERE c.scope = $1 AND ${RETIRABLE('c')}
			    ORDER BY c.last_used_at LIMIT $2
			      FOR UPDATE SKIP LOCKED
			 )
			 UPDATE ${this.table} t SET state = 'retiring', retired_at = clock_timestamp()
			   FROM due
			  WHERE t.scope = $1 AND t.credential_id = due.credential_id AND ${RETIRABLE('t')}
			RETURNING ${COLUMNS.split(', ').map((column) => `t.${column}`).join(', ')}`,
			[scope, max, stale],
			true,
		);
		return rows.map(recordOf);
	}

	async forgetTenantCredential(scope: string, credentialId: string): Promise<void> {
		await this.ensureReady();
		await this.store.query('tenant credential forget', `DELETE FROM ${this.table} WHERE scope = $1 AND credential_id = $2`, [scope, credentialId]);
	}

	async knownTenantCredentialIds(scope: string, credentialIds: string[]): Promise<Set<string>> {
		const ids = credentialIdBatch(credentialIds);
		if (ids.length === 0) return new Set();
		await this.ensureReady();
		// The primary key (scope, credential_id) answers it: one index probe per ID.
		const rows = await this.store.query<{ credential_id: string }>(
			'tenant credential known',
			`SELECT credential_id FROM ${this.table} WHERE scope = $1 AND credential_id = ANY($2::text[])`,
			[scope, ids],
		);
		return new Set(rows.map((row) => row.credential_id));
	}

	async listTenantCredentials(scope: string, limit: number): Promise<TenantCredentialRecord[]> {
		const max = positiveLimit(limit);
		await this.ensureReady();
		const rows = await this.store.query<RecordRow>(
			'tenant credential list',
			`SELECT ${COLUMNS} FROM ${this.table} WHERE scope = $1 ORDER BY last_used_at DESC, credential_id LIMIT $2`,
			[scope, max],
		);
		return rows.map(recordOf);
	}

	/** Creates the table on first use, like the lock table: safe when many processes start at once. */
	private async ensureReady(): Promise<void> {
		this.ready ??= this.createTable().catch((error: unknown) => {
			this.ready = undefined;
			throw error;
		});
		await this.ready;
	}

	private async createTable(): Promise<void> {
		const found = await this.store.query<{ found: boolean }>('tenant credential table', 'SELECT to_regclass($1) IS NOT NULL AS found', [this.table]);
		if (found[0]?.found) return;
		await this.store.transaction('tenant credential table creation', async (client) => {
			await client.query('BEGIN');
			// The lock's DDL lock: serialises creators (CREATE ... IF NOT EXISTS alone races on the catalog).
			await client.query("SELECT pg_advisory_xact_lock(hashtext('tenant_swap_lock_ddl'))");
			const schemaFound = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [this.store.schema]);
			if (schemaFound.rowCount === 0) await client.query(`CREATE SCHEMA "${this.store.schema}"`);
			// Never credential data: IDs, names, types and tenant IDs only.
			await client.query(`CREATE TABLE IF NOT EXISTS ${this.table} (
				scope text NOT NULL,
				credential_id text NOT NULL,
				name text NOT NULL,
				credential_type text NOT NULL,
				tenant_id text NOT NULL,
				state text NOT NULL CHECK (state IN ('active', 'retiring')),
				last_used_at timestamptz NOT NULL,
				busy_until timestamptz NOT NULL,
				retention_ms bigint NOT NULL CHECK (retention_ms >= 0),
				retired_at timestamptz,
				PRIMARY KEY (scope, credential_id)
			)`);
			// One active record per name; a retiring one (its credential being deleted) may sit next to it.
			await client.query(`CREATE UNIQUE INDEX IF NOT EXISTS ${this.activeIndex} ON ${this.table} (scope, name) WHERE state = 'active'`);
			await client.query(`CREATE INDEX IF NOT EXISTS ${this.usedIndex} ON ${this.table} (scope, last_used_at)`);
			// The name is a hash of the lock table's: say whose it is.
			await client.query(
				`COMMENT ON TABLE ${this.table} IS ${quoteLiteral(`n8n-nodes-tenant-credential-swap: tenant credentials registry of lock table ${this.store.lockTable}`)}`,
			);
			await client.query('COMMIT');
		});
	}
}

/** The lock table's name is a validated identifier; this only has to survive the quote itself. */
function quoteLiteral(text: string): string {
	return `'${text.replace(/'/g, "''")}'`;
}

function recordOf(row: RecordRow): TenantCredentialRecord {
	return {
		scope: row.scope,
		name: row.name,
		credentialId: row.credential_id,
		credentialType: row.credential_type,
		tenantId: row.tenant_id,
		state: row.state,
		lastUsedAt: new Date(row.last_used_at),
		busyUntil: new Date(row.busy_until),
		retentionMs: Number(row.retention_ms),
		retiredAt: row.retired_at === null ? undefined : new Date(row.retired_at),
	};
}
