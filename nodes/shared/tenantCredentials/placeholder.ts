import { shorten } from '../lock';
import { SwapItemError } from '../swap/errors';
import type { WorkflowNode } from '../transport/n8nApiClient';
import { credentialEntries, type CredentialEntry } from './activeCredentials';
import { isConnectedCredentialName, isTenantCredentialName } from './credentialName';
import type { LoadedSubWorkflow } from './subWorkflow';

/** The sub-workflow's credential that stands for "the tenant's": only node entries with its ID are rebound. */
export interface Placeholder {
	id: string;
	/** The type it is selected under: the tenant's credential is made of this type. */
	type: string;
	name: string;
	/** Not picked in the node: the only credential the sub-workflow uses. */
	inferred: boolean;
}

const PARAMETER = 'placeholderCredential';
const PICK =
	"Pick the Placeholder Credential: the credential the sub-workflow's nodes that call the tenant's service use (From List shows the sub-workflow's credentials).";

/** A credential as messages show it: its quoted name and type (never data). */
const shown = (entry: Pick<CredentialEntry, 'name' | 'type'>) => `"${shorten(entry.name, 60)}" (${entry.type})`;
const nodeList = (entries: CredentialEntry[]) => [...new Set(entries.map((entry) => `"${shorten(entry.node, 60)}"`))].join(', ');

/** The distinct credentials of the entries, by ID (entries without ID by name), in order of first use. */
export function distinctCredentials(entries: readonly CredentialEntry[]): CredentialEntry[][] {
	const byKey = new Map<string, CredentialEntry[]>();
	for (const entry of entries) {
		const key = entry.id !== undefined ? `id\u0000${entry.id}` : `name\u0000${entry.type}\u0000${entry.name}`;
		byKey.set(key, [...(byKey.get(key) ?? []), entry]);
	}
	return [...byKey.values()];
}

/** The placeholder is one of this node's tenant credentials (by its name, or the registry knows its ID). */
export function tenantCredentialAsPlaceholder(workflow: LoadedSubWorkflow, placeholder: Placeholder, itemIndexes: number[]): SwapItemError {
	return new SwapItemError(
		`The placeholder credential ${shown(placeholder)} of sub-workflow ${workflow.label} is a tenant's credential (made by Run With Tenant Credential)`,
		itemIndexes,
		{
			parameter: PARAMETER,
			description:
				"Nothing was run. Anything in the sub-workflow that is not rebound (a nested workflow, the error workflow) would use that one tenant's secret for every tenant, and the clean-up deletes it after Retention. Create a credential of the same type with dummy values (e.g. named \"Tenant API (placeholder)\"), select it in the sub-workflow's nodes that call the tenant's service, and pick it as Placeholder Credential.",
		},
	);
}

/** The placeholder is a tenant's connected credential (by its name: Tenant OAuth2 Connect's). */
export function connectedCredentialAsPlaceholder(workflow: LoadedSubWorkflow, placeholder: Placeholder, itemIndexes: number[]): SwapItemError {
	return new SwapItemError(
		`The placeholder credential ${shown(placeholder)} of sub-workflow ${workflow.label} is a tenant's connected credential (made by Tenant OAuth2 Connect)`,
		itemIndexes,
		{
			parameter: PARAMETER,
			description:
				"Nothing was run. Anything in the sub-workflow that is not rebound (a nested workflow, the error workflow) would use that one tenant's account for every tenant. Create a credential of the same type with dummy values (e.g. named \"Tenant API (placeholder)\"), select it in the sub-workflow's nodes that call the tenant's service, and pick it as Placeholder Credential.",
		},
	);
}

/**
 * Which credential of the sub-workflow (the version that runs) the tenant's replaces. Picked: its ID
 * must be used (not only a leftover entry) under exactly one type. Not picked (workflows made before the
 * parameter existed): the one credential the nodes use, of the asked Credential Type if set; several
 * are refused, named, since rebinding a wrong one sends the tenant's secret to another service.
 * Never a tenant credential (by name here; by the registry in binding.ts) nor a connected one (by name). Pure: no I/O.
 */
export function resolvePlaceholder(
	workflow: LoadedSubWorkflow,
	wanted: { placeholderId?: string; credentialType?: string },
	itemIndexes: number[],
): Placeholder {
	const entries = credentialEntries(workflow.nodes);
	const version = workflow.version === 'published' ? 'published version' : 'draft';
	const fail = (message: string, description: string, parameter = PARAMETER) => new SwapItemError(message, itemIndexes, { parameter, description });

	if (wanted.placeholderId) {
		const id = wanted.placeholderId;
		const mine = entries.filter((entry) => entry.id === id);
		if (mine.length === 0) {
			throw fail(
				`No node of sub-workflow ${workflow.label} (its ${version}) uses the placeholder credential with ID "${shorten(id, 60)}"`,
				`${PICK}${workflow.version === 'published' ? ' Production runs the published version: publish the sub-workflow after selecting the credential in its nodes.' : ''}`,
			);
		}
		const placeholder = onePlaceholder(workflow, mine, false, itemIndexes);
		if (!mine.some((entry) => entry.active)) {
			throw fail(
				`The placeholder credential ${shown(placeholder)} is not used by any node of sub-workflow ${workflow.label}: nodes ${nodeList(mine)} only keep it from an earlier authentication setting`,
				"n8n keeps a node's credential after its authentication changed, but does not use it, so the tenant's credential would not be used either. Select the placeholder in the node that calls the tenant's service, or pick the credential that node uses.",
			);
		}
		if (wanted.credentialType && wanted.credentialType !== placeholder.type) {
			throw fail(
				`The placeholder credential ${shown(placeholder)} is not of the Credential Type "${shorten(wanted.credentialType, 80)}"`,
				`Empty the option Credential Type (the placeholder's type is used), or set it to ${placeholder.type}.`,
				'options.credentialType',
			);
		}
		return placeholder;
	}

	// Inferred: only entries n8n uses count (a leftover must neither make it ambiguous nor be chosen).
	const used = entries.filter((entry) => entry.active && (!wanted.credentialType || entry.type === wanted.credentialType));
	const credentials = distinctCredentials(used);
	const ofType = wanted.credentialType ? ` of type "${shorten(wanted.credentialType, 80)}"` : '';
	if (credentials.length === 0) {
		throw fail(
			`No node of sub-workflow ${workflow.label} (its ${version}) uses a credential${ofType}`,
			"Select a credential of the tenant's type (one with dummy values: the placeholder) in the sub-workflow's nodes that call the tenant's service, and pick it as Placeholder Credential.",
		);
	}
	if (credentials.length === 1 && credentials[0][0].id === undefined) {
		throw fail(
			`The credential ${shown(credentials[0][0])} of sub-workflow ${workflow.label} has no ID in nodes ${nodeList(credentials[0])}`,
			'Select the credential again in those nodes (n8n then stores its ID) and pick it as Placeholder Credential.',
		);
	}
	if (credentials.length === 1) {
		const id = credentials[0][0].id;
		return onePlaceholder(workflow, entries.filter((entry) => entry.id === id), true, itemIndexes);
	}
	const names = credentials.slice(0, 10).map((group) => shown(group[0]));
	throw fail(
		`The nodes of sub-workflow ${workflow.label} use ${credentials.length} credentials${ofType}: ${names.join(', ')}${credentials.length > 10 ? ', ...' : ''}`,
		`${PICK} Only the nodes using that credential get the tenant's; the others keep theirs.`,
	);
}

/** The placeholder the entries of one credential ID name: one type, not a tenant credential. */
function onePlaceholder(workflow: LoadedSubWorkflow, mine: CredentialEntry[], inferred: boolean, itemIndexes: number[]): Placeholder {
	const id = mine[0].id as string;
	const types = [...new Set(mine.map((entry) => entry.type))];
	if (types.length > 1) {
		throw new SwapItemError(
			`The placeholder credential with ID "${shorten(id, 60)}" is selected under ${types.length} credential types in sub-workflow ${workflow.label} (${types.join(', ')})`,
			itemIndexes,
			{
				parameter: PARAMETER,
				description: `A credential has one type: the sub-workflow's nodes disagree (e.g. edited or imported by hand; nodes ${nodeList(mine)}). Select the credential again in those nodes so each entry names its real type.`,
			},
		);
	}
	const placeholder: Placeholder = { id, type: types[0], name: mine.find((entry) => entry.name)?.name ?? id, inferred };
	if (mine.some((entry) => isTenantCredentialName(entry.name))) throw tenantCredentialAsPlaceholder(workflow, placeholder, itemIndexes);
	if (mine.some((entry) => isConnectedCredentialName(entry.name))) throw connectedCredentialAsPlaceholder(workflow, placeholder, itemIndexes);
	return placeholder;
}

/** The nodes with every entry of the placeholder's ID pointing at the tenant's credential; every other entry as it was. */
export function rebindPlaceholder(nodes: readonly WorkflowNode[], placeholderId: string, credential: { id: string; name: string }): WorkflowNode[] {
	return nodes.map((node) => {
		const entries = Object.entries(node.credentials ?? {});
		if (!entries.some(([, entry]) => entry?.id === placeholderId)) return node;
		const credentials = Object.fromEntries(
			entries.map(([type, entry]) => [type, entry?.id === placeholderId ? { id: credential.id, name: credential.name } : entry]),
		);
		return { ...node, credentials };
	});
}

/** A credential the editor offers as placeholder. */
export interface PlaceholderCandidate {
	id: string;
	name: string;
	type: string;
	/** The nodes using it. */
	nodes: string[];
}

/**
 * What From List offers: the credentials the nodes use (by ID, in order of first use), never a tenant
 * credential (by name) nor one only kept from an earlier authentication setting; both would be refused.
 */
export function placeholderCandidates(nodes: readonly WorkflowNode[]): PlaceholderCandidate[] {
	const candidates = new Map<string, PlaceholderCandidate>();
	const tenantIds = new Set<string>();
	for (const entry of credentialEntries(nodes)) {
		if (entry.id === undefined) continue;
		if (isTenantCredentialName(entry.name) || isConnectedCredentialName(entry.name)) tenantIds.add(entry.id);
		if (!entry.active) continue;
		const candidate = candidates.get(entry.id) ?? { id: entry.id, name: entry.name || entry.id, type: entry.type, nodes: [] };
		if (!candidate.nodes.includes(entry.node)) candidate.nodes.push(entry.node);
		candidates.set(entry.id, candidate);
	}
	return [...candidates.values()].filter((candidate) => !tenantIds.has(candidate.id));
}
