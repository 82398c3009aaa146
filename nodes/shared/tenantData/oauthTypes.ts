import type { IDataObject } from 'n8n-workflow';

import type { CredentialSchema } from '../transport/n8nApiClient';
import { knownCredentialType } from './knownTypes';

/** Fields only OAuth types have; n8n adds `oauthTokenData` to the schema of oAuth1Api, oAuth2Api and every type that extends them. */
export const OAUTH_FIELDS = ['oauthTokenData', 'accessTokenUrl', 'requestTokenUrl', 'grantType'];

/** Fields of oAuth1Api that n8n's schema still shows for a descendant (consumerKey at least), and no OAuth2 type has. */
const OAUTH1_FIELDS = ['consumerKey', 'consumerSecret', 'requestTokenUrl', 'signatureMethod'];

/** The grant of n8n's oAuth2Api, which a descendant keeps unless it sets another (n8n's refresh uses the refresh token for every grant but clientCredentials). */
const OAUTH2_DEFAULT_GRANT = 'authorizationCode';

/**
 * Whether n8n may keep an OAuth (1 or 2) token in a credential of this type: the generated table for
 * n8n's built-in types, else an OAuth field in n8n's schema or "oauth" in the type's name.
 */
export function isOAuthType(type: string, schema: CredentialSchema | undefined): boolean {
	const known = knownCredentialType(type);
	if (known?.keepsToken === 'oAuth1' || known?.keepsToken === 'oAuth2') return true;
	const properties = schema?.properties ?? {};
	return OAUTH_FIELDS.some((field) => field in properties) || /oauth/i.test(type);
}

/** Whether the type is oAuth2Api or extends it (a type this package does not know: an OAuth type without oAuth1Api's signs). */
export function isOAuth2Type(type: string, schema: CredentialSchema | undefined): boolean {
	const known = knownCredentialType(type);
	if (known) return known.keepsToken === 'oAuth2';
	if (!isOAuthType(type, schema)) return false;
	const properties = schema?.properties ?? {};
	return !(/oauth1/i.test(type) || OAUTH1_FIELDS.some((field) => field in properties));
}

/**
 * The OAuth2 grant n8n uses for a credential of this type holding this data: the data's `grantType`,
 * else the type's own (built-in descendants often fix it in a hidden field, e.g. databricksOAuth2Api's
 * clientCredentials), else oAuth2Api's. Undefined for a type that is not OAuth2.
 */
export function oauth2GrantOf(type: string, data: IDataObject, schema: CredentialSchema | undefined): string | undefined {
	if (!isOAuth2Type(type, schema)) return undefined;
	if (typeof data.grantType === 'string') return data.grantType;
	const fixed = knownCredentialType(type)?.defaults?.grantType;
	return typeof fixed === 'string' ? fixed : OAUTH2_DEFAULT_GRANT;
}
