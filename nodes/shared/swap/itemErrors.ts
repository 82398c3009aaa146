import { LockError } from '../lock';
import { N8nApiError } from '../transport/n8nApiErrors';
import { redactSecrets } from './credentialData';
import { SwapItemError } from './errors';

export function joinSentences(...parts: Array<string | undefined>): string {
	return parts.filter((part): part is string => Boolean(part && part.trim())).join(' ');
}

/** The same failure, with one more sentence in its description. */
export function withDescription(error: unknown, itemIndexes: number[], sentence: string): SwapItemError {
	if (error instanceof SwapItemError) {
		return new SwapItemError(error.message, error.itemIndexes, {
			...error.options,
			description: joinSentences(error.options.description, sentence),
		});
	}
	const base = asItemError(error, itemIndexes, new Set());
	return new SwapItemError(base.message, itemIndexes, { ...base.options, description: joinSentences(base.options.description, sentence) });
}


/** What the failure left behind, so the user knows whether anything changed. */
function consequenceOf(error: N8nApiError): string | undefined {
	if (error.operation === 'update base credential') {
		return error.maybeProcessed
			? 'n8n may have applied the update before the failure: reading the credential afterwards did not confirm it, and n8n may still apply it, so the base credential may hold this tenant\'s data or the previous data. Run the execution again to write it. The lock stays held until its Lock TTL runs out (no longer renewed), so an update n8n applies within that time cannot reach the next execution.'
			: 'The base credential was not changed.';
	}
	if (['read credential schema', 'create temporary credential', 'test credential', 'delete temporary credential', 'read credential', 'list credentials'].includes(error.operation)) {
		return 'The base credential was not changed.';
	}
	return undefined;
}

export function asItemError(error: unknown, itemIndexes: number[], secrets: Set<string>): SwapItemError {
	if (error instanceof SwapItemError) {
		return new SwapItemError(redactSecrets(error.message, secrets), error.itemIndexes, {
			...error.options,
			description: error.options.description && redactSecrets(error.options.description, secrets),
		});
	}
	if (error instanceof N8nApiError) {
		return new SwapItemError(redactSecrets(error.message, secrets), itemIndexes, {
			description: joinSentences(error.hint && redactSecrets(error.hint, secrets), consequenceOf(error)),
			cause: error,
		});
	}
	if (error instanceof LockError) {
		return new SwapItemError(error.message, itemIndexes, {
			description:
				error.name === 'LockTimeoutError'
					? 'Another execution held the lock for the whole wait. Raise "Wait Timeout", or check that every path after Tenant Credential Swap reaches a Release Lock.'
					: undefined,
			cause: error,
		});
	}
	const message = error instanceof Error ? error.message : String(error);
	return new SwapItemError(redactSecrets(message, secrets), itemIndexes, { cause: error });
}
