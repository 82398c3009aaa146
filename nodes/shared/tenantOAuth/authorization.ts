import type { OAuthApp } from './oauthApp';

/** Parameters the flow itself sets: the app's Auth URI Query Parameters may add others, never these. */
const RESERVED_PARAMETERS = new Set(['response_type', 'client_id', 'redirect_uri', 'state', 'code_challenge', 'code_challenge_method']);

export interface AuthorizationRequest {
	state: string;
	codeChallenge: string;
	/** The trigger's callback URL, fixed by n8n (never from the request). */
	redirectUri: string;
}

/**
 * The provider's authorization URL for one tenant's consent (RFC 6749 4.1.1 with RFC 7636 S256): the
 * app's authorization URL with its own query kept, then the app's extra parameters, then the flow's.
 */
export function authorizationUrl(app: OAuthApp, request: AuthorizationRequest): string {
	const url = new URL(app.authUrl);
	for (const [name, value] of new URLSearchParams(app.authQueryParameters.trim().replace(/^\?/, ''))) {
		if (name === '' || RESERVED_PARAMETERS.has(name.toLowerCase())) continue;
		url.searchParams.set(name, value);
	}
	for (const name of RESERVED_PARAMETERS) url.searchParams.delete(name);
	url.searchParams.set('response_type', 'code');
	url.searchParams.set('client_id', app.clientId);
	url.searchParams.set('redirect_uri', request.redirectUri);
	const scope = app.scope.trim();
	// The app's Scope field wins over a scope among its extra parameters, as in n8n's own flow.
	if (scope !== '') url.searchParams.set('scope', scope);
	url.searchParams.set('state', request.state);
	url.searchParams.set('code_challenge', request.codeChallenge);
	url.searchParams.set('code_challenge_method', 'S256');
	return url.toString();
}
