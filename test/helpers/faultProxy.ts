/**
 * A fault-injecting HTTP proxy in front of a real n8n (127.0.0.1, random port), and an HTTP client
 * that behaves like n8n's `httpRequestWithAuthentication` (axios: request timeout as code
 * ECONNABORTED, network errors wrapped in a NodeApiError whose cause carries the code).
 *
 * Rules: "for the Nth matching request (METHOD + path regex), `times` times (default: for ever)":
 * - `status`: answer that status without forwarding (n8n never sees the request);
 * - `hang`:   never answer (the client's request timeout ends it);
 * - `reset`:  destroy the socket (connection reset, "socket hang up");
 * - `refuse`: the API is down: the proxy stops listening, so the connection is refused;
 * - `delay`:  n8n gets the request at once and does the work; its answer arrives `delayMs` later
 *             (a slow or overloaded n8n, as seen from the node).
 * `afterForward`: n8n gets the request and does the work, then the fault replaces its answer
 * (the answer is lost), for `status`, `hang` and `reset`.
 *
 * A refused connection carries no request, so the proxy cannot see which request it refused: the
 * client (`send` below) tells it what it is about to send (`beforeSend`), and the proxy closes or
 * reopens its port before the connection is made. The refusal itself is the kernel's (ECONNREFUSED).
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { NodeApiError, type IHttpRequestOptions, type INode, type JsonObject } from 'n8n-workflow';

export type FaultKind = 'status' | 'hang' | 'reset' | 'refuse' | 'delay';

export interface FaultRule {
	method: string;
	/** Matched against the request path (without query), e.g. /^\/api\/v1\/credentials$/. */
	path: RegExp;
	fault: FaultKind;
	/** For `delay`: how long n8n's answer is held back. */
	delayMs?: number;
	/** For `status`: the status and JSON body to answer. */
	status?: number;
	body?: unknown;
	/** Let n8n process the request, then lose its answer this way (not for `refuse`). */
	afterForward?: boolean;
	/** 1-based number of the first matching request that gets the fault (default 1). */
	from?: number;
	/** How many matching requests get the fault (default Infinity: the fault persists). */
	times?: number;
}

export type Outcome = 'forwarded' | 'status' | 'hang' | 'reset' | 'refused' | 'delayed';

export interface ProxyEvent {
	method: string;
	path: string;
	outcome: Outcome;
	/** n8n got the request. */
	forwarded: boolean;
}

interface ActiveRule extends FaultRule {
	seen: number;
}

export class FaultProxy {
	readonly events: ProxyEvent[] = [];
	/** Requests of `delay` rules as they arrive (before n8n answers). */
	readonly arrivals: Array<{ method: string; path: string; at: number }> = [];
	private rules: ActiveRule[] = [];
	private listening = false;
	private readonly hung = new Set<http.ServerResponse>();
	private readonly sockets = new Set<Socket>();

	private constructor(
		private readonly server: http.Server,
		private readonly target: URL,
		readonly port: number,
	) {}

	/** Starts a proxy to `target` (e.g. n8n's http://127.0.0.1:5678). */
	static async start(target: string): Promise<FaultProxy> {
		let proxy: FaultProxy | undefined;
		const server = http.createServer((req, res) => {
			proxy?.handle(req, res).catch(() => res.destroy());
		});
		server.keepAliveTimeout = 1_000;
		await new Promise<void>((resolve, reject) => {
			server.once('error', reject);
			server.listen(0, '127.0.0.1', () => resolve());
		});
		proxy = new FaultProxy(server, new URL(target), (server.address() as AddressInfo).port);
		proxy.listening = true;
		server.on('connection', (socket: Socket) => {
			proxy?.sockets.add(socket);
			socket.on('close', () => proxy?.sockets.delete(socket));
		});
		return proxy;
	}

	/**
	 * The proxy's address for a URL of the target, e.g. n8n's API URL. With a `tag`, the address gets
	 * a first path segment `/~<tag>` that the proxy strips: a new tag looks like another n8n instance
	 * to the nodes (their per-instance caches start empty) while the same n8n answers.
	 */
	urlFor(targetUrl: string, tag?: string): string {
		const url = new URL(targetUrl);
		const prefix = tag ? `/~${encodeURIComponent(tag)}` : '';
		return `http://127.0.0.1:${this.port}${prefix}${url.pathname.replace(/\/+$/, '')}`;
	}

	addRule(rule: FaultRule): this {
		this.rules.push({ ...rule, seen: 0 });
		return this;
	}

	/** Removes the rules (the events stay) and brings the proxy back up. */
	async clearRules(): Promise<void> {
		this.rules = [];
		await this.up();
	}

	/** Events of requests matching METHOD + path, optionally with one outcome. */
	count(method: string, path: RegExp, outcome?: Outcome): number {
		return this.events.filter((event) => event.method === method && path.test(event.path) && (!outcome || event.outcome === outcome)).length;
	}

	/** Called by the client before each request: refuses it (port closed) or makes sure the port is open. */
	async beforeSend(method: string, path: string): Promise<void> {
		const rule = this.pick(method, path, (candidate) => candidate.fault === 'refuse');
		if (rule) {
			this.events.push({ method, path, outcome: 'refused', forwarded: false });
			await this.down();
		} else {
			await this.up();
		}
	}

	async close(): Promise<void> {
		this.rules = [];
		await this.down();
	}

	private pick(method: string, path: string, kind: (rule: ActiveRule) => boolean): ActiveRule | undefined {
		let chosen: ActiveRule | undefined;
		for (const rule of this.rules) {
			if (!kind(rule) || rule.method !== method || !rule.path.test(path)) continue;
			rule.seen += 1;
			const from = rule.from ?? 1;
			const until = from + (rule.times ?? Infinity);
			if (!chosen && rule.seen >= from && rule.seen < until) chosen = rule;
		}
		return chosen;
	}

	private async down(): Promise<void> {
		if (!this.listening) return;
		this.listening = false;
		for (const res of this.hung) res.destroy();
		this.hung.clear();
		await new Promise<void>((resolve) => {
			this.server.close(() => resolve());
			this.server.closeAllConnections();
			for (const socket of this.sockets) socket.destroy();
		});
	}

	private async up(): Promise<void> {
		if (this.listening) return;
		await new Promise<void>((resolve, reject) => {
			this.server.once('error', reject);
			this.server.listen(this.port, '127.0.0.1', () => {
				this.server.off('error', reject);
				resolve();
			});
		});
		this.listening = true;
	}

	private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
		const method = String(req.method ?? 'GET').toUpperCase();
		req.url = stripTag(req.url ?? '/');
		const path = new URL(req.url, 'http://proxy').pathname;
		const body = await readBody(req);
		const rule = this.pick(method, path, (candidate) => candidate.fault !== 'refuse');
		let answer: Upstream | undefined;
		if (rule?.fault === 'delay') {
			this.arrivals.push({ method, path, at: performance.now() });
			answer = await this.forward(req, method, body).catch(() => undefined);
			await new Promise((resolve) => setTimeout(resolve, rule.delayMs ?? 0));
			this.events.push({ method, path, outcome: 'delayed', forwarded: true });
			if (!answer) return void res.destroy();
			res.writeHead(answer.status, answer.headers);
			res.end(answer.body);
			return;
		}
		if (!rule || rule.afterForward) {
			try {
				answer = await this.forward(req, method, body);
			} catch {
				this.events.push({ method, path, outcome: 'reset', forwarded: true });
				res.destroy();
				return;
			}
		}
		if (!rule) {
			this.events.push({ method, path, outcome: 'forwarded', forwarded: true });
			res.writeHead(answer!.status, answer!.headers);
			res.end(answer!.body);
			return;
		}
		const forwarded = answer !== undefined;
		if (rule.fault === 'status') {
			this.events.push({ method, path, outcome: 'status', forwarded });
			const text = JSON.stringify(rule.body ?? { message: `fault injected: ${rule.status ?? 500}` });
			res.writeHead(rule.status ?? 500, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
			res.end(text);
		} else if (rule.fault === 'hang') {
			this.events.push({ method, path, outcome: 'hang', forwarded });
			this.hung.add(res);
			res.on('close', () => this.hung.delete(res));
		} else {
			this.events.push({ method, path, outcome: 'reset', forwarded });
			req.socket.destroy();
		}
	}

	private async forward(req: http.IncomingMessage, method: string, body: Buffer): Promise<Upstream> {
		const headers = { ...req.headers, host: this.target.host, connection: 'close' };
		return await new Promise<Upstream>((resolve, reject) => {
			const upstream = http.request(
				{ host: this.target.hostname, port: this.target.port, method, path: req.url, headers, agent: false },
				(response) => {
					const chunks: Buffer[] = [];
					response.on('data', (chunk: Buffer) => chunks.push(chunk));
					response.on('error', reject);
					response.on('end', () => {
						const { connection: _connection, 'transfer-encoding': _encoding, ...kept } = response.headers;
						const payload = Buffer.concat(chunks);
						resolve({ status: response.statusCode ?? 502, headers: { ...kept, 'content-length': String(payload.length) }, body: payload });
					});
				},
			);
			upstream.on('error', reject);
			upstream.end(body);
		});
	}
}

/** Drops the `/~<tag>` segment of `urlFor`. */
function stripTag(path: string): string {
	return path.replace(/^\/~[^/?]*/, '') || '/';
}

interface Upstream {
	status: number;
	headers: http.OutgoingHttpHeaders;
	body: Buffer;
}

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
	const chunks: Buffer[] = [];
	for await (const chunk of req) chunks.push(chunk as Buffer);
	return Buffer.concat(chunks);
}

const CLIENT_NODE: INode = {
	id: 'fault-proxy-client',
	name: 'Node Under Test',
	type: 'test',
	typeVersion: 1,
	position: [0, 0],
	parameters: {},
};

/**
 * Real HTTP the way n8n's `httpRequestWithAuthentication` does it for our transport
 * (`returnFullResponse`, `ignoreHttpStatusErrors`, `timeout`, the credential's API key header):
 * a timeout ends the request with axios' ECONNABORTED, and every network failure is thrown as
 * n8n throws it, a NodeApiError with the original error (and its code) as cause.
 * With a proxy, it tells the proxy what it is about to send, so `refuse` rules can close the port.
 */
export function httpLikeN8n(apiKey: string, proxy?: FaultProxy) {
	return async (options: IHttpRequestOptions): Promise<{ statusCode: number; body: unknown }> => {
		const url = new URL(options.url);
		for (const [key, value] of Object.entries(options.qs ?? {})) {
			if (value !== undefined) url.searchParams.set(key, String(value));
		}
		const method = String(options.method ?? 'GET').toUpperCase();
		await proxy?.beforeSend(method, stripTag(url.pathname));
		const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
		try {
			return await new Promise((resolve, reject) => {
				const request = http.request(
					url,
					{
						method,
						agent: false,
						headers: {
							'X-N8N-API-KEY': apiKey,
							accept: 'application/json',
							...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
						},
					},
					(response) => {
						const chunks: Buffer[] = [];
						response.on('data', (chunk: Buffer) => chunks.push(chunk));
						response.on('error', reject);
						response.on('end', () => {
							const text = Buffer.concat(chunks).toString('utf8');
							let body: unknown = text;
							try {
								body = text ? JSON.parse(text) : undefined;
							} catch {
								// not JSON
							}
							resolve({ statusCode: response.statusCode ?? 0, body });
						});
					},
				);
				const timeout = Number(options.timeout ?? 0);
				const timer =
					timeout > 0
						? setTimeout(() => request.destroy(Object.assign(new Error(`timeout of ${timeout}ms exceeded`), { code: 'ECONNABORTED' })), timeout)
						: undefined;
				request.on('close', () => timer && clearTimeout(timer));
				request.on('error', reject);
				// n8n's helper passes abortSignal on to axios, which ends the request with ERR_CANCELED.
				const signal = options.abortSignal as AbortSignal | undefined;
				const abort = () => request.destroy(Object.assign(new Error('canceled'), { code: 'ERR_CANCELED' }));
				if (signal?.aborted) abort();
				else signal?.addEventListener('abort', abort, { once: true });
				request.end(payload);
			});
		} catch (error) {
			// Re-created in this realm (jest runs tests in a vm context, where node's own errors fail
			// `instanceof Error`), so NodeApiError keeps it as `cause`, as it does in n8n.
			const failure = error as Error & { code?: string };
			const local = Object.assign(new Error(failure.message), { code: failure.code });
			throw new NodeApiError(CLIENT_NODE, local as unknown as JsonObject);
		}
	};
}
