// @ts-check
'use strict';
/**
 * Small helpers over n8n's public API (X-N8N-API-KEY), its webhooks and, for the few things
 * the public API lacks, its internal /rest API (owner cookie + browser-id).
 *
 *   const api = createApiClient(n8n);               // n8n = handle from startN8n()
 *   const cred = await api.createCredential({ name, type, data });
 *   const wf = await api.createWorkflow(json); await api.activateWorkflow(wf.id);
 *   await api.waitForWebhook('my-path', 'POST', { workflowId: wf.id });
 *   const r = await callWebhook(n8n.baseUrl, 'my-path', { body: {...} });
 */

/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class ApiError extends Error {
	/**
	 * @param {string} message
	 * @param {number} status
	 * @param {unknown} body
	 */
	constructor(message, status, body) {
		super(message);
		this.name = 'ApiError';
		this.status = status;
		this.body = body;
	}
}

/**
 * @typedef {object} Connection
 * @property {string} apiUrl   <baseUrl>/api/v1
 * @property {string} apiKey
 * @property {string} [baseUrl]
 * @property {string} [cookie]     for the /rest helpers
 * @property {string} [browserId]  for the /rest helpers
 */

/**
 * @typedef {object} RequestOptions
 * @property {unknown} [body]
 * @property {Record<string, string|number|boolean|undefined>} [query]
 * @property {number[]} [expect]  statuses that are returned instead of thrown (default: 2xx only)
 * @property {number} [retries]   retries on 429/502/503/504 and connection errors (default 5)
 * @property {Record<string,string>} [headers]
 */

/**
 * @param {string} url
 * @param {RequestInit} init
 * @param {number[]|undefined} expect
 * @param {number} retries
 * @returns {Promise<{status: number, body: any, headers: Headers}>}
 */
async function fetchJson(url, init, expect, retries) {
	const method = (init.method || 'GET').toUpperCase();
	for (let attempt = 0; ; attempt++) {
		let res;
		try {
			res = await fetch(url, init);
		} catch (err) {
			// a POST may have been processed before the connection broke: only retry safe methods
			if (attempt < retries && (method === 'GET' || method === 'DELETE' || method === 'OPTIONS')) {
				await sleep(200 * 2 ** attempt);
				continue;
			}
			throw err;
		}
		const text = await res.text();
		/** @type {any} */
		let body;
		try {
			body = text ? JSON.parse(text) : undefined;
		} catch {
			body = text;
		}
		// 503 "Database is not ready!" and 429 are answered before anything is done
		if ([429, 502, 503, 504].includes(res.status) && attempt < retries && !(expect || []).includes(res.status)) {
			await sleep(200 * 2 ** attempt);
			continue;
		}
		if ((res.status >= 200 && res.status < 300) || (expect || []).includes(res.status)) {
			return { status: res.status, body, headers: res.headers };
		}
		throw new ApiError(`${method} ${url} -> ${res.status} ${typeof body === 'string' ? body : JSON.stringify(body)}`, res.status, body);
	}
}

/**
 * @param {string} base
 * @param {string} urlPath
 * @param {RequestOptions['query']} [query]
 */
function buildUrl(base, urlPath, query) {
	const url = new URL(`${base.replace(/\/+$/, '')}/${urlPath.replace(/^\/+/, '')}`);
	for (const [k, v] of Object.entries(query || {})) if (v !== undefined) url.searchParams.set(k, String(v));
	return url.toString();
}

/**
 * Calls a production webhook (`/webhook/<path>`).
 * @param {string} baseUrl
 * @param {string} webhookPath
 * @param {{method?: string, body?: unknown, headers?: Record<string,string>, query?: Record<string,string>, test?: boolean}} [o]
 *        test: call /webhook-test/ instead
 * @returns {Promise<{status: number, body: any, headers: Headers}>}
 */
async function callWebhook(baseUrl, webhookPath, o = {}) {
	const method = (o.method || 'POST').toUpperCase();
	const url = buildUrl(baseUrl, `${o.test ? 'webhook-test' : 'webhook'}/${webhookPath.replace(/^\/+/, '')}`, o.query);
	/** @type {Record<string,string>} */
	const headers = { accept: 'application/json', ...(o.headers || {}) };
	let payload;
	if (o.body !== undefined && method !== 'GET' && method !== 'HEAD') {
		headers['content-type'] = headers['content-type'] || 'application/json';
		payload = typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
	}
	const res = await fetch(url, { method, headers, body: payload });
	const text = await res.text();
	let body;
	try {
		body = text ? JSON.parse(text) : undefined;
	} catch {
		body = text;
	}
	return { status: res.status, body, headers: res.headers };
}

/**
 * Is the production webhook <method> /webhook/<path> registered? Asks with a CORS preflight
 * (OPTIONS + Origin), which n8n answers from its webhook table without running the workflow:
 * `Access-Control-Allow-Methods` lists the registered methods.
 * @param {string} baseUrl
 * @param {string} webhookPath
 * @param {string} method
 */
async function isWebhookRegistered(baseUrl, webhookPath, method) {
	const res = await fetch(buildUrl(baseUrl, `webhook/${webhookPath.replace(/^\/+/, '')}`), {
		method: 'OPTIONS',
		headers: { origin: baseUrl, 'access-control-request-method': method.toUpperCase() },
	});
	await res.arrayBuffer();
	const allowed = (res.headers.get('access-control-allow-methods') || '')
		.split(',')
		.map((m) => m.trim().toUpperCase());
	return res.status < 400 && allowed.includes(method.toUpperCase());
}

/**
 * Waits until the production webhook is registered. If it still is not after `reactivateAfterMs`
 * and `api` + `workflowId` are given, deactivates and activates the workflow once more (seen on
 * n8n 2.40.7: right after activation a webhook sometimes stays "not registered" until then).
 * @param {string} baseUrl
 * @param {string} webhookPath
 * @param {string} [method]   default POST
 * @param {{api?: ApiClient, workflowId?: string, timeoutMs?: number, reactivateAfterMs?: number}} [o]
 */
async function waitForWebhook(baseUrl, webhookPath, method = 'POST', o = {}) {
	const timeoutMs = o.timeoutMs ?? 30000;
	const reactivateAfterMs = o.reactivateAfterMs ?? 3000;
	const started = Date.now();
	let reactivated = 0;
	for (;;) {
		if (await isWebhookRegistered(baseUrl, webhookPath, method).catch(() => false)) return;
		const waited = Date.now() - started;
		if (waited > timeoutMs) {
			throw new Error(`webhook ${method} /webhook/${webhookPath} not registered after ${timeoutMs} ms`);
		}
		if (o.api && o.workflowId && waited > reactivateAfterMs * (reactivated + 1)) {
			reactivated += 1;
			await o.api.deactivateWorkflow(o.workflowId).catch(() => {});
			await o.api.activateWorkflow(o.workflowId);
		}
		await sleep(200);
	}
}

/**
 * @typedef {ReturnType<typeof createApiClient>} ApiClient
 */

/**
 * @param {Connection} conn  e.g. the handle from startN8n()
 */
function createApiClient(conn) {
	const apiUrl = conn.apiUrl.replace(/\/+$/, '');
	const baseUrl = conn.baseUrl || apiUrl.replace(/\/api\/v1$/, '');

	/**
	 * Public API call. Throws ApiError on a status outside 2xx and `expect`.
	 * @param {string} method
	 * @param {string} urlPath  below /api/v1/
	 * @param {RequestOptions} [o]
	 */
	async function request(method, urlPath, o = {}) {
		/** @type {Record<string,string>} */
		const headers = { 'X-N8N-API-KEY': conn.apiKey, accept: 'application/json', ...(o.headers || {}) };
		if (o.body !== undefined) headers['content-type'] = 'application/json';
		return fetchJson(
			buildUrl(apiUrl, urlPath, o.query),
			{ method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body) },
			o.expect,
			o.retries ?? 5,
		);
	}

	/**
	 * Internal /rest call as the owner (needs conn.cookie and conn.browserId).
	 * @param {string} method
	 * @param {string} urlPath  below /rest/
	 * @param {RequestOptions} [o]
	 */
	async function rest(method, urlPath, o = {}) {
		if (!conn.cookie) throw new Error('rest() needs the owner cookie (use the startN8n handle)');
		/** @type {Record<string,string>} */
		const headers = { cookie: conn.cookie, accept: 'application/json', ...(o.headers || {}) };
		if (conn.browserId) headers['browser-id'] = conn.browserId;
		if (o.body !== undefined) headers['content-type'] = 'application/json';
		return fetchJson(
			buildUrl(`${baseUrl}/rest`, urlPath, o.query),
			{ method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body) },
			o.expect,
			o.retries ?? 5,
		);
	}

	/**
	 * Follows nextCursor until the end.
	 * @param {string} urlPath
	 * @param {Record<string, string|number|boolean|undefined>} [query]
	 * @returns {Promise<any[]>}
	 */
	async function listAll(urlPath, query = {}) {
		const out = [];
		/** @type {string|undefined} */
		let cursor;
		do {
			const { body } = await request('GET', urlPath, { query: { limit: 250, ...query, cursor } });
			out.push(...(body.data || []));
			cursor = body.nextCursor || undefined;
		} while (cursor);
		return out;
	}

	const api = {
		baseUrl,
		apiUrl,
		request,
		rest,
		listAll,

		// credentials ----------------------------------------------------------------------------
		/**
		 * @param {{name: string, type: string, data: Record<string, unknown>}} cred
		 * @returns {Promise<{id: string, name: string, type: string, createdAt: string, updatedAt: string}>}
		 */
		async createCredential(cred) {
			return (await request('POST', 'credentials', { body: cred })).body;
		},
		/**
		 * PATCH /credentials/:id (n8n >= 2.8). Without isPartialData the data replaces the old data whole.
		 * @param {string} id
		 * @param {{data?: Record<string, unknown>, name?: string, isPartialData?: boolean}} patch
		 */
		async updateCredential(id, patch) {
			return (await request('PATCH', `credentials/${encodeURIComponent(id)}`, { body: patch })).body;
		},
		/** @param {string} id */
		async deleteCredential(id) {
			return (await request('DELETE', `credentials/${encodeURIComponent(id)}`)).body;
		},
		/** GET /credentials/:id: metadata, never data (n8n >= 2.20). @param {string} id */
		async getCredential(id) {
			return (await request('GET', `credentials/${encodeURIComponent(id)}`)).body;
		},
		/** every credential, all cursor pages */
		async listCredentials() {
			return listAll('credentials');
		},
		/** @param {string} type */
		async getCredentialSchema(type) {
			return (await request('GET', `credentials/schema/${encodeURIComponent(type)}`)).body;
		},
		/**
		 * POST /credentials/:id/test (public API, n8n >= 2.20): { status: 'OK'|'Error', message }
		 * @param {string} id
		 */
		async testCredential(id) {
			return (await request('POST', `credentials/${encodeURIComponent(id)}/test`)).body;
		},
		/**
		 * POST /rest/credentials/test, the editor's "Test" button: tests the given data merged with the
		 * stored credential (data may be omitted fields / redacted values). Needs the owner cookie.
		 * @param {{id: string, name?: string, type: string, data?: Record<string, unknown>}} cred
		 * @returns {Promise<{status: 'OK'|'Error', message?: string}>}
		 */
		async testCredentialInternal(cred) {
			const { body } = await rest('POST', 'credentials/test', { body: { credentials: { name: '', ...cred } } });
			return body.data ?? body;
		},

		// workflows ------------------------------------------------------------------------------
		/**
		 * @param {{name: string, nodes: any[], connections: Record<string, any>, settings?: Record<string, any>}} json
		 * @returns {Promise<{id: string, name: string, active: boolean, versionId: string, [k: string]: any}>}
		 */
		async createWorkflow(json) {
			const body = { settings: {}, ...json };
			return (await request('POST', 'workflows', { body })).body;
		},
		/** @param {string} id */
		async getWorkflow(id) {
			return (await request('GET', `workflows/${encodeURIComponent(id)}`)).body;
		},
		/** publish (= activate in n8n 1.x) the latest version. @param {string} id */
		async activateWorkflow(id) {
			const published = await request('POST', `workflows/${encodeURIComponent(id)}/publish`, { body: {}, expect: [404, 405] });
			if (published.status < 300) return published.body;
			// n8n before publish/unpublish (e.g. 2.8, 2.20): activate/deactivate
			return (await request('POST', `workflows/${encodeURIComponent(id)}/activate`)).body;
		},
		/** @param {string} id */
		async deactivateWorkflow(id) {
			const unpublished = await request('POST', `workflows/${encodeURIComponent(id)}/unpublish`, { expect: [404, 405] });
			if (unpublished.status < 300) return unpublished.body;
			return (await request('POST', `workflows/${encodeURIComponent(id)}/deactivate`)).body;
		},
		/** @param {string} id */
		async deleteWorkflow(id) {
			return (await request('DELETE', `workflows/${encodeURIComponent(id)}`)).body;
		},
		/**
		 * createWorkflow + activateWorkflow + waitForWebhook for every Webhook node in it.
		 * @param {{name: string, nodes: any[], connections: Record<string, any>, settings?: Record<string, any>}} json
		 */
		async deployWorkflow(json) {
			const wf = await api.createWorkflow(json);
			await api.activateWorkflow(wf.id);
			for (const node of json.nodes) {
				if (node.type === 'n8n-nodes-base.webhook' && node.parameters?.path) {
					await waitForWebhook(baseUrl, node.parameters.path, node.parameters.httpMethod || 'GET', {
						api,
						workflowId: wf.id,
					});
				}
			}
			return wf;
		},
		/**
		 * @param {string} webhookPath
		 * @param {string} [method]
		 * @param {{workflowId?: string, timeoutMs?: number, reactivateAfterMs?: number}} [o]
		 */
		async waitForWebhook(webhookPath, method = 'POST', o = {}) {
			return waitForWebhook(baseUrl, webhookPath, method, { api, ...o });
		},
		/**
		 * @param {string} webhookPath
		 * @param {Parameters<typeof callWebhook>[2]} [o]
		 */
		async callWebhook(webhookPath, o) {
			return callWebhook(baseUrl, webhookPath, o);
		},

		// executions -----------------------------------------------------------------------------
		/**
		 * Every execution (all cursor pages), newest first.
		 * @param {{includeData?: boolean, workflowId?: string, status?: string, limit?: number}} [o]
		 *        limit: stop after this many
		 */
		async getExecutions(o = {}) {
			const out = [];
			/** @type {string|undefined} */
			let cursor;
			do {
				const { body } = await request('GET', 'executions', {
					query: {
						limit: Math.min(250, o.limit ?? 250),
						includeData: o.includeData ? 'true' : undefined,
						workflowId: o.workflowId,
						status: o.status,
						cursor,
					},
				});
				out.push(...(body.data || []));
				cursor = body.nextCursor || undefined;
			} while (cursor && (o.limit === undefined || out.length < o.limit));
			return o.limit === undefined ? out : out.slice(0, o.limit);
		},
		/**
		 * @param {string|number} id
		 * @param {{includeData?: boolean}} [o]
		 */
		async getExecution(id, o = {}) {
			return (
				await request('GET', `executions/${encodeURIComponent(String(id))}`, {
					query: { includeData: o.includeData ? 'true' : undefined },
				})
			).body;
		},
		/**
		 * Waits until the workflow has at least `count` finished executions (not new/running/waiting).
		 * @param {{workflowId: string, count?: number, timeoutMs?: number, includeData?: boolean}} o
		 */
		async waitForExecutions(o) {
			const count = o.count ?? 1;
			const deadline = Date.now() + (o.timeoutMs ?? 30000);
			for (;;) {
				const all = await api.getExecutions({ workflowId: o.workflowId, includeData: o.includeData });
				const done = all.filter((e) => !['new', 'running', 'waiting'].includes(e.status));
				if (done.length >= count) return done;
				if (Date.now() > deadline) {
					throw new Error(`workflow ${o.workflowId}: ${done.length}/${count} executions finished in time`);
				}
				await sleep(250);
			}
		},
	};
	return api;
}

module.exports = { createApiClient, waitForWebhook, isWebhookRegistered, callWebhook, ApiError };
