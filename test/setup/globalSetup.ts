// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ensurePostgres } = require('../harness/postgres.js');

/**
 * Finds a PostgreSQL for the tests (TEST_DATABASE_URL, the PG* variables, or a throwaway
 * embedded server) and hands its URL to every test through TEST_DATABASE_URL.
 */
export default async function globalSetup(): Promise<void> {
	const postgres = await ensurePostgres({ onProgress: (line: string) => process.stderr.write(`[tests] ${line}\n`) });
	process.env.TEST_DATABASE_URL = postgres.url;
	(globalThis as { __testPostgres?: { stop(): Promise<void> } }).__testPostgres = postgres;
}
