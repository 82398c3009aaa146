import type { IDataObject } from 'n8n-workflow';

import { SwapItemError } from '../swap/errors';
import type { CredentialSchema } from '../transport/n8nApiClient';
import { oauth2GrantOf } from './oauthTypes';
import { nothingDone, type TenantDataTarget } from './target';

/** The field n8n keeps an OAuth credential's tokens in (its refresh writes the new ones there). */
export const TOKEN_FIELD = 'oauthTokenData';

/** Whether the data sets the token field, whatever its value. */
export const setsOAuthTokens = (data: IDataObject): boolean => Object.prototype.hasOwnProperty.call(data, TOKEN_FIELD);

/** What becomes of the tokens n8n's refresh writes, per node. */
function whereRefreshedTokensGo(target: TenantDataTarget): string {
	return target.baseCredentialName === undefined
		? "into the tenant credential made from this data, which is deleted after Retention: the tenant's next call makes it again from data whose refresh token"
		: `into the base credential "${target.baseCredentialName}", and the next swap replaces them with the next tenant's data: this tenant's data still carries the refresh token that`;
}

/**
 * The refusal of OAuth2 tokens in tenant data for a grant that refreshes with a refresh token (every grant
 * but Client Credentials: Authorization Code, PKCE). n8n's OAuth2 refresh writes the new tokens into the
 * credential the node used; neither node keeps that credential for the tenant, so with a provider that
 * rotates refresh tokens the tenant's connection is lost. Client Credentials tokens may be carried: n8n
 * gets a new one with the client's credentials, never with a refresh token. OAuth1 tokens are not refreshed.
 * `schema` is needed only for a type this package does not know (else it cannot tell OAuth1 from OAuth2).
 */
export function oauthTokenRefusal(target: TenantDataTarget, data: IDataObject, schema: CredentialSchema | undefined, itemIndexes: number[]): SwapItemError | undefined {
	if (!setsOAuthTokens(data)) return undefined;
	const grant = oauth2GrantOf(target.type, data, schema);
	if (grant === undefined || grant === 'clientCredentials') return undefined;
	const grantName = grant === 'pkce' ? 'PKCE' : 'Authorization Code';
	return new SwapItemError(
		`Credential data sets "${TOKEN_FIELD}" (the tenant's OAuth2 tokens) for a "${target.type}" credential with the ${grantName} grant: the tenant would lose the connection at a token refresh`,
		itemIndexes,
		{
			parameter: 'credentialData',
			description:
				`n8n refreshes an expired ${grantName} token with the refresh token and writes the new tokens ${whereRefreshedTokensGo(target)} the provider may already have replaced (many rotate refresh tokens), and the tenant would have to consent again. ` +
				'Connect each tenant once with the Tenant OAuth2 Connect node and run the nodes that use the account with Run With Tenant Credential, credential source "Connected tenant": n8n then keeps each tenant\'s tokens in the tenant\'s own credential. ' +
				`(Client Credentials data needs no "${TOKEN_FIELD}": n8n fetches the token itself.) ${nothingDone(target)}`,
		},
	);
}
