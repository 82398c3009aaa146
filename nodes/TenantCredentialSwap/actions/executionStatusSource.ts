import { createHash } from 'crypto';
import type { IDataObject, IExecuteFunctions } from 'n8n-workflow';

import { lookupOfStatus, type ExecutionLookup, type ExecutionStatusSource } from '../../shared/lock';
import type { ApiResponse, N8nApiTransport } from '../../shared/transport/n8nApiClient';
import { N8nApiError } from '../../shared/transport/n8nApiErrors';
import { normaliseBaseUrl, PublicApiTransport, type N8nApiCredentials } from '../../shared/transport/publicApiTransport';

/** n8n's page size limit for lists. */
const PAGE_SIZE = 250;
/** More running executions than this in one n8n: those past it are asked about one by one. */
const MAX_PAGES = 4;
/** A status question that takes longer counts as no answer (the locks renew themselves meanwhile). */
const STATUS_TIMEOUT_MS = 10_000;

function apiMessage(body: unknown): string {
	const message = (body as IDataObject | undefined)?.message;
	return typeof message === 'string' ? message : '';
}

/** Not a status n8n would give for "try again": the listing is not available to this key or version. */
const LISTING_REFUSED = new Set([400, 401, 403, 404, 405]);

/**
 * n8n's executions API as the lease keeper asks it: `GET /executions?status=running` (n8n 1.111 and
 * later, 2.x; scope execution:list) for everything at once, `GET /executions/:id` (execution:read)
 * for one. No retries: the keeper asks again next round.
 */
export class N8nExecutionStatusSource implements ExecutionStatusSource {
	readonly id: string;

	constructor(
		private readonly transport: N8nApiTransport,
		credentials: N8nApiCredentials,
	) {
		const keyHash = createHash('sha256').update(credentials.apiKey ?? '').digest('hex').slice(0, 16);
		this.id = `${normaliseBaseUrl(credentials.baseUrl)}|${keyHash}`;
	}

	/**
	 * For the keeper, which asks after the node returned: it keeps n8n's HTTP helper (proxy and TLS
	 * settings apply) and the key, not the node's execution context and its items.
	 */
	static forKeeper(context: IExecuteFunctions, credentials: N8nApiCredentials): N8nExecutionStatusSource {
		const httpRequest = context.helpers.httpRequest;
		const helpersOnly = { helpers: { httpRequest } } as unknown as IExecuteFunctions;
		return new N8nExecutionStatusSource(PublicApiTransport.afterExecution(helpersOnly, credentials), credentials);
	}

	async listRunning(): Promise<Set<string> | undefined> {
		const running = new Set<string>();
		let cursor: string | undefined;
		for (let page = 0; page < MAX_PAGES; page++) {
			const response = await this.get('/executions', { status: 'running', limit: PAGE_SIZE, includeData: false, ...(cursor ? { cursor } : {}) });
			if (LISTING_REFUSED.has(response.statusCode)) return undefined;
			if (response.statusCode !== 200) throw new N8nApiError('list running executions', response.statusCode, apiMessage(response.body));
			const body = response.body as { data?: Array<{ id?: unknown; status?: unknown }>; nextCursor?: unknown } | undefined;
			if (!Array.isArray(body?.data)) throw new N8nApiError('list running executions', 200, 'the answer has no list of executions');
			for (const execution of body.data) {
				// n8n versions that ignore the filter list every status: only running ones count.
				if (execution.id !== undefined && (execution.status === undefined || lookupOfStatus(String(execution.status)) === 'running')) {
					running.add(String(execution.id));
				}
			}
			cursor = typeof body.nextCursor === 'string' && body.nextCursor ? body.nextCursor : undefined;
			if (!cursor) break;
		}
		return running;
	}

	async lookUp(executionId: string): Promise<ExecutionLookup> {
		const response = await this.get(`/executions/${encodeURIComponent(executionId)}`, { includeData: false });
		const { statusCode, body } = response;
		if (statusCode === 200) {
			const execution = body as { status?: string; stoppedAt?: string | null } | undefined;
			return lookupOfStatus(String(execution?.status ?? (execution?.stoppedAt ? 'stopped' : 'running')));
		}
		// 400: n8n refuses the ID (not a number): no execution of this n8n has it.
		if (statusCode === 404 || statusCode === 400) return 'not-found';
		if (statusCode === 401 || statusCode === 403) return 'forbidden';
		throw new N8nApiError('read execution', statusCode, apiMessage(body));
	}

	/** No answer (refused, timed out) rejects with the HTTP helper's error: the keeper logs its message. */
	private async get(path: string, qs: IDataObject): Promise<ApiResponse> {
		return await this.transport.send({ method: 'GET', path, qs, timeoutMs: STATUS_TIMEOUT_MS });
	}
}
