// @ts-check
'use strict';
/**
 * Runs one command as the leader of its own process group and makes sure the whole group
 * goes away when the test process that started it goes away, even after a SIGKILL of jest.
 *
 *   node watchdog.js <parentPid> <graceMs> -- <command> [args...]
 *
 * - polls <parentPid> every second; when it is gone: SIGTERM to the group, SIGKILL after graceMs
 * - on SIGTERM/SIGINT: forwards SIGTERM to the command, SIGKILLs the group after graceMs
 * - exits with the command's exit code (128 when killed by a signal), after a SIGTERM to the
 *   rest of the group (task runners); the harness's stop() SIGKILLs whatever is left
 */
const { spawn } = require('child_process');

const [parentPidArg, graceArg, sep, cmd, ...args] = process.argv.slice(2);
if (sep !== '--' || !cmd) {
	process.stderr.write('usage: watchdog.js <parentPid> <graceMs> -- <command> [args...]\n');
	process.exit(2);
}
const parentPid = Number(parentPidArg);
const graceMs = Number(graceArg) || 10000;

const child = spawn(cmd, args, { stdio: 'inherit' });
let stopping = false;

function killGroup(/** @type {NodeJS.Signals} */ signal) {
	try {
		process.kill(-process.pid, signal);
	} catch {
		/* group gone */
	}
}

function stop(/** @type {string} */ why) {
	if (stopping) return;
	stopping = true;
	process.stderr.write(`[watchdog] ${why}: stopping ${cmd} (pid ${child.pid})\n`);
	try {
		child.kill('SIGTERM');
	} catch {
		/* already gone */
	}
	setTimeout(() => killGroup('SIGKILL'), graceMs).unref();
}

for (const sig of /** @type {NodeJS.Signals[]} */ (['SIGTERM', 'SIGINT', 'SIGHUP'])) {
	process.on(sig, () => stop(`got ${sig}`));
}

const poll = setInterval(() => {
	try {
		process.kill(parentPid, 0);
	} catch (err) {
		if (/** @type {NodeJS.ErrnoException} */ (err).code === 'ESRCH') {
			stop(`parent ${parentPid} is gone`);
			// the group SIGTERM reaches the command's own children (task runners) too
			killGroup('SIGTERM');
		}
	}
}, 1000);

child.on('exit', (code, signal) => {
	clearInterval(poll);
	process.stderr.write(`[watchdog] ${cmd} exited (code ${code}, signal ${signal})\n`);
	const exitCode = code ?? 128;
	// Leftovers in the group (e.g. a task runner) must not outlive n8n.
	for (const sig of /** @type {NodeJS.Signals[]} */ (['SIGTERM', 'SIGINT', 'SIGHUP'])) process.removeAllListeners(sig);
	process.on('SIGTERM', () => {}); // survive our own group SIGTERM
	killGroup('SIGTERM');
	setTimeout(() => {
		let parentAlive = true;
		try {
			process.kill(parentPid, 0);
		} catch {
			parentAlive = false;
		}
		// with the parent alive, its stop() SIGKILLs the group; otherwise do it here (kills us too)
		if (!parentAlive) killGroup('SIGKILL');
		process.exit(exitCode);
	}, 1000);
});
child.on('error', (err) => {
	process.stderr.write(`[watchdog] cannot start ${cmd}: ${err.message}\n`);
	process.exit(127);
});
