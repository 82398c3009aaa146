import { LockConfigurationError } from '../lock/errors';
import { MAX_KNOWN_CREDENTIAL_IDS } from './registryTypes';

/** 100 years: any longer and a store's timestamps could overflow (PostgreSQL intervals, Lua doubles stay exact). */
const MAX_DURATION_MS = 100 * 365 * 24 * 60 * 60 * 1000;

/** A duration every backend stores alike: whole milliseconds (rounded up), 0 to 100 years. */
export function durationMs(what: string, value: number): number {
	if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_DURATION_MS) {
		throw new LockConfigurationError(`${what} must be 0 to ${MAX_DURATION_MS} ms (got ${String(value)})`);
	}
	return Math.ceil(value);
}

export function positiveLimit(value: number): number {
	if (!Number.isInteger(value) || value < 1) {
		throw new LockConfigurationError(`The limit must be a whole number of at least 1 (got ${String(value)})`);
	}
	return value;
}

export function nonEmpty(what: string, value: string): string {
	if (typeof value !== 'string' || value.length === 0) {
		throw new LockConfigurationError(`The tenant credential's ${what} must be a non-empty string`);
	}
	return value;
}

/** The IDs of one knownTenantCredentialIds call, without repeats: strings, at most MAX_KNOWN_CREDENTIAL_IDS. */
export function credentialIdBatch(ids: string[]): string[] {
	if (!Array.isArray(ids) || ids.length > MAX_KNOWN_CREDENTIAL_IDS || ids.some((id) => typeof id !== 'string')) {
		throw new LockConfigurationError(
			`Ask about at most ${MAX_KNOWN_CREDENTIAL_IDS} credential IDs (strings) at a time (got ${Array.isArray(ids) ? `${ids.length} values` : typeof ids})`,
		);
	}
	return [...new Set(ids)];
}
