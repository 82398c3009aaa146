import type { IDataObject } from 'n8n-workflow';

import type { CredentialSchema } from '../transport/n8nApiClient';
import { canonicalJson } from './credentialData';
import { SwapItemError } from './errors';
import { KNOWN_CREDENTIAL_TYPES, N8N_CREDENTIAL_TYPES_VERSION, type KnownCredentialType } from './n8nCredentialTypes';

/*
 * Checks of the tenant's data that n8n itself does not make, so that a swap never leaves the base
 * credential unusable or holding the previous tenant's token. Pure functions: no API, no lock.
 */

/** A built-in credential type of n8n (n8n-nodes-base), as the generated table knows it. */
export function knownCredentialType(type: string): KnownCredentialType | undefined {
	return Object.prototype.hasOwnProperty.call(KNOWN_CREDENTIAL_TYPES, type) ? KNOWN_CREDENTIAL_TYPES[type] : undefined;
}

/** Fields only OAuth types have; n8n adds `oauthTokenData` to the schema of oAuth1Api, oAuth2Api and every type that extends them. */
const OAUTH_FIELDS = ['oauthTokenData', 'accessTokenUrl', 'requestTokenUrl', 'grantType'];

/**
 * Why a partial update of this type could leave the previous tenant's token or session in place, or
 * undefined when the type is known not to keep one. Partial Update keeps every field the data does not
 * set, including the ones n8n's schema endpoint does not show (hidden fields, the OAuth token), so it is
 * allowed only for a built-in type known to store nothing n8n fetched: no OAuth in its schema or its
 * ancestry, no expirable (session) field, no preAuthentication, no hidden field. Any other type, and
 * every type this package does not know (community types: their hidden fields cannot be seen), is refused.
 */
export function partialUpdateRisk(type: string, schema: CredentialSchema): string | undefined {
	const properties = schema.properties ?? {};
	const known = knownCredentialType(type);
	const oauthField = OAUTH_FIELDS.find((field) => field in properties);
	if (oauthField || /oauth/i.test(type) || known?.keepsToken === 'oAuth1' || known?.keepsToken === 'oAuth2') {
		return "It is an OAuth credential: on a partial update n8n keeps the stored OAuth token, so the next nodes would use the previous tenant's token.";
	}
	if (known?.keepsToken === 'session') {
		return "n8n stores a session token it fetched for this type in a hidden field; a partial update keeps it, so the next nodes would use the previous tenant's session.";
	}
	if (known?.keepsToken === 'hidden') {
		return "This type has fields n8n hides from its API; a partial update keeps them, and they may hold something of the previous tenant.";
	}
	if (!known) {
		return `This package cannot tell whether n8n keeps a fetched token for type "${type}": it is not one of n8n's built-in types (as of n8n ${N8N_CREDENTIAL_TYPES_VERSION}), and n8n's schema does not show hidden fields.`;
	}
	return undefined;
}

/** Values that leave a field empty: "", text of spaces only, null. */
function isEmptyValue(value: unknown): boolean {
	return value === null || (typeof value === 'string' && value.trim() === '');
}

/** Fields of the data that are set to an empty value. */
export function emptyFields(data: IDataObject): string[] {
	return Object.entries(data)
		.filter(([, value]) => isEmptyValue(value))
		.map(([field]) => field);
}

interface ConditionalSchema {
	if?: { properties?: Record<string, Record<string, unknown>>; required?: string[] };
	then?: unknown;
	else?: unknown;
}

/** Whether `value` satisfies one `if.properties` entry of n8n's conditional schema (enum / const / not). */
function matchesCondition(value: unknown, condition: Record<string, unknown>): boolean {
	const listed = (list: unknown) => (Array.isArray(list) ? list : [list]).some((item) => canonicalJson(item) === canonicalJson(value));
	if ('enum' in condition && !listed(condition.enum)) return false;
	if ('const' in condition && !listed(condition.const)) return false;
	if (condition.not && typeof condition.not === 'object' && matchesCondition(value, condition.not as Record<string, unknown>)) return false;
	return true;
}

/** Every name in `required` lists of a schema part (through nested allOf / anyOf / oneOf). */
function requiredIn(part: unknown, out: string[] = []): string[] {
	if (!part || typeof part !== 'object') return out;
	const node = part as { required?: unknown; allOf?: unknown };
	if (Array.isArray(node.required)) out.push(...node.required.filter((name): name is string => typeof name === 'string'));
	if (Array.isArray(node.allOf)) for (const inner of node.allOf) requiredIn(inner, out);
	return out;
}

/** Fields n8n's schema requires for this data: the top-level list and each `allOf` condition the data meets. */
function schemaRequired(data: IDataObject, schema: CredentialSchema): string[] {
	const required = [...(schema.required ?? [])];
	for (const entry of (schema.allOf ?? []) as ConditionalSchema[]) {
		const condition = entry?.if;
		if (!condition) continue;
		const present = (condition.required ?? []).every((field) => data[field] !== undefined);
		const holds = present && Object.entries(condition.properties ?? {}).every(([field, rule]) => data[field] === undefined || matchesCondition(data[field], rule));
		requiredIn(holds ? entry.then : entry.else, required);
	}
	return required;
}

/** Fields the built-in type reads (class `required`, authenticate/test, generic HTTP auth) that n8n's default leaves empty. */
function typeNeeds(data: IDataObject, known: KnownCredentialType): string[] {
	const valueOf = (field: string) => (data[field] !== undefined ? data[field] : known.defaults?.[field]);
	return (known.needs ?? [])
		.filter((need) => typeof need === 'string' || Object.entries(need[1]).every(([field, values]) => values.some((value) => canonicalJson(value) === canonicalJson(valueOf(field)))))
		.map((need) => (typeof need === 'string' ? need : need[0]));
}

/**
 * Fields a full replacement must set and this data leaves out: what n8n's schema requires for the data
 * (top-level `required`, and the `allOf` conditions it meets), and for n8n's built-in types also the
 * fields the type's class reads whose default is empty (see scripts/gen-credential-types.js). Only
 * meaningful without Partial Update: a full replacement drops every field the data does not set.
 */
export function missingFieldsForFullReplace(type: string, data: IDataObject, schema: CredentialSchema): string[] {
	const known = knownCredentialType(type);
	const needed = [...schemaRequired(data, schema), ...(known ? typeNeeds(data, known) : [])];
	return [...new Set(needed)].filter((field) => data[field] === undefined);
}

export interface DataCheckOptions {
	partialUpdate: boolean;
	/** Fields that may be left out or set empty; ['*'] for any. */
	allowEmptyFields?: string[];
}

const list = (fields: string[]) => fields.map((field) => `"${field}"`).join(', ');

/**
 * The refusal for data that would leave the base credential unusable or holding the previous tenant's
 * token, or undefined when the data may be written. Names fields, never values.
 */
export function unsafeDataRefusal(
	base: { name: string; type: string },
	data: IDataObject,
	schema: CredentialSchema,
	options: DataCheckOptions,
	itemIndexes: number[],
): SwapItemError | undefined {
	if (options.partialUpdate) {
		const risk = partialUpdateRisk(base.type, schema);
		if (risk) {
			return new SwapItemError(`"Partial Update" cannot be used with base credential "${base.name}" (type "${base.type}")`, itemIndexes, {
				parameter: 'options.partialUpdate',
				description: `${risk} Turn "Partial Update" off and send all of the credential's fields: a full update replaces everything, and n8n fetches a new token or session for the new tenant.`,
			});
		}
	}
	const allowed = options.allowEmptyFields ?? [];
	if (allowed.includes('*')) return undefined;
	const empty = emptyFields(data).filter((field) => !allowed.includes(field));
	const missing = options.partialUpdate ? [] : missingFieldsForFullReplace(base.type, data, schema).filter((field) => !allowed.includes(field));
	if (empty.length === 0 && missing.length === 0) return undefined;
	const problems = [
		empty.length > 0 ? `sets ${list(empty)} to an empty value` : undefined,
		missing.length > 0 ? `leaves out ${list(missing)}, which a "${base.type}" credential needs (without Partial Update every field the data does not set is emptied)` : undefined,
	].filter(Boolean);
	return new SwapItemError(`Credential data ${problems.join(' and ')}: the base credential "${base.name}" would be left unusable`, itemIndexes, {
		parameter: 'credentialData',
		description:
			"Nothing was changed. Map the tenant's value for each of these fields in Credential Data (an empty value usually means the webhook did not send it). If a field really must be empty, list it under Options > Fields Allowed Empty.",
	});
}

export interface FingerprintOptions {
	partialUpdate: boolean;
	validateWithTemporaryCredential: boolean;
	testCredential: boolean;
	allowedFields: string[];
	expectedCredentialType?: string;
}

/**
 * What the keyed hash of the last write covers: the data and every option that decides what is written
 * or how it is checked. A swap that asks for more checking than the one that wrote the data (Test
 * Credential on after a swap without it) is therefore not skipped as unchanged.
 */
export function swapFingerprint(type: string, data: IDataObject, options: FingerprintOptions): string {
	return canonicalJson({
		type,
		update: options.partialUpdate ? 'partial' : 'full',
		validateWithTemporaryCredential: options.validateWithTemporaryCredential || options.testCredential,
		testCredential: options.testCredential,
		allowedFields: [...options.allowedFields].sort(),
		expectedCredentialType: options.expectedCredentialType ?? null,
		data,
	});
}

/**
 * The failure of the write that remembers a swap (for Skip Unchanged Data) after n8n applied the update:
 * says that the base credential did change.
 */
export function stateWriteFailure(error: unknown, itemIndexes: number[]): SwapItemError {
	const reason = error instanceof Error ? error.message : String(error);
	return new SwapItemError(`The base credential was updated, but the lock store failed afterwards: ${reason}`, itemIndexes, {
		description:
			"The base credential now holds this tenant's data; only the record used by Skip Unchanged Data could not be written (the next swap writes the data again instead of skipping). Check the lock database.",
		cause: error,
	});
}

/** The refusal for data that sets a field outside Allowed Fields (empty list: any field of the type). */
export function allowedFieldsRefusal(data: IDataObject, allowedFields: string[], itemIndexes: number[]): SwapItemError | undefined {
	const outside = allowedFields.length > 0 ? Object.keys(data).filter((field) => !allowedFields.includes(field)) : [];
	if (outside.length === 0) return undefined;
	return new SwapItemError(`Credential data sets ${list(outside)}, outside the allowed fields (${allowedFields.join(', ')})`, itemIndexes, {
		parameter: 'credentialData',
		description:
			'The data comes from outside (e.g. a webhook): only the fields listed in "Allowed Fields" may be set. Add the field there if the tenant really must set it.',
	});
}
