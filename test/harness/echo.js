// @ts-check
'use strict';
/**
 * A stand-in for the tenants' API, on 127.0.0.1 (random port):
 *
 *   GET|POST /echo          -> 200 { tenantSecret, authorization, bearerClient, method, query, body, headers }
 *                              tenantSecret = the `x-tenant-secret` header it received
 *                              bearerClient = the client a `Bearer` token from /oauth/token belongs to
 *                              tenantSecretHash, bearerClientHash = digest() of those two (null when absent):
 *                                            what a test compares when the values themselves may be
 *                                            redacted on the way back (Run With Tenant Credential
 *                                            scrubs its tenant's data values from its output)
 *                              ?delay=<ms>   answer that much later (this request only; added to delayMs)
 *                              ?status=<code> answer with that status instead (>= 400: a tenant API that
 *                                            fails; the body then says so and reflects nothing it got)
 *   POST /oauth/token       -> OAuth2 client-credentials token endpoint; client_id/client_secret from
 *                              the form (or JSON) body or HTTP Basic auth; answers
 *                              { access_token: 'token-for-<client_id>-<n>', token_type: 'bearer', expires_in: 3600 }
 *   GET  /oauth/whoami      -> 200 { client_id, token } for a valid `Authorization: Bearer` token, else 401
 *
 * Every request is recorded in `requests` (newest last) for assertions. `peakInFlight`: the most /echo
 * requests it held unanswered at once (counted, not timed; `reset` zeroes it).
 */
const crypto = require('crypto');
const http = require('http');

/**
 * A short, stable digest of a value the echo saw (sha256, 24 hex characters), null for none.
 * @param {unknown} value
 * @returns {string|null}
 */
function digest(value) {
	if (value === undefined || value === null || value === '') return null;
	return crypto.createHash('sha256').update(String(value)).digest('hex').slice(0, 24);
}

/**
 * @typedef {object} EchoRequest
 * @property {string} method
 * @property {string} path
 * @property {Record<string,string>} query
 * @property {import('http').IncomingHttpHeaders} headers
 * @property {string} rawBody
 * @property {unknown} body
 * @property {number} at  Date.now() when it arrived
 */

/**
 * @typedef {object} EchoService
 * @property {string} url   http://127.0.0.1:<port>
 * @property {number} port
 * @property {EchoRequest[]} requests        every request received, in order
 * @property {Map<string,string>} tokens     access token -> client_id
 * @property {number} peakInFlight           the most /echo requests unanswered at once since start or reset
 * @property {() => void} reset              forget recorded requests and the peak (tokens stay valid)
 * @property {() => Promise<void>} stop
 */

/**
 * @typedef {object} EchoOptions
 * @property {Record<string,string>} [clients] client_id -> client_secret; when given, other
 *           clients or wrong secrets get 401 invalid_client (default: any pair is accepted)
 * @property {number} [delayMs]   delay every /echo answer (to widen race windows)
 * @property {number} [port]      default: random
 */

/**
 * @param {EchoOptions} [opts]
 * @returns {Promise<EchoService>}
 */
function startEchoService(opts = {}) {
	/** @type {EchoRequest[]} */
	const requests = [];
	/** @type {Map<string,string>} */
	const tokens = new Map();
	let counter = 0;
	let inFlight = 0;
	let peakInFlight = 0;

	const server = http.createServer((req, res) => {
		/** @type {Buffer[]} */
		const chunks = [];
		req.on('data', (c) => chunks.push(c));
		req.on('end', () => {
			const url = new URL(req.url || '/', 'http://127.0.0.1');
			const rawBody = Buffer.concat(chunks).toString('utf8');
			const body = parseBody(rawBody, String(req.headers['content-type'] || ''));
			/** @type {EchoRequest} */
			const entry = {
				method: req.method || 'GET',
				path: url.pathname,
				query: Object.fromEntries(url.searchParams),
				headers: req.headers,
				rawBody,
				body,
				at: Date.now(),
			};
			requests.push(entry);
			handle(entry, req, res);
		});
	});

	/**
	 * @param {import('http').ServerResponse} res
	 * @param {number} status
	 * @param {unknown} payload
	 */
	function send(res, status, payload) {
		const text = JSON.stringify(payload);
		res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
		res.end(text);
	}

	/** @param {string|undefined} authorization */
	function bearerOf(authorization) {
		const m = /^Bearer\s+(.+)$/i.exec(authorization || '');
		return m ? m[1].trim() : undefined;
	}

	/**
	 * @param {EchoRequest} e
	 * @param {import('http').IncomingMessage} req
	 * @param {import('http').ServerResponse} res
	 */
	function handle(e, req, res) {
		if (e.path === '/echo' && (e.method === 'GET' || e.method === 'POST')) {
			inFlight += 1;
			peakInFlight = Math.max(peakInFlight, inFlight);
			res.on('close', () => {
				inFlight -= 1;
			});
			const authorization = req.headers.authorization;
			const token = bearerOf(authorization);
			const delay = (opts.delayMs ?? 0) + Math.max(0, Math.min(600000, Number(e.query.delay) || 0));
			const status = Number(e.query.status) || 200;
			if (status !== 200) {
				const failure = { error: `the tenant API failed on purpose (status ${status})` };
				if (delay) setTimeout(() => send(res, status, failure), delay);
				else send(res, status, failure);
				return;
			}
			const bearerClient = token ? (tokens.get(token) ?? null) : null;
			const payload = {
				tenantSecret: req.headers['x-tenant-secret'] ?? null,
				tenantSecretHash: digest(req.headers['x-tenant-secret']),
				authorization: authorization ?? null,
				bearerClient,
				bearerClientHash: digest(bearerClient),
				method: e.method,
				query: e.query,
				body: e.body,
				headers: req.headers,
			};
			if (delay) setTimeout(() => send(res, 200, payload), delay);
			else send(res, 200, payload);
			return;
		}
		if (e.path === '/oauth/token' && e.method === 'POST') {
			const form = /** @type {Record<string, any>} */ (e.body && typeof e.body === 'object' ? e.body : {});
			let clientId = form.client_id;
			let clientSecret = form.client_secret;
			const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization || '');
			if (basic) {
				const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
				const i = decoded.indexOf(':');
				clientId = decodeURIComponent(decoded.slice(0, i));
				clientSecret = decodeURIComponent(decoded.slice(i + 1));
			}
			if (form.grant_type !== 'client_credentials') {
				send(res, 400, { error: 'unsupported_grant_type' });
				return;
			}
			if (!clientId) {
				send(res, 401, { error: 'invalid_client', error_description: 'no client_id' });
				return;
			}
			if (opts.clients && opts.clients[clientId] !== clientSecret) {
				send(res, 401, { error: 'invalid_client' });
				return;
			}
			counter += 1;
			const accessToken = `token-for-${clientId}-${counter}`;
			tokens.set(accessToken, clientId);
			send(res, 200, { access_token: accessToken, token_type: 'bearer', expires_in: 3600 });
			return;
		}
		if (e.path === '/oauth/whoami' && e.method === 'GET') {
			const token = bearerOf(req.headers.authorization);
			const clientId = token ? tokens.get(token) : undefined;
			if (!clientId) send(res, 401, { error: 'invalid_token' });
			else send(res, 200, { client_id: clientId, token });
			return;
		}
		send(res, 404, { error: 'not found', path: e.path, method: e.method });
	}

	return new Promise((resolve, reject) => {
		server.on('error', reject);
		server.keepAliveTimeout = 1000;
		server.listen(opts.port || 0, '127.0.0.1', () => {
			const addr = server.address();
			const port = typeof addr === 'object' && addr ? addr.port : 0;
			resolve({
				url: `http://127.0.0.1:${port}`,
				port,
				requests,
				tokens,
				get peakInFlight() {
					return peakInFlight;
				},
				reset: () => {
					requests.length = 0;
					peakInFlight = inFlight;
				},
				stop: () =>
					new Promise((r) => {
						server.close(() => r());
						server.closeAllConnections();
					}),
			});
		});
	});
}

/**
 * @param {string} raw
 * @param {string} contentType
 * @returns {unknown}
 */
function parseBody(raw, contentType) {
	if (!raw) return null;
	if (/application\/x-www-form-urlencoded/i.test(contentType)) return Object.fromEntries(new URLSearchParams(raw));
	try {
		return JSON.parse(raw);
	} catch {
		// n8n's OAuth2 client may omit the content type; a form body still parses
		if (/^[\w.%+-]+=[^&]*(&[\w.%+-]+=[^&]*)*$/.test(raw)) return Object.fromEntries(new URLSearchParams(raw));
		return raw;
	}
}

module.exports = { startEchoService, digest };
