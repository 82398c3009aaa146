// @ts-check
'use strict';
/**
 * Installs (once, into a cache folder shared by every run) the Node 24 binary and the
 * n8n release the end-to-end tests run against.
 *
 * Layout (reused by every run and every checkout):
 *   <cache>/node-24/node_modules/node-<platform>-<arch>/bin/node   Node 24 from the npm registry
 *   <cache>/n8n-<version>/node_modules/n8n/bin/n8n                 n8n, `npm install --ignore-scripts`
 *   <cache>/n8n-<version>/node_modules/sqlite3/build/Release/…      rebuilt against Node 24's headers
 *   <cache>/<dir>/.complete                                         marker: install finished and checked
 *   <cache>/<dir>/install.log                                       npm's output, ends with `EXIT <code>`
 *   <cache>/.install.lock/                                          held while a process installs
 *
 * <cache> = $TENANT_SWAP_CACHE_DIR or ~/.cache/n8n-nodes-tenant-credential-swap.
 * Only the npm registry is contacted (sqlite3 is built from source, never downloaded).
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, spawnSync } = require('child_process');

const N8N_VERSION = '2.40.7';
const NODE_MAJOR = 24;
const NODE_PACKAGE = `node-${process.platform}-${process.arch}`;
/** A lock whose heartbeat is older than this is taken over. */
const LOCK_STALE_MS = 2 * 60 * 1000;
/** An install.log without an EXIT line that has not changed for this long is abandoned. */
const FOREIGN_INSTALL_STALE_MS = 10 * 60 * 1000;
const PROGRESS_EVERY_MS = 15 * 1000;
const HARNESS_TAG = '#tenant-swap-harness';

/**
 * @typedef {object} InstallResult
 * @property {string} nodeBin  absolute path of the Node 24 binary
 * @property {string} n8nBin   absolute path of n8n's bin script (run it as `nodeBin n8nBin start`)
 * @property {string} nodeDir  the node-<platform>-<arch> package folder (headers, bin)
 * @property {string} n8nDir   the folder holding node_modules/n8n
 * @property {string} cacheRoot
 * @property {string} n8nVersion
 */

/**
 * @typedef {object} InstallOptions
 * @property {(line: string) => void} [onProgress] receives progress lines (default: stderr)
 * @property {string} [cacheRoot] overrides $TENANT_SWAP_CACHE_DIR / the default
 * @property {string} [version] n8n version (default N8N_VERSION; `npm run test:versions` asks for others)
 */

/**
 * n8n before 2.30 depends on an xlsx build outside the npm registry (measured on 2.8.4 and 2.20.12;
 * 2.40.7 and 2.41.1 install plainly): the registry's last xlsx stands in.
 * @param {string} version
 */
function needsXlsxOverride(version) {
	const [major, minor] = version.split('.').map(Number);
	return major < 2 || (major === 2 && minor < 30);
}

/** @returns {string} */
function defaultCacheRoot() {
	return (
		process.env.TENANT_SWAP_CACHE_DIR ||
		path.join(os.homedir(), '.cache', 'n8n-nodes-tenant-credential-swap')
	);
}

/**
 * @param {string} [cacheRoot]
 * @param {string} [version]
 * @returns {InstallResult}
 */
function getPaths(cacheRoot = defaultCacheRoot(), version = N8N_VERSION) {
	const nodeDir = path.join(cacheRoot, `node-${NODE_MAJOR}`, 'node_modules', NODE_PACKAGE);
	const n8nDir = path.join(cacheRoot, `n8n-${version}`);
	return {
		cacheRoot,
		nodeDir,
		nodeBin: path.join(nodeDir, 'bin', 'node'),
		n8nDir,
		n8nBin: path.join(n8nDir, 'node_modules', 'n8n', 'bin', 'n8n'),
		n8nVersion: version,
	};
}

/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Makes sure Node 24 and n8n are installed in the cache; installs what is missing.
 * Safe to call from several processes at once (they wait for each other).
 * @param {InstallOptions} [options]
 * @returns {Promise<InstallResult>}
 */
async function ensureN8nInstalled(options = {}) {
	const log = options.onProgress || ((line) => process.stderr.write(`[n8n-install] ${line}\n`));
	const version = options.version || N8N_VERSION;
	const paths = getPaths(options.cacheRoot || defaultCacheRoot(), version);
	const nodeHome = path.dirname(path.dirname(paths.nodeDir)); // <cache>/node-24
	const nodeMarker = path.join(nodeHome, '.complete');
	const n8nMarker = path.join(paths.n8nDir, '.complete');

	if (fs.existsSync(nodeMarker) && fs.existsSync(n8nMarker)) return paths;

	fs.mkdirSync(paths.cacheRoot, { recursive: true });
	const release = await acquireLock(path.join(paths.cacheRoot, '.install.lock'), log);
	try {
		// Node 24 ------------------------------------------------------------------------------
		if (!fs.existsSync(nodeMarker)) {
			if (!nodeWorks(paths.nodeBin)) await waitForForeignInstall(path.join(nodeHome, 'install.log'), log);
			if (!nodeWorks(paths.nodeBin)) {
				log(`installing ${NODE_PACKAGE}@${NODE_MAJOR} into ${nodeHome}`);
				fs.mkdirSync(nodeHome, { recursive: true });
				writeJsonIfMissing(path.join(nodeHome, 'package.json'), { name: 'node24', private: true });
				await runLogged(
					'npm',
					['install', `${NODE_PACKAGE}@${NODE_MAJOR}`, '--no-audit', '--no-fund', '--ignore-scripts'],
					{ cwd: nodeHome, logFile: path.join(nodeHome, 'install.log'), label: `${NODE_PACKAGE}@${NODE_MAJOR}`, log },
				);
				if (!nodeWorks(paths.nodeBin)) throw new Error(`Node ${NODE_MAJOR} not usable at ${paths.nodeBin}`);
			}
			fs.writeFileSync(nodeMarker, `${new Date().toISOString()}\n`);
		}

		// n8n ------------------------------------------------------------------------------------
		if (!fs.existsSync(n8nMarker)) {
			const logFile = path.join(paths.n8nDir, 'install.log');
			if (!(n8nInstalled(paths) && sqliteWorks(paths))) await waitForForeignInstall(logFile, log);
			if (n8nInstalled(paths) && sqliteWorks(paths)) {
				log(`found a finished n8n@${version} install in ${paths.n8nDir}; marking it complete`);
			} else {
				fs.mkdirSync(paths.n8nDir, { recursive: true });
				writeJsonIfMissing(path.join(paths.n8nDir, 'package.json'), {
					name: 'n8n-runtime',
					private: true,
					...(needsXlsxOverride(version) ? { overrides: { xlsx: '0.18.5' } } : {}),
				});
				if (!n8nInstalled(paths)) {
					log(`installing n8n@${version} into ${paths.n8nDir} (about 4 min, 2.8 GB)`);
					await runLogged(
						'npm',
						['install', `n8n@${version}`, '--ignore-scripts', '--no-audit', '--no-fund', '--save-exact'],
						{ cwd: paths.n8nDir, logFile, label: `n8n@${version}`, log, append: false, writeExit: false },
					);
					if (!n8nInstalled(paths)) throw new Error(`n8n@${version} missing after npm install; see ${logFile}`);
				}
				log('building sqlite3 against the Node 24 headers (about 75 s)');
				await runLogged('npm', ['rebuild', 'sqlite3'], {
					cwd: paths.n8nDir,
					logFile,
					label: 'sqlite3 rebuild',
					log,
					append: true,
					env: {
						npm_config_nodedir: paths.nodeDir,
						// never try prebuild-install's download: build from the Node 24 headers
						npm_config_build_from_source: 'true',
						PATH: `${path.dirname(paths.nodeBin)}${path.delimiter}${process.env.PATH || ''}`,
					},
				});
				if (!sqliteWorks(paths)) throw new Error(`sqlite3 does not load under Node ${NODE_MAJOR}; see ${logFile}`);
			}
			fs.writeFileSync(n8nMarker, `${new Date().toISOString()}\n`);
		}
		return paths;
	} finally {
		release();
	}
}

/** @param {string} file @param {object} json */
function writeJsonIfMissing(file, json) {
	if (!fs.existsSync(file)) fs.writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
}

/** @param {string} nodeBin */
function nodeWorks(nodeBin) {
	if (!fs.existsSync(nodeBin)) return false;
	const r = spawnSync(nodeBin, ['-p', 'process.versions.node'], { encoding: 'utf8' });
	return r.status === 0 && Number(String(r.stdout).split('.')[0]) === NODE_MAJOR;
}

/** @param {InstallResult} paths */
function n8nInstalled(paths) {
	try {
		const pkg = JSON.parse(
			fs.readFileSync(path.join(paths.n8nDir, 'node_modules', 'n8n', 'package.json'), 'utf8'),
		);
		return pkg.version === paths.n8nVersion && fs.existsSync(paths.n8nBin);
	} catch {
		return false;
	}
}

/** @param {InstallResult} paths */
function sqliteWorks(paths) {
	const sqliteDir = path.join(paths.n8nDir, 'node_modules', 'sqlite3');
	if (!fs.existsSync(path.join(sqliteDir, 'build', 'Release', 'node_sqlite3.node'))) return false;
	if (!nodeWorks(paths.nodeBin)) return false;
	const r = spawnSync(paths.nodeBin, ['-e', `require(${JSON.stringify(sqliteDir)})`], { encoding: 'utf8' });
	return r.status === 0;
}

/**
 * An install started by hand (or by an older harness) writes install.log and, when done,
 * a last line `EXIT <code>`. Wait while such a log is still growing.
 * @param {string} logFile
 * @param {(line: string) => void} log
 */
async function waitForForeignInstall(logFile, log) {
	const started = Date.now();
	let lastReport = 0;
	for (;;) {
		let stat;
		try {
			stat = fs.statSync(logFile);
		} catch {
			return;
		}
		const text = fs.readFileSync(logFile, 'utf8');
		if (/(^|\n)EXIT -?\d+\s*$/.test(text)) return;
		// Written by this harness: we hold the lock now, so its writer is gone.
		if (text.includes(HARNESS_TAG)) return;
		if (Date.now() - stat.mtimeMs > FOREIGN_INSTALL_STALE_MS) return;
		if (Date.now() - lastReport >= PROGRESS_EVERY_MS) {
			lastReport = Date.now();
			log(`waiting for another install writing ${logFile} (${Math.round((Date.now() - started) / 1000)} s)`);
		}
		await sleep(2000);
	}
}

/**
 * Runs a command, output to logFile, a progress line every 15 s; rejects on non-zero exit.
 * @param {string} cmd
 * @param {string[]} args
 * @param {{cwd: string, logFile: string, label: string, log: (l: string) => void,
 *          env?: Record<string,string>, append?: boolean, writeExit?: boolean}} o
 * @returns {Promise<void>}
 */
function runLogged(cmd, args, o) {
	return new Promise((resolve, reject) => {
		const fd = fs.openSync(o.logFile, o.append ? 'a' : 'w');
		fs.writeSync(fd, `$ ${cmd} ${args.join(' ')}   (cwd ${o.cwd}, ${new Date().toISOString()}, ${HARNESS_TAG} pid ${process.pid})\n`);
		const env = { ...process.env, ...(o.env || {}) };
		// Settings inherited from an `npm run`/`npm test` that must not steer this install.
		for (const k of Object.keys(env)) {
			if (/^npm_(config_|package_|lifecycle_)/i.test(k) && !(o.env && k in o.env)) delete env[k];
		}
		delete env.NODE_OPTIONS;
		const started = Date.now();
		const child = spawn(cmd, args, { cwd: o.cwd, env, stdio: ['ignore', fd, fd] });
		const timer = setInterval(() => {
			o.log(`${o.label}: still running after ${Math.round((Date.now() - started) / 1000)} s (log: ${o.logFile})`);
		}, PROGRESS_EVERY_MS);
		const finish = (/** @type {number} */ code, /** @type {Error|null} */ err) => {
			clearInterval(timer);
			if (o.writeExit !== false || code !== 0) fs.writeSync(fd, `EXIT ${code}\n`);
			fs.closeSync(fd);
			const secs = Math.round((Date.now() - started) / 1000);
			if (err || code !== 0) {
				reject(new Error(`${o.label} failed (exit ${code}${err ? `, ${err.message}` : ''}) after ${secs} s; see ${o.logFile}`));
			} else {
				o.log(`${o.label}: done in ${secs} s`);
				resolve();
			}
		};
		child.on('error', (err) => finish(-1, err));
		child.on('exit', (code, signal) => finish(code ?? (signal ? 128 : -1), null));
	});
}

/**
 * A lock directory; its owner.json holds pid, host and a heartbeat refreshed every 15 s.
 * A lock whose pid is gone (same host) or whose heartbeat is older than 2 min is taken over.
 * @param {string} dir
 * @param {(line: string) => void} log
 * @returns {Promise<() => void>} release function
 */
async function acquireLock(dir, log) {
	const ownerFile = path.join(dir, 'owner.json');
	const me = { pid: process.pid, host: os.hostname(), since: new Date().toISOString() };
	const started = Date.now();
	let lastReport = 0;
	for (;;) {
		try {
			fs.mkdirSync(dir);
			fs.writeFileSync(ownerFile, JSON.stringify(me));
			break;
		} catch (err) {
			if (/** @type {NodeJS.ErrnoException} */ (err).code !== 'EEXIST') throw err;
		}
		/** @type {{pid?: number, host?: string}} */
		let owner = {};
		let heartbeat = 0;
		try {
			owner = JSON.parse(fs.readFileSync(ownerFile, 'utf8'));
			heartbeat = fs.statSync(ownerFile).mtimeMs;
		} catch {
			try {
				heartbeat = fs.statSync(dir).mtimeMs; // owner.json not written yet
			} catch {
				continue; // released meanwhile
			}
		}
		const deadOwner = owner.pid && owner.host === os.hostname() && !pidAlive(owner.pid);
		if (deadOwner || Date.now() - heartbeat > LOCK_STALE_MS) {
			log(`taking over a stale install lock ${dir} (owner ${JSON.stringify(owner)})`);
			fs.rmSync(dir, { recursive: true, force: true });
			continue;
		}
		if (Date.now() - lastReport >= PROGRESS_EVERY_MS) {
			lastReport = Date.now();
			log(`waiting for pid ${owner.pid ?? '?'} to finish installing (${Math.round((Date.now() - started) / 1000)} s)`);
		}
		await sleep(1000);
	}
	const beat = setInterval(() => {
		const now = new Date();
		try {
			fs.utimesSync(ownerFile, now, now);
		} catch {
			/* ignore */
		}
	}, 15000);
	beat.unref();
	let released = false;
	const onExit = () => release();
	function release() {
		if (released) return;
		released = true;
		clearInterval(beat);
		process.removeListener('exit', onExit);
		try {
			const owner = JSON.parse(fs.readFileSync(ownerFile, 'utf8'));
			if (owner.pid === me.pid && owner.since === me.since) fs.rmSync(dir, { recursive: true, force: true });
		} catch {
			/* ignore */
		}
	}
	process.on('exit', onExit);
	return release;
}

/** @param {number} pid */
function pidAlive(pid) {
	try {
		process.kill(pid, 0);
		return true;
	} catch (err) {
		return /** @type {NodeJS.ErrnoException} */ (err).code === 'EPERM';
	}
}

module.exports = { ensureN8nInstalled, getPaths, defaultCacheRoot, needsXlsxOverride, N8N_VERSION, NODE_MAJOR };

if (require.main === module) {
	// `node test/harness/install.js` installs ahead of time (e.g. a CI cache step).
	const t0 = Date.now();
	ensureN8nInstalled().then(
		(p) => {
			process.stderr.write(`[n8n-install] ready in ${Math.round((Date.now() - t0) / 1000)} s\n`);
			process.stdout.write(`${JSON.stringify(p, null, 2)}\n`);
		},
		(err) => {
			process.stderr.write(`${err.stack || err}\n`);
			process.exit(1);
		},
	);
}
