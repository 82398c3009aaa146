import type { SwapState, SwapStateStore } from '../types';
import type { LockSchema } from './schema';
import type { PostgresStatements } from './statements';

/** What a swap last wrote into each base credential (a keyed hash, never the data), in a table next to the locks. */
export class PostgresSwapStateStore implements SwapStateStore {
	constructor(
		private readonly statements: PostgresStatements,
		private readonly schema: LockSchema,
	) {}

	async readSwapState(credentialKey: string): Promise<SwapState | undefined> {
		await this.schema.ensureReady();
		const rows = await this.statements.query<{ data_hmac: string; credential_updated_at: string }>(
			'read swap state',
			`SELECT data_hmac, credential_updated_at FROM ${this.schema.tables.swapState} WHERE credential_key = $1`,
			[credentialKey],
		);
		return rows[0] ? { dataHmac: rows[0].data_hmac, credentialUpdatedAt: rows[0].credential_updated_at } : undefined;
	}

	async writeSwapState(credentialKey: string, state: SwapState | undefined): Promise<void> {
		await this.schema.ensureReady();
		const table = this.schema.tables.swapState;
		if (!state) {
			await this.statements.query('write swap state', `DELETE FROM ${table} WHERE credential_key = $1`, [credentialKey]);
			return;
		}
		await this.statements.query(
			'write swap state',
			`INSERT INTO ${table} (credential_key, data_hmac, credential_updated_at) VALUES ($1, $2, $3)
			 ON CONFLICT (credential_key) DO UPDATE
			   SET data_hmac = EXCLUDED.data_hmac, credential_updated_at = EXCLUDED.credential_updated_at, written_at = clock_timestamp()`,
			[credentialKey, state.dataHmac, state.credentialUpdatedAt],
		);
	}
}
