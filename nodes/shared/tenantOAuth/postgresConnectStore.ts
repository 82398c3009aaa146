import type { PostgresLockEngine, PostgresStoreAccess } from '../lock/postgres';
import { quoteLiteral } from '../lock/postgres/schema';
import type { ConnectStorage, StoredConnection, TicketKind, TicketRedemption } from './types';

/** Expired tickets deleted (and expired payloads dropped) by each issue at most: more than one per issue, so the table shrinks back. */
export const POSTGRES_CLEANUP_BATCH = 100;

interface ConnectionRow {
	tenant_id: string;
	app_id: string;
	credential_id: string;
	credential_type: string;
	connected_at: Date | string;
}

const CONNECTION_COLUMNS = 'tenant_id, app_id, credential_id, credential_type, connected_at';

/**
 * The connect store in two tables next to the lock table (`<lock table's derived name>_connect_tickets`
 * and `..._tenant_connections`), created on first use, through the lock engine's statements (its
 * pool, attempt gate and statement timeout). Times are the database's clock.
 *
 * A ticket row: kind, SHA-256 of the token, payload (JSON; dropped when used or expired), expires_at,
 * forget_at (expires_at + grace) and used_at. Redeeming is one UPDATE whose WHERE holds "unused and
 * not expired": PostgreSQL's row lock orders concurrent redemptions, and the ones that waited
 * re-check the row a winner has marked used, so exactly one gets the payload. Each issue deletes up
 * to POSTGRES_CLEANUP_BATCH forgotten rows and drops the payload of as many expired ones.
 */
export class PostgresConnectStorage implements ConnectStorage {
	private readonly store: PostgresStoreAccess;
	private readonly tickets: string;
	private readonly connections: string;
	private readonly forgetIndex: string;
	private readonly scrubIndex: string;
	private ready?: Promise<void>;

	constructor(engine: PostgresLockEngine) {
		this.store = engine.storeAccess();
		const inSchema = (name: string) => `"${this.store.schema}"."${name}"`;
		this.tickets = inSchema(`${this.store.derivedName}_connect_tickets`);
		this.connections = inSchema(`${this.store.derivedName}_tenant_connections`);
		this.forgetIndex = `"${this.store.derivedName}_connect_tickets_forget_idx"`;
		this.scrubIndex = `"${this.store.derivedName}_connect_tickets_scrub_idx"`;
	}

	async issueTicket(kind: TicketKind, hash: string, payload: string, ttlMs: number, graceMs: number): Promise<Date> {
		await this.ensureReady();
		// One clock reading (n) for the clean-up and the new row: a row is either forgotten or scrubbed, never both.
		const rows = await this.store.query<{ expires_at: Date | string }>(
			'connect ticket issue',
			`WITH n AS (SELECT clock_timestamp() AS at),
			 forgotten AS (
			   DELETE FROM ${this.tickets} WHERE token_hash IN (
			     SELECT token_hash FROM ${this.tickets}, n WHERE forget_at <= n.at ORDER BY forget_at LIMIT $6 FOR UPDATE SKIP LOCKED)
			 ),
			 scrubbed AS (
			   UPDATE ${this.tickets} SET payload = NULL WHERE token_hash IN (
			     SELECT token_hash FROM ${this.tickets}, n WHERE payload IS NOT NULL AND expires_at <= n.at AND forget_at > n.at
			      ORDER BY expires_at LIMIT $6 FOR UPDATE SKIP LOCKED)
			 )
			 INSERT INTO ${this.tickets} (token_hash, kind, payload, expires_at, forget_at)
			 SELECT $1, $2, $3, n.at + $4::float8 * interval '1 millisecond', n.at + ($4::float8 + $5::float8) * interval '1 millisecond' FROM n
			 RETURNING expires_at`,
			[hash, kind, payload, ttlMs, graceMs, POSTGRES_CLEANUP_BATCH],
			true,
		);
		if (!rows[0]) throw new Error(`The connect ticket was not stored in ${this.tickets}`);
		return new Date(rows[0].expires_at);
	}

	async redeemTicket(kind: TicketKind, hash: string): Promise<TicketRedemption> {
		await this.ensureReady();
		// `old` locks the row and reads its payload before the UPDATE drops it (RETURNING shows new values only).
		const claimed = await this.store.query<{ payload: string | null }>(
			'connect ticket redeem',
			`UPDATE ${this.tickets} t SET used_at = clock_timestamp(), payload = NULL
			   FROM (SELECT token_hash, payload FROM ${this.tickets} WHERE token_hash = $1 AND kind = $2 FOR UPDATE) old
			  WHERE t.token_hash = old.token_hash AND t.used_at IS NULL AND t.expires_at > clock_timestamp()
			RETURNING old.payload`,
			[hash, kind],
			true,
		);
		const payload = claimed[0]?.payload;
		if (typeof payload === 'string') return { ok: true, payload };
		// Not claimed: why, for the page the tenant sees (the claim above already decided).
		const rows = await this.store.query<{ forgotten: boolean; expired: boolean; used: boolean }>(
			'connect ticket refusal',
			`SELECT forget_at <= c.at AS forgotten, expires_at <= c.at AS expired, used_at IS NOT NULL AS used
			   FROM ${this.tickets}, (SELECT clock_timestamp() AS at) c WHERE token_hash = $1 AND kind = $2`,
			[hash, kind],
			true,
		);
		const row = rows[0];
		if (!row || row.forgotten) return { ok: false, reason: 'unknown' };
		if (row.expired) return { ok: false, reason: 'expired' };
		return { ok: false, reason: row.used ? 'used' : 'unknown' };
	}

	async readConnection(tenantId: string, appId: string): Promise<StoredConnection | undefined> {
		await this.ensureReady();
		const rows = await this.store.query<ConnectionRow>(
			'tenant connection read',
			`SELECT ${CONNECTION_COLUMNS} FROM ${this.connections} WHERE app_id = $1 AND tenant_id = $2`,
			[appId, tenantId],
			true,
		);
		return rows[0] && connectionOf(rows[0]);
	}

	async writeConnection(connection: StoredConnection): Promise<void> {
		await this.ensureReady();
		await this.store.query(
			'tenant connection save',
			`INSERT INTO ${this.connections} (${CONNECTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5::timestamptz)
			 ON CONFLICT (app_id, tenant_id) DO UPDATE SET
			        credential_id = EXCLUDED.credential_id, credential_type = EXCLUDED.credential_type, connected_at = EXCLUDED.connected_at`,
			[connection.tenantId, connection.appId, connection.credentialId, connection.credentialType, new Date(connection.connectedAtMs).toISOString()],
		);
	}

	async deleteConnection(tenantId: string, appId: string): Promise<StoredConnection | undefined> {
		await this.ensureReady();
		const rows = await this.store.query<ConnectionRow>(
			'tenant connection forget',
			`DELETE FROM ${this.connections} WHERE app_id = $1 AND tenant_id = $2 RETURNING ${CONNECTION_COLUMNS}`,
			[appId, tenantId],
		);
		return rows[0] && connectionOf(rows[0]);
	}

	/** Creates the tables on first use, like the lock table: safe when many processes start at once. */
	private async ensureReady(): Promise<void> {
		this.ready ??= this.createTables().catch((error: unknown) => {
			this.ready = undefined;
			throw error;
		});
		await this.ready;
	}

	private async createTables(): Promise<void> {
		const found = await this.store.query<{ found: boolean }>(
			'connect store tables',
			`SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL AND to_regclass($3) IS NOT NULL AND to_regclass($4) IS NOT NULL AS found`,
			[this.tickets, this.connections, `"${this.store.schema}".${this.forgetIndex}`, `"${this.store.schema}".${this.scrubIndex}`],
		);
		if (found[0]?.found) return;
		await this.store.transaction('connect store table creation', async (client) => {
			await client.query('BEGIN');
			// The lock's DDL lock: serialises creators (CREATE ... IF NOT EXISTS alone races on the catalog).
			await client.query("SELECT pg_advisory_xact_lock(hashtext('tenant_swap_lock_ddl'))");
			const schemaFound = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [this.store.schema]);
			if (schemaFound.rowCount === 0) await client.query(`CREATE SCHEMA "${this.store.schema}"`);
			// Token hashes only, never tokens. The payload (target, PKCE verifier) lives until used or expired.
			await client.query(`CREATE TABLE IF NOT EXISTS ${this.tickets} (
				token_hash text PRIMARY KEY,
				kind text NOT NULL CHECK (kind IN ('link', 'auth')),
				payload text,
				expires_at timestamptz NOT NULL,
				forget_at timestamptz NOT NULL,
				used_at timestamptz
			)`);
			await client.query(`CREATE INDEX IF NOT EXISTS ${this.forgetIndex} ON ${this.tickets} (forget_at)`);
			await client.query(`CREATE INDEX IF NOT EXISTS ${this.scrubIndex} ON ${this.tickets} (expires_at) WHERE payload IS NOT NULL`);
			await client.query(`CREATE TABLE IF NOT EXISTS ${this.connections} (
				app_id text NOT NULL,
				tenant_id text NOT NULL,
				credential_id text NOT NULL,
				credential_type text NOT NULL,
				connected_at timestamptz NOT NULL,
				PRIMARY KEY (app_id, tenant_id)
			)`);
			// The names are a hash of the lock table's: say whose they are.
			for (const [table, what] of [
				[this.tickets, 'connect links and pending authorizations'],
				[this.connections, 'connected tenants'],
			]) {
				await client.query(`COMMENT ON TABLE ${table} IS ${quoteLiteral(`n8n-nodes-tenant-credential-swap: ${what} of lock table ${this.store.lockTable}`)}`);
			}
			await client.query('COMMIT');
		});
	}
}

function connectionOf(row: ConnectionRow): StoredConnection {
	return {
		tenantId: row.tenant_id,
		appId: row.app_id,
		credentialId: row.credential_id,
		credentialType: row.credential_type,
		connectedAtMs: new Date(row.connected_at).getTime(),
	};
}
