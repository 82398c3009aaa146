import { SwapItemError } from '../swap/errors';
import type { N8nApiClient, WorkflowNode } from '../transport/n8nApiClient';
import { resolvePlaceholder, tenantCredentialAsPlaceholder, type Placeholder } from './placeholder';
import type { TenantCredentialRegistry } from './registryTypes';
import type { LoadedSubWorkflow } from './subWorkflow';
import { refuseUnboundPaths } from './unboundPaths';

export interface BindingContext {
	registry: TenantCredentialRegistry;
	/** The n8n instance (registry scope). */
	scope: string;
	/** For the nested-workflow check: the API, the reader cache's scope (instance + key), drafts or published, the caller's project. */
	api: N8nApiClient;
	readerScope: string;
	draft: boolean;
	callerProjectId?: string;
}

export interface PlaceholderWish {
	placeholderId?: string;
	credentialType?: string;
}

type Verdict = { placeholder: Placeholder } | { refused: SwapItemError };

/**
 * Verdicts per sub-workflow version: keyed by the `nodes` array readWorkflow's cache hands out (a new
 * read, i.e. a new version or a manual execution's fresh read, is a new array), then by what was asked.
 * So the placeholder is resolved and looked up in the registry once per version per process, not per item.
 */
const verdicts = new WeakMap<readonly WorkflowNode[], Map<string, Promise<Verdict>>>();

async function judge(context: BindingContext, workflow: LoadedSubWorkflow, wish: PlaceholderWish): Promise<Verdict> {
	let placeholder: Placeholder;
	try {
		placeholder = resolvePlaceholder(workflow, wish, []);
	} catch (error) {
		if (error instanceof SwapItemError) return { refused: error };
		throw error;
	}
	// A tenant credential renamed by hand is still one: the registry knows its ID. (A placeholder's ID never becomes a tenant credential's.)
	const known = await context.registry.knownTenantCredentialIds(context.scope, [placeholder.id]);
	if (known.has(placeholder.id)) return { refused: tenantCredentialAsPlaceholder(workflow, placeholder, []) };
	return { placeholder };
}

/**
 * The placeholder credential to rebind in this sub-workflow version (see resolvePlaceholder), checked
 * not to be a tenant credential; fails with what to do. A store failure is not remembered.
 */
export async function placeholderToBind(
	context: BindingContext,
	workflow: LoadedSubWorkflow,
	wish: PlaceholderWish,
	itemIndexes: number[],
): Promise<Placeholder> {
	let perVersion = verdicts.get(workflow.nodes);
	if (!perVersion) {
		perVersion = new Map();
		verdicts.set(workflow.nodes, perVersion);
	}
	// The label depends on the caller's project (messages name other projects' workflows by ID only).
	const key = [context.registry.storeIdentity, context.scope, workflow.label, wish.placeholderId ?? '', wish.credentialType ?? ''].join('\u0000');
	let verdict = perVersion.get(key);
	if (!verdict) {
		verdict = judge(context, workflow, wish);
		perVersion.set(key, verdict);
		verdict.catch(() => perVersion.delete(key));
	}
	const outcome = await verdict;
	if ('refused' in outcome) throw new SwapItemError(outcome.refused.message, itemIndexes, outcome.refused.options);
	// Awaited on every call (it caches its own verdict briefly): a workflow the sub-workflow calls may change while this version stays.
	await refuseUnboundPaths(
		workflow,
		{ ids: [outcome.placeholder.id], type: outcome.placeholder.type },
		{ api: context.api, scope: context.readerScope, draft: context.draft, callerProjectId: context.callerProjectId },
		itemIndexes,
	);
	return outcome.placeholder;
}
