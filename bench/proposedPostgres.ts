/**
 * A bench-only PROTOTYPE of three changes recommended for the PostgreSQL engine, so
 * `npm run bench -- --proposed` can show their effect next to the shipped engine. Not used by the
 * package. Same table, same semantics. Changes A and B are to nodes/shared/lock/PostgresLockEngine.ts,
 * change C to nodes/shared/lock/StoreLockEngine.ts (emulated here inside attempt()):
 *
 * A. attempt(): read the row first, in the same statement, and skip the INSERT ... ON CONFLICT
 *    when the row is visibly held by another execution. ON CONFLICT DO UPDATE locks the existing
 *    row even when its WHERE is false, so today every failed attempt takes the row lock, gets a
 *    transaction ID and waits for a WAL flush (fsync) at commit, and the holder's release queues
 *    behind that lock. With the check, a failed attempt is a read-only statement.
 * B. release(): commit with synchronous_commit = off (set_config(..., true) inside the statement).
 *    A release lost in a PostgreSQL crash only keeps the key held until its TTL, and any later
 *    durable commit (the next acquire) flushes it anyway; so the release need not wait for fsync,
 *    which it currently does while holding the global NOTIFY commit lock.
 * C. A new FIFO head does not ask the store while another execution of this same process holds the
 *    key (localHolders): the answer can only be "held", and this process's own release wakes it.
 *    Saves one failed round trip per contended lock.
 * E. Both statements are sent as named (prepared) statements, so PostgreSQL parses and plans each
 *    once per connection instead of on every call (pg: query({ name, text, values })).
 */
import type { Pool } from 'pg';

import { LockStoreUnavailableError } from '../nodes/shared/lock/errors';
import { hashLockKey, NOTIFY_CHANNEL, PostgresLockEngine } from '../nodes/shared/lock/PostgresLockEngine';
import type { Attempt } from '../nodes/shared/lock/StoreLockEngine';
import type { AcquireOptions, LockHandle, ReleaseOutcome } from '../nodes/shared/lock/types';

interface Row {
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
 * Change C re-checks the store at least this often while a local execution holds the key. (The real
 * change keeps the local lease's expiry next to localHolders and waits until then at most.)
 */
const LOCAL_HOLDER_RECHECK_MS = 5_000;

export class ProposedPostgresLockEngine extends PostgresLockEngine {
	private readonly tableSql: string;
	private readonly statementPrefix: string;

	constructor(
		private readonly db: Pool,
		table: string,
	) {
		super(db, { table });
		this.tableSql = `"public"."${table}"`;
		this.statementPrefix = `tsl_${hashLockKey(this.tableSql).slice(0, 16)}`;
	}

	protected async attempt(key: string, keyHash: string, token: string, options: AcquireOptions): Promise<Attempt> {
		// Change C: another execution of this process holds the key, so the store can only say "held":
		// wait for this process's own release (releasedHere wakes us) instead of asking.
		const local = this.localHolders.get(keyHash);
		if (local !== undefined && local !== options.owner.executionId) return { remainingMs: LOCAL_HOLDER_RECHECK_MS };
		const { owner, ttlMs } = options;
		const t = this.tableSql;
		const rows = await this.run<Row>(
			'attempt',
			`WITH cur AS (
			   SELECT token, fence, execution_id, workflow_id, tenant_id, acquired_at, expires_at FROM ${t} WHERE key_hash = $1
			 ), attempt AS (
			   INSERT INTO ${t} AS l
			          (key_hash, lock_key, token, fence, execution_id, workflow_id, tenant_id, acquired_at, expires_at, updated_at)
			   SELECT $1::text, $2::text, $3::uuid, 1, $4::text, $5::text, $6::text, clock_timestamp(),
			          clock_timestamp() + $7::float8 * interval '1 millisecond', clock_timestamp()
			    WHERE NOT EXISTS (SELECT 1 FROM cur WHERE cur.token IS NOT NULL AND cur.expires_at > clock_timestamp()
			                                          AND cur.execution_id IS DISTINCT FROM $4::text)
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
			        NULL::float8 AS remaining_ms, true AS acquired, token <> $3::uuid AS reentered
			   FROM attempt
			 UNION ALL
			 SELECT token, fence, execution_id, workflow_id, tenant_id, acquired_at, expires_at,
			        GREATEST(0, EXTRACT(EPOCH FROM expires_at - clock_timestamp()) * 1000)::float8, false, false
			   FROM cur
			  WHERE NOT EXISTS (SELECT 1 FROM attempt)`,
			[keyHash, key, token, owner.executionId, owner.workflowId ?? null, owner.tenantId ?? null, ttlMs],
		);
		const row = rows[0];
		if (!row) return { remainingMs: 0 };
		if (row.acquired) {
			return {
				lease: { token: String(row.token), fence: Number(row.fence), acquiredAt: row.acquired_at as Date, expiresAt: row.expires_at as Date, reentered: row.reentered },
				remainingMs: 0,
			};
		}
		// The row was seen held (or, in a race, freed and not yet visible): report the holder.
		const holder =
			row.token && row.execution_id && row.acquired_at && row.expires_at
				? {
						owner: { executionId: row.execution_id, workflowId: row.workflow_id ?? undefined, tenantId: row.tenant_id ?? undefined },
						acquiredAt: row.acquired_at,
						expiresAt: row.expires_at,
					}
				: undefined;
		return { holder, remainingMs: holder ? (row.remaining_ms ?? 0) : 0 };
	}

	async release(handle: LockHandle): Promise<ReleaseOutcome> {
		const keyHash = hashLockKey(handle.key);
		const rows = await this.run<{ held_ms: number }>(
			'release',
			`WITH s AS (SELECT set_config('synchronous_commit', 'off', true) AS v),
			 freed AS (
			   UPDATE ${this.tableSql} SET token = NULL, updated_at = clock_timestamp()
			    WHERE key_hash = $1 AND token = $2
			RETURNING key_hash, acquired_at
			 )
			 SELECT pg_notify('${NOTIFY_CHANNEL}', key_hash),
			        EXTRACT(EPOCH FROM clock_timestamp() - acquired_at) * 1000 AS held_ms
			   FROM freed, s`,
			[keyHash, handle.token],
		);
		if (!rows[0]) return { key: handle.key, status: 'lost' };
		this.releasedHere(keyHash);
		return { key: handle.key, status: 'released', heldMs: Math.round(Number(rows[0].held_ms)) };
	}

	private async run<T>(statement: string, text: string, values: unknown[]): Promise<T[]> {
		try {
			return (await this.db.query({ name: `${this.statementPrefix}_${statement}`, text, values })).rows as T[];
		} catch (error) {
			throw new LockStoreUnavailableError('bench prototype', error);
		}
	}
}
