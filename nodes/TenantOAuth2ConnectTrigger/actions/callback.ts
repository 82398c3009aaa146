import { NodeOperationError, type IWebhookFunctions, type IWebhookResponseData } from 'n8n-workflow';

import { browserKeyFromCookieHeader, matchesBrowserKey } from '../../shared/tenantOAuth/browserKey';
import { connectedPage, errorPage, refusedPage } from '../../shared/tenantOAuth/pages';
import { connectTenantCredential, TenantConnectionRefused } from '../../shared/tenantOAuth/tenantConnection';
import { exchangeCode } from '../../shared/tenantOAuth/tokenExchange';
import { isWellFormedToken } from '../../shared/tenantOAuth/tokens';
import { queryValue, tenantConnectionContext, type ConnectSettings } from './connectContext';
import { clearedBrowserKeyCookie, sendPage, webhookAnswer, type ConnectOutcome, type RefusalReason } from './respond';
import { isHttps } from './start';

const STATE_REFUSALS: Record<'unknown' | 'expired' | 'used', { reason: RefusalReason; text: string }> = {
	unknown: { reason: 'stateUnknown', text: 'This sign-in is not known here. Open your connect link to start again.' },
	expired: { reason: 'stateExpired', text: 'This sign-in took too long and has expired. Ask for a new connect link.' },
	used: { reason: 'stateUsed', text: 'This sign-in was already completed. Ask for a new connect link to connect again.' },
};

const MAX_CODE_CHARS = 2048;

let browserCheck = true;

/** For tests only: `false` skips the browser key check (the control that shows the check matters); undefined restores it. */
export function configureBrowserCheck(enabled?: boolean): void {
	browserCheck = enabled ?? true;
}

/**
 * `<path>/callback?code&state` (or `?error&state`): uses the state up (once), checks it was started in
 * this browser, trades the code for the tenant's tokens and writes the tenant's credential.
 */
export async function completeConnect(context: IWebhookFunctions, settings: ConnectSettings): Promise<IWebhookResponseData> {
	const secure = isHttps(settings.redirectUri);
	// The sign-in is over, whatever happens: the browser key is not needed any more.
	const cookie = { 'Set-Cookie': clearedBrowserKeyCookie(secure) };
	const refuse = (reason: RefusalReason, text: string, extra: { tenantId?: string; providerError?: string; status?: number } = {}) => {
		sendPage(context, refusedPage(text, extra.status), cookie);
		const outcome: ConnectOutcome = {
			status: 'refused',
			connection: settings.connection,
			reason,
			...(extra.tenantId ? { tenantId: extra.tenantId } : {}),
			...(extra.providerError ? { providerError: extra.providerError } : {}),
		};
		return webhookAnswer(outcome, settings.emitRefusals);
	};

	const state = queryValue(context, 'state', 128);
	if (!isWellFormedToken(state)) return refuse('stateUnknown', STATE_REFUSALS.unknown.text);
	const completed = await settings.store.completeAuthorization(state);
	if (!completed.ok) return refuse(STATE_REFUSALS[completed.reason].reason, STATE_REFUSALS[completed.reason].text);
	const { tenantId, appId, codeVerifier, browserKeyHash } = completed.pending;
	if (appId !== settings.connection) return refuse('stateOtherConnection', 'This sign-in belongs to another connection. Ask for a new connect link.');
	const browserKey = browserKeyFromCookieHeader(context.getHeaderData().cookie);
	if (browserCheck && !matchesBrowserKey(browserKey, browserKeyHash)) {
		return refuse('otherBrowser', 'This sign-in was started in another browser. Open your connect link again in this browser.', { status: 403, tenantId });
	}

	const providerError = queryValue(context, 'error', 256);
	if (providerError !== undefined || (context.getQueryData() as Record<string, unknown>).error !== undefined) {
		const code = providerError && /^[A-Za-z0-9_.-]{1,64}$/.test(providerError) ? providerError : 'unknown_error';
		const text = code === 'access_denied' ? 'You declined the connection at the provider.' : `The provider did not connect the account (${code}).`;
		return refuse('declined', text, { tenantId, providerError: code, status: 200 });
	}
	const code = queryValue(context, 'code', MAX_CODE_CHARS);
	if (code === undefined) return refuse('badRequest', 'The provider sent no usable authorization code. Ask for a new connect link.', { tenantId });

	const exchanged = await exchangeCode(
		async (options) => await context.helpers.httpRequest(options),
		settings.app,
		{ code, codeVerifier, redirectUri: settings.redirectUri },
	);
	if (!exchanged.ok) {
		if (exchanged.reason === 'providerRefused') {
			return refuse('providerRefused', `The provider refused the sign-in (${exchanged.providerError}). Ask for a new connect link.`, {
				tenantId,
				providerError: exchanged.providerError,
			});
		}
		context.logger.warn(`Tenant OAuth2 Connect Trigger: the token URL's answer could not be used: ${exchanged.problem}`, { connection: settings.connection });
		if (exchanged.reason === 'invalidAnswer') return refuse('invalidAnswer', "The provider's answer could not be used.", { tenantId, status: 502 });
		sendPage(context, errorPage(502), cookie);
		return { noWebhookResponse: true };
	}

	let outcome: ConnectOutcome;
	try {
		const connection = await connectTenantCredential(await tenantConnectionContext(context, settings.store), {
			connection: settings.connection,
			tenantId,
			app: settings.app,
			tokenData: exchanged.tokenData,
		});
		outcome = { status: 'connected', connection: settings.connection, tenantId, credentialId: connection.credentialId };
	} catch (error) {
		if (error instanceof TenantConnectionRefused) return refuse('invalidAnswer', "The provider's answer could not be used.", { tenantId, status: 502 });
		throw new NodeOperationError(context.getNode(), error as Error);
	}
	sendPage(context, connectedPage(settings.connection), cookie);
	return webhookAnswer(outcome, settings.emitRefusals);
}
