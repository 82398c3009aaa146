import type { ILoadOptionsFunctions, INodeListSearchResult } from 'n8n-workflow';

import { N8nApiClient } from '../../shared/transport/n8nApiClient';
import { n8nApiCredentials, PublicApiTransport } from '../../shared/transport/publicApiTransport';

/**
 * Credentials visible to the API key, one API page at a time, filtered by name. Leaves out this node's
 * own n8n API and lock database credentials: swapping a tenant's data into them would break the node.
 */
export async function searchCredentials(
	this: ILoadOptionsFunctions,
	filter?: string,
	paginationToken?: string,
): Promise<INodeListSearchResult> {
	const credentials = await n8nApiCredentials(this);
	const api = new N8nApiClient(new PublicApiTransport(this, credentials));
	const page = await api.listCredentials(paginationToken, 100);
	const needle = (filter ?? '').trim().toLowerCase();
	const editorBase = credentials.baseUrl.replace(/\/api\/v\d+\/?$/, '');
	const ownIds = new Set(
		Object.values(this.getNode().credentials ?? {})
			.map((selected) => selected?.id)
			.filter((id): id is string => typeof id === 'string' && id.length > 0),
	);
	return {
		results: page.data
			.filter((credential) => !credential.name.startsWith('tenant-swap tmp'))
			.filter((credential) => !ownIds.has(credential.id))
			.filter((credential) => !needle || credential.name.toLowerCase().includes(needle))
			.map((credential) => ({
				name: `${credential.name} (${credential.type})`,
				value: credential.id,
				url: `${editorBase}/home/credentials/${credential.id}`,
			})),
		paginationToken: page.nextCursor ?? undefined,
	};
}
