/**
 * Part 8, side by side (issue 18, "Fast"): Run With Tenant Credential against n8n's own Execute Workflow
 * node whose inline ("Define Below") sub-workflow gets the tenant's credential ID from an expression,
 * per call. Same n8n, same tenant API stand-in, same sub-workflow (Execute Workflow Trigger -> HTTP
 * Request, successful sub-executions not saved on both sides), every tenant's credential made before.
 * Alternating rounds: (a) a burst, every call at once over the tenants; (b) one call at a time, the two
 * sides interleaved call by call. Failed executions' stored errors are read after every burst.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';

import fs from 'node:fs';
import path from 'node:path';

import { chargeProfile, type Profile } from './cpuProfile';
import type { Profiler } from './inspector';
import { percentile } from './stats';
import type { Answer, Call, Ref } from './loadTypes';

interface Execution {
	id: string | number;
	status?: string;
	startedAt?: string;
	stoppedAt?: string;
	data?: {
		resultData?: {
			error?: { message?: string; description?: string };
			lastNodeExecuted?: string;
			runData?: Record<string, Array<{ executionTime?: number }>>;
		};
	};
}
export interface VersusContext {
	api: {
		createCredential(c: { name: string; type: string; data: Record<string, unknown> }): Promise<Ref>;
		deployWorkflow(workflow: unknown): Promise<Ref>;
		getExecutions(o: { workflowId?: string; includeData?: boolean; limit?: number; status?: string }): Promise<Execution[]>;
	};
	load: {
		fireSustained(url: string, calls: Call[], o: { concurrency: number; callTimeoutMs?: number }): Promise<{ answers: Answer[]; wallMs: number }>;
		postJson(url: string, payload: unknown, timeoutMs?: number): Promise<{ status: number; body: unknown; error?: string }>;
	};
	baseUrl: string;
	/** The node's workflow (Webhook -> Run With Tenant Credential, as shipped) and its webhook path. */
	node: { workflowId: string; path: string };
	/** The sub-workflow the node runs, as JSON (its placeholder credential is what the reference replaces). */
	subWorkflow: SubWorkflowJson;
	/** Did the tenant API see this call's own secret? */
	sawOwn(answer: Answer): boolean;
	log(line: string): void;
	/** n8n's CPU profiled over each window, the profiles written into `dir`. */
	profiling?: { profiler: Profiler; dir: string };
}
/** n8n's CPU over one window, charged by bench/cpuProfile.ts. */
export interface WindowCpu {
	window: string;
	nodeCalls: number;
	referenceCalls: number;
	busyMs: number;
	oursMs: number;
	executeWorkflowMs: number;
	/** Our functions with the most CPU (ms). */
	topOurs: Array<[string, number]>;
}
interface SubWorkflowJson {
	name: string;
	nodes: Array<{ name: string; credentials?: Record<string, Ref> }>;
	connections: Record<string, unknown>;
	settings?: Record<string, unknown>;
}
export interface VersusOptions {
	rounds: number;
	burstCalls: number;
	tenants: number;
	sequentialCalls: number;
}
export type Side = 'node' | 'reference';
export interface BurstRound {
	side: Side;
	calls: number;
	failures: number;
	bleed: number;
	executionsPerSecond: number;
	/** Answered 200 with the caller's own secret, per second of the burst (a failed call answers fast: it inflates executions/s). */
	okPerSecond?: number;
	wallMs: number;
	p50: number;
	p90: number;
	/** Non-200 answers by status. */
	statuses: Record<string, number>;
	/** Failed executions stored by n8n during the burst, by their error message. */
	storedErrors: Record<string, number>;
	loadAverage: number[];
}
export interface SequentialRound {
	side: Side;
	calls: number;
	failures: number;
	bleed: number;
	p50: number;
	p90: number;
	/** n8n's records of these calls, p50 ms: the calling node's executionTime (its own work and the sub-execution), and the whole execution. */
	nodeMs?: number;
	executionMs?: number;
}
export interface VersusResult {
	options: VersusOptions;
	burst: BurstRound[];
	sequential: SequentialRound[];
	loadAverageStart: number[];
	cpu: WindowCpu[];
	error?: string;
}

const REFERENCE_PATH = 'bench-tenant-api-reference';
const PLACEHOLDER = '__TENANT_CREDENTIAL_ID__';

/**
 * The Execute Workflow node's workflowJson as an n8n expression: the sub-workflow with its credential ID
 * looked up per call from the tenant ID in the webhook body. `{{` / `}}` inside the code would end
 * n8n's expression early: spaced apart (the JSON's meaning is unchanged).
 */
export function referenceWorkflowJson(subWorkflow: VersusContext['subWorkflow'], credentialIds: Record<string, string>): string {
	const sub = JSON.parse(JSON.stringify(subWorkflow)) as SubWorkflowJson;
	for (const node of sub.nodes) for (const credential of Object.values(node.credentials ?? {})) credential.id = PLACEHOLDER;
	sub.settings = { ...sub.settings, saveDataSuccessExecution: 'none' };
	const code = JSON.stringify(sub).replace(JSON.stringify(PLACEHOLDER), `(${JSON.stringify(credentialIds)})[$json.body.tenantId]`);
	const spaced = code.replace(/\{\{/g, '{ {').replace(/\}\}/g, '} }').replace(/\{\{/g, '{ {').replace(/\}\}/g, '} }');
	return `={{ JSON.stringify(${spaced}) }}`;
}

const NODE_NAME = 'Run With Tenant Credential';
const EXECUTE_WORKFLOW_NAME = 'Execute Workflow';

/** p50 of the calling node's executionTime and of the execution, over the newest `count` successful executions. */
async function recordTimes(ctx: VersusContext, workflowId: string, nodeName: string, count: number): Promise<{ nodeMs?: number; executionMs?: number }> {
	try {
		const done = (await ctx.api.getExecutions({ workflowId, status: 'success', includeData: true, limit: count })).slice(0, count);
		const nodeMs = done.map((e) => e.data?.resultData?.runData?.[nodeName]?.[0]?.executionTime).filter((v): v is number => typeof v === 'number');
		const executionMs = done.filter((e) => e.startedAt && e.stoppedAt).map((e) => Date.parse(e.stoppedAt as string) - Date.parse(e.startedAt as string));
		return { nodeMs: percentile(sorted(nodeMs), 50), executionMs: percentile(sorted(executionMs), 50) };
	} catch {
		return {};
	}
}

const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
const countBy = <T>(values: T[], key: (v: T) => string) => values.reduce<Record<string, number>>((acc, v) => ({ ...acc, [key(v)]: (acc[key(v)] ?? 0) + 1 }), {});

export async function runVersus(ctx: VersusContext, o: VersusOptions & { callTimeoutMs: number }): Promise<VersusResult> {
	const result: VersusResult = { options: { rounds: o.rounds, burstCalls: o.burstCalls, tenants: o.tenants, sequentialCalls: o.sequentialCalls }, burst: [], sequential: [], loadAverageStart: os.loadavg(), cpu: [] };
	const profiled = async <T>(window: string, calls: { node: number; reference: number }, work: () => Promise<T>): Promise<T> => {
		const p = ctx.profiling;
		if (!p) return await work();
		await p.profiler.start();
		const value = await work();
		const profile = (await p.profiler.stop()) as Profile;
		fs.mkdirSync(p.dir, { recursive: true });
		fs.writeFileSync(path.join(p.dir, `${window}.cpuprofile`), JSON.stringify(profile));
		const c = chargeProfile(profile);
		result.cpu.push({
			window,
			nodeCalls: calls.node,
			referenceCalls: calls.reference,
			busyMs: c.totalMs,
			oursMs: c.oursMs,
			executeWorkflowMs: c.executeWorkflowMs,
			topOurs: [...c.ours.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8),
		});
		return value;
	};
	const width = String(o.tenants).length;
	const tenants = Array.from({ length: o.tenants }, (_, i) => ({ tenant: `burst-tenant-${String(i + 1).padStart(width, '0')}`, secret: `s-${randomBytes(12).toString('hex')}` }));

	// Both sides' tenant credentials exist before anything is measured.
	ctx.log(`side by side: creating ${o.tenants} tenants' credentials (reference through the API, node by one call each)`);
	const credentialIds: Record<string, string> = {};
	for (const t of tenants) {
		credentialIds[t.tenant] = (await ctx.api.createCredential({ name: `reference ${t.tenant}`, type: 'httpHeaderAuth', data: { name: 'x-tenant-secret', value: t.secret } })).id;
	}
	const reference = await ctx.api.deployWorkflow({
		name: "n8n's Execute Workflow node, credential ID by expression, tenant API 300 ms (bench)",
		settings: { executionOrder: 'v1' },
		nodes: [
			{
				id: 'webhook',
				name: 'Webhook',
				type: 'n8n-nodes-base.webhook',
				typeVersion: 2,
				position: [0, 0],
				webhookId: REFERENCE_PATH,
				parameters: { httpMethod: 'POST', path: REFERENCE_PATH, responseMode: 'lastNode', responseData: 'firstEntryJson', options: {} },
			},
			{
				id: 'execute',
				name: 'Execute Workflow',
				type: 'n8n-nodes-base.executeWorkflow',
				typeVersion: 1.2,
				position: [220, 0],
				parameters: { source: 'parameter', workflowJson: referenceWorkflowJson(ctx.subWorkflow, credentialIds), mode: 'once', options: {} },
			},
		],
		connections: { Webhook: { main: [[{ node: 'Execute Workflow', type: 'main', index: 0 }]] } },
	});
	const sides: Record<Side, { url: string; workflowId: string }> = {
		node: { url: `${ctx.baseUrl}/webhook/${ctx.node.path}`, workflowId: ctx.node.workflowId },
		reference: { url: `${ctx.baseUrl}/webhook/${REFERENCE_PATH}`, workflowId: reference.id },
	};
	for (const t of tenants) {
		for (const side of ['node', 'reference'] as Side[]) {
			const r = await ctx.load.postJson(sides[side].url, { tenantId: t.tenant, secret: t.secret }, o.callTimeoutMs);
			if (r.status !== 200) ctx.log(`  warm-up ${side} ${t.tenant}: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
		}
	}

	const calls = Array.from({ length: o.burstCalls }, (_, i) => tenants[i % tenants.length]);
	const settle = async () => await new Promise((resolve) => setTimeout(resolve, 3000));
	for (let round = 0; round < o.rounds; round++) {
		const order: Side[] = round % 2 === 0 ? ['node', 'reference'] : ['reference', 'node'];
		for (const side of order) {
			await settle();
			const loadAverage = os.loadavg();
			const since = Date.now();
			ctx.log(`round ${round + 1}: ${side}, ${calls.length} calls at once over ${o.tenants} tenants (load ${loadAverage.map((v) => v.toFixed(2)).join('/')})`);
			const run = await profiled(`round${round + 1}-burst-${side}`, { node: side === 'node' ? calls.length : 0, reference: side === 'reference' ? calls.length : 0 }, async () =>
				await ctx.load.fireSustained(sides[side].url, calls, { concurrency: calls.length, callTimeoutMs: o.callTimeoutMs }),
			);
			const failed = run.answers.filter((a) => a.status !== 200);
			const latencies = sorted(run.answers.filter((a) => a.status !== 0).map((a) => a.ms));
			let storedErrors: Record<string, number> = {};
			try {
				const stored = (await ctx.api.getExecutions({ workflowId: sides[side].workflowId, status: 'error', includeData: true, limit: 400 })).filter(
					(e) => e.startedAt && Date.parse(e.startedAt) >= since - 1000,
				);
				storedErrors = countBy(stored, (e) => `${e.data?.resultData?.lastNodeExecuted ?? '?'}: ${String(e.data?.resultData?.error?.message ?? 'no message').slice(0, 200)}`);
			} catch (error) {
				storedErrors = { [`could not read: ${(error as Error).message}`]: 1 };
			}
			result.burst.push({
				side,
				calls: calls.length,
				failures: failed.length,
				bleed: run.answers.filter((a) => a.status === 200 && !ctx.sawOwn(a)).length,
				executionsPerSecond: run.answers.length / (run.wallMs / 1000),
				okPerSecond: run.answers.filter((a) => a.status === 200 && ctx.sawOwn(a)).length / (run.wallMs / 1000),
				wallMs: run.wallMs,
				p50: percentile(latencies, 50),
				p90: percentile(latencies, 90),
				statuses: countBy(failed, (a) => String(a.status)),
				storedErrors,
				loadAverage,
			});
			const b = result.burst[result.burst.length - 1];
			ctx.log(`  ${b.executionsPerSecond.toFixed(2)} executions/s, failed ${b.failures}, bleed ${b.bleed}, stored errors ${JSON.stringify(b.storedErrors).slice(0, 300)}`);
		}
		// One call at a time, the sides interleaved call by call (the order alternating): the same machine state for both.
		await settle();
		const latencies: Record<Side, number[]> = { node: [], reference: [] };
		const failures: Record<Side, number> = { node: 0, reference: 0 };
		const bleed: Record<Side, number> = { node: 0, reference: 0 };
		await profiled(`round${round + 1}-one-at-a-time`, { node: o.sequentialCalls, reference: o.sequentialCalls }, async () => {
		for (let i = 0; i < o.sequentialCalls; i++) {
			const call = tenants[i % tenants.length];
			for (const side of (i + round) % 2 === 0 ? (['node', 'reference'] as Side[]) : (['reference', 'node'] as Side[])) {
				const t0 = performance.now();
				const r = await ctx.load.postJson(sides[side].url, { tenantId: call.tenant, secret: call.secret }, o.callTimeoutMs);
				const answer: Answer = { call, status: r.status, body: r.body, error: r.error, ms: performance.now() - t0 };
				if (r.status !== 200) failures[side] += 1;
				else {
					latencies[side].push(answer.ms);
					if (!ctx.sawOwn(answer)) bleed[side] += 1;
				}
			}
		}
		});
		for (const side of ['node', 'reference'] as Side[]) {
			const s = sorted(latencies[side]);
			const records = await recordTimes(ctx, sides[side].workflowId, side === 'node' ? NODE_NAME : EXECUTE_WORKFLOW_NAME, o.sequentialCalls);
			result.sequential.push({ side, calls: o.sequentialCalls, failures: failures[side], bleed: bleed[side], p50: percentile(s, 50), p90: percentile(s, 90), ...records });
		}
		const [n, r] = result.sequential.slice(-2);
		ctx.log(`round ${round + 1}, one at a time: node p50 ${n.p50.toFixed(1)} p90 ${n.p90.toFixed(1)}; reference p50 ${r.p50.toFixed(1)} p90 ${r.p90.toFixed(1)} ms`);
	}
	return result;
}

const fmt = (v: number | undefined, digits = 1) => (v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits));
const sum = (values: number[]) => values.reduce((s, v) => s + v, 0);

/** Totals over the rounds: executions/s over all bursts (calls / wall time), pooled per-round p50s as a median of rounds. */
export function versusTotals(r: VersusResult): Record<Side, { executionsPerSecond: number; okPerSecond: number; failures: number; bleed: number; sequentialP50: number; sequentialP90: number }> {
	const of = (side: Side) => {
		const bursts = r.burst.filter((b) => b.side === side);
		const seq = r.sequential.filter((s) => s.side === side);
		return {
			executionsPerSecond: sum(bursts.map((b) => b.calls)) / (sum(bursts.map((b) => b.wallMs)) / 1000),
			okPerSecond: sum(bursts.map((b) => ((b.okPerSecond ?? NaN) * b.wallMs) / 1000)) / (sum(bursts.map((b) => b.wallMs)) / 1000),
			failures: sum(bursts.map((b) => b.failures)) + sum(seq.map((s) => s.failures)),
			bleed: sum(bursts.map((b) => b.bleed)) + sum(seq.map((s) => s.bleed)),
			sequentialP50: percentile(sorted(seq.map((s) => s.p50)), 50),
			sequentialP90: percentile(sorted(seq.map((s) => s.p90)), 50),
		};
	};
	return { node: of('node'), reference: of('reference') };
}

export function versusLines(r: VersusResult): string[] {
	const o = r.options;
	const lines = [
		`   side by side: the node vs n8n's Execute Workflow node (inline sub-workflow, credential ID chosen per call by an expression), ${o.rounds} alternating rounds`,
		`     (a) ${o.burstCalls} calls at once over ${o.tenants} tenants; (b) ${o.sequentialCalls} calls one at a time per side, interleaved; tenant credentials made before`,
	];
	for (let round = 0; round < o.rounds; round++) {
		const b = (side: Side) => r.burst.filter((x) => x.side === side)[round];
		const s = (side: Side) => r.sequential.filter((x) => x.side === side)[round];
		const cells = (['node', 'reference'] as Side[]).map((side) => {
			const burst = b(side);
			const seq = s(side);
			return `${side} ${fmt(burst?.executionsPerSecond, 2)}/s, ok ${fmt(burst?.okPerSecond, 2)}/s (failed ${burst?.failures ?? '-'}, bleed ${burst?.bleed ?? '-'}), p50 ${fmt(seq?.p50)} p90 ${fmt(seq?.p90)} ms (n8n: node ${fmt(seq?.nodeMs)}, execution ${fmt(seq?.executionMs)})`;
		});
		lines.push(`     round ${round + 1}: ${cells.join(' | ')}`);
	}
	const t = versusTotals(r);
	lines.push(
		`     all rounds: executions/s node ${fmt(t.node.executionsPerSecond, 2)} vs reference ${fmt(t.reference.executionsPerSecond, 2)} = ${fmt(t.node.executionsPerSecond / t.reference.executionsPerSecond, 2)}x (target >= 0.9x), answered with their own secret ${fmt(t.node.okPerSecond, 2)} vs ${fmt(t.reference.okPerSecond, 2)}/s;` +
			` one at a time p50 (median of rounds) node ${fmt(t.node.sequentialP50)} vs ${fmt(t.reference.sequentialP50)} ms = ${fmt(t.node.sequentialP50 - t.reference.sequentialP50)} ms (target <= 15); failed ${t.node.failures} / ${t.reference.failures}, bleed ${t.node.bleed} / ${t.reference.bleed}`,
	);
	for (const b of r.burst) {
		const errors = Object.entries(b.storedErrors);
		if (b.failures || errors.length) lines.push(`     ${b.side} burst failures: answers ${JSON.stringify(b.statuses)}; stored errors ${errors.map(([m, n]) => `${n}x ${m}`).join(' | ') || 'none'}`);
	}
	for (const c of r.cpu) {
		const per = (ms: number, calls: number) => (calls ? `${((ms * 1000) / calls).toFixed(0)} µs/call` : '-');
		lines.push(
			`     n8n CPU ${c.window}: busy ${c.busyMs.toFixed(0)} ms; this package ${c.oursMs.toFixed(0)} ms (${per(c.oursMs, c.nodeCalls)}); Execute Workflow node ${c.executeWorkflowMs.toFixed(0)} ms (${per(c.executeWorkflowMs, c.referenceCalls)})` +
				(c.topOurs.length ? `; top: ${c.topOurs.slice(0, 5).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}` : ''),
		);
	}
	if (r.error) lines.push(`     FAILED: ${r.error.split('\n')[0].slice(0, 300)}`);
	return lines;
}
