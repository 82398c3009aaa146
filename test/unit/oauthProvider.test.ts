import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { CookieJar, followConnectFlow, parseConsentForm } from '../helpers/oauthBrowser';
import { s256, startOAuthProvider, type OAuthClient, type OAuthProvider } from '../helpers/oauthProvider';

const REDIRECT_URI = 'http://127.0.0.1:1/webhook/complete';

function newPkce(): { verifier: string; challenge: string } {
	const verifier = randomBytes(32).toString('base64url');
	return { verifier, challenge: s256(verifier) };
}

function authorizeQuery(client: OAuthClient, challenge: string, extra: Record<string, string> = {}): URLSearchParams {
	return new URLSearchParams({
		response_type: 'code',
		client_id: client.clientId,
		redirect_uri: REDIRECT_URI,
		scope: 'read write',
		state: 'state-1',
		code_challenge: challenge,
		code_challenge_method: 'S256',
		...extra,
	});
}

async function decide(provider: OAuthProvider, form: URLSearchParams): Promise<Response> {
	return fetch(`${provider.url}/authorize/decision`, { method: 'POST', body: form, redirect: 'manual' });
}

/** Approves as `account` through the decision endpoint; returns the code from the redirect. */
async function approve(provider: OAuthProvider, client: OAuthClient, account: string, challenge: string): Promise<string> {
	const response = await decide(provider, new URLSearchParams([...authorizeQuery(client, challenge), ['account', account], ['decision', 'approve']]));
	expect(response.status).toBe(302);
	const location = new URL(response.headers.get('location')!);
	expect(location.searchParams.get('state')).toBe('state-1');
	return location.searchParams.get('code')!;
}

async function postToken(
	provider: OAuthProvider,
	fields: Record<string, string>,
	auth?: { client: OAuthClient; via: 'basic' | 'body'; secret?: string },
): Promise<{ status: number; body: Record<string, unknown> }> {
	const form = new URLSearchParams(fields);
	const headers: Record<string, string> = {};
	if (auth?.via === 'body') {
		form.set('client_id', auth.client.clientId);
		form.set('client_secret', auth.secret ?? auth.client.clientSecret);
	} else if (auth?.via === 'basic') {
		headers.authorization = `Basic ${Buffer.from(`${auth.client.clientId}:${auth.secret ?? auth.client.clientSecret}`).toString('base64')}`;
	}
	const response = await fetch(provider.tokenUrl, { method: 'POST', body: form, headers });
	return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

function exchange(provider: OAuthProvider, client: OAuthClient, code: string, verifier: string, via: 'basic' | 'body' = 'body') {
	return postToken(provider, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier }, { client, via });
}

function refresh(provider: OAuthProvider, client: OAuthClient, refreshToken: string) {
	return postToken(provider, { grant_type: 'refresh_token', refresh_token: refreshToken }, { client, via: 'basic' });
}

async function me(provider: OAuthProvider, accessToken: unknown, tenant?: string): Promise<{ status: number; body: Record<string, unknown> }> {
	const url = tenant === undefined ? provider.resourceUrl : `${provider.resourceUrl}?tenant=${encodeURIComponent(tenant)}`;
	const response = await fetch(url, { headers: { authorization: `Bearer ${String(accessToken)}` } });
	return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** A connected account: its client, tokens and PKCE pair. */
async function connect(provider: OAuthProvider, client: OAuthClient, account: string) {
	const { verifier, challenge } = newPkce();
	const code = await approve(provider, client, account, challenge);
	const answer = await exchange(provider, client, code, verifier);
	expect(answer.status).toBe(200);
	return { code, verifier, tokens: answer.body as { access_token: string; refresh_token: string } };
}

describe('stand-in OAuth2 provider', () => {
	let provider: OAuthProvider;
	let client: OAuthClient;

	beforeEach(async () => {
		provider = await startOAuthProvider({ clients: [{ clientId: 'app-1', redirectUris: [REDIRECT_URI] }] });
		client = provider.clients.get('app-1')!;
	});
	afterEach(() => provider.close());

	test('listens on 127.0.0.1 and answers unknown paths 404', async () => {
		expect(new URL(provider.url).hostname).toBe('127.0.0.1');
		expect((await fetch(`${provider.url}/nope`)).status).toBe(404);
	});

	test('full code flow with PKCE: consent page, approve, exchange, resource', async () => {
		const { verifier, challenge } = newPkce();
		const page = await fetch(`${provider.authorizeUrl}?${authorizeQuery(client, challenge, { login_hint: 'alice' })}`);
		expect(page.status).toBe(200);
		const html = await page.text();
		expect(html).toContain('Approve');
		expect(html).toContain('Deny');
		expect(html).not.toContain(client.clientSecret);
		const form = parseConsentForm(html)!;
		expect(form.action).toBe('/authorize/decision');
		expect(form.fields).toMatchObject({ account: 'alice', client_id: 'app-1', state: 'state-1', code_challenge: challenge, code_challenge_method: 'S256' });

		const decision = await decide(provider, new URLSearchParams({ ...form.fields, decision: 'approve' }));
		expect(decision.status).toBe(302);
		const location = new URL(decision.headers.get('location')!);
		expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
		expect(location.searchParams.get('state')).toBe('state-1');
		const code = location.searchParams.get('code')!;
		expect(code).toMatch(/^code_/);

		const answer = await exchange(provider, client, code, verifier, 'body');
		expect(answer.status).toBe(200);
		expect(answer.body).toEqual({
			access_token: expect.any(String),
			token_type: 'Bearer',
			expires_in: 5,
			refresh_token: expect.any(String),
			scope: 'read write',
		});
		const resource = await me(provider, answer.body.access_token);
		expect(resource.status).toBe(200);
		expect(resource.body).toEqual({ account: 'alice', tokenId: expect.stringMatching(/^token-/), scope: 'read write', clientId: 'app-1' });

		expect(provider.stats.account('alice')).toMatchObject({ authorizations: 1, codeExchanges: 1, resourceCalls: 1, lastTokenId: resource.body.tokenId });
		expect(provider.stats.clientAuth).toEqual({ basic: 0, body: 1 });
		expect(provider.describeToken(String(answer.body.access_token))).toMatchObject({ kind: 'access', account: 'alice', live: true });
	});

	test('without login_hint the consent page proposes a fresh account name each time', async () => {
		const { challenge } = newPkce();
		const names = new Set<string>();
		for (let i = 0; i < 2; i++) {
			const html = await (await fetch(`${provider.authorizeUrl}?${authorizeQuery(client, challenge)}`)).text();
			names.add(parseConsentForm(html)!.fields.account);
		}
		expect(names.size).toBe(2);
	});

	test('client authentication: HTTP Basic and body both accepted and counted; a wrong secret is invalid_client', async () => {
		const first = newPkce();
		const viaBasic = await exchange(provider, client, await approve(provider, client, 'bob', first.challenge), first.verifier, 'basic');
		expect(viaBasic.status).toBe(200);
		expect(provider.stats.clientAuth).toEqual({ basic: 1, body: 0 });

		const second = newPkce();
		const code = await approve(provider, client, 'bob', second.challenge);
		const wrong = await postToken(
			provider,
			{ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: second.verifier },
			{ client, via: 'basic', secret: 'not-the-secret' },
		);
		expect(wrong).toEqual({ status: 401, body: { error: 'invalid_client', error_description: expect.any(String) } });
		expect(provider.stats.invalidClients).toBe(1);
		// A failed client authentication does not use the code up.
		expect((await exchange(provider, client, code, second.verifier, 'body')).status).toBe(200);
		expect(provider.stats.clientAuth).toEqual({ basic: 1, body: 1 });
	});

	test('a wrong code_verifier is refused and uses the code up', async () => {
		const { verifier, challenge } = newPkce();
		const code = await approve(provider, client, 'carol', challenge);
		const wrong = await exchange(provider, client, code, newPkce().verifier);
		expect(wrong).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: expect.stringContaining('code_verifier') } });
		expect((await exchange(provider, client, code, verifier)).body.error).toBe('invalid_grant');
		expect(provider.stats.account('carol')).toMatchObject({ codeExchanges: 0, invalidGrants: 2 });
	});

	test('a redirect_uri that is not registered gets a 400 page, never a redirect; an unknown client too', async () => {
		const { challenge } = newPkce();
		for (const query of [
			authorizeQuery(client, challenge, { redirect_uri: 'http://127.0.0.1:1/webhook/complete/evil' }),
			authorizeQuery(client, challenge, { redirect_uri: 'http://evil.example/webhook/complete' }),
			authorizeQuery(client, challenge, { client_id: 'unknown-app' }),
		]) {
			const page = await fetch(`${provider.authorizeUrl}?${query}`, { redirect: 'manual' });
			expect(page.status).toBe(400);
			expect(page.headers.get('location')).toBeNull();
			expect(await page.text()).toContain('Authorization failed');
			const decision = await decide(provider, new URLSearchParams([...query, ['account', 'x'], ['decision', 'approve']]));
			expect(decision.status).toBe(400);
			expect(decision.headers.get('location')).toBeNull();
		}
		expect(provider.stats.account('x').authorizations).toBe(0);
	});

	test('the token request must repeat the authorization request redirect_uri', async () => {
		const { verifier, challenge } = newPkce();
		const code = await approve(provider, client, 'dave', challenge);
		const answer = await postToken(
			provider,
			{ grant_type: 'authorization_code', code, redirect_uri: `${REDIRECT_URI}/other`, code_verifier: verifier },
			{ client, via: 'body' },
		);
		expect(answer.status).toBe(400);
		expect(answer.body.error).toBe('invalid_grant');
	});

	test('PKCE is required and plain is refused (back to the client with error=invalid_request); so is a response_type other than code', async () => {
		const { verifier, challenge } = newPkce();
		const cases: Array<[URLSearchParams, string]> = [
			[authorizeQuery(client, verifier, { code_challenge_method: 'plain' }), 'invalid_request'],
			[authorizeQuery(client, challenge, { code_challenge_method: '' }), 'invalid_request'],
			[(() => { const query = authorizeQuery(client, challenge); query.delete('code_challenge'); return query; })(), 'invalid_request'],
			[authorizeQuery(client, challenge, { response_type: 'token' }), 'unsupported_response_type'],
		];
		for (const [query, error] of cases) {
			const answer = await fetch(`${provider.authorizeUrl}?${query}`, { redirect: 'manual' });
			expect(answer.status).toBe(302);
			const location = new URL(answer.headers.get('location')!);
			expect(location.searchParams.get('error')).toBe(error);
			expect(location.searchParams.get('state')).toBe('state-1');
			expect(location.searchParams.has('code')).toBe(false);
		}
	});

	test('code replay is invalid_grant and revokes the tokens issued from that code (RFC 6749 10.5)', async () => {
		const { code, verifier, tokens } = await connect(provider, client, 'erin');
		expect((await me(provider, tokens.access_token)).status).toBe(200);

		const replay = await exchange(provider, client, code, verifier);
		expect(replay).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: expect.any(String) } });
		expect((await me(provider, tokens.access_token)).body).toEqual({ error: 'invalid_token' });
		expect((await refresh(provider, client, tokens.refresh_token)).body.error).toBe('invalid_grant');
		expect(provider.stats.account('erin')).toMatchObject({ codeExchanges: 1, codeReplays: 1, invalidGrants: 2, rejectedResourceCalls: 1 });
	});

	test('a code belongs to its client: another client cannot exchange it', async () => {
		const other = provider.registerClient({ redirectUris: [REDIRECT_URI] });
		const { verifier, challenge } = newPkce();
		const code = await approve(provider, client, 'fay', challenge);
		expect((await exchange(provider, other, code, verifier)).body.error).toBe('invalid_grant');
		expect((await exchange(provider, client, code, verifier)).status).toBe(200);
	});

	test('refresh rotation: each refresh answers a new refresh token; the old one is then invalid_grant; the grant lives on by default', async () => {
		const { tokens } = await connect(provider, client, 'gus');
		const first = await refresh(provider, client, tokens.refresh_token);
		expect(first.status).toBe(200);
		expect(first.body).toMatchObject({ token_type: 'Bearer', expires_in: 5, scope: 'read write' });
		expect(first.body.refresh_token).not.toBe(tokens.refresh_token);
		expect(first.body.access_token).not.toBe(tokens.access_token);

		const reuse = await refresh(provider, client, tokens.refresh_token);
		expect(reuse).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: expect.any(String) } });
		expect(provider.describeToken(tokens.refresh_token)).toMatchObject({ kind: 'refresh', live: false });

		const second = await refresh(provider, client, String(first.body.refresh_token));
		expect(second.status).toBe(200);
		expect((await me(provider, second.body.access_token)).status).toBe(200);
		expect(provider.stats.account('gus')).toMatchObject({ refreshes: 2, refreshReuses: 1, invalidGrants: 1 });
	});

	test('with revokeFamilyOnRefreshReuse a reused refresh token revokes the whole grant', async () => {
		provider.settings.revokeFamilyOnRefreshReuse = true;
		const { tokens } = await connect(provider, client, 'hal');
		const rotated = await refresh(provider, client, tokens.refresh_token);
		expect((await refresh(provider, client, tokens.refresh_token)).body.error).toBe('invalid_grant');
		expect((await me(provider, rotated.body.access_token)).status).toBe(401);
		expect((await refresh(provider, client, String(rotated.body.refresh_token))).body.error).toBe('invalid_grant');
	});

	test('two concurrent refreshes with one refresh token: exactly one wins (slow token endpoint)', async () => {
		provider.settings.delayTokenMs = 300;
		const { tokens } = await connect(provider, client, 'ivy');
		const answers = await Promise.all([refresh(provider, client, tokens.refresh_token), refresh(provider, client, tokens.refresh_token)]);
		expect(answers.map((answer) => answer.status).sort()).toEqual([200, 400]);
		expect(answers.find((answer) => answer.status === 400)!.body.error).toBe('invalid_grant');
		expect(provider.stats.account('ivy')).toMatchObject({ refreshes: 1, refreshReuses: 1 });
	});

	test('failNextTokenRequests answers 500 server_error that many times, then works', async () => {
		const { tokens } = await connect(provider, client, 'jon');
		provider.settings.failNextTokenRequests = 1;
		expect(await refresh(provider, client, tokens.refresh_token)).toEqual({
			status: 500,
			body: { error: 'server_error', error_description: expect.any(String) },
		});
		expect((await refresh(provider, client, tokens.refresh_token)).status).toBe(200);
		expect(provider.stats.injectedFailures).toBe(1);
	});

	test('access tokens expire after accessTokenTtlSeconds on the settable clock; a refresh gives a live one', async () => {
		provider.settings.accessTokenTtlSeconds = 30;
		const { tokens } = await connect(provider, client, 'kim');
		provider.advanceClock(29_000);
		expect((await me(provider, tokens.access_token)).status).toBe(200);
		provider.advanceClock(1_000);
		const expired = await me(provider, tokens.access_token);
		expect(expired).toEqual({ status: 401, body: { error: 'invalid_token' } });
		const renewed = await refresh(provider, client, tokens.refresh_token);
		expect(renewed.body.expires_in).toBe(30);
		expect((await me(provider, renewed.body.access_token)).body.account).toBe('kim');
		expect(provider.stats.account('kim')).toMatchObject({ resourceCalls: 2, rejectedResourceCalls: 1, refreshes: 1 });
	});

	test('codes expire after 60 s', async () => {
		const { verifier, challenge } = newPkce();
		const code = await approve(provider, client, 'lee', challenge);
		provider.advanceClock(60_000);
		expect((await exchange(provider, client, code, verifier)).body.error).toBe('invalid_grant');
	});

	test('/api/me: no, malformed or unknown token is 401 invalid_token', async () => {
		expect((await fetch(provider.resourceUrl)).status).toBe(401);
		expect((await me(provider, 'at_unknown')).body).toEqual({ error: 'invalid_token' });
		expect(provider.stats.unknownTokenCalls).toBe(2);
	});

	test('/api/me echoes a tenant hint and counts calls whose token belongs to another account', async () => {
		const { tokens } = await connect(provider, client, 'tenant-a');
		expect((await me(provider, tokens.access_token, 'tenant-a')).body).toMatchObject({ account: 'tenant-a', tenantHint: 'tenant-a' });
		expect((await me(provider, tokens.access_token, 'tenant-b')).body).toMatchObject({ account: 'tenant-a', tenantHint: 'tenant-b' });
		expect(provider.stats.account('tenant-a')).toMatchObject({ resourceCalls: 2, tenantHintMismatches: 1 });
	});

	test('revoke (RFC 7009): a refresh token ends its grant, an access token just itself; unknown tokens 200; client auth required', async () => {
		const revoke = (fields: Record<string, string>, headers: Record<string, string> = {}) =>
			fetch(provider.revokeUrl, { method: 'POST', body: new URLSearchParams(fields), headers });
		const basic = { authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}` };

		const first = await connect(provider, client, 'max');
		expect((await revoke({ token: first.tokens.access_token }, basic)).status).toBe(200);
		expect((await me(provider, first.tokens.access_token)).status).toBe(401);
		expect((await refresh(provider, client, first.tokens.refresh_token)).status).toBe(200);

		const second = await connect(provider, client, 'max');
		expect((await revoke({ token: second.tokens.refresh_token, client_id: client.clientId, client_secret: client.clientSecret })).status).toBe(200);
		expect((await me(provider, second.tokens.access_token)).status).toBe(401);
		expect((await refresh(provider, client, second.tokens.refresh_token)).body.error).toBe('invalid_grant');

		expect((await revoke({ token: 'rt_unknown' }, basic)).status).toBe(200);
		const unauthenticated = await revoke({ token: second.tokens.access_token });
		expect(unauthenticated.status).toBe(401);
		expect(await unauthenticated.json()).toMatchObject({ error: 'invalid_client' });

		const other = provider.registerClient({ redirectUris: [REDIRECT_URI] });
		const third = await connect(provider, client, 'max');
		const foreign = await revoke({ token: third.tokens.refresh_token, client_id: other.clientId, client_secret: other.clientSecret });
		expect(foreign.status).toBe(400);
		expect((await me(provider, third.tokens.access_token)).status).toBe(200);
		expect(provider.stats.account('max').revocations).toBe(2);
	});

	test('deny: back to the client with error=access_denied and the state, no code', async () => {
		const { challenge } = newPkce();
		const answer = await decide(provider, new URLSearchParams([...authorizeQuery(client, challenge), ['account', 'ned'], ['decision', 'deny']]));
		expect(answer.status).toBe(302);
		const location = new URL(answer.headers.get('location')!);
		expect(Object.fromEntries(location.searchParams)).toEqual({ error: 'access_denied', state: 'state-1' });
		expect(provider.stats.account('ned')).toMatchObject({ denials: 1, authorizations: 0 });
	});

	test('the consent page HTML-escapes what it echoes; a bad account name is refused', async () => {
		const { challenge } = newPkce();
		const hostile = `"><script>alert(1)</script>&'`;
		const html = await (await fetch(`${provider.authorizeUrl}?${authorizeQuery(client, challenge, { state: hostile, scope: hostile })}`)).text();
		expect(html).not.toContain('<script>');
		expect(html).toContain('&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;&#39;');
		// The form still carries the exact state back.
		expect(parseConsentForm(html)!.fields.state).toBe(hostile);
		const bad = await decide(provider, new URLSearchParams([...authorizeQuery(client, challenge), ['account', '<b>x</b>'], ['decision', 'approve']]));
		expect(bad.status).toBe(400);
		expect(await bad.text()).not.toContain('<b>x</b>');
	});

	test('a parameter given twice is refused', async () => {
		const { challenge } = newPkce();
		const query = authorizeQuery(client, challenge);
		query.append('state', 'second');
		expect((await fetch(`${provider.authorizeUrl}?${query}`, { redirect: 'manual' })).status).toBe(400);
	});
});

describe('followConnectFlow', () => {
	let provider: OAuthProvider;
	let app: Server;
	let appUrl: string;
	let client: OAuthClient;
	const pending = new Map<string, string>();

	// A minimal client app: /start sets a browser cookie and sends the browser to the provider;
	// /complete needs that cookie and the state, exchanges the code and shows who connected.
	beforeAll(async () => {
		provider = await startOAuthProvider();
		app = createServer((request, response) => {
			void (async () => {
				const url = new URL(request.url!, 'http://127.0.0.1');
				if (url.pathname === '/webhook/start') {
					const { verifier, challenge } = newPkce();
					const state = randomBytes(16).toString('hex');
					pending.set(state, verifier);
					const target = new URL(provider.authorizeUrl);
					target.search = new URLSearchParams({
						response_type: 'code',
						client_id: client.clientId,
						redirect_uri: `${appUrl}/webhook/complete`,
						scope: 'read',
						state,
						code_challenge: challenge,
						code_challenge_method: 'S256',
					}).toString();
					response.writeHead(302, { location: target.toString(), 'set-cookie': `browser=${state}; HttpOnly; SameSite=Lax; Path=/` });
					return void response.end();
				}
				const state = url.searchParams.get('state') ?? '';
				if (!(request.headers.cookie ?? '').includes(`browser=${state}`) || !pending.has(state)) {
					response.writeHead(403);
					return void response.end('wrong browser');
				}
				if (url.searchParams.get('error')) {
					response.writeHead(200, { 'set-cookie': 'browser=; Max-Age=0; Path=/' });
					return void response.end(`not connected: ${url.searchParams.get('error')}`);
				}
				const answer = await fetch(provider.tokenUrl, {
					method: 'POST',
					headers: { authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}` },
					body: new URLSearchParams({
						grant_type: 'authorization_code',
						code: url.searchParams.get('code') ?? '',
						redirect_uri: `${appUrl}/webhook/complete`,
						code_verifier: pending.get(state)!,
					}),
				});
				const tokens = (await answer.json()) as { access_token: string };
				const who = await fetch(provider.resourceUrl, { headers: { authorization: `Bearer ${tokens.access_token}` } });
				response.writeHead(200, { 'set-cookie': 'browser=; Max-Age=0; Path=/' });
				response.end(`connected: ${((await who.json()) as { account: string }).account}`);
			})();
		});
		await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
		appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
		client = provider.registerClient({ redirectUris: [`${appUrl}/webhook/complete`] });
	});
	afterAll(async () => {
		await provider.close();
		await new Promise((resolve) => app.close(resolve));
	});

	test('approve: start -> provider consent -> callback, with the cookie kept for the app host and the chosen account', async () => {
		const result = await followConnectFlow(`${appUrl}/webhook/start`, { account: 'tenant-7', decision: 'approve' });
		expect(result).toMatchObject({ finalStatus: 200, finalBody: 'connected: tenant-7', stopped: false });
		expect(new URL(result.finalUrl).pathname).toBe('/webhook/complete');
		expect(result.steps.map((step) => `${step.method} ${new URL(step.url).pathname} ${step.status}`)).toEqual([
			'GET /webhook/start 302',
			'GET /authorize 200',
			'POST /authorize/decision 302',
			'GET /webhook/complete 200',
		]);
		// The app deleted its cookie with Max-Age=0 at the end.
		expect(result.cookies[new URL(appUrl).host]).toEqual({});
		expect(provider.stats.account('tenant-7')).toMatchObject({ authorizations: 1, codeExchanges: 1 });
	});

	test('deny: the callback gets error=access_denied', async () => {
		const result = await followConnectFlow(`${appUrl}/webhook/start`, { account: 'tenant-8', decision: 'deny' });
		expect(result.finalStatus).toBe(200);
		expect(result.finalBody).toBe('not connected: access_denied');
		expect(provider.stats.account('tenant-8')).toMatchObject({ denials: 1, codeExchanges: 0 });
	});

	test('stopBefore hands back the callback URL; another browser (jar without the cookie) is refused, the same one passes', async () => {
		const jar = new CookieJar();
		const stopped = await followConnectFlow(`${appUrl}/webhook/start`, {
			account: 'tenant-9',
			decision: 'approve',
			jar,
			stopBefore: (url) => url.pathname === '/webhook/complete',
		});
		expect(stopped).toMatchObject({ stopped: true, finalStatus: 302 });
		expect(Object.keys(stopped.cookies[new URL(appUrl).host])).toEqual(['browser']);

		const otherBrowser = await followConnectFlow(stopped.finalUrl, { decision: 'approve' });
		expect(otherBrowser).toMatchObject({ finalStatus: 403, finalBody: 'wrong browser' });
		const sameBrowser = await followConnectFlow(stopped.finalUrl, { decision: 'approve', jar });
		expect(sameBrowser).toMatchObject({ finalStatus: 200, finalBody: 'connected: tenant-9' });
	});

	test('the cookie jar keeps cookies per host:port and drops expired ones', () => {
		const jar = new CookieJar();
		jar.store('http://127.0.0.1:1000/a', ['a=1; Path=/; HttpOnly', 'b=2']);
		jar.store('http://127.0.0.1:2000/', ['a=other']);
		expect(jar.headerFor('http://127.0.0.1:1000/x')).toBe('a=1; b=2');
		expect(jar.headerFor('http://127.0.0.1:2000/')).toBe('a=other');
		expect(jar.headerFor('http://127.0.0.1:3000/')).toBeUndefined();
		jar.store('http://127.0.0.1:1000/', ['a=; Max-Age=0', 'b=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT']);
		expect(jar.headerFor('http://127.0.0.1:1000/')).toBeUndefined();
	});
});
