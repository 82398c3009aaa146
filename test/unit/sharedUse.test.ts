import { MemoryTenantCredentialRegistry } from '../../nodes/shared/tenantCredentials/memoryRegistry';
import { configureSharedUse, useTenantCredentialShared } from '../../nodes/shared/tenantCredentials/sharedUse';

const SCOPE = 'http://127.0.0.1:5678/api/v1';
const BUSY = 30_000;
const RETENTION = 3_600_000;

/** A memory registry whose use statements are counted and answer only when released. */
function gatedRegistry() {
	const registry = new MemoryTenantCredentialRegistry();
	const real = registry.useTenantCredential.bind(registry);
	const state = { statements: 0, gate: Promise.resolve(), fail: undefined as Error | undefined };
	registry.useTenantCredential = async (...args) => {
		state.statements += 1;
		await state.gate;
		if (state.fail) throw state.fail;
		return await real(...args);
	};
	let open = () => undefined as void;
	const hold = () => {
		state.gate = new Promise<void>((resolve) => (open = resolve));
	};
	return { registry, state, hold, release: () => open() };
}

async function registered(registry: MemoryTenantCredentialRegistry, name: string, credentialId: string) {
	await registry.registerTenantCredential({ scope: SCOPE, name, credentialId, credentialType: 'httpHeaderAuth', tenantId: 'acme', retentionMs: RETENTION }, BUSY);
}

afterEach(() => configureSharedUse());

describe('useTenantCredentialShared: one statement for the uses of a credential that start while one is in flight', () => {
	it('a burst of 10 uses of one credential sends one statement, and every use gets its ID', async () => {
		const { registry, state, hold, release } = gatedRegistry();
		await registered(registry, 'tenant-cred acme 1', 'cred-1');
		hold();
		const uses = Array.from({ length: 10 }, async () => await useTenantCredentialShared(registry, SCOPE, 'tenant-cred acme 1', BUSY, RETENTION));
		release();
		expect(await Promise.all(uses)).toEqual(Array(10).fill('cred-1'));
		expect(state.statements).toBe(1);
	});

	it('control: without sharing the same burst sends 10 statements', async () => {
		configureSharedUse(false);
		const { registry, state, hold, release } = gatedRegistry();
		await registered(registry, 'tenant-cred acme 1', 'cred-1');
		hold();
		const uses = Array.from({ length: 10 }, async () => await useTenantCredentialShared(registry, SCOPE, 'tenant-cred acme 1', BUSY, RETENTION));
		release();
		expect(await Promise.all(uses)).toEqual(Array(10).fill('cred-1'));
		expect(state.statements).toBe(10);
	});

	it('uses one after another each send their own statement (each use is marked when it starts)', async () => {
		const { registry, state } = gatedRegistry();
		await registered(registry, 'tenant-cred acme 1', 'cred-1');
		for (let i = 0; i < 3; i++) expect(await useTenantCredentialShared(registry, SCOPE, 'tenant-cred acme 1', BUSY, RETENTION)).toBe('cred-1');
		expect(state.statements).toBe(3);
	});

	it('other credentials, scopes, registries and retentions never share a statement', async () => {
		const { registry, state, hold, release } = gatedRegistry();
		const other = gatedRegistry();
		await registered(registry, 'tenant-cred acme 1', 'cred-1');
		await registered(registry, 'tenant-cred beta 1', 'cred-2');
		await registered(other.registry, 'tenant-cred acme 1', 'cred-3');
		hold();
		const uses = Promise.all([
			useTenantCredentialShared(registry, SCOPE, 'tenant-cred acme 1', BUSY, RETENTION),
			useTenantCredentialShared(registry, SCOPE, 'tenant-cred beta 1', BUSY, RETENTION),
			useTenantCredentialShared(registry, 'http://other:5678/api/v1', 'tenant-cred acme 1', BUSY, RETENTION),
			useTenantCredentialShared(registry, SCOPE, 'tenant-cred acme 1', BUSY, 2 * RETENTION),
			useTenantCredentialShared(other.registry, SCOPE, 'tenant-cred acme 1', BUSY, RETENTION),
		]);
		release();
		expect(await uses).toEqual(['cred-1', 'cred-2', undefined, 'cred-1', 'cred-3']);
		expect(state.statements).toBe(4);
		expect(other.state.statements).toBe(1);
	});

	it('a failed statement fails the uses that joined it, and the next use sends a new one', async () => {
		const { registry, state, hold, release } = gatedRegistry();
		await registered(registry, 'tenant-cred acme 1', 'cred-1');
		hold();
		state.fail = new Error('store down');
		const uses = Array.from({ length: 3 }, async () => await useTenantCredentialShared(registry, SCOPE, 'tenant-cred acme 1', BUSY, RETENTION));
		release();
		for (const use of uses) await expect(use).rejects.toThrow('store down');
		state.fail = undefined;
		expect(await useTenantCredentialShared(registry, SCOPE, 'tenant-cred acme 1', BUSY, RETENTION)).toBe('cred-1');
		expect(state.statements).toBe(2);
	});
});
