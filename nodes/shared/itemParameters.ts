import type { IExecuteFunctions } from 'n8n-workflow';

import { SwapItemError } from './swap/errors';

const TENANT_ID_HELP = 'Map the tenant ID from the incoming data, e.g. {{ $json.body.tenantId }}.';

/** One item's Tenant ID, trimmed; refused when it is not text or a number, or empty. */
export function readTenantId(context: IExecuteFunctions, itemIndex: number): string {
	const tenantId = context.getNodeParameter('tenantId', itemIndex, '') as unknown;
	if (typeof tenantId !== 'string' && typeof tenantId !== 'number') {
		throw new SwapItemError('Tenant ID must be text', [itemIndex], { parameter: 'tenantId', description: TENANT_ID_HELP });
	}
	if (String(tenantId).trim() === '') {
		throw new SwapItemError('Tenant ID is empty', [itemIndex], { parameter: 'tenantId', description: TENANT_ID_HELP });
	}
	return String(tenantId).trim();
}

/** A comma-separated option (Allowed Fields, Fields Allowed Empty) as a list. */
export function commaList(value: unknown): string[] {
	return String(value ?? '')
		.split(',')
		.map((field) => field.trim())
		.filter(Boolean);
}
