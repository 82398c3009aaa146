/**
 * The Tenant OAuth2 Connect Trigger's whole flow in process: its webhook() behind a 127.0.0.1 HTTP
 * server (as n8n calls it), the stand-in OAuth2 provider, a fetch browser that follows redirects and
 * keeps cookies, a fake n8n credentials API, the in-memory lock backend (the stand-in core store).
 * Each attack: a clear page, nothing created or changed, no secret in any page, item or log. The
 * browser check and the per-tenant lock each have a control that shows the test would catch them missing.
 */
import { closeLockEngines, memoryLockEngine } from '../../nodes/shared/lock';
import { BROWSER_KEY_COOKIE } from '../../nodes/shared/tenantOAuth/browserKey';
import { connectStoreFor } from '../../nodes/shared/tenantOAuth/connectStore';
import { configureConnectionLock } from '../../nodes/shared/tenantOAuth/tenantConnection';
import { newToken } from '../../nodes/shared/tenantOAuth/tokens';
import { configureBrowserCheck } from '../../nodes/TenantOAuth2ConnectTrigger/actions/callback';
import { startTriggerHarness, type TriggerHarness } from '../helpers/connectTriggerHarness';
import { CookieJar, followConnectFlow, type ConnectFlowResult } from '../helpers/oauthBrowser';
import { startOAuthProvider, type OAuthClient, type OAuthProvider } from '../helpers/oauthProvider';

const CONNECTION = 'acme';
let provider: OAuthProvider;
let client: OAuthClient;
let harness: TriggerHarness;
/** Every page and log line the tests saw, checked for secrets at the end. */
const seen: string[] = [];
const secrets = new Set<string>();

const store = () => connectStoreFor(memoryLockEngine());

function appCredential(overrides: Record<string, unknown> = {}) {
	return provider.appCredentialData(client, overrides);
}

async function linkFor(tenantId: string, ttlMs = 60_000): Promise<string> {
	const { token } = await store().createLink({ tenantId, appId: CONNECTION }, ttlMs);
	secrets.add(token);
	return `${harness.startUrl}?link=${token}`;
}

function remember(result: ConnectFlowResult): ConnectFlowResult {
	seen.push(result.finalBody);
	for (const step of result.steps) {
		const url = new URL(step.url);
		for (const name of ['code', 'state', 'link']) {
			const value = url.searchParams.get(name);
			if (value) secrets.add(value);
		}
	}
	for (const cookies of Object.values(result.cookies)) for (const value of Object.values(cookies)) if (value) secrets.add(value);
	return result;
}

async function connect(startUrl: string, account: string, options: { jar?: CookieJar; decision?: 'approve' | 'deny' } = {}) {
	return remember(await followConnectFlow(startUrl, { account, decision: options.decision ?? 'approve', jar: options.jar }));
}

/** The flow up to the provider's redirect to the callback, which is not requested. */
async function stopAtCallback(startUrl: string, account: string, jar = new CookieJar()) {
	const result = remember(await followConnectFlow(startUrl, { account, decision: 'approve', jar, stopBefore: (url) => url.pathname.endsWith('/callback') }));
	expect(result.stopped).toBe(true);
	return { callbackUrl: result.finalUrl, jar };
}

async function open(url: string, jar?: CookieJar) {
	const cookie = jar?.headerFor(url);
	const response = await fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
	const body = await response.text();
	seen.push(body);
	return { status: response.status, body, headers: response.headers };
}

async function startHarness(options: { emitRefusals?: boolean; app?: Record<string, unknown> } = {}) {
	await harness?.close();
	harness = await startTriggerHarness({ app: options.app ?? appCredential(), connection: CONNECTION, emitRefusals: options.emitRefusals });
	client.redirectUris.splice(0, client.redirectUris.length, harness.callbackUrl);
}

const credentialsOf = (tenant: string) => [...harness.api.credentials.values()].filter((credential) => credential.name.includes(` ${tenant} `));

beforeAll(async () => {
	provider = await startOAuthProvider({ settings: { accessTokenTtlSeconds: 3600 } });
	client = provider.registerClient({ redirectUris: [] });
	secrets.add(client.clientSecret);
});

beforeEach(async () => {
	await startHarness();
});

afterEach(() => {
	configureBrowserCheck();
	configureConnectionLock();
	for (const line of harness.logs) seen.push(line);
	seen.push(JSON.stringify(harness.emitted));
});

afterAll(async () => {
	await harness?.close();
	await provider?.close();
	await closeLockEngines();
});

describe('a tenant connects', () => {
	it('link -> provider -> callback: the tenant credential holds working tokens; the page and the item carry none', async () => {
		const result = await connect(await linkFor('alice-co'), 'alice');
		expect(result.finalStatus).toBe(200);
		expect(result.finalBody).toContain('Your account is connected (acme)');
		const [credential, ...others] = credentialsOf('alice-co');
		expect(others).toHaveLength(0);
		expect(credential).toMatchObject({ type: 'oAuth2Api', projectId: 'project-1' });
		expect(credential.name).toBe('tenant-oauth acme alice-co (connected by Tenant OAuth2 Connect: do not edit or use)');
		const data = credential.data as Record<string, any>;
		expect(data).toMatchObject({ grantType: 'authorizationCode', clientId: client.clientId, clientSecret: client.clientSecret, accessTokenUrl: provider.tokenUrl });
		expect(data.oauthTokenData).toMatchObject({ token_type: expect.any(String), expires_in: 3600, n8n_expires_at: expect.stringMatching(/^\d+$/) });
		secrets.add(data.oauthTokenData.access_token);
		secrets.add(data.oauthTokenData.refresh_token);
		// The stored token works at the provider as the tenant's own account.
		const me = await fetch(provider.resourceUrl, { headers: { authorization: `Bearer ${data.oauthTokenData.access_token}` } });
		expect(me.status).toBe(200);
		expect(await me.json()).toMatchObject({ account: 'alice', clientId: client.clientId });
		expect(harness.emitted).toEqual([{ status: 'connected', connection: CONNECTION, tenantId: 'alice-co', credentialId: credential.id }]);
		// The sign-in's cookie is cleared on the way back.
		expect(result.cookies[new URL(harness.url).host]?.[BROWSER_KEY_COOKIE]).toBeUndefined();
		expect(provider.stats.account('alice').codeExchanges).toBe(1);
	});

	it('Start answers 302 to the provider with PKCE S256, and a HttpOnly SameSite=Lax cookie (no Secure on http)', async () => {
		const response = await open(await linkFor('cookie-co'));
		expect(response.status).toBe(302);
		const location = new URL(response.headers.get('location')!);
		expect(location.origin + location.pathname).toBe(provider.authorizeUrl);
		expect(location.searchParams.get('code_challenge_method')).toBe('S256');
		expect(location.searchParams.get('redirect_uri')).toBe(harness.callbackUrl);
		expect(location.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
		secrets.add(location.searchParams.get('state')!);
		const cookie = response.headers.getSetCookie();
		expect(cookie).toHaveLength(1);
		expect(cookie[0]).toMatch(new RegExp(`^${BROWSER_KEY_COOKIE}=[A-Za-z0-9_-]{43}; Max-Age=600; Path=/; HttpOnly; SameSite=Lax$`));
		secrets.add(cookie[0].split(';')[0].split('=')[1]);
		expect(response.headers.get('referrer-policy')).toBe('no-referrer');
		expect(response.headers.get('cache-control')).toBe('no-store');
	});

	it('a tenant that connects again gets a new credential and the earlier one is deleted (never PATCHed: a refresh in flight would write the old grant back)', async () => {
		await connect(await linkFor('again-co'), 'again');
		const [first] = credentialsOf('again-co');
		const firstToken = (first.data.oauthTokenData as Record<string, string>).access_token;
		const patchesBefore = harness.api.calls.filter((call) => call.method === 'PATCH').length;
		await connect(await linkFor('again-co'), 'again');
		const all = credentialsOf('again-co');
		expect(all).toHaveLength(1);
		expect(all[0].id).not.toBe(first.id);
		expect((all[0].data.oauthTokenData as Record<string, string>).access_token).not.toBe(firstToken);
		expect(harness.api.calls.filter((call) => call.method === 'PATCH')).toHaveLength(patchesBefore);
		expect(await store().connectionOf('again-co', CONNECTION)).toMatchObject({ credentialId: all[0].id, credentialType: 'oAuth2Api' });
	});
});

describe('attacks and refusals: a clear page, nothing created or changed', () => {
	const nothingNew = (before: number) => expect(harness.api.credentials.size).toBe(before);

	it('a link used twice', async () => {
		const link = await linkFor('twice-co');
		await connect(link, 'twice');
		const before = harness.api.credentials.size;
		const exchanges = provider.stats.account('twice').codeExchanges;
		const again = await connect(link, 'twice');
		expect(again.finalStatus).toBe(400);
		expect(again.finalBody).toContain('This connect link was already used. Ask for a new link.');
		expect(again.steps).toHaveLength(1);
		nothingNew(before);
		expect(provider.stats.account('twice').codeExchanges).toBe(exchanges);
	});

	it('an expired link', async () => {
		const link = await linkFor('late-co', 1);
		await new Promise((resolve) => setTimeout(resolve, 20));
		const result = await connect(link, 'late');
		expect([result.finalStatus, result.steps.length]).toEqual([400, 1]);
		expect(result.finalBody).toContain('This connect link has expired.');
		nothingNew(0);
	});

	it('an unknown or malformed link', async () => {
		for (const link of [newToken(), 'x', '<script>', `${newToken()}&link=${newToken()}`]) {
			const result = await open(`${harness.startUrl}?link=${encodeURIComponent(link)}`);
			expect(result.status).toBe(400);
			expect(result.body).toContain('This connect link is not valid.');
		}
		nothingNew(0);
	});

	it('a forged state', async () => {
		const jar = new CookieJar();
		await stopAtCallback(await linkFor('forge-co'), 'forge', jar);
		const tokenRequests = provider.stats.tokenRequests;
		const result = await open(`${harness.callbackUrl}?code=anything&state=${newToken()}`, jar);
		expect(result.status).toBe(400);
		expect(result.body).toContain('This sign-in is not known here.');
		nothingNew(0);
		expect(provider.stats.tokenRequests).toBe(tokenRequests);
	});

	it('a replayed state (the callback opened again after it connected)', async () => {
		const jar = new CookieJar();
		const { callbackUrl } = await stopAtCallback(await linkFor('replay-co'), 'replay', jar);
		const cookie = jar.headerFor(callbackUrl);
		const first = await open(callbackUrl, jar);
		expect(first.body).toContain('Your account is connected');
		const [credential] = credentialsOf('replay-co');
		const dataBefore = JSON.stringify(credential.data);
		const calls = harness.api.calls.length;
		const tokenRequests = provider.stats.tokenRequests;
		// The same browser (its cookie as it was) replays the callback.
		const replay = await fetch(callbackUrl, { redirect: 'manual', headers: { cookie: cookie! } });
		const body = await replay.text();
		seen.push(body);
		expect(replay.status).toBe(400);
		expect(body).toContain('This sign-in was already completed.');
		expect(JSON.stringify(credential.data)).toBe(dataBefore);
		expect(harness.api.calls.length).toBe(calls);
		expect(provider.stats.tokenRequests).toBe(tokenRequests);
	});

	it('a callback without a start (no state at all, or one the provider never saw)', async () => {
		const tokenRequests = provider.stats.tokenRequests;
		for (const query of ['?code=abc', '', '?error=access_denied', `?code=abc&state=${newToken()}&state=${newToken()}`]) {
			const result = await open(`${harness.callbackUrl}${query}`);
			expect(result.status).toBe(400);
			expect(result.body).toContain('This sign-in is not known here.');
		}
		nothingNew(0);
		expect(provider.stats.tokenRequests).toBe(tokenRequests);
	});

	it('the tenant declines at the provider (error=access_denied); with Emit Refusals the workflow hears it', async () => {
		await startHarness({ emitRefusals: true });
		const result = await connect(await linkFor('deny-co'), 'deny', { decision: 'deny' });
		expect(result.finalStatus).toBe(200);
		expect(result.finalBody).toContain('You declined the connection at the provider.');
		expect(result.finalBody).toContain('Nothing was connected or changed.');
		nothingNew(0);
		expect(harness.emitted).toEqual([{ status: 'refused', connection: CONNECTION, reason: 'declined', tenantId: 'deny-co', providerError: 'access_denied' }]);
	});

	it('without Emit Refusals a refusal runs no workflow', async () => {
		await connect(await linkFor('quiet-co'), 'quiet', { decision: 'deny' });
		await open(`${harness.startUrl}?link=${newToken()}`);
		expect(harness.emitted).toEqual([]);
	});

	it("a state completed in another browser (the attacker's link, the victim's approval) is refused", async () => {
		const { callbackUrl } = await stopAtCallback(await linkFor('mallory-co'), 'victim');
		const result = await open(callbackUrl, new CookieJar());
		expect(result.status).toBe(403);
		expect(result.body).toContain('This sign-in was started in another browser.');
		nothingNew(0);
		expect(provider.stats.account('victim').codeExchanges).toBe(0);
	});

	it("control: without the browser check the same attack connects the victim's account to the attacker's tenant", async () => {
		configureBrowserCheck(false);
		const { callbackUrl } = await stopAtCallback(await linkFor('mallory2-co'), 'victim2');
		const result = await open(callbackUrl, new CookieJar());
		expect(result.body).toContain('Your account is connected');
		const [credential] = credentialsOf('mallory2-co');
		const token = (credential.data.oauthTokenData as Record<string, string>).access_token;
		secrets.add(token);
		const me = await fetch(provider.resourceUrl, { headers: { authorization: `Bearer ${token}` } });
		expect(await me.json()).toMatchObject({ account: 'victim2' });
	});

	it('a provider that refuses the code (invalid_grant): a page naming the refusal, no credential', async () => {
		const jar = new CookieJar();
		const { callbackUrl } = await stopAtCallback(await linkFor('badcode-co'), 'badcode', jar);
		const forged = new URL(callbackUrl);
		forged.searchParams.set('code', 'not-a-code-the-provider-made');
		const result = await open(forged.toString(), jar);
		expect(result.status).toBe(400);
		expect(result.body).toContain('The provider refused the sign-in (invalid_grant).');
		nothingNew(0);
	});

	it('an app with Grant Type Client Credentials: an error page, a log naming the setting, the link not used up', async () => {
		await startHarness({ app: appCredential({ grantType: 'clientCredentials' }) });
		const link = await linkFor('cc-co');
		const result = await open(link);
		expect(result.status).toBe(500);
		expect(result.body).toContain('Something went wrong on our side');
		expect(harness.logs.join('\n')).toMatch(/Parameter "OAuth2 app credential".*Grant Type is "Client Credentials".*Set Grant Type to Authorization Code/);
		expect((await store().useLink(new URL(link).searchParams.get('link')!)).ok).toBe(true);
	});
});

describe('two completions for one tenant at once', () => {
	async function raceTwoCompletions(tenant: string) {
		const a = await stopAtCallback(await linkFor(tenant), `${tenant}-a`);
		const b = await stopAtCallback(await linkFor(tenant), `${tenant}-b`);
		harness.api.createDelayMs = 300;
		const pages = await Promise.all([open(a.callbackUrl, a.jar), open(b.callbackUrl, b.jar)]);
		harness.api.createDelayMs = 0;
		for (const page of pages) expect(page.body).toContain('Your account is connected');
		return credentialsOf(tenant);
	}

	it('make one credential, recorded as the connection (the lock serialises them)', async () => {
		const credentials = await raceTwoCompletions('race-co');
		expect(credentials).toHaveLength(1);
		expect(await store().connectionOf('race-co', CONNECTION)).toMatchObject({ credentialId: credentials[0].id });
	});

	it('control: without the lock they make two credentials, one of them orphaned', async () => {
		configureConnectionLock(false);
		const credentials = await raceTwoCompletions('race2-co');
		expect(credentials).toHaveLength(2);
	});
});

afterAll(() => {
	// No secret (link, state, code, cookie, token, client secret) in any page, item or log line.
	const everything = seen.join('\n');
	const leaked = [...secrets].filter((secret) => secret && secret.length >= 8 && everything.includes(secret));
	expect(leaked).toEqual([]);
	expect(secrets.size).toBeGreaterThan(20);
});
