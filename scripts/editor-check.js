#!/usr/bin/env node
// @ts-check
'use strict';
/**
 * A real-browser look at Run With Tenant Credential in the editor of a running `npm run dev`
 * (not part of npm test). Needs Debian's chromium (`apt-get install chromium`); playwright-core is a devDependency
 * (PLAYWRIGHT_CORE=<dir> loads another copy):
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
const { launchChromium, signIn } = require('./lib/chromium');

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
	const browser = await launchChromium({ profilePrefix: '/tmp/editor-check-profile-' });
	try {
		const page = browser.pages()[0] ?? (await browser.newPage());
		const shot = async (/** @type {string} */ name) => page.screenshot({ path: path.join(args.out, `${name}.png`) });

		await signIn(page, { base: args.base, email: args.email, password: args.password });

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
		const subWorkflowShown = await ndv.locator('[data-test-id="resource-locator-input"] input, [data-test-id="rlc-input"] input, input').evaluateAll((inputs) =>
			inputs.map((input) => /** @type {HTMLInputElement} */ (input).value).find((value) => value.startsWith('Call Tenant API')),
		);
		check('Sub-Workflow shows the sub-workflow by name (From List)', subWorkflowShown === 'Call Tenant API (sub-workflow of Run With Tenant Credential)', String(subWorkflowShown));

		// A hint is the tooltip of the (?) icon that hovering a parameter's label shows.
		const hintOf = async (/** @type {string} */ parameter) => {
			const label = ndv.locator(`label[for="${parameter}"]`).first();
			await label.scrollIntoViewIfNeeded();
			await label.hover();
			await label.locator('[data-icon="circle-help"]').hover();
			await page.waitForTimeout(800);
			return (await page.locator('[role="tooltip"], [data-reka-popper-content-wrapper], .el-popper').allInnerTexts()).join(' | ');
		};
		const lockText = await hintOf('lockBackend');
		await shot('3-lock-backend-hint');
		check("the Lock Backend hint is this node's (registry of tenant credentials)", /registry of tenant credentials/.test(lockText), lockText.slice(0, 200));
		check("the Lock Backend hint is not the swap's", !/Release Lock must use the same backend/.test(lockText));

		const retentionHint = await hintOf('retention').catch(() => '');
		check('Retention has its hint', /How long a tenant credential is kept/.test(retentionHint));
		const retention = ndv.locator('[data-test-id="parameter-input-retention"] input, [data-test-id="parameter-input-options.retention"] input').first();
		await retention.scrollIntoViewIfNeeded();
		await shot('4-retention');
		const retentionValue = await retention.inputValue();
		check('Retention shows 168, not 168.000', retentionValue === '168', `"${retentionValue}"`);
		await page.keyboard.press('Escape');

		// Three calls: a tenant, no Tenant ID, and a secret too long for a request header (the stand-in
		// tenant API answers 431): the sub-execution fails inside the sub-workflow.
		const seen = new Set();
		const newExecutions = async () => {
			const url = `${args.base}/rest/executions?filter=${encodeURIComponent(JSON.stringify({ workflowId: args.workflow }))}&limit=50`;
			// The editor's own session: n8n's REST API wants the cookie and the browser-id header.
			const body = await page.evaluate(async (target) => {
				const response = await fetch(target, { headers: { 'browser-id': localStorage.getItem('n8n-browserId') || '' } });
				return response.json();
			}, url);
			/** @type {Array<{id: string, status: string, mode: string}>} */
			const results = body.data?.results ?? [];
			const fresh = results.filter((execution) => !seen.has(execution.id));
			for (const execution of results) seen.add(execution.id);
			return fresh;
		};
		await newExecutions();
		const call = async (/** @type {unknown} */ body) => {
			const response = await fetch(`${args.base}/webhook/${args.path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
			const text = await response.text();
			await page.waitForTimeout(1500);
			return { status: response.status, text, executions: await newExecutions() };
		};
		const ok = await call({ tenantId: 'acme', secret: 'acme-secret-1' });
		check('a call with a tenant succeeds', ok.status === 200, `${ok.status} ${ok.text.slice(0, 160)}`);
		check('n8n keeps no successful sub-execution (Save Successful Sub-Executions off)', ok.executions.length === 1, JSON.stringify(ok.executions));
		const missing = await call({ secret: 'acme-secret-1' });
		check('a call without a Tenant ID fails', missing.status >= 400, `${missing.status}`);
		const broken = await call({ tenantId: 'globex', secret: 'x'.repeat(20_000) });
		check('a call whose sub-execution fails fails', broken.status >= 400, `${broken.status}; new executions ${JSON.stringify(broken.executions)}`);

		/** Opens an execution's preview and the node's panel in it. */
		const openNodeIn = async (/** @type {string} */ executionId, /** @type {string} */ name) => {
			await page.goto(`${args.base}/workflow/${args.workflow}/executions/${executionId}`);
			// n8n 2.40.7 shows the execution's canvas in the page itself (no iframe).
			const frame = page;
			const canvasNode = frame.locator(`[data-test-id="canvas-node"][data-node-name="${NODE}"]`);
			await canvasNode.waitFor({ timeout: 30_000 });
			await canvasNode.dblclick();
			await page.waitForTimeout(2500);
			await shot(name);
			return frame;
		};
		const textOf = async (/** @type {any} */ frame) => frame.locator('body').innerText();

		const successRun = ok.executions.find((execution) => execution.mode === 'webhook');
		if (successRun) {
			const frame = await openNodeIn(successRun.id, '5-successful-execution-node');
			await frame.getByText('Table', { exact: true }).first().click().catch(() => undefined);
			await page.waitForTimeout(1000);
			await shot('5b-successful-execution-table');
			const links = await frame.locator('[data-test-id="debug-sub-execution"], [data-test-id="related-execution-link"]').count();
			check('no link to a sub-execution n8n did not keep', links === 0, `${links} links`);
		}
		const missingRun = missing.executions.find((execution) => execution.mode === 'webhook');
		if (missingRun) {
			const text = await textOf(await openNodeIn(missingRun.id, '6-missing-tenant-id'));
			check('a missing Tenant ID says it is missing and how to map it', /Tenant ID is missing/.test(text) && /drag the field/.test(text), text.match(/Tenant ID is[^\n]*/)?.[0] ?? '');
			check('a missing Tenant ID does not say "must be text"', !/must be text/.test(text));
		}
		const brokenRun = broken.executions.find((execution) => execution.mode === 'webhook');
		const brokenSub = broken.executions.find((execution) => execution !== brokenRun);
		if (brokenRun) {
			const frame = await openNodeIn(brokenRun.id, '7-failed-sub-execution');
			const text = await textOf(frame);
			check('the failure says where the failed sub-execution is listed', /this workflow's Executions list/.test(text), text.match(/To see what happened[^\n]*/)?.[0] ?? '');
			check('the failure names the sub-execution n8n kept', Boolean(brokenSub && text.includes(`execution ${brokenSub.id}`)), brokenSub?.id ?? 'no sub-execution listed');
			const link = frame.locator('[data-test-id="related-execution-link"]').first();
			const href = (await link.count()) > 0 ? await link.getAttribute('href') : null;
			check("the node's output links the failed sub-execution", Boolean(href && brokenSub && href.includes(`/executions/${brokenSub.id}`)), String(href));
			if (href) {
				await page.goto(new URL(href, args.base).toString());
				await page.locator('[data-test-id="canvas-node"]').first().waitFor({ timeout: 60_000 }).catch(() => undefined);
				await page.waitForTimeout(1500);
				await shot('8-linked-sub-execution');
				const linked = await page.locator('body').innerText();
				const nodes = await page.locator('[data-test-id="canvas-node"]').evaluateAll((all) => all.map((node) => node.getAttribute('data-node-name')));
				check('the link opens the sub-execution (not "Could not find execution")', !/Could not find execution/i.test(linked) && nodes.includes('Call Tenant API'), nodes.join(', '));
			}
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
