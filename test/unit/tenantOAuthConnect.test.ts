/**
 * The trigger's domain pieces without n8n: the authorization URL, the app check, the code exchange
 * (client auth, answer validation, refusals without secrets), the tenant credential's data, the pages.
 */
import type { IHttpRequestOptions } from 'n8n-workflow';

import { authorizationUrl } from '../../nodes/shared/tenantOAuth/authorization';
import { oauthAppFrom, OAuthAppProblem, type OAuthApp } from '../../nodes/shared/tenantOAuth/oauthApp';
import { connectedPage, errorPage, escapeHtml, refusedPage } from '../../nodes/shared/tenantOAuth/pages';
import { tenantCredentialData, tenantOAuthCredentialName, TenantConnectionRefused } from '../../nodes/shared/tenantOAuth/tenantConnection';
import { exchangeCode, validateTokenAnswer } from '../../nodes/shared/tenantOAuth/tokenExchange';
import { browserKeyCookie, clearedBrowserKeyCookie } from '../../nodes/TenantOAuth2ConnectTrigger/actions/respond';
import { isHttps } from '../../nodes/TenantOAuth2ConnectTrigger/actions/start';

const CLIENT_SECRET = 'app-secret-Zq9';
const app: OAuthApp = {
	clientId: 'client-1',
	clientSecret: CLIENT_SECRET,
	authUrl: 'https://provider.example/authorize?tenant=common',
	accessTokenUrl: 'https://provider.example/token',
	scope: 'read write',
	authentication: 'header',
	authQueryParameters: 'access_type=offline&prompt=consent',
};
const REDIRECT = 'https://n8n.example/webhook/tenant-connect/callback';

describe('authorizationUrl', () => {
	it('keeps the app URL and its extra parameters, and sets the flow parameters', () => {
		const url = new URL(authorizationUrl(app, { state: 'S', codeChallenge: 'C', redirectUri: REDIRECT }));
		expect(url.origin + url.pathname).toBe('https://provider.example/authorize');
		expect(Object.fromEntries(url.searchParams)).toEqual({
			tenant: 'common',
			access_type: 'offline',
			prompt: 'consent',
			response_type: 'code',
			client_id: 'client-1',
			redirect_uri: REDIRECT,
			scope: 'read write',
			state: 'S',
			code_challenge: 'C',
			code_challenge_method: 'S256',
		});
	});

	it('never lets the app\'s extra parameters (or its URL\'s query) override the flow\'s', () => {
		const hostile = {
			...app,
			authUrl: 'https://provider.example/authorize?state=evil&redirect_uri=https://evil.example',
			authQueryParameters: 'response_type=token&client_id=other&redirect_uri=https://evil.example&state=x&code_challenge=y&code_challenge_method=plain&Redirect_URI=z',
		};
		const url = new URL(authorizationUrl(hostile, { state: 'S', codeChallenge: 'C', redirectUri: REDIRECT }));
		expect(url.searchParams.getAll('response_type')).toEqual(['code']);
		expect(url.searchParams.getAll('client_id')).toEqual(['client-1']);
		expect(url.searchParams.getAll('redirect_uri')).toEqual([REDIRECT]);
		expect(url.searchParams.getAll('state')).toEqual(['S']);
		expect(url.searchParams.getAll('code_challenge')).toEqual(['C']);
		expect(url.searchParams.getAll('code_challenge_method')).toEqual(['S256']);
		expect(url.searchParams.has('Redirect_URI')).toBe(false);
		expect(url.toString()).not.toContain('evil');
	});
});

describe('oauthAppFrom', () => {
	const credential = { grantType: 'authorizationCode', clientId: 'c', clientSecret: 's', authUrl: 'https://p/a', accessTokenUrl: 'https://p/t', scope: '', authentication: 'body' };

	it('reads an authorization code app', () => {
		expect(oauthAppFrom(credential)).toMatchObject({ clientId: 'c', authentication: 'body', authQueryParameters: '' });
	});

	it('refuses client credentials, naming the setting and not the secret', () => {
		expect(() => oauthAppFrom({ ...credential, grantType: 'clientCredentials' })).toThrow(OAuthAppProblem);
		expect(() => oauthAppFrom({ ...credential, grantType: 'clientCredentials' })).toThrow(/Grant Type is "Client Credentials".*Authorization Code/);
	});

	it('refuses a token URL that is not http(s)', () => {
		expect(() => oauthAppFrom({ ...credential, accessTokenUrl: 'file:///etc/passwd' })).toThrow(/Access Token URL/);
	});
});

describe('exchangeCode', () => {
	const exchange = { code: 'the-code-123', codeVerifier: 'v'.repeat(43), redirectUri: REDIRECT };
	const answering = (statusCode: number, body: unknown) => {
		const requests: IHttpRequestOptions[] = [];
		const http = async (options: IHttpRequestOptions) => {
			requests.push(options);
			return { statusCode, body: typeof body === 'string' ? body : JSON.stringify(body) };
		};
		return { http, requests };
	};

	it('sends the code, verifier and redirect URI, the client authenticating with Basic by default', async () => {
		const { http, requests } = answering(200, { access_token: 'at', refresh_token: 'rt', expires_in: 3600, token_type: 'Bearer' });
		const result = await exchangeCode(http, app, exchange, () => 1_000);
		expect(result).toEqual({
			ok: true,
			tokenData: { access_token: 'at', refresh_token: 'rt', expires_in: 3600, token_type: 'Bearer', n8n_expires_at: String(1_000 + 3_600_000) },
		});
		const body = new URLSearchParams(String(requests[0].body));
		expect(Object.fromEntries(body)).toEqual({
			grant_type: 'authorization_code',
			code: 'the-code-123',
			redirect_uri: REDIRECT,
			code_verifier: 'v'.repeat(43),
			client_id: 'client-1',
		});
		expect(requests[0].url).toBe(app.accessTokenUrl);
		expect((requests[0].headers as Record<string, string>).Authorization).toBe(`Basic ${Buffer.from(`client-1:${CLIENT_SECRET}`).toString('base64')}`);
	});

	it('puts the client secret in the body when the app says body', async () => {
		const { http, requests } = answering(200, { access_token: 'at' });
		await exchangeCode(http, { ...app, authentication: 'body' }, exchange);
		expect(new URLSearchParams(String(requests[0].body)).get('client_secret')).toBe(CLIENT_SECRET);
		expect((requests[0].headers as Record<string, string>).Authorization).toBeUndefined();
	});

	it('maps a provider refusal to its error code, never echoing the code, secret or description', async () => {
		const { http } = answering(400, { error: 'invalid_grant', error_description: `bad code the-code-123 for ${CLIENT_SECRET}` });
		const result = await exchangeCode(http, app, exchange);
		expect(result).toEqual({ ok: false, reason: 'providerRefused', providerError: 'invalid_grant' });
		expect(JSON.stringify(result)).not.toMatch(/the-code-123|app-secret/);
	});

	it('an error code that is no OAuth2 error code becomes the HTTP status', async () => {
		const { http } = answering(401, { error: '<script>x</script>"' });
		expect(await exchangeCode(http, app, exchange)).toEqual({ ok: false, reason: 'providerRefused', providerError: 'HTTP 401' });
	});

	it('a server error or a network failure is "unreachable", without the request', async () => {
		expect(await exchangeCode(answering(503, 'down').http, app, exchange)).toMatchObject({ ok: false, reason: 'unreachable' });
		const failing = async () => {
			throw Object.assign(new Error(`connect ECONNREFUSED body=code=the-code-123&client_secret=${CLIENT_SECRET}`), { code: 'ECONNREFUSED' });
		};
		const result = await exchangeCode(failing, app, exchange);
		expect(result).toEqual({ ok: false, reason: 'unreachable', problem: 'the token URL could not be reached (ECONNREFUSED)' });
	});

	it.each([
		['no access token', { token_type: 'Bearer' }, /access_token/],
		['an empty access token', { access_token: '' }, /access_token/],
		['a numeric refresh token', { access_token: 'a', refresh_token: 5 }, /refresh_token/],
		['expires_in not a number', { access_token: 'a', expires_in: 'soon' }, /expires_in/],
		['an access token n8n would evaluate', { access_token: '={{ $env.SECRET }}' }, /answer\.access_token starts with "="/],
		['a nested value n8n would evaluate', { access_token: 'a', extra: { x: ['=1'] } }, /answer\.extra\.x\[0\]/],
		['control characters in a token', { access_token: 'a\nb' }, /access_token/],
	])('refuses a token answer with %s', async (_case, answer, problem) => {
		const result = await exchangeCode(answering(200, answer).http, app, exchange);
		expect(result).toMatchObject({ ok: false, reason: 'invalidAnswer' });
		expect((result as { problem: string }).problem).toMatch(problem);
		expect(JSON.stringify(result)).not.toContain('$env');
	});

	it('accepts a numeric string expires_in and a form-encoded answer', async () => {
		const result = await exchangeCode(answering(200, 'access_token=at&expires_in=60&token_type=bearer').http, app, exchange, () => 0);
		expect(result).toEqual({ ok: true, tokenData: { access_token: 'at', expires_in: 60, token_type: 'bearer', n8n_expires_at: '60000' } });
	});

	it('validateTokenAnswer keeps provider fields n8n keeps (e.g. instance_url)', () => {
		expect(validateTokenAnswer({ access_token: 'a', instance_url: 'https://x.my.salesforce.com' }, 0)).toEqual({
			ok: true,
			tokenData: { access_token: 'a', instance_url: 'https://x.my.salesforce.com' },
		});
	});
});

describe('tenant credential data', () => {
	it('is the app\'s settings plus the tenant\'s oauthTokenData, grant type authorization code', () => {
		const tokenData = { access_token: 'at', refresh_token: 'rt', expires_in: 5, n8n_expires_at: '5000' };
		expect(tenantCredentialData({ ...app, authentication: 'body' }, tokenData)).toEqual({
			grantType: 'authorizationCode',
			authUrl: app.authUrl,
			accessTokenUrl: app.accessTokenUrl,
			clientId: 'client-1',
			clientSecret: CLIENT_SECRET,
			scope: 'read write',
			authQueryParameters: app.authQueryParameters,
			authentication: 'body',
			serverUrl: '',
			oauthTokenData: tokenData,
		});
	});

	it('refuses any value n8n would evaluate, naming the field, not the value', () => {
		expect(() => tenantCredentialData({ ...app, scope: '={{ 1 }}' }, { access_token: 'a' })).toThrow(TenantConnectionRefused);
		expect(() => tenantCredentialData(app, { access_token: 'a', scope: '=x' })).toThrow(/data\.oauthTokenData\.scope starts with "="/);
	});

	it('names the credential by connection and a shown tenant ID', () => {
		expect(tenantOAuthCredentialName('hubspot', 'acme <x>')).toBe('tenant-oauth hubspot acme__x_ (connected by Tenant OAuth2 Connect: do not edit or use)');
	});
});

describe('pages', () => {
	it('escape the reason and carry the protective headers', () => {
		const page = refusedPage('<script>alert("x")</script> & \'q\'');
		expect(page.body).not.toContain('<script>');
		expect(page.body).toContain(escapeHtml('<script>alert("x")</script>'));
		expect(page.status).toBe(400);
		expect(page.headers).toMatchObject({
			'Cache-Control': 'no-store',
			'Referrer-Policy': 'no-referrer',
			'Content-Type': 'text/html; charset=utf-8',
		});
		expect(page.headers['Content-Security-Policy']).toMatch(/default-src 'none'.*frame-ancestors 'none'/);
		expect(page.body).not.toMatch(/<script|<form|<a |src=/i);
	});

	it('say connected, refused or failed', () => {
		expect(connectedPage('hubspot').body).toMatch(/Your account is connected \(hubspot\)/);
		expect(refusedPage('This connect link was already used.').body).toMatch(/already used.*Nothing was connected or changed/);
		expect(errorPage().status).toBe(500);
		expect(errorPage().body).toMatch(/was not connected/);
	});
});

describe('browser key cookie', () => {
	it('is HttpOnly, SameSite=Lax, Path=/, with Max-Age, and Secure only when the callback URL is https', () => {
		expect(browserKeyCookie('k', 600, true)).toBe('n8n_tenant_connect=k; Max-Age=600; Path=/; HttpOnly; SameSite=Lax; Secure');
		expect(browserKeyCookie('k', 600, false)).toBe('n8n_tenant_connect=k; Max-Age=600; Path=/; HttpOnly; SameSite=Lax');
		expect(clearedBrowserKeyCookie(true)).toBe('n8n_tenant_connect=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax; Secure');
		expect([isHttps('https://n8n.example/webhook/x/callback'), isHttps('http://127.0.0.1:5678/webhook/x/callback')]).toEqual([true, false]);
	});
});
