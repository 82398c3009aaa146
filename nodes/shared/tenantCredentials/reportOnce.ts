type Log = { warn(message: string, meta?: Record<string, unknown>): void };

/** Causes reported by this process (bounded: a long-lived process with many causes forgets the oldest). */
const MAX_CAUSES = 1_000;
const reported = new Set<string>();

/**
 * Logs a warning the first time this process meets `cause` (e.g. "403 deleting in scope X"), and
 * nothing after: a background clean-up that meets the same refusal every pass says it once, with what
 * to do, instead of once per record per pass. Answers whether it logged.
 */
export function warnOnce(log: Log, cause: string, message: string, meta?: Record<string, unknown>): boolean {
	if (reported.has(cause)) return false;
	if (reported.size >= MAX_CAUSES) reported.delete(reported.values().next().value as string);
	reported.add(cause);
	log.warn(message, meta);
	return true;
}

/** For tests: forget what was reported. */
export function forgetReportedCauses(): void {
	reported.clear();
}
