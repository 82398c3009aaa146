import type { IDataObject } from 'n8n-workflow';

import { schemaProblems, secretStrings } from '../swap/credentialData';
import { allowedFieldsRefusal, emptyFields, knownCredentialType, missingFieldsForFullReplace } from '../swap/dataChecks';
import { SwapItemError } from '../swap/errors';
import type { N8nApiClient } from '../transport/n8nApiClient';

export interface TenantDataRules {
	/** Fields the incoming data may set; empty = any field of the type. */
	allowedFields: string[];
	/** Fields the data may leave out or set empty; ['*'] for any. */
	allowEmptyFields: string[];
}

const list = (fields: string[]) => fields.map((field) => `"${field}"`).join(', ');

/**
 * The swap's checks, for a credential made from the data alone: only allowed fields, fields and value
 * types of the credential type, nothing needed left out or empty. Names fields, never values.
 */
export async function checkTenantData(api: N8nApiClient, type: string, data: IDataObject, rules: TenantDataRules, itemIndexes: number[]): Promise<void> {
	const outside = allowedFieldsRefusal(data, rules.allowedFields, itemIndexes);
	if (outside) throw outside;
	const schema = await api.getSchema(type);
	const problems = schemaProblems(data, schema);
	if (problems.length > 0) {
		throw new SwapItemError(`Credential data does not fit type "${type}": ${problems.join('; ')}`, itemIndexes, {
			parameter: 'credentialData',
			description: `Send only the fields of a "${type}" credential, with the value types n8n expects.`,
		});
	}
	const allowed = rules.allowEmptyFields;
	if (allowed.includes('*')) return;
	const empty = emptyFields(data).filter((field) => !allowed.includes(field));
	const missing = missingFieldsForFullReplace(type, data, schema).filter((field) => !allowed.includes(field));
	if (empty.length === 0 && missing.length === 0) return;
	const problemsText = [
		empty.length > 0 ? `sets ${list(empty)} to an empty value` : undefined,
		missing.length > 0 ? `leaves out ${list(missing)}, which a "${type}" credential needs` : undefined,
	].filter(Boolean);
	throw new SwapItemError(`Credential data ${problemsText.join(' and ')}: the tenant's credential would not work`, itemIndexes, {
		parameter: 'credentialData',
		description:
			"Nothing was created. Map the tenant's value for each of these fields in Credential Data (an empty value usually means the webhook did not send it). If a field really must be empty, list it under Options > Fields Allowed Empty.",
	});
}

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
