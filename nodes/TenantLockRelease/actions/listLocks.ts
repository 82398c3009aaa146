import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { lockEngineFor } from '../../shared/lockParameters';
import { toNodeError } from '../../shared/nodeErrors';
import { SwapItemError } from '../../shared/swap/errors';

/**
 * Who holds which lock since when, and how many wait: one item per held lock, so a stuck one can be
 * found and freed from a workflow (Release with The Lock on the Item takes lockKey and token).
 */
export async function executeListLocks(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const limit = Number(this.getNodeParameter('limit', 0, 50));
	if (!Number.isInteger(limit) || limit < 1) {
		throw toNodeError(this, new SwapItemError(`Limit must be a whole number of at least 1 (got ${String(limit)})`, [0], { parameter: 'limit' }), 0);
	}
	const lock = await lockEngineFor(this);
	const now = Date.now();
	const held = await lock.heldLocks(limit);
	return [
		held.map((info) => ({
			json: {
				lockKey: info.key,
				token: info.token,
				fence: info.fence,
				executionId: info.owner.executionId,
				instanceId: info.owner.instanceId ?? null,
				workflowId: info.owner.workflowId ?? null,
				tenantId: info.owner.tenantId ?? null,
				heldSince: info.acquiredAt.toISOString(),
				heldForMs: Math.max(0, now - info.acquiredAt.getTime()),
				leaseEnds: info.expiresAt.toISOString(),
				waiting: info.waiting,
				lockBackend: lock.backend,
			} as IDataObject,
			pairedItem: { item: 0 },
		})),
	];
}
