#!/usr/bin/env node
// @ts-check
'use strict';
/**
 * A real-browser look at Run With Tenant Credential in the editor of a running `npm run dev`
 * (not part of npm test). Needs Debian's chromium and playwright-core (PLAYWRIGHT_CORE=<dir> if it is
 * not a devDependency here):
 *
 *   npm run dev -- --port 5691          # in another shell, prints the workflow IDs
 *   node scripts/editor-check.js --base http://127.0.0.1:5691 --workflow <Run With Tenant Credential example ID>
 *
 * Signs in as dev's owner, opens the example, reads the node panel's hints and Retention, calls the
 * webhook once with a tenant and once without a Tenant ID, opens both executions, and saves
 * screenshots into --out (default /tmp/editor-check). Prints what it read; exits 1 when a check fails.
 */
const fs = require('fs');
const path = require('path');

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { chromium } = require(process.env.PLAYWRIGHT_CORE || 'playwright-core');

const FLAGS = [
	'--headless',
	'--no-sandbox',
	'--disable-gpu',
	'--disable-quic',
	'--no-first-run',
	'--disable-background-networking',
	'--disable-component-update',
	'--disable-sync',
];
const NODE = 'Run With Tenant Credential';

/** @param {string[]} argv */
function parseArgs(argv) {
	/** @type {Record<string, string>} */
	const args = { out: '/tmp/editor-check', email: 'owner@tenant-swap.test', password: 'Tenant-Swap-Passw0rd', path: 'tenant-run' };
	for (let i = 0; i < argv.length; i += 2) args[argv[i].replace(/^--/, '')] = argv[i + 1];
	if (!args.base || !args.workflow) throw new Error('usage: node scripts/editor-check.js --base <editor URL> --workflow <ID> [--out dir]');
	return args;
}

async function main() {
	const args = parseArgs(process.argv.slice(2));
	fs.mkdirSync(args.out, { recursive: true });
	const started = Date.now();
	/** @type {Array<[string, boolean, string]>} */
	const checks = [];
	const check = (/** @type {string} */ name, /** @type {boolean} */ ok, detail = '') => {
		checks.push([name, ok, detail]);
		process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}\n`);
	};
	const browser = await chromium.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		args: [...FLAGS, `--user-data-dir=${fs.mkdtempSync('/tmp/editor-check-profile-')}`],
	});
	try {
		const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
		const shot = async (/** @type {string} */ name) => page.screenshot({ path: path.join(args.out, `${name}.png`) });

		await page.goto(`${args.base}/signin`);
		await page.locator('input[type="email"], input[name="emailOrLdapLoginId"]').first().fill(args.email);
		await page.locator('input[type="password"]').first().fill(args.password);
		await page.locator('[data-test-id="form-submit-button"], button[type="submit"]').first().click();
		await page.waitForURL((url) => !url.pathname.startsWith('/signin'), { timeout: 30_000 });

		await page.goto(`${args.base}/workflow/${args.workflow}`);
		const node = page.locator(`[data-test-id="canvas-node"][data-node-name="${NODE}"]`);
		await node.waitFor({ timeout: 60_000 });
		await page.keyboard.press('Escape').catch(() => undefined);
		await shot('1-canvas');
		const canvasText = await page.locator('body').innerText();
		check('the canvas note does not ask to import what is imported', !/import examples\/run-with-tenant-credential-sub-workflow\.json first, then pick/.test(canvasText));

		await node.dblclick();
		const ndv = page.locator('[data-test-id="ndv"]');
		await ndv.waitFor({ timeout: 30_000 });
		await page.waitForTimeout(1500);
		await shot('2-node-panel');
		const panel = await ndv.innerText();
		check('Sub-Workflow shows the sub-workflow by name (From List)', panel.includes('Call Tenant API (sub-workflow of Run With Tenant Credential)'));

		// Hints are tooltips on the parameter labels.
		await ndv.getByText('Lock Backend', { exact: true }).first().hover();
		await page.waitForTimeout(800);
		await shot('3-lock-backend-hint');
		const lockHint = await page.locator('.el-popper, [role="tooltip"]').allInnerTexts();
		const lockText = lockHint.join(' | ');
		check("the Lock Backend hint is this node's (registry of tenant credentials)", /registry of tenant credentials/.test(lockText), lockText.slice(0, 200));
		check("the Lock Backend hint is not the swap's", !/Release Lock must use the same backend/.test(lockText));

		const retention = ndv.locator('[data-test-id="parameter-input-retention"] input, [data-test-id="parameter-input-options.retention"] input').first();
		await retention.scrollIntoViewIfNeeded();
		await shot('4-retention');
		const retentionValue = await retention.inputValue();
		check('Retention shows 168, not 168.000', retentionValue === '168', `"${retentionValue}"`);
		await page.keyboard.press('Escape');

		// One call with a tenant, one without a Tenant ID.
		const call = async (/** @type {unknown} */ body) => {
			const response = await fetch(`${args.base}/webhook/${args.path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
			return { status: response.status, text: await response.text() };
		};
		const ok = await call({ tenantId: 'acme', secret: 'acme-secret-1' });
		check('a call with a tenant succeeds', ok.status === 200, `${ok.status} ${ok.text.slice(0, 160)}`);
		const missing = await call({ secret: 'acme-secret-1' });
		check('a call without a Tenant ID fails', missing.status >= 400, `${missing.status}`);

		await page.goto(`${args.base}/workflow/${args.workflow}/executions`);
		await page.waitForTimeout(4000);
		await shot('5-executions');
		// The newest execution (the failed one) is open in the preview: open the node's output there.
		const preview = page.frameLocator('iframe').first();
		const previewNode = preview.locator(`[data-test-id="canvas-node"][data-node-name="${NODE}"]`);
		await previewNode.waitFor({ timeout: 30_000 });
		await previewNode.dblclick();
		await page.waitForTimeout(2500);
		await shot('6-failed-execution-node');
		const failedText = await preview.locator('body').innerText();
		check('a missing Tenant ID says it is missing and how to map it', /Tenant ID is missing/.test(failedText) && /drag the field/.test(failedText), failedText.match(/Tenant ID[^\n]*/)?.[0] ?? '');
		check('a missing Tenant ID does not say "must be text"', !/must be text/.test(failedText));

		// The successful one: its output must not link a sub-execution n8n did not keep.
		const rows = page.locator('[data-test-id="execution-list-item"], .execution-card, [class*="executionCard"]');
		if ((await rows.count()) >= 2) {
			await rows.nth(1).click();
			await page.waitForTimeout(3000);
			const okNode = page.frameLocator('iframe').first().locator(`[data-test-id="canvas-node"][data-node-name="${NODE}"]`);
			await okNode.dblclick();
			await page.waitForTimeout(2500);
			const frame = page.frameLocator('iframe').first();
			await frame.locator('[data-test-id="ndv"]').getByText('Table', { exact: true }).first().click().catch(() => undefined);
			await page.waitForTimeout(1000);
			await shot('7-successful-execution-node');
			const links = await frame.locator('[data-test-id="debug-sub-execution"], [data-test-id="related-execution-link"]').count();
			check('no link to a sub-execution n8n did not keep (Save Successful Sub-Executions off)', links === 0, `${links} links`);
		} else {
			check('found the successful execution in the list', false, `${await rows.count()} rows`);
		}
	} finally {
		await browser.close();
	}
	process.stdout.write(`${checks.filter((c) => c[1]).length}/${checks.length} checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${args.out}\n`);
	return checks.every((c) => c[1]) ? 0 : 1;
}

main().then(
	(code) => process.exit(code),
	(error) => {
		process.stderr.write(`${error.stack || error}\n`);
		process.exit(2);
	},
);
