import { createHash, randomBytes } from 'node:crypto';

/** 256 random bits in base64url without padding: always 43 characters. */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** A new secret token (link token, state, browser key): 256 random bits, base64url. */
export function newToken(): string {
	return randomBytes(32).toString('base64url');
}

/** Whether `value` has the exact shape newToken makes; anything else (too long, odd characters) is no token of ours. */
export function isWellFormedToken(value: unknown): value is string {
	return typeof value === 'string' && TOKEN_PATTERN.test(value);
}

/** What the stores keep of a token: its SHA-256 (hex). Tokens themselves are never stored. */
export function tokenHash(token: string): string {
	return createHash('sha256').update(token, 'utf8').digest('hex');
}
