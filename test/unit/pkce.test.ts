/** PKCE S256 (RFC 7636) and the tokens the connect flow makes. */
import { newPkcePair, pkceChallengeOf } from '../../nodes/shared/tenantOAuth/pkce';
import { isWellFormedToken, newToken, tokenHash } from '../../nodes/shared/tenantOAuth/tokens';

describe('PKCE S256', () => {
	it('computes the challenge of RFC 7636 appendix B', () => {
		expect(pkceChallengeOf('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
	});

	it('makes 43-character verifiers of unreserved characters, each new, whose challenge is their S256', () => {
		const pairs = Array.from({ length: 50 }, () => newPkcePair());
		for (const { verifier, challenge } of pairs) {
			expect(verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
			expect(challenge).toBe(pkceChallengeOf(verifier));
			expect(challenge).not.toBe(verifier);
		}
		expect(new Set(pairs.map((pair) => pair.verifier)).size).toBe(pairs.length);
	});
});

describe('tokens', () => {
	it('are 256 random bits in base64url, each new', () => {
		const tokens = Array.from({ length: 50 }, () => newToken());
		for (const token of tokens) {
			expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
			expect(Buffer.from(token, 'base64url')).toHaveLength(32);
		}
		expect(new Set(tokens).size).toBe(tokens.length);
	});

	it('are stored as SHA-256 hex', () => {
		// SHA-256("abc"), FIPS 180-2 appendix B.1.
		expect(tokenHash('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
	});

	it('recognises only their own shape', () => {
		expect(isWellFormedToken(newToken())).toBe(true);
		for (const bad of [undefined, null, 42, {}, ['x'], '', 'short', `${newToken()}x`, `${newToken().slice(1)}=`, `${newToken().slice(1)}.`, `${newToken().slice(1)}\n`, 'a'.repeat(10_000)]) {
			expect(isWellFormedToken(bad)).toBe(false);
		}
	});
});
