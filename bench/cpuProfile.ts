/**
 * node bench/.build/bench/cpuProfile.js <file.cpuprofile> [calls]
 *
 * Where n8n's CPU went during a benchmark run (`npm run bench -- --tenant-api-cpu-prof=DIR`): every sample
 * is charged to the innermost frame of this package on its stack (our function and whatever it called
 * synchronously: pg, crypto, JSON), else to n8n's Execute Workflow node if it is on the stack, else to
 * "n8n and the rest". Async continuations are charged where they run (a query's answer to pg's parser,
 * then to our code that awaited it). `calls`: the node's calls in the run, to print CPU per call.
 */
import fs from 'node:fs';

interface ProfileNode {
	id: number;
	callFrame: { functionName: string; url: string; lineNumber: number };
	children?: number[];
}
export interface Profile {
	nodes: ProfileNode[];
	samples: number[];
	timeDeltas: number[];
	startTime: number;
	endTime: number;
}

const OURS = /n8n-nodes-tenant-credential-swap\/dist\/(.*)\.js$/;
const EXECUTE_WORKFLOW = /n8n-nodes-base\/dist\/nodes\/ExecuteWorkflow\//;
const IDLE = new Set(['(idle)', '(program)', '(garbage collector)']);

export function chargeProfile(profile: Profile): { totalMs: number; idleMs: number; gcMs: number; ours: Map<string, number>; oursMs: number; executeWorkflowMs: number; leafOfOurs: Map<string, number> } {
	const byId = new Map(profile.nodes.map((n) => [n.id, n]));
	const parent = new Map<number, number>();
	for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
	const ours = new Map<string, number>();
	const leafOfOurs = new Map<string, number>();
	let totalMs = 0;
	let idleMs = 0;
	let gcMs = 0;
	let oursMs = 0;
	let executeWorkflowMs = 0;
	const charge = new Map<number, { ours?: string; executeWorkflow: boolean }>();
	const chargeOf = (id: number) => {
		const known = charge.get(id);
		if (known) return known;
		let ourFrame: string | undefined;
		let executeWorkflow = false;
		for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
			const frame = byId.get(at)!.callFrame;
			const match = OURS.exec(frame.url);
			if (match && !ourFrame) ourFrame = `${match[1]}:${frame.functionName || '(anonymous)'}`;
			if (EXECUTE_WORKFLOW.test(frame.url)) executeWorkflow = true;
		}
		const c = { ours: ourFrame, executeWorkflow };
		charge.set(id, c);
		return c;
	};
	for (let i = 0; i < profile.samples.length; i++) {
		const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
		const node = byId.get(profile.samples[i])!;
		const name = node.callFrame.functionName;
		if (IDLE.has(name)) {
			if (name === '(garbage collector)') gcMs += ms;
			else if (name === '(idle)') idleMs += ms;
			if (name === '(idle)') continue;
		}
		totalMs += ms;
		const c = chargeOf(node.id);
		if (c.ours) {
			oursMs += ms;
			ours.set(c.ours, (ours.get(c.ours) ?? 0) + ms);
			const leaf = /node_modules\/([^/]+(?:\/[^/]+)?)/.exec(node.callFrame.url)?.[1]?.replace(/\/dist$/, '') ?? (node.callFrame.url ? 'node:internal' : name);
			leafOfOurs.set(leaf, (leafOfOurs.get(leaf) ?? 0) + ms);
		} else if (c.executeWorkflow) executeWorkflowMs += ms;
	}
	return { totalMs, idleMs, gcMs, ours, oursMs, executeWorkflowMs, leafOfOurs };
}

function main(): void {
	const [file, callsText] = process.argv.slice(2);
	if (!file) throw new Error('usage: node bench/.build/bench/cpuProfile.js <file.cpuprofile> [calls]');
	const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
	const r = chargeProfile(profile);
	const calls = Number(callsText) || undefined;
	const per = (ms: number) => (calls ? ` = ${((ms * 1000) / calls).toFixed(0)} µs per call` : '');
	const top = (m: Map<string, number>, n: number) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
	const out = [
		`${file}: ${((profile.endTime - profile.startTime) / 1e6).toFixed(1)} s profiled, CPU busy ${r.totalMs.toFixed(0)} ms (GC ${r.gcMs.toFixed(0)} ms), idle ${r.idleMs.toFixed(0)} ms`,
		`  this package (innermost own frame on the stack): ${r.oursMs.toFixed(0)} ms (${((100 * r.oursMs) / r.totalMs).toFixed(1)} %)${per(r.oursMs)}`,
		`  n8n's Execute Workflow node on the stack: ${r.executeWorkflowMs.toFixed(0)} ms (${((100 * r.executeWorkflowMs) / r.totalMs).toFixed(1)} %)`,
		'  our functions (with what they called synchronously):',
		...top(r.ours, 25).map(([k, v]) => `    ${v.toFixed(0).padStart(7)} ms ${k}${per(v)}`),
		'  where our samples ended (leaf module):',
		...top(r.leafOfOurs, 12).map(([k, v]) => `    ${v.toFixed(0).padStart(7)} ms ${k}`),
	];
	process.stdout.write(`${out.join('\n')}\n`);
}

if (require.main === module) main();
