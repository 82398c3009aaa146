import type { IDataObject, IWorkflowBase } from 'n8n-workflow';

import { SwapItemError } from '../swap/errors';
import { EXECUTE_WORKFLOW_TRIGGER, inlineWorkflow } from './subWorkflow';

/**
 * Who may call a sub-workflow, by n8n's own rules (its SubworkflowPolicyChecker, the same in n8n 2.8.4
 * and 2.40.7), which n8n applies when a workflow calls another by ID:
 * - the policy is the sub-workflow's setting `callerPolicy`, else the instance default
 *   (N8N_WORKFLOW_CALLER_POLICY_DEFAULT_OPTION, `workflowsFromSameOwner` unless set);
 * - `any`: every workflow; `workflowsFromAList`: only the workflow IDs in `callerIds` (comma-separated),
 *   even from the same project; `workflowsFromSameOwner`: workflows whose home project is the
 *   sub-workflow's; `none` (or anything else): no workflow, not even the sub-workflow itself.
 * The node runs the sub-workflow inline, where n8n checks the policy against the calling workflow itself,
 * so the node checks the real pair first.
 */

/** Both workflows of a call: the sub-workflow (its settings and home project) and the calling workflow. */
export interface CallerPair {
	subWorkflowId: string;
	/** The sub-workflow's label in messages: its quoted name, or its ID when it is in another project. */
	subWorkflowLabel: string;
	subProjectId?: string;
	settings: IDataObject;
	callerWorkflowId: string;
	callerProjectId?: string;
}

/** n8n's reading of `callerIds`: comma-separated, trimmed, empty entries dropped. */
export function listedCallers(callerIds: unknown): string[] {
	if (typeof callerIds !== 'string') return [];
	return callerIds
		.split(',')
		.map((id) => id.trim())
		.filter((id) => id !== '');
}

/**
 * n8n's verdict for the pair when the node can tell it from what the API shows; undefined when only n8n
 * can tell: the sub-workflow has no policy of its own (the instance default applies, which the public API
 * does not show), or a home project the same-project rule needs is unknown to the API key.
 */
export function callerPolicyVerdict(pair: CallerPair): boolean | undefined {
	const policy = pair.settings.callerPolicy;
	if (policy === undefined || policy === null) return undefined;
	if (policy === 'any') return true;
	if (policy === 'workflowsFromAList' && listedCallers(pair.settings.callerIds).includes(pair.callerWorkflowId)) return true;
	if (policy !== 'workflowsFromSameOwner') return false;
	if (pair.subProjectId === undefined || pair.callerProjectId === undefined) return undefined;
	return pair.subProjectId === pair.callerProjectId;
}

/** Runs a workflow as n8n runs an inline sub-workflow for this execution (IExecuteFunctions.executeWorkflow). */
export type RunProbe = (workflow: IWorkflowBase) => Promise<unknown>;

/** n8n's SubworkflowPolicyDenialError: "The sub-workflow (<id>) cannot be called by this workflow". */
const DENIED = /cannot be called by this workflow/i;

/**
 * A workflow of only an Execute Workflow Trigger, carrying the sub-workflow's ID and caller settings:
 * n8n checks the policy of inline code by the code's ID and settings against the calling workflow, with
 * its own instance default and home projects. Successful runs are not saved; a refused one is stored
 * as a failed sub-execution of the sub-workflow, as n8n stores its own refusals.
 */
export function probeWorkflow(pair: CallerPair): IWorkflowBase {
	const settings: IDataObject = { saveDataSuccessExecution: 'none', saveManualExecutions: false };
	if (pair.settings.callerPolicy !== undefined && pair.settings.callerPolicy !== null) settings.callerPolicy = pair.settings.callerPolicy;
	if (typeof pair.settings.callerIds === 'string') settings.callerIds = pair.settings.callerIds;
	return inlineWorkflow({
		id: pair.subWorkflowId,
		name: `Caller policy check of ${pair.subWorkflowLabel}`,
		nodes: [{ id: 'caller-policy-check', name: 'Caller policy check', type: EXECUTE_WORKFLOW_TRIGGER, typeVersion: 1.1, position: [0, 0], parameters: { inputSource: 'passthrough' } }],
		connections: {},
		settings,
	});
}

/**
 * n8n's answers per process: the instance default is read from the environment once per n8n process,
 * and everything else it depends on (IDs, home projects, settings) is in the key.
 */
const MAX_VERDICTS = 500;
const verdicts = new Map<string, Promise<boolean>>();

/** For tests: forget n8n's answers. */
export function forgetCallerPolicyVerdicts(): void {
	verdicts.clear();
}

/** Asks n8n itself whether it lets the calling workflow call the sub-workflow (see probeWorkflow). */
export async function askN8nCallerPolicy(scope: string, pair: CallerPair, runProbe: RunProbe): Promise<boolean> {
	const key = JSON.stringify([
		scope,
		pair.subWorkflowId,
		pair.subProjectId ?? null,
		pair.callerWorkflowId,
		pair.callerProjectId ?? null,
		pair.settings.callerPolicy ?? null,
		typeof pair.settings.callerIds === 'string' ? pair.settings.callerIds : null,
	]);
	const known = verdicts.get(key);
	if (known) return await known;
	const asking = runProbe(probeWorkflow(pair)).then(
		() => true,
		(error: unknown) => {
			if (DENIED.test(String((error as { message?: unknown })?.message ?? ''))) return false;
			throw error;
		},
	);
	if (verdicts.size >= MAX_VERDICTS) verdicts.delete(verdicts.keys().next().value as string);
	verdicts.set(key, asking);
	// Only answers are kept: a probe that failed otherwise is asked again by the next execution.
	asking.catch(() => verdicts.delete(key));
	return await asking;
}

const denial = (pair: CallerPair, itemIndexes: number[]) => {
	const policy = pair.settings.callerPolicy;
	const setting = policy === undefined || policy === null ? "is not set, so n8n's instance default applies" : `is "${String(policy)}"`;
	const unknownCaller = pair.callerProjectId === undefined;
	return new SwapItemError(`Sub-workflow ${pair.subWorkflowLabel} may not be called by this workflow (its setting "This workflow can be called by" ${setting})`, itemIndexes, {
		parameter: 'subWorkflow',
		description:
			'n8n applies the same rule to its own Execute Workflow node. In the sub-workflow\'s settings, allow this workflow to call it ("Workflows from the same project" with both workflows in one project, or this workflow\'s ID in the list).' +
			(unknownCaller ? " The n8n API key cannot read the calling workflow, so the node could not tell its project." : ''),
	});
};

/** The sub-workflow as checked: its ID, label, home project and settings. */
export interface PolicySubject {
	id: string;
	label: string;
	projectId?: string;
	settings: IDataObject;
}

/**
 * Refuses exactly when n8n's own Execute Workflow node (by ID) would refuse the call for the sub-workflow's
 * caller policy. `scope`: the n8n instance (for the answers kept per process).
 */
export async function checkCallerPolicy(
	scope: string,
	subWorkflow: PolicySubject,
	caller: { workflowId: string; projectId?: string },
	itemIndexes: number[],
	runProbe: RunProbe,
): Promise<void> {
	const pair: CallerPair = {
		subWorkflowId: subWorkflow.id,
		subWorkflowLabel: subWorkflow.label,
		subProjectId: subWorkflow.projectId,
		settings: subWorkflow.settings,
		callerWorkflowId: caller.workflowId,
		callerProjectId: caller.projectId,
	};
	let allowed = callerPolicyVerdict(pair);
	if (allowed === undefined) {
		try {
			allowed = await askN8nCallerPolicy(scope, pair, runProbe);
		} catch (error) {
			throw new SwapItemError(
				`Could not learn whether n8n lets this workflow call sub-workflow ${pair.subWorkflowLabel}: ${String((error as { message?: unknown })?.message ?? error)}`,
				itemIndexes,
				{
					parameter: 'subWorkflow',
					description:
						"The sub-workflow has no caller policy of its own, so n8n's instance default decides; the node asks n8n by running a one-node check workflow, which failed. Set \"This workflow can be called by\" in the sub-workflow's settings to decide without it.",
				},
			);
		}
	}
	if (!allowed) throw denial(pair, itemIndexes);
}
