import type { IDataObject, IHttpRequestOptions } from 'n8n-workflow';

import type { OAuthApp } from './oauthApp';

/** n8n's HTTP helper (`this.helpers.httpRequest`): the user's proxy and TLS settings apply. */
export type HttpRequester = (options: IHttpRequestOptions) => Promise<unknown>;

export const TOKEN_REQUEST_TIMEOUT_MS = 15_000;
/** A token answer larger than this is no token answer. */
const MAX_TOKEN_ANSWER_CHARS = 64 * 1024;
const MAX_TOKEN_CHARS = 8 * 1024;

/**
 * What n8n stores after its own OAuth2 callback (n8n 2.40.7's oauth2-credential controller): the
 * provider's token answer as it came, plus `n8n_expires_at` (ms since epoch, a string) when it says
 * expires_in. n8n's refresh reads and rewrites this shape.
 */
export type OAuthTokenData = IDataObject & {
	access_token: string;
	refresh_token?: string;
	expires_in?: number;
	token_type?: string;
	n8n_expires_at?: string;
};

export type TokenRefusal =
	/** The provider refused the code (an OAuth2 error code such as invalid_grant). */
	| { ok: false; reason: 'providerRefused'; providerError: string }
	/** The provider answered, but not with a usable token. */
	| { ok: false; reason: 'invalidAnswer'; problem: string }
	/** No answer (network, timeout, a server error). */
	| { ok: false; reason: 'unreachable'; problem: string };

export type TokenExchangeResult = { ok: true; tokenData: OAuthTokenData } | TokenRefusal;

export interface CodeExchange {
	code: string;
	codeVerifier: string;
	redirectUri: string;
}

/**
 * Trades the code for the tenant's tokens at the app's token URL (RFC 6749 4.1.3, RFC 7636 4.5), the
 * client authenticating as the app says (Basic header, as n8n's OAuth2 client sends it, or the body).
 * Never throws with or returns a secret: refusals carry the provider's error code only.
 */
export async function exchangeCode(http: HttpRequester, app: OAuthApp, exchange: CodeExchange, now = Date.now): Promise<TokenExchangeResult> {
	const body = new URLSearchParams({
		grant_type: 'authorization_code',
		code: exchange.code,
		redirect_uri: exchange.redirectUri,
		code_verifier: exchange.codeVerifier,
		client_id: app.clientId,
	});
	const headers: Record<string, string> = {
		'Content-Type': 'application/x-www-form-urlencoded',
		Accept: 'application/json',
	};
	if (app.authentication === 'body') {
		if (app.clientSecret !== '') body.set('client_secret', app.clientSecret);
	} else {
		headers.Authorization = `Basic ${Buffer.from(`${app.clientId}:${app.clientSecret}`).toString('base64')}`;
	}
	let response: { statusCode?: number; body?: unknown; headers?: Record<string, unknown> };
	try {
		response = (await http({
			method: 'POST',
			url: app.accessTokenUrl,
			body: body.toString(),
			headers,
			json: false,
			returnFullResponse: true,
			ignoreHttpStatusErrors: true,
			timeout: TOKEN_REQUEST_TIMEOUT_MS,
		})) as typeof response;
	} catch (error) {
		return { ok: false, reason: 'unreachable', problem: networkProblem(error) };
	}
	const status = Number(response?.statusCode ?? 0);
	const answer = parseAnswer(response?.body);
	if (status >= 500 || status === 0) return { ok: false, reason: 'unreachable', problem: `the token URL answered HTTP ${status}` };
	if (status < 200 || status >= 300 || (answer && typeof answer.error === 'string')) {
		return { ok: false, reason: 'providerRefused', providerError: providerErrorCode(answer?.error, status) };
	}
	if (!answer) return { ok: false, reason: 'invalidAnswer', problem: 'the token answer is not a JSON object' };
	return validateTokenAnswer(answer, now());
}

/**
 * The token answer checked and turned into n8n's oauthTokenData: access_token a non-empty string,
 * refresh_token a string if present, expires_in a number if present, no string anywhere that n8n would
 * evaluate as an expression (a leading `=`).
 */
export function validateTokenAnswer(answer: IDataObject, nowMs: number): TokenExchangeResult {
	const invalid = (problem: string): TokenRefusal => ({ ok: false, reason: 'invalidAnswer', problem });
	if (!isToken(answer.access_token)) return invalid('access_token is missing or not a token');
	if (answer.refresh_token !== undefined && !isToken(answer.refresh_token)) return invalid('refresh_token is not a token');
	let expiresIn: number | undefined;
	if (answer.expires_in !== undefined && answer.expires_in !== null) {
		expiresIn = typeof answer.expires_in === 'string' && /^\d{1,10}$/.test(answer.expires_in) ? Number(answer.expires_in) : (answer.expires_in as number);
		if (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn) || expiresIn < 0) return invalid('expires_in is not a number of seconds');
	}
	if (answer.token_type !== undefined && typeof answer.token_type !== 'string') return invalid('token_type is not a string');
	const expression = expressionPath(answer, 'answer');
	if (expression) return invalid(`${expression} starts with "=" (n8n would evaluate it as an expression)`);
	const tokenData: OAuthTokenData = { ...answer, access_token: answer.access_token as string };
	if (expiresIn !== undefined) {
		tokenData.expires_in = expiresIn;
		if (expiresIn > 0) tokenData.n8n_expires_at = String(nowMs + expiresIn * 1000);
	}
	return { ok: true, tokenData };
}

/** Where in a value a string starts with `=` (n8n evaluates such credential values), if anywhere. Names keys, never values. */
export function expressionPath(value: unknown, path: string, depth = 0): string | undefined {
	if (typeof value === 'string') return value.startsWith('=') ? path : undefined;
	if (depth > 8) return path;
	if (Array.isArray(value)) {
		for (const [index, entry] of value.entries()) {
			const found = expressionPath(entry, `${path}[${index}]`, depth + 1);
			if (found) return found;
		}
		return undefined;
	}
	if (value && typeof value === 'object') {
		for (const [key, entry] of Object.entries(value)) {
			const found = expressionPath(entry, `${path}.${safeKey(key)}`, depth + 1);
			if (found) return found;
		}
	}
	return undefined;
}

function isToken(value: unknown): value is string {
	return typeof value === 'string' && value.length > 0 && value.length <= MAX_TOKEN_CHARS && !/\p{Cc}/u.test(value);
}

function parseAnswer(body: unknown): IDataObject | undefined {
	let value: unknown = body;
	if (Buffer.isBuffer(value)) value = value.toString('utf8');
	if (typeof value === 'string') {
		const text = value;
		if (text.length > MAX_TOKEN_ANSWER_CHARS) return undefined;
		try {
			value = JSON.parse(text);
		} catch {
			// Some providers answer form-encoded whatever Accept says.
			if (!/^[\w.~%+-]+=/.test(text)) return undefined;
			value = Object.fromEntries(new URLSearchParams(text));
		}
	}
	if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
	if (JSON.stringify(value).length > MAX_TOKEN_ANSWER_CHARS) return undefined;
	return value as IDataObject;
}

/** The provider's OAuth2 error code (RFC 6749 5.2: printable ASCII), or the HTTP status when it gave none. */
function providerErrorCode(error: unknown, status: number): string {
	if (typeof error === 'string' && /^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}$/.test(error)) return error;
	return `HTTP ${status}`;
}

function safeKey(key: string): string {
	return key.slice(0, 40).replace(/[^A-Za-z0-9_-]/g, '_');
}

/** The network failure in words, without the request (whose body holds the code and the client secret). */
function networkProblem(error: unknown): string {
	const code = (error as { code?: unknown; cause?: { code?: unknown } })?.code ?? (error as { cause?: { code?: unknown } })?.cause?.code;
	if (typeof code === 'string' && /^[A-Z_]{2,40}$/.test(code)) return `the token URL could not be reached (${code})`;
	return 'the token URL could not be reached';
}
