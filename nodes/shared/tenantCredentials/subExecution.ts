import type { IDataObject, IExecuteFunctions } from 'n8n-workflow';

/** A sub-execution as n8n's editor links it (item or run metadata `subExecution`). */
export interface SubExecutionRef {
	executionId: string;
	workflowId: string;
}

/**
 * Whether n8n keeps the record of a sub-execution run with these (rebound) settings: a link to one it
 * does not keep opens "Could not find execution". Successful ones are kept only with Save Successful
 * Sub-Executions on (reboundWorkflow sets "none" otherwise) and when the sub-workflow does not say
 * "none" itself; failed ones unless the sub-workflow says "none". Unset means n8n's default: kept.
 */
export function keepsSubExecution(settings: IDataObject | undefined, outcome: 'success' | 'error'): boolean {
	const setting = outcome === 'success' ? settings?.saveDataSuccessExecution : settings?.saveDataErrorExecution;
	return setting !== 'none';
}

/** Item metadata linking a successful sub-execution, only when n8n keeps it. */
export function subExecutionMetadata(ref: SubExecutionRef, kept: boolean): { metadata?: { subExecution: SubExecutionRef } } {
	return kept ? { metadata: { subExecution: ref } } : {};
}

/** n8n attaches the failed sub-execution's ID to the error it throws (objectToError: executionId, workflowId). */
export function failedSubExecution(error: unknown): SubExecutionRef | undefined {
	const failure = error as { executionId?: unknown; workflowId?: unknown } | undefined;
	if (typeof failure?.executionId !== 'string' || failure.executionId === '') return undefined;
	return { executionId: failure.executionId, workflowId: typeof failure.workflowId === 'string' ? failure.workflowId : '' };
}

/**
 * Where a user finds a failed sub-execution. The node runs the sub-workflow inline, and n8n files an
 * inline run under the calling workflow: it is in this workflow's Executions list, not the sub-workflow's.
 */
export function whereToFindFailedSubExecution(ref: SubExecutionRef | undefined, kept: boolean): string {
	if (!kept) {
		return "n8n did not keep this sub-execution (the sub-workflow's setting \"Save failed production executions\" is off): turn it on to see the failed run.";
	}
	if (!ref) {
		return "To see what happened, open the failed sub-execution in this workflow's Executions list: n8n lists a sub-workflow run by this node under the calling workflow, not under the sub-workflow.";
	}
	return `To see what happened, open execution ${ref.executionId} ("View sub-execution" above this node's output, or this workflow's Executions list: n8n lists a sub-workflow run by this node under the calling workflow, not under the sub-workflow).`;
}

/**
 * Links the node's run to a sub-execution n8n keeps: the output panel's "View sub-execution" (run
 * metadata, as n8n's Execute Workflow node sets it), also shown when the node failed. With several
 * sub-executions it links the last and counts them all.
 */
export function linkRunToSubExecution(context: Pick<IExecuteFunctions, 'setMetadata' | 'getExecuteData'>, ref: SubExecutionRef): void {
	if (typeof context.setMetadata !== 'function') return;
	const before = typeof context.getExecuteData === 'function' ? context.getExecuteData()?.metadata?.subExecutionsCount : undefined;
	context.setMetadata({ subExecution: ref, subExecutionsCount: (typeof before === 'number' ? before : 0) + 1 });
}
