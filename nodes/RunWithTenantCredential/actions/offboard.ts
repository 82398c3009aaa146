import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { readTenantId } from '../../shared/itemParameters';
import { lockClientFor } from '../../shared/lock';
import { lockEngineFor } from '../../shared/lockParameters';
import { errorItem, toNodeError } from '../../shared/nodeErrors';
import { SwapItemError } from '../../shared/swap/errors';
import { asItemError } from '../../shared/swap/itemErrors';
import { offboardTenant } from '../../shared/tenantCredentials/offboard';
import { tenantCredentialRegistryFor } from '../../shared/tenantCredentials/registry';
import { N8nApiClient } from '../../shared/transport/n8nApiClient';
import { n8nApiCredentials, PublicApiTransport } from '../../shared/transport/publicApiTransport';

/**
 * Operation Offboard Tenant: for each item, deletes every credential the node made for its Tenant ID
 * (in this lock store, for this n8n) now, and outputs how many. Items run one after another.
 */
export async function executeOffboardTenant(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const items = this.getInputData();
	const output: INodeExecutionData[] = [];
	if (items.length === 0) return [output];
	const store = await lockEngineFor(this);
	const registry = tenantCredentialRegistryFor(store);
	const transport = new PublicApiTransport(this, await n8nApiCredentials(this));
	const context = {
		api: new N8nApiClient(transport),
		registry,
		locks: lockClientFor(store),
		owner: { instanceId: this.getInstanceId(), executionId: this.getExecutionId(), workflowId: String(this.getWorkflow().id ?? '') },
		scope: transport.instanceId,
		lockLog: this.logger,
	};
	for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
		try {
			const tenantId = readTenantId(this, itemIndex);
			const result = await offboardTenant(context, { tenantId, waitTimeoutMs: waitTimeoutMs(this, itemIndex), itemIndexes: [itemIndex] });
			output.push({ json: result as unknown as IDataObject, pairedItem: { item: itemIndex } });
		} catch (error) {
			const itemError = asItemError(error, [itemIndex], new Set());
			if (!this.continueOnFail()) throw toNodeError(this, itemError, itemIndex);
			output.push(errorItem(toNodeError(this, itemError, itemIndex), itemIndex));
		}
	}
	return [output];
}

function waitTimeoutMs(context: IExecuteFunctions, itemIndex: number): number {
	const options = context.getNodeParameter('options', itemIndex, {}) as IDataObject;
	const seconds = options.waitTimeout === undefined ? 60 : Number(options.waitTimeout);
	if (!Number.isFinite(seconds) || seconds < 0) {
		throw new SwapItemError(`Wait Timeout must be 0 seconds or more (got ${String(options.waitTimeout)})`, [itemIndex], { parameter: 'options.waitTimeout' });
	}
	return Math.round(seconds * 1000);
}
