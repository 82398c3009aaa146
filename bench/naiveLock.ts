import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';

/**
 * The naive lock the project's seeds describe, as a baseline for the benchmark only: a lock table,
 * `INSERT ... ON CONFLICT (key) DO UPDATE ... WHERE expires_at < now()` to take a free or expired
 * row, a retry every 100 ms while it is held, and a DELETE to release. No queue, no wake-up, no fence.
 */
export class NaiveLock {
	constructor(
		private readonly pool: Pool,
		private readonly table = 'bench_naive_locks',
		private readonly retryMs = 100,
	) {
		if (!/^[a-z_][a-z0-9_]{0,62}$/.test(table)) throw new Error(`bad table name ${table}`);
	}

	async ensureTable(): Promise<void> {
		await this.pool.query(
			`CREATE TABLE IF NOT EXISTS ${this.table} (key text PRIMARY KEY, token uuid NOT NULL, expires_at timestamptz NOT NULL)`,
		);
	}

	async dropTable(): Promise<void> {
		await this.pool.query(`DROP TABLE IF EXISTS ${this.table}`);
	}

	/** Tries at once, then every `retryMs` until `waitTimeoutMs` has passed (a bounded loop). */
	async acquire(key: string, ttlMs: number, waitTimeoutMs: number): Promise<{ key: string; token: string }> {
		const token = randomUUID();
		const maxAttempts = Math.floor(waitTimeoutMs / this.retryMs) + 1;
		for (let attempt = 0; attempt < maxAttempts; attempt++) {
			const result = await this.pool.query(
				`INSERT INTO ${this.table} AS l (key, token, expires_at)
				 VALUES ($1, $2, now() + $3 * interval '1 millisecond')
				 ON CONFLICT (key) DO UPDATE SET token = EXCLUDED.token, expires_at = EXCLUDED.expires_at
				  WHERE l.expires_at < now()
				 RETURNING token`,
				[key, token, ttlMs],
			);
			if (result.rowCount) return { key, token };
			if (attempt + 1 < maxAttempts) await new Promise((resolve) => setTimeout(resolve, this.retryMs));
		}
		throw new Error(`naive lock: timed out after ${waitTimeoutMs} ms waiting for ${key}`);
	}

	async release(handle: { key: string; token: string }): Promise<void> {
		await this.pool.query(`DELETE FROM ${this.table} WHERE key = $1 AND token = $2`, [handle.key, handle.token]);
	}
}
