// @ts-check
'use strict';
/**
 * Concurrent webhook calls and their statistics, for `npm run demo` and `npm run soak`. Plain `http`
 * (no fetch timeouts: a locked run queues its calls behind one lock on purpose; the soak sets its
 * own, long one), fresh sockets, 127.0.0.1.
 */
const crypto = require('crypto');
const http = require('http');

/**
 * @typedef {object} Call
 * @property {string} tenant
 * @property {string} secret  unique per call; never printed
 */

/**
 * @typedef {object} Answer
 * @property {Call} call
 * @property {number} status   0 = no HTTP answer (connection error)
 * @property {unknown} body
 * @property {string} [error]  connection error message
 * @property {number} ms       latency
 */

/**
 * `count` calls spread round-robin over `tenants` tenants, each with its own random secret.
 * @param {number} count
 * @param {number} tenants
 * @returns {Call[]}
 */
function makeCalls(count, tenants) {
	const width = String(tenants).length;
	return Array.from({ length: count }, (_, i) => ({
		tenant: `tenant-${String((i % tenants) + 1).padStart(width, '0')}`,
		secret: `s-${crypto.randomBytes(12).toString('hex')}`,
	}));
}

/**
 * POST JSON, resolve with status and parsed body (never rejects).
 * @param {string} url
 * @param {unknown} payload
 * @param {number} [timeoutMs]  give up (status 0) when no complete answer came within this time
 * @returns {Promise<{status: number, body: unknown, error?: string}>}
 */
function postJson(url, payload, timeoutMs) {
	const data = Buffer.from(JSON.stringify(payload));
	return new Promise((resolve) => {
		const req = http.request(
			url,
			{
				method: 'POST',
				agent: false,
				headers: { 'content-type': 'application/json', accept: 'application/json', 'content-length': data.length },
			},
			(res) => {
				/** @type {Buffer[]} */
				const chunks = [];
				res.on('data', (c) => chunks.push(c));
				res.on('end', () => {
					const text = Buffer.concat(chunks).toString('utf8');
					let body;
					try {
						body = text ? JSON.parse(text) : undefined;
					} catch {
						body = text;
					}
					resolve({ status: res.statusCode || 0, body });
				});
				res.on('error', (err) => resolve({ status: 0, body: undefined, error: err.message }));
			},
		);
		req.on('error', (err) => resolve({ status: 0, body: undefined, error: err.message }));
		if (timeoutMs) {
			const timer = setTimeout(() => req.destroy(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
			req.on('close', () => clearTimeout(timer));
		}
		req.end(data);
	});
}

/**
 * Fires every call at once at `url`; `onProgress(answered)` is called as answers arrive.
 * @param {string} url
 * @param {Call[]} calls
 * @param {(answered: number) => void} [onProgress]
 * @returns {Promise<{answers: Answer[], wallMs: number}>}
 */
async function fire(url, calls, onProgress) {
	let answered = 0;
	const t0 = performance.now();
	const answers = await Promise.all(
		calls.map(async (call) => {
			const start = performance.now();
			const r = await postJson(url, { tenantId: call.tenant, secret: call.secret });
			const ms = performance.now() - start;
			answered += 1;
			if (onProgress) onProgress(answered);
			return { call, status: r.status, body: r.body, error: r.error, ms };
		}),
	);
	return { answers, wallMs: performance.now() - t0 };
}

/**
 * Sustained load: keeps `concurrency` calls in flight (a new call starts as soon as one is answered)
 * until every call was made or `deadline` (Date.now() value) passed; calls not started by then are
 * left out of the answers. `onAnswer(answer, answeredSoFar)` is called for every answer.
 * @param {string} url
 * @param {Call[]} calls
 * @param {{concurrency: number, deadline?: number, callTimeoutMs?: number, onAnswer?: (a: Answer, n: number) => void,
 *          stopped?: () => boolean}} o  stopped: stop starting calls when it returns true
 * @returns {Promise<{answers: Answer[], wallMs: number, notStarted: number}>}
 */
async function fireSustained(url, calls, o) {
	/** @type {Answer[]} */
	const answers = [];
	let next = 0;
	const t0 = performance.now();
	const lane = async () => {
		while (next < calls.length) {
			if ((o.deadline && Date.now() >= o.deadline) || (o.stopped && o.stopped())) return;
			const call = calls[next++];
			const start = performance.now();
			const r = await postJson(url, { tenantId: call.tenant, secret: call.secret }, o.callTimeoutMs);
			/** @type {Answer} */
			const answer = { call, status: r.status, body: r.body, error: r.error, ms: performance.now() - start };
			answers.push(answer);
			if (o.onAnswer) o.onAnswer(answer, answers.length);
		}
	};
	await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency, calls.length)) }, lane));
	return { answers, wallMs: performance.now() - t0, notStarted: calls.length - next };
}

/**
 * Nearest-rank percentile.
 * @param {number[]} sorted ascending
 * @param {number} p 0..100
 */
function percentile(sorted, p) {
	if (sorted.length === 0) return NaN;
	const rank = Math.ceil((p / 100) * sorted.length);
	return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** @param {unknown} body */
const seenSecret = (body) =>
	body && typeof body === 'object' && 'tenantSecret' in body ? /** @type {any} */ (body).tenantSecret : undefined;

/**
 * @param {{answers: Answer[], wallMs: number}} run
 */
function summarize(run) {
	const { answers, wallMs } = run;
	const failed = answers.filter((a) => a.status !== 200);
	const ok = answers.filter((a) => a.status === 200);
	const bled = ok.filter((a) => seenSecret(a.body) !== a.call.secret);
	// did the bled answers see another caller's secret (the real thing) or nothing at all?
	const known = new Set(answers.map((a) => a.call.secret));
	const sawOther = bled.filter((a) => known.has(String(seenSecret(a.body)))).length;
	const latencies = answers.filter((a) => a.status !== 0).map((a) => a.ms).sort((x, y) => x - y);
	return {
		calls: answers.length,
		failures: failed.length,
		bleed: bled.length,
		bleedSawOtherCaller: sawOther,
		perSecond: answers.length / (wallMs / 1000),
		wallMs,
		p50: percentile(latencies, 50),
		p95: percentile(latencies, 95),
		p99: percentile(latencies, 99),
		failed,
	};
}

/**
 * Replaces every secret of `calls` in `text`.
 * @param {string} text
 * @param {Call[]} calls
 */
function redactSecrets(text, calls) {
	let out = text.replace(/s-[0-9a-f]{24}/g, '[secret]');
	for (const c of calls) out = out.split(c.secret).join('[secret]');
	return out;
}

/**
 * "3 x HTTP 500 {"message":...}" lines, secrets removed.
 * @param {Answer[]} failed
 * @param {Call[]} calls
 */
function describeFailures(failed, calls) {
	/** @type {Map<string, number>} */
	const groups = new Map();
	for (const a of failed) {
		const what = a.status === 0 ? `no answer: ${a.error}` : `HTTP ${a.status} ${typeof a.body === 'string' ? a.body : JSON.stringify(a.body)}`;
		const key = redactSecrets(what, calls).slice(0, 300);
		groups.set(key, (groups.get(key) || 0) + 1);
	}
	return [...groups].map(([k, n]) => `${n} x ${k}`);
}

module.exports = { makeCalls, fire, fireSustained, summarize, percentile, redactSecrets, describeFailures, seenSecret, postJson };
