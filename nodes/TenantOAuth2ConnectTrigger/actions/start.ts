import type { IWebhookFunctions, IWebhookResponseData } from 'n8n-workflow';

import { authorizationUrl } from '../../shared/tenantOAuth/authorization';
import { newBrowserKey } from '../../shared/tenantOAuth/browserKey';
import { newPkcePair } from '../../shared/tenantOAuth/pkce';
import { refusedPage } from '../../shared/tenantOAuth/pages';
import { isWellFormedToken } from '../../shared/tenantOAuth/tokens';
import type { ConnectSettings } from './connectContext';
import { queryValue } from './connectContext';
import { browserKeyCookie, sendPage, sendRedirect, webhookAnswer, type RefusalReason } from './respond';

const LINK_REFUSALS: Record<'unknown' | 'expired' | 'used', { reason: RefusalReason; text: string }> = {
	unknown: { reason: 'linkUnknown', text: 'This connect link is not valid. Ask for a new link.' },
	expired: { reason: 'linkExpired', text: 'This connect link has expired. Ask for a new link.' },
	used: { reason: 'linkUsed', text: 'This connect link was already used. Ask for a new link.' },
};

/**
 * `<path>/start?link=<token>`: uses the link up (once), binds a new sign-in to this browser (cookie)
 * and to the link's tenant (server side), and sends the browser to the provider.
 */
export async function startConnect(context: IWebhookFunctions, settings: ConnectSettings): Promise<IWebhookResponseData> {
	const refuse = (refusal: { reason: RefusalReason; text: string }, tenantId?: string) => {
		sendPage(context, refusedPage(refusal.text));
		return webhookAnswer({ status: 'refused', connection: settings.connection, reason: refusal.reason, ...(tenantId ? { tenantId } : {}) }, settings.emitRefusals);
	};
	const link = queryValue(context, 'link', 128);
	if (!isWellFormedToken(link)) return refuse(LINK_REFUSALS.unknown);
	const used = await settings.store.useLink(link);
	if (!used.ok) return refuse(LINK_REFUSALS[used.reason]);
	const { tenantId, appId } = used.target;
	if (appId !== settings.connection) {
		return refuse({ reason: 'linkOtherConnection', text: 'This connect link is for another connection. Ask for a new link.' });
	}
	const pkce = newPkcePair();
	const browserKey = newBrowserKey();
	const { state } = await settings.store.startAuthorization(
		{ tenantId, appId, codeVerifier: pkce.verifier, browserKeyHash: browserKey.hash },
		settings.authorizationTtlMs,
	);
	const location = authorizationUrl(settings.app, { state, codeChallenge: pkce.challenge, redirectUri: settings.redirectUri });
	sendRedirect(context, location, browserKeyCookie(browserKey.key, settings.authorizationTtlMs / 1000, isHttps(settings.redirectUri)));
	// Starting is no connection yet: no workflow run.
	return { noWebhookResponse: true };
}

export function isHttps(url: string): boolean {
	return url.toLowerCase().startsWith('https://');
}
