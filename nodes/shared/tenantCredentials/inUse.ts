import { sleepUnlessWoken } from '../lock/waiting';
import type { TenantCredentialRegistry } from './registryTypes';

/** How long a use marks a tenant credential busy; renewed while the run goes on. */
export const TENANT_CREDENTIAL_BUSY_MS = 30_000;
const RENEW_EVERY_MS = TENANT_CREDENTIAL_BUSY_MS / 3;

interface Use {
	registry: TenantCredentialRegistry;
	scope: string;
	name: string;
	runs: number;
}

type Log = { warn(message: string, meta?: Record<string, unknown>): void };

/**
 * The tenant credentials this process's executions are running with. One timer renews all of them
 * in one statement per registry and scope, and only while any run is going on, so a burst costs no
 * timer or connection per execution, and a long run keeps its credential from being retired.
 */
class TenantCredentialUses {
	private readonly uses = new Map<string, Use>();
	private readonly registryIds = new WeakMap<TenantCredentialRegistry, number>();
	private nextRegistryId = 1;
	private renewing?: Promise<void>;
	private pause?: ReturnType<typeof sleepUnlessWoken>;
	private log?: Log;

	/** Marks a run with this credential as going on; call the returned function when it ends. */
	begin(registry: TenantCredentialRegistry, scope: string, name: string, log?: Log): () => void {
		if (log) this.log = log;
		const key = `${this.registryId(registry)}\u0000${scope}\u0000${name}`;
		const use = this.uses.get(key) ?? { registry, scope, name, runs: 0 };
		use.runs += 1;
		this.uses.set(key, use);
		this.renewing ??= this.renewWhileInUse();
		let ended = false;
		return () => {
			if (ended) return;
			ended = true;
			use.runs -= 1;
			if (use.runs === 0) this.uses.delete(key);
			if (this.uses.size === 0) this.stop();
		};
	}

	/** How many distinct credentials are in use now (tests). */
	get size(): number {
		return this.uses.size;
	}

	/** Ends the renewal loop's wait at once (it ends when nothing is in use). */
	stop(): void {
		this.pause?.wake();
	}

	private async renewWhileInUse(): Promise<void> {
		while (this.uses.size > 0) {
			this.pause = sleepUnlessWoken(RENEW_EVERY_MS, true);
			await this.pause.promise;
			if (this.uses.size > 0) await this.renew();
		}
		this.pause = undefined;
		this.renewing = undefined;
	}

	private registryId(registry: TenantCredentialRegistry): number {
		let id = this.registryIds.get(registry);
		if (id === undefined) {
			id = this.nextRegistryId++;
			this.registryIds.set(registry, id);
		}
		return id;
	}

	private async renew(): Promise<void> {
		const batches = new Map<string, { registry: TenantCredentialRegistry; scope: string; names: string[] }>();
		for (const use of this.uses.values()) {
			const key = `${this.registryId(use.registry)}\u0000${use.scope}`;
			const batch = batches.get(key) ?? { registry: use.registry, scope: use.scope, names: [] };
			batch.names.push(use.name);
			batches.set(key, batch);
		}
		await Promise.all(
			[...batches.values()].map(async ({ registry, scope, names }) => {
				try {
					await registry.keepTenantCredentialsBusy(scope, names, TENANT_CREDENTIAL_BUSY_MS);
				} catch (error) {
					// The credentials stay usable; only their in-use mark may lapse (and with it, after the
					// retention period, the protection from being retired) while the store does not answer.
					this.log?.warn('Run With Tenant Credential could not renew the in-use mark of its tenant credentials', {
						error: (error as Error).message,
						credentials: names.length,
					});
				}
			}),
		);
	}
}

let uses: TenantCredentialUses | undefined;

export function tenantCredentialUses(): TenantCredentialUses {
	return (uses ??= new TenantCredentialUses());
}
