import type {
	ICredentialDataDecryptedObject,
	IExecuteFunctions,
	IHttpRequestOptions,
	ILoadOptionsFunctions,
	IWebhookFunctions,
} from 'n8n-workflow';

import type { ApiRequest, ApiResponse, N8nApiTransport } from './n8nApiClient';

export const N8N_API_CREDENTIAL_TYPE = 'tenantSwapN8nApi';

export interface N8nApiCredentials {
	baseUrl: string;
	apiKey?: string;
	allowUnauthorizedCerts?: boolean;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
let requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS;

/**
 * For tests only: the timeout of each request to n8n's API (no answer within it counts as a failed
 * attempt). `undefined` restores the default. Users cannot reach this.
 */
export function setRequestTimeoutMs(ms?: number): void {
	requestTimeoutMs = ms === undefined ? DEFAULT_REQUEST_TIMEOUT_MS : Math.max(1, Math.round(ms));
}

export function normaliseBaseUrl(baseUrl: string): string {
	return String(baseUrl ?? '').trim().replace(/\/+$/, '');
}

/**
 * n8n's public API through `httpRequestWithAuthentication`, so the credential adds the key
 * and the user's proxy and TLS settings apply.
 */
export class PublicApiTransport implements N8nApiTransport {
	readonly instanceId: string;
	private readonly baseUrl: string;

	constructor(
		private readonly context: IExecuteFunctions | ILoadOptionsFunctions | IWebhookFunctions,
		credentials: N8nApiCredentials,
	) {
		this.baseUrl = normaliseBaseUrl(credentials.baseUrl);
		this.instanceId = this.baseUrl;
		this.skipTls = credentials.allowUnauthorizedCerts === true;
	}

	private readonly skipTls: boolean;

	async send(request: ApiRequest): Promise<ApiResponse> {
		const options: IHttpRequestOptions = {
			method: request.method,
			url: `${this.baseUrl}${request.path}`,
			qs: request.qs,
			body: request.body,
			json: true,
			returnFullResponse: true,
			ignoreHttpStatusErrors: true,
			skipSslCertificateValidation: this.skipTls,
			timeout:
				request.timeoutMs === undefined ? requestTimeoutMs : Math.max(1, Math.min(requestTimeoutMs, Math.floor(request.timeoutMs))),
			...(request.signal ? { abortSignal: request.signal } : {}),
		};
		const response = (
			this.apiKeyAfterExecution === undefined
				? await this.context.helpers.httpRequestWithAuthentication.call(this.context, N8N_API_CREDENTIAL_TYPE, options)
				: await this.context.helpers.httpRequest({ ...options, headers: { 'X-N8N-API-KEY': this.apiKeyAfterExecution } })
		) as { statusCode: number; body: unknown };
		return { statusCode: response.statusCode, body: parseBody(response.body) };
	}

	/** Set by `afterExecution`: the key resolved while the execution ran. */
	private apiKeyAfterExecution?: string;

	/**
	 * A transport that still works once the execution has ended (the lease keeper asks then):
	 * n8n can no longer resolve the credential, so the key resolved during the execution is sent
	 * as the header the credential would add. Still n8n's HTTP helper: proxy and TLS settings apply.
	 */
	static afterExecution(context: IExecuteFunctions, credentials: N8nApiCredentials): PublicApiTransport {
		const transport = new PublicApiTransport(context, credentials);
		transport.apiKeyAfterExecution = credentials.apiKey ?? '';
		return transport;
	}
}

function parseBody(body: unknown): unknown {
	if (typeof body !== 'string') return body;
	try {
		return JSON.parse(body);
	} catch {
		return body;
	}
}

export async function n8nApiCredentials(
	context: IExecuteFunctions | ILoadOptionsFunctions | IWebhookFunctions,
): Promise<N8nApiCredentials> {
	const credentials = (await context.getCredentials(N8N_API_CREDENTIAL_TYPE)) as ICredentialDataDecryptedObject;
	return {
		baseUrl: String(credentials.baseUrl ?? ''),
		apiKey: credentials.apiKey ? String(credentials.apiKey) : undefined,
		allowUnauthorizedCerts: credentials.allowUnauthorizedCerts === true,
	};
}
