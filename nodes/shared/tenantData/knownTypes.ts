import { KNOWN_CREDENTIAL_TYPES, type KnownCredentialType } from '../swap/n8nCredentialTypes';

/** A built-in credential type of n8n (n8n-nodes-base), as the generated table knows it. */
export function knownCredentialType(type: string): KnownCredentialType | undefined {
	return Object.prototype.hasOwnProperty.call(KNOWN_CREDENTIAL_TYPES, type) ? KNOWN_CREDENTIAL_TYPES[type] : undefined;
}

/**
 * The domain restriction n8n 2.x adds to most types (credential-domain-restrictions): which hosts the
 * credential may be sent to. A connection field of every type, whether or not the table lists it.
 */
export const DOMAIN_RESTRICTION_FIELDS: readonly string[] = ['allowedHttpRequestDomains', 'allowedDomains'];

/** Fields of a built-in type that say where n8n connects or sends the credential (see scripts/gen-credential-types.js). */
export function connectionFieldsOf(known: KnownCredentialType): Set<string> {
	return new Set([...known.connects, ...DOMAIN_RESTRICTION_FIELDS]);
}
