/**
 * Part 7: the example workflow (locked) against the unlocked control on a real n8n, through the
 * same stack and load helpers as `npm run demo` (scripts/lib/stack.js, scripts/lib/load.js).
 */
import path from 'node:path';

import { summarize, type Summary } from './stats';
import type { Answer, Call, Ref } from './loadTypes';

interface LoadSummary {
	calls: number;
	failures: number;
	bleed: number;
	perSecond: number;
	wallMs: number;
	p50: number;
	p95: number;
	p99: number;
	failed: Answer[];
}
interface LoadLib {
	makeCalls(count: number, tenants: number): Call[];
	fire(url: string, calls: Call[], onProgress?: (answered: number) => void): Promise<{ answers: Answer[]; wallMs: number }>;
	summarize(run: { answers: Answer[]; wallMs: number }): LoadSummary;
	postJson(url: string, payload: unknown): Promise<{ status: number; body: unknown; error?: string }>;
	seenSecret(body: unknown): unknown;
	describeFailures(failed: Answer[], calls: Call[]): string[];
}
interface Execution {
	startedAt?: string;
	stoppedAt?: string;
	status?: string;
	data?: { resultData?: { runData?: Record<string, Array<{ executionTime?: number }>> } };
}
export interface Stack {
	postgres: { url: string; embedded: boolean };
	echo: { url: string };
	credentials: { n8nApi: Ref; postgres: Ref; lockedBase: Ref; controlBase: Ref };
	n8n: { baseUrl: string };
	paths: { example: string; control: string };
	workflows: { example: Ref; control: Ref };
	timings: Record<string, number>;
	api: {
		deployWorkflow(workflow: unknown): Promise<Ref>;
		getCredential(id: string): Promise<unknown>;
		createCredential(c: { name: string; type: string; data: Record<string, unknown> }): Promise<Ref>;
		deleteCredential(id: string): Promise<unknown>;
		updateCredential(id: string, patch: { data?: Record<string, unknown> }): Promise<unknown>;
		getExecutions(o: { workflowId?: string; includeData?: boolean; limit?: number; status?: string }): Promise<Execution[]>;
	};
	countTemporaryCredentials(): Promise<{ temporaryCredentials: number }>;
	stop(): Promise<void>;
}
export interface StackLib {
	startStack(
		o: { log: (line: string) => void; adoptSignals?: () => void; runWithTenantExample?: boolean; n8nEnv?: Record<string, string> },
		stopper?: { stop?: () => Promise<void> },
	): Promise<Stack>;
	takeOverSignals(onSignal: (signal: NodeJS.Signals) => Promise<void>): { adopt: () => void; signalled: () => boolean };
}

export function loadStackLib(repo: string): StackLib {
	return require(path.join(repo, 'scripts', 'lib', 'stack.js')) as StackLib;
}

function loadLoadLib(repo: string): LoadLib {
	return require(path.join(repo, 'scripts', 'lib', 'load.js')) as LoadLib;
}

export interface SequentialSeries {
	calls: number;
	failures: number;
	bleed: number;
	/** Calls one after another: 1000 / mean latency. */
	executionsPerSecond: number;
	latency: Summary;
}

export interface ConcurrentRun {
	calls: number;
	tenants: number;
	failures: number;
	bleed: number;
	executionsPerSecond: number;
	wallMs: number;
	p50: number;
	p95: number;
	p99: number;
	failureSamples: string[];
}

type Label = 'control' | 'locked' | 'lockedWithTemporary' | 'lockedSameData';

export interface N8nResult {
	n8nStartup: Record<string, number>;
	/**
	 * lockedWithTemporary: the example with the Swap node's "Validate With Temporary Credential" on
	 * (off by default; same lock): what n8n's own check of new data costs.
	 */
	/** lockedSameData: the example on its own base credential, every call with the same tenant and secret (Skip Unchanged Data). */
	sequential: {
		control: SequentialSeries;
		locked: SequentialSeries;
		lockedWithTemporary: SequentialSeries;
		lockedSameData: SequentialSeries;
		p50OverheadPct: number;
		p50OverheadWithTemporaryPct: number;
		p50OverheadSameDataPct: number;
	};
	concurrent: { control: ConcurrentRun; locked: ConcurrentRun; temporaryCredentialsLeft: number };
	/** Mean time per node of the sequential executions, from n8n's own execution data, ms. */
	nodeProfile: Record<Label, Record<string, number>> & { executionMs: Record<Label, number> };
	/**
	 * p50 ms of the n8n public API calls the Swap node makes, timed from the benchmark (same n8n,
	 * same loopback): GET credential, POST + DELETE of the temporary credential, PATCH of the base.
	 */
	apiCallP50: Record<string, number>;
}

function nodeProfile(executions: Execution[]): { perNode: Record<string, number>; executionMs: number } {
	const sums: Record<string, number> = {};
	let counted = 0;
	const totals: number[] = [];
	for (const execution of executions) {
		const runData = execution.data?.resultData?.runData;
		if (!runData) continue;
		counted += 1;
		for (const [node, runs] of Object.entries(runData)) {
			sums[node] = (sums[node] ?? 0) + runs.reduce((s, run) => s + (run.executionTime ?? 0), 0);
		}
		if (execution.startedAt && execution.stoppedAt) totals.push(Date.parse(execution.stoppedAt) - Date.parse(execution.startedAt));
	}
	const perNode: Record<string, number> = {};
	for (const [node, sum] of Object.entries(sums)) perNode[node] = counted ? sum / counted : NaN;
	return { perNode, executionMs: summarize(totals).mean };
}

/**
 * Starts the demo stack (its PostgreSQL is the benchmark's when TEST_DATABASE_URL points there),
 * warms both workflows up, then: `sequentialCalls` calls to each, one after another and interleaved
 * (control, locked, locked, control, ...) so drift hits both alike; then `concurrentCalls` at once
 * over `tenants` tenants, control first, as `npm run demo` does.
 */
export async function runN8nPart(
	repo: string,
	o: { sequentialCalls: number; concurrentCalls: number; tenants: number; log: (line: string) => void; adoptSignals?: () => void; stopper: { stop?: () => Promise<void> } },
): Promise<N8nResult> {
	const stackLib = loadStackLib(repo);
	const load = loadLoadLib(repo);
	// Part 7 measures the example and the control only (part 8 deploys its own Run With Tenant Credential workflows).
	const stack = await stackLib.startStack({ log: o.log, adoptSignals: o.adoptSignals, runWithTenantExample: false }, o.stopper);
	try {
		const workflows = require(path.join(repo, 'test', 'harness', 'workflows.js')) as {
			exampleWorkflow(o: Record<string, unknown>): { nodes: Array<{ name: string; parameters: { options: Record<string, unknown> } }> };
		};
		const variant = workflows.exampleWorkflow({
			path: 'tenant-call-with-temporary',
			name: 'Example, Validate With Temporary Credential on (bench)',
			baseCredential: stack.credentials.lockedBase,
			n8nApi: stack.credentials.n8nApi,
			postgres: stack.credentials.postgres,
			echoUrl: stack.echo.url,
		});
		const swapNode = variant.nodes.find((node) => node.name === 'Tenant Credential Swap');
		if (!swapNode) throw new Error('the example has no Tenant Credential Swap node');
		swapNode.parameters.options.validateWithTemporaryCredential = true;
		const variantWorkflow = await stack.api.deployWorkflow(variant);
		const sameDataBase = await stack.api.createCredential({ name: 'base (bench, same data)', type: 'httpHeaderAuth', data: { name: 'x-tenant-secret', value: 'none' } });
		const sameDataWorkflow = await stack.api.deployWorkflow(
			workflows.exampleWorkflow({
				path: 'tenant-call-same-data',
				name: 'Example, same tenant data every call (bench)',
				baseCredential: sameDataBase,
				n8nApi: stack.credentials.n8nApi,
				postgres: stack.credentials.postgres,
				echoUrl: stack.echo.url,
			}),
		);
		const steady = load.makeCalls(1, 1)[0];
		const urls: Record<Label, string> = {
			control: `${stack.n8n.baseUrl}/webhook/${stack.paths.control}`,
			locked: `${stack.n8n.baseUrl}/webhook/${stack.paths.example}`,
			lockedWithTemporary: `${stack.n8n.baseUrl}/webhook/tenant-call-with-temporary`,
			lockedSameData: `${stack.n8n.baseUrl}/webhook/tenant-call-same-data`,
		};
		const labels: Label[] = ['control', 'locked', 'lockedWithTemporary', 'lockedSameData'];
		o.log(`n8n ${stack.n8n.baseUrl} ready; warming the workflows up`);
		for (const label of labels) {
			for (const call of load.makeCalls(3, 1)) {
				const answer = await load.postJson(urls[label], { tenantId: call.tenant, secret: call.secret });
				if (answer.status !== 200 || load.seenSecret(answer.body) !== call.secret) {
					throw new Error(`${label} warm-up call failed: HTTP ${answer.status} ${answer.error ?? ''}`.trim());
				}
			}
		}

		o.log(`no contention: ${o.sequentialCalls} calls to each workflow, one after another`);
		const latencies: Record<Label, number[]> = { control: [], locked: [], lockedWithTemporary: [], lockedSameData: [] };
		const failures: Record<Label, number> = { control: 0, locked: 0, lockedWithTemporary: 0, lockedSameData: 0 };
		const bleed: Record<Label, number> = { control: 0, locked: 0, lockedWithTemporary: 0, lockedSameData: 0 };
		const calls = load.makeCalls(o.sequentialCalls * labels.length, o.tenants);
		for (let i = 0; i < o.sequentialCalls; i++) {
			// Rotate the order, so no workflow always runs first or last in a round.
			const order = labels.map((_, j) => labels[(i + j) % labels.length]);
			for (const [j, label] of order.entries()) {
				const call = label === 'lockedSameData' ? steady : calls[i * labels.length + j];
				const t0 = performance.now();
				const answer = await load.postJson(urls[label], { tenantId: call.tenant, secret: call.secret });
				const ms = performance.now() - t0;
				if (answer.status !== 200) failures[label] += 1;
				else {
					latencies[label].push(ms);
					if (load.seenSecret(answer.body) !== call.secret) bleed[label] += 1;
				}
			}
		}
		const series = (label: Label): SequentialSeries => {
			const latency = summarize(latencies[label]);
			return {
				calls: o.sequentialCalls,
				failures: failures[label],
				bleed: bleed[label],
				executionsPerSecond: 1000 / latency.mean,
				latency,
			};
		};
		const control = series('control');
		const locked = series('locked');
		const lockedWithTemporary = series('lockedWithTemporary');
		const lockedSameData = series('lockedSameData');
		const workflowIds: Record<Label, string> = {
			control: stack.workflows.control.id,
			locked: stack.workflows.example.id,
			lockedWithTemporary: variantWorkflow.id,
			lockedSameData: sameDataWorkflow.id,
		};
		const profiles = await Promise.all(
			labels.map(async (label) => nodeProfile(await stack.api.getExecutions({ workflowId: workflowIds[label], includeData: true, limit: o.sequentialCalls }))),
		);

		o.log('timing the n8n API calls the Swap node makes');
		const apiCallP50: Record<string, number> = {};
		const timeCall = async (name: string, fn: () => Promise<unknown>, n = 20) => {
			const values: number[] = [];
			for (let i = 0; i < n; i++) {
				const t0 = performance.now();
				await fn();
				values.push(performance.now() - t0);
			}
			apiCallP50[name] = summarize(values).p50;
		};
		await timeCall('GET /credentials/:id', () => stack.api.getCredential(stack.credentials.controlBase.id));
		const temporary: string[] = [];
		await timeCall('POST /credentials (temporary)', async () => {
			temporary.push((await stack.api.createCredential({ name: `bench tmp ${temporary.length}`, type: 'httpHeaderAuth', data: { name: 'x-tenant-secret', value: 'bench' } })).id);
		});
		let next = 0;
		await timeCall('DELETE /credentials/:id (temporary)', () => stack.api.deleteCredential(temporary[next++]), temporary.length);
		await timeCall('PATCH /credentials/:id', () => stack.api.updateCredential(stack.credentials.controlBase.id, { data: { name: 'x-tenant-secret', value: 'bench' } }));

		const concurrent = async (label: 'control' | 'locked'): Promise<ConcurrentRun> => {
			const batch = load.makeCalls(o.concurrentCalls, o.tenants);
			o.log(`contention: ${batch.length} calls at once over ${o.tenants} tenants to the ${label} workflow`);
			const run = await load.fire(urls[label], batch);
			const s = load.summarize(run);
			return {
				calls: s.calls,
				tenants: o.tenants,
				failures: s.failures,
				bleed: s.bleed,
				executionsPerSecond: s.perSecond,
				wallMs: s.wallMs,
				p50: s.p50,
				p95: s.p95,
				p99: s.p99,
				failureSamples: load.describeFailures(s.failed, batch).slice(0, 5),
			};
		};
		const concurrentControl = await concurrent('control');
		const concurrentLocked = await concurrent('locked');
		const left = await stack.countTemporaryCredentials();
		return {
			n8nStartup: { ...stack.timings },
			apiCallP50,
			sequential: {
				control,
				locked,
				lockedWithTemporary,
				lockedSameData,
				p50OverheadPct: (locked.latency.p50 / control.latency.p50 - 1) * 100,
				p50OverheadWithTemporaryPct: (lockedWithTemporary.latency.p50 / control.latency.p50 - 1) * 100,
				p50OverheadSameDataPct: (lockedSameData.latency.p50 / control.latency.p50 - 1) * 100,
			},
			concurrent: { control: concurrentControl, locked: concurrentLocked, temporaryCredentialsLeft: left.temporaryCredentials },
			nodeProfile: {
				control: profiles[0].perNode,
				locked: profiles[1].perNode,
				lockedWithTemporary: profiles[2].perNode,
				lockedSameData: profiles[3].perNode,
				executionMs: {
					control: profiles[0].executionMs,
					locked: profiles[1].executionMs,
					lockedWithTemporary: profiles[2].executionMs,
					lockedSameData: profiles[3].executionMs,
				},
			},
		};
	} finally {
		o.log('stopping n8n and the echo service');
		await stack.stop();
	}
}
