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
	/** Whose key the 404s answer as (n8n's words differ by role). */
	notFoundRole: KeyRole = 'legacy';
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
		if (!this.credentials.has(id)) return { statusCode: 404, body: credentialNotFoundBody(this.notFoundRole, id) };
		if (request.method === 'GET') return { statusCode: 200, body: this.summary(id) };
		if (request.method !== 'PATCH') return { statusCode: 500, body: { message: 'unexpected' } };
		const behaviour = this.script.shift() ?? 'answer';
		const value = String((request.body?.data as { value?: unknown })?.value);
		if (behaviour === 'notFound') return { statusCode: 404, body: credentialNotFoundBody(this.notFoundRole, id) };
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

/** Whose API key a FakeCredentialsApi answers as: n8n 2.40.7's 404 bodies differ by role (BRIEF "n8n's credential answers"). */
export type KeyRole = 'owner' | 'member' | 'legacy';

/** n8n's 404 body for a credential ID it does not have, as the key's role sees it. */
export function credentialNotFoundBody(role: KeyRole, id: string): { message: string } {
	if (role === 'owner') return { message: 'Not Found' };
	if (role === 'member') return { message: `Credential with ID "${id}" not found.` };
	return { message: 'Credential not found' };
}

/**
 * n8n's public credentials and workflows API in memory, for the clean-ups' failures a real n8n cannot
 * be made to produce on demand (a 403 on one credential among many, a 500 on one delete): list pages
 * with an opaque cursor, read by ID (405 like n8n 2.8 with `readById: false`), delete, and workflows
 * whose nodes reference credentials. Every request is recorded.
 */
export class FakeCredentialsApi {
	readonly instanceId: string;
	readonly credentials = new Map<string, { id: string; name: string; type: string; createdAt: string; updatedAt: string }>();
	readonly workflows: Array<{ id: string; name: string; nodes: Array<{ name: string; type: string; credentials?: Record<string, { id: string; name: string }> }> }> = [];
	readonly requests: ApiRequest[] = [];
	/** Status answered to deletes of these credentials (they stay). */
	readonly failDelete = new Map<string, number>();
	/** Credentials in a project the key's user is not a member of: reads and deletes answer 403 (n8n's project check), the list leaves them out. */
	readonly otherProject = new Set<string>();
	/** Status answered to every workflows list request, instead of a page. */
	failWorkflowList?: number;
	readById = true;
	/** Creations wait for this before n8n answers (a creation in progress). */
	createGate?: Promise<void>;
	private nextId = 1;

	constructor(
		public role: KeyRole = 'owner',
		scope = `http://fake-n8n-${Math.random().toString(36).slice(2)}.invalid/api/v1`,
	) {
		this.instanceId = scope;
	}

	add(id: string, name = `tenant-cred ${id}`): string {
		const at = new Date().toISOString();
		this.credentials.set(id, { id, name, type: 'httpHeaderAuth', createdAt: at, updatedAt: at });
		return id;
	}

	/** A workflow with one node wired to this credential. */
	reference(credentialId: string, workflowName = `Uses ${credentialId}`): void {
		this.workflows.push({
			id: `wf${this.workflows.length + 1}`,
			name: workflowName,
			nodes: [{ name: 'HTTP Request', type: 'n8n-nodes-base.httpRequest', credentials: { httpHeaderAuth: { id: credentialId, name: 'by hand' } } }],
		});
	}

	deletes(): string[] {
		return this.requests.filter((request) => request.method === 'DELETE').map((request) => decodeURIComponent(request.path.split('/').pop()!));
	}

	async send(request: ApiRequest): Promise<ApiResponse> {
		this.requests.push(request);
		const page = <T>(all: T[]) => {
			const limit = Number(request.qs?.limit ?? 100);
			const offset = request.qs?.cursor === undefined ? 0 : Number(Buffer.from(String(request.qs.cursor), 'base64').toString());
			const next = offset + limit < all.length ? Buffer.from(String(offset + limit)).toString('base64') : null;
			return { statusCode: 200, body: { data: all.slice(offset, offset + limit), nextCursor: next } };
		};
		if (request.method === 'GET' && request.path === '/credentials') return page([...this.credentials.values()].filter((credential) => !this.otherProject.has(credential.id)));
		if (request.method === 'POST' && request.path === '/credentials') {
			await this.createGate;
			const body = request.body as { name: string };
			const id = this.add(`made${this.nextId++}`, body.name);
			return { statusCode: 200, body: this.credentials.get(id) };
		}
		if (request.method === 'GET' && request.path === '/workflows') {
			if (this.failWorkflowList !== undefined) return { statusCode: this.failWorkflowList, body: { message: this.failWorkflowList === 403 ? 'Forbidden' : 'Internal Server Error' } };
			return page(this.workflows);
		}
		const byId = /^\/credentials\/([^/]+)$/.exec(request.path);
		if (byId) {
			const id = decodeURIComponent(byId[1]);
			if (request.method === 'GET' && !this.readById) return { statusCode: 405, body: { message: 'GET method not allowed' } };
			const status = this.otherProject.has(id) && (request.method !== 'GET' || this.readById) ? 403 : request.method === 'DELETE' ? this.failDelete.get(id) : undefined;
			if (status !== undefined) return { statusCode: status, body: { message: status === 403 ? 'Forbidden' : 'Internal Server Error' } };
			const found = this.credentials.get(id);
			if (!found) return { statusCode: 404, body: credentialNotFoundBody(this.role, id) };
			if (request.method === 'GET') return { statusCode: 200, body: found };
			if (request.method === 'DELETE') {
				this.credentials.delete(id);
				return { statusCode: 200, body: found };
			}
		}
		return { statusCode: 404, body: { message: `not faked: ${request.method} ${request.path}` } };
	}

	/** A client on this fake: one attempt, no pauses (failures are the point). */
	client(): N8nApiClient {
		return new N8nApiClient(this, { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 });
	}
}
