import type { IDataObject } from 'n8n-workflow';

import { canonicalJson } from './credentialData';
import { SwapItemError } from './errors';

/*
 * What the swap remembers of its last write (Skip Unchanged Data): what the keyed hash covers, and the
 * failure of the write that remembers it.
 */

export interface FingerprintOptions {
	partialUpdate: boolean;
	validateWithTemporaryCredential: boolean;
	testCredential: boolean;
	allowedFields: string[];
	expectedCredentialType?: string;
}

/**
 * What the keyed hash of the last write covers: the data and every option that decides what is written
 * or how it is checked. A swap that asks for more checking than the one that wrote the data (Test
 * Credential on after a swap without it) is therefore not skipped as unchanged.
 */
export function swapFingerprint(type: string, data: IDataObject, options: FingerprintOptions): string {
	return canonicalJson({
		type,
		update: options.partialUpdate ? 'partial' : 'full',
		validateWithTemporaryCredential: options.validateWithTemporaryCredential || options.testCredential,
		testCredential: options.testCredential,
		allowedFields: [...options.allowedFields].sort(),
		expectedCredentialType: options.expectedCredentialType ?? null,
		data,
	});
}

/**
 * The failure of the write that remembers a swap (for Skip Unchanged Data) after n8n applied the update:
 * says that the base credential did change.
 */
export function stateWriteFailure(error: unknown, itemIndexes: number[]): SwapItemError {
	const reason = error instanceof Error ? error.message : String(error);
	return new SwapItemError(`The base credential was updated, but the lock store failed afterwards: ${reason}`, itemIndexes, {
		description:
			"The base credential now holds this tenant's data; only the record used by Skip Unchanged Data could not be written (the next swap writes the data again instead of skipping). Check the lock database.",
		cause: error,
	});
}
