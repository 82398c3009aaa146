/** An answer from the n8n API that was not a success, or no answer at all. */
export class N8nApiError extends Error {
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

	/** What the user should do about it, where we know. */
	get hint(): string | undefined {
		if (this.status === 401) {
			return 'Check the API key in the "n8n API (Tenant Swap)" credential: n8n refused it.';
		}
		if (this.status === 403) {
			return 'The API key lacks a scope this needs: give it credential:list, credential:read, credential:create, credential:update and credential:delete.';
		}
		if (this.status === 405 || (this.status === 404 && /cannot|not found$/i.test(this.apiMessage) && !/credential not found/i.test(this.apiMessage))) {
			return 'This n8n version does not offer this public API endpoint. Updating credentials needs n8n 2.8 or later; testing them needs n8n 2.20 or later.';
		}
		if (this.status === undefined) {
			return 'Check the Base URL in the "n8n API (Tenant Swap)" credential: it must be an address this n8n can reach itself on, ending in /api/v1.';
		}
		return undefined;
	}
}
