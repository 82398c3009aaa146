import type { IDataObject } from 'n8n-workflow';

import { canonicalJson } from '../swap/credentialData';
import { SwapItemError } from '../swap/errors';
import type { KnownCredentialType } from '../swap/n8nCredentialTypes';
import type { CredentialSchema } from '../transport/n8nApiClient';
import { knownCredentialType } from './knownTypes';
import { isPartialUpdate, nothingDone, quotedList, unusable, type TenantDataPolicy, type TenantDataTarget } from './target';

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
 * The fields the credential needs for this data: what n8n's schema requires (top-level `required`, and
 * the `allOf` conditions the data meets), and for n8n's built-in types also the fields the type's class
 * reads whose default is empty (see scripts/gen-credential-types.js).
 */
export function neededFields(type: string, data: IDataObject, schema: CredentialSchema): string[] {
	const known = knownCredentialType(type);
	return [...new Set([...schemaRequired(data, schema), ...(known ? typeNeeds(data, known) : [])])];
}

/** Needed fields the data leaves out: only meaningful for a full replacement, which drops every field the data does not set. */
export function missingFieldsForFullReplace(type: string, data: IDataObject, schema: CredentialSchema): string[] {
	return neededFields(type, data, schema).filter((field) => data[field] === undefined);
}

/**
 * Fields set empty that must not be: for a built-in type the ones its class reads with an empty default
 * (an optional field, such as an OAuth2 `scope`, may be empty, as n8n's own form saves it; n8n 2.8's schema
 * lists `scope` as required, but n8n only needs it present); for a type this package does not know,
 * every one (it cannot tell what the type needs beyond the schema's `required`).
 */
export function refusedEmptyFields(type: string, data: IDataObject): string[] {
	const empty = emptyFields(data);
	const known = knownCredentialType(type);
	if (!known) return empty;
	const needed = new Set(typeNeeds(data, known));
	return empty.filter((field) => needed.has(field));
}

/** The refusal for data that would leave the credential unusable: a needed field empty or (full replace) left out. */
export function neededFieldsRefusal(
	target: TenantDataTarget,
	data: IDataObject,
	schema: CredentialSchema,
	policy: TenantDataPolicy,
	itemIndexes: number[],
): SwapItemError | undefined {
	const allowed = policy.allowEmptyFields ?? [];
	if (allowed.includes('*')) return undefined;
	const empty = refusedEmptyFields(target.type, data).filter((field) => !allowed.includes(field));
	const missing = isPartialUpdate(target, policy) ? [] : missingFieldsForFullReplace(target.type, data, schema).filter((field) => !allowed.includes(field));
	if (empty.length === 0 && missing.length === 0) return undefined;
	const known = knownCredentialType(target.type) !== undefined;
	const replaced = missing.length > 0 && target.baseCredentialName !== undefined ? ' (without Partial Update every field the data does not set is emptied)' : '';
	const problems = [
		empty.length > 0 ? `sets ${quotedList(empty)} to an empty value` : undefined,
		missing.length > 0 ? `leaves out ${quotedList(missing)}` : undefined,
	].filter(Boolean);
	const needs = known || empty.length === 0 ? `, which a "${target.type}" credential needs${replaced}` : replaced;
	return new SwapItemError(`Credential data ${problems.join(' and ')}${needs}: ${unusable(target)}`, itemIndexes, {
		parameter: 'credentialData',
		description: `${nothingDone(target)} Map the tenant's value for each of these fields in Credential Data (an empty value usually means the webhook did not send it). If a field really must be empty, list it under Options > Fields Allowed Empty.`,
	});
}
