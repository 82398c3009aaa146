/** What tenant data is checked for, and how refusals name it. */
export interface TenantDataTarget {
	/** The n8n credential type the data is for. */
	type: string;
	/** Tenant Credential Swap: the base credential whose data is replaced. Absent: a new credential is made from the data. */
	baseCredentialName?: string;
}

/** Fields the caller may set and leave empty, as the node's options give them. */
export interface TenantDataPolicy {
	/** Allowed Fields: the only fields the data may set. Empty: any field of a built-in type except its connection fields. */
	allowedFields: string[];
	/** Fields Allowed Empty: fields that may be left out or set empty; ['*'] for any. */
	allowEmptyFields?: string[];
	/** Partial Update (Tenant Credential Swap): fields the data leaves out keep their value. */
	partialUpdate?: boolean;
}

/** Partial Update applies to a base credential only: a new credential is made from the data alone. */
export const isPartialUpdate = (target: TenantDataTarget, policy: TenantDataPolicy): boolean =>
	policy.partialUpdate === true && target.baseCredentialName !== undefined;

export const quotedList = (fields: string[]): string => fields.map((field) => `"${field}"`).join(', ');

/** The sentence a refusal ends with: what it left as it was. */
export const nothingDone = (target: TenantDataTarget): string =>
	target.baseCredentialName === undefined ? 'Nothing was created.' : 'Nothing was changed.';

/** What data that fails a need would leave behind. */
export const unusable = (target: TenantDataTarget): string =>
	target.baseCredentialName === undefined ? "the tenant's credential would not work" : `the base credential "${target.baseCredentialName}" would be left unusable`;
