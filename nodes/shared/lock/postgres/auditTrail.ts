import type { AuditEvent, AuditTrail } from '../types';
import type { LockSchema } from './schema';
import type { PostgresStatements } from './statements';

/** Rows of the audit table older than this are deleted (Redis caps its audit list instead). */
export const AUDIT_RETENTION_DAYS = 30;
/** Audit retention runs at most this often per trail, in the background after an audit write. */
const AUDIT_PRUNE_EVERY_MS = 60 * 60 * 1000;
/** Rows deleted per statement (and statements per run): a large backlog is removed in steps. */
const AUDIT_PRUNE_BATCH = 10_000;
const AUDIT_PRUNE_MAX_BATCHES = 100;

const COLUMNS = ['lock_table', 'action', 'outcome', 'execution_id', 'workflow_id', 'tenant_id', 'base_credential_id', 'lock_key', 'waited_ms', 'held_ms', 'detail'];

/** The audit trail in one table per schema (its lock_table column names the lock table), with retention. */
export class PostgresAuditTrail implements AuditTrail {
	private lastPrune = Number.NEGATIVE_INFINITY;
	/** The running clean-up, if any (tests and close() wait for it). */
	auditPrune?: Promise<void>;
	private closed = false;

	constructor(
		private readonly statements: PostgresStatements,
		private readonly schema: LockSchema,
		private readonly retentionDays = AUDIT_RETENTION_DAYS,
	) {}

	/** One INSERT for all of a node run's events. */
	async audit(events: AuditEvent[]): Promise<void> {
		if (events.length === 0) return;
		await this.schema.ensureReady();
		const values: unknown[] = [];
		const rows = events.map((event) => {
			const row = [this.schema.tables.table, event.action, event.outcome, event.executionId, event.workflowId ?? null, event.tenantId ?? null, event.baseCredentialId ?? null, event.lockKey ?? null, roundOrNull(event.waitedMs), roundOrNull(event.heldMs), event.detail?.slice(0, 2000) ?? null];
			const placeholders = row.map((value) => {
				values.push(value);
				return `$${values.length}`;
			});
			return `(${placeholders.join(', ')})`;
		});
		await this.statements.query('write audit', `INSERT INTO ${this.schema.tables.audit} (${COLUMNS.join(', ')}) VALUES ${rows.join(', ')}`, values);
		this.pruneNow();
	}

	/**
	 * Retention: rows older than retentionDays go, at most once an hour per trail, in the background
	 * (the audit write that triggers it does not wait), in batches so a large backlog never makes
	 * one long statement.
	 */
	private pruneNow(): void {
		const now = performance.now();
		if (this.auditPrune || now - this.lastPrune < AUDIT_PRUNE_EVERY_MS) return;
		this.lastPrune = now;
		const table = this.schema.tables.audit;
		this.auditPrune = (async () => {
			for (let batch = 0; batch < AUDIT_PRUNE_MAX_BATCHES && !this.closed; batch++) {
				const deleted = await this.statements.query<{ id: string }>(
					'prune audit',
					`DELETE FROM ${table} WHERE id IN (
					   SELECT id FROM ${table} WHERE at < clock_timestamp() - $1 * interval '1 day' ORDER BY at LIMIT $2)
					 RETURNING id`,
					[this.retentionDays, AUDIT_PRUNE_BATCH],
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

	async close(): Promise<void> {
		this.closed = true;
		await this.auditPrune;
	}
}

function roundOrNull(value: number | undefined): number | null {
	return value === undefined || !Number.isFinite(value) ? null : Math.round(value);
}
