import type { IExecuteFunctions } from 'n8n-workflow';

/** What n8n-core's node context holds beside its public functions (n8n 1.x-2.x). */
interface NodeContextInternals {
	additionalData?: { setExecutionStatus?: (status: 'running') => void };
}

/**
 * Undoes the wait n8n puts this execution in when a sub-execution returns paused: n8n-core's
 * `executeWorkflow` then calls `putExecutionToWait(WAIT_INDEFINITELY)` on the calling execution, which
 * n8n would park after this node (forever, as the sub-execution is not told to resume it). The node
 * has already failed the paused group's items, so the execution goes on (or fails) now instead.
 */
export async function stayRunning(node: IExecuteFunctions): Promise<void> {
	// putExecutionToWait only sets the execution's waitTill: undefined clears it (what n8n does on resume).
	await node.putExecutionToWait(undefined as unknown as Date);
	// ... and marks it waiting among the active executions, which would keep its entry after it ends.
	(node as unknown as NodeContextInternals).additionalData?.setExecutionStatus?.('running');
}
