/**
 * A stand-in OAuth2 provider (authorization code + PKCE S256, rotating refresh tokens, RFC 7009
 * revocation) and one protected resource, for the tenant OAuth tests and `npm run dev`.
 * Plain `node:http` on 127.0.0.1; everything in memory; it never logs, and no token, code or
 * secret ever appears in a page it serves.
 *
 * Endpoints (relative to `url`):
 * - `GET /authorize`: checks the request, answers a consent page (form with `account` and the
 *   buttons Approve / Deny). An unknown client or an unregistered redirect URI gets a 400 page,
 *   never a redirect; any other bad request goes back to the redirect URI with `error=`.
 * - `POST /authorize/decision`: the consent form's target (tests may post it directly); 302 to the
 *   redirect URI with `code` + `state`, or `error=access_denied` + `state`.
 * - `POST /token`: `authorization_code` and `refresh_token` grants, client auth by HTTP Basic or by
 *   `client_id` + `client_secret` in the body.
 * - `POST /revoke`: RFC 7009.
 * - `GET /api/me`: `{ account, tenantHint?, tokenId, scope, clientId }` for a live Bearer access token,
 *   401 `{ error: "invalid_token" }` otherwise.
 *
 * Memory: used and unused codes are dropped 60 s (codeTtlSeconds) after issue; tokens, and rotated-out
 * refresh tokens (kept so a reuse is recognised), live as long as the provider: bounded by what a test
 * issues. Only `node:*` imports, so a plain JS script can use it after
 * `tsc test/helpers/oauthProvider.ts --outDir <dir> --module commonjs --target es2022 --types node`.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OAuthClient {
	clientId: string;
	clientSecret: string;
	/** Exact-match list; mutable, so a test may add n8n's callback URL once n8n's port is known. */
	redirectUris: string[];
}

export interface OAuthProviderSettings {
	/** Access token lifetime, also answered as `expires_in`. Default 5. */
	accessTokenTtlSeconds: number;
	/** Authorization code lifetime. Default 60. */
	codeTtlSeconds: number;
	/** Reusing a rotated-out refresh token also revokes every token of its grant. Default false. */
	revokeFamilyOnRefreshReuse: boolean;
	/** The token endpoint decides at once but answers this much later (race tests). Default 0. */
	delayTokenMs: number;
	/** The next N token requests get 500 `{ error: "server_error" }` before any check. Default 0. */
	failNextTokenRequests: number;
	/** Added to Date.now() for every expiry decision: a settable clock, so tests need not sleep. */
	clockOffsetMs: number;
}

export interface AccountStats {
	/** Approvals on the consent form. */
	authorizations: number;
	denials: number;
	/** Successful authorization_code grants. */
	codeExchanges: number;
	/** Successful refresh_token grants. */
	refreshes: number;
	/** invalid_grant answers for a code or refresh token of this account. */
	invalidGrants: number;
	/** Replays of an already used code of this account. */
	codeReplays: number;
	/** Uses of a rotated-out refresh token of this account. */
	refreshReuses: number;
	revocations: number;
	/** 200 answers of /api/me. */
	resourceCalls: number;
	/** 401 answers of /api/me for an expired or revoked token of this account. */
	rejectedResourceCalls: number;
	/** /api/me calls whose tenant hint (query `tenant` or header `x-tenant-hint`) was not this account. */
	tenantHintMismatches: number;
	/** Token id (not the token) of the last /api/me call that got 200. */
	lastTokenId: string | undefined;
}

export interface ProviderStats {
	readonly accounts: ReadonlyMap<string, AccountStats>;
	/** This account's counters (all zero when it was never seen; does not create an entry). */
	account(name: string): AccountStats;
	/** Which client authentication each token/revoke request used. */
	readonly clientAuth: { basic: number; body: number };
	tokenRequests: number;
	/** All invalid_grant answers, also those whose code or token is unknown (no account). */
	invalidGrants: number;
	invalidClients: number;
	/** /api/me calls with no token or an unknown one. */
	unknownTokenCalls: number;
	/** Token requests failed on purpose by `failNextTokenRequests`. */
	injectedFailures: number;
	reset(): void;
}

export interface OAuthProviderOptions {
	/** Default 0 (any free port). Always 127.0.0.1. */
	port?: number;
	clients?: Array<Partial<OAuthClient> & Pick<OAuthClient, 'redirectUris'>>;
	settings?: Partial<OAuthProviderSettings>;
}

export interface OAuthProvider {
	/** `http://127.0.0.1:<port>` */
	readonly url: string;
	readonly authorizeUrl: string;
	readonly tokenUrl: string;
	readonly revokeUrl: string;
	readonly resourceUrl: string;
	readonly clients: Map<string, OAuthClient>;
	readonly stats: ProviderStats;
	/** Mutable at any time. */
	readonly settings: OAuthProviderSettings;
	/** Adds a client; id and secret are random unless given. */
	registerClient(client: Partial<OAuthClient> & Pick<OAuthClient, 'redirectUris'>): OAuthClient;
	/**
	 * The data of an n8n `oAuth2Api` credential for a client of this provider (authorization code, client
	 * auth in the header, scope `profile`); `serverUrl` empty, as n8n 2.8.4's public API asks for it.
	 */
	appCredentialData(client: Pick<OAuthClient, 'clientId' | 'clientSecret'>, overrides?: Record<string, unknown>): Record<string, unknown>;
	/** The provider's clock (Date.now() + settings.clockOffsetMs). */
	now(): number;
	/** Moves the provider's clock forward. */
	advanceClock(ms: number): void;
	/** Non-secret view of a token (e.g. one n8n stored), for assertions; undefined if unknown. */
	describeToken(token: string): TokenDescription | undefined;
	close(): Promise<void>;
}

export interface TokenDescription {
	kind: 'access' | 'refresh';
	tokenId: string;
	account: string;
	clientId: string;
	/** One per code exchange; refreshes keep it. */
	grantId: string;
	/** access: live and not expired; refresh: the grant's current refresh token, not revoked. */
	live: boolean;
}

const MAX_BODY_BYTES = 64 * 1024;
const MAX_FIELD_LENGTH = 2048;
const ACCOUNT_PATTERN = /^[A-Za-z0-9._@+-]{1,128}$/;
const VERIFIER_PATTERN = /^[A-Za-z0-9._~-]{43,128}$/;
const CHALLENGE_PATTERN = /^[A-Za-z0-9_-]{43}$/;

interface AuthorizationRequest {
	client: OAuthClient;
	redirectUri: string;
	scope: string;
	state: string | undefined;
	codeChallenge: string;
}

interface CodeRecord {
	clientId: string;
	redirectUri: string;
	scope: string;
	codeChallenge: string;
	account: string;
	expiresAt: number;
	used: boolean;
	/** The grant the code's exchange created (revoked when the code is replayed). */
	grant: Grant | undefined;
}

interface Grant {
	grantId: string;
	account: string;
	clientId: string;
	scope: string;
	revoked: boolean;
	currentRefreshToken: string;
	accessTokens: AccessTokenRecord[];
}

interface AccessTokenRecord {
	tokenId: string;
	grant: Grant;
	expiresAt: number;
	revoked: boolean;
}

interface RefreshTokenRecord {
	tokenId: string;
	grant: Grant;
}

class OAuthError extends Error {
	constructor(
		readonly status: number,
		readonly error: string,
		readonly description: string,
	) {
		super(description);
	}
}

function emptyAccountStats(): AccountStats {
	return {
		authorizations: 0,
		denials: 0,
		codeExchanges: 0,
		refreshes: 0,
		invalidGrants: 0,
		codeReplays: 0,
		refreshReuses: 0,
		revocations: 0,
		resourceCalls: 0,
		rejectedResourceCalls: 0,
		tenantHintMismatches: 0,
		lastTokenId: undefined,
	};
}

function createStats(): ProviderStats & { forAccount(name: string): AccountStats } {
	const accounts = new Map<string, AccountStats>();
	const stats = {
		accounts,
		clientAuth: { basic: 0, body: 0 },
		tokenRequests: 0,
		invalidGrants: 0,
		invalidClients: 0,
		unknownTokenCalls: 0,
		injectedFailures: 0,
		account: (name: string) => ({ ...(accounts.get(name) ?? emptyAccountStats()) }),
		forAccount(name: string): AccountStats {
			let entry = accounts.get(name);
			if (!entry) accounts.set(name, (entry = emptyAccountStats()));
			return entry;
		},
		reset() {
			accounts.clear();
			stats.clientAuth.basic = stats.clientAuth.body = 0;
			stats.tokenRequests = stats.invalidGrants = stats.invalidClients = 0;
			stats.unknownTokenCalls = stats.injectedFailures = 0;
		},
	};
	return stats;
}

export function escapeHtml(text: string): string {
	return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function randomToken(prefix: string): string {
	return `${prefix}${randomBytes(32).toString('base64url')}`;
}

export function s256(verifier: string): string {
	return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

function sameText(a: string, b: string): boolean {
	const left = createHash('sha256').update(a).digest();
	const right = createHash('sha256').update(b).digest();
	return timingSafeEqual(left, right);
}

async function readBody(request: IncomingMessage): Promise<string> {
	const chunks: Buffer[] = [];
	let size = 0;
	for await (const chunk of request) {
		size += (chunk as Buffer).length;
		if (size > MAX_BODY_BYTES) throw new OAuthError(413, 'invalid_request', 'request body too large');
		chunks.push(chunk as Buffer);
	}
	return Buffer.concat(chunks).toString('utf8');
}

/** Form (or JSON) parameters; a parameter given twice is refused (RFC 6749 3.1, 3.2). */
function parameters(source: URLSearchParams): Map<string, string> {
	const result = new Map<string, string>();
	for (const [key, value] of source) {
		if (result.has(key)) throw new OAuthError(400, 'invalid_request', `parameter ${key} given more than once`);
		if (value.length > MAX_FIELD_LENGTH) throw new OAuthError(400, 'invalid_request', `parameter ${key} too long`);
		result.set(key, value);
	}
	return result;
}

async function bodyParameters(request: IncomingMessage): Promise<Map<string, string>> {
	const text = await readBody(request);
	const type = String(request.headers['content-type'] ?? '').toLowerCase();
	if (type.startsWith('application/json')) {
		let parsed: unknown;
		try {
			parsed = JSON.parse(text || '{}');
		} catch {
			throw new OAuthError(400, 'invalid_request', 'body is not JSON');
		}
		const form = new URLSearchParams();
		if (parsed && typeof parsed === 'object') {
			for (const [key, value] of Object.entries(parsed)) if (typeof value === 'string') form.append(key, value);
		}
		return parameters(form);
	}
	return parameters(new URLSearchParams(text));
}

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
	response.writeHead(status, {
		'content-type': 'application/json; charset=utf-8',
		'cache-control': 'no-store',
		pragma: 'no-cache',
		...headers,
	});
	response.end(JSON.stringify(body));
}

function sendPage(response: ServerResponse, status: number, title: string, bodyHtml: string): void {
	response.writeHead(status, {
		'content-type': 'text/html; charset=utf-8',
		'cache-control': 'no-store',
		'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
		'x-frame-options': 'DENY',
	});
	response.end(
		`<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>` +
			`<body><h1>${escapeHtml(title)}</h1>${bodyHtml}</body></html>`,
	);
}

function redirect(response: ServerResponse, location: string): void {
	response.writeHead(302, { location, 'cache-control': 'no-store' });
	response.end();
}

export async function startOAuthProvider(options: OAuthProviderOptions = {}): Promise<OAuthProvider> {
	const settings: OAuthProviderSettings = {
		accessTokenTtlSeconds: 5,
		codeTtlSeconds: 60,
		revokeFamilyOnRefreshReuse: false,
		delayTokenMs: 0,
		failNextTokenRequests: 0,
		clockOffsetMs: 0,
		...options.settings,
	};
	const stats = createStats();
	const clients = new Map<string, OAuthClient>();
	const codes = new Map<string, CodeRecord>();
	const accessTokens = new Map<string, AccessTokenRecord>();
	// Rotated-out refresh tokens stay here (pointing at their grant) so a reuse is recognised.
	const refreshTokens = new Map<string, RefreshTokenRecord>();
	let sequence = 0;
	const nextId = (prefix: string) => `${prefix}${++sequence}`;
	const now = () => Date.now() + settings.clockOffsetMs;

	function registerClient(client: Partial<OAuthClient> & Pick<OAuthClient, 'redirectUris'>): OAuthClient {
		const registered: OAuthClient = {
			clientId: client.clientId ?? nextId('client-'),
			clientSecret: client.clientSecret ?? randomBytes(24).toString('base64url'),
			redirectUris: [...client.redirectUris],
		};
		clients.set(registered.clientId, registered);
		return registered;
	}
	for (const client of options.clients ?? []) registerClient(client);

	function forgetExpiredCodes(): void {
		const time = now();
		for (const [code, record] of codes) if (record.expiresAt <= time) codes.delete(code);
	}

	function revokeGrant(grant: Grant): void {
		grant.revoked = true;
		for (const token of grant.accessTokens) token.revoked = true;
	}

	function issueTokens(grant: Grant): Record<string, unknown> {
		const accessToken = randomToken('at_');
		const refreshToken = randomToken('rt_');
		const record: AccessTokenRecord = {
			tokenId: nextId('token-'),
			grant,
			expiresAt: now() + settings.accessTokenTtlSeconds * 1000,
			revoked: false,
		};
		accessTokens.set(accessToken, record);
		grant.accessTokens.push(record);
		refreshTokens.set(refreshToken, { tokenId: nextId('refresh-'), grant });
		grant.currentRefreshToken = refreshToken;
		return {
			access_token: accessToken,
			token_type: 'Bearer',
			expires_in: settings.accessTokenTtlSeconds,
			refresh_token: refreshToken,
			scope: grant.scope,
		};
	}

	/** The authorize request's fields, checked; a bad client or redirect URI throws (a 400 page). */
	function checkAuthorizationRequest(fields: Map<string, string>): { request?: AuthorizationRequest; redirectError?: [string, string] } {
		const client = clients.get(fields.get('client_id') ?? '');
		if (!client) throw new OAuthError(400, 'invalid_client', 'Unknown client.');
		const redirectUri = fields.get('redirect_uri') ?? '';
		if (!client.redirectUris.includes(redirectUri)) {
			throw new OAuthError(400, 'invalid_request', 'The redirect URI is not registered for this client.');
		}
		const state = fields.get('state');
		const base = { client, redirectUri, state, scope: fields.get('scope') ?? '', codeChallenge: '' };
		if (fields.get('response_type') !== 'code') {
			return { request: base, redirectError: ['unsupported_response_type', 'only response_type=code'] };
		}
		const method = fields.get('code_challenge_method');
		const challenge = fields.get('code_challenge') ?? '';
		if (method !== 'S256' || !CHALLENGE_PATTERN.test(challenge)) {
			return { request: base, redirectError: ['invalid_request', 'PKCE with code_challenge_method=S256 is required'] };
		}
		return { request: { ...base, codeChallenge: challenge } };
	}

	function redirectBack(response: ServerResponse, request: AuthorizationRequest, result: Record<string, string>): void {
		const target = new URL(request.redirectUri);
		for (const [key, value] of Object.entries(result)) target.searchParams.set(key, value);
		if (request.state !== undefined) target.searchParams.set('state', request.state);
		redirect(response, target.toString());
	}

	function consentPage(response: ServerResponse, request: AuthorizationRequest, fields: Map<string, string>): void {
		const hint = fields.get('login_hint');
		const account = hint && ACCOUNT_PATTERN.test(hint) ? hint : nextId('account-');
		const hidden = ['response_type', 'client_id', 'redirect_uri', 'scope', 'state', 'code_challenge', 'code_challenge_method']
			.filter((name) => fields.has(name))
			.map((name) => `<input type="hidden" name="${name}" value="${escapeHtml(fields.get(name)!)}">`)
			.join('');
		sendPage(
			response,
			200,
			'Authorize access',
			`<p>Client <b>${escapeHtml(request.client.clientId)}</b> asks for: <b>${escapeHtml(request.scope || '(no scope)')}</b></p>` +
				`<p>It will return to <code>${escapeHtml(request.redirectUri)}</code></p>` +
				`<form id="oauth-consent" method="post" action="/authorize/decision">${hidden}` +
				`<label>Account <input name="account" value="${escapeHtml(account)}"></label> ` +
				`<button type="submit" name="decision" value="approve">Approve</button> ` +
				`<button type="submit" name="decision" value="deny">Deny</button></form>`,
		);
	}

	function authorize(response: ServerResponse, fields: Map<string, string>, decision: string | undefined): void {
		const { request, redirectError } = checkAuthorizationRequest(fields);
		if (redirectError) return redirectBack(response, request!, { error: redirectError[0], error_description: redirectError[1] });
		if (decision === undefined) return consentPage(response, request!, fields);
		const account = fields.get('account') ?? '';
		if (!ACCOUNT_PATTERN.test(account)) throw new OAuthError(400, 'invalid_request', 'The account name is not valid.');
		if (decision === 'deny') {
			stats.forAccount(account).denials++;
			return redirectBack(response, request!, { error: 'access_denied' });
		}
		if (decision !== 'approve') throw new OAuthError(400, 'invalid_request', 'decision must be approve or deny.');
		forgetExpiredCodes();
		const code = randomToken('code_');
		codes.set(code, {
			clientId: request!.client.clientId,
			redirectUri: request!.redirectUri,
			scope: request!.scope,
			codeChallenge: request!.codeChallenge,
			account,
			expiresAt: now() + settings.codeTtlSeconds * 1000,
			used: false,
			grant: undefined,
		});
		stats.forAccount(account).authorizations++;
		redirectBack(response, request!, { code });
	}

	/** RFC 6749 2.3.1: Basic (n8n does not URL-encode the parts, RFC says to: both accepted) or body. */
	function authenticateClient(request: IncomingMessage, fields: Map<string, string>): OAuthClient {
		const header = request.headers.authorization;
		let clientId: string | undefined;
		let secret: string | undefined;
		let method: 'basic' | 'body';
		if (header && /^basic /i.test(header)) {
			const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
			const colon = decoded.indexOf(':');
			if (colon < 0) throw new OAuthError(401, 'invalid_client', 'Client authentication failed.');
			clientId = decoded.slice(0, colon);
			secret = decoded.slice(colon + 1);
			if (fields.has('client_secret')) throw new OAuthError(400, 'invalid_request', 'Use one client authentication method.');
			if (fields.has('client_id') && fields.get('client_id') !== clientId && fields.get('client_id') !== safeDecode(clientId)) {
				throw new OAuthError(401, 'invalid_client', 'Client authentication failed.');
			}
			method = 'basic';
		} else {
			clientId = fields.get('client_id');
			secret = fields.get('client_secret');
			method = 'body';
		}
		const client = clients.get(clientId ?? '') ?? clients.get(safeDecode(clientId ?? ''));
		const secretMatches =
			client !== undefined && secret !== undefined && (sameText(secret, client.clientSecret) || sameText(safeDecode(secret), client.clientSecret));
		if (!client || !secretMatches) throw new OAuthError(401, 'invalid_client', 'Client authentication failed.');
		stats.clientAuth[method]++;
		return client;
	}

	function invalidGrant(account: string | undefined, description: string): OAuthError {
		stats.invalidGrants++;
		if (account !== undefined) stats.forAccount(account).invalidGrants++;
		return new OAuthError(400, 'invalid_grant', description);
	}

	function exchangeCode(client: OAuthClient, fields: Map<string, string>): Record<string, unknown> {
		forgetExpiredCodes();
		const record = codes.get(fields.get('code') ?? '');
		if (!record) throw invalidGrant(undefined, 'The code is unknown or expired.');
		if (record.used) {
			// RFC 6749 10.5: a replayed code revokes what it was exchanged for.
			stats.forAccount(record.account).codeReplays++;
			if (record.grant) revokeGrant(record.grant);
			throw invalidGrant(record.account, 'The code was already used.');
		}
		// Any exchange attempt by its own client uses the code up, a failed one too.
		if (record.clientId !== client.clientId) throw invalidGrant(record.account, 'The code belongs to another client.');
		record.used = true;
		if (fields.get('redirect_uri') !== record.redirectUri) throw invalidGrant(record.account, 'redirect_uri differs from the authorization request.');
		const verifier = fields.get('code_verifier') ?? '';
		if (!VERIFIER_PATTERN.test(verifier) || !sameText(s256(verifier), record.codeChallenge)) {
			throw invalidGrant(record.account, 'The code_verifier does not match the code_challenge.');
		}
		const grant: Grant = {
			grantId: nextId('grant-'),
			account: record.account,
			clientId: client.clientId,
			scope: record.scope,
			revoked: false,
			currentRefreshToken: '',
			accessTokens: [],
		};
		record.grant = grant;
		stats.forAccount(record.account).codeExchanges++;
		return issueTokens(grant);
	}

	function refresh(client: OAuthClient, fields: Map<string, string>): Record<string, unknown> {
		const presented = fields.get('refresh_token') ?? '';
		const record = refreshTokens.get(presented);
		if (!record) throw invalidGrant(undefined, 'The refresh token is unknown.');
		const { grant } = record;
		if (grant.clientId !== client.clientId) throw invalidGrant(grant.account, 'The refresh token belongs to another client.');
		if (grant.revoked) throw invalidGrant(grant.account, 'The refresh token was revoked.');
		if (grant.currentRefreshToken !== presented) {
			stats.forAccount(grant.account).refreshReuses++;
			if (settings.revokeFamilyOnRefreshReuse) revokeGrant(grant);
			throw invalidGrant(grant.account, 'The refresh token was already used.');
		}
		const requested = fields.get('scope');
		if (requested !== undefined) {
			const granted = new Set(grant.scope.split(' '));
			if (!requested.split(' ').every((scope) => granted.has(scope))) throw new OAuthError(400, 'invalid_scope', 'The scope exceeds the grant.');
		}
		stats.forAccount(grant.account).refreshes++;
		return issueTokens(grant);
	}

	async function token(request: IncomingMessage, response: ServerResponse): Promise<void> {
		stats.tokenRequests++;
		const fields = await bodyParameters(request);
		let status = 200;
		let body: Record<string, unknown>;
		const headers: Record<string, string> = {};
		try {
			if (settings.failNextTokenRequests > 0) {
				settings.failNextTokenRequests--;
				stats.injectedFailures++;
				throw new OAuthError(500, 'server_error', 'Failure injected by the test.');
			}
			const client = authenticateClient(request, fields);
			const grantType = fields.get('grant_type');
			if (grantType === 'authorization_code') body = exchangeCode(client, fields);
			else if (grantType === 'refresh_token') body = refresh(client, fields);
			else throw new OAuthError(400, 'unsupported_grant_type', 'Only authorization_code and refresh_token.');
		} catch (error) {
			if (!(error instanceof OAuthError)) throw error;
			if (error.error === 'invalid_client') {
				stats.invalidClients++;
				if (request.headers.authorization) headers['www-authenticate'] = 'Basic realm="oauth"';
			}
			status = error.status;
			body = { error: error.error, error_description: error.description };
		}
		// Decided now, answered later: a concurrent request meanwhile sees the new state.
		if (settings.delayTokenMs > 0) await new Promise((done) => setTimeout(done, settings.delayTokenMs));
		sendJson(response, status, body, headers);
	}

	async function revoke(request: IncomingMessage, response: ServerResponse): Promise<void> {
		const fields = await bodyParameters(request);
		let client: OAuthClient;
		try {
			client = authenticateClient(request, fields);
		} catch (error) {
			if (error instanceof OAuthError && error.error === 'invalid_client') stats.invalidClients++;
			throw error;
		}
		const presented = fields.get('token');
		if (presented === undefined) throw new OAuthError(400, 'invalid_request', 'token is required.');
		const refreshRecord = refreshTokens.get(presented);
		const accessRecord = accessTokens.get(presented);
		const grant = refreshRecord?.grant ?? accessRecord?.grant;
		if (grant && grant.clientId !== client.clientId) throw new OAuthError(400, 'unauthorized_client', 'The token belongs to another client.');
		if (refreshRecord) {
			// RFC 7009 2.1: revoking a refresh token also ends the access tokens of its grant.
			revokeGrant(refreshRecord.grant);
			stats.forAccount(refreshRecord.grant.account).revocations++;
		} else if (accessRecord) {
			accessRecord.revoked = true;
			stats.forAccount(accessRecord.grant.account).revocations++;
		}
		sendJson(response, 200, {});
	}

	function resource(request: IncomingMessage, response: ServerResponse, query: URLSearchParams): void {
		const header = request.headers.authorization ?? '';
		const match = /^Bearer (\S+)$/i.exec(header);
		const record = match ? accessTokens.get(match[1]) : undefined;
		const unauthorized = () =>
			sendJson(response, 401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
		if (!record) {
			stats.unknownTokenCalls++;
			return unauthorized();
		}
		const { grant } = record;
		const accountStats = stats.forAccount(grant.account);
		if (record.revoked || grant.revoked || record.expiresAt <= now()) {
			accountStats.rejectedResourceCalls++;
			return unauthorized();
		}
		const tenantHint = (query.get('tenant') ?? request.headers['x-tenant-hint'])?.toString().slice(0, 256);
		accountStats.resourceCalls++;
		accountStats.lastTokenId = record.tokenId;
		if (tenantHint !== undefined && tenantHint !== grant.account) accountStats.tenantHintMismatches++;
		sendJson(response, 200, {
			account: grant.account,
			...(tenantHint !== undefined ? { tenantHint } : {}),
			tokenId: record.tokenId,
			scope: grant.scope,
			clientId: grant.clientId,
		});
	}

	async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
		const url = new URL(request.url ?? '/', 'http://127.0.0.1');
		const route = `${request.method} ${url.pathname}`;
		const isPage = url.pathname.startsWith('/authorize');
		try {
			switch (route) {
				case 'GET /authorize':
					return authorize(response, parameters(url.searchParams), undefined);
				case 'POST /authorize/decision': {
					const fields = await bodyParameters(request);
					return authorize(response, fields, fields.get('decision') ?? '');
				}
				case 'POST /token':
					return await token(request, response);
				case 'POST /revoke':
					return await revoke(request, response);
				case 'GET /api/me':
					return resource(request, response, url.searchParams);
				default:
					return sendJson(response, 404, { error: 'not_found' });
			}
		} catch (error) {
			const known = error instanceof OAuthError ? error : new OAuthError(500, 'server_error', 'Internal error.');
			if (response.headersSent) return void response.destroy();
			if (isPage) return sendPage(response, known.status, 'Authorization failed', `<p>${escapeHtml(known.description)}</p>`);
			sendJson(response, known.status, { error: known.error, error_description: known.description });
		}
	}

	const server = createServer((request, response) => void handle(request, response));
	await new Promise<void>((resolve, reject) => {
		server.once('error', reject);
		server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
	});
	const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

	return {
		url,
		authorizeUrl: `${url}/authorize`,
		tokenUrl: `${url}/token`,
		revokeUrl: `${url}/revoke`,
		resourceUrl: `${url}/api/me`,
		clients,
		stats,
		settings,
		registerClient,
		appCredentialData: (client, overrides = {}) => ({
			grantType: 'authorizationCode',
			clientId: client.clientId,
			clientSecret: client.clientSecret,
			authUrl: `${url}/authorize`,
			accessTokenUrl: `${url}/token`,
			scope: 'profile',
			authQueryParameters: '',
			authentication: 'header',
			serverUrl: '',
			...overrides,
		}),
		now,
		advanceClock(ms: number) {
			settings.clockOffsetMs += ms;
		},
		describeToken(tokenText: string): TokenDescription | undefined {
			const access = accessTokens.get(tokenText);
			if (access) {
				const { grant } = access;
				const live = !access.revoked && !grant.revoked && access.expiresAt > now();
				return { kind: 'access', tokenId: access.tokenId, account: grant.account, clientId: grant.clientId, grantId: grant.grantId, live };
			}
			const refreshRecord = refreshTokens.get(tokenText);
			if (refreshRecord) {
				const { grant } = refreshRecord;
				const live = !grant.revoked && grant.currentRefreshToken === tokenText;
				return { kind: 'refresh', tokenId: refreshRecord.tokenId, account: grant.account, clientId: grant.clientId, grantId: grant.grantId, live };
			}
			return undefined;
		},
		close: () =>
			new Promise<void>((resolve) => {
				server.close(() => resolve());
				server.closeAllConnections();
			}),
	};
}

function safeDecode(text: string): string {
	try {
		return decodeURIComponent(text);
	} catch {
		return text;
	}
}
