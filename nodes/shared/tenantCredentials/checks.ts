import { LockConfigurationError } from '../lock/errors';

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
