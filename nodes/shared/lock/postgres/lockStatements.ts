import { NOTIFY_CHANNEL } from './listener';
import type { LockTables } from './schema';

/** The lock row's columns every statement returns (see rows.ts). */
const ROW = 'token, fence, instance_id, execution_id, workflow_id, tenant_id, acquired_at, expires_at';

/**
 * The lock's SQL for one lock table. Texts are built once per engine: they are sent as prepared
 * statements, named by their text.
 */
export class LockStatements {
	readonly acquire: string;
	readonly extend: string;
	readonly releasedToken: string;
	readonly release: string;
	readonly releaseExecution: string;
	readonly withdraw: string;
	readonly holder: string;
	readonly heldLocks: string;
	readonly sweep: string;

	constructor(t: LockTables) {
		/** The oldest live ticket waiting for a key (text), or NULL. */
		const nextTicket = (keyHash: string) => `(SELECT w.ticket::text FROM ${t.wait} w
		          WHERE w.key_hash = ${keyHash} AND w.expires_at > clock_timestamp() ORDER BY w.seq LIMIT 1)`;
		// Validated identifiers (no quotes inside): safe as a literal.
		const nextFence = `nextval('${t.fenceSequence}'::regclass)`;
		// A tombstone outlives the lease it ended by an hour: an extend of that token (a renewal in
		// flight, a holder that paused) reads as released for as long as it could still be asked.
		const tombstone = (token: string) => `INSERT INTO ${t.released} (token, key_hash, keep_until)
			   SELECT ${token}, key_hash, GREATEST(expires_at, clock_timestamp()) + interval '1 hour' FROM freed
			    WHERE expires_at > clock_timestamp()
			   ON CONFLICT (token) DO NOTHING`;

		// One statement: take a free or expired row, or report the holder. A row held by anyone is not
		// free, even for the same execution (re-entry is by token, in LockClient). A key visibly held is
		// not touched: ON CONFLICT DO UPDATE would lock the row (and cost a transaction and a WAL flush)
		// even when its WHERE refuses the update.
		// Fences: a new row takes the next value of the table's sequence; a free row takes at least its
		// own fence + 1, decided under the row lock, so a value drawn before a concurrent holder's
		// never goes below it. Free rows are deleted only after FREE_ROW_GRACE_MS (see sweep): far
		// longer than a statement lives, so a new row's value is above its key's last fence.
		// The waiting registry: a free key is taken only when no older live ticket waits ($8 = our ticket,
		// NULL for one try: then every live ticket is older). Taking removes our ticket; not taking
		// registers or renews it (and sweeps expired tickets of the key). Ticket writes go to an UNLOGGED
		// table, so a failed attempt still commits without a WAL flush.
		this.acquire = `WITH cur AS (
			   SELECT ${ROW} FROM ${t.locks} WHERE key_hash = $1
			 ), ahead AS (
			   SELECT w.expires_at FROM ${t.wait} w
			    WHERE $9::boolean AND w.key_hash = $1 AND w.expires_at > clock_timestamp()
			      AND w.seq < COALESCE((SELECT m.seq FROM ${t.wait} m WHERE m.key_hash = $1 AND m.ticket = $8::uuid),
			                           9223372036854775807)
			    ORDER BY w.seq LIMIT 1
			 ), attempt AS (
			   INSERT INTO ${t.locks} AS l
			          (key_hash, lock_key, token, fence, instance_id, execution_id, workflow_id, tenant_id, acquired_at, expires_at, updated_at)
			   SELECT $1::text, $2::text, $3::uuid, ${nextFence}, $11::text, $4::text, $5::text, $6::text, clock_timestamp(),
			          clock_timestamp() + $7::float8 * interval '1 millisecond', clock_timestamp()
			    WHERE NOT EXISTS (SELECT 1 FROM cur WHERE cur.token IS NOT NULL AND cur.expires_at > clock_timestamp())
			      AND NOT EXISTS (SELECT 1 FROM ahead)
			   ON CONFLICT (key_hash) DO UPDATE SET
			          token        = EXCLUDED.token,
			          fence        = GREATEST(EXCLUDED.fence, l.fence + 1),
			          acquired_at  = EXCLUDED.acquired_at,
			          instance_id  = EXCLUDED.instance_id,
			          execution_id = EXCLUDED.execution_id,
			          workflow_id  = EXCLUDED.workflow_id,
			          tenant_id    = EXCLUDED.tenant_id,
			          expires_at   = EXCLUDED.expires_at,
			          updated_at   = clock_timestamp()
			    WHERE l.token IS NULL OR l.expires_at <= clock_timestamp()
			RETURNING ${ROW}
			 ), taken AS (
			   -- Our ticket, and tickets of the key whose waiters died (lease over).
			   DELETE FROM ${t.wait}
			    WHERE $8::uuid IS NOT NULL AND key_hash = $1 AND (ticket = $8::uuid OR expires_at <= clock_timestamp())
			      AND EXISTS (SELECT 1 FROM attempt)
			 ), swept AS (
			   DELETE FROM ${t.wait}
			    WHERE $8::uuid IS NOT NULL AND key_hash = $1 AND expires_at <= clock_timestamp() AND ticket <> $8::uuid
			      AND NOT EXISTS (SELECT 1 FROM attempt)
			 ), queued AS (
			   INSERT INTO ${t.wait} (key_hash, ticket, expires_at)
			   SELECT $1::text, $8::uuid, clock_timestamp() + $10::float8 * interval '1 millisecond'
			    WHERE $8::uuid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM attempt)
			   ON CONFLICT (key_hash, ticket) DO UPDATE SET expires_at = EXCLUDED.expires_at
			 )
			 SELECT ${ROW}, NULL::float8 AS remaining_ms, true AS acquired
			   FROM attempt
			 UNION ALL
			 SELECT cur.token, cur.fence, cur.instance_id, cur.execution_id, cur.workflow_id, cur.tenant_id, cur.acquired_at, cur.expires_at,
			        GREATEST(0, EXTRACT(EPOCH FROM
			          CASE WHEN cur.token IS NOT NULL AND cur.expires_at > clock_timestamp() THEN cur.expires_at
			               ELSE COALESCE((SELECT expires_at FROM ahead), clock_timestamp()) END - clock_timestamp()) * 1000)::float8,
			        false
			   FROM (SELECT 1) AS one LEFT JOIN cur ON true
			  WHERE NOT EXISTS (SELECT 1 FROM attempt)`;

		this.extend = `UPDATE ${t.locks}
			    SET expires_at = clock_timestamp() + $3 * interval '1 millisecond', updated_at = clock_timestamp()
			  WHERE key_hash = $1 AND token = $2 AND expires_at > clock_timestamp()
			RETURNING ${ROW}, NULL::float8 AS remaining_ms, true AS acquired`;

		/** After a failed extend: was this token released (a tombstone), or lost? */
		this.releasedToken = `SELECT 1 AS released FROM ${t.released} WHERE token = $2::uuid AND key_hash = $1`;

		// Committed without waiting for the WAL flush: a release lost in a crash only keeps the key
		// until its TTL, and the next holder's (durable) commit flushes it anyway. The message names
		// the oldest live ticket: only that waiter wakes (the others wait their turn, asleep). A live
		// lease leaves a tombstone (an expired one was lost, not released).
		this.release = `WITH s AS (SELECT set_config('synchronous_commit', 'off', true)),
			 freed AS (
			   UPDATE ${t.locks} SET token = NULL, updated_at = clock_timestamp()
			    WHERE key_hash = $1 AND token = $2
			RETURNING key_hash, acquired_at, expires_at
			 ), tombstone AS (
			   ${tombstone('$2::uuid')}
			 ), turn AS (
			   SELECT key_hash, acquired_at, expires_at, ${nextTicket('freed.key_hash')} AS next_ticket FROM freed
			 )
			 SELECT key_hash, next_ticket, pg_notify('${NOTIFY_CHANNEL}', key_hash || COALESCE(' ' || next_ticket, '')),
			        EXTRACT(EPOCH FROM clock_timestamp() - acquired_at) * 1000 AS held_ms, expires_at > clock_timestamp() AS live
			   FROM turn, s`;

		this.releaseExecution = `WITH s AS (SELECT set_config('synchronous_commit', 'off', true)),
			 old AS (
			   SELECT key_hash, token FROM ${t.locks}
			    WHERE execution_id = $1 AND instance_id IS NOT DISTINCT FROM $2 AND token IS NOT NULL
			      AND expires_at > clock_timestamp()
			      FOR UPDATE
			 ), freed AS (
			   UPDATE ${t.locks} l SET token = NULL, updated_at = clock_timestamp()
			     FROM old WHERE l.key_hash = old.key_hash AND l.token = old.token AND l.expires_at > clock_timestamp()
			RETURNING l.key_hash, l.lock_key, l.acquired_at, l.expires_at, old.token
			 ), tombstone AS (
			   ${tombstone('freed.token')}
			 ), turn AS (
			   SELECT key_hash, lock_key, acquired_at, ${nextTicket('freed.key_hash')} AS next_ticket FROM freed
			 )
			 SELECT key_hash, lock_key, next_ticket, pg_notify('${NOTIFY_CHANNEL}', key_hash || COALESCE(' ' || next_ticket, '')),
			        EXTRACT(EPOCH FROM clock_timestamp() - acquired_at) * 1000 AS held_ms
			   FROM turn, s ORDER BY lock_key`;

		// If ours was the oldest live ticket, the next one may now take a free key: name it in a message.
		// (Also when the key looks held: a release committing concurrently may have named our ticket.)
		this.withdraw = `WITH gone AS (
			   DELETE FROM ${t.wait} WHERE key_hash = $1 AND ticket = $2::uuid RETURNING seq
			 ), turn AS (
			   SELECT w.ticket::text AS ticket FROM ${t.wait} w, gone
			    WHERE w.key_hash = $1 AND w.ticket <> $2::uuid AND w.expires_at > clock_timestamp()
			      AND NOT EXISTS (SELECT 1 FROM ${t.wait} o
			                       WHERE o.key_hash = $1 AND o.seq < gone.seq AND o.expires_at > clock_timestamp())
			    ORDER BY w.seq LIMIT 1
			 )
			 SELECT pg_notify('${NOTIFY_CHANNEL}', $1 || ' ' || ticket) FROM turn`;

		this.holder = `SELECT ${ROW}, NULL::float8 AS remaining_ms, false AS acquired
			   FROM ${t.locks}
			  WHERE key_hash = $1 AND token IS NOT NULL AND expires_at > clock_timestamp()`;

		this.heldLocks = `SELECT l.lock_key, l.token, l.fence, l.instance_id, l.execution_id, l.workflow_id, l.tenant_id, l.acquired_at, l.expires_at,
			        NULL::float8 AS remaining_ms, false AS acquired,
			        (SELECT count(*) FROM ${t.wait} w WHERE w.key_hash = l.key_hash AND w.expires_at > clock_timestamp()) AS waiting
			   FROM ${t.locks} l
			  WHERE l.token IS NOT NULL AND l.expires_at > clock_timestamp()
			  ORDER BY l.acquired_at LIMIT $1`;

		// Growth: rows of keys free for longer than $1 ms (released, or a lease that ran out), tombstones
		// past their time, tickets whose waiter stopped renewing. At most $2 of each per statement;
		// rows another statement is using are skipped (SKIP LOCKED re-checks the condition on the row it
		// locks, so a row taken meanwhile stays).
		const freeFor = `((token IS NULL AND updated_at < clock_timestamp() - $1::float8 * interval '1 millisecond')
			       OR expires_at < clock_timestamp() - $1::float8 * interval '1 millisecond')`;
		this.sweep = `WITH free_rows AS (
			   DELETE FROM ${t.locks} WHERE key_hash IN (
			     SELECT key_hash FROM ${t.locks} WHERE ${freeFor} LIMIT $2 FOR UPDATE SKIP LOCKED)
			   RETURNING 1
			 ), tombstones AS (
			   DELETE FROM ${t.released} WHERE token IN (
			     SELECT token FROM ${t.released} WHERE keep_until < clock_timestamp() LIMIT $2 FOR UPDATE SKIP LOCKED)
			   RETURNING 1
			 ), tickets AS (
			   DELETE FROM ${t.wait} WHERE (key_hash, ticket) IN (
			     SELECT key_hash, ticket FROM ${t.wait} WHERE expires_at < clock_timestamp() LIMIT $2 FOR UPDATE SKIP LOCKED)
			   RETURNING 1
			 )
			 SELECT (SELECT count(*) FROM free_rows)::int AS rows, (SELECT count(*) FROM tombstones)::int AS tombstones,
			        (SELECT count(*) FROM tickets)::int AS tickets`;
	}
}
