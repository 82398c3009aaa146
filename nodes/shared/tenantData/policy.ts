import type { IDataObject } from 'n8n-workflow';

import { schemaFields, schemaProblems } from '../swap/credentialData';
import { SwapItemError } from '../swap/errors';
import type { CredentialSchema } from '../transport/n8nApiClient';
import { expressionRefusal } from './expressions';
import { fieldAccessRefusal } from './fieldAccess';
import { knownCredentialType } from './knownTypes';
import { neededFieldsRefusal } from './neededFields';
import { oauthTokenRefusal, setsOAuthTokens } from './oauthTokens';
import { partialUpdateRefusal } from './partialUpdate';
import { isPartialUpdate, nothingDone, type TenantDataPolicy, type TenantDataTarget } from './target';

/*
 * What a tenant (a webhook caller) may put into an n8n credential: the one check both nodes make before
 * anything is locked or created (and so before a temporary credential). Refusals name fields, never values.
 */

export type { TenantDataPolicy, TenantDataTarget } from './target';

/** Where the credential type's schema comes from (N8nApiClient: GET /credentials/schema/:type). */
export interface CredentialSchemaSource {
	getSchema(type: string): Promise<CredentialSchema>;
}

/** The checks that need no schema: expressions, OAuth2 tokens (of built-in types), then which fields the caller may set. */
export function refusalBeforeSchema(target: TenantDataTarget, data: IDataObject, policy: TenantDataPolicy, itemIndexes: number[]): SwapItemError | undefined {
	return expressionRefusal(target, data, itemIndexes) ?? oauthTokenRefusal(target, data, undefined, itemIndexes) ?? fieldAccessRefusal(target, data, policy, itemIndexes);
}

function doesNotFit(target: TenantDataTarget, problems: string[], itemIndexes: number[]): SwapItemError {
	return new SwapItemError(`Credential data does not fit type "${target.type}": ${problems.join('; ')}`, itemIndexes, {
		parameter: 'credentialData',
		description: `Send only the fields of a "${target.type}" credential, with the value types n8n expects. ${nothingDone(target)}`,
	});
}

/** The schema's refusal of fields the type does not have (value types are checked later, with the rest). */
export function unknownFieldsRefusal(target: TenantDataTarget, data: IDataObject, schema: CredentialSchema, itemIndexes: number[]): SwapItemError | undefined {
	const fields = schemaFields(schema);
	const unknown = Object.keys(data).filter((field) => !(field in fields));
	if (unknown.length === 0) return undefined;
	const only = Object.fromEntries(unknown.map((field) => [field, data[field]])) as IDataObject;
	return doesNotFit(target, schemaProblems(only, schema), itemIndexes);
}

/** The checks against n8n's schema of the type: fields and value types, Partial Update, needed fields. */
export function refusalWithSchema(
	target: TenantDataTarget,
	data: IDataObject,
	schema: CredentialSchema,
	policy: TenantDataPolicy,
	itemIndexes: number[],
): SwapItemError | undefined {
	const problems = schemaProblems(data, schema);
	if (problems.length > 0) return doesNotFit(target, problems, itemIndexes);
	return (
		(isPartialUpdate(target, policy) ? partialUpdateRefusal(target, schema, itemIndexes) : undefined) ??
		neededFieldsRefusal(target, data, schema, policy, itemIndexes)
	);
}

/**
 * Throws the SwapItemError (parameter and items named, never a value) for tenant data that must not go
 * into a credential of `target.type`; reads the type's schema only when the data passed the checks that
 * need none. Returns the schema it read.
 */
export async function checkTenantData(
	schemas: CredentialSchemaSource,
	target: TenantDataTarget,
	data: IDataObject,
	policy: TenantDataPolicy,
	itemIndexes: number[],
): Promise<CredentialSchema> {
	const expression = expressionRefusal(target, data, itemIndexes);
	if (expression) throw expression;
	// Before the fields: "add it to Allowed Fields" would only lead here. A type this package does not
	// know needs its schema to tell OAuth2 from OAuth1 (cached per type; unreadable: the later checks decide).
	const oauthSchema = setsOAuthTokens(data) && !knownCredentialType(target.type) ? await schemas.getSchema(target.type).catch(() => undefined) : undefined;
	const tokens = oauthTokenRefusal(target, data, oauthSchema, itemIndexes);
	if (tokens) throw tokens;
	const access = fieldAccessRefusal(target, data, policy, itemIndexes);
	if (access) {
		// A field the type does not have is refused as unknown first: "add it to Allowed Fields" would
		// only lead to "unknown field" next. The schema is cached per type, so this costs one read at most.
		const schema = await schemas.getSchema(target.type).catch(() => undefined);
		throw (schema && unknownFieldsRefusal(target, data, schema, itemIndexes)) || access;
	}
	const schema = await schemas.getSchema(target.type);
	const refusal = refusalWithSchema(target, data, schema, policy, itemIndexes);
	if (refusal) throw refusal;
	return schema;
}
