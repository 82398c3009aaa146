/**
 * The Tenant OAuth2 Connect Trigger's webhook() behind a plain HTTP server on 127.0.0.1, as n8n calls
 * it (`<path>/start`, `<path>/callback`, the response object answered by the node), with a fake n8n
 * public API (credentials only) and the in-memory lock backend. For the in-process tests; the e2e
 * runs the same node in a real n8n.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { IDataObject, IHttpRequestOptions, INodeExecutionData, IWebhookFunctions } from 'n8n-workflow';

import { TenantOAuth2ConnectTrigger } from '../../nodes/TenantOAuth2ConnectTrigger/TenantOAuth2ConnectTrigger.node';

export interface FakeCredential {
	id: string;
	name: string;
	type: string;
	data: IDataObject;
	projectId?: string;
}

/** n8n's public API for credentials, in memory; creations can be slowed (to make races overlap). */
export class FakeCredentialApi {
	readonly credentials = new Map<string, FakeCredential>();
	readonly calls: Array<{ method: string; path: string }> = [];
	createDelayMs = 0;
	private next = 1;

	async handle(options: IHttpRequestOptions): Promise<{ statusCode: number; body: unknown }> {
		const url = new URL(String(options.url));
		const path = url.pathname.replace(/^\/api\/v1/, '');
		const method = String(options.method ?? 'GET');
		this.calls.push({ method, path });
		const body = (options.body ?? {}) as IDataObject;
		const id = decodeURIComponent(path.split('/')[2] ?? '');
		if (method === 'POST' && path === '/credentials') {
			if (this.createDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.createDelayMs));
			const credential: FakeCredential = {
				id: `cred-${this.next++}`,
				name: String(body.name),
				type: String(body.type),
				data: body.data as IDataObject,
				...(body.projectId ? { projectId: String(body.projectId) } : {}),
			};
			this.credentials.set(credential.id, credential);
			return { statusCode: 200, body: { id: credential.id, name: credential.name, type: credential.type } };
		}
		if (method === 'PATCH' && path.startsWith('/credentials/')) {
			const credential = this.credentials.get(id);
			if (!credential) return { statusCode: 404, body: { message: 'Credential not found' } };
			credential.data = body.data as IDataObject;
			return { statusCode: 200, body: { id, name: credential.name, type: credential.type } };
		}
		if (method === 'DELETE' && path.startsWith('/credentials/')) {
			if (!this.credentials.delete(id)) return { statusCode: 404, body: { message: 'Credential not found' } };
			return { statusCode: 200, body: {} };
		}
		if (method === 'GET' && path.startsWith('/workflows/')) {
			return { statusCode: 200, body: { id, name: 'connect', nodes: [], connections: {}, shared: [{ role: 'workflow:owner', projectId: 'project-1' }] } };
		}
		return { statusCode: 404, body: { message: 'not found' } };
	}
}

export interface TriggerHarnessOptions {
	app: Record<string, unknown>;
	connection?: string;
	emitRefusals?: boolean;
	path?: string;
}

export interface TriggerHarness {
	url: string;
	startUrl: string;
	callbackUrl: string;
	api: FakeCredentialApi;
	/** What the node handed n8n for each call that would run the workflow. */
	emitted: IDataObject[];
	/** Warnings and errors the node logged. */
	logs: string[];
	close(): Promise<void>;
}

async function realHttpRequest(options: IHttpRequestOptions): Promise<unknown> {
	const response = await fetch(String(options.url), {
		method: String(options.method ?? 'GET'),
		headers: options.headers as Record<string, string>,
		body: options.body as string | undefined,
		signal: AbortSignal.timeout(Number(options.timeout ?? 10_000)),
	});
	const text = await response.text();
	return options.returnFullResponse ? { statusCode: response.status, body: text, headers: Object.fromEntries(response.headers) } : text;
}

export async function startTriggerHarness(options: TriggerHarnessOptions): Promise<TriggerHarness> {
	const node = new TenantOAuth2ConnectTrigger();
	const api = new FakeCredentialApi();
	const emitted: IDataObject[] = [];
	const logs: string[] = [];
	const path = options.path ?? 'tenant-connect';
	let base = '';
	const parameters: IDataObject = {
		path,
		connection: options.connection ?? 'acme',
		lockBackend: 'memory',
		options: { emitRefusals: options.emitRefusals ?? false, authorizationMinutes: 10 },
	};
	const parameter = (name: string, fallback?: unknown): unknown => {
		let value: unknown = parameters;
		for (const part of name.split('.')) value = (value as IDataObject | undefined)?.[part];
		return value === undefined ? fallback : value;
	};

	const handle = async (req: IncomingMessage, res: ServerResponse) => {
		const url = new URL(req.url ?? '/', base);
		const webhookName = url.pathname === `/webhook/${path}/start` ? 'start' : url.pathname === `/webhook/${path}/callback` ? 'callback' : undefined;
		if (!webhookName || req.method !== 'GET') {
			res.statusCode = 404;
			res.end();
			return;
		}
		const query: Record<string, string | string[]> = {};
		for (const key of new Set(url.searchParams.keys())) {
			const all = url.searchParams.getAll(key);
			query[key] = all.length === 1 ? all[0] : all;
		}
		const expressRes = Object.assign(res, {
			status(code: number) {
				res.statusCode = code;
				return expressRes;
			},
		});
		const context = {
			getNodeParameter: parameter,
			getNodeWebhookUrl: (name: string) => `${base}/webhook/${path}/${name}`,
			getWebhookName: () => webhookName,
			getQueryData: () => query,
			getHeaderData: () => req.headers,
			getResponseObject: () => expressRes,
			getRequestObject: () => req,
			getNode: () => ({ id: 'n1', name: 'Tenant OAuth2 Connect Trigger', type: 'tenantOAuth2ConnectTrigger', typeVersion: 1, position: [0, 0], parameters }),
			getWorkflow: () => ({ id: 'wf-1', name: 'connect', active: true }),
			getInstanceId: () => 'instance-1',
			getMode: () => 'webhook',
			getCredentials: async (type: string) => {
				if (type === 'oAuth2Api') return { ...options.app };
				if (type === 'tenantSwapN8nApi') return { baseUrl: 'http://n8n.invalid/api/v1', apiKey: 'fake-api-key' };
				throw new Error(`no credential ${type}`);
			},
			helpers: {
				httpRequest: realHttpRequest,
				httpRequestWithAuthentication: async (_type: string, request: IHttpRequestOptions) => await api.handle(request),
			},
			logger: {
				warn: (message: string) => logs.push(`warn: ${message}`),
				error: (message: string) => logs.push(`error: ${message}`),
				info: () => undefined,
				debug: () => undefined,
			},
		} as unknown as IWebhookFunctions;
		const answer = await node.webhook.call(context);
		for (const item of (answer.workflowData?.[0] ?? []) as INodeExecutionData[]) emitted.push(item.json);
		if (answer.noWebhookResponse !== true) throw new Error('the node did not answer the browser itself');
		if (!res.writableEnded) throw new Error('the node returned without ending the response');
	};

	const server: Server = createServer((req, res) => {
		handle(req, res).catch((error: unknown) => {
			logs.push(`harness: ${(error as Error).message}`);
			if (!res.headersSent) res.statusCode = 599;
			res.end();
		});
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
	return {
		url: base,
		startUrl: `${base}/webhook/${path}/start`,
		callbackUrl: `${base}/webhook/${path}/callback`,
		api,
		emitted,
		logs,
		close: async () => await new Promise<void>((resolve) => server.close(() => resolve())),
	};
}
