/**
 * Run With Tenant Credential's groups (one sub-execution per tenant credential) within one execution:
 * run at most Tenants in Parallel at a time (counted), output in the order of today's one-by-one run,
 * Continue On Fail per item, the first failure failing the node only once the groups already started
 * have settled, and a sub-execution that paused (waitTill) failing its items without parking the
 * calling execution. A real n8n (public API: the sub-workflow, the tenant credentials) and a real
 * PostgreSQL lock; the sub-execution itself is scripted (executeWorkflow), so that the test decides
 * when each one ends and can make one pause, which a real n8n does not do for a refused sub-workflow.
 */
import { createHash } from 'node:crypto';

import { NodeOperationError, type INodeExecutionData } from 'n8n-workflow';

import { RunWithTenantCredential } from '../../nodes/RunWithTenantCredential/RunWithTenantCredential.node';
import { closeLockEngines, closeSharedPools } from '../../nodes/shared/lock';
import { tenantCredentialUses } from '../../nodes/shared/tenantCredentials/inUse';
import { executeContext, WAIT_INDEFINITELY, type ContextSpec } from '../helpers/executeContext';
import { ApiFixture, postgresCredential, unique } from '../helpers/fixtures';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startN8n } = require('../harness/n8n.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { tenantSubWorkflow } = require('../harness/workflows.js');

jest.setTimeout(240_000);

const runNode = new RunWithTenantCredential();
const lockTable = unique('parallel_locks');

let n8n: { apiUrl: string; apiKey: string; stop(): Promise<void> };
let credentials: ContextSpec['credentials'];
let subWorkflowId: string;

beforeAll(async () => {
	n8n = await startN8n({});
	const api = new ApiFixture(n8n.apiUrl, n8n.apiKey);
	credentials = {
		tenantSwapN8nApi: { baseUrl: n8n.apiUrl, apiKey: n8n.apiKey, allowUnauthorizedCerts: false },
		postgres: postgresCredential(),
	};
	const placeholder = await api.createCredential(unique('placeholder'), 'httpHeaderAuth', { name: 'x-tenant-secret', value: 'placeholder' });
	const workflow = tenantSubWorkflow({ name: unique('parallel sub'), kind: 'headerAuth', echoUrl: 'http://127.0.0.1:9', credential: placeholder, pick: 'none' });
	const created = await api.call('POST', '/workflows', { ...workflow, settings: { ...workflow.settings, callerPolicy: 'any' } });
	expect(created.status).toBe(200);
	subWorkflowId = created.body.id;
});

afterAll(async () => {
	await closeLockEngines();
	await closeSharedPools();
	await n8n?.stop();
});

type SubResult = { executionId: string; data: Array<INodeExecutionData[] | null>; waitTill?: Date };
type Options = Parameters<NonNullable<ContextSpec['executeWorkflow']>>[2];

const tenantOf = (items: INodeExecutionData[]) => String((items[0].json as { tenant: string }).tenant);

/** One output item per input item: which tenant's sub-execution made it, and from which input. */
const answer = (items: INodeExecutionData[]): SubResult => ({
	executionId: unique('sub'),
	data: [items.map((item) => ({ json: { from: (item.json as { tenant: string }).tenant, n: (item.json as { n: number }).n } }))],
});

/**
 * Scripted sub-executions, each held until as many are in flight as the node may run (`limit`, or the
 * groups still to come), then let go one at a time: the newest first (they end out of start order),
 * or the one `first` picks. Counts the most in flight, and logs starts and ends.
 */
function gatedSubExecutions(o: { limit: number; arriving: number; respond?: (items: INodeExecutionData[], options: Options) => SubResult; first?: (tenant: string) => boolean }) {
	const held: Array<{ tenant: string; go: () => void }> = [];
	const state = { inFlight: 0, peak: 0, ended: 0, events: [] as string[], shouldResume: [] as Array<boolean | undefined> };
	const letOneGo = () => {
		if (held.length === 0 || held.length < Math.min(o.limit, o.arriving - state.ended)) return;
		const picked = o.first ? held.findIndex((entry) => o.first!(entry.tenant)) : -1;
		const [next] = held.splice(picked >= 0 ? picked : held.length - 1, 1);
		next.go();
	};
	const executeWorkflow = async (_workflow: unknown, items: INodeExecutionData[], options: Options): Promise<SubResult> => {
		const tenant = tenantOf(items);
		state.inFlight += 1;
		state.peak = Math.max(state.peak, state.inFlight);
		state.events.push(`start ${tenant}`);
		state.shouldResume.push(options?.parentExecution?.shouldResume);
		await new Promise<void>((go) => {
			held.push({ tenant, go });
			letOneGo();
		});
		try {
			return (o.respond ?? answer)(items, options);
		} finally {
			state.inFlight -= 1;
			state.ended += 1;
			state.events.push(`end ${tenant}`);
			// The next one goes once this one's outcome has been handled (its promise chain drained), as a real sub-execution takes time.
			setImmediate(letOneGo);
		}
	};
	return { executeWorkflow, state };
}

/** Runs the node over items of the given tenants (`${prefix}-${tenant}`), item n's json { tenant, n }. */
async function runTenants(o: {
	tenants: string[];
	tenantsInParallel?: number;
	continueOnFail?: boolean;
	output?: 'input';
	executeWorkflow: NonNullable<ContextSpec['executeWorkflow']>;
}) {
	const items = o.tenants.map((tenant, n) => ({ json: { tenant, n } }));
	const test = executeContext({
		items,
		credentials,
		executionId: unique('exec'),
		continueOnFail: o.continueOnFail,
		mode: 'manual',
		executeWorkflow: o.executeWorkflow,
		parameters: {
			subWorkflow: { __rl: true, mode: 'id', value: subWorkflowId },
			tenantId: (i: number) => o.tenants[i],
			// The same per tenant (one credential, one group), and no part of the items (the node redacts it from them).
			credentialData: (i: number) => ({ name: 'x-tenant-secret', value: createHash('sha256').update(o.tenants[i]).digest('hex').slice(0, 24) }),
			lockBackend: 'postgres',
			options: {
				lockTable,
				credentialType: 'httpHeaderAuth',
				...(o.tenantsInParallel === undefined ? {} : { tenantsInParallel: o.tenantsInParallel }),
				...(o.output ? { output: o.output } : {}),
			},
		},
	});
	const run = runNode.execute.call(test.context).then((output) => output[0]);
	return { run, execution: test.execution };
}

/** Items of 7 tenants, some with several items, interleaved. */
function interleaved(prefix: string): string[] {
	return ['a', 'b', 'a', 'c', 'd', 'b', 'e', 'f', 'g', 'c'].map((tenant) => `${prefix}-${tenant}`);
}
const GROUPS = 7;

const shape = (output: INodeExecutionData[]) => output.map((item) => ({ json: item.json, pairedItem: item.pairedItem }));

describe('groups of one execution in parallel', () => {
	it('run at most Tenants in Parallel at a time (counted: 3 of 3), ending out of order, and the output is the one-by-one run\'s', async () => {
		const tenants = interleaved(unique('order'));
		const oneByOne = gatedSubExecutions({ limit: 1, arriving: GROUPS });
		const sequential = await (await runTenants({ tenants, tenantsInParallel: 1, executeWorkflow: oneByOne.executeWorkflow })).run;
		const three = gatedSubExecutions({ limit: 3, arriving: GROUPS });
		const parallel = await (await runTenants({ tenants, tenantsInParallel: 3, executeWorkflow: three.executeWorkflow })).run;

		// The control: at 1, one at a time; at 3, three, never more.
		expect(oneByOne.state.peak).toBe(1);
		expect(three.state.peak).toBe(3);
		// Ended out of start order (the newest held first) ...
		const ends = three.state.events.filter((event) => event.startsWith('end'));
		const starts = three.state.events.filter((event) => event.startsWith('start'));
		expect(ends.map((event) => event.slice(4))).not.toEqual(starts.map((event) => event.slice(6)));
		// ... and yet the output is the one-by-one run's: a group's items at its first item's place, paired with their inputs.
		expect(shape(parallel)).toEqual(shape(sequential));
		const [a, b, c, d, e, f, g] = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((tenant) => tenants.find((name) => name.endsWith(`-${tenant}`))!);
		expect(shape(parallel)).toEqual(
			[
				[a, 0],
				[a, 2],
				[b, 1],
				[b, 5],
				[c, 3],
				[c, 9],
				[d, 4],
				[e, 6],
				[f, 7],
				[g, 8],
			].map(([from, n]) => ({ json: { from, n }, pairedItem: { item: n } })),
		);
	});

	it('default 4 at a time; Output "Input Items" keeps every item in place', async () => {
		const tenants = interleaved(unique('input'));
		const gate = gatedSubExecutions({ limit: 4, arriving: GROUPS });
		const output = await (await runTenants({ tenants, output: 'input', executeWorkflow: gate.executeWorkflow })).run;
		expect(gate.state.peak).toBe(4);
		expect(output.map((item) => [item.json, item.pairedItem])).toEqual(tenants.map((tenant, n) => [{ tenant, n }, { item: n }]));
	});

	it('Tenants in Parallel outside 1 to 20 is refused, naming the option', async () => {
		for (const tenantsInParallel of [0, 21, 2.5]) {
			const { run } = await runTenants({ tenants: [unique('bad-option')], tenantsInParallel, executeWorkflow: async (_w, items) => answer(items) });
			const error = await run.catch((caught: unknown) => caught);
			expect(error).toBeInstanceOf(NodeOperationError);
			expect((error as Error).message).toMatch(/^Parameter "Tenants in Parallel", item 0: Tenants in Parallel must be a whole number from 1 to 20/);
		}
	});

	it('Continue On Fail: one failing tenant among several gets error items in its places; the others their output', async () => {
		const tenants = interleaved(unique('cof'));
		const bad = tenants[1];
		const gate = gatedSubExecutions({
			limit: 4,
			arriving: GROUPS,
			respond: (items, options) => {
				if (tenantOf(items) === bad) throw Object.assign(new Error('the tenant API failed'), { node: { name: 'Call Tenant API' } });
				return answer(items);
			},
		});
		const output = await (await runTenants({ tenants, continueOnFail: true, executeWorkflow: gate.executeWorkflow })).run;
		const errors = output.filter((item) => item.json.error !== undefined);
		expect(errors.map((item) => item.pairedItem)).toEqual([{ item: 1 }, { item: 5 }]);
		for (const item of errors) expect(String(item.json.error)).toContain(`failed for tenant "${bad}" in node "Call Tenant API": the tenant API failed`);
		const good = output.filter((item) => item.json.error === undefined);
		expect(good.map((item) => [item.json.from, item.pairedItem])).toEqual(
			[0, 2, 3, 9, 4, 6, 7, 8].map((n) => [tenants[n], { item: n }]),
		);
		// As one by one: each error item at its own item's place, a group's output at its first item's.
		expect(output.map((item) => (item.pairedItem as { item: number }).item)).toEqual([0, 2, 1, 3, 9, 4, 5, 6, 7, 8]);
	});

	it('without Continue On Fail the first failure fails the node once the groups already started have settled; none starts after it', async () => {
		const tenants = interleaved(unique('fail'));
		const bad = tenants[1];
		let atFailure: { inFlight: number; uses: number } | undefined;
		// 3 start (a, b, c); b is let go first and fails: a and c must end before the node fails, d to g never start.
		const gate = gatedSubExecutions({
			limit: 3,
			arriving: 3,
			first: (tenant) => tenant === bad,
			respond: (items) => {
				if (tenantOf(items) === bad) throw new Error('the tenant API failed');
				return answer(items);
			},
		});
		const error = await (await runTenants({ tenants, tenantsInParallel: 3, executeWorkflow: gate.executeWorkflow })).run.catch((caught: unknown) => {
			atFailure = { inFlight: gate.state.inFlight, uses: tenantCredentialUses().size };
			return caught;
		});
		expect(error).toBeInstanceOf(NodeOperationError);
		expect((error as Error).message).toMatch(new RegExp(`^Item 1: Sub-workflow .* failed for tenant "${bad}": the tenant API failed`));
		expect(atFailure).toEqual({ inFlight: 0, uses: 0 });
		const events = gate.state.events;
		expect(events.filter((event) => event.startsWith('start'))).toHaveLength(3);
		expect(events.slice(events.indexOf(`end ${bad}`)).filter((event) => event.startsWith('start'))).toEqual([]);
		expect(events.filter((event) => event.startsWith('end'))).toHaveLength(3);
	});
});

describe('a sub-execution that paused (waitTill): the run-time backstop', () => {
	it('control: a paused sub-execution puts the calling execution to wait (as n8n-core does)', async () => {
		const test = executeContext({ items: [], credentials, executionId: unique('exec'), parameters: {}, executeWorkflow: async () => ({ executionId: 'x', data: [[]], waitTill: new Date() }) });
		await test.context.executeWorkflow({ code: {} as never }, []);
		expect(test.execution).toEqual({ waitTill: WAIT_INDEFINITELY, status: 'waiting' });
	});

	const pausing = (paused: string) =>
		gatedSubExecutions({
			limit: 4,
			arriving: 3,
			respond: (items) => (tenantOf(items) === paused ? { ...answer(items), waitTill: new Date(Date.now() + 3_600_000) } : answer(items)),
		});

	it('Continue On Fail: its items fail naming the sub-workflow and the tenant; the others run; the execution is not parked', async () => {
		const tenants = [unique('w1'), unique('w2'), unique('w3')];
		const gate = pausing(tenants[1]);
		const { run, execution } = await runTenants({ tenants, continueOnFail: true, executeWorkflow: gate.executeWorkflow });
		const output = await run;
		expect(output.map((item) => item.pairedItem)).toEqual([{ item: 0 }, { item: 1 }, { item: 2 }]);
		expect(output[0].json).toEqual({ from: tenants[0], n: 0 });
		expect(output[2].json).toEqual({ from: tenants[2], n: 2 });
		expect(String(output[1].json.error)).toMatch(
			// The calling workflow is not in n8n here: the sub-workflow is named by its ID, as for another project's.
			new RegExp(`^Parameter "Sub-Workflow", item 1: Sub-workflow with ID "${subWorkflowId}" paused for tenant "${tenants[1]}" \\(sub-execution sub_[^)]+\\): waiting nodes are not supported in a sub-workflow of Run With Tenant Credential`),
		);
		// n8n would park this execution after the node (waitTill set): the node took it back.
		expect(execution).toEqual({ waitTill: undefined, status: 'running' });
		// n8n must never resume this execution with a sub-execution's raw output.
		expect(gate.state.shouldResume).toEqual([false, false, false]);
		expect(tenantCredentialUses().size).toBe(0);
	});

	it('without Continue On Fail: the node fails with that error, and the execution is not parked either', async () => {
		const tenants = [unique('w4'), unique('w5'), unique('w6')];
		const { run, execution } = await runTenants({ tenants, executeWorkflow: pausing(tenants[0]).executeWorkflow });
		const error = await run.catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect((error as NodeOperationError).message).toMatch(/^Parameter "Sub-Workflow", item 0: Sub-workflow .* paused for tenant .*: waiting nodes are not supported/);
		expect((error as NodeOperationError).description).toMatch(/Remove the waiting node from the sub-workflow, or put it in the calling workflow after this node/);
		expect(execution).toEqual({ waitTill: undefined, status: 'running' });
	});
});
