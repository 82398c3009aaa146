/**
 * Who may call a sub-workflow: n8n's SubworkflowPolicyChecker (n8n 2.8.4 and 2.40.7), branch by branch,
 * and n8n itself asked (a one-node check workflow) where the public API cannot tell: the instance default,
 * or a home project the key cannot read. The same pairs on a real n8n, against n8n's own Execute
 * Workflow node: test/e2e/callerPolicy.test.ts.
 */
import type { IDataObject, IWorkflowBase } from 'n8n-workflow';

import { SwapItemError } from '../../nodes/shared/swap/errors';
import {
	callerPolicyVerdict,
	checkCallerPolicy,
	forgetCallerPolicyVerdicts,
	listedCallers,
	probeWorkflow,
	type CallerPair,
	type PolicySubject,
} from '../../nodes/shared/tenantCredentials/callerPolicy';

const pair = (settings: IDataObject, o: Partial<CallerPair> = {}): CallerPair => ({
	subWorkflowId: 'sub1',
	subWorkflowLabel: '"Tenant calls"',
	subProjectId: 'p1',
	settings,
	callerWorkflowId: 'parent',
	callerProjectId: 'p1',
	...o,
});
const sameProject = {};
const otherProject = { callerProjectId: 'p2' };
const self = { callerWorkflowId: 'sub1' };

describe("n8n's rule per setting (decided without asking n8n)", () => {
	it('"any": every caller, from any project', () => {
		for (const o of [sameProject, otherProject, self]) expect(callerPolicyVerdict(pair({ callerPolicy: 'any' }, o))).toBe(true);
	});

	it('"none": no caller, not even the sub-workflow itself', () => {
		for (const o of [sameProject, otherProject, self]) expect(callerPolicyVerdict(pair({ callerPolicy: 'none' }, o))).toBe(false);
	});

	it('"workflowsFromAList": only listed IDs, from any project; the same project does not count', () => {
		const listed = { callerPolicy: 'workflowsFromAList', callerIds: ' a ,parent,, ' };
		expect(callerPolicyVerdict(pair(listed, sameProject))).toBe(true);
		expect(callerPolicyVerdict(pair(listed, otherProject))).toBe(true);
		const notListed = { callerPolicy: 'workflowsFromAList', callerIds: 'a, b' };
		expect(callerPolicyVerdict(pair(notListed, sameProject))).toBe(false);
		expect(callerPolicyVerdict(pair(notListed, otherProject))).toBe(false);
		expect(callerPolicyVerdict(pair(notListed, self))).toBe(false);
		expect(callerPolicyVerdict(pair({ callerPolicy: 'workflowsFromAList' }, sameProject))).toBe(false);
		// n8n splits a string only; anything else lists nobody (n8n would fail the call).
		expect(callerPolicyVerdict(pair({ callerPolicy: 'workflowsFromAList', callerIds: ['parent'] }, sameProject))).toBe(false);
	});

	it('"workflowsFromSameOwner": callers whose home project is the sub-workflow\'s', () => {
		expect(callerPolicyVerdict(pair({ callerPolicy: 'workflowsFromSameOwner' }, sameProject))).toBe(true);
		expect(callerPolicyVerdict(pair({ callerPolicy: 'workflowsFromSameOwner' }, self))).toBe(true);
		expect(callerPolicyVerdict(pair({ callerPolicy: 'workflowsFromSameOwner' }, otherProject))).toBe(false);
		// Listed IDs do not matter under this setting.
		expect(callerPolicyVerdict(pair({ callerPolicy: 'workflowsFromSameOwner', callerIds: 'parent' }, otherProject))).toBe(false);
	});

	it('any other value refuses (n8n matches the four values exactly)', () => {
		for (const callerPolicy of ['', 'ANY', 'workflowsFromSameProject', 7]) expect(callerPolicyVerdict(pair({ callerPolicy }, sameProject))).toBe(false);
	});

	it('only n8n can tell: no setting of its own (the instance default), or a home project the key cannot read under "same project"', () => {
		expect(callerPolicyVerdict(pair({}))).toBeUndefined();
		expect(callerPolicyVerdict(pair({ callerPolicy: null, callerIds: 'parent' }))).toBeUndefined();
		expect(callerPolicyVerdict(pair({ callerPolicy: 'workflowsFromSameOwner' }, { callerProjectId: undefined }))).toBeUndefined();
		expect(callerPolicyVerdict(pair({ callerPolicy: 'workflowsFromSameOwner' }, { subProjectId: undefined }))).toBeUndefined();
		// Settings that decide without projects still decide.
		expect(callerPolicyVerdict(pair({ callerPolicy: 'any' }, { callerProjectId: undefined }))).toBe(true);
		expect(callerPolicyVerdict(pair({ callerPolicy: 'none' }, { callerProjectId: undefined }))).toBe(false);
	});

	it("reads callerIds as n8n does", () => {
		expect(listedCallers(' a, b ,,c ')).toEqual(['a', 'b', 'c']);
		expect(listedCallers(undefined)).toEqual([]);
		expect(listedCallers(42)).toEqual([]);
	});
});

describe('the check workflow that asks n8n', () => {
	it("carries the sub-workflow's ID and caller settings, no policy when it has none (so n8n applies its default), and saves no success", () => {
		const probe = probeWorkflow(pair({ callerIds: 'parent', saveDataErrorExecution: 'none', executionTimeout: 5 })) as IWorkflowBase & { id: string };
		expect(probe.id).toBe('sub1');
		expect(probe.settings).toEqual({ callerIds: 'parent', saveDataSuccessExecution: 'none', saveManualExecutions: false });
		expect(probe.nodes.map((node) => node.type)).toEqual(['n8n-nodes-base.executeWorkflowTrigger']);
		expect(probe.connections).toEqual({});
		expect(probeWorkflow(pair({ callerPolicy: 'workflowsFromSameOwner' })).settings).toEqual({
			callerPolicy: 'workflowsFromSameOwner',
			saveDataSuccessExecution: 'none',
			saveManualExecutions: false,
		});
	});
});

describe('checkCallerPolicy', () => {
	const subject = (settings: IDataObject, o: Partial<PolicySubject> = {}): PolicySubject => ({ id: 'sub1', label: '"Tenant calls"', projectId: 'p1', settings, ...o });
	const caller = { workflowId: 'parent', projectId: 'p1' };
	let probes: IWorkflowBase[];
	let answer: () => Promise<unknown>;
	const runProbe = async (workflow: IWorkflowBase) => {
		probes.push(workflow);
		return await answer();
	};
	const denied = () => Promise.reject(new Error('The sub-workflow (sub1) cannot be called by this workflow'));
	const refusal = async (run: Promise<void>): Promise<SwapItemError> => {
		try {
			await run;
		} catch (error) {
			return error as SwapItemError;
		}
		throw new Error('did not fail');
	};

	beforeEach(() => {
		forgetCallerPolicyVerdicts();
		probes = [];
		answer = async () => ({ data: [[]] });
	});

	it('decides set policies without running anything', async () => {
		await expect(checkCallerPolicy('i1', subject({ callerPolicy: 'workflowsFromSameOwner' }), caller, [0], runProbe)).resolves.toBeUndefined();
		const error = await refusal(checkCallerPolicy('i1', subject({ callerPolicy: 'none' }), caller, [4], runProbe));
		expect(error).toBeInstanceOf(SwapItemError);
		expect(error.message).toContain('"none"');
		expect(error.itemIndexes).toEqual([4]);
		expect(error.options.parameter).toBe('subWorkflow');
		expect(probes).toHaveLength(0);
	});

	it("follows n8n's answer when the sub-workflow has no setting, and asks once per process for the same pair", async () => {
		await checkCallerPolicy('i1', subject({}), caller, [0], runProbe);
		await checkCallerPolicy('i1', subject({}), caller, [0], runProbe);
		expect(probes).toHaveLength(1);
		answer = denied;
		// Another calling project is another question: n8n refuses it here.
		const error = await refusal(checkCallerPolicy('i1', subject({}), { workflowId: 'parent', projectId: 'p2' }, [1], runProbe));
		expect(error.message).toContain("n8n's instance default applies");
		expect(probes).toHaveLength(2);
		// Refusals are kept too.
		await refusal(checkCallerPolicy('i1', subject({}), { workflowId: 'parent', projectId: 'p2' }, [1], runProbe));
		expect(probes).toHaveLength(2);
		// A changed list (the default could be "workflowsFromAList") is asked again.
		await refusal(checkCallerPolicy('i1', subject({ callerIds: 'parent' }), { workflowId: 'parent', projectId: 'p2' }, [1], runProbe));
		expect(probes).toHaveLength(3);
	});

	it('shares one question among concurrent items', async () => {
		let release: () => void = () => undefined;
		answer = async () => await new Promise<void>((resolve) => (release = resolve));
		const checks = [0, 1, 2].map(async (index) => await checkCallerPolicy('i1', subject({}), caller, [index], runProbe));
		await new Promise((resolve) => setImmediate(resolve));
		release();
		await Promise.all(checks);
		expect(probes).toHaveLength(1);
	});

	it('asks n8n under "same project" when the key cannot read the calling workflow', async () => {
		answer = denied;
		const error = await refusal(checkCallerPolicy('i1', subject({ callerPolicy: 'workflowsFromSameOwner' }), { workflowId: 'parent' }, [0], runProbe));
		expect(error.options.description).toContain('cannot read the calling workflow');
		expect(probes[0].settings).toMatchObject({ callerPolicy: 'workflowsFromSameOwner' });
	});

	it('fails closed, and asks again next time, when the check workflow fails for another reason', async () => {
		answer = async () => await Promise.reject(new Error('Database is not ready!'));
		const error = await refusal(checkCallerPolicy('i1', subject({}), caller, [0], runProbe));
		expect(error.message).toContain('Could not learn whether n8n lets this workflow call');
		expect(error.message).toContain('Database is not ready!');
		answer = async () => ({});
		await checkCallerPolicy('i1', subject({}), caller, [0], runProbe);
		expect(probes).toHaveLength(2);
	});

	it('names a sub-workflow of another project by its ID only', async () => {
		const error = await refusal(
			checkCallerPolicy('i1', subject({ callerPolicy: 'workflowsFromSameOwner' }, { label: 'with ID "sub1"', projectId: 'p7' }), caller, [0], runProbe),
		);
		expect(error.message).toContain('Sub-workflow with ID "sub1" may not be called');
		expect(error.message).not.toContain('Tenant calls');
	});
});
