/** The browser key cookie: made, read from hostile Cookie headers, compared in constant time. */
import * as crypto from 'node:crypto';

// The real comparison, observed: matchesBrowserKey must go through it.
jest.mock('node:crypto', () => {
	const actual = jest.requireActual<typeof import('node:crypto')>('node:crypto');
	return { ...actual, timingSafeEqual: jest.fn(actual.timingSafeEqual) };
});

import { BROWSER_KEY_COOKIE, browserKeyFromCookieHeader, browserKeyHash, matchesBrowserKey, MAX_COOKIE_HEADER_LENGTH, newBrowserKey } from '../../nodes/shared/tenantOAuth/browserKey';

const key = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
const other = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

describe('newBrowserKey', () => {
	it('makes a random 43-character key and its SHA-256 hex', () => {
		const made = newBrowserKey();
		expect(made.key).toMatch(/^[A-Za-z0-9_-]{43}$/);
		expect(made.hash).toBe(crypto.createHash('sha256').update(made.key).digest('hex'));
		expect(newBrowserKey().key).not.toBe(made.key);
		expect(BROWSER_KEY_COOKIE).toBe('n8n_tenant_connect');
	});
});

describe('browserKeyFromCookieHeader', () => {
	it.each([
		['alone', `n8n_tenant_connect=${key}`],
		['among others', `a=1; n8n_tenant_connect=${key}; b=2`],
		['with spaces around', `  a=1 ;  n8n_tenant_connect = ${key} ; `],
		['quoted', `n8n_tenant_connect="${key}"`],
		['after malformed pairs', `garbage; =; ==; ;;; n8n_tenant_connect; x=${'"'.repeat(3)}; n8n_tenant_connect=${key}`],
		['after a malformed value of ours', `n8n_tenant_connect=<script>; n8n_tenant_connect=${key}`],
		['twice with the same value', `n8n_tenant_connect=${key}; n8n_tenant_connect=${key}`],
		['as header lines', [`a=1`, `n8n_tenant_connect=${key}`]],
	])('finds the key %s', (_case, header) => {
		expect(browserKeyFromCookieHeader(header)).toBe(key);
	});

	it.each([
		['no header', undefined],
		['not a string', 42],
		['an object', { n8n_tenant_connect: key }],
		['lines that are not strings', [`n8n_tenant_connect=${key}`, 7]],
		['empty', ''],
		['other cookies only', 'a=1; b=2'],
		['a longer name', `xn8n_tenant_connect=${key}; n8n_tenant_connect_x=${key}`],
		['another case', `N8N_TENANT_CONNECT=${key}`],
		['a value too long', `n8n_tenant_connect=${key}A`],
		['a value too short', `n8n_tenant_connect=${key.slice(1)}`],
		['a value with other characters', `n8n_tenant_connect=${key.slice(1)}%`],
		['a value with a control character', `n8n_tenant_connect=${key.slice(1)}\u0000`],
		['half quoted', `n8n_tenant_connect="${key}`],
		['two different keys (one may be planted)', `n8n_tenant_connect=${key}; n8n_tenant_connect=${other}`],
		['a header over the length limit', `${'a=1; '.repeat(MAX_COOKIE_HEADER_LENGTH / 5)}n8n_tenant_connect=${key}`],
		['lines over the length limit together', ['a'.repeat(MAX_COOKIE_HEADER_LENGTH), `n8n_tenant_connect=${key}`]],
	])('finds nothing in %s', (_case, header) => {
		expect(browserKeyFromCookieHeader(header)).toBeUndefined();
	});

	it('reads a header of exactly the limit, and a huge hostile one quickly without throwing', () => {
		const pair = `n8n_tenant_connect=${key}`;
		const atLimit = `${'x'.repeat(MAX_COOKIE_HEADER_LENGTH - pair.length - 2)}; ${pair}`;
		expect(atLimit).toHaveLength(MAX_COOKIE_HEADER_LENGTH);
		expect(browserKeyFromCookieHeader(atLimit)).toBe(key);
		expect(browserKeyFromCookieHeader(`${';='.repeat(5_000_000)}${pair}`)).toBeUndefined();
	});
});

describe('matchesBrowserKey', () => {
	const hash = browserKeyHash(key);

	it('matches the key its hash was made from, and nothing else', () => {
		expect(matchesBrowserKey(key, hash)).toBe(true);
		expect(matchesBrowserKey(other, hash)).toBe(false);
		// One character off, at the start and at the end.
		expect(matchesBrowserKey(`A${key.slice(1)}`, hash)).toBe(false);
		expect(matchesBrowserKey(`${key.slice(0, -1)}l`, hash)).toBe(false);
		expect(matchesBrowserKey(undefined, hash)).toBe(false);
		expect(matchesBrowserKey('', hash)).toBe(false);
		expect(matchesBrowserKey(`${key} `, hash)).toBe(false);
	});

	it('never matches a malformed hash (nor the key itself as its hash)', () => {
		expect(matchesBrowserKey(key, '')).toBe(false);
		expect(matchesBrowserKey(key, hash.slice(1))).toBe(false);
		expect(matchesBrowserKey(key, `${hash}00`)).toBe(false);
		expect(matchesBrowserKey(key, `${hash.slice(1)}g`)).toBe(false);
		expect(matchesBrowserKey(key, key)).toBe(false);
		expect(matchesBrowserKey(key, undefined as unknown as string)).toBe(false);
	});

	it('compares with crypto.timingSafeEqual, for a match and a mismatch alike', () => {
		const compare = crypto.timingSafeEqual as jest.Mock;
		compare.mockClear();
		expect(matchesBrowserKey(key, hash)).toBe(true);
		expect(matchesBrowserKey(other, hash)).toBe(false);
		expect(compare).toHaveBeenCalledTimes(2);
	});
});
