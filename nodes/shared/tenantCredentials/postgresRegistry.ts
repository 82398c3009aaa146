import { randomBytes } from 'node:crypto';

import type { PostgresLockEngine, PostgresStoreAccess } from '../lock/postgres';
import { quoteLiteral } from '../lock/postgres/schema';
import { credentialIdBatch, durationMs, nonEmpty, positiveLimit } from './checks';
import type { LiveTenantCredentialCounts, NewTenantCredential, TenantCredentialRecord, TenantCredentialRegistry } from './registryTypes';

interface RecordRow {
	scope: string;
	name: string;
	credential_id: string;
	credential_type: string;
	tenant_id: string;
	project_id: string | null;
	state: 'active' | 'retiring';
	last_used_at: Date | string;
	busy_until: Date | string;
	retention_ms: string | number;
	retired_at: Date | string | null;
}

const COLUMNS = 'scope, name, credential_id, credential_type, tenant_id, project_id, state, last_used_at, busy_until, retention_ms, retired_at';

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
	private readonly tenantIndex: string;
	/** One row per registry-wide setting: the content key (see contentKey). */
	private readonly metaTable: string;
	readonly storeIdentity: string;
	private ready?: Promise<void>;
	private key?: Promise<string>;

	constructor(engine: PostgresLockEngine) {
		this.store = engine.storeAccess();
		this.table = `"${this.store.schema}"."${this.store.derivedName}_tenant_creds"`;
		this.activeIndex = `"${this.store.derivedName}_tenant_creds_active_idx"`;
		this.usedIndex = `"${this.store.derivedName}_tenant_creds_used_idx"`;
		this.tenantIndex = `"${this.store.derivedName}_tenant_creds_tenant_idx"`;
		this.metaTable = `"${this.store.schema}"."${this.store.derivedName}_tenant_meta"`;
		this.storeIdentity = `postgres:${this.store.location}`;
	}

	async contentKey(): Promise<string> {
		this.key ??= this.readOrCreateKey().catch((error: unknown) => {
			this.key = undefined;
			throw error;
		});
		return await this.key;
	}

	private async readOrCreateKey(): Promise<string> {
		await this.ensureReady();
		// Two statements: the SELECT sees the row of a concurrent first user that the INSERT waited for.
		await this.store.query(
			'tenant credential key',
			`INSERT INTO ${this.metaTable} (key, value) VALUES ('content_key', $1) ON CONFLICT (key) DO NOTHING`,
			[randomBytes(32).toString('base64url')],
		);
		const rows = await this.store.query<{ value: string }>('tenant credential key', `SELECT value FROM ${this.metaTable} WHERE key = 'content_key'`, []);
		if (!rows[0]?.value) throw new Error(`The tenant credential registry's key is missing from ${this.metaTable}`);
		return rows[0].value;
	}

	async countLiveTenantCredentials(scope: string, tenantId: string, atMost: number): Promise<LiveTenantCredentialCounts> {
		const max = positiveLimit(atMost);
		await this.ensureReady();
		// Each count stops at `atMost` rows of an index: bounded by the limit, whatever the table holds.
		const rows = await this.store.query<{ total: string; tenant: string }>(
			'tenant credential count',
			`SELECT (SELECT count(*) FROM (SELECT 1 FROM ${this.table} WHERE scope = $1 LIMIT $3) a) AS total,
			        (SELECT count(*) FROM (SELECT 1 FROM ${this.table} WHERE scope = $1 AND tenant_id = $2 LIMIT $3) b) AS tenant`,
			[scope, tenantId, max],
			true,
		);
		return { total: Number(rows[0]?.total ?? 0), tenant: Number(rows[0]?.tenant ?? 0) };
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
				 SELECT $1, $2, $3, $4, $5, $8, 'active', n.at, n.at + $7::float8 * interval '1 millisecond', $6, NULL
				   FROM (SELECT clock_timestamp() AS at) n
				 ON CONFLICT (scope, credential_id) DO UPDATE SET
				        name = EXCLUDED.name, credential_type = EXCLUDED.credential_type, tenant_id = EXCLUDED.tenant_id, project_id = EXCLUDED.project_id,
				        state = 'active', last_used_at = EXCLUDED.last_used_at, busy_until = EXCLUDED.busy_until,
				        retention_ms = EXCLUDED.retention_ms, retired_at = NULL`,
				[record.scope, record.name, record.credentialId, record.credentialType, record.tenantId, retention, busy, record.projectId ?? null],
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

	async retireTenantCredentialsOf(scope: string, tenantId: string, limit: number): Promise<TenantCredentialRecord[]> {
		const max = positiveLimit(limit);
		nonEmpty('tenantId', tenantId);
		await this.ensureReady();
		// FOR UPDATE (not SKIP LOCKED): a record a use or a sweep holds right now is waited for, never left out.
		const rows = await this.store.query<RecordRow>(
			'tenant credential offboard',
			`WITH mine AS (
			   SELECT c.credential_id FROM ${this.table} c
			    WHERE c.scope = $1 AND c.tenant_id = $2
			    ORDER BY c.credential_id LIMIT $3
			      FOR UPDATE
			 )
			 UPDATE ${this.table} t SET state = 'retiring', retired_at = clock_timestamp()
			   FROM mine
			  WHERE t.scope = $1 AND t.credential_id = mine.credential_id
			RETURNING ${COLUMNS.split(', ').map((column) => `t.${column}`).join(', ')}`,
			[scope, tenantId, max],
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
		// Tables made before issue 16 lack project_id, the tenant index and the key table: added once here.
		const found = await this.store.query<{ found: boolean }>(
			'tenant credential table',
			`SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL AND to_regclass($3) IS NOT NULL
			        AND EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'project_id' AND NOT attisdropped) AS found`,
			[this.table, this.metaTable, `"${this.store.schema}".${this.tenantIndex}`],
		);
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
				project_id text,
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
			await client.query(`ALTER TABLE ${this.table} ADD COLUMN IF NOT EXISTS project_id text`);
			// The per-tenant limit counts a tenant's records: an index probe, not a scan of the scope.
			await client.query(`CREATE INDEX IF NOT EXISTS ${this.tenantIndex} ON ${this.table} (scope, tenant_id)`);
			// The content key: one row, written by whichever process comes first, never changed.
			await client.query(`CREATE TABLE IF NOT EXISTS ${this.metaTable} (key text PRIMARY KEY, value text NOT NULL)`);
			// The name is a hash of the lock table's: say whose it is.
			await client.query(
				`COMMENT ON TABLE ${this.table} IS ${quoteLiteral(`n8n-nodes-tenant-credential-swap: tenant credentials registry of lock table ${this.store.lockTable}`)}`,
			);
			await client.query('COMMIT');
		});
	}
}

function recordOf(row: RecordRow): TenantCredentialRecord {
	return {
		scope: row.scope,
		name: row.name,
		credentialId: row.credential_id,
		credentialType: row.credential_type,
		tenantId: row.tenant_id,
		projectId: row.project_id ?? undefined,
		state: row.state,
		lastUsedAt: new Date(row.last_used_at),
		busyUntil: new Date(row.busy_until),
		retentionMs: Number(row.retention_ms),
		retiredAt: row.retired_at === null ? undefined : new Date(row.retired_at),
	};
}
