/**
 * What the end-to-end tests share: a real n8n 2.40.7 (on PostgreSQL) running our packed package, the
 * echo service, the n8n API and lock database credentials in it, and a look into the lock table.
 */
import { Client } from 'pg';

/* eslint-disable @typescript-eslint/no-require-imports */
const { startN8n, packPackage } = require('../harness/n8n.js');
const { createApiClient } = require('../harness/api.js');
const { startEchoService } = require('../harness/echo.js');
const { postgresCredentialData } = require('../harness/postgres.js');
/* eslint-enable @typescript-eslint/no-require-imports */

export type Ref = { id: string; name: string };

export interface EchoRequest {
	path: string;
	headers: Record<string, string | string[] | undefined>;
	query?: Record<string, string>;
	/** Parsed body (JSON or form), null when empty. */
	body?: unknown;
}

export interface E2eStack {
	n8n: any;
	api: any;
	echo: { url: string; requests: EchoRequest[]; peakInFlight: number; reset(): void; stop(): Promise<void> };
	/** The "n8n API (Tenant Swap)" credential, pointing at this n8n. */
	n8nApi: Ref;
	/** The lock database (n8n's Postgres credential type) on TEST_DATABASE_URL. */
	postgres: Ref;
	stop(): Promise<void>;
}

export function testDatabaseUrl(): string {
	const url = process.env.TEST_DATABASE_URL;
	if (!url) throw new Error('TEST_DATABASE_URL is not set: the jest globalSetup should have provided it');
	return url;
}

/** Runs the e2e tests on another n8n release when set (e.g. 2.8.4); unset, the harness' default. */
function n8nVersionFromEnvironment(): Record<string, unknown> {
	const version = process.env.TENANT_SWAP_E2E_N8N_VERSION;
	return version ? { n8nVersion: version } : {};
}

/** n8n on PostgreSQL (on SQLite n8n 2.40.7 ran concurrent webhook executions one at a time, hiding bleed). */
export async function startE2eStack(n8nOptions: Record<string, unknown> = {}): Promise<E2eStack> {
	const tarball = await packPackage(process.cwd());
	const echo = await startEchoService();
	let n8n: any;
	try {
		n8n = await startN8n({ packageTarball: tarball, db: 'postgres', ...n8nVersionFromEnvironment(), ...n8nOptions });
		const api = createApiClient(n8n);
		const n8nApiCredential = { name: 'n8n API (tenant swap)', type: 'tenantSwapN8nApi', data: { baseUrl: n8n.apiUrl, apiKey: n8n.apiKey, allowUnauthorizedCerts: false } };
		// n8n 2.8 to 2.20 refuse it without allowedHttpRequestDomains (their schema, see scripts/test-versions.js).
		const n8nApi = await api.createCredential(n8nApiCredential).catch(async (error: { status?: number }) => {
			if (error?.status !== 400) throw error;
			return await api.createCredential({ ...n8nApiCredential, data: { ...n8nApiCredential.data, allowedHttpRequestDomains: 'all' } });
		});
		const postgres = await api.createCredential({ name: 'Lock database', type: 'postgres', data: postgresCredentialData(testDatabaseUrl()) });
		return {
			n8n,
			api,
			echo,
			n8nApi,
			postgres,
			stop: async () => {
				await n8n?.stop();
				await echo.stop();
			},
		};
	} catch (error) {
		await n8n?.stop();
		await echo.stop();
		throw error;
	}
}

/** A Header Auth credential for the nodes to use as the base credential. */
export async function headerAuthBase(api: any, name: string): Promise<Ref> {
	return await api.createCredential({ name, type: 'httpHeaderAuth', data: { name: 'x-tenant-secret', value: 'none' } });
}

/** Execution holding the base credential's lock in the default lock table now (by the database's clock), if any. */
export async function lockHolder(baseCredentialId: string): Promise<string | null> {
	const client = new Client({ connectionString: testDatabaseUrl() });
	await client.connect();
	try {
		const { rows } = await client.query(
			'SELECT execution_id FROM public.tenant_swap_locks WHERE lock_key = $1 AND token IS NOT NULL AND expires_at > clock_timestamp()',
			[`credential:${baseCredentialId}`],
		);
		return rows[0]?.execution_id ?? null;
	} finally {
		await client.end();
	}
}

/** True once `check` holds, false after `limitMs` (a liveness bound, not a speed claim). */
export async function waitUntil(check: () => Promise<boolean> | boolean, limitMs: number): Promise<boolean> {
	const giveUp = Date.now() + limitMs;
	while (Date.now() < giveUp) {
		if (await check()) return true;
		await new Promise((resolve) => setTimeout(resolve, 250));
	}
	return false;
}
