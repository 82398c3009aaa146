import type { IDataObject } from 'n8n-workflow';

import { secretStrings } from '../swap/credentialData';
import { knownCredentialType } from '../tenantData/knownTypes';

/**
 * The values an output must not carry: those of the fields n8n shows as passwords (its built-in types),
 * or every string of the data for a type this package does not know. Redacting every string would
 * also hit values that are not secret and that the sub-workflow's output may rightly contain (a header
 * name, a token URL, a client ID equal to the tenant ID).
 */
export function outputSecrets(type: string, data: IDataObject): Set<string> {
	const known = knownCredentialType(type);
	if (!known) return secretStrings(data);
	const secrets = new Set<string>();
	for (const field of known.secrets) secretStrings(data[field], secrets);
	return secrets;
}
