#!/usr/bin/env node
// @ts-check
'use strict';
/**
 * node scripts/scan.js
 *
 * Runs n8n's own static analyser for community packages (@n8n/scan-community-package, the check
 * behind n8n's community package verification) on this package, offline:
 *
 * 1. installs the scanner once into a cache folder outside the repository
 *    (`~/.cache/n8n-nodes-tenant-credential-swap/scanner`, or `$TENANT_SWAP_CACHE_DIR/scanner`);
 *    `--ignore-scripts` because a dependency of it (isolated-vm) wants Node 24 and a native build;
 * 2. builds (`npm run build`) and packs the package (`npm pack`) into a temporary folder and unpacks
 *    the tarball, as the scanner's CLI does with a registry package;
 * 3. calls the scanner's exported `analyzePackage(dir, patterns?)` (scanner/scanner.mjs) on
 *    - the unpacked tarball, with its default patterns (every .js, .ts and .json file), and
 *    - the source (`SOURCE_FILE_PATTERNS`: package.json, nodes/ and credentials/), which is what the
 *      CLI lints in the provenance-attested source checkout of a published version;
 * 4. prints every finding, each with the reason when it is in ALLOWED below.
 *
 * `analyzePackage` answers `{ passed, message, details }`, where `details` is ESLint's "stylish"
 * text. To judge findings one by one, this script lints the same files again with the scanner's
 * own exported config (`buildScanConfig`) and ESLint options, and checks that it found exactly as
 * many errors and warnings as the scanner reported.
 *
 * Exit code: 0 when every finding is allowed, 1 when one is not, 2 when the scan could not run.
 */
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { createRequire } = require('node:module');
const { pathToFileURL } = require('node:url');

const SCANNER = '@n8n/scan-community-package';
const SCANNER_VERSION = '0.32.0';
const REPO_ROOT = path.resolve(__dirname, '..');
const CACHE_DIR = process.env.TENANT_SWAP_CACHE_DIR
	? path.resolve(process.env.TENANT_SWAP_CACHE_DIR)
	: path.join(os.homedir(), '.cache', 'n8n-nodes-tenant-credential-swap');
const SCANNER_DIR = path.join(CACHE_DIR, 'scanner');

/**
 * Findings this package has on purpose. Each one names the rule, the files (a regular expression
 * on the path relative to the scanned folder, `/` separators), optionally the message, and why the
 * package needs it. The reasons are the ones in eslint.config.mjs, where the same rules yield.
 * Anything not matched here fails the scan.
 *
 * @type {{ rule: string, file: RegExp, message?: RegExp, reason: string }[]}
 */
const ALLOWED = [
	// --- package.json
	{
		rule: '@n8n/community-nodes/no-runtime-dependencies',
		file: /^package\.json$/,
		reason:
			"`pg` and `ioredis` are the lock stores' drivers: a shared lock needs a connection, and the community " +
			'nodes panel installs runtime dependencies (n8n Cloud does not, so this package is for self-hosted n8n, ' +
			'which is who needs it).',
	},
	// --- the lock stores' drivers
	{
		rule: '@n8n/community-nodes/no-restricted-imports',
		file: /^(dist\/)?nodes\/shared\/lock\/(postgresPool|postgres\/\w+|RedisLockEngine|registry|redis\/\w+)\.(js|ts|d\.ts)$/,
		message: /'(pg|ioredis)'/,
		reason: "The lock stores' drivers (`pg`, `ioredis`: the runtime dependencies above), imported only by the lock engines, the pool and the engine registry.",
	},
	// --- timers and process.env
	{
		rule: '@n8n/community-nodes/no-restricted-globals',
		file: /^(dist\/)?nodes\/shared\/lock\/(waiting|MemoryLockEngine|postgres\/statements)\.(js|ts)$/,
		message: /'(setTimeout|clearTimeout)'/,
		reason:
			"Timers: waiters sleep until the lease ends OR a release wakes them; n8n-workflow's `sleep` cannot be cut " +
			"short (and 2.40's n8n-workflow has no sleepWithAbort).",
	},
	{
		rule: '@n8n/community-nodes/no-restricted-globals',
		file: /^(dist\/)?nodes\/shared\/lock\/registry\.(js|ts)$/,
		message: /'process'/,
		reason:
			'Reads `process.env.EXECUTIONS_MODE` to refuse the in-memory lock in queue mode, where it would not protect anything, ' +
			"and the deployment's Redis replica wait (`TENANT_SWAP_REDIS_WAIT_REPLICAS`, `TENANT_SWAP_REDIS_WAIT_TIMEOUT_MS`).",
	},
	// --- n8n's own `postgres` credential
	{
		rule: '@n8n/community-nodes/no-credential-reuse',
		file: /^nodes\/(TenantCredentialSwap\/TenantCredentialSwap|TenantLockRelease\/TenantLockRelease|RunWithTenantCredential\/RunWithTenantCredential|TenantOAuth2Connect\/TenantOAuth2Connect|TenantOAuth2ConnectTrigger\/TenantOAuth2ConnectTrigger)\.node\.ts$/,
		message: /credential "(postgres|redis)"/,
		reason:
			"The lock store is configured with n8n's own `postgres` (or, for the Redis backend, `redis`) credential, on " +
			'purpose: users already have one, with its SSL/TLS settings, and must not re-enter database secrets.',
	},
	{
		rule: '@n8n/community-nodes/valid-credential-references',
		file: /^nodes\/(TenantCredentialSwap\/TenantCredentialSwap|TenantLockRelease\/TenantLockRelease|RunWithTenantCredential\/RunWithTenantCredential|TenantOAuth2Connect\/TenantOAuth2Connect|TenantOAuth2ConnectTrigger\/TenantOAuth2ConnectTrigger)\.node\.ts$/,
		message: /Credential "(postgres|redis)"/,
		reason: "The same reuse of n8n's own `postgres` / `redis` credential types, which n8n itself defines (n8n-nodes-base), not this package.",
	},
	{
		rule: 'n8n-nodes-base/node-class-description-credentials-name-unsuffixed',
		file: /^nodes\/(TenantCredentialSwap\/TenantCredentialSwap|TenantLockRelease\/TenantLockRelease|RunWithTenantCredential\/RunWithTenantCredential|TenantOAuth2Connect\/TenantOAuth2Connect|TenantOAuth2ConnectTrigger\/TenantOAuth2ConnectTrigger)\.node\.ts$/,
		reason: "The same reuse of n8n's own `postgres` credential type, whose name n8n chose without an `Api` suffix.",
	},
	// --- n8n's own generic OAuth2 credential: the tenants' app
	{
		rule: '@n8n/community-nodes/no-credential-reuse',
		file: /^nodes\/TenantOAuth2ConnectTrigger\/TenantOAuth2ConnectTrigger\.node\.ts$/,
		message: /credential "oAuth2Api"/,
		reason:
			"The app tenants connect to is n8n's own generic OAuth2 credential (`oAuth2Api`), on purpose: the tenants' credentials " +
			'are of that type, so n8n itself refreshes their tokens.',
	},
	{
		rule: '@n8n/community-nodes/valid-credential-references',
		file: /^nodes\/TenantOAuth2ConnectTrigger\/TenantOAuth2ConnectTrigger\.node\.ts$/,
		message: /Credential "oAuth2Api"/,
		reason: "The same reuse of n8n's own `oAuth2Api` credential type, which n8n itself defines.",
	},
	{
		rule: '@n8n/community-nodes/webhook-lifecycle-complete',
		file: /^nodes\/TenantOAuth2ConnectTrigger\/TenantOAuth2ConnectTrigger\.node\.ts$/,
		reason: "The trigger's webhooks are n8n's own URLs the tenants' browsers open: nothing is registered at a third party, so there is nothing to create, check or delete.",
	},
	// --- errors from shared code
	{
		rule: '@n8n/community-nodes/require-node-api-error',
		file: /^nodes\/shared\/(lock|swap|tenantCredentials|tenantOAuth|transport)\/((postgres|redis)\/)?[^/]+\.ts$/,
		reason:
			'Shared domain code has no node to attach: it throws typed errors (LockTimeoutError, N8nApiError, ' +
			'SwapItemError), which the nodes turn into NodeOperationError per item.',
	},
	// --- the credential test
	{
		rule: '@n8n/community-nodes/no-deprecated-workflow-functions',
		file: /^(dist\/)?nodes\/shared\/transport\/credentialTest\.(js|ts)$/,
		message: /'request'/,
		reason: 'Credential test functions get only `helpers.request` from n8n (ICredentialTestFunctions): there is no httpRequest there.',
	},
	// --- the n8n API credential
	{
		rule: 'n8n-nodes-base/cred-class-field-display-name-miscased',
		file: /^credentials\/TenantSwapN8nApi\.credentials\.ts$/,
		reason: 'The display name "Tenant Swap n8n API" keeps n8n\'s own spelling of its product name (the rule wants "N8n").',
	},
	{
		rule: '@n8n/community-nodes/credential-password-field',
		file: /^credentials\/TenantSwapN8nApi\.credentials\.ts$/,
		message: /'allowUnauthorizedCerts'/,
		reason: 'A false positive: `allowUnauthorizedCerts` is a boolean switch ("Ignore SSL Issues"), not a secret.',
	},
];

/** @param {string} line */
function progress(line) {
	process.stderr.write(`[scan] ${line}\n`);
}

/**
 * @param {string} command
 * @param {string[]} args
 * @param {string} cwd
 */
function run(command, args, cwd) {
	return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
}

function scannerPackageDir() {
	return path.join(SCANNER_DIR, 'node_modules', ...SCANNER.split('/'));
}

function installedScannerVersion() {
	try {
		return JSON.parse(fs.readFileSync(path.join(scannerPackageDir(), 'package.json'), 'utf8')).version;
	} catch {
		return undefined;
	}
}

function ensureScanner() {
	if (installedScannerVersion() === SCANNER_VERSION) return;
	progress(`installing ${SCANNER}@${SCANNER_VERSION} into ${SCANNER_DIR}`);
	fs.mkdirSync(SCANNER_DIR, { recursive: true });
	run(
		'npm',
		['install', '--ignore-scripts', '--no-save', '--no-audit', '--no-fund', '--prefix', SCANNER_DIR, `${SCANNER}@${SCANNER_VERSION}`],
		SCANNER_DIR,
	);
	const version = installedScannerVersion();
	if (version !== SCANNER_VERSION) throw new Error(`${SCANNER} ${version ?? '(missing)'} installed, expected ${SCANNER_VERSION}`);
}

/** Builds, packs into `workDir` and unpacks; returns the unpacked package folder. */
function buildPackAndUnpack(/** @type {string} */ workDir) {
	progress('npm run build');
	run('npm', ['run', 'build'], REPO_ROOT);
	progress('npm pack');
	// The build just ran: --ignore-scripts skips `prepack`, which would build a second time.
	const packed = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', workDir], REPO_ROOT));
	const tarball = path.join(workDir, packed[0].filename);
	const packageDir = path.join(workDir, 'package');
	fs.mkdirSync(packageDir);
	run('tar', ['-xzf', tarball, '-C', packageDir, '--strip-components=1'], workDir);
	progress(`unpacked ${path.basename(tarball)} (${packed[0].entryCount} files)`);
	return packageDir;
}

/**
 * @typedef {{ leg: string, file: string, line: number, column: number, severity: 'error' | 'warning', rule: string, message: string, allowedBy?: typeof ALLOWED[number] }} Finding
 */

/**
 * The same lint as analyzePackage (same config, options and file list), with structured results.
 * @param {any} scanner the scanner module
 * @param {string} leg
 * @param {string} dir
 * @param {string[]} patterns
 * @returns {Promise<Finding[]>}
 */
async function lintStructured(scanner, leg, dir, patterns) {
	const requireFromScanner = createRequire(path.join(scannerPackageDir(), 'scanner', 'scanner.mjs'));
	const { ESLint } = await import(pathToFileURL(requireFromScanner.resolve('eslint')).href);
	const glob = (await import(pathToFileURL(requireFromScanner.resolve('fast-glob')).href)).default;
	const eslint = new ESLint({
		cwd: dir,
		allowInlineConfig: false,
		overrideConfigFile: true,
		overrideConfig: await scanner.buildScanConfig(),
	});
	const files = glob.sync(patterns, { cwd: dir, absolute: true, ignore: ['node_modules/**', '**/package-lock.json'] });
	if (files.length === 0) return [];
	/** @type {Finding[]} */
	const findings = [];
	for (const result of await eslint.lintFiles(files)) {
		for (const m of result.messages) {
			const file = path.relative(dir, result.filePath).split(path.sep).join('/');
			const rule = m.ruleId ?? '(parser)';
			findings.push({
				leg,
				file,
				line: m.line ?? 0,
				column: m.column ?? 0,
				severity: m.severity === 2 ? 'error' : 'warning',
				rule,
				message: m.message,
				allowedBy: ALLOWED.find((a) => a.rule === rule && a.file.test(file) && (!a.message || a.message.test(m.message))),
			});
		}
	}
	return findings;
}

/** Counts in the stylish summary line, e.g. "✖ 7 problems (6 errors, 1 warning)". */
function stylishCounts(/** @type {string | undefined} */ details) {
	const m = /(\d+) problems? \((\d+) errors?, (\d+) warnings?\)/.exec(details ?? '');
	return m ? { errors: Number(m[2]), warnings: Number(m[3]) } : { errors: 0, warnings: 0 };
}

async function main() {
	ensureScanner();
	const scannerFile = path.join(scannerPackageDir(), 'scanner', 'scanner.mjs');
	// The scanner makes a temporary folder when it loads; have its `tmp` remove it at exit.
	const requireFromScanner = createRequire(scannerFile);
	requireFromScanner('tmp').setGracefulCleanup();
	const scanner = await import(pathToFileURL(scannerFile).href);
	if (typeof scanner.analyzePackage !== 'function' || typeof scanner.buildScanConfig !== 'function') {
		throw new Error(`${scannerFile} does not export analyzePackage and buildScanConfig`);
	}

	const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenant-swap-scan-'));
	try {
		const packageDir = buildPackAndUnpack(workDir);
		const legs = [
			{ leg: 'tarball', dir: packageDir, patterns: ['**/*.js', '**/*.ts', '**/*.json'], call: () => scanner.analyzePackage(packageDir) },
			{
				leg: 'source',
				dir: REPO_ROOT,
				patterns: scanner.SOURCE_FILE_PATTERNS,
				call: () => scanner.analyzePackage(REPO_ROOT, scanner.SOURCE_FILE_PATTERNS),
			},
		];

		/** @type {Finding[]} */
		const all = [];
		let broken = false;
		for (const { leg, dir, patterns, call } of legs) {
			const label = leg === 'tarball' ? `the packed tarball (${patterns.join(', ')})` : `the source (${patterns.join(', ')})`;
			progress(`analyzePackage: ${label}`);
			const result = await call();
			const findings = await lintStructured(scanner, leg, dir, patterns);
			all.push(...findings);
			const reported = stylishCounts(result.details);
			const errors = findings.filter((f) => f.severity === 'error').length;
			const warnings = findings.length - errors;
			process.stdout.write(
				`${SCANNER}@${SCANNER_VERSION} analyzePackage, ${label}: ${result.passed ? 'passed' : 'failed'}` +
					`${result.message ? ` (${result.message})` : ''}; ${errors} error(s), ${warnings} warning(s)\n`,
			);
			if (result.error || /^Analysis failed/.test(result.message ?? '')) {
				process.stdout.write(`  the scanner could not analyse ${label}: ${result.message}\n`);
				broken = true;
			} else if (result.passed ? errors !== 0 : reported.errors !== errors || reported.warnings !== warnings) {
				process.stdout.write(
					`  the scanner reported ${reported.errors} error(s) and ${reported.warnings} warning(s), this script found ${errors} and ${warnings}: cannot judge the findings\n`,
				);
				broken = true;
			}
		}

		for (const f of all) {
			const where = `[${f.leg}] ${f.file}:${f.line}:${f.column}`;
			const verdict = f.allowedBy ? `allowed: ${f.allowedBy.reason}` : 'NOT ALLOWED';
			process.stdout.write(`${where}  ${f.severity}  ${f.rule}  ${f.message}\n    -> ${verdict}\n`);
		}
		const unused = ALLOWED.filter((a) => !all.some((f) => f.allowedBy === a));
		for (const a of unused) {
			process.stdout.write(`note: allowlist entry for ${a.rule} (${a.file}) matched nothing in this scan\n`);
		}
		const notAllowed = all.filter((f) => !f.allowedBy);
		process.stdout.write(
			`${all.length} finding(s): ${all.length - notAllowed.length} allowed, ${notAllowed.length} not allowed\n`,
		);
		if (broken) return 2;
		return notAllowed.length > 0 ? 1 : 0;
	} finally {
		fs.rmSync(workDir, { recursive: true, force: true });
	}
}

main().then(
	(code) => process.exit(code),
	(error) => {
		process.stderr.write(`[scan] failed: ${error && error.stack ? error.stack : error}\n`);
		process.exit(2);
	},
);
