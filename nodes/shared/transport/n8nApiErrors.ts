import { API_SCOPES_TEXT, CREDENTIAL_BY_ID_PATH, describeMissingScopes, SCOPE_OF_OPERATION } from './apiScopes';

export { CREDENTIAL_BY_ID_PATH };

/** Error code of an attempt not sent because the time left (the lock lease) was too short. */
export const NOT_SENT_LEASE_SHORT = 'ELEASE';
/** Error code of an attempt not sent because the lock it runs under was lost. */
export const NOT_SENT_LOCK_LOST = 'ELOCKLOST';

/** Network error codes that mean "no answer within the request timeout". */
const TIMEOUT_CODES = new Set(['ECONNABORTED', 'ETIMEDOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);
/** Network error codes that mean "nothing listens there". */
const REFUSED_CODES = new Set(['ECONNREFUSED', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH']);

/** An answer from the n8n API that was not a success, or no answer at all. */
export class N8nApiError extends Error {
	/** How many times the request was sent (1 = not retried). */
	attempts = 1;
	/** Why retrying stopped early, when it did (e.g. the lock's lease would run out). */
	stoppedBecause?: string;
	/**
	 * Whether n8n may have carried out one of the attempts (only its answer was lost or failed):
	 * false when every attempt was refused before n8n did anything (connection refused, 429, 503, 4xx).
	 */
	maybeProcessed = false;
	/** A 404 to a request on one credential by ID (see isCredentialGone). */
	credentialGone = false;

	constructor(
		readonly operation: string,
		readonly status: number | undefined,
		readonly apiMessage: string,
		readonly code?: string,
	) {
		super(
			status === undefined
				? `n8n API unreachable during ${operation}: ${apiMessage}`
				: `n8n API answered ${status} during ${operation}: ${apiMessage}`,
		);
		this.name = 'N8nApiError';
	}

	/** Records how often the request was sent; the message says so when it was more than once. */
	withAttempts(attempts: number, stoppedBecause?: string, maybeProcessed = this.maybeProcessed): this {
		this.attempts = attempts;
		this.stoppedBecause = stoppedBecause;
		this.maybeProcessed = maybeProcessed;
		if (attempts > 1) this.message += ` (gave up after ${attempts} attempts)`;
		return this;
	}

	/** No answer within the request timeout. */
	get timedOut(): boolean {
		return this.status === undefined && TIMEOUT_CODES.has(this.code ?? '');
	}

	/** Nothing accepted the connection (n8n down or restarting, or a wrong address). */
	get refused(): boolean {
		return this.status === undefined && REFUSED_CODES.has(this.code ?? '');
	}

	/** Whether n8n may have carried out this one attempt before it failed. */
	get attemptMayHaveBeenProcessed(): boolean {
		if (this.status !== undefined) return this.status >= 500 && this.status !== 503;
		return !this.refused && this.code !== NOT_SENT_LEASE_SHORT && this.code !== NOT_SENT_LOCK_LOST;
	}

	/** What the user should do about it, where we know. */
	get hint(): string | undefined {
		const stopped = this.stoppedBecause ? ` Retrying stopped early: ${this.stoppedBecause}.` : '';
		if (this.credentialGone) {
			return "The credential no longer exists, or the API key's user cannot see it (it lives in a project that user is not a member of).";
		}
		if (this.status === 401) {
			return 'Check the API key in the "Tenant Swap n8n API" credential: n8n refused it.';
		}
		if (this.status === 403) {
			const scope = SCOPE_OF_OPERATION[this.operation];
			return `The API key lacks ${scope ? `the scope ${describeMissingScopes([scope])}` : 'a scope this needs'}. Give it all of: ${API_SCOPES_TEXT}.`;
		}
		if (this.status === 405 || (this.status === 404 && /cannot|not found$/i.test(this.apiMessage) && !/credential not found/i.test(this.apiMessage))) {
			return 'This n8n version does not offer this public API endpoint. Updating credentials needs n8n 2.8 or later; testing them needs n8n 2.20 or later.';
		}
		if (this.status === 429 || (this.status !== undefined && this.status >= 500)) {
			return `n8n's API kept failing (HTTP ${this.status}). Run the execution again later. If n8n answers 503 "Database is not ready" under load, give n8n a larger database pool (DB_POSTGRESDB_POOL_SIZE); otherwise look in n8n's log for the cause.${stopped}`;
		}
		if (this.timedOut) {
			return `n8n's API did not answer in time. Run the execution again later; if it keeps happening, check n8n's load and that the Base URL in the "Tenant Swap n8n API" credential is an address this n8n reaches itself on, ending in /api/v1.${stopped}`;
		}
		if (this.refused) {
			return `Nothing accepted the connection at the Base URL of the "Tenant Swap n8n API" credential: n8n is down or restarting, or the Base URL is wrong. It must be an address this n8n reaches itself on, ending in /api/v1.${stopped}`;
		}
		if (this.status === undefined) {
			return `The connection to n8n's API failed. Run the execution again; if it keeps failing, check the Base URL in the "Tenant Swap n8n API" credential: it must be an address this n8n can reach itself on, ending in /api/v1.${stopped}`;
		}
		return stopped ? stopped.trim() : undefined;
	}
}

/**
 * The one rule for "this credential is not there": any 404 to a request on `/credentials/<id>`. n8n's
 * words differ by version and role (`Credential not found`; `Not Found` for an owner's DELETE;
 * `Credential with ID "x" not found.` for a member's), so no text is read. That path exists in every
 * n8n with a public API (DELETE has always been there), so a method a version lacks answers 405, never
 * 404. For a member's key, "not there" includes "in a project the key's user cannot see".
 */
export function isCredentialGone(error: unknown): error is N8nApiError {
	return error instanceof N8nApiError && error.credentialGone;
}
