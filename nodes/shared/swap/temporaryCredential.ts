import { randomBytes } from 'node:crypto';

import type { CredentialSummary } from '../transport/n8nApiClient';
import { shownTenantId } from '../tenantCredentials/credentialName';
import { N8nApiError } from '../transport/n8nApiErrors';
import { SwapItemError } from './errors';
import { joinSentences, withDescription } from './itemErrors';
import type { SwapContext, SwapGroup } from './types';

const NOT_TESTABLE = /no testing function/i;
export const TEMPORARY_CREDENTIAL_PREFIX = 'tenant-swap tmp';

export interface TemporaryCleanupSettings {
	/**
	 * Only temporary credentials older than this are deleted. Longer than a swap can keep its own
	 * (create, test and delete with every retry and timeout: under 10 minutes), so a swap running
	 * at the same time never loses its temporary credential.
	 */
	minAgeMs: number;
	/** At most one look per n8n instance per process in this time (a list of all credentials). */
	intervalMs: number;
	/** At most this many deletions per look, so one execution never spends long on housekeeping. */
	maxDeletesPerRun: number;
}

export const DEFAULT_TEMPORARY_CLEANUP: Readonly<TemporaryCleanupSettings> = Object.freeze({
	minAgeMs: 15 * 60_000,
	intervalMs: 5 * 60_000,
	maxDeletesPerRun: 20,
});
let temporaryCleanup: TemporaryCleanupSettings = { ...DEFAULT_TEMPORARY_CLEANUP };
/** instanceId -> when this process last looked for stale temporary credentials there. */
const lastTemporaryCleanup = new Map<string, number>();

/** For tests only: cleanup settings (`undefined` restores the defaults); also forgets past looks. */
export function configureTemporaryCredentialCleanup(settings?: Partial<TemporaryCleanupSettings>): void {
	temporaryCleanup = { ...DEFAULT_TEMPORARY_CLEANUP, ...(settings ?? {}) };
	lastTemporaryCleanup.clear();
}


export async function validateWithTemporaryCredential(context: SwapContext, group: SwapGroup): Promise<void> {
	const name = `${TEMPORARY_CREDENTIAL_PREFIX} ${shownTenantId(group.tenantId)} exec ${context.owner.executionId} ${randomBytes(3).toString('hex')}`;
	let temporary: CredentialSummary;
	try {
		temporary = await context.api.createCredential({ name, type: group.base.type, data: group.data });
	} catch (error) {
		if (error instanceof N8nApiError && error.maybeProcessed) {
			// The answer was lost, not necessarily the credential: n8n may hold it without us knowing its ID.
			context.logDebug?.('The temporary credential may have been created before the failure', { credentialName: name });
			throw new SwapItemError(error.message, group.itemIndexes, {
				description: joinSentences(
					error.hint,
					`n8n may have created the temporary credential "${name}" before the failure: ${leftoverAdvice()}`,
					'The base credential was not changed.',
				),
				cause: error,
			});
		}
		throw error;
	}
	let failure: unknown;
	try {
		group.temporaryCredential = 'validated';
		if (group.options.testCredential) {
			const result = await context.api.testCredential(temporary.id);
			if (result.status === 'OK') group.credentialTest = 'passed';
			else if (NOT_TESTABLE.test(result.message)) group.credentialTest = 'notTestable';
			else {
				throw new SwapItemError(`The tenant's credential data failed n8n's credential test: ${result.message}`, group.itemIndexes, {
					parameter: 'credentialData',
					description: 'The base credential was not changed. Check the secret the tenant sent.',
				});
			}
		}
	} catch (error) {
		failure = error;
	}
	try {
		await context.api.deleteCredential(temporary.id);
	} catch (error) {
		// Only the ID and the API's own message: never the data.
		const reason = error instanceof Error ? error.message : String(error);
		context.logDebug?.('Could not delete the temporary credential', { credentialId: temporary.id, error: reason });
		const leftover = `Temporary credential ${temporary.id} could not be deleted: ${leftoverAdvice()}`;
		if (failure === undefined) {
			throw new SwapItemError(`Could not delete temporary credential ${temporary.id}: ${reason}`, group.itemIndexes, {
				description: joinSentences(
					error instanceof N8nApiError ? error.hint : undefined,
					'The base credential was not changed.',
					`A later swap deletes temporary credential ${temporary.id} once it is older than ${minutes(temporaryCleanup.minAgeMs)}, or delete it in n8n under Credentials.`,
				),
				cause: error,
			});
		}
		// The first failure is what the user must fix; the leftover is reported with it.
		throw withDescription(failure, group.itemIndexes, leftover);
	}
	if (failure !== undefined) throw failure;
}

function leftoverAdvice(): string {
	return `a later swap deletes temporary credentials (named "${TEMPORARY_CREDENTIAL_PREFIX} ...") once they are older than ${minutes(temporaryCleanup.minAgeMs)}, or delete it in n8n under Credentials.`;
}

function minutes(ms: number): string {
	const value = Math.round((ms / 60_000) * 10) / 10;
	return value === 1 ? '1 minute' : value >= 1 ? `${value} minutes` : `${Math.max(1, Math.round(ms / 1000))} seconds`;
}

/** * Deletes temporary credentials that earlier swaps could not delete (n8n down at the time, a lost
 * answer to a create). At most once per instance per process per interval, never one younger than
 * the minimum age (it may belong to a swap still running), and never fatal.
 */
export async function cleanStaleTemporaryCredentials(context: SwapContext): Promise<void> {
	const now = Date.now();
	const last = lastTemporaryCleanup.get(context.instanceId);
	if (last !== undefined && now - last < temporaryCleanup.intervalMs) return;
	lastTemporaryCleanup.set(context.instanceId, now);
	let all: CredentialSummary[];
	try {
		all = await context.api.listAllCredentials();
	} catch (error) {
		context.logDebug?.('Could not list credentials to look for stale temporary credentials', {
			error: error instanceof Error ? error.message : String(error),
		});
		return;
	}
	const stale = all.filter((credential) => {
		if (!credential.name?.startsWith(`${TEMPORARY_CREDENTIAL_PREFIX} `)) return false;
		const createdAt = Date.parse(credential.createdAt ?? '');
		return Number.isFinite(createdAt) && now - createdAt > temporaryCleanup.minAgeMs;
	});
	for (const credential of stale.slice(0, temporaryCleanup.maxDeletesPerRun)) {
		try {
			await context.api.deleteCredential(credential.id);
			context.logDebug?.('Deleted a stale temporary credential', { credentialId: credential.id, createdAt: credential.createdAt });
		} catch (error) {
			context.logDebug?.('Could not delete a stale temporary credential', {
				credentialId: credential.id,
				error: error instanceof Error ? error.message : String(error),
			});
		}
	}
}
