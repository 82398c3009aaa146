// @ts-check
'use strict';
/**
 * Debian's Chromium through playwright-core, as this closed network needs it (`apt-get install
 * chromium`; PLAYWRIGHT_CORE=<dir> loads another playwright-core, CHROMIUM=<path> another browser):
 * headless, no sandbox, no GPU, and none of the background networking Chromium otherwise keeps
 * retrying against hosts this network refuses. A fresh profile each launch.
 */
const fs = require('fs');

const CHROMIUM_FLAGS = [
	'--headless',
	'--no-sandbox',
	'--disable-gpu',
	'--disable-quic',
	'--no-first-run',
	'--disable-background-networking',
	'--disable-component-update',
	'--disable-sync',
];

/**
 * @param {{viewport?: {width: number, height: number}, profilePrefix?: string}} [o]
 * @returns {Promise<import('playwright-core').BrowserContext>}
 */
async function launchChromium(o = {}) {
	// eslint-disable-next-line @typescript-eslint/no-require-imports
	const { chromium } = require(process.env.PLAYWRIGHT_CORE || 'playwright-core');
	const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
	if (!fs.existsSync(executablePath)) throw new Error(`no Chromium at ${executablePath}: apt-get install -y chromium (or set CHROMIUM=<path>)`);
	// launchPersistentContext is playwright's way to pass --user-data-dir.
	return await chromium.launchPersistentContext(fs.mkdtempSync(o.profilePrefix ?? '/tmp/chromium-profile-'), {
		executablePath,
		headless: true,
		args: CHROMIUM_FLAGS.filter((flag) => flag !== '--headless'),
		viewport: o.viewport ?? { width: 1600, height: 1000 },
	});
}

/**
 * Signs in to n8n's editor.
 * @param {import('playwright-core').Page} page
 * @param {{base: string, email: string, password: string}} o
 */
async function signIn(page, o) {
	await page.goto(`${o.base}/signin`);
	await page.locator('input[type="email"], input[name="emailOrLdapLoginId"]').first().fill(o.email);
	await page.locator('input[type="password"]').first().fill(o.password);
	await page.locator('[data-test-id="form-submit-button"], button[type="submit"]').first().click();
	await page.waitForURL((url) => !url.pathname.startsWith('/signin'), { timeout: 30_000 });
}

module.exports = { CHROMIUM_FLAGS, launchChromium, signIn };
