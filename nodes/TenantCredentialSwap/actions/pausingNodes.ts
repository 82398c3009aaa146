import { NodeOperationError, type IExecuteFunctions, type NodeTypeAndVersion } from 'n8n-workflow';

import { canPause } from '../../shared/pausingNodes';

/** Node type suffix of Release Lock: `<package>.tenantLockRelease` installed, `CUSTOM.tenantLockRelease` from a folder. */
export const RELEASE_LOCK_TYPE_SUFFIX = '.tenantLockRelease';

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
