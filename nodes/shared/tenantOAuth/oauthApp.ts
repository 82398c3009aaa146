import type { ICredentialDataDecryptedObject } from 'n8n-workflow';

/** The credential type of the app (the operator's OAuth2 client) and of every tenant credential made from it. */
export const OAUTH2_APP_CREDENTIAL_TYPE = 'oAuth2Api';

/** The operator's OAuth2 app, as n8n's generic OAuth2 credential holds it. */
export interface OAuthApp {
	clientId: string;
	clientSecret: string;
	authUrl: string;
	accessTokenUrl: string;
	scope: string;
	/** How the client authenticates at the token URL: Basic header, or client_id/client_secret in the body. */
	authentication: 'header' | 'body';
	/** Extra query parameters for the authorization URL (`a=1&b=2`), as the credential's "Auth URI Query Parameters". */
	authQueryParameters: string;
}

/** Why an app credential cannot be used: the field to fix and what to do. Never carries the credential's values. */
export class OAuthAppProblem extends Error {
	constructor(
		readonly field: string,
		message: string,
	) {
		super(message);
		this.name = 'OAuthAppProblem';
	}
}

/**
 * The app from the OAuth2 credential, checked: authorization code grant (client credentials has no
 * tenant to consent), http(s) URLs, a client ID. Messages name the credential's fields, never values.
 */
export function oauthAppFrom(credentials: ICredentialDataDecryptedObject): OAuthApp {
	const grantType = String(credentials.grantType ?? 'authorizationCode');
	if (grantType !== 'authorizationCode' && grantType !== 'pkce') {
		throw new OAuthAppProblem(
			'Grant Type',
			`The OAuth2 app credential's Grant Type is "${grantType === 'clientCredentials' ? 'Client Credentials' : shown(grantType)}": tenants can only connect their accounts with Authorization Code. Set Grant Type to Authorization Code.`,
		);
	}
	const authentication = String(credentials.authentication ?? 'header');
	const app: OAuthApp = {
		clientId: String(credentials.clientId ?? ''),
		clientSecret: String(credentials.clientSecret ?? ''),
		authUrl: String(credentials.authUrl ?? '').trim(),
		accessTokenUrl: String(credentials.accessTokenUrl ?? '').trim(),
		scope: String(credentials.scope ?? ''),
		authentication: authentication === 'body' ? 'body' : 'header',
		authQueryParameters: String(credentials.authQueryParameters ?? ''),
	};
	if (app.clientId === '') throw new OAuthAppProblem('Client ID', "The OAuth2 app credential has no Client ID. Enter the app's client ID.");
	checkUrl(app.authUrl, 'Authorization URL');
	checkUrl(app.accessTokenUrl, 'Access Token URL');
	return app;
}

function checkUrl(value: string, field: string): void {
	let url: URL | undefined;
	try {
		url = new URL(value);
	} catch {
		url = undefined;
	}
	if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
		throw new OAuthAppProblem(field, `The OAuth2 app credential's ${field} is not an http(s) URL. Enter the provider's ${field}.`);
	}
}

function shown(value: string): string {
	return value.slice(0, 40).replace(/[^A-Za-z0-9 _.-]/g, '_');
}
