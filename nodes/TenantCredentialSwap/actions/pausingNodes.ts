import { NodeOperationError, type IExecuteFunctions, type NodeTypeAndVersion } from 'n8n-workflow';

/** Node type suffix of Release Lock: `<package>.tenantLockRelease` installed, `CUSTOM.tenantLockRelease` from a folder. */
export const RELEASE_LOCK_TYPE_SUFFIX = '.tenantLockRelease';

/** n8n's nodes that put an execution to sleep until a time or a call comes (it may resume in another process). */
const PAUSING_TYPES = new Set(['n8n-nodes-base.form', '@n8n/n8n-nodes-langchain.chat']);
const WAIT_TYPE = 'n8n-nodes-base.wait';
/** n8n's Wait node keeps a shorter time interval in the running execution (it sleeps in process). */
const WAIT_IN_PROCESS_BELOW_MS = 65_000;
const UNIT_MS: Record<string, number> = { seconds: 1_000, minutes: 60_000, hours: 3_600_000, days: 86_400_000 };

/**
 * Whether a Wait node puts the execution to wait (saved, resumed later): anything but a fixed time
 * interval under 65 s. Parameters left at their defaults are not stored: version 1 waits 1 hour,
 * later versions 5 seconds (n8n 2.40.7's Wait node).
 */
function waitPauses(node: NodeTypeAndVersion): boolean {
	const parameters = node.parameters ?? {};
	if ((parameters.resume ?? 'timeInterval') !== 'timeInterval') return true;
	const amount = parameters.amount ?? (node.typeVersion === 1 ? 1 : 5);
	const unitMs = UNIT_MS[String(parameters.unit ?? (node.typeVersion === 1 ? 'hours' : 'seconds'))];
	if (typeof amount !== 'number' || !unitMs) return true;
	return amount * unitMs >= WAIT_IN_PROCESS_BELOW_MS;
}

/** Wait (unless a short fixed interval), Form, Respond to Chat, and any node's "Send and Wait for Response" operation. */
export function canPause(node: NodeTypeAndVersion): boolean {
	if (node.disabled) return false;
	if (node.type === WAIT_TYPE) return waitPauses(node);
	if (PAUSING_TYPES.has(String(node.type))) return true;
	return node.parameters?.operation === 'sendAndWait';
}

const isRelease = (node: NodeTypeAndVersion) => !node.disabled && String(node.type).endsWith(RELEASE_LOCK_TYPE_SUFFIX);

/**
 * Refuses to run when a node that can pause the execution lies between this swap and its Release Lock
 * (or follows it with no Release Lock before it). The lease belongs to this process and lives while
 * the execution runs here; a paused execution resumes later, perhaps elsewhere, after the lease ran
 * out, and its next nodes would use whatever tenant the base credential holds by then.
 * n8n versions without the node graph in the execute context are not checked.
 */
export function refusePausingNodes(context: IExecuteFunctions): void {
	if (typeof context.getChildNodes !== 'function' || typeof context.getParentNodes !== 'function') return;
	const self = context.getNode().name;
	const downstream = context.getChildNodes(self, { includeNodeParameters: true });
	const releases = new Set(downstream.filter(isRelease).map((node) => node.name));
	for (const node of downstream.filter(canPause)) {
		const releaseAfter = context.getChildNodes(node.name).some(isRelease);
		const releaseBefore = context.getParentNodes(node.name).some((parent) => releases.has(parent.name));
		if (!releaseAfter && releaseBefore) continue;
		throw new NodeOperationError(
			context.getNode(),
			`"${node.name}" can pause this execution while it holds the lock of this Tenant Credential Swap: put Release Lock before it`,
			{
				description:
					`"${node.name}" (${String(node.type)}) can pause the execution ${releaseAfter ? 'between this node and Release Lock' : 'after this node, with no Release Lock before it'}. ` +
					'The lock belongs to the n8n process that took it and is renewed only while the execution runs there: a paused execution resumes later, perhaps on another worker after the lease ran out, and its nodes would use whatever tenant the base credential holds by then. ' +
					'Release the lock before the pausing node and swap again after it. (An n8n restart while the lock is held is covered by the Lock TTL: the lock frees itself when it runs out, and the interrupted execution does not resume with it.)',
			},
		);
	}
}
