/**
 * Queue mode: n8n main + 2 workers sharing PostgreSQL and Redis. The lock must live outside any
 * one process; executions of one base credential run on both workers at once.
 */
import { readFileSync } from 'node:fs';

/* eslint-disable @typescript-eslint/no-require-imports */
const { startN8n, packPackage } = require('../harness/n8n.js');
const { createApiClient } = require('../harness/api.js');
const { startEchoService } = require('../harness/echo.js');
const { postgresCredentialData } = require('../harness/postgres.js');
const { ensureRedis } = require('../harness/redis.js');
const workflows = require('../harness/workflows.js');
/* eslint-enable @typescript-eslint/no-require-imports */

jest.setTimeout(900_000);

type Ref = { id: string; name: string };
let n8n: any;
let api: any;
let echo: { url: string; stop(): Promise<void> };
let redis: { host: string; port: number; stop(): Promise<void> };

beforeAll(async () => {
	const tarball = await packPackage(process.cwd());
	echo = await startEchoService();
	redis = await ensureRedis();
	n8n = await startN8n({ packageTarball: tarball, db: 'postgres', mode: 'queue', workers: 2, redis: { host: redis.host, port: redis.port } });
	api = createApiClient(n8n);
});

afterAll(async () => {
	await n8n?.stop();
	await echo?.stop();
	await redis?.stop();
});

async function fire(path: string, count: number, tenants: number) {
	const answers = await Promise.all(
		Array.from({ length: count }, async (_, i) => {
			const tenant = `q${i % tenants}`;
			const secret = `queue-secret-${tenant}-${i}`;
			const response = await api.callWebhook(path, { body: { tenantId: tenant, secret } });
			return { status: response.status, ok: response.body?.tenantSecret === secret };
		}),
	);
	return { failed: answers.filter((a) => a.status !== 200).length, bled: answers.filter((a) => a.status === 200 && !a.ok).length };
}

const workerExecutions = () =>
	n8n.workers.map((worker: { logFile: string }) => (readFileSync(worker.logFile, 'utf8').match(/Worker started execution/g) ?? []).length);

it('the unlocked control bleeds across workers, the example bleeds 0 of 100, and both workers ran executions', async () => {
	const base = async (name: string): Promise<Ref> =>
		await api.createCredential({ name, type: 'httpHeaderAuth', data: { name: 'x-tenant-secret', value: 'none' } });

	await api.deployWorkflow(
		workflows.unlockedWorkflow({ name: 'queue control', path: 'queue-control', kind: 'headerAuth', baseCredential: await base('base (queue control)'), apiUrl: n8n.apiUrl, apiKey: n8n.apiKey, echoUrl: echo.url }),
	);
	const control = await fire('queue-control', 60, 10);
	expect(control.failed).toBe(0);
	expect(control.bled).toBeGreaterThan(0);

	const n8nApi = await api.createCredential({ name: 'n8n API (queue)', type: 'tenantSwapN8nApi', data: { baseUrl: n8n.apiUrl, apiKey: n8n.apiKey, allowUnauthorizedCerts: false } });
	const postgres = await api.createCredential({ name: 'Lock database (queue)', type: 'postgres', data: postgresCredentialData(process.env.TEST_DATABASE_URL as string) });
	const before = workerExecutions();
	await api.deployWorkflow(
		workflows.exampleWorkflow({ name: 'queue locked', path: 'queue-locked', baseCredential: await base('base (queue locked)'), n8nApi, postgres, echoUrl: echo.url }),
	);
	const locked = await fire('queue-locked', 100, 10);
	expect(locked).toEqual({ failed: 0, bled: 0 });
	const ran = workerExecutions().map((count: number, i: number) => count - before[i]);
	expect(ran.every((count: number) => count > 0)).toBe(true);
});
