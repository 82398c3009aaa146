import { createHash } from 'node:crypto';

import { newToken } from './tokens';

/**
 * RFC 7636 PKCE with S256: the verifier is 32 random bytes in base64url (43 characters, the RFC's
 * recommendation), the challenge base64url(SHA-256(verifier)).
 */
export function newPkcePair(): { verifier: string; challenge: string } {
	const verifier = newToken();
	return { verifier, challenge: pkceChallengeOf(verifier) };
}

/** The S256 code challenge of a verifier (RFC 7636 section 4.2): the verifier's ASCII bytes hashed. */
export function pkceChallengeOf(verifier: string): string {
	return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}
