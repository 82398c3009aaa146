import type { TenantCredentialRegistry } from './registryTypes';

/**
 * One store statement for the uses of one tenant credential that start while an earlier one is still
 * in flight (a burst of one tenant's executions in this process). A use that joins gets the same answer
 * a few milliseconds older: the credential's ID, marked used and busy by a statement sent after its
 * execution began waiting; and while it runs, the process's in-use renewal (inUse.ts) keeps it busy.
 * Nothing is kept once the statement answers: the next use sends its own.
 */
const inFlight = new WeakMap<TenantCredentialRegistry, Map<string, Promise<string | undefined>>>();

let sharing = true;

/** For tests only: `false` sends one statement per use (the control); undefined restores sharing. */
export function configureSharedUse(enabled?: boolean): void {
	sharing = enabled ?? true;
}

export async function useTenantCredentialShared(
	registry: TenantCredentialRegistry,
	scope: string,
	name: string,
	busyMs: number,
	retentionMs: number,
): Promise<string | undefined> {
	if (!sharing) return await registry.useTenantCredential(scope, name, busyMs, retentionMs);
	let byKey = inFlight.get(registry);
	if (!byKey) inFlight.set(registry, (byKey = new Map()));
	const key = JSON.stringify([scope, name, busyMs, retentionMs]);
	const running = byKey.get(key);
	if (running) return await running;
	const use = registry.useTenantCredential(scope, name, busyMs, retentionMs);
	byKey.set(key, use);
	const forget = () => {
		if (byKey.get(key) === use) byKey.delete(key);
	};
	use.then(forget, forget);
	return await use;
}
