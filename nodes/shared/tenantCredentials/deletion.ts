import type { N8nApiClient } from '../transport/n8nApiClient';
import { N8nApiError } from '../transport/n8nApiErrors';

/**
 * What deleting one tenant credential came to: `deleted`, `gone` (n8n answered 404: already
 * deleted, by hand or by another process), `refused` (403: the API key's user may not delete it),
 * `failed` (another refusal of this one credential: go on with the others), `unreachable` (n8n down or
 * failing: stop this pass, the next one tries again).
 */
export type DeleteOutcome = 'deleted' | 'gone' | 'refused' | 'failed' | 'unreachable';

export async function deleteTenantCredential(api: N8nApiClient, credentialId: string, operation: string): Promise<{ outcome: DeleteOutcome; error?: unknown }> {
	try {
		return { outcome: await api.deleteCredential(credentialId, operation) };
	} catch (error) {
		const status = error instanceof N8nApiError ? error.status : undefined;
		if (status === 403) return { outcome: 'refused', error };
		if (status !== undefined && status >= 400 && status < 500 && status !== 429) return { outcome: 'failed', error };
		return { outcome: 'unreachable', error };
	}
}

/** What to do about a 403 to deleting tenant credentials (logged once per process and n8n). */
export const DELETE_REFUSED_ADVICE =
	"n8n refused (403) the n8n API credential's key to delete tenant credentials: its user may not delete credentials in the project they live in (the calling workflow's project), or the key lacks the scope credential:delete. Use the API key of the owner, an admin, or an admin of that project, or delete those tenant credentials in n8n by hand. They are tried again every 10 minutes.";

export const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** What kind of failure it was (HTTP status, network code, or "limit"): a warning is logged once per kind. */
export const causeOf = (error: unknown): string =>
	error instanceof N8nApiError ? String(error.status ?? error.code ?? 'network') : error === undefined ? 'limit' : 'other';
