import { executionStateOf, type ExecutionState } from '../lock';
import type { N8nApiClient } from '../transport/n8nApiClient';
import { N8nApiError } from '../transport/n8nApiErrors';

/**
 * Asks n8n whether an execution still runs, without retries (the keeper asks again soon). A 404 for
 * an execution seen running means it ended and n8n did not keep it; a 404 before that, or no read
 * permission, means this API key cannot follow it.
 */
export function executionStateFromApi(api: N8nApiClient, executionId: string): () => Promise<ExecutionState> {
	let seenRunning = false;
	return async () => {
		let status: string;
		try {
			status = await api.getExecutionStatus(executionId);
		} catch (error) {
			if (error instanceof N8nApiError && (error.status === 401 || error.status === 403)) return 'untrackable';
			throw error;
		}
		if (status === 'missing') return seenRunning ? 'ended' : 'untrackable';
		const state = executionStateOf(status);
		if (state === 'running') seenRunning = true;
		return state;
	};
}

