import type { IDataObject } from 'n8n-workflow';

import { SwapItemError } from '../swap/errors';
import { N8N_CREDENTIAL_TYPES_VERSION } from '../swap/n8nCredentialTypes';
import { connectionFieldsOf, knownCredentialType } from './knownTypes';
import { nothingDone, quotedList, type TenantDataPolicy, type TenantDataTarget } from './target';

/**
 * Which fields the caller may set. With Allowed Fields: only those. Without: every field of a built-in
 * type except its connection fields (URL, host, port, domains, OAuth endpoints: set by the caller, they
 * choose where n8n connects and sends the credential); a type this package does not know cannot be
 * told apart, so it needs Allowed Fields. Names fields, never values.
 */
export function fieldAccessRefusal(target: TenantDataTarget, data: IDataObject, policy: TenantDataPolicy, itemIndexes: number[]): SwapItemError | undefined {
	const { allowedFields } = policy;
	const fields = Object.keys(data);
	if (allowedFields.length > 0) {
		const outside = fields.filter((field) => !allowedFields.includes(field));
		if (outside.length === 0) return undefined;
		return new SwapItemError(`Credential data sets ${quotedList(outside)}, outside the allowed fields (${allowedFields.join(', ')})`, itemIndexes, {
			parameter: 'credentialData',
			description: `The data comes from outside (e.g. a webhook): only the fields listed in "Allowed Fields" may be set. Add the field there if the tenant really must set it. ${nothingDone(target)}`,
		});
	}
	const known = knownCredentialType(target.type);
	if (!known) {
		return new SwapItemError(
			`Credential type "${target.type}" is not one of n8n's built-in types (as of n8n ${N8N_CREDENTIAL_TYPES_VERSION}), so "Allowed Fields" must list the fields the tenant may set`,
			itemIndexes,
			{
				parameter: 'options.allowedFields',
				description:
					"This package cannot tell which fields of this type say where n8n connects or sends the credential (a URL, host or domain the caller could point at their own server). List under Options > Allowed Fields the fields the tenant's data sets, e.g. apiKey, and leave out such fields unless the workflow sets them itself. " +
					nothingDone(target),
			},
		);
	}
	const connections = connectionFieldsOf(known);
	const connecting = fields.filter((field) => connections.has(field));
	if (connecting.length === 0) return undefined;
	const which = connecting.length === 1 ? 'which says' : 'which say';
	return new SwapItemError(`Credential data sets ${quotedList(connecting)}, ${which} where n8n connects or sends the credential, and "Allowed Fields" is empty`, itemIndexes, {
		parameter: 'credentialData',
		description:
			"Set by a webhook caller, such a field chooses where n8n sends the tenant's credential (e.g. a token URL or database host on the caller's server or inside your network). " +
			'If the workflow sets it (a fixed value, or a caller you trust), list it under Options > Allowed Fields together with the other fields the data sets. ' +
			nothingDone(target),
	});
}
