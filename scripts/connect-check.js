#!/usr/bin/env node
// @ts-check
'use strict';
/**
 * npm run connect:check [-- --out <dir>] [-- --pictures <dir>]
 *
 * The OAuth2 connect flow of `npm run dev`, clicked through in a real browser (Debian's Chromium
 * through playwright-core; not part of npm test: `apt-get install -y chromium`). Starts the dev stack
 * (PostgreSQL, n8n 2.40.7 with this package, the stand-in OAuth2 provider, the connect workflows), then:
 *   - the operator's webhook refuses a caller without its Header Auth key, and makes acme's connect link;
 *   - Chromium opens the link, lands on the provider's consent page, presses Approve and lands on
 *     "connected": the page holds no token, code, state, link, cookie value or client secret;
 *   - the trigger's workflow ran once for acme, its stored execution holds no token;
 *   - the run webhook for acme reaches the provider with acme's account (the provider says whose token
 *     it got), also after the access token expired (n8n refreshes it); a tenant never connected gets 409;
 *   - the deny path: Deny on the consent page lands on "declined", nothing is connected (409 on run);
 *   - Disconnect: acme's credential is gone and its run answers 409;
 *   - n8n's log holds none of the secrets above.
 * Screenshots go to --out (default /tmp/connect-check); --pictures <dir> also writes the README's
 * pictures there (oauth-connect-workflows.png, oauth-connect-browser.png). Exits 1 when a check fails.
 */
const fs = require('fs');
const path = require('path');
const { startStack, takeOverSignals } = require('./lib/stack');
const { launchChromium, signIn } = require('./lib/chromium');
const { ACCESS_TOKEN_TTL_SECONDS } = require('./lib/oauthConnect');

const USAGE = 'usage: npm run connect:check [-- --out <dir>] [-- --pictures <dir>] [-- --port <n>]';
/** The stand-in provider's token formats (test/helpers/oauthProvider.ts): none may reach a page or a log. */
const PROVIDER_SECRET = /\b(?:at|rt|code)_[A-Za-z0-9_-]{20,}/;

/** @param {string[]} argv */
function parseArgs(argv) {
	/** @type {{out: string, pictures?: string, port?: number}} */
	const args = { out: '/tmp/connect-check' };
	for (let i = 0; i < argv.length; i++) {
		const [flag, inline] = argv[i].split('=', 2);
		const value = inline ?? argv[++i];
		if (flag === '--out') args.out = value;
		else if (flag === '--pictures') args.pictures = value;
		else if (flag === '--port') args.port = Number(value);
		else throw new Error(`unknown argument ${argv[i]}\n${USAGE}`);
		if (!value) throw new Error(`${flag} needs a value\n${USAGE}`);
	}
	return args;
}

const out = (/** @type {string} */ line) => process.stdout.write(`${line}\n`);

async function main() {
	const args = parseArgs(process.argv.slice(2));
	fs.mkdirSync(args.out, { recursive: true });
	if (args.pictures) fs.mkdirSync(args.pictures, { recursive: true });
	const started = Date.now();
	/** @type {Array<[string, boolean]>} */
	const checks = [];
	const check = (/** @type {string} */ name, /** @type {boolean} */ ok, detail = '') => {
		checks.push([name, ok]);
		out(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
		return ok;
	};
	/** Values that must appear in no page, stored execution or log line. */
	const secrets = new Set();

	/** @type {{stop?: () => Promise<void>}} */
	const stopper = {};
	const signals = takeOverSignals(async () => {
		if (stopper.stop) await stopper.stop();
	});
	out('starting the dev stack with the OAuth2 connect flow ...');
	let stack;
	try {
		stack = await startStack({ port: args.port, log: (line) => out(`  · ${line}`), adoptSignals: signals.adopt, oauthConnect: true, runWithTenantExample: false }, stopper);
	} catch (error) {
		if (stopper.stop) await stopper.stop().catch(() => undefined);
		throw error;
	}
	const stackReady = Date.now();
	/** @type {import('playwright-core').BrowserContext | undefined} */
	let browser;
	try {
		const connect = /** @type {NonNullable<typeof stack.oauthConnect>} */ (stack.oauthConnect);
		const provider = /** @type {NonNullable<typeof stack.provider>} */ (stack.provider);
		const base = stack.n8n.baseUrl;
		for (const client of provider.clients.values()) secrets.add(client.clientSecret);
		secrets.add(connect.operatorHeader.value);

		/**
		 * POST to one of the operator's webhooks, with its Header Auth key unless `withKey` is false.
		 * @param {string} webhookPath
		 * @param {Record<string, unknown>} body
		 */
		const operator = async (webhookPath, body, withKey = true) => {
			const response = await fetch(`${base}/webhook/${webhookPath}`, {
				method: 'POST',
				headers: { 'content-type': 'application/json', ...(withKey ? { [connect.operatorHeader.name]: connect.operatorHeader.value } : {}) },
				body: JSON.stringify(body),
			});
			const text = await response.text();
			/** @type {any} */
			let json;
			try {
				json = JSON.parse(text);
			} catch {
				json = undefined;
			}
			return { status: response.status, text, json };
		};
		/** @param {string} tenantId */
		const createLink = async (tenantId) => {
			const answer = await operator(connect.paths.links, { action: 'link', tenantId });
			const connectUrl = String(answer.json?.connectUrl ?? '');
			const link = connectUrl ? new URL(connectUrl).searchParams.get('link') : null;
			if (link) secrets.add(link);
			return { answer, connectUrl };
		};
		/** @param {string} tenantId */
		const run = (tenantId) => operator(connect.paths.run, { tenantId });
		const tenantCredentials = async (/** @type {string} */ tenantId) =>
			(await stack.api.listCredentials()).filter((credential) => String(credential.name).startsWith(`tenant-oauth ${connect.connection} ${tenantId} `));

		// The operator's webhook ---------------------------------------------------------------
		const anonymous = await operator(connect.paths.links, { action: 'link', tenantId: 'acme' }, false);
		check('the links webhook refuses a caller without the Header Auth key', anonymous.status === 403 && !anonymous.text.includes('connectUrl'), `${anonymous.status}`);
		const acmeLink = await createLink('acme');
		const startUrl = `${base}/webhook/${connect.paths.connect}/start?link=`;
		check(
			"Create Connect Link answers acme's one-time link on the trigger's start URL",
			acmeLink.answer.status === 200 && acmeLink.answer.json?.tenantId === 'acme' && acmeLink.connectUrl.startsWith(startUrl),
			`${acmeLink.answer.status} ${acmeLink.connectUrl ? `${startUrl}<link>` : acmeLink.answer.text.slice(0, 200)}`,
		);

		// The browser: approve ------------------------------------------------------------------
		browser = await launchChromium({ profilePrefix: '/tmp/connect-check-profile-', viewport: { width: 640, height: 400 } });
		const page = browser.pages()[0] ?? (await browser.newPage());
		/** The query values and cookies the browser carried (code, state, the browser key): secrets too. */
		page.on('request', (request) => {
			for (const [name, value] of new URL(request.url()).searchParams) if (['code', 'state', 'link'].includes(name) && value) secrets.add(value);
		});
		page.on('response', async (response) => {
			const cookie = await response.headerValue('set-cookie').catch(() => null);
			for (const line of (cookie ?? '').split('\n')) {
				const value = /^[^=;]+=([^;]*)/.exec(line)?.[1];
				if (value && value.length >= 16) secrets.add(value);
			}
		});
		// The pages are short: the top of the window is the picture.
		const shot = async (/** @type {string} */ name) => {
			const file = path.join(args.out, `${name}.png`);
			await page.screenshot({ path: file, clip: { x: 0, y: 0, width: 640, height: 210 } });
			return file;
		};
		/** The page's HTML holds none of the secrets seen so far, nor anything shaped like a provider token. */
		const clean = async () => {
			const html = await page.content();
			const leaked = [...secrets].filter((secret) => secret.length >= 8 && html.includes(secret)).length + (PROVIDER_SECRET.test(html) ? 1 : 0);
			return { html, leaked };
		};

		await page.goto(acmeLink.connectUrl);
		await page.waitForURL((url) => url.origin === provider.url && url.pathname === '/authorize', { timeout: 30_000 });
		const consentTitle = await page.locator('h1').innerText();
		check("the link sends the browser to the provider's consent page", consentTitle === 'Authorize access', consentTitle);
		await page.locator('input[name="account"]').fill('acme-owner');
		const consentShot = await shot('1-consent');
		await page.locator('button[value="approve"]').click();
		await page.waitForURL((url) => url.pathname === `/webhook/${connect.paths.connect}/callback`, { timeout: 30_000 });
		await page.waitForLoadState('load');
		const connectedText = await page.locator('body').innerText();
		check('Approve lands on "connected"', /Your account is connected \(demo\)/.test(connectedText), connectedText.replace(/\s+/g, ' ').slice(0, 120));
		const connectedShot = await shot('2-connected');
		const connectedPage = await clean();
		check('the connected page holds no token, code, state, link, cookie value or client secret', connectedPage.leaked === 0, `${secrets.size} secrets looked for`);
		const acmeCredentials = await tenantCredentials('acme');
		check("n8n holds acme's connected oAuth2Api credential", acmeCredentials.length === 1 && acmeCredentials[0].type === 'oAuth2Api', acmeCredentials.map((c) => c.name).join(', '));

		const connectRuns = await stack.api.waitForExecutions({ workflowId: connect.workflows.connect.id, count: 1, includeData: true, timeoutMs: 30_000 });
		const stored = JSON.stringify(connectRuns);
		check(
			'the Tenant OAuth2 Connect workflow ran once, for acme, with no token in its stored execution',
			connectRuns.length === 1 && stored.includes('"status":"connected"') && stored.includes('"tenantId":"acme"') && !/access_token|refresh_token|oauthTokenData|code_verifier/.test(stored) && !PROVIDER_SECRET.test(stored),
			`${connectRuns.length} execution(s)`,
		);

		// Run with the connected tenant -------------------------------------------------------------
		const first = await run('acme');
		const acmeCalls = provider.stats.account('acme-owner').resourceCalls;
		check("the run webhook reaches the provider with acme's account", first.status === 200 && first.json?.account === 'acme-owner' && acmeCalls === 1, `${first.status} ${first.text.slice(0, 160)}; provider saw acme-owner ${acmeCalls}x`);
		check('the run answer holds no token', !PROVIDER_SECRET.test(first.text));
		provider.advanceClock((ACCESS_TOKEN_TTL_SECONDS + 5) * 1000);
		const afterExpiry = await run('acme');
		const acme = provider.stats.account('acme-owner');
		check(
			"after the access token expired, n8n refreshes it and the call is still acme's",
			afterExpiry.status === 200 && afterExpiry.json?.account === 'acme-owner' && acme.refreshes === 1 && acme.resourceCalls === 2,
			`${afterExpiry.status}; refreshes ${acme.refreshes}, calls ${acme.resourceCalls}`,
		);
		const stranger = await run('globex');
		check('a tenant never connected gets 409 "not connected" (the error output)', stranger.status === 409 && stranger.json?.connected === false, `${stranger.status} ${stranger.text.slice(0, 200)}`);

		// The browser: deny -------------------------------------------------------------------------
		const initechLink = await createLink('initech');
		await page.goto(initechLink.connectUrl);
		await page.waitForURL((url) => url.origin === provider.url, { timeout: 30_000 });
		await page.locator('input[name="account"]').fill('initech-owner');
		await page.locator('button[value="deny"]').click();
		await page.waitForURL((url) => url.pathname === `/webhook/${connect.paths.connect}/callback`, { timeout: 30_000 });
		await page.waitForLoadState('load');
		const declinedText = await page.locator('body').innerText();
		check('Deny lands on "declined"', /Not connected/.test(declinedText) && /You declined the connection at the provider/.test(declinedText), declinedText.replace(/\s+/g, ' ').slice(0, 160));
		const declinedShot = await shot('3-declined');
		check('the declined page holds no secret', (await clean()).leaked === 0);
		const initech = provider.stats.account('initech-owner');
		const initechRun = await run('initech');
		check(
			'nothing is connected for initech: no credential, no code exchange, its run answers 409',
			(await tenantCredentials('initech')).length === 0 && initech.denials === 1 && initech.codeExchanges === 0 && initechRun.status === 409,
			`denials ${initech.denials}, exchanges ${initech.codeExchanges}, run ${initechRun.status}`,
		);
		const connectRunsAfterDeny = await stack.api.getExecutions({ workflowId: connect.workflows.connect.id });
		check('a declined attempt does not run the connect workflow (Emit Refusals off)', connectRunsAfterDeny.length === 1, `${connectRunsAfterDeny.length} execution(s)`);

		// Disconnect -------------------------------------------------------------------------------
		const disconnected = await operator(connect.paths.links, { action: 'disconnect', tenantId: 'acme' });
		const acmeAfter = await run('acme');
		check(
			"Disconnect deletes acme's credential; acme's run then answers 409",
			disconnected.status === 200 && (await tenantCredentials('acme')).length === 0 && acmeAfter.status === 409,
			`disconnect ${disconnected.status} ${disconnected.text.slice(0, 120)}; run ${acmeAfter.status}`,
		);
		const unknownAction = await operator(connect.paths.links, { action: 'drop', tenantId: 'acme' });
		check('the links webhook answers 400 for another action', unknownAction.status === 400, `${unknownAction.status}`);

		const log = stack.n8n.readLog();
		const inLog = [...secrets].filter((secret) => secret.length >= 8 && log.includes(secret)).length + (PROVIDER_SECRET.test(log) ? 1 : 0);
		check("n8n's log holds none of the secrets", inLog === 0, `${secrets.size} looked for`);

		if (args.pictures) await writePictures(browser, { base, stack, connect, pictures: args.pictures, out: args.out, consentShot, connectedShot, declinedShot });
	} finally {
		await browser?.close().catch(() => undefined);
		await stack.stop();
	}
	const passed = checks.filter((c) => c[1]).length;
	out(`${passed}/${checks.length} checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s (stack start ${((stackReady - started) / 1000).toFixed(1)} s); screenshots in ${args.out}`);
	return passed === checks.length ? 0 : 1;
}

/**
 * The README's pictures: the four workflows on n8n's canvas (signed in as dev's owner), and the
 * browser's consent, connected and declined pages; each a grid of screenshots with captions,
 * composed in Chromium itself.
 * @param {import('playwright-core').BrowserContext} browser
 * @param {{base: string, stack: any, connect: any, pictures: string, out: string, consentShot: string, connectedShot: string, declinedShot: string}} o
 */
async function writePictures(browser, o) {
	const page = await browser.newPage();
	await page.setViewportSize({ width: 1100, height: 700 });
	await signIn(page, { base: o.base, email: o.stack.n8n.owner.email, password: o.stack.n8n.owner.password });
	/** @type {Array<[string, string]>} */
	const canvases = [];
	for (const [key, caption] of [
		['connect', 'Tenant OAuth2 Connect: the tenant\'s browser (start, callback)'],
		['links', 'Tenant OAuth2 links: your backend makes a link / disconnects'],
		['run', 'Run with connected tenant: your backend runs as the tenant'],
		['runSub', 'Its sub-workflow: the placeholder OAuth2 credential'],
	]) {
		const workflow = o.connect.workflows[key];
		await page.goto(`${o.base}/workflow/${workflow.id}`);
		await page.locator('[data-test-id="canvas-node"]').first().waitFor({ timeout: 60_000 });
		await page.keyboard.press('Escape').catch(() => undefined);
		// Zoom to fit, then one step out: room around the nodes for the canvas' own buttons.
		await page.locator('[data-test-id="zoom-to-fit"]').click();
		await page.waitForTimeout(500);
		await page.locator('[data-test-id="zoom-out-button"]').click();
		await page.waitForTimeout(1200);
		const file = path.join(o.out, `canvas-${key}.png`);
		await page.screenshot({ path: file });
		canvases.push([file, caption]);
	}
	await page.close();
	await composeGrid(browser, canvases, 2, 1100, 0.6, path.join(o.pictures, 'oauth-connect-workflows.png'));
	await composeGrid(
		browser,
		[
			[o.consentShot, '1. The link opens the provider\'s consent page (stand-in provider)'],
			[o.connectedShot, '2. Approve: back at n8n, connected'],
			[o.declinedShot, 'Or Deny: nothing is connected'],
		],
		3,
		640,
		0.7,
		path.join(o.pictures, 'oauth-connect-browser.png'),
	);
}

/**
 * Lays PNG screenshots out in a grid with captions (a page of <img>s, screenshotted), scaled.
 * @param {import('playwright-core').BrowserContext} browser
 * @param {Array<[string, string]>} images  file, caption
 * @param {number} columns
 * @param {number} shotWidth  the screenshots' width
 * @param {number} scale
 * @param {string} file
 */
async function composeGrid(browser, images, columns, shotWidth, scale, file) {
	const cell = Math.round(shotWidth * scale);
	const escape = (/** @type {string} */ text) => text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
	const figures = images
		.map(([image, caption]) => `<figure><img src="data:image/png;base64,${fs.readFileSync(image).toString('base64')}"><figcaption>${escape(caption)}</figcaption></figure>`)
		.join('');
	const page = await browser.newPage();
	await page.setViewportSize({ width: columns * (cell + 16) + 16, height: 200 });
	await page.setContent(
		`<!doctype html><html><head><style>
			body{margin:0;padding:8px;background:#fff;font:13px system-ui,sans-serif;color:#333}
			main{display:grid;grid-template-columns:repeat(${columns},${cell}px);gap:8px 16px;padding:0 8px}
			figure{margin:0} img{width:${cell}px;border:1px solid #ddd;display:block} figcaption{padding:4px 0 0}
		</style></head><body><main>${figures}</main></body></html>`,
	);
	await page.waitForFunction(() => [...document.images].every((image) => image.complete));
	await page.locator('main').screenshot({ path: file });
	await page.close();
}

main().then(
	(code) => process.exit(code),
	(error) => {
		process.stderr.write(`${error.stack || error}\n`);
		process.exit(2);
	},
);
