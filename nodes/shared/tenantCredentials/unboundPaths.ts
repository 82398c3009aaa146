import type { IDataObject } from 'n8n-workflow';

import { shorten } from '../lock';
import { canPause } from '../pausingNodes';
import { SwapItemError } from '../swap/errors';
import type { N8nApiClient, WorkflowNode, WorkflowSummary } from '../transport/n8nApiClient';
import { N8nApiError } from '../transport/n8nApiErrors';
import { homeProjectOf, MAX_AGE_MS, readWorkflow, type LoadedSubWorkflow } from './subWorkflow';

/**
 * Paths of a sub-workflow that Run With Tenant Credential does not rebind: workflows it calls (Execute
 * Workflow, tool and retriever workflows, by ID or inline) and its error workflow run with the
 * credentials saved in them, so a placeholder there would be used as is, for every tenant. Those are
 * refused before anything runs, as are nodes that can pause the sub-execution (n8n would park the
 * calling execution while the node goes on, see the README). Paths without the placeholder run.
 */

/** n8n's nodes that run another workflow; all read `source`, `workflowId`, `workflowJson` (and, Execute Workflow up to 1.1, `workflowPath`, `workflowUrl`). */
const WORKFLOW_CALLERS = new Set(['n8n-nodes-base.executeWorkflow', '@n8n/n8n-nodes-langchain.toolWorkflow', '@n8n/n8n-nodes-langchain.retrieverWorkflow']);
/** How deep workflows calling workflows are followed, and how many are read for one sub-workflow. */
const MAX_DEPTH = 8;
const MAX_WORKFLOWS = 50;

export interface UnboundPathContext {
	api: N8nApiClient;
	/** Cache scope: the n8n instance and a hash of the API key (what a key may read differs per key). */
	scope: string;
	/** Manual and chat executions: called workflows read fresh, their drafts checked (as n8n runs them). */
	draft: boolean;
	/** The calling workflow's home project: names of workflows of other projects are not shown. */
	callerProjectId?: string;
}

/** Why a sub-workflow is refused, without item indexes (the verdict is shared by executions). */
interface Refusal {
	message: string;
	description: string;
}

/** A workflow to look through, and how it is reached from the sub-workflow. */
interface Visit {
	nodes: WorkflowNode[];
	settings?: IDataObject;
	/** How messages name it, e.g. `sub-workflow "Tenant API"` or `workflow with ID "x" (run by node "Call" of sub-workflow "Tenant API")`. */
	label: string;
	/** Its nodes may be named in messages (the calling workflow's project, or inline in a workflow that is). */
	namesShown: boolean;
	/** The sub-workflow itself: its nodes are rebound, so the placeholder is expected there. */
	rebound: boolean;
	/** It runs while the sub-execution waits for it: a pausing node there parks the calling execution. */
	inline: boolean;
	depth: number;
}

type Target = { kind: 'id'; id: string } | { kind: 'code'; json: unknown } | { kind: 'unknown'; how: string } | { kind: 'none' };

const isExpression = (value: unknown) => typeof value === 'string' && value.startsWith('=');

/** The workflow a calling node runs, as far as its saved parameters tell (n8n's getWorkflowInfo). */
export function targetOf(node: WorkflowNode): Target {
	const parameters = node.parameters ?? {};
	const source = parameters.source ?? 'database';
	if (isExpression(source)) return { kind: 'unknown', how: 'chooses its Source by an expression' };
	if (source === 'database') {
		const raw = parameters.workflowId;
		const locator = raw && typeof raw === 'object' ? (raw as IDataObject) : undefined;
		const value = locator ? locator.value : raw;
		if (value === undefined || value === null || value === '') return { kind: 'none' };
		if (typeof value !== 'string' || isExpression(value)) return { kind: 'unknown', how: 'picks the workflow by an expression' };
		if (locator?.mode === 'url') {
			const id = /\/workflow\/([^/?#]+)/.exec(value)?.[1];
			return id ? { kind: 'id', id } : { kind: 'unknown', how: 'names the workflow by a URL that holds no workflow ID' };
		}
		return { kind: 'id', id: value.trim() };
	}
	if (source === 'parameter') {
		const json = parameters.workflowJson;
		if (isExpression(json)) return { kind: 'unknown', how: 'builds the workflow JSON with an expression' };
		if (typeof json !== 'string') return { kind: 'code', json };
		try {
			return { kind: 'code', json: JSON.parse(json) };
		} catch {
			// n8n fails this node before running anything: nothing to check.
			return { kind: 'none' };
		}
	}
	if (source === 'localFile') return { kind: 'unknown', how: 'loads the workflow from a local file' };
	if (source === 'url') return { kind: 'unknown', how: 'loads the workflow from a URL' };
	return { kind: 'unknown', how: `has the Source "${shorten(String(source), 40)}"` };
}

/** Whether a calling node waits for the workflow it runs (Execute Workflow's option; tools and retrievers always wait). */
const waitsFor = (node: WorkflowNode) => ((node.parameters?.options as IDataObject | undefined)?.waitForSubWorkflow ?? true) !== false;

const usesPlaceholder = (node: WorkflowNode, ids: ReadonlySet<string>) =>
	Object.values(node.credentials ?? {}).some((credential) => typeof credential?.id === 'string' && ids.has(credential.id));

function nodesOf(json: unknown): WorkflowNode[] {
	const nodes = (json as { nodes?: unknown } | null)?.nodes;
	return Array.isArray(nodes) ? (nodes.filter((node) => node && typeof node === 'object') as WorkflowNode[]) : [];
}

class Walk {
	private readonly seen = new Set<string>();
	private readonly ids: ReadonlySet<string>;

	constructor(
		private readonly context: UnboundPathContext,
		placeholderIds: readonly string[],
		private readonly placeholderType: string,
	) {
		this.ids = new Set(placeholderIds);
	}

	private nodeName(visit: Visit, node: WorkflowNode): string {
		return visit.namesShown ? `node "${shorten(node.name, 80)}"` : 'a node';
	}

	private placeholderText(): string {
		return `the placeholder credential (${this.placeholderType}${this.ids.size === 1 ? `, ID "${[...this.ids][0]}"` : ''})`;
	}

	async visit(visit: Visit): Promise<Refusal | undefined> {
		for (const node of visit.nodes) {
			if (node.disabled) continue;
			if (!visit.rebound && usesPlaceholder(node, this.ids)) {
				return {
					message: `${capitalize(this.nodeName(visit, node))} of ${visit.label} uses ${this.placeholderText()}: it would run with the placeholder, not the tenant's credential`,
					description:
						'Run With Tenant Credential rebinds only the nodes of the sub-workflow itself; a workflow it runs (Execute Workflow, a tool or retriever workflow, its error workflow) uses the credentials saved in it. ' +
						'Move the nodes that call the tenant\'s service into the sub-workflow, or give that workflow a credential of its own.',
				};
			}
			if (visit.inline && canPause(node)) {
				return {
					message: `${capitalize(this.nodeName(visit, node))} of ${visit.label} can pause the execution: Run With Tenant Credential does not run sub-workflows that wait`,
					description:
						`${visit.namesShown ? `"${shorten(node.name, 80)}" (${node.type})` : `The node (${node.type})`} would put the sub-execution to wait (a Wait for a webhook, a form or a time of 65 s or more, a Form, Respond to Chat, Send and Wait). ` +
						"n8n would then park the calling execution while this node goes on with other tenants, the tenant's credential would lose its in-use mark, and the resumed output would reach no redaction. " +
						'Put the waiting step in the calling workflow after Run With Tenant Credential (a Wait of a fixed time under 65 s stays in the running execution and is allowed).',
				};
			}
			if (WORKFLOW_CALLERS.has(String(node.type))) {
				const refusal = await this.call(visit, node);
				if (refusal) return refusal;
			}
		}
		const errorWorkflow = visit.settings?.errorWorkflow;
		if (typeof errorWorkflow === 'string' && errorWorkflow !== '') {
			// n8n runs the error workflow's published version after a failed (non-manual) execution, also an inline sub-execution's.
			return await this.byId(visit, undefined, errorWorkflow, { errorWorkflow: true, inline: false });
		}
		return undefined;
	}

	private async call(visit: Visit, node: WorkflowNode): Promise<Refusal | undefined> {
		const target = targetOf(node);
		const caller = `${this.nodeName(visit, node)} of ${visit.label}`;
		const inline = visit.inline && waitsFor(node);
		if (target.kind === 'none') return undefined;
		if (target.kind === 'unknown') {
			return {
				message: `${capitalize(caller)} ${target.how}: the workflow it runs cannot be checked for ${this.placeholderText()}`,
				description:
					'Run With Tenant Credential checks, before it runs anything, that no workflow the sub-workflow runs uses the placeholder (it would run with it, for every tenant). ' +
					'Pick the workflow From List or By ID (or define it in the node as fixed JSON), or run it from the calling workflow after Run With Tenant Credential.',
			};
		}
		if (visit.depth + 1 > MAX_DEPTH) return this.tooDeep(caller);
		if (target.kind === 'code') {
			return await this.visit({
				nodes: nodesOf(target.json),
				settings: (target.json as { settings?: IDataObject } | null)?.settings,
				label: `the workflow defined in ${caller}`,
				namesShown: visit.namesShown,
				rebound: false,
				inline,
				depth: visit.depth + 1,
			});
		}
		return await this.byId(visit, node, target.id, { errorWorkflow: false, inline });
	}

	private tooDeep(caller: string): Refusal {
		return {
			message: `${capitalize(caller)} runs workflows nested more than ${MAX_DEPTH} deep (or more than ${MAX_WORKFLOWS} workflows): they cannot all be checked for ${this.placeholderText()}`,
			description: 'Flatten the chain of workflows the sub-workflow runs, or run the deeper ones from the calling workflow after Run With Tenant Credential.',
		};
	}

	private async byId(visit: Visit, node: WorkflowNode | undefined, id: string, how: { errorWorkflow: boolean; inline: boolean }): Promise<Refusal | undefined> {
		const key = `${id}\u0000${how.inline}`;
		if (this.seen.has(key)) return undefined;
		this.seen.add(key);
		const caller = node ? `${this.nodeName(visit, node)} of ${visit.label}` : `the error workflow of ${visit.label}`;
		if (this.seen.size > MAX_WORKFLOWS) return this.tooDeep(caller);
		let workflow: WorkflowSummary;
		try {
			workflow = await readWorkflow(this.context.api, this.context.scope, id, this.context.draft);
		} catch (error) {
			if (error instanceof N8nApiError && (error.status === 404 || error.status === 403)) {
				return {
					message: `${capitalize(caller)} ${how.errorWorkflow ? `is workflow with ID "${shorten(id, 60)}"` : `runs workflow with ID "${shorten(id, 60)}"`}, which the n8n API key cannot read`,
					description:
						'Run With Tenant Credential checks, before it runs anything, that no workflow the sub-workflow runs uses the placeholder credential. ' +
						`Share that workflow with the API key's user (or its project)${error.status === 403 ? ' and give the key the scope workflow:read' : ''}, or remove the call${how.errorWorkflow ? ' (the Error Workflow setting of that workflow)' : ''}.`,
				};
			}
			throw error;
		}
		// The version n8n would run: the draft in manual and chat executions; else the published one, or none (n8n refuses to run it).
		const published = workflow.activeVersion?.nodes ? workflow.activeVersion : undefined;
		const nodes = this.context.draft && !how.errorWorkflow ? workflow.nodes : published?.nodes;
		if (!nodes) return undefined;
		const ownProject = this.context.callerProjectId !== undefined && homeProjectOf(workflow) === this.context.callerProjectId;
		const name = ownProject ? `workflow "${shorten(workflow.name, 80)}"` : `workflow with ID "${shorten(id, 60)}"`;
		return await this.visit({
			nodes,
			settings: workflow.settings,
			label: `${name} (${how.errorWorkflow ? caller : `run by ${caller}`})`,
			namesShown: ownProject,
			rebound: false,
			inline: how.inline,
			depth: visit.depth + 1,
		});
	}
}

const capitalize = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/** Verdicts per sub-workflow version (the `nodes` array readWorkflow's cache hands out), kept as long as a cached workflow is used as is. */
const verdicts = new WeakMap<WorkflowNode[], Map<string, { at: number; verdict: Promise<Refusal | undefined> }>>();

/**
 * Refuses (SwapItemError naming the node, the workflow and what to do) a sub-workflow with a path that
 * would run with the placeholder credential un-rebound, or a node that can pause it. Resolves otherwise.
 */
export async function refuseUnboundPaths(
	workflow: LoadedSubWorkflow,
	placeholder: { ids: readonly string[]; type: string },
	context: UnboundPathContext,
	itemIndexes: number[],
): Promise<void> {
	const check = () =>
		new Walk(context, placeholder.ids, placeholder.type).visit({
			nodes: workflow.nodes,
			settings: workflow.settings,
			label: `sub-workflow ${workflow.label}`,
			namesShown: workflow.inCallerProject,
			rebound: true,
			inline: true,
			depth: 0,
		});
	const key = [context.scope, context.draft, context.callerProjectId ?? '', placeholder.type, ...[...placeholder.ids].sort()].join('\u0000');
	let perVersion = verdicts.get(workflow.nodes);
	if (!perVersion) verdicts.set(workflow.nodes, (perVersion = new Map()));
	const hit = perVersion.get(key);
	// Manual and chat executions read the sub-workflow afresh (new nodes, a new key): their verdict serves the items of that execution.
	let verdict: Promise<Refusal | undefined>;
	if (hit && Date.now() - hit.at < MAX_AGE_MS) {
		verdict = hit.verdict;
	} else {
		verdict = check();
		const entry = { at: Date.now(), verdict };
		perVersion.set(key, entry);
		// A failed check (the API) is not kept: the next execution asks again.
		verdict.catch(() => {
			if (perVersion.get(key) === entry) perVersion.delete(key);
		});
	}
	const refusal = await verdict;
	if (refusal) throw new SwapItemError(refusal.message, itemIndexes, { parameter: 'subWorkflow', description: refusal.description });
}
