/**
 * The pages the tenant's browser sees at the end of a connect attempt. They carry no token, code or
 * state, only fixed text and an escaped reason, and forbid caching, referrers, scripts and framing.
 */

export interface ConnectPage {
	status: number;
	headers: Record<string, string>;
	body: string;
}

export const PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
	'Content-Type': 'text/html; charset=utf-8',
	'Cache-Control': 'no-store',
	Pragma: 'no-cache',
	'Referrer-Policy': 'no-referrer',
	'X-Content-Type-Options': 'nosniff',
	'X-Frame-Options': 'DENY',
	'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
});

/** Headers of the redirect to the provider: never cached, and the provider learns no referrer. */
export const REDIRECT_HEADERS: Readonly<Record<string, string>> = Object.freeze({
	'Cache-Control': 'no-store',
	Pragma: 'no-cache',
	'Referrer-Policy': 'no-referrer',
});

export function escapeHtml(text: string): string {
	return text.replace(/[&<>"'`=/]/g, (character) => `&#${character.charCodeAt(0)};`);
}

export function connectedPage(connection: string): ConnectPage {
	return page(200, 'Connected', `Your account is connected (${connection}). You can close this window.`);
}

/** A refusal the tenant can act on (the link, the browser, the provider's answer): nothing was created or changed. */
export function refusedPage(reason: string, status = 400): ConnectPage {
	return page(status, 'Not connected', `${reason} Nothing was connected or changed.`);
}

/** Our side failed (the app's settings, n8n's API, the lock store): nothing was connected. */
export function errorPage(status = 500): ConnectPage {
	return page(
		status,
		'Not connected',
		'Something went wrong on our side and your account was not connected. Please try again later or ask for a new link.',
	);
}

function page(status: number, title: string, message: string): ConnectPage {
	const body =
		'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">' +
		`<meta name="referrer" content="no-referrer"><title>${escapeHtml(title)}</title>` +
		'<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}</style></head>' +
		`<body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p></body></html>`;
	return { status, headers: { ...PAGE_HEADERS }, body };
}
