import type { IDataObject, IWorkflowBase } from 'n8n-workflow';

import { shorten } from '../lock';
import { SwapItemError } from '../swap/errors';
import type { N8nApiClient, WorkflowNode, WorkflowSummary } from '../transport/n8nApiClient';
import { N8nApiError } from '../transport/n8nApiErrors';
import { rebindPlaceholder } from './placeholder';

export const EXECUTE_WORKFLOW_TRIGGER = 'n8n-nodes-base.executeWorkflowTrigger';

/** A sub-workflow read once through the API: what runs, and whom it belongs to. */
export interface LoadedSubWorkflow {
	id: string;
	name: string;
	/** How messages name it: its quoted name in the calling workflow's project, else only its ID (names of other projects are not shown). */
	label: string;
	/** Its home project is the calling workflow's. */
	inCallerProject: boolean;
	nodes: WorkflowNode[];
	connections: IDataObject;
	settings: IDataObject;
	/** Home project (the caller policy "same project" compares it). */
	projectId?: string;
	/** Which version runs: the published one in production, the saved draft in manual and chat executions (as n8n does). */
	version: 'published' | 'draft';
}

/**
 * Workflows read per process, per n8n instance and API key. n8n's public API has no "changed since":
 * a copy younger than MAX_AGE_MS is used as is; an older one (up to STALE_MAX_MS) is still used once
 * while a single background read refreshes it, so no execution waits for the API on that path; older
 * than that, or for a manual execution (the editor), the execution reads it itself.
 */
export const MAX_AGE_MS = 5_000;
const STALE_MAX_MS = 60_000;
const MAX_ENTRIES = 200;
interface CachedWorkflow {
	at: number;
	workflow: Promise<WorkflowSummary>;
	refreshing?: boolean;
}
const cache = new Map<string, CachedWorkflow>();

/** For tests: forget every cached sub-workflow. */
export function forgetCachedSubWorkflows(): void {
	cache.clear();
}

function startRead(api: N8nApiClient, key: string, id: string): CachedWorkflow {
	const entry: CachedWorkflow = { at: Date.now(), workflow: api.getWorkflow(id) };
	if (cache.size >= MAX_ENTRIES && !cache.has(key)) cache.delete(cache.keys().next().value as string);
	entry.workflow.then(
		() => {
			cache.delete(key);
			cache.set(key, entry);
		},
		() => {
			if (cache.get(key) === entry) cache.delete(key);
		},
	);
	return entry;
}

/** Reads a workflow through the API, sharing one request among concurrent executions. `scope`: the n8n instance and the API key (what a key may read differs per key). */
export async function readWorkflow(api: N8nApiClient, scope: string, id: string, fresh: boolean): Promise<WorkflowSummary> {
	const key = `${scope}\u0000${id}`;
	const age = (entry: CachedWorkflow) => Date.now() - entry.at;
	const hit = cache.get(key);
	if (hit && !fresh && age(hit) < MAX_AGE_MS) return await hit.workflow;
	if (hit && !fresh && age(hit) < STALE_MAX_MS) {
		if (!hit.refreshing) {
			hit.refreshing = true;
			// A failed refresh keeps the copy until STALE_MAX_MS; then an execution reads (and reports) it itself.
			startRead(api, key, id).workflow.catch(() => {
				hit.refreshing = false;
			});
		}
		return await hit.workflow;
	}
	const entry = startRead(api, key, id);
	cache.set(key, entry);
	return await entry.workflow;
}

/** The workflow's home project: the one sharing it as owner (what n8n's policy check compares); a project it is only shared with does not count. */
export function homeProjectOf(workflow: Pick<WorkflowSummary, 'shared'>): string | undefined {
	return (workflow.shared ?? []).find((entry) => entry.role === 'workflow:owner')?.projectId;
}

/** The calling workflow's home project (where tenant credentials must live), if the key may read it. */
export async function callerProjectOf(api: N8nApiClient, scope: string, workflowId: string): Promise<string | undefined> {
	try {
		return homeProjectOf(await readWorkflow(api, scope, workflowId, false));
	} catch (error) {
		if (error instanceof N8nApiError && (error.status === 404 || error.status === 403)) return undefined;
		throw error;
	}
}

const fail = (itemIndexes: number[], message: string, description: string) =>
	new SwapItemError(message, itemIndexes, { parameter: 'subWorkflow', description });

/** Reads the sub-workflow (shared with concurrent executions); fails with what to do when it is not there or the key may not read it. */
export async function readSubWorkflow(
	api: N8nApiClient,
	scope: string,
	id: string,
	options: { manual: boolean; itemIndexes: number[] },
): Promise<WorkflowSummary> {
	try {
		return await readWorkflow(api, scope, id, options.manual);
	} catch (error) {
		if (error instanceof N8nApiError && error.status === 404) {
			throw fail(
				options.itemIndexes,
				`No workflow with ID "${shorten(id, 60)}"`,
				'Pick the sub-workflow from the list, or check the ID (the last part of its URL). The API key must belong to a user who can open it.',
			);
		}
		if (error instanceof N8nApiError && error.status === 403) {
			throw fail(
				options.itemIndexes,
				'The n8n API key may not read workflows',
				'Give the API key of the n8n API credential the scope workflow:read (and workflow:list for From List): the node reads the sub-workflow through the API.',
			);
		}
		throw error;
	}
}

/** Executions that run a sub-workflow's draft rather than its published version (n8n's isManualOrChatExecution). */
export const runsDrafts = (mode: string): boolean => mode === 'manual' || mode === 'chat';

/**
 * The version of the sub-workflow n8n's Execute Workflow node (by ID) would run, checked: production
 * executions run the published version and n8n refuses a sub-workflow that has none ("Workflow is not
 * active and cannot be executed."); manual and chat executions run the saved draft. It must start with
 * an (enabled) Execute Workflow Trigger. Settings (caller policy) are the workflow's current ones, as n8n reads them.
 */
export function subWorkflowToRun(
	workflow: WorkflowSummary,
	options: { draft: boolean; callerProjectId?: string; itemIndexes: number[] },
): LoadedSubWorkflow {
	const projectId = homeProjectOf(workflow);
	const ownProject = projectId !== undefined && projectId === options.callerProjectId;
	const label = ownProject ? `"${shorten(workflow.name, 80)}"` : `with ID "${shorten(workflow.id, 60)}"`;
	const published = options.draft ? undefined : workflow.activeVersion?.nodes ? workflow.activeVersion : undefined;
	if (!options.draft && !published) {
		throw fail(
			options.itemIndexes,
			`Sub-workflow ${label} is not published: production executions run only a published sub-workflow`,
			"n8n's own Execute Workflow node refuses it too (\"Workflow is not active and cannot be executed\"). Publish the sub-workflow, or run this workflow manually to try its draft.",
		);
	}
	const nodes = published?.nodes ?? workflow.nodes ?? [];
	const trigger = nodes.find((node) => node.type === EXECUTE_WORKFLOW_TRIGGER && !node.disabled);
	if (!trigger) {
		throw fail(
			options.itemIndexes,
			`Workflow ${label} is not a sub-workflow: its ${published ? 'published version' : 'draft'} has no (enabled) Execute Workflow Trigger`,
			'Start the workflow that holds the nodes using the tenant\'s credential with an "When Executed by Another Workflow" trigger (Accept All Data), and pick that workflow here.',
		);
	}
	return {
		id: workflow.id,
		name: workflow.name,
		label,
		inCallerProject: ownProject,
		nodes,
		connections: published?.connections ?? workflow.connections ?? {},
		settings: workflow.settings ?? {},
		projectId,
		version: published ? 'published' : 'draft',
	};
}

/** The workflow n8n runs inline: the sub-workflow with every entry of the placeholder's ID pointing at the tenant's credential, every other credential as it is. */
export function reboundWorkflow(
	workflow: LoadedSubWorkflow,
	placeholderId: string,
	credential: { id: string; name: string },
	options: { saveSuccessfulExecution: boolean } = { saveSuccessfulExecution: true },
): IWorkflowBase {
	const nodes = rebindPlaceholder(workflow.nodes, placeholderId, credential);
	return inlineWorkflow({
		// The sub-execution is stored under the calling workflow: a workflow of another project is named by its ID.
		name: workflow.inCallerProject ? workflow.name : `Sub-workflow ${workflow.id}`,
		nodes,
		connections: workflow.connections,
		settings: options.saveSuccessfulExecution ? workflow.settings : { ...workflow.settings, saveDataSuccessExecution: 'none' },
	});
}

/** A workflow to run with IExecuteFunctions.executeWorkflow({ code }): never active, no published version. */
export function inlineWorkflow(parts: { id?: string; name: string; nodes: WorkflowNode[]; connections: IDataObject; settings: IDataObject }): IWorkflowBase {
	return { ...parts, active: false, activeVersionId: null, isArchived: false, createdAt: new Date(), updatedAt: new Date() } as unknown as IWorkflowBase;
}
