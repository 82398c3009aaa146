import type { ApiRequest, ApiResponse, N8nApiTransport } from '../../nodes/shared/transport/n8nApiClient';

/** n8n's public API over fetch with one key (the node sends the same requests through n8n's HTTP helper). */
export class FetchTransport implements N8nApiTransport {
	readonly instanceId: string;
	readonly requests: Array<ApiRequest & { status: number; message?: string }> = [];

	constructor(
		private readonly apiUrl: string,
		private readonly apiKey: string,
	) {
		this.instanceId = apiUrl;
	}

	async send(request: ApiRequest): Promise<ApiResponse> {
		const url = new URL(`${this.apiUrl}${request.path}`);
		for (const [key, value] of Object.entries(request.qs ?? {})) if (value !== undefined) url.searchParams.set(key, String(value));
		const response = await fetch(url, {
			method: request.method,
			headers: { 'X-N8N-API-KEY': this.apiKey, accept: 'application/json', ...(request.body ? { 'content-type': 'application/json' } : {}) },
			body: request.body ? JSON.stringify(request.body) : undefined,
		});
		const text = await response.text();
		let body: unknown = text;
		try {
			body = text ? JSON.parse(text) : undefined;
		} catch {
			// not JSON: keep the text
		}
		this.requests.push({ ...request, status: response.status, message: (body as { message?: string })?.message });
		return { statusCode: response.status, body };
	}
}
