/**
 * A fake n8n for the swap's critical-section tests: credentials with a value and an updatedAt, PATCHes
 * applied or failed as scripted, every write recorded with its writer and time.
 */
import type { IDataObject, IHttpRequestOptions } from 'n8n-workflow';

import { N8nApiClient, type ApiRequest, type ApiResponse } from '../../nodes/shared/transport/n8nApiClient';
import { sleep } from './lockTesting';

export type PatchBehaviour = 'answer' | 'applyThenLoseAnswer' | 'fail500' | 'neverApply' | 'notFound';

export class FakeN8n {
	readonly credentials = new Map<string, { value: string; updatedAt: number }>();
	readonly patches: Array<{ id: string; value: string; by: string; at: number }> = [];
	/** How the next PATCHes of the holder are treated (one entry per PATCH; then 'answer'). */
	readonly script: PatchBehaviour[] = [];
	/** How long a lost answer or a hang takes before the connection fails. */
	failAfterMs = 0;
	private clock = Date.UTC(2026, 0, 1);

	constructor(ids: string[]) {
		for (const id of ids) this.credentials.set(id, { value: 'initial', updatedAt: this.clock });
	}

	summary(id: string) {
		const credential = this.credentials.get(id)!;
		return { id, name: `Base ${id}`, type: 'httpHeaderAuth', updatedAt: new Date(credential.updatedAt).toISOString() };
	}

	apply(id: string, value: string, by: string): void {
		this.clock += 1000;
		this.credentials.set(id, { value, updatedAt: this.clock });
		this.patches.push({ id, value, by, at: performance.now() });
	}

	/** One request, as n8n's public API would answer it (paths below /api/v1). */
	async handle(request: Pick<ApiRequest, 'method' | 'path' | 'body' | 'timeoutMs'>, by: string): Promise<ApiResponse> {
		const id = decodeURIComponent(request.path.split('/')[2] ?? '');
		if (request.method === 'GET' && request.path.startsWith('/credentials/schema/')) {
			return { statusCode: 200, body: { type: 'object', additionalProperties: false, properties: { name: { type: 'string' }, value: { type: 'string' } }, required: [] } };
		}
		if (!this.credentials.has(id)) return { statusCode: 404, body: { message: 'Credential not found' } };
		if (request.method === 'GET') return { statusCode: 200, body: this.summary(id) };
		if (request.method !== 'PATCH') return { statusCode: 500, body: { message: 'unexpected' } };
		const behaviour = this.script.shift() ?? 'answer';
		const value = String((request.body?.data as { value?: unknown })?.value);
		if (behaviour === 'notFound') return { statusCode: 404, body: { message: 'Credential not found' } };
		if (behaviour === 'fail500') return { statusCode: 500, body: { message: 'Internal Server Error' } };
		if (behaviour === 'neverApply') {
			this.patches.push({ id, value: '(never applied)', by, at: performance.now() });
			await sleep(Math.min(this.failAfterMs, request.timeoutMs ?? Infinity));
			throw Object.assign(new Error('timeout'), { code: 'ECONNABORTED' });
		}
		this.apply(id, value, by);
		if (behaviour === 'applyThenLoseAnswer') {
			await sleep(this.failAfterMs);
			throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
		}
		return { statusCode: 200, body: this.summary(id) };
	}

	/** An API client on this fake, as the swap builds one (its writes recorded as `by`). */
	client(by: string): N8nApiClient {
		// The defaults' shape (8 attempts) with short pauses: a blind repeat would go out soon after a loss.
		return new N8nApiClient({ instanceId: `fake-n8n-${by}`, send: async (request) => await this.handle(request, by) }, { attempts: 8, baseDelayMs: 300, maxDelayMs: 300 });
	}

	/** What executeContext's `send` takes: n8n's HTTP helper options, answered by this fake. */
	httpSend(by: string): (options: IHttpRequestOptions) => Promise<ApiResponse> {
		return async (options) => {
			const path = new URL(options.url).pathname.replace(/^\/api\/v1/, '');
			return await this.handle({ method: options.method ?? 'GET', path, body: options.body as IDataObject | undefined, timeoutMs: options.timeout }, by);
		};
	}
}
