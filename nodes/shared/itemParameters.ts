import type { IExecuteFunctions } from 'n8n-workflow';

import { SwapItemError } from './swap/errors';
import { shownTenantId } from './tenantCredentials/credentialName';

const TENANT_ID_HELP =
	'Map the tenant ID from the incoming data, e.g. {{ $json.body.tenantId }}: drag the field holding it from the input panel onto Tenant ID. If it is mapped, this item has no value there: check that every caller sends it. Nothing was created.';

/** Tenant IDs come from webhook callers: long enough for any real ID, short enough for names, logs and lock rows. */
export const MAX_TENANT_ID_LENGTH = 200;
/** Unicode category C: control, format (e.g. right-to-left overrides, zero-width characters), private use, unassigned. */
const INVISIBLE_OR_CONTROL = /\p{C}/u;
/** How much of a refused Tenant ID an error shows, and only in characters safe anywhere. */
const SHOWN_PREFIX = 12;

/** A short, harmless hint of a refused Tenant ID: never the whole ID, nothing that could mislead a reader. */
const shownPrefix = (tenantId: string) => shownTenantId(tenantId, SHOWN_PREFIX);

/**
 * One item's Tenant ID, trimmed; refused when missing, empty, not text or a number, longer than
 * MAX_TENANT_ID_LENGTH characters, or holding a control or invisible character (it is shown in
 * credential names, lock rows, logs and errors).
 */
export function readTenantId(context: IExecuteFunctions, itemIndex: number): string {
	const value = context.getNodeParameter('tenantId', itemIndex, '') as unknown;
	const refuse = (message: string, description = TENANT_ID_HELP) => new SwapItemError(message, [itemIndex], { parameter: 'tenantId', description });
	if (value === undefined || value === null) throw refuse('Tenant ID is missing: its value is empty for this item');
	if (typeof value !== 'string' && typeof value !== 'number') {
		const got = Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;
		throw refuse(
			`Tenant ID must be text or a number, but its value is ${got}`,
			'Map the field that holds the ID itself, e.g. {{ $json.body.tenantId }}, not the object or list around it. Nothing was created.',
		);
	}
	const tenantId = String(value).trim();
	if (tenantId === '') throw refuse('Tenant ID is missing: its value is empty for this item');
	const length = [...tenantId].length;
	if (length > MAX_TENANT_ID_LENGTH) {
		throw refuse(
			`Tenant ID is too long: ${length} characters (starting "${shownPrefix(tenantId)}"), at most ${MAX_TENANT_ID_LENGTH} are allowed`,
			`Map a tenant ID of at most ${MAX_TENANT_ID_LENGTH} characters; nothing was created. If the caller sent it, refuse the request before this node.`,
		);
	}
	const bad = [...tenantId].findIndex((character) => INVISIBLE_OR_CONTROL.test(character));
	if (bad >= 0) {
		throw refuse(
			`Tenant ID holds a control or invisible character at position ${bad + 1} (starting "${shownPrefix(tenantId)}")`,
			'Tenant IDs may not hold control characters, line breaks, tabs or invisible formatting characters; nothing was created. Map the plain tenant ID.',
		);
	}
	return tenantId;
}

/** A comma-separated option (Allowed Fields, Fields Allowed Empty) as a list. */
export function commaList(value: unknown): string[] {
	return String(value ?? '')
		.split(',')
		.map((field) => field.trim())
		.filter(Boolean);
}
