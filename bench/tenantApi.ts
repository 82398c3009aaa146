/**
 * Part 8: a tenant API that answers in 300 ms, called four ways on one real n8n (one stack, the same
 * one `npm run demo` starts: scripts/lib/stack.js, load through scripts/lib/load.js):
 *
 *   node      Webhook -> Run With Tenant Credential -> sub-workflow (Execute Workflow Trigger -> HTTP Request)
 *   swap      Webhook -> Tenant Credential Swap -> HTTP Request -> Release Lock (examples/multi-tenant-webhook.json)
 *   unlocked  Webhook -> HTTP PATCH of the base credential -> HTTP Request (the control; bleeds)
 *   fixed     Webhook -> HTTP Request with one fixed credential (the floor)
 *
 * plus references that locate the cost: n8n's own Execute Workflow node running the same sub-workflow
 * inline ("Define Below") with a fixed credential, the node with the sub-workflow's successful
 * executions not saved, and the node with new tenant data on every call (creates a credential each time).
 * One tenant one call after another (steady state), then 20 tenants with bounded concurrency, then
 * OAuth2 client-credentials token fetches, then where the time goes (n8n's execution records).
 * A comparison that fails is reported and the others still run.
 */
import { createHash, randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';

import { REDACTED } from '../nodes/shared/swap/credentialData';
import { loadStackLib } from './n8n';
import { percentile, summarize, type Summary } from './stats';
import { connectProfiler } from './inspector';
import { runVersus, type VersusOptions, type VersusResult, versusLines, versusTotals } from './versus';
import type { Answer, Call, Ref } from './loadTypes';

// ---------------------------------------------------------------- types of the JS helpers

interface LoadLib {
	makeCalls(count: number, tenants: number): Call[];
	fireSustained(
		url: string,
		calls: Call[],
		o: { concurrency: number; callTimeoutMs?: number; onAnswer?: (a: Answer, n: number) => void },
	): Promise<{ answers: Answer[]; wallMs: number; notStarted: number }>;
	postJson(url: string, payload: unknown, timeoutMs?: number): Promise<{ status: number; body: unknown; error?: string }>;
	describeFailures(failed: Answer[], calls: Call[]): string[];
	redactSecrets(text: string, calls: Call[]): string;
}
interface EchoService {
	url: string;
	requests: Array<{ path: string; method: string }>;
	stop(): Promise<void>;
}
interface Workflow {
	name: string;
	nodes: Array<{ name: string; type: string; parameters: Record<string, unknown>; credentials?: Record<string, Ref> }>;
	connections: Record<string, unknown>;
	settings?: Record<string, unknown>;
}
interface WorkflowsLib {
	exampleWorkflow(o: { path: string; name?: string; baseCredential: Ref; n8nApi: Ref; postgres: Ref; echoUrl: string }): Workflow;
	unlockedWorkflow(o: { name: string; path: string; kind: 'headerAuth' | 'oauth2'; baseCredential: Ref; apiUrl: string; apiKey: string; echoUrl: string }): Workflow;
	lockedWorkflow(o: { name: string; path: string; kind: 'headerAuth' | 'oauth2'; baseCredential: Ref; n8nApi: Ref; postgres: Ref; echoUrl: string }): Workflow;
	runWithTenantExampleSubWorkflow(o: { placeholder: Ref; echoUrl: string; name?: string; settings?: Record<string, unknown> }): Workflow;
	runWithTenantExampleWorkflow(o: {
		path: string;
		subWorkflowId: string;
		n8nApi: Ref;
		postgres: Ref;
		placeholder?: Ref;
		name?: string;
		options?: Record<string, unknown>;
		credentialData?: string;
	}): Workflow;
	httpCallNode(o: { name?: string; url: string; genericAuthType: string; credential: Ref }): Workflow['nodes'][number];
	chainWorkflow(o: { name: string; path: string; nodes: Array<Record<string, unknown>> }): Workflow;
}
interface Execution {
	id: string | number;
	mode?: string;
	status?: string;
	startedAt?: string;
	stoppedAt?: string;
	data?: { resultData?: { error?: { message?: string }; runData?: Record<string, Array<{ executionTime?: number; startTime?: number }>> } };
}
interface PartStack {
	postgres: { url: string };
	n8n: { baseUrl: string; apiUrl: string; apiKey: string; logFile: string };
	credentials: { n8nApi: Ref; postgres: Ref };
	timings: Record<string, number>;
	api: {
		createCredential(c: { name: string; type: string; data: Record<string, unknown> }): Promise<Ref>;
		createWorkflow(workflow: unknown): Promise<Ref>;
		deployWorkflow(workflow: unknown): Promise<Ref>;
		activateWorkflow(id: string): Promise<unknown>;
		getWorkflow(id: string): Promise<unknown>;
		getExecutions(o: { workflowId?: string; includeData?: boolean; limit?: number; status?: string }): Promise<Execution[]>;
		listCredentials(): Promise<Array<{ name: string }>>;
	};
	stop(): Promise<void>;
}

// ---------------------------------------------------------------- results

/**
 * fixed: the floor (d); executeWorkflow(NoSave): n8n's Execute Workflow node, same sub-workflow inline, fixed
 * credential (its successful sub-executions saved / not saved, as the node with / without Save Successful Sub-Executions).
 */
export type Label = 'fixed' | 'executeWorkflowNoSave' | 'executeWorkflow' | 'node' | 'nodeSaved' | 'swap' | 'unlocked' | 'nodeNewData';
export const LABELS: Label[] = ['fixed', 'executeWorkflowNoSave', 'executeWorkflow', 'node', 'nodeSaved', 'swap', 'unlocked', 'nodeNewData'];
export const TITLES: Record<Label, string> = {
	fixed: 'fixed cred (d)',
	executeWorkflowNoSave: 'Exec Wf, no save',
	executeWorkflow: 'Exec Wf, saved',
	node: 'node (a)',
	nodeSaved: 'node, saved',
	swap: 'swap (b)',
	unlocked: 'unlocked (c)',
	nodeNewData: 'node, new tenant',
};
/** The labels that run under load (nodeNewData is a one-tenant first-contact reference only). */
const CONCURRENT_LABELS: Label[] = ['fixed', 'executeWorkflowNoSave', 'executeWorkflow', 'node', 'nodeSaved', 'unlocked', 'swap'];

export interface Series {
	calls: number;
	answered: number;
	failures: number;
	/** Answered 200 with another caller's data (fixed, executeWorkflow: with anything but the fixed value). */
	bleed: number;
	executionsPerSecond: number;
	wallMs: number;
	p50: number;
	p95: number;
	p99: number;
	failureSamples: string[];
}

export interface ExecutionProfile {
	/** Parent executions read (sequential, measured calls). */
	executions: number;
	/** stoppedAt - startedAt of the parent execution, p50 ms. */
	executionMs: number;
	/** executionTime of the node that calls the tenant API (directly or through a sub-workflow), p50 ms. */
	nodeMs: number;
	nodeName: string;
	/** Sub-executions found (saved, mode integrated, inside a parent's run) and their stoppedAt - startedAt, p50 ms. */
	subExecutions: number;
	subExecutionMs?: number;
	/** The sub-workflow's HTTP Request node, p50 ms. */
	subHttpMs?: number;
	/** Per pair, p50 ms: the calling node's start -> the sub-execution's startedAt (the node's own work, n8n creating the execution). */
	nodeBeforeSubMs?: number;
	/** The same, p10 and p90 (the node reads the sub-workflow through the API at most every 5 s: a bimodal spread). */
	nodeBeforeSubP10?: number;
	nodeBeforeSubP90?: number;
	/** Per pair, p50 ms: the sub-execution's stoppedAt -> the calling node's end (n8n finishing and saving it, the node's own work after). */
	nodeAfterSubMs?: number;
	/** Per pair, p50 ms: the sub-execution's startedAt -> its first node's start (permission and policy checks, set-up). */
	subBeforeFirstNodeMs?: number;
	/** Per pair, p50 ms: the sub-execution's last node's end -> its stoppedAt. */
	subAfterLastNodeMs?: number;
	/** Bench-side latency p50 - execution p50: webhook intake, response, saving the execution, ms. */
	outsideExecutionMs?: number;
}

export interface TenantApiResult {
	delayMs: number;
	n8nStartup: Record<string, number>;
	loadAverage: Record<string, number[]>;
	errors: Partial<Record<Label | 'oauthNode' | 'oauthSwap' | 'profile' | 'apiTiming' | 'versus', string>>;
	sequential: { warmup: number; calls: number; series: Partial<Record<Label, Series & { latency: Summary }>> };
	concurrent: { calls: number; tenants: number; concurrency: number; series: Partial<Record<Label, Series>> };
	oauth: {
		calls: number;
		tenants: number;
		concurrency: number;
		node?: { firstBatch: Series; firstBatchTokens: number; secondBatch: Series; secondBatchTokens: number };
		swap?: { batch: Series; tokens: number };
	};
	profile: Partial<Record<Label, ExecutionProfile>>;
	/** p50 ms, timed from the benchmark: GET /api/v1/workflows/:id (what the node reads, cached 5 s per process). */
	apiCallP50: Record<string, number>;
	tenantCredentialsCreated: number;
	/** The node vs n8n's Execute Workflow node with the credential ID by expression (bench/versus.ts). */
	versus?: VersusResult;
}

export interface TenantApiOptions {
	delayMs: number;
	warmup: number;
	sequentialCalls: number;
	concurrentCalls: number;
	tenants: number;
	concurrency: number;
	oauthCalls: number;
	versus: VersusOptions;
	/** Only the side by side (and the node workflow it needs): the other sections are skipped. */
	versusOnly: boolean;
	/** Profile n8n's CPU over each window of the side by side (n8n started with an inspector), profiles written here. */
	profileDir?: string;
	log: (line: string) => void;
	adoptSignals?: () => void;
	stopper: { stop?: () => Promise<void> };
}

// ---------------------------------------------------------------- helpers

const NODE_NAME = 'Run With Tenant Credential';
const HTTP_NAME = 'Call Tenant API';
const EXECUTE_WORKFLOW_NAME = 'Execute Workflow';
const CALL_TIMEOUT_MS = 300_000;
const OAUTH_FIELDS = 'grantType,accessTokenUrl,clientId,clientSecret,authentication';

/** What the echo stand-in answers next to a value it saw (test/harness/echo.js digest()): sha256, 24 hex characters. */
const digest = (value: string) => createHash('sha256').update(value).digest('hex').slice(0, 24);

/**
 * Did the tenant API see `expected` in `field`? By the echo's digest of it when the echo sends one (the
 * node may redact its own tenant's data values from its output), else by the value: the node's own
 * tenant's value may arrive redacted (another tenant's would arrive in clear).
 */
function sawOwn(body: unknown, field: 'tenantSecret' | 'bearerClient', expected: string, redactedIsOwn: boolean): boolean {
	const hash = bodyField(body, `${field}Hash`);
	if (typeof hash === 'string') return hash === digest(expected);
	const seen = bodyField(body, field);
	return seen === expected || (redactedIsOwn && seen === REDACTED);
}

const bodyField = (body: unknown, field: string): unknown =>
	body && typeof body === 'object' && field in body ? (body as Record<string, unknown>)[field] : undefined;

/** `count` calls round-robin over `tenants` tenants; every tenant keeps one secret (its own API key). */
function tenantCalls(count: number, tenants: number, prefix: string): Call[] {
	const width = String(tenants).length;
	const secrets = Array.from({ length: tenants }, () => `s-${randomBytes(12).toString('hex')}`);
	return Array.from({ length: count }, (_, i) => ({ tenant: `${prefix}-${String((i % tenants) + 1).padStart(width, '0')}`, secret: secrets[i % tenants] }));
}

function seriesOf(answers: Answer[], wallMs: number, check: (a: Answer) => boolean, calls: Call[], load: LoadLib): Series {
	const failed = answers.filter((a) => a.status !== 200);
	const ok = answers.filter((a) => a.status === 200);
	const latencies = answers
		.filter((a) => a.status !== 0)
		.map((a) => a.ms)
		.sort((x, y) => x - y);
	return {
		calls: calls.length,
		answered: answers.length,
		failures: failed.length,
		bleed: ok.filter((a) => !check(a)).length,
		executionsPerSecond: answers.length / (wallMs / 1000),
		wallMs,
		p50: percentile(latencies, 50),
		p95: percentile(latencies, 95),
		p99: percentile(latencies, 99),
		failureSamples: load.describeFailures(failed, calls).slice(0, 5),
	};
}

const p50Of = (values: number[]) => (values.length ? percentile([...values].sort((a, b) => a - b), 50) : NaN);
const msOf = (e: Execution) => (e.startedAt && e.stoppedAt ? Date.parse(e.stoppedAt) - Date.parse(e.startedAt) : NaN);
const nodeTime = (e: Execution, node: string) => {
	const runs = e.data?.resultData?.runData?.[node];
	return runs ? runs.reduce((s, run) => s + (run.executionTime ?? 0), 0) : NaN;
};

type RunData = NonNullable<NonNullable<Execution['data']>['resultData']>['runData'];

/** First node start and last node end (epoch ms) of an execution, from its run data. */
function nodeSpan(runData: RunData): { first: number; last: number } | undefined {
	let first = Infinity;
	let last = -Infinity;
	for (const runs of Object.values(runData ?? {})) {
		for (const run of runs) {
			if (run.startTime === undefined) continue;
			first = Math.min(first, run.startTime);
			last = Math.max(last, run.startTime + (run.executionTime ?? 0));
		}
	}
	return Number.isFinite(first) && Number.isFinite(last) ? { first, last } : undefined;
}

/**
 * Reads the newest `count` parent executions of `workflowId` and, for the labels that run a
 * sub-workflow inline, the sub-executions n8n saved under the same workflow ID (mode "integrated"),
 * each paired with the parent whose run it lies in.
 */
async function profileOf(stack: PartStack, workflowId: string, count: number, nodeName: string, latencyP50: number): Promise<ExecutionProfile> {
	const all = await stack.api.getExecutions({ workflowId, includeData: true, limit: 4 * count + 40 });
	const parents = all.filter((e) => e.mode !== 'integrated').slice(0, count);
	const subs = all.filter((e) => e.mode === 'integrated');
	const pairs: Array<{ parent: Execution; sub: Execution }> = [];
	for (const parent of parents) {
		if (!parent.startedAt || !parent.stoppedAt) continue;
		const from = Date.parse(parent.startedAt);
		const to = Date.parse(parent.stoppedAt);
		const sub = subs.find((s) => s.startedAt && Date.parse(s.startedAt) >= from && Date.parse(s.startedAt) <= to);
		if (sub) pairs.push({ parent, sub });
	}
	const before: number[] = [];
	const after: number[] = [];
	const subBefore: number[] = [];
	const subAfter: number[] = [];
	for (const { parent, sub } of pairs) {
		const run = parent.data?.resultData?.runData?.[nodeName]?.[0];
		const subStart = sub.startedAt ? Date.parse(sub.startedAt) : NaN;
		const subStop = sub.stoppedAt ? Date.parse(sub.stoppedAt) : NaN;
		if (run?.startTime !== undefined) {
			before.push(subStart - run.startTime);
			after.push(run.startTime + (run.executionTime ?? 0) - subStop);
		}
		const span = nodeSpan(sub.data?.resultData?.runData);
		if (span) {
			subBefore.push(span.first - subStart);
			subAfter.push(subStop - span.last);
		}
	}
	const finite = (values: number[]) => values.filter(Number.isFinite);
	const executionMs = p50Of(finite(parents.map(msOf)));
	return {
		executions: parents.length,
		executionMs,
		nodeMs: p50Of(finite(parents.map((e) => nodeTime(e, nodeName)))),
		nodeName,
		subExecutions: pairs.length,
		...(pairs.length
			? {
					subExecutionMs: p50Of(finite(pairs.map((p) => msOf(p.sub)))),
					subHttpMs: p50Of(finite(pairs.map((p) => nodeTime(p.sub, HTTP_NAME)))),
					nodeBeforeSubMs: p50Of(finite(before)),
					nodeBeforeSubP10: percentile(finite(before).sort((a, b) => a - b), 10),
					nodeBeforeSubP90: percentile(finite(before).sort((a, b) => a - b), 90),
					nodeAfterSubMs: p50Of(finite(after)),
					subBeforeFirstNodeMs: p50Of(finite(subBefore)),
					subAfterLastNodeMs: p50Of(finite(subAfter)),
				}
			: {}),
		outsideExecutionMs: latencyP50 - executionMs,
	};
}

const errorText = (error: unknown) => {
	const e = error as { message?: string; body?: unknown };
	const message = e?.message ?? String(error);
	const body = e?.body === undefined ? '' : JSON.stringify(e.body).slice(0, 300);
	return body && !message.includes(body) ? `${message} ${body}` : message;
};

// ---------------------------------------------------------------- the part

export async function runTenantApiPart(repo: string, o: TenantApiOptions): Promise<TenantApiResult> {
	const stackLib = loadStackLib(repo);
	const load = require(path.join(repo, 'scripts', 'lib', 'load.js')) as LoadLib;
	const workflows = require(path.join(repo, 'test', 'harness', 'workflows.js')) as WorkflowsLib;
	const { startEchoService } = require(path.join(repo, 'test', 'harness', 'echo.js')) as {
		startEchoService(o?: { delayMs?: number }): Promise<EchoService>;
	};
	const result: TenantApiResult = {
		delayMs: o.delayMs,
		n8nStartup: {},
		loadAverage: { start: os.loadavg() },
		errors: {},
		sequential: { warmup: o.warmup, calls: o.sequentialCalls, series: {} },
		concurrent: { calls: o.concurrentCalls, tenants: o.tenants, concurrency: o.concurrency, series: {} },
		oauth: { calls: o.oauthCalls, tenants: o.tenants, concurrency: o.concurrency },
		profile: {},
		apiCallP50: {},
		tenantCredentialsCreated: 0,
	};
	const fail = (key: keyof TenantApiResult['errors'], error: unknown) => {
		const text = errorText(error);
		result.errors[key] = text;
		o.log(`${key}: FAILED ${text}`);
	};

	const slow = await startEchoService({ delayMs: o.delayMs });
	let stack: PartStack | undefined;
	try {
		// One stack for the part; it deploys its own node workflows (on the 300 ms stand-in), not the demo's pair.
		const started = (await stackLib.startStack({ log: o.log, adoptSignals: o.adoptSignals, runWithTenantExample: false, ...(o.profileDir ? { n8nEnv: { NODE_OPTIONS: '--inspect=127.0.0.1:0' } } : {}) }, o.stopper)) as unknown as PartStack;
		stack = started;
		result.n8nStartup = { ...started.timings };
		const { api } = stack;
		const { n8nApi, postgres } = stack.credentials;
		const echoUrl = slow.url;
		o.log(`n8n ${stack.n8n.baseUrl} ready; tenant API stand-in ${echoUrl} answers /echo after ${o.delayMs} ms; deploying the workflows`);

		// ------------------------------------------------------------ workflows
		const fixedValue = `fixed-${randomBytes(6).toString('hex')}`;
		const workflowIds: Partial<Record<Label, string>> = {};
		const paths: Record<Label, string> = {
			fixed: 'bench-tenant-api-fixed',
			executeWorkflowNoSave: 'bench-tenant-api-execute-workflow-no-save',
			executeWorkflow: 'bench-tenant-api-execute-workflow',
			node: 'bench-tenant-api-node',
			nodeSaved: 'bench-tenant-api-node-saved',
			swap: 'bench-tenant-api-swap',
			unlocked: 'bench-tenant-api-unlocked',
			nodeNewData: 'bench-tenant-api-node-new-data',
		};
		const deploy = async (label: Label, make: () => Promise<Workflow>) => {
			// The side by side alone needs only the node's workflow.
			if (o.versusOnly && label !== 'node') return;
			try {
				workflowIds[label] = (await api.deployWorkflow(await make())).id;
			} catch (error) {
				fail(label, error);
			}
		};
		const placeholder = await api.createCredential({ name: 'Tenant API (placeholder, bench)', type: 'httpHeaderAuth', data: { name: 'x-tenant-secret', value: 'placeholder' } });
		const fixedCredential = await api.createCredential({ name: 'Tenant API (fixed, bench)', type: 'httpHeaderAuth', data: { name: 'x-tenant-secret', value: fixedValue } });
		await deploy('fixed', async () =>
			workflows.chainWorkflow({
				name: 'Fixed credential, tenant API 300 ms (bench)',
				path: paths.fixed,
				nodes: [workflows.httpCallNode({ name: HTTP_NAME, url: `${echoUrl}/echo`, genericAuthType: 'httpHeaderAuth', credential: fixedCredential })],
			}),
		);
		for (const label of ['executeWorkflowNoSave', 'executeWorkflow'] as const) {
			await deploy(label, async () => {
				const inline = workflows.runWithTenantExampleSubWorkflow({
					placeholder: fixedCredential,
					echoUrl,
					...(label === 'executeWorkflowNoSave' ? { settings: { saveDataSuccessExecution: 'none' } } : {}),
				});
				return workflows.chainWorkflow({
					name: `Execute Workflow (Define Below), fixed credential${label === 'executeWorkflowNoSave' ? ', successful sub-executions not saved' : ''}, tenant API 300 ms (bench)`,
					path: paths[label],
					nodes: [
						{
							id: 'execute',
							name: EXECUTE_WORKFLOW_NAME,
							type: 'n8n-nodes-base.executeWorkflow',
							typeVersion: 1.2,
							parameters: { source: 'parameter', workflowJson: JSON.stringify(inline), mode: 'once', options: {} },
						},
					],
				});
			});
		}
		const subIds: { default?: string } = {};
		try {
			subIds.default = (await api.createWorkflow(workflows.runWithTenantExampleSubWorkflow({ placeholder, echoUrl, name: 'Tenant API sub-workflow (bench)' }))).id;
			// Production executions run only a published sub-workflow.
			await api.activateWorkflow(subIds.default);
		} catch (error) {
			fail('node', error);
		}
		// node and nodeNewData as shipped (successful sub-executions not saved); nodeSaved with Save Successful
		// Sub-Executions on: what saving costs, and sub-execution records to read the time split from.
		const nodeWorkflow = (label: Label, subWorkflowId: string) =>
			workflows.runWithTenantExampleWorkflow({
				path: paths[label],
				subWorkflowId,
				placeholder,
				n8nApi,
				postgres,
				name: `Run With Tenant Credential${label === 'nodeSaved' ? ', sub-executions saved' : label === 'nodeNewData' ? ', a new tenant every call' : ''}, tenant API 300 ms (bench)`,
				...(label === 'nodeSaved' ? { options: { saveSuccessfulSubExecutions: true } } : {}),
			});
		for (const label of ['node', 'nodeSaved', 'nodeNewData'] as const) {
			if (subIds.default) await deploy(label, async () => nodeWorkflow(label, subIds.default as string));
		}
		await deploy('swap', async () =>
			workflows.exampleWorkflow({
				path: paths.swap,
				name: 'Example (Tenant Credential Swap), tenant API 300 ms (bench)',
				baseCredential: await api.createCredential({ name: 'Tenant API (base, bench)', type: 'httpHeaderAuth', data: { name: 'x-tenant-secret', value: 'nobody' } }),
				n8nApi,
				postgres,
				echoUrl,
			}),
		);
		await deploy('unlocked', async () =>
			workflows.unlockedWorkflow({
				name: 'Unlocked control, tenant API 300 ms (bench)',
				path: paths.unlocked,
				kind: 'headerAuth',
				baseCredential: await api.createCredential({ name: 'Tenant API (base, unlocked, bench)', type: 'httpHeaderAuth', data: { name: 'x-tenant-secret', value: 'nobody' } }),
				apiUrl: started.n8n.apiUrl,
				apiKey: started.n8n.apiKey,
				echoUrl,
			}),
		);
		const url = (label: Label) => `${started.n8n.baseUrl}/webhook/${paths[label]}`;
		const isFixed = isFixedLabel;
		const checkFor = (label: Label) => (a: Answer) => sawOwn(a.body, 'tenantSecret', isFixed(label) ? fixedValue : a.call.secret, isNodeLabel(label));
		const ready = (label: Label) => workflowIds[label] !== undefined && result.errors[label] === undefined;

		// ------------------------------------------------------------ side by side with n8n's Execute Workflow node (issue 18)
		if (ready('node') && subIds.default) {
			try {
				const profiling = o.profileDir
					? {
							dir: o.profileDir,
							profiler: await connectProfiler(
								started.n8n.logFile,
								(require(path.join(repo, 'test', 'harness', 'install.js')) as { getPaths(): { n8nDir: string } }).getPaths().n8nDir,
							),
						}
					: undefined;
				result.versus = await runVersus(
					{
						api,
						load,
						baseUrl: started.n8n.baseUrl,
						node: { workflowId: workflowIds.node as string, path: paths.node },
						subWorkflow: workflows.runWithTenantExampleSubWorkflow({ placeholder, echoUrl }),
						sawOwn: (a) => sawOwn(a.body, 'tenantSecret', a.call.secret, true),
						log: o.log,
						profiling,
					},
					{ ...o.versus, callTimeoutMs: CALL_TIMEOUT_MS },
				);
			} catch (error) {
				fail('versus', error);
			}
		}

		if (!o.versusOnly) {
			// ------------------------------------------------------------ 1 tenant, sequential
			const steady: Call = { tenant: 'tenant-sequential', secret: `s-${randomBytes(12).toString('hex')}` };
			const active = LABELS.filter(ready);
			o.log(`1 tenant, one call after another: ${o.warmup} warm-up + ${o.sequentialCalls} measured per workflow, interleaved (${active.join(', ')})`);
			result.loadAverage.sequential = os.loadavg();
			const latencies: Partial<Record<Label, number[]>> = {};
			const answersOf: Partial<Record<Label, Answer[]>> = {};
			const seqCalls: Partial<Record<Label, Call[]>> = {};
			for (let i = 0; i < o.warmup + o.sequentialCalls; i++) {
				const order = active.map((_, j) => active[(i + j) % active.length]);
				for (const label of order) {
					// A new tenant every call (its first contact): one tenant with new data every call stops at Max Credentials per Tenant.
					const call = label === 'nodeNewData' ? { tenant: `tenant-new-${randomBytes(6).toString('hex')}`, secret: `s-${randomBytes(12).toString('hex')}` } : steady;
					const t0 = performance.now();
					const r = await load.postJson(url(label), { tenantId: call.tenant, secret: call.secret }, CALL_TIMEOUT_MS);
					const answer: Answer = { call, status: r.status, body: r.body, error: r.error, ms: performance.now() - t0 };
					if (i < o.warmup) {
						if (r.status !== 200 && i === o.warmup - 1) o.log(`  ${label}: last warm-up call answered HTTP ${r.status}`);
						continue;
					}
					(answersOf[label] ??= []).push(answer);
					(seqCalls[label] ??= []).push(call);
					if (r.status === 200) (latencies[label] ??= []).push(answer.ms);
				}
			}
			for (const label of active) {
				const answers = answersOf[label] ?? [];
				const wall = answers.reduce((s, a) => s + a.ms, 0);
				const series = seriesOf(answers, wall, checkFor(label), seqCalls[label] ?? [], load);
				result.sequential.series[label] = { ...series, latency: summarize(latencies[label] ?? []) };
			}

			// ------------------------------------------------------------ where the time goes (sequential runs)
			try {
				for (const label of active) {
					const id = workflowIds[label];
					if (!id || label === 'swap' || label === 'unlocked') continue;
					const nodeName = label === 'fixed' ? HTTP_NAME : label === 'executeWorkflow' || label === 'executeWorkflowNoSave' ? EXECUTE_WORKFLOW_NAME : NODE_NAME;
					result.profile[label] = await profileOf(stack, id, o.sequentialCalls, nodeName, result.sequential.series[label]?.latency.p50 ?? NaN);
				}
			} catch (error) {
				fail('profile', error);
			}
			try {
				const id = subIds.default;
				if (id) {
					const values: number[] = [];
					for (let i = 0; i < 20; i++) {
						const t0 = performance.now();
						await api.getWorkflow(id);
						values.push(performance.now() - t0);
					}
					result.apiCallP50['GET /workflows/:id'] = p50Of(values);
				}
			} catch (error) {
				fail('apiTiming', error);
			}

			// ------------------------------------------------------------ 20 tenants, bounded concurrency
			const batch = tenantCalls(o.concurrentCalls, o.tenants, 'tenant');
			const nodeLabels = CONCURRENT_LABELS.filter((l) => (l === 'node' || l === 'nodeSaved') && ready(l));
			if (nodeLabels.length) {
				o.log(`creating the ${o.tenants} tenants' credentials before the load (steady state): one call per tenant`);
				for (const call of batch.slice(0, o.tenants)) {
					for (const label of nodeLabels) await load.postJson(url(label), { tenantId: call.tenant, secret: call.secret }, CALL_TIMEOUT_MS);
				}
			}
			result.loadAverage.concurrent = os.loadavg();
			for (const label of CONCURRENT_LABELS.filter(ready)) {
				try {
					o.log(`${o.tenants} tenants, ${batch.length} calls, ${o.concurrency} in flight: ${label}`);
					const run = await load.fireSustained(url(label), batch, { concurrency: o.concurrency, callTimeoutMs: CALL_TIMEOUT_MS });
					result.concurrent.series[label] = seriesOf(run.answers, run.wallMs, checkFor(label), batch, load);
				} catch (error) {
					fail(label, error);
				}
			}

			// ------------------------------------------------------------ OAuth2 token fetches
			const tokenRequests = () => slow.requests.filter((r) => r.path === '/oauth/token').length;
			// bearerClient: the client a token was issued to (clientId = tenant ID).
			const oauthCheck = (a: Answer) => sawOwn(a.body, 'bearerClient', a.call.tenant, false);
			const oauthNodeCheck = (a: Answer) => sawOwn(a.body, 'bearerClient', a.call.tenant, true);
			const oauthData = `={{ { "grantType": "clientCredentials", "accessTokenUrl": "${echoUrl}/oauth/token", "clientId": $json.body.tenantId, "clientSecret": $json.body.secret, "authentication": "body" } }}`;
			const oauthBase = async (name: string) =>
				await api.createCredential({
					name,
					type: 'oAuth2Api',
					data: { grantType: 'clientCredentials', accessTokenUrl: `${echoUrl}/oauth/token`, clientId: 'nobody', clientSecret: 'x', authentication: 'body', scope: '' },
				});
			try {
				const sub = workflows.runWithTenantExampleSubWorkflow({ placeholder, echoUrl, name: 'Tenant API sub-workflow, OAuth2 (bench)' });
				const http = sub.nodes.find((n) => n.name === HTTP_NAME);
				if (!http) throw new Error('the sub-workflow example has no Call Tenant API node');
				http.parameters.genericAuthType = 'oAuth2Api';
				const oauthPlaceholder = await oauthBase('Tenant API OAuth2 (placeholder, bench)');
				http.credentials = { oAuth2Api: oauthPlaceholder };
				const subId = (await api.createWorkflow(sub)).id;
				await api.activateWorkflow(subId);
				await api.deployWorkflow(
					workflows.runWithTenantExampleWorkflow({
						path: 'bench-tenant-api-node-oauth',
						subWorkflowId: subId,
						placeholder: oauthPlaceholder,
						n8nApi,
						postgres,
						name: 'Run With Tenant Credential, OAuth2, tenant API 300 ms (bench)',
						options: { credentialType: 'oAuth2Api', allowedFields: OAUTH_FIELDS },
						credentialData: oauthData,
					}),
				);
				const oauthUrl = `${stack.n8n.baseUrl}/webhook/bench-tenant-api-node-oauth`;
				const calls = tenantCalls(o.oauthCalls, o.tenants, 'oauth-tenant');
				o.log(`OAuth2, node: ${calls.length} calls over ${o.tenants} new tenants, ${o.concurrency} in flight, twice`);
				const t0 = tokenRequests();
				const first = await load.fireSustained(oauthUrl, calls, { concurrency: o.concurrency, callTimeoutMs: CALL_TIMEOUT_MS });
				const t1 = tokenRequests();
				const second = await load.fireSustained(oauthUrl, calls, { concurrency: o.concurrency, callTimeoutMs: CALL_TIMEOUT_MS });
				const t2 = tokenRequests();
				result.oauth.node = {
					firstBatch: seriesOf(first.answers, first.wallMs, oauthNodeCheck, calls, load),
					firstBatchTokens: t1 - t0,
					secondBatch: seriesOf(second.answers, second.wallMs, oauthNodeCheck, calls, load),
					secondBatchTokens: t2 - t1,
				};
			} catch (error) {
				fail('oauthNode', error);
			}
			try {
				await api.deployWorkflow(
					workflows.lockedWorkflow({
						name: 'Tenant Credential Swap, OAuth2, tenant API 300 ms (bench)',
						path: 'bench-tenant-api-swap-oauth',
						kind: 'oauth2',
						baseCredential: await oauthBase('Tenant API OAuth2 (base, bench)'),
						n8nApi,
						postgres,
						echoUrl,
					}),
				);
				const calls = tenantCalls(o.oauthCalls, o.tenants, 'oauth-swap-tenant');
				o.log(`OAuth2, swap: ${calls.length} calls over ${o.tenants} tenants, ${o.concurrency} in flight`);
				const t0 = tokenRequests();
				const run = await load.fireSustained(`${stack.n8n.baseUrl}/webhook/bench-tenant-api-swap-oauth`, calls, { concurrency: o.concurrency, callTimeoutMs: CALL_TIMEOUT_MS });
				result.oauth.swap = { batch: seriesOf(run.answers, run.wallMs, oauthCheck, calls, load), tokens: tokenRequests() - t0 };
			} catch (error) {
				fail('oauthSwap', error);
			}

		}

		try {
			result.tenantCredentialsCreated = (await api.listCredentials()).filter((c) => String(c.name).startsWith('tenant-cred ')).length;
		} catch {
			result.tenantCredentialsCreated = NaN;
		}
		result.loadAverage.end = os.loadavg();
		return result;
	} finally {
		o.log('stopping n8n and the echo services');
		if (stack) await stack.stop();
		else if (o.stopper.stop) await o.stopper.stop().catch(() => undefined);
		await slow.stop();
	}
}

// ---------------------------------------------------------------- report

const fmtMs = (v: number | undefined) =>
	v === undefined || !Number.isFinite(v) ? '-' : Math.abs(v) < 10 ? v.toFixed(2) : Math.abs(v) < 100 ? v.toFixed(1) : v.toFixed(0);
const fmtRate = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '-' : v < 100 ? v.toFixed(1) : v.toFixed(0));
const fmtRatio = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '-' : `${v.toFixed(2)}x`);
const ratio = (a: number | undefined, b: number | undefined) =>
	a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? undefined : a / b;

export interface TenantApiTarget {
	target: string;
	value: string;
	pass: boolean | undefined;
}

export function tenantApiTargets(r: TenantApiResult | undefined): TenantApiTarget[] {
	const c = r?.concurrent.series;
	const s = r?.sequential.series;
	const node = c?.node;
	const swap = c?.swap;
	const x = ratio(node?.executionsPerSecond, swap?.executionsPerSecond);
	const seq = ratio(s?.node?.latency.p50, s?.fixed?.latency.p50);
	const versus = r?.versus ? versusTotals(r.versus) : undefined;
	const burstRatio = ratio(versus?.node.executionsPerSecond, versus?.reference.executionsPerSecond);
	const p50Gap = versus ? versus.node.sequentialP50 - versus.reference.sequentialP50 : undefined;
	const versusTargets: TenantApiTarget[] = [
		{
			target: `burst of ${r?.versus?.options.burstCalls ?? 300} over ${r?.versus?.options.tenants ?? 30} tenants: node executions/s >= 0.9x n8n's Execute Workflow node (credential ID by expression)`,
			value: versus ? `${fmtRatio(burstRatio)} (${fmtRate(versus.node.executionsPerSecond)} vs ${fmtRate(versus.reference.executionsPerSecond)}/s), failed ${versus.node.failures} vs ${versus.reference.failures}, bleed ${versus.node.bleed}` : 'failed',
			pass: burstRatio === undefined || !versus ? undefined : burstRatio >= 0.9 && versus.node.bleed === 0,
		},
		{
			target: "one call at a time: node p50 within 15 ms of n8n's Execute Workflow node",
			value: versus ? `${fmtMs(p50Gap)} ms (${fmtMs(versus.node.sequentialP50)} vs ${fmtMs(versus.reference.sequentialP50)} ms)` : 'failed',
			pass: p50Gap === undefined || !Number.isFinite(p50Gap) ? undefined : p50Gap <= 15,
		},
	];
	if (r?.versus && !r.concurrent.series.node) return versusTargets;
	return [
		...(r?.versus ? versusTargets : []),
		{
			target: `${r?.concurrent.tenants ?? 20} tenants: node executions/s >= 3x swap, 0 bleed`,
			value: node && swap ? `${fmtRatio(x)} (${fmtRate(node.executionsPerSecond)} vs ${fmtRate(swap.executionsPerSecond)}/s), bleed ${node.bleed}, failed ${node.failures}` : 'failed',
			pass: x === undefined || !node ? undefined : x >= 3 && node.bleed === 0 && node.failures === 0,
		},
		{
			target: 'sequential steady-state p50 <= 1.2x fixed credential',
			value: s?.node && s?.fixed ? `${fmtRatio(seq)} (${fmtMs(s.node.latency.p50)} vs ${fmtMs(s.fixed.latency.p50)} ms)` : 'failed',
			pass: seq === undefined ? undefined : seq <= 1.2,
		},
	];
}

export function tenantApiLines(r: TenantApiResult): string[] {
	const labels = LABELS;
	const w = Math.max(...labels.map((l) => TITLES[l].length)) + 2;
	const row = (name: string, cell: (l: Label) => string) => `${name.padEnd(30)}${labels.map((l) => cell(l).padStart(w)).join('')}`;
	const seq = r.sequential.series;
	const con = r.concurrent.series;
	const lines: string[] = [
		`8. tenant API answering in ${r.delayMs} ms, real n8n 2.40.7 (one stack): Run With Tenant Credential vs swap vs unlocked vs fixed credential`,
		row('', (l) => TITLES[l]),
		`   1 tenant, one call after another (${r.sequential.warmup} warm-up + ${r.sequential.calls} measured each, interleaved, same tenant data every call)`,
		row('     executions/s', (l) => fmtRate(seq[l]?.executionsPerSecond)),
		row('     latency p50 ms', (l) => fmtMs(seq[l]?.latency.p50)),
		row('     latency p95 ms', (l) => fmtMs(seq[l]?.p95)),
		row('     latency p99 ms', (l) => fmtMs(seq[l]?.latency.p99)),
		row('     p50 ÷ fixed credential', (l) => fmtRatio(ratio(seq[l]?.latency.p50, seq.fixed?.latency.p50))),
		row('     failures / bleed', (l) => (seq[l] ? `${seq[l]?.failures} / ${isFixedLabel(l) ? '-' : seq[l]?.bleed}` : 'FAILED')),
		`   ${r.concurrent.tenants} tenants, ${r.concurrent.calls} calls, ${r.concurrent.concurrency} in flight (load.js fireSustained; each tenant one secret; tenant credentials created before)`,
		row('     executions/s', (l) => (l === 'nodeNewData' ? '' : fmtRate(con[l]?.executionsPerSecond))),
		row('     latency p50 ms', (l) => (l === 'nodeNewData' ? '' : fmtMs(con[l]?.p50))),
		row('     latency p95 ms', (l) => (l === 'nodeNewData' ? '' : fmtMs(con[l]?.p95))),
		row('     latency p99 ms', (l) => (l === 'nodeNewData' ? '' : fmtMs(con[l]?.p99))),
		row('     executions/s ÷ swap', (l) => (l === 'nodeNewData' ? '' : fmtRatio(ratio(con[l]?.executionsPerSecond, con.swap?.executionsPerSecond)))),
		row('     failures / bleed', (l) => (l === 'nodeNewData' ? '' : con[l] ? `${con[l]?.failures} / ${isFixedLabel(l) ? '-' : con[l]?.bleed}` : 'FAILED')),
		`   "Exec Wf": n8n's Execute Workflow node running the same sub-workflow inline (Define Below) with the fixed credential: n8n's own sub-execution,`,
		`   its successful sub-executions not saved (saveDataSuccessExecution 'none', as the node by default) or saved (n8n's default).`,
		`   "node (a)", "node, new tenant": as shipped (successful sub-executions not saved); "node, saved": option Save Successful Sub-Executions on.`,
		`   "node, new tenant": a new tenant and secret every call (creates a credential each time: a tenant's first call).`,
		`   bleed: the tenant API saw another caller's secret (compared by the stand-in's digest of what it saw, as the node redacts its tenant's`,
		`   secret from its output). "-": a fixed credential cannot bleed (an answer without the fixed value would count as bleed there).`,
	];
	if (r.versus) lines.push(...versusLines(r.versus));
	for (const l of labels) {
		const f = con[l]?.failureSamples.length ? con[l]?.failureSamples : seq[l]?.failureSamples;
		if (f?.length) lines.push(`   ${l} failures: ${f.join(' | ')}`);
	}
	const oa = r.oauth;
	const per1000 = (tokens: number | undefined, calls: number | undefined) => (tokens === undefined || !calls ? '-' : `${Math.round((tokens * 1000) / calls)}`);
	lines.push(`   OAuth2 client credentials (token endpoint on the stand-in counts requests), ${oa.tenants} tenants, ${oa.concurrency} in flight:`);
	if (oa.node) {
		const n = oa.node;
		lines.push(
			`     node: first ${n.firstBatch.answered} calls (tenants new) ${n.firstBatchTokens} token fetches, next ${n.secondBatch.answered} calls ${n.secondBatchTokens}` +
				` -> per 1,000 calls: ${per1000(n.secondBatchTokens, n.secondBatch.answered)} steady, ${per1000(n.firstBatchTokens + n.secondBatchTokens, n.firstBatch.answered + n.secondBatch.answered)} over both batches;` +
				` ${fmtRate(n.firstBatch.executionsPerSecond)} / ${fmtRate(n.secondBatch.executionsPerSecond)} executions/s; failures ${n.firstBatch.failures + n.secondBatch.failures}, bleed ${n.firstBatch.bleed + n.secondBatch.bleed}`,
		);
	} else lines.push(`     node: FAILED ${r.errors.oauthNode ?? ''}`.trimEnd());
	if (oa.swap) {
		const sw = oa.swap;
		lines.push(
			`     swap: ${sw.batch.answered} calls ${sw.tokens} token fetches -> per 1,000 calls: ${per1000(sw.tokens, sw.batch.answered)};` +
				` ${fmtRate(sw.batch.executionsPerSecond)} executions/s; failures ${sw.batch.failures}, bleed ${sw.batch.bleed}`,
		);
	} else lines.push(`     swap: FAILED ${r.errors.oauthSwap ?? ''}`.trimEnd());
	lines.push(`   where the time goes, 1 tenant sequential, p50 ms (n8n's execution records: startedAt/stoppedAt, node executionTime):`);
	for (const l of labels) {
		const p = r.profile[l];
		if (!p) continue;
		const parts = [
			`execution ${fmtMs(p.executionMs)}`,
			`${p.nodeName} ${fmtMs(p.nodeMs)}`,
			p.subExecutions
				? `= before the sub-execution ${fmtMs(p.nodeBeforeSubMs)} (p10 ${fmtMs(p.nodeBeforeSubP10)}, p90 ${fmtMs(p.nodeBeforeSubP90)}) + sub-execution ${fmtMs(p.subExecutionMs)} (before its first node ${fmtMs(p.subBeforeFirstNodeMs)}, HTTP Request ${fmtMs(p.subHttpMs)}, after its last node ${fmtMs(p.subAfterLastNodeMs)}) + after it ${fmtMs(p.nodeAfterSubMs)}`
				: l === 'fixed'
					? undefined
					: 'no sub-execution saved',
			`outside the execution (webhook, response, saving) ${fmtMs(p.outsideExecutionMs)}`,
		].filter(Boolean);
		lines.push(`     ${`${TITLES[l]}:`.padEnd(19)}${parts.join('; ')} [${p.executions} executions]`);
	}
	if (Object.keys(r.apiCallP50).length) lines.push(`   n8n API call p50 ms (from the benchmark): ${Object.entries(r.apiCallP50).map(([k, v]) => `${k} ${fmtMs(v)}`).join(', ')}`);
	lines.push(`   tenant credentials (tenant-cred ...) in n8n at the end: ${r.tenantCredentialsCreated}; load average ${['start', 'sequential', 'concurrent', 'end'].map((k) => `${k} ${(r.loadAverage[k] ?? []).map((v) => v.toFixed(2)).join('/')}`).join(', ')}`);
	for (const [key, text] of Object.entries(r.errors)) lines.push(`   FAILED ${key}: ${text.split('\n')[0].slice(0, 400)}`);
	return lines;
}

const isFixedLabel = (l: Label) => l === 'fixed' || l === 'executeWorkflow' || l === 'executeWorkflowNoSave';
const isNodeLabel = (l: Label) => l === 'node' || l === 'nodeSaved' || l === 'nodeNewData';

