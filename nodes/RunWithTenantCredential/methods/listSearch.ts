import type { ILoadOptionsFunctions, INodeListSearchResult } from 'n8n-workflow';

import { EXECUTE_WORKFLOW_TRIGGER } from '../../shared/tenantCredentials/subWorkflow';
import { N8nApiClient } from '../../shared/transport/n8nApiClient';
import { n8nApiCredentials, PublicApiTransport } from '../../shared/transport/publicApiTransport';

/** Workflows the API key can see that start with an Execute Workflow Trigger, one API page at a time. */
export async function searchSubWorkflows(
	this: ILoadOptionsFunctions,
	filter?: string,
	paginationToken?: string,
): Promise<INodeListSearchResult> {
	const credentials = await n8nApiCredentials(this);
	const api = new N8nApiClient(new PublicApiTransport(this, credentials));
	const needle = (filter ?? '').trim();
	const page = await api.listWorkflows(paginationToken, 100, needle || undefined);
	const editorBase = credentials.baseUrl.replace(/\/api\/v\d+\/?$/, '');
	return {
		results: page.data
			.filter((workflow) => !workflow.isArchived)
			.filter((workflow) => (workflow.nodes ?? []).some((node) => node.type === EXECUTE_WORKFLOW_TRIGGER))
			.map((workflow) => ({ name: workflow.name, value: workflow.id, url: `${editorBase}/workflow/${workflow.id}` })),
		paginationToken: page.nextCursor ?? undefined,
	};
}
