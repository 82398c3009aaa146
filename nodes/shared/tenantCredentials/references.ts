import { shorten } from '../lock';
import type { N8nApiClient, WorkflowNode } from '../transport/n8nApiClient';

/**
 * Which workflows reference given credentials (someone wired a tenant credential into a workflow by
 * hand): such a credential is never deleted by a clean-up. One listing of workflows per clean-up pass,
 * paged and bounded, never one request per credential.
 */

export interface ReferenceScanSettings {
	/** Workflows per page asked of the API (n8n answers at most 250; pages carry every node). */
	pageSize: number;
	/** Pages at most: past them the listing is incomplete and nothing is known to be unreferenced. */
	maxPages: number;
}

export const DEFAULT_REFERENCE_SCAN: Readonly<ReferenceScanSettings> = Object.freeze({ pageSize: 100, maxPages: 100 });
let referenceScan: ReferenceScanSettings = { ...DEFAULT_REFERENCE_SCAN };

/** For tests only: listing settings (`undefined` restores the defaults). */
export function configureReferenceScan(settings?: Partial<ReferenceScanSettings>): void {
	referenceScan = { ...DEFAULT_REFERENCE_SCAN, ...(settings ?? {}) };
}

export interface WorkflowRef {
	id: string;
	name: string;
}

/** How many referencing workflows are kept per credential (enough to tell someone where to look). */
const MAX_REFS_PER_CREDENTIAL = 5;

export interface CredentialReferences {
	/** Every workflow the API key can read was listed (drafts and, where n8n lists it, the published version). */
	complete: boolean;
	/** Why the listing is incomplete (an error, or the page limit). */
	problem?: string;
	/** The error that ended the listing, if one did. */
	error?: unknown;
	/** Credential ID -> workflows referencing it (at most MAX_REFS_PER_CREDENTIAL each); only the IDs asked about. */
	byCredential: Map<string, WorkflowRef[]>;
	workflows: number;
}

/** Lists workflows (paged, bounded) and answers which of `credentialIds` any of them references. */
export async function workflowReferences(api: N8nApiClient, credentialIds: Iterable<string>): Promise<CredentialReferences> {
	const wanted = new Set(credentialIds);
	const result: CredentialReferences = { complete: false, byCredential: new Map(), workflows: 0 };
	if (wanted.size === 0) return { ...result, complete: true };
	const settings = referenceScan;
	let cursor: string | undefined;
	try {
		for (let pages = 0; pages < settings.maxPages; pages++) {
			const page = await api.listWorkflows(cursor, settings.pageSize);
			for (const workflow of page.data) {
				result.workflows += 1;
				const nodes: WorkflowNode[] = [...(workflow.nodes ?? []), ...(workflow.activeVersion?.nodes ?? [])];
				for (const id of referencedIds(nodes)) {
					if (!wanted.has(id)) continue;
					const refs = result.byCredential.get(id) ?? [];
					if (refs.length < MAX_REFS_PER_CREDENTIAL && !refs.some((ref) => ref.id === workflow.id)) refs.push({ id: workflow.id, name: workflow.name });
					result.byCredential.set(id, refs);
				}
			}
			cursor = page.nextCursor ?? undefined;
			if (!cursor) return { ...result, complete: true };
		}
		return { ...result, problem: `more than ${settings.maxPages * settings.pageSize} workflows: the listing stopped there` };
	} catch (error) {
		return { ...result, problem: error instanceof Error ? error.message : String(error), error };
	}
}

function referencedIds(nodes: WorkflowNode[]): Set<string> {
	const ids = new Set<string>();
	for (const node of nodes) {
		for (const entry of Object.values(node?.credentials ?? {})) {
			if (entry && typeof entry.id === 'string' && entry.id !== '') ids.add(entry.id);
		}
	}
	return ids;
}

/** "workflow "Billing" (ID abc), ..." for a message. */
export function describeWorkflows(refs: WorkflowRef[]): string {
	return refs.map((ref) => `"${shorten(ref.name, 80)}" (ID ${shorten(ref.id, 40)})`).join(', ');
}
