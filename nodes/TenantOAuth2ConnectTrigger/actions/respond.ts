import type { IDataObject, IWebhookFunctions, IWebhookResponseData } from 'n8n-workflow';

import { BROWSER_KEY_COOKIE } from '../../shared/tenantOAuth/browserKey';
import { REDIRECT_HEADERS, type ConnectPage } from '../../shared/tenantOAuth/pages';

/** What the workflow gets for one attempt: never a token, a code or a state. */
export type ConnectOutcome =
	| { status: 'connected'; connection: string; tenantId: string; credentialId: string }
	| { status: 'refused'; connection: string; reason: RefusalReason; tenantId?: string; providerError?: string };

export type RefusalReason =
	| 'linkUnknown'
	| 'linkExpired'
	| 'linkUsed'
	| 'linkOtherConnection'
	| 'stateUnknown'
	| 'stateExpired'
	| 'stateUsed'
	| 'stateOtherConnection'
	| 'otherBrowser'
	| 'declined'
	| 'providerRefused'
	| 'invalidAnswer'
	| 'badRequest';

/** Sends the page through the response object (the node answers the browser itself). */
export function sendPage(context: IWebhookFunctions, page: ConnectPage, extraHeaders: Record<string, string> = {}): void {
	const res = context.getResponseObject();
	res.status(page.status);
	for (const [name, value] of Object.entries({ ...page.headers, ...extraHeaders })) res.setHeader(name, value);
	res.end(page.body);
}

export function sendRedirect(context: IWebhookFunctions, location: string, cookie: string): void {
	const res = context.getResponseObject();
	res.status(302);
	for (const [name, value] of Object.entries(REDIRECT_HEADERS)) res.setHeader(name, value);
	res.setHeader('Set-Cookie', cookie);
	res.setHeader('Location', location);
	res.end();
}

/** The browser key cookie: HttpOnly, SameSite=Lax (sent on the provider's top-level redirect back), Secure on https. */
export function browserKeyCookie(key: string, maxAgeSeconds: number, secure: boolean): string {
	return `${BROWSER_KEY_COOKIE}=${key}; Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}; Path=/; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}

export function clearedBrowserKeyCookie(secure: boolean): string {
	return browserKeyCookie('', 0, secure);
}

/** The answer to n8n: the response is sent; a workflow runs for a connection, and for a refusal only when asked. */
export function webhookAnswer(outcome: ConnectOutcome, emitRefusals: boolean): IWebhookResponseData {
	if (outcome.status === 'refused' && !emitRefusals) return { noWebhookResponse: true };
	return { noWebhookResponse: true, workflowData: [[{ json: outcome as unknown as IDataObject }]] };
}
