import { sleep, type IDataObject, type IHttpRequestMethods } from 'n8n-workflow';

import { CREDENTIAL_BY_ID_PATH, isCredentialGone, N8nApiError, NOT_SENT_LEASE_SHORT, NOT_SENT_LOCK_LOST } from './n8nApiErrors';

export interface ApiRequest {
	method: IHttpRequestMethods;
	/** Path below the API base, e.g. `/credentials`. */
	path: string;
	body?: IDataObject;
	qs?: IDataObject;
	/** Shorter request timeout for this request (e.g. the time left on a lock lease). */
	timeoutMs?: number;
	/** Ends the request early (the lock it runs under was lost). */
	signal?: AbortSignal;
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

/** A workflow as n8n's public API returns it (the parts the nodes read). */
export interface WorkflowSummary {
	id: string;
	name: string;
	versionId?: string;
	updatedAt?: string;
	activeVersionId?: string | null;
	nodes: WorkflowNode[];
	connections: IDataObject;
	settings?: IDataObject;
	/** The published version (n8n 2.x), which production executions of a sub-workflow run. */
	activeVersion?: { versionId?: string; nodes: WorkflowNode[]; connections: IDataObject } | null;
	/** Projects the workflow belongs to (role `workflow:owner` is its home project). */
	shared?: Array<{ role?: string; projectId?: string }>;
}

export interface WorkflowNode {
	id?: string;
	name: string;
	type: string;
	typeVersion?: number;
	disabled?: boolean;
	parameters?: IDataObject;
	credentials?: Record<string, { id?: string | null; name?: string }>;
	[key: string]: unknown;
}

export interface WorkflowPage {
	data: Array<Pick<WorkflowSummary, 'id' | 'name' | 'nodes' | 'shared' | 'activeVersion'> & { isArchived?: boolean }>;
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
const RETRYABLE_CODES = new Set([
	'ECONNRESET',
	'ECONNREFUSED',
	'ETIMEDOUT',
	'EPIPE',
	'ECONNABORTED',
	'EAI_AGAIN',
	'UND_ERR_SOCKET',
	'UND_ERR_HEADERS_TIMEOUT',
	'UND_ERR_BODY_TIMEOUT',
	'UND_ERR_CONNECT_TIMEOUT',
]);
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'EAI_AGAIN']);

export interface RetryOptions {
	attempts: number;
	baseDelayMs: number;
	maxDelayMs: number;
}

// n8n answers 503 "Database is not ready" for seconds under a burst (BRIEF): ride that out.
export const DEFAULT_RETRY: Readonly<RetryOptions> = Object.freeze({ attempts: 8, baseDelayMs: 250, maxDelayMs: 5_000 });
let defaultRetry: RetryOptions = { ...DEFAULT_RETRY };

/**
 * For tests only: the retry settings of clients built without their own (the nodes' clients).
 * `undefined` restores the defaults. Users cannot reach this.
 */
export function setDefaultRetryOptions(options?: Partial<RetryOptions>): void {
	defaultRetry = { ...DEFAULT_RETRY, ...(options ?? {}) };
}

/** Options of one call. */
export interface CallOptions {
	/**
	 * The time (ms) an attempt sent now may take, read afresh before every attempt (under a lock: the
	 * lease left, which renewals move on). The request timeout shrinks to it, and no attempt is sent
	 * when less than `minimumTimeMs` is left.
	 */
	timeLeftMs?: () => number;
	/** Below this much time left, an attempt is not sent (it could not be answered in time). */
	minimumTimeMs?: number;
	/** Aborted = stop at once, no further attempt (the lock the call runs under was lost). */
	signal?: AbortSignal;
	/**
	 * Only repeat attempts n8n cannot have carried out (refused, 429, 503). A failure n8n may have
	 * carried out is thrown at once (`maybeProcessed`), for the caller to find out what happened.
	 */
	noBlindRetry?: boolean;
}

export { NOT_SENT_LEASE_SHORT } from './n8nApiErrors';

/** Schemas change only with n8n's version: one fetch per type per instance per process. */
const schemaCache = new Map<string, Promise<CredentialSchema>>();

export class N8nApiClient {
	constructor(
		private readonly transport: N8nApiTransport,
		private readonly ownRetry?: RetryOptions,
	) {}

	private get retry(): RetryOptions {
		return this.ownRetry ?? defaultRetry;
	}

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
	async getCredential(id: string, options: CallOptions = {}): Promise<CredentialSummary> {
		return (await this.call(
			'read credential',
			'idempotent',
			{ method: 'GET', path: `/credentials/${encodeURIComponent(id)}` },
			options,
		)) as CredentialSummary;
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

	async createCredential(
		input: { name: string; type: string; data: IDataObject; projectId?: string },
		operation = 'create temporary credential',
	): Promise<CredentialSummary> {
		return (await this.call(operation, 'notProcessed', {
			method: 'POST',
			path: '/credentials',
			body: input as unknown as IDataObject,
		})) as CredentialSummary;
	}

	async updateCredential(
		id: string,
		input: { data: IDataObject; isPartialData?: boolean },
		options: CallOptions = {},
	): Promise<CredentialSummary> {
		const body: IDataObject = { data: input.data };
		if (input.isPartialData) body.isPartialData = true;
		// Idempotent: the body carries the whole wish (full data, or the same partial data again). Under a
		// lock the caller passes noBlindRetry: a repeat after the lease ended could overwrite the next holder.
		return (await this.call(
			'update base credential',
			'idempotent',
			{ method: 'PATCH', path: `/credentials/${encodeURIComponent(id)}`, body },
			options,
		)) as CredentialSummary;
	}

	/**
	 * Deletes; a credential that is already gone counts as deleted (a retried delete may find it so, or
	 * someone deleted it by hand): every 404 (isCredentialGone). Answers whether this call deleted it.
	 */
	async deleteCredential(id: string, operation = 'delete temporary credential'): Promise<'deleted' | 'gone'> {
		try {
			await this.call(operation, 'idempotent', {
				method: 'DELETE',
				path: `/credentials/${encodeURIComponent(id)}`,
			});
			return 'deleted';
		} catch (error) {
			if (isCredentialGone(error)) return 'gone';
			throw error;
		}
	}

	/** A workflow with its nodes (draft and published version). Needs the API key scope `workflow:read`. */
	async getWorkflow(id: string): Promise<WorkflowSummary> {
		return (await this.call('read workflow', 'idempotent', {
			method: 'GET',
			path: `/workflows/${encodeURIComponent(id)}`,
			qs: { excludePinnedData: true },
		})) as WorkflowSummary;
	}

	/** One page of workflows, optionally only those whose name contains `name`, or of one project. Needs `workflow:list`. */
	async listWorkflows(cursor?: string, limit = 100, name?: string, projectId?: string): Promise<WorkflowPage> {
		const qs: IDataObject = { limit, excludePinnedData: true };
		if (cursor) qs.cursor = cursor;
		if (name) qs.name = name;
		if (projectId) qs.projectId = projectId;
		const page = (await this.call('list workflows', 'idempotent', { method: 'GET', path: '/workflows', qs })) as WorkflowPage;
		return { data: page?.data ?? [], nextCursor: page?.nextCursor ?? null };
	}

	/** n8n >= 2.20. */
	async testCredential(id: string): Promise<CredentialTestResult> {
		let result: CredentialTestResult;
		try {
			result = (await this.call('test credential', 'idempotent', {
				method: 'POST',
				path: `/credentials/${encodeURIComponent(id)}/test`,
			})) as CredentialTestResult;
		} catch (error) {
			if (error instanceof N8nApiError && N8N_TEST_ENDPOINT_BUG.test(error.apiMessage)) return { status: 'Error', message: n8nTestBug(error.apiMessage) };
			throw error;
		}
		if (result?.status !== 'OK' && N8N_TEST_ENDPOINT_BUG.test(String(result?.message ?? ''))) {
			return { status: 'Error', message: n8nTestBug(String(result.message)) };
		}
		return result;
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

	private async call(operation: string, policy: RetryPolicy, request: ApiRequest, options: CallOptions = {}): Promise<unknown> {
		const retry = this.retry;
		const attempts = Math.max(1, retry.attempts);
		const effectivePolicy: RetryPolicy = options.noBlindRetry ? 'notProcessed' : policy;
		const minimum = Math.max(1, options.minimumTimeMs ?? 1);
		let previous: N8nApiError | undefined;
		let maybeProcessed = false;
		for (let attempt = 1; ; attempt++) {
			let failure: N8nApiError;
			let retryable: boolean;
			if (options.signal?.aborted) {
				throw (previous ?? new N8nApiError(operation, undefined, 'not sent: the lock was lost', NOT_SENT_LOCK_LOST)).withAttempts(
					attempt - 1,
					'the lock was lost',
					maybeProcessed,
				);
			}
			// Read at send time: the lease left now, not at the start of the call.
			const left = options.timeLeftMs?.();
			if (left !== undefined && left < minimum) {
				const reason = `less than ${minimum} ms of the lock lease was left, too little for an answer`;
				throw (previous ?? new N8nApiError(operation, undefined, 'not sent: too little of the lock lease was left', NOT_SENT_LEASE_SHORT)).withAttempts(
					attempt - 1,
					reason,
					maybeProcessed,
				);
			}
			try {
				const response = await this.transport.send({
					...request,
					...(left === undefined ? {} : { timeoutMs: left }),
					...(options.signal ? { signal: options.signal } : {}),
				});
				if (response.statusCode >= 200 && response.statusCode < 300) return response.body;
				failure = new N8nApiError(operation, response.statusCode, messageOf(response.body));
				failure.credentialGone = response.statusCode === 404 && CREDENTIAL_BY_ID_PATH.test(request.path);
				retryable =
					effectivePolicy === 'idempotent'
						? RETRYABLE_STATUS.has(response.statusCode)
						: NOT_PROCESSED_STATUS.has(response.statusCode);
			} catch (error) {
				const code = errorCode(error);
				failure = new N8nApiError(operation, undefined, networkMessage(error, code), code);
				retryable = effectivePolicy === 'idempotent' ? RETRYABLE_CODES.has(code ?? '') : NOT_SENT_CODES.has(code ?? '');
			}
			maybeProcessed ||= failure.attemptMayHaveBeenProcessed;
			if (!retryable || attempt >= attempts) throw failure.withAttempts(attempt, undefined, maybeProcessed);
			const delay = backoff(attempt, retry);
			if (options.timeLeftMs && options.timeLeftMs() - delay < minimum) {
				throw failure.withAttempts(attempt, 'the lock lease (Lock TTL) would run out before another attempt', maybeProcessed);
			}
			previous = failure;
			await sleep(delay);
		}
	}
}

/**
 * n8n 2.20.12's credential test endpoint (and its UI's Test button) fails for Header, Basic and Query
 * Auth with this, whatever the data: n8n's bug, not the tenant's secret.
 */
const N8N_TEST_ENDPOINT_BUG = /Unrecognized node type: n8n-nodes-base\.graphqlTool/;

function n8nTestBug(message: string): string {
	return (
		`${message}: a bug in this n8n version's credential test (seen on n8n 2.20.12 for Header Auth, Basic Auth and Query Auth, in n8n's own UI too), ` +
		'not a problem with the data. Turn Test Credential off, or update n8n (2.41 tests these types).'
	);
}

/**
 * The network error code, wherever the HTTP helper put it: n8n wraps axios' error in a NodeApiError
 * (as `cause`, or as `errorResponse` with the code copied to `httpCode` when it is not an Error).
 */
function errorCode(error: unknown): string | undefined {
	const queue: unknown[] = [error];
	for (let seen = 0; seen < 8 && queue.length > 0; seen++) {
		const current = queue.shift();
		if (!current || typeof current !== 'object') continue;
		const { code, httpCode, cause, errorResponse } = current as { code?: unknown; httpCode?: unknown; cause?: unknown; errorResponse?: unknown };
		if (typeof code === 'string' && code.length > 0) return code;
		if (typeof httpCode === 'string' && /^(E[A-Z_]+|UND_ERR_[A-Z_]+)$/.test(httpCode)) return httpCode;
		queue.push(cause, errorResponse);
	}
	return undefined;
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

/**
 * What went wrong on the network, in words and without error codes: n8n's NodeOperationError
 * replaces a whole message that contains a code such as ECONNREFUSED with its own generic sentence,
 * which would lose the step and the advice. The code stays on the error (`code`).
 */
function networkMessage(error: unknown, code: string | undefined): string {
	const probe = new N8nApiError('', undefined, '', code);
	if (probe.timedOut) return 'no answer within the request timeout';
	if (code === 'ECONNREFUSED') return 'connection refused (nothing listens at the Base URL)';
	if (probe.refused) return 'the Base URL\'s host cannot be reached';
	if (code && RESET_CODES.has(code)) return 'the connection closed before an answer came';
	const message = error instanceof Error ? error.message : String(error);
	const words = message.replace(/\b(?:E[A-Z_]{3,}|UND_ERR_[A-Z_]+|GETADDRINFO)\b/gi, '').replace(/\s+/g, ' ').trim();
	return `the request failed${words ? `: ${words}` : ''}`;
}

const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);
