/** n8n's nodes that put an execution to sleep until a time or a call comes (it may resume in another process). */
const PAUSING_TYPES = new Set(['n8n-nodes-base.form', '@n8n/n8n-nodes-langchain.chat']);
const WAIT_TYPE = 'n8n-nodes-base.wait';
/** n8n's Wait node keeps a shorter time interval in the running execution (it sleeps in process). */
const WAIT_IN_PROCESS_BELOW_MS = 65_000;
const UNIT_MS: Record<string, number> = { seconds: 1_000, minutes: 60_000, hours: 3_600_000, days: 86_400_000 };

/** The parts of a node the recognition reads (a node of the execution's graph, or of a workflow read through the API). */
export interface PausingNodeCandidate {
	type: string;
	typeVersion?: number;
	disabled?: boolean;
	parameters?: Record<string, unknown>;
}

/**
 * Whether a Wait node puts the execution to wait (saved, resumed later): anything but a fixed time
 * interval under 65 s. Parameters left at their defaults are not stored: version 1 waits 1 hour,
 * later versions 5 seconds (n8n 2.40.7's Wait node).
 */
function waitPauses(node: PausingNodeCandidate): boolean {
	const parameters = node.parameters ?? {};
	if ((parameters.resume ?? 'timeInterval') !== 'timeInterval') return true;
	const amount = parameters.amount ?? (node.typeVersion === 1 ? 1 : 5);
	const unitMs = UNIT_MS[String(parameters.unit ?? (node.typeVersion === 1 ? 'hours' : 'seconds'))];
	if (typeof amount !== 'number' || !unitMs) return true;
	return amount * unitMs >= WAIT_IN_PROCESS_BELOW_MS;
}

/** Wait (unless a short fixed interval), Form, Respond to Chat, and any node's "Send and Wait for Response" operation. */
export function canPause(node: PausingNodeCandidate): boolean {
	if (node.disabled) return false;
	if (node.type === WAIT_TYPE) return waitPauses(node);
	if (PAUSING_TYPES.has(String(node.type))) return true;
	return node.parameters?.operation === 'sendAndWait';
}
