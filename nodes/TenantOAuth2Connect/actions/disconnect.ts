import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { readTenantId } from '../../shared/itemParameters';
import { lockClientFor } from '../../shared/lock';
import { lockEngineFor } from '../../shared/lockParameters';
import { connectionHold } from '../../shared/tenantOAuth/connectionLock';
import { connectStoreFor } from '../../shared/tenantOAuth/connectStore';
import { disconnectTenant } from '../../shared/tenantOAuth/disconnect';
import { N8nApiClient } from '../../shared/transport/n8nApiClient';
import { n8nApiCredentials, PublicApiTransport } from '../../shared/transport/publicApiTransport';
import { readConnection } from './parameters';
import { eachItem } from './perItem';

/**
 * Operation Disconnect: per item forgets the tenant's connection and deletes its n8n credential, under
 * the tenant's connection lock (the one the trigger's Complete holds).
 * Idempotent: a tenant not connected outputs `disconnected: false`.
 */
export async function executeDisconnect(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	if (this.getInputData().length === 0) return [[]];
	const [engine, apiCredentials] = await Promise.all([lockEngineFor(this), n8nApiCredentials(this)]);
	const store = connectStoreFor(engine);
	const locks = lockClientFor(engine);
	const owner = { instanceId: this.getInstanceId(), executionId: this.getExecutionId(), workflowId: String(this.getWorkflow().id ?? '') };
	const api = new N8nApiClient(new PublicApiTransport(this, apiCredentials));
	return await eachItem(this, async (itemIndex) => {
		const connection = readConnection(this, itemIndex);
		const tenantId = readTenantId(this, itemIndex);
		const hold = connectionHold(locks, owner, { connection, tenantId }, [itemIndex], this.logger);
		const outcome = await disconnectTenant(store, api, { tenantId, appId: connection }, [itemIndex], hold);
		return { tenantId, connection, ...outcome };
	});
}
