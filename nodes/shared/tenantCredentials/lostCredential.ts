import { redactSecrets } from '../swap/credentialData';
import { SwapItemError } from '../swap/errors';
import type { N8nApiClient } from '../transport/n8nApiClient';
import { isCredentialGone, N8nApiError } from '../transport/n8nApiErrors';
import type { TenantCredentialRegistry } from './registryTypes';

/**
 * A sub-execution that n8n refused the tenant's credential. n8n says "does not exist" in an owner's or
 * admin's own project, and "does not have access to the credential" elsewhere, for a credential
 * deleted by hand as much as for one the workflow may not use. So the node looks the credential up:
 * gone, the record is forgotten (the tenant's next call creates it again); still there, the record is
 * kept and the message says why n8n refuses it. The failing call is not retried: the sub-workflow may
 * have done part of its work.
 */

const NOT_FOUND = (credentialId: string) => `Credential with ID "${credentialId}" does not exist`;
const NO_ACCESS = /does not have access to the credential|InaccessibleCredential/i;

/** n8n refused this credential to a node of the sub-execution ("does not exist" or "no access"). */
export function credentialRefusal(error: unknown, credentialId: string): 'notFound' | 'noAccess' | undefined {
	const message = String((error as { message?: string })?.message ?? '');
	if (message.includes(NOT_FOUND(credentialId))) return 'notFound';
	if (NO_ACCESS.test(message)) return 'noAccess';
	return undefined;
}

export interface LookupSettings {
	/** Pages of the credentials list read at most where n8n has no read by ID (before 2.20). */
	maxPages: number;
}
let lookup: LookupSettings = { maxPages: 20 };

/** For tests only. */
export function configureCredentialLookup(settings?: Partial<LookupSettings>): void {
	lookup = { maxPages: 20, ...(settings ?? {}) };
}

/**
 * Whether n8n still has the credential, as the API key sees it: `GET /credentials/:id` (n8n >= 2.20),
 * else the credentials list (n8n 2.8 to 2.19 answer 405 to the read; the list is paged, read up to a
 * bound). `unknown` when neither could tell (n8n failing, the key lacking scopes, a very long list).
 * Before 2.20 a key whose user cannot see the credential's project finds it missing from its list: gone.
 */
export async function credentialExists(api: N8nApiClient, credentialId: string): Promise<'exists' | 'gone' | 'forbidden' | 'unknown'> {
	try {
		await api.getCredential(credentialId);
		return 'exists';
	} catch (error) {
		if (isCredentialGone(error)) return 'gone';
		// n8n checks the credential's project before the key's role there: 403 = it exists where this key may not read it (or the key lacks credential:read).
		if (error instanceof N8nApiError && error.status === 403) return 'forbidden';
		if (!(error instanceof N8nApiError && error.status === 405)) return 'unknown';
	}
	try {
		let cursor: string | undefined;
		for (let page = 0; page < lookup.maxPages; page++) {
			const found = await api.listCredentials(cursor);
			if (found.data.some((credential) => credential.id === credentialId)) return 'exists';
			cursor = found.nextCursor ?? undefined;
			if (!cursor) return 'gone';
		}
	} catch {
		// Fall through: neither way told.
	}
	return 'unknown';
}

export interface FailedRun {
	api: N8nApiClient;
	registry: TenantCredentialRegistry;
	scope: string;
	credentialId: string;
	/** The project the node created the credential in (the calling workflow's), if known. */
	projectId?: string;
	subWorkflowLabel: string;
	tenantId: string;
	itemIndexes: number[];
	/** Kept out of the message. */
	secrets: Set<string>;
	/** Where n8n lists the failed sub-execution (said when the failure is not about the credential). */
	whereToFind?: string;
}

/**
 * The item error of a failed sub-execution, with the tenant and the node, never the data. When n8n
 * refused the tenant's credential, looks it up first and forgets the record of one that is gone.
 */
export async function subWorkflowFailure(error: unknown, run: FailedRun): Promise<SwapItemError> {
	const failure = plainSubWorkflowFailure(error, run);
	const refusal = credentialRefusal(error, run.credentialId);
	if (!refusal) return failure;
	return new SwapItemError(failure.message, run.itemIndexes, { description: await settleRefusedCredential(run, refusal) });
}

/** The item error of a failed sub-execution as it failed, with the tenant and the node, never the data. */
export function plainSubWorkflowFailure(error: unknown, run: Pick<FailedRun, 'subWorkflowLabel' | 'tenantId' | 'itemIndexes' | 'secrets' | 'whereToFind'>): SwapItemError {
	const failure = error as { message?: string; description?: string; node?: { name?: string } };
	const nodeName = failure?.node?.name;
	const message = redactSecrets(String(failure?.message ?? error), run.secrets);
	const description = [redactSecrets(failure?.description, run.secrets), run.whereToFind].filter(Boolean).join(' ');
	return new SwapItemError(
		`Sub-workflow ${run.subWorkflowLabel} failed for tenant "${run.tenantId}"${nodeName ? ` in node "${nodeName}"` : ''}: ${message}`,
		run.itemIndexes,
		{ description },
	);
}

async function settleRefusedCredential(run: FailedRun, refusal: 'notFound' | 'noAccess'): Promise<string> {
	const state = refusal === 'notFound' ? 'gone' : await credentialExists(run.api, run.credentialId);
	// n8n lets a workflow use every credential of its own project. A member's API key may not read
	// credentials at all (n8n gives member keys no credential:read), so a lookup answers 403 whether the
	// credential was deleted or not: one made in this workflow's project and now refused is gone from it.
	const goneFromProject = state !== 'exists' && state !== 'gone' && run.projectId !== undefined;
	if (state === 'gone' || goneFromProject) {
		const forgotten = await run.registry.forgetTenantCredential(run.scope, run.credentialId).then(
			() => true,
			() => false,
		);
		const why = goneFromProject
			? ` (n8n would not let the API key look it up${state === 'forbidden' ? ': member keys have no credential:read' : ''}; it was made in this workflow's project, where n8n lets the workflow use it, so it was deleted or moved; a moved one is left to you or the orphan clean-up)`
			: '';
		return forgotten
			? `The tenant's credential (ID ${run.credentialId}) was deleted outside this node${why}. It is forgotten now: the tenant's next execution creates it again. This execution is not repeated, as the sub-workflow may have done part of its work.`
			: `The tenant's credential (ID ${run.credentialId}) was deleted outside this node${why}, and the lock store could not be updated to forget it. Check the lock store; the next execution tries again.`;
	}
	const where = run.projectId ? `the calling workflow's project (ID ${run.projectId})` : "the API key user's personal project (the API key could not read the calling workflow's project)";
	if (state === 'exists') {
		return `The tenant's credential (ID ${run.credentialId}) exists, but n8n does not let this workflow use it. The node created it in ${where}. Either the credential was moved or unshared by hand (move it back, or delete it: the next execution creates it again), or the n8n API key belongs to a user who is not a member of this workflow's project: use the API key of a member (or admin) of that project in the n8n API credential. The credential's record is kept.`;
	}
	return `n8n refused the tenant's credential (ID ${run.credentialId}) to this workflow. The node created it in ${where}, because the n8n API key could not read the calling workflow (scope workflow:read, and a user who is a member of its project). Use the API key of a member (or admin) of this workflow's project in the n8n API credential, then run this node's operation Offboard Tenant for this tenant: its next execution creates the credential where the workflow can use it. The credential's record is kept.`;
}
