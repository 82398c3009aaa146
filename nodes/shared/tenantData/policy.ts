import type { IDataObject } from 'n8n-workflow';

import { schemaProblems } from '../swap/credentialData';
import { SwapItemError } from '../swap/errors';
import type { CredentialSchema } from '../transport/n8nApiClient';
import { expressionRefusal } from './expressions';
import { fieldAccessRefusal } from './fieldAccess';
import { neededFieldsRefusal } from './neededFields';
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

/** The checks that need no schema: expressions, then which fields the caller may set. */
export function refusalBeforeSchema(target: TenantDataTarget, data: IDataObject, policy: TenantDataPolicy, itemIndexes: number[]): SwapItemError | undefined {
	return expressionRefusal(target, data, itemIndexes) ?? fieldAccessRefusal(target, data, policy, itemIndexes);
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
	if (problems.length > 0) {
		return new SwapItemError(`Credential data does not fit type "${target.type}": ${problems.join('; ')}`, itemIndexes, {
			parameter: 'credentialData',
			description: `Send only the fields of a "${target.type}" credential, with the value types n8n expects. ${nothingDone(target)}`,
		});
	}
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
	const early = refusalBeforeSchema(target, data, policy, itemIndexes);
	if (early) throw early;
	const schema = await schemas.getSchema(target.type);
	const refusal = refusalWithSchema(target, data, schema, policy, itemIndexes);
	if (refusal) throw refusal;
	return schema;
}
