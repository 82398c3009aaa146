import type { IExecuteFunctions } from 'n8n-workflow';

import { SwapItemError } from '../../shared/swap/errors';
import { isConnectionName } from '../../shared/tenantOAuth/connectionName';


export const DEFAULT_LINK_EXPIRY_MINUTES = 15;
export const MAX_LINK_EXPIRY_MINUTES = 1440;
/** A start URL is operator configuration: long enough for any real address, short enough for a link. */
const MAX_START_URL_LENGTH = 2000;

const refuse = (itemIndex: number, parameter: string, message: string, description: string) =>
	new SwapItemError(message, [itemIndex], { parameter, description });

/** One item's Connection: 1-64 letters, digits, `_`, `.` or `-` (it keys links, states and connections). */
export function readConnection(context: IExecuteFunctions, itemIndex: number): string {
	const value = context.getNodeParameter('connection', itemIndex, '') as unknown;
	const connection = typeof value === 'string' ? value.trim() : '';
	if (!isConnectionName(connection)) {
		throw refuse(
			itemIndex,
			'connection',
			connection === '' ? 'Connection is empty' : 'Connection must be 1 to 64 letters, digits, "_", "." or "-"',
			'Use the same short name (e.g. hubspot) as in the Tenant OAuth2 Connect Trigger and Run With Tenant Credential. Nothing was changed.',
		);
	}
	return connection;
}

/**
 * One item's Connect Start URL: the trigger's production start URL, http or https, with no query,
 * fragment or user name/password (the link token is appended as the only query parameter).
 */
export function readConnectStartUrl(context: IExecuteFunctions, itemIndex: number): URL {
	const value = context.getNodeParameter('connectStartUrl', itemIndex, '') as unknown;
	const text = typeof value === 'string' ? value.trim() : '';
	const help =
		"Copy the Tenant OAuth2 Connect Trigger's production start URL, e.g. https://n8n.example.com/webhook/tenant-connect/start. No link was created.";
	const bad = (why: string) => refuse(itemIndex, 'connectStartUrl', `Connect Start URL ${why}`, help);
	if (text === '') throw bad('is empty');
	if (text.length > MAX_START_URL_LENGTH) throw bad(`is too long (more than ${MAX_START_URL_LENGTH} characters)`);
	// Control characters and spaces: URL() would quietly drop or encode them.
	if (/[\p{C}\s]/u.test(text)) throw bad('holds a space or control character');
	let url: URL;
	try {
		url = new URL(text);
	} catch {
		throw bad('is not a valid URL');
	}
	if (url.protocol !== 'https:' && url.protocol !== 'http:') throw bad('must start with https:// or http://');
	if (url.username || url.password) throw bad('must not hold a user name or password');
	if (url.search || text.includes('?')) throw bad('must not have a query (the part after "?")');
	if (url.hash || text.includes('#')) throw bad('must not have a fragment (the part after "#")');
	return url;
}

/** One item's Link Expiry in milliseconds (minutes, 1 to 1440). */
export function readLinkExpiryMs(context: IExecuteFunctions, itemIndex: number): number {
	const value = context.getNodeParameter('linkExpiry', itemIndex, DEFAULT_LINK_EXPIRY_MINUTES) as unknown;
	const minutes = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
	if (!Number.isFinite(minutes) || minutes < 1 || minutes > MAX_LINK_EXPIRY_MINUTES) {
		throw refuse(
			itemIndex,
			'linkExpiry',
			`Link Expiry must be 1 to ${MAX_LINK_EXPIRY_MINUTES} minutes (got ${String(value).slice(0, 20)})`,
			`Use the default ${DEFAULT_LINK_EXPIRY_MINUTES} minutes unless tenants need longer to open the link. No link was created.`,
		);
	}
	return Math.round(minutes * 60_000);
}
