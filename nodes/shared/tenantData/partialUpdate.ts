import { SwapItemError } from '../swap/errors';
import { N8N_CREDENTIAL_TYPES_VERSION } from '../swap/n8nCredentialTypes';
import type { CredentialSchema } from '../transport/n8nApiClient';
import { knownCredentialType } from './knownTypes';
import { isOAuthType } from './oauthTypes';
import { nothingDone, type TenantDataTarget } from './target';

/**
 * Why a partial update of this type could leave the previous tenant's token or session in place, or
 * undefined when the type is known not to keep one. Partial Update keeps every field the data does not
 * set, including the ones n8n's schema endpoint does not show (hidden fields, the OAuth token), so it is
 * allowed only for a built-in type known to store nothing n8n fetched: no OAuth in its schema or its
 * ancestry, no expirable (session) field, no preAuthentication, no hidden field. Any other type, and
 * every type this package does not know (community types: their hidden fields cannot be seen), is refused.
 */
export function partialUpdateRisk(type: string, schema: CredentialSchema): string | undefined {
	const known = knownCredentialType(type);
	if (isOAuthType(type, schema)) {
		return "It is an OAuth credential: on a partial update n8n keeps the stored OAuth token, so the next nodes would use the previous tenant's token.";
	}
	if (known?.keepsToken === 'session') {
		return "n8n stores a session token it fetched for this type in a hidden field; a partial update keeps it, so the next nodes would use the previous tenant's session.";
	}
	if (known?.keepsToken === 'hidden') {
		return "This type has fields n8n hides from its API; a partial update keeps them, and they may hold something of the previous tenant.";
	}
	if (!known) {
		return `This package cannot tell whether n8n keeps a fetched token for type "${type}": it is not one of n8n's built-in types (as of n8n ${N8N_CREDENTIAL_TYPES_VERSION}), and n8n's schema does not show hidden fields.`;
	}
	return undefined;
}

/** The refusal of Partial Update for a base credential that may keep the previous tenant's token. */
export function partialUpdateRefusal(target: TenantDataTarget, schema: CredentialSchema, itemIndexes: number[]): SwapItemError | undefined {
	const risk = partialUpdateRisk(target.type, schema);
	if (!risk) return undefined;
	return new SwapItemError(`"Partial Update" cannot be used with base credential "${target.baseCredentialName ?? ''}" (type "${target.type}")`, itemIndexes, {
		parameter: 'options.partialUpdate',
		description: `${risk} Turn "Partial Update" off and send all of the credential's fields: a full update replaces everything, and n8n fetches a new token or session for the new tenant. ${nothingDone(target)}`,
	});
}
