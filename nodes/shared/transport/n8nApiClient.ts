import { sleep, type IDataObject, type IHttpRequestMethods } from 'n8n-workflow';

import { N8nApiError } from './n8nApiErrors';

export interface ApiRequest {
	method: IHttpRequestMethods;
	/** Path below the API base, e.g. `/credentials`. */
	path: string;
	body?: IDataObject;
	qs?: IDataObject;
}

export interface ApiResponse {
	statusCode: number;
	body: unknown;
}

/**
 * How requests reach n8n. The public API (`/api/v1`, API key) is the one transport today;
 * n8n 1.x's internal REST API (login session) can be added behind the same shape.
 */
export interface N8nApiTransport {
	/** Identifies the n8n instance, for process-wide caches. */
	readonly instanceId: string;
	/** Sends one request; answers any HTTP status; throws only when no answer came. */
	send(request: ApiRequest): Promise<ApiResponse>;
}

export interface CredentialSummary {
	id: string;
	name: string;
	type: string;
	createdAt?: string;
	updatedAt?: string;
}

export interface CredentialPage {
	data: CredentialSummary[];
	nextCursor: string | null;
}

export interface CredentialTestResult {
	status: 'OK' | 'Error';
	message: string;
}

/** JSON Schema as n8n's `GET /credentials/schema/:type` returns it. */
export interface CredentialSchema {
	type?: string;
	properties?: Record<string, JsonSchemaProperty>;
	required?: string[];
	additionalProperties?: boolean;
	allOf?: unknown[];
}

export interface JsonSchemaProperty {
	type?: string | string[];
	enum?: unknown[];
	[key: string]: unknown;
}

/** Whether a request may be sent again after a failure, and after which failures. */
type RetryPolicy = 'idempotent' | 'notProcessed';

const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);
/** Statuses that n8n answers before it does anything, so even a create may be repeated. */
const NOT_PROCESSED_STATUS = new Set([429, 503]);
const RETRYABLE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED', 'EAI_AGAIN']);
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'EAI_AGAIN']);

export interface RetryOptions {
	attempts: number;
	baseDelayMs: number;
	maxDelayMs: number;
}

// n8n answers 503 "Database is not ready" for seconds under a burst (BRIEF): ride that out.
const DEFAULT_RETRY: RetryOptions = { attempts: 8, baseDelayMs: 250, maxDelayMs: 5_000 };

/** Schemas change only with n8n's version: one fetch per type per instance per process. */
const schemaCache = new Map<string, Promise<CredentialSchema>>();

export class N8nApiClient {
	constructor(
		private readonly transport: N8nApiTransport,
		private readonly retry: RetryOptions = DEFAULT_RETRY,
	) {}

	async listCredentials(cursor?: string, limit = 250): Promise<CredentialPage> {
		const qs: IDataObject = { limit };
		if (cursor) qs.cursor = cursor;
		const page = (await this.call('list credentials', 'idempotent', { method: 'GET', path: '/credentials', qs })) as CredentialPage;
		return { data: page?.data ?? [], nextCursor: page?.nextCursor ?? null };
	}

	/** Every credential, following cursors. */
	async listAllCredentials(): Promise<CredentialSummary[]> {
		const all: CredentialSummary[] = [];
		let cursor: string | undefined;
		do {
			const page = await this.listCredentials(cursor);
			all.push(...page.data);
			cursor = page.nextCursor ?? undefined;
		} while (cursor);
		return all;
	}

	/** n8n >= 2.20. Metadata only: n8n never returns credential data. */
	async getCredential(id: string): Promise<CredentialSummary> {
		return (await this.call('read credential', 'idempotent', {
			method: 'GET',
			path: `/credentials/${encodeURIComponent(id)}`,
		})) as CredentialSummary;
	}

	async getSchema(type: string): Promise<CredentialSchema> {
		const key = `${this.transport.instanceId}|${type}`;
		let schema = schemaCache.get(key);
		if (!schema) {
			schema = this.call('read credential schema', 'idempotent', {
				method: 'GET',
				path: `/credentials/schema/${encodeURIComponent(type)}`,
			}) as Promise<CredentialSchema>;
			schemaCache.set(key, schema);
			schema.catch(() => schemaCache.delete(key));
		}
		return await schema;
	}

	async createCredential(input: { name: string; type: string; data: IDataObject }): Promise<CredentialSummary> {
		return (await this.call('create temporary credential', 'notProcessed', {
			method: 'POST',
			path: '/credentials',
			body: input as unknown as IDataObject,
		})) as CredentialSummary;
	}

	async updateCredential(
		id: string,
		input: { data: IDataObject; isPartialData?: boolean },
	): Promise<CredentialSummary> {
		const body: IDataObject = { data: input.data };
		if (input.isPartialData) body.isPartialData = true;
		return (await this.call('update base credential', 'idempotent', {
			method: 'PATCH',
			path: `/credentials/${encodeURIComponent(id)}`,
			body,
		})) as CredentialSummary;
	}

	/** Deletes; a credential that is already gone counts as deleted (a retried delete may find it so). */
	async deleteCredential(id: string): Promise<void> {
		try {
			await this.call('delete temporary credential', 'idempotent', {
				method: 'DELETE',
				path: `/credentials/${encodeURIComponent(id)}`,
			});
		} catch (error) {
			if (error instanceof N8nApiError && error.status === 404 && /credential not found/i.test(error.apiMessage)) return;
			throw error;
		}
	}

	/** n8n >= 2.20. */
	async testCredential(id: string): Promise<CredentialTestResult> {
		return (await this.call('test credential', 'idempotent', {
			method: 'POST',
			path: `/credentials/${encodeURIComponent(id)}/test`,
		})) as CredentialTestResult;
	}

	/**
	 * Status of an execution (`running`, `waiting`, `success`, `error`, `canceled`, `crashed`, ...),
	 * or `missing` when n8n does not know it (deleted after it ended, when its data is not saved).
	 * Needs the API key scope `execution:read`.
	 */
	async getExecutionStatus(id: string): Promise<string> {
		try {
			const execution = (await this.call('read execution', 'idempotent', {
				method: 'GET',
				path: `/executions/${encodeURIComponent(id)}`,
				qs: { includeData: false },
			})) as { status?: string; finished?: boolean; stoppedAt?: string | null };
			return String(execution?.status ?? (execution?.stoppedAt ? 'stopped' : 'running'));
		} catch (error) {
			if (error instanceof N8nApiError && error.status === 404) return 'missing';
			throw error;
		}
	}

	private async call(operation: string, policy: RetryPolicy, request: ApiRequest): Promise<unknown> {
		for (let attempt = 1; ; attempt++) {
			let failure: N8nApiError;
			let retryable: boolean;
			try {
				const response = await this.transport.send(request);
				if (response.statusCode >= 200 && response.statusCode < 300) return response.body;
				failure = new N8nApiError(operation, response.statusCode, messageOf(response.body));
				retryable =
					policy === 'idempotent'
						? RETRYABLE_STATUS.has(response.statusCode)
						: NOT_PROCESSED_STATUS.has(response.statusCode);
			} catch (error) {
				const code = (error as { code?: string; cause?: { code?: string } }).code ??
					(error as { cause?: { code?: string } }).cause?.code;
				failure = new N8nApiError(operation, undefined, networkMessage(error, code), code);
				retryable = policy === 'idempotent' ? RETRYABLE_CODES.has(code ?? '') : NOT_SENT_CODES.has(code ?? '');
			}
			if (!retryable || attempt >= this.retry.attempts) throw failure;
			await sleep(backoff(attempt, this.retry));
		}
	}
}

/** Full jitter exponential backoff, so many executions retrying at once spread out. */
function backoff(attempt: number, retry: RetryOptions): number {
	const ceiling = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1));
	return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

function messageOf(body: unknown): string {
	if (body && typeof body === 'object' && 'message' in body) return String((body as { message: unknown }).message);
	if (typeof body === 'string' && body.length > 0) return body.slice(0, 300);
	return 'no message';
}

function networkMessage(error: unknown, code: string | undefined): string {
	const message = error instanceof Error ? error.message : String(error);
	return code && !message.includes(code) ? `${message} (${code})` : message;
}
