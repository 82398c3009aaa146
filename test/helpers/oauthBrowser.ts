/**
 * A browser stand-in built on fetch for the tenant OAuth connect flow: follows redirects itself,
 * keeps cookies per host:port, and on the stand-in provider's consent page (test/helpers/oauthProvider.ts)
 * picks an account and presses Approve or Deny.
 */

/** Cookies by `host:port` (name -> value); Path, Domain and Secure are ignored, Max-Age<=0 / a past Expires deletes. */
export class CookieJar {
	private readonly byHost = new Map<string, Map<string, string>>();

	/** The Cookie header for a request to `url`, or undefined when there is none. */
	headerFor(url: string | URL): string | undefined {
		const cookies = this.byHost.get(new URL(url).host);
		if (!cookies || cookies.size === 0) return undefined;
		return [...cookies].map(([name, value]) => `${name}=${value}`).join('; ');
	}

	/** Takes the Set-Cookie headers of a response from `url`. */
	store(url: string | URL, setCookieHeaders: string[]): void {
		const host = new URL(url).host;
		let cookies = this.byHost.get(host);
		if (!cookies) this.byHost.set(host, (cookies = new Map()));
		for (const header of setCookieHeaders) {
			const [pair, ...attributes] = header.split(';');
			const equals = pair.indexOf('=');
			if (equals <= 0) continue;
			const name = pair.slice(0, equals).trim();
			const value = pair.slice(equals + 1).trim();
			const expired = attributes.some((attribute) => {
				const [key, ...rest] = attribute.split('=');
				const text = rest.join('=').trim();
				if (key.trim().toLowerCase() === 'max-age') return Number(text) <= 0;
				if (key.trim().toLowerCase() === 'expires') return Date.parse(text) <= Date.now();
				return false;
			});
			if (expired) cookies.delete(name);
			else cookies.set(name, value);
		}
	}

	/** A copy: `{ "127.0.0.1:5678": { name: value } }`. */
	snapshot(): Record<string, Record<string, string>> {
		const result: Record<string, Record<string, string>> = {};
		for (const [host, cookies] of this.byHost) result[host] = Object.fromEntries(cookies);
		return result;
	}
}

export interface ConnectFlowOptions {
	/** The provider account that approves (the consent form's `account` field); default: the page's own. */
	account?: string;
	decision: 'approve' | 'deny';
	/** Reuse a jar (the same browser) across flows; default a fresh one. */
	jar?: CookieJar;
	/** Stop before requesting a URL this returns true for (e.g. to replay the callback in another browser). */
	stopBefore?: (url: URL) => boolean;
	/** Default 10. */
	maxSteps?: number;
}

export interface ConnectFlowStep {
	method: 'GET' | 'POST';
	/** Carries the code and state on the callback step: assert on it, never print it. */
	url: string;
	status: number;
}

export interface ConnectFlowResult {
	/** The last response's status (a redirect's when `stopBefore` stopped the flow). */
	finalStatus: number;
	finalBody: string;
	/** The last URL requested, or the URL `stopBefore` stopped at. */
	finalUrl: string;
	cookies: Record<string, Record<string, string>>;
	steps: ConnectFlowStep[];
	/** True when `stopBefore` stopped the flow at `finalUrl`. */
	stopped: boolean;
}

const CONSENT_FORM = /<form\b[^>]*\bid="oauth-consent"[^>]*>([\s\S]*?)<\/form>/;

function decodeHtml(text: string): string {
	return text.replace(/&(amp|lt|gt|quot|#39);/g, (_, entity: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[entity]!);
}

/** The consent form's action and fields (inputs with a name), or undefined when `html` has none. */
export function parseConsentForm(html: string): { action: string; fields: Record<string, string> } | undefined {
	const form = CONSENT_FORM.exec(html);
	if (!form) return undefined;
	const action = /\baction="([^"]*)"/.exec(form[0])?.[1] ?? '';
	const fields: Record<string, string> = {};
	for (const input of form[1].matchAll(/<input\b([^>]*)>/g)) {
		const name = /\bname="([^"]*)"/.exec(input[1])?.[1];
		if (name === undefined) continue;
		fields[decodeHtml(name)] = decodeHtml(/\bvalue="([^"]*)"/.exec(input[1])?.[1] ?? '');
	}
	return { action: decodeHtml(action), fields };
}

/**
 * Opens `startUrl` like a browser: GETs with redirect 'manual', follows 301/302/303/307/308 (a POST
 * after 301/302/303 becomes a GET), sends and keeps cookies per host:port, submits the provider's
 * consent form with `decision` (and `account`), and returns the first response that is neither a
 * redirect nor a consent page (e.g. the Complete webhook's page).
 */
export async function followConnectFlow(startUrl: string, options: ConnectFlowOptions): Promise<ConnectFlowResult> {
	const jar = options.jar ?? new CookieJar();
	const steps: ConnectFlowStep[] = [];
	let url = new URL(startUrl);
	let method: 'GET' | 'POST' = 'GET';
	let body: URLSearchParams | undefined;
	let lastStatus = 0;
	let lastBody = '';
	const maxSteps = options.maxSteps ?? 10;
	const result = (stopped: boolean): ConnectFlowResult => ({
		finalStatus: lastStatus,
		finalBody: lastBody,
		finalUrl: url.toString(),
		cookies: jar.snapshot(),
		steps,
		stopped,
	});

	for (let step = 0; step < maxSteps; step++) {
		if (options.stopBefore?.(url)) return result(true);
		const cookie = jar.headerFor(url);
		const response = await fetch(url, {
			method,
			redirect: 'manual',
			headers: { accept: 'text/html,application/json;q=0.9,*/*;q=0.8', ...(cookie ? { cookie } : {}) },
			body,
		});
		jar.store(url, response.headers.getSetCookie());
		lastStatus = response.status;
		lastBody = await response.text();
		steps.push({ method, url: url.toString(), status: response.status });

		const location = response.headers.get('location');
		if ([301, 302, 303, 307, 308].includes(response.status) && location) {
			const keepsMethod = response.status === 307 || response.status === 308;
			url = new URL(location, url);
			if (!keepsMethod) {
				method = 'GET';
				body = undefined;
			}
			continue;
		}
		const consent = response.status === 200 ? parseConsentForm(lastBody) : undefined;
		if (!consent) return result(false);
		const form = new URLSearchParams(consent.fields);
		if (options.account !== undefined) form.set('account', options.account);
		form.set('decision', options.decision);
		url = new URL(consent.action, url);
		method = 'POST';
		body = form;
	}
	throw new Error(`followConnectFlow: more than ${maxSteps} steps; last status ${lastStatus} at ${url.origin}${url.pathname}`);
}
