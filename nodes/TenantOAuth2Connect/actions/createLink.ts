import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { readTenantId } from '../../shared/itemParameters';
import { readConnection, readConnectStartUrl, readLinkExpiryMs } from './parameters';
import { eachItem } from './perItem';
import { openConnectStore } from './store';

/** The query parameter of the start URL that carries the link token (the trigger reads it). */
export const LINK_QUERY_PARAMETER = 'link';

/**
 * Operation Create Connect Link: per item a one-time link bound to (Tenant ID, Connection) on the
 * server. The token is a bearer capability for the trusted caller: it is in the output's connectUrl
 * only, never logged.
 */
export async function executeCreateConnectLink(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	if (this.getInputData().length === 0) return [[]];
	const store = await openConnectStore(this);
	return await eachItem(this, async (itemIndex) => {
		// Every parameter is checked before anything is stored.
		const connection = readConnection(this, itemIndex);
		const tenantId = readTenantId(this, itemIndex);
		const startUrl = readConnectStartUrl(this, itemIndex);
		const ttlMs = readLinkExpiryMs(this, itemIndex);
		const { token, expiresAt } = await store.createLink({ tenantId, appId: connection }, ttlMs);
		const connectUrl = new URL(startUrl.href);
		connectUrl.searchParams.set(LINK_QUERY_PARAMETER, token);
		return { tenantId, connection, connectUrl: connectUrl.href, expiresAt: expiresAt.toISOString() };
	});
}
