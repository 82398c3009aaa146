// @ts-check
'use strict';
/**
 * Faults the soak injects during its load (`npm run soak -- --faults stall,restart,api-slow`):
 *
 * - `stall`:    the lock store stops answering without an error: a TCP proxy in front of it keeps
 *               every connection open and accepts new ones but forwards nothing (a network partition);
 *               on heal the held bytes are delivered in order.
 * - `restart`:  the lock store restarts: PostgreSQL stops (fast shutdown) and starts again with its
 *               data; Redis (no persistence) stops and starts again empty. Down for the fault's time.
 * - `api-slow`: every answer of n8n's public API to the nodes (through their n8n API credential) comes
 *               `apiDelayMs` late; n8n gets the request at once and does the work.
 *
 * The lock store under faults is a server of its own (PostgreSQL or Redis, throwaway, loopback) so that
 * a stall or restart hits the lock only, not n8n's own database or Bull's Redis. The proxies and
 * servers are the fault tests' own (test/helpers/faultServers.ts, test/helpers/faultProxy.ts), loaded
 * as they are through requireTs.
 *
 * Schedule: every `everySeconds` one step of the list, in turn; a step is one fault or several at once
 * (`restart+api-slow`), for its own seconds (`stall:40`) or `forSeconds`.
 */
const { requireTs } = require('./requireTs');
const { percentile } = require('./load');

/** The fault tests' servers and proxies, loaded when a rig starts (the schedule helpers need none of them). */
function faultHelpers() {
	return {
		/** @type {{FaultProxy: new (targetPort: number) => TcpFaultProxy, startOwnPostgres: () => Promise<OwnPostgres>, startOwnRedis: () => Promise<OwnServer>}} */
		servers: requireTs('../../test/helpers/faultServers.ts', __dirname),
		/** @type {{FaultProxy: {start(target: string): Promise<HttpFaultProxy>}}} */
		http: requireTs('../../test/helpers/faultProxy.ts', __dirname),
	};
}

const FAULT_KINDS = /** @type {const} */ (['stall', 'restart', 'api-slow']);
/** Methods the nodes use on n8n's public API (the HTTP proxy's rules match one method each). */
const API_METHODS = ['GET', 'POST', 'PATCH', 'PUT', 'DELETE'];

/**
 * @typedef {typeof FAULT_KINDS[number]} FaultKind
 * @typedef {{kinds: FaultKind[], seconds: number}} FaultStep
 * @typedef {{steps: FaultStep[], everySeconds: number, apiDelayMs: number}} FaultPlan
 * @typedef {{port: number, start(): Promise<void>, blackhole(): void, heal(): Promise<void>, close(): Promise<void>}} TcpFaultProxy
 * @typedef {{port: number, events: {outcome: string}[], urlFor(url: string): string, addRule(rule: object): unknown, clearRules(): Promise<void>, close(): Promise<void>}} HttpFaultProxy
 * @typedef {{host: string, port: number, stop(mode?: 'fast'|'immediate'): Promise<void>, start(): Promise<void>, close(): Promise<void>}} OwnServer
 * @typedef {OwnServer & {user: string, password: string, database: string}} OwnPostgres
 * @typedef {{step: string, kinds: FaultKind[], atS: number, seconds: number, endS?: number, error?: string}} FaultEvent  atS/endS: seconds after the load started
 */

/**
 * `stall,restart:20,restart+api-slow` -> steps.
 * @param {string} text
 * @param {number} forSeconds  default length of a step
 * @returns {FaultStep[]}
 */
function parseFaultSteps(text, forSeconds) {
	const steps = text
		.split(',')
		.map((s) => s.trim())
		.filter(Boolean)
		.map((s) => {
			const m = /^([a-z+-]+)(?::(\d+))?$/.exec(s);
			const kinds = m ? m[1].split('+') : [];
			const unknown = kinds.filter((k) => !(/** @type {readonly string[]} */ (FAULT_KINDS).includes(k)));
			if (!m || !kinds.length || unknown.length) throw new Error(`--faults: cannot read "${s}"; a step is KIND[+KIND...][:SECONDS], KIND one of ${FAULT_KINDS.join(', ')}`);
			const seconds = m[2] === undefined ? forSeconds : Number(m[2]);
			if (seconds < 1) throw new Error(`--faults: "${s}" needs at least 1 second`);
			return { kinds: /** @type {FaultKind[]} */ ([...new Set(kinds)]), seconds };
		});
	if (!steps.length) throw new Error('--faults needs at least one step');
	return steps;
}

/** @param {FaultStep} step */
const stepName = (step) => `${step.kinds.join('+')}:${step.seconds}`;

/** Resolves after `ms`, or at once when `signal` aborts. @param {number} ms @param {AbortSignal} signal */
function pause(ms, signal) {
	return new Promise((resolve) => {
		if (signal.aborted) return resolve(undefined);
		const timer = setTimeout(done, ms);
		function done() {
			clearTimeout(timer);
			signal.removeEventListener('abort', done);
			resolve(undefined);
		}
		signal.addEventListener('abort', done, { once: true });
	});
}

/**
 * The lock store and the proxies of one configuration. Start it before n8n's credentials are made:
 * the lock credential and the n8n API credential point at the proxies.
 * @param {'postgres'|'redis'} backend
 * @param {number} lockRedisDb  the lock's Redis database number
 */
async function startFaultRig(backend, lockRedisDb) {
	const { servers: faultServers, http: httpFaults } = faultHelpers();
	/** @type {OwnServer | OwnPostgres | undefined} */
	let server;
	/** @type {TcpFaultProxy | undefined} */
	let storeProxy;
	/** @type {HttpFaultProxy | undefined} */
	let apiProxy;
	const close = async () => {
		await apiProxy?.close().catch(() => undefined);
		await storeProxy?.close().catch(() => undefined);
		await server?.close().catch(() => undefined);
	};
	try {
		server = backend === 'postgres' ? await faultServers.startOwnPostgres() : await faultServers.startOwnRedis();
		storeProxy = new faultServers.FaultProxy(server.port);
		await storeProxy.start();
	} catch (err) {
		await close();
		throw err;
	}
	const store = /** @type {OwnServer} */ (server);
	const proxy = /** @type {TcpFaultProxy} */ (storeProxy);
	const pgUrl = (/** @type {number} */ port) => {
		const p = /** @type {OwnPostgres} */ (store);
		return `postgres://${encodeURIComponent(p.user)}:${encodeURIComponent(p.password)}@127.0.0.1:${port}/${p.database}`;
	};

	/** @type {FaultEvent[]} */
	const events = [];
	return {
		backend,
		/** What the nodes' lock credential gets: the store through the proxy. */
		lockPostgresUrl: backend === 'postgres' ? pgUrl(proxy.port) : undefined,
		lockRedis: backend === 'redis' ? { host: '127.0.0.1', port: proxy.port, db: lockRedisDb } : undefined,
		/** Where the soak itself reads the store (straight, so its own readings never stall). */
		direct: backend === 'postgres' ? { pgUrl: pgUrl(store.port) } : { redis: { host: '127.0.0.1', port: store.port } },
		events,
		/** API answers the HTTP proxy delayed so far. */
		delayedApiAnswers: () => (apiProxy ? apiProxy.events.filter((e) => e.outcome === 'delayed').length : 0),
		/**
		 * The n8n API base URL the nodes' credential gets: n8n's, through the delaying proxy.
		 * @param {string} apiUrl  n8n's own, e.g. http://127.0.0.1:5678/api/v1
		 */
		async nodeApiUrl(apiUrl) {
			apiProxy = await httpFaults.FaultProxy.start(new URL(apiUrl).origin);
			return apiProxy.urlFor(apiUrl);
		},
		/**
		 * Runs the schedule until `signal` aborts (the load ended); a fault under way then is healed at once.
		 * @param {FaultPlan} plan
		 * @param {number} loadStart  Date.now() at the start of the load
		 * @param {AbortSignal} signal
		 * @param {(line: string) => void} log
		 */
		async run(plan, loadStart, signal, log) {
			for (let i = 0; !signal.aborted; i++) {
				// steps start on a fixed beat (every N s from the load's start), whatever each one took
				await pause(Math.max(0, loadStart + (i + 1) * plan.everySeconds * 1000 - Date.now()), signal);
				if (signal.aborted) return;
				const step = plan.steps[i % plan.steps.length];
				/** @type {FaultEvent} */
				const event = { step: stepName(step), kinds: step.kinds, atS: (Date.now() - loadStart) / 1000, seconds: step.seconds };
				events.push(event);
				log(`fault ${events.length}: ${event.step} at ${event.atS.toFixed(1)} s`);
				try {
					await Promise.all(step.kinds.map((kind) => inject(kind, step.seconds * 1000, plan.apiDelayMs, signal)));
				} catch (err) {
					event.error = /** @type {Error} */ (err).message.split('\n')[0].slice(0, 200);
					log(`fault ${events.length} (${event.step}) went wrong: ${event.error}`);
				}
				event.endS = (Date.now() - loadStart) / 1000;
			}
		},
		close,
	};

	/**
	 * @param {FaultKind} kind @param {number} ms @param {number} apiDelayMs @param {AbortSignal} signal
	 */
	async function inject(kind, ms, apiDelayMs, signal) {
		if (kind === 'stall') {
			proxy.blackhole();
			await pause(ms, signal);
			await proxy.heal();
		} else if (kind === 'restart') {
			await store.stop('fast');
			await pause(ms, signal);
			await store.start();
		} else {
			const api = apiProxy;
			if (!api) throw new Error('api-slow: the n8n API proxy was never started');
			for (const method of API_METHODS) api.addRule({ method, path: /^\//, fault: 'delay', delayMs: apiDelayMs });
			await pause(ms, signal);
			await api.clearRules();
		}
	}
}

/**
 * Calls grouped by the period they were answered in: before the first fault, then from each step's
 * start to the next step's start (the fault and its aftermath), summed per step.
 * @param {FaultEvent[]} events
 * @param {import('./load').Answer[]} answers
 * @param {Map<string, number>} answeredAt  secret -> Date.now() of the answer
 * @param {number} loadStart
 */
function faultPeriods(events, answers, answeredAt, loadStart) {
	/** @type {Map<string, {faults: Set<number>, ms: number[], failed: number}>} */
	const periods = new Map([['before the first fault', { faults: new Set(), ms: [], failed: 0 }]]);
	for (const a of answers) {
		const atS = ((answeredAt.get(a.call.secret) ?? loadStart) - loadStart) / 1000;
		let index = -1;
		for (let i = 0; i < events.length && events[i].atS <= atS; i++) index = i;
		const name = index < 0 ? 'before the first fault' : events[index].step;
		const p = periods.get(name) ?? { faults: new Set(), ms: [], failed: 0 };
		periods.set(name, p);
		if (index >= 0) p.faults.add(index);
		p.ms.push(a.ms);
		if (a.status !== 200) p.failed += 1;
	}
	for (let i = 0; i < events.length; i++) periods.get(events[i].step)?.faults.add(i);
	return [...periods].map(([period, p]) => {
		const sorted = [...p.ms].sort((x, y) => x - y);
		return { period, faults: p.faults.size, answered: sorted.length, failed: p.failed, p50: percentile(sorted, 50), max: sorted.length ? sorted[sorted.length - 1] : NaN };
	});
}

/** @param {ReturnType<typeof faultPeriods>[number]} p */
function describePeriod(p) {
	const n = (/** @type {number} */ x) => (Number.isFinite(x) ? String(Math.round(x)) : '-');
	return `${p.period}${p.faults ? ` (${p.faults}x, until the next)` : ''}: ${p.answered} answered, ${p.failed} failed, latency p50 ${n(p.p50)} ms, max ${n(p.max)} ms`;
}

/**
 * The executions that held the lock for a whole wait, from the waiters' lock-timeout messages ("held by
 * execution N ... since T, lease ends T"): how many waiters each outlasted and how far its lease moved
 * (a lease that keeps moving was renewed all along).
 * @param {string[]} messages  stored failure messages
 * @returns {Map<string, {waiters: number, since: string, firstLeaseEnd: string, lastLeaseEnd: string}>}
 */
function lockHoldersOfTimeouts(messages) {
	/** @type {Map<string, {waiters: number, since: string, firstLeaseEnd: string, lastLeaseEnd: string}>} */
	const holders = new Map();
	for (const message of messages) {
		const m = /held by execution (\S+?)(?: of workflow \S+)? since (\S+Z), lease ends (\d{4}-[\d-]+T[\d:.]+Z)/.exec(message);
		if (!m) continue;
		const h = holders.get(m[1]) ?? { waiters: 0, since: m[2], firstLeaseEnd: m[3], lastLeaseEnd: m[3] };
		h.waiters += 1;
		if (m[3] < h.firstLeaseEnd) h.firstLeaseEnd = m[3];
		if (m[3] > h.lastLeaseEnd) h.lastLeaseEnd = m[3];
		holders.set(m[1], h);
	}
	return holders;
}

/** A cause without the numbers that differ per call (waited ms, times), so like failures group together. @param {string} cause */
function foldCause(cause) {
	return cause
		.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, 'T')
		.replace(/after \d+ ms/g, 'after N ms')
		.replace(/busy for \d+ ms/g, 'busy for N ms');
}

/** A failure message "names the lock" when it says lock or lease (lock lost, lock store, waiting for lock, lease). */
const NAMES_THE_LOCK = /\b(lock|lease)s?\b/i;

module.exports = { FAULT_KINDS, parseFaultSteps, stepName, startFaultRig, faultPeriods, describePeriod, lockHoldersOfTimeouts, foldCause, NAMES_THE_LOCK };
