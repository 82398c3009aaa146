/**
 * Run With Tenant Credential in queue mode: n8n main + 2 workers sharing PostgreSQL and Redis, our
 * packed package installed the panel way. Executions of the node run on both workers at once; the
 * tenant credentials (and the lock that makes each one once) must be shared by every process.
 */
import { readFileSync } from 'node:fs';

import { startE2eStack, type E2eStack, type Ref } from '../helpers/e2eStack';
import {
	describeBleed,
	digest,
	fireCalls,
	headerAuthPlaceholder,
	PLACEHOLDER_SECRET,
	redactSecrets,
	reportFailures,
	secretFor,
	seenSecret,
	tenantCredentialCounts,
	type Call,
} from '../helpers/runWithTenant';

/* eslint-disable @typescript-eslint/no-require-imports */
const { ensureRedis } = require('../harness/redis.js');
const workflows = require('../harness/workflows.js');
/* eslint-enable @typescript-eslint/no-require-imports */

jest.setTimeout(1_800_000);

let stack: E2eStack;
let n8n: any;
let api: any;
let echo: E2eStack['echo'];
let n8nApi: Ref;
let postgres: Ref;
let redis: { host: string; port: number; stop(): Promise<void> };
const RUN = Math.random().toString(36).slice(2, 8);

beforeAll(async () => {
	redis = await ensureRedis();
	stack = await startE2eStack({ mode: 'queue', workers: 2, redis: { host: redis.host, port: redis.port } });
	({ n8n, api, echo, n8nApi, postgres } = stack);
});

afterAll(async () => {
	await stack?.stop();
	await redis?.stop();
});

const TENANTS = Array.from({ length: 20 }, (_, i) => `q${String(i).padStart(2, '0')}`);
const secrets = new Map(TENANTS.map((tenant) => [tenant, secretFor(tenant, RUN)]));
/** The digest of the secret the tenant API saw (Run With Tenant Credential redacts the value itself). */
const headerSeen = seenSecret;
const expected = (call: Call) => digest(call.secret);
// 2 cores run main, two workers, PostgreSQL, Redis and this test: 50 calls in flight at a time.
const IN_FLIGHT = 50;

function calls(count: number): Call[] {
	return Array.from({ length: count }, (_, i) => {
		const tenant = TENANTS[(i * 7) % TENANTS.length];
		return { tenant, secret: secrets.get(tenant) as string };
	});
}

const ownerOf = (seen: string | undefined) => {
	if (seen === digest(PLACEHOLDER_SECRET)) return 'the placeholder credential';
	for (const [tenant, secret] of secrets) if (digest(secret) === seen) return `the secret of ${tenant}`;
	return seen === undefined ? 'nothing' : 'an unknown value';
};

/** "Worker started execution" lines per worker so far. */
const workerExecutions = (): number[] =>
	n8n.workers.map((worker: { logFile: string }) => (readFileSync(worker.logFile, 'utf8').match(/Worker started execution/g) ?? []).length);

it('control: one shared credential PATCHed without a lock bleeds across the workers', async () => {
	const shared = await headerAuthPlaceholder(api, 'shared credential (queue control)');
	await api.deployWorkflow(
		workflows.unlockedWorkflow({ name: 'queue control', path: 'rwtq-control', kind: 'headerAuth', baseCredential: shared, apiUrl: n8n.apiUrl, apiKey: n8n.apiKey, echoUrl: echo.url }),
	);
	const { failed, bled } = await fireCalls(api, 'rwtq-control', calls(100), { concurrency: IN_FLIGHT, seen: headerSeen, expected });
	process.stderr.write(`queue control: 100 calls, ${TENANTS.length} tenants: ${bled.length} bled, ${failed.length} failed\n`);
	expect(bled.length).toBeGreaterThan(0);
});

it('Run With Tenant Credential: 0 bled of 200 calls over 20 tenants, both workers ran executions, one credential per tenant', async () => {
	const placeholder = await headerAuthPlaceholder(api, 'placeholder (queue)');
	const sub = await api.createWorkflow(workflows.tenantSubWorkflow({ name: 'sub-workflow (queue)', kind: 'headerAuth', echoUrl: echo.url, credential: placeholder }));
	// Production executions run only a published sub-workflow.
	await api.activateWorkflow(sub.id);
	const workflow = await api.deployWorkflow(
		workflows.runWithTenantWorkflow({
			name: 'queue: run with tenant credential',
			path: 'rwtq',
			subWorkflowId: sub.id,
			n8nApi,
			postgres,
			kind: 'headerAuth',
			echoUrl: echo.url,
			options: { allowedFields: 'name,value', credentialType: 'httpHeaderAuth' },
		}),
	);
	const before = workerExecutions();
	const started = Date.now();
	const { failed, bled, answers } = await fireCalls(api, 'rwtq', calls(200), { concurrency: IN_FLIGHT, seen: headerSeen, expected });
	const seconds = ((Date.now() - started) / 1000).toFixed(1);
	const ran = workerExecutions().map((count, i) => count - before[i]);
	process.stderr.write(`queue Run With Tenant Credential: 200 calls, ${TENANTS.length} tenants: ${bled.length} bled, ${failed.length} failed, ${seconds} s; worker executions ${ran.join('/')}\n`);
	if (failed.length > 0) await reportFailures(api, workflow.id);
	expect(failed.map((answer) => `${answer.call.tenant}: HTTP ${answer.status} ${redactSecrets(JSON.stringify(answer.body)).slice(0, 200)}`)).toEqual([]);
	expect(describeBleed(bled, ownerOf)).toEqual([]);
	expect(answers.filter((answer) => answer.seen === digest(answer.call.secret)).length).toBe(200);
	expect(ran.every((count) => count > 0)).toBe(true);
	const counts = await tenantCredentialCounts(api);
	expect(TENANTS.filter((tenant) => counts.get(tenant) !== 1).map((tenant) => `${tenant}: ${counts.get(tenant) ?? 0} credentials`)).toEqual([]);
});
