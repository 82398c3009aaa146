import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { readTenantId } from '../../shared/itemParameters';
import { disconnectTenant } from '../../shared/tenantOAuth/disconnect';
import { N8nApiClient } from '../../shared/transport/n8nApiClient';
import { n8nApiCredentials, PublicApiTransport } from '../../shared/transport/publicApiTransport';
import { readConnection } from './parameters';
import { eachItem } from './perItem';
import { openConnectStore } from './store';

/**
 * Operation Disconnect: per item forgets the tenant's connection and deletes its n8n credential.
 * Idempotent: a tenant not connected outputs `disconnected: false`.
 */
export async function executeDisconnect(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	if (this.getInputData().length === 0) return [[]];
	const [store, apiCredentials] = await Promise.all([openConnectStore(this), n8nApiCredentials(this)]);
	const api = new N8nApiClient(new PublicApiTransport(this, apiCredentials));
	return await eachItem(this, async (itemIndex) => {
		const connection = readConnection(this, itemIndex);
		const tenantId = readTenantId(this, itemIndex);
		const outcome = await disconnectTenant(store, api, { tenantId, appId: connection }, [itemIndex]);
		return { tenantId, connection, ...outcome };
	});
}
