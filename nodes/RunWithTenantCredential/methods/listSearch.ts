import { NodeOperationError, type ILoadOptionsFunctions, type INodeListSearchResult } from 'n8n-workflow';

import { shorten } from '../../shared/lock';
import { placeholderCandidates } from '../../shared/tenantCredentials/placeholder';
import { EXECUTE_WORKFLOW_TRIGGER, homeProjectOf } from '../../shared/tenantCredentials/subWorkflow';
import { N8nApiClient } from '../../shared/transport/n8nApiClient';
import { n8nApiCredentials, PublicApiTransport } from '../../shared/transport/publicApiTransport';

/**
 * The project the editor asks the list for. n8n gives a list search no workflow ID; it resolves the
 * project the editor sends (else the edited workflow's home project) into the request's additional data:
 * `projectId` (n8n 2.40) or `dataTableProjectId` (n8n 2.8 on). Not part of n8n-workflow's interface: read defensively.
 */
export function listProjectOf(context: ILoadOptionsFunctions): string | undefined {
	const data = (context as unknown as { additionalData?: { projectId?: unknown; dataTableProjectId?: unknown } }).additionalData;
	const projectId = data?.projectId ?? data?.dataTableProjectId;
	return typeof projectId === 'string' && projectId !== '' ? projectId : undefined;
}

/** Sub-workflows of the calling workflow's project (home project, as n8n's "same project" rule), that start with an Execute Workflow Trigger, one API page at a time. */
export async function searchSubWorkflows(
	this: ILoadOptionsFunctions,
	filter?: string,
	paginationToken?: string,
): Promise<INodeListSearchResult> {
	const projectId = listProjectOf(this);
	// Without a project the list would show workflows of every project the API key sees.
	if (!projectId) {
		throw new NodeOperationError(this.getNode(), "Could not tell this workflow's project, so no workflows are listed", {
			description: "Save the workflow (in a project), then open the list again, or enter the sub-workflow's ID (By ID).",
		});
	}
	const credentials = await n8nApiCredentials(this);
	const api = new N8nApiClient(new PublicApiTransport(this, credentials));
	const needle = (filter ?? '').trim();
	const page = await api.listWorkflows(paginationToken, 100, needle || undefined, projectId);
	const editorBase = credentials.baseUrl.replace(/\/api\/v\d+\/?$/, '');
	return {
		results: page.data
			.filter((workflow) => !workflow.isArchived)
			// The API's project filter also matches workflows only shared with the project.
			.filter((workflow) => homeProjectOf(workflow) === projectId)
			.filter((workflow) => (workflow.nodes ?? []).some((node) => node.type === EXECUTE_WORKFLOW_TRIGGER))
			.map((workflow) => ({ name: workflow.name, value: workflow.id, url: `${editorBase}/workflow/${workflow.id}` })),
		paginationToken: page.nextCursor ?? undefined,
	};
}

/**
 * The credentials the chosen sub-workflow's nodes use (its draft and its published version), to pick
 * the placeholder from: name, type and the nodes using it. Tenant credentials are never offered.
 */
export async function searchPlaceholderCredentials(this: ILoadOptionsFunctions, filter?: string): Promise<INodeListSearchResult> {
	const chosen = this.getCurrentNodeParameter('subWorkflow', { extractValue: true });
	const subWorkflowId = typeof chosen === 'string' ? chosen.trim() : '';
	if (!subWorkflowId || subWorkflowId.startsWith('=') || !/^[A-Za-z0-9_-]+$/.test(subWorkflowId)) {
		throw new NodeOperationError(this.getNode(), 'Pick the Sub-Workflow first', {
			description: "The list shows the credentials of the chosen sub-workflow's nodes. With a Sub-Workflow given by an expression, enter the placeholder's ID (By ID).",
		});
	}
	const api = new N8nApiClient(new PublicApiTransport(this, await n8nApiCredentials(this)));
	const workflow = await api.getWorkflow(subWorkflowId);
	const nodes = [...(workflow.nodes ?? []), ...(workflow.activeVersion?.nodes ?? [])];
	const needle = (filter ?? '').trim().toLowerCase();
	return {
		results: placeholderCandidates(nodes)
			.filter((candidate) => !needle || [candidate.name, candidate.type, candidate.id].some((text) => text.toLowerCase().includes(needle)))
			.map((candidate) => ({
				name: `${shorten(candidate.name, 60)} (${candidate.type}), used by ${candidate.nodes.map((node) => shorten(node, 40)).join(', ')}`,
				value: candidate.id,
			})),
	};
}
