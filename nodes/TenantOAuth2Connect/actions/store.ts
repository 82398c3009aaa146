import type { IExecuteFunctions } from 'n8n-workflow';

import { lockEngineFor } from '../../shared/lockParameters';
import { connectStoreFor } from '../../shared/tenantOAuth/connectStore';
import type { ConnectStore } from '../../shared/tenantOAuth/types';

/** The connect store on the node's lock database: the process-wide engine (one pool per database). */
export async function openConnectStore(context: IExecuteFunctions): Promise<ConnectStore> {
	return connectStoreFor(await lockEngineFor(context));
}
