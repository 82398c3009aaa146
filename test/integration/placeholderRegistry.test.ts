/**
 * A tenant credential is never a placeholder, whatever its name says: on PostgreSQL, Redis and memory,
 * the registry (another process's, on the same store) knows its ID and Run With Tenant Credential refuses
 * it; the same credential unregistered (control) passes. Pure resolution: test/unit/placeholder.test.ts.
 */
import { MemoryLockEngine } from '../../nodes/shared/lock/MemoryLockEngine';
import type { LockStore } from '../../nodes/shared/lock/types';
import { SwapItemError } from '../../nodes/shared/swap/errors';
import { placeholderToBind } from '../../nodes/shared/tenantCredentials/binding';
import { tenantCredentialRegistryFor } from '../../nodes/shared/tenantCredentials/registry';
import type { LoadedSubWorkflow } from '../../nodes/shared/tenantCredentials/subWorkflow';
import type { N8nApiClient } from '../../nodes/shared/transport/n8nApiClient';
import { PostgresLockFixture, redisFactory, uniqueName, type EngineUnderTest } from '../helpers/lockTesting';

interface Stores {
	store: LockStore;
	other: LockStore;
	close(): Promise<void>;
}

const backends: Array<[string, () => Promise<Stores>]> = [
	[
		'postgres',
		async () => {
			const fixture = new PostgresLockFixture();
			const name = { schema: uniqueName('tcp'), table: 'locks' };
			return { store: fixture.engine(name), other: fixture.engine(name), close: async () => await fixture.close() };
		},
	],
	[
		'redis',
		async () => {
			const engines: EngineUnderTest = await redisFactory('tcp').create();
			return { store: engines.engine, other: engines.other, close: async () => await engines.close() };
		},
	],
	[
		'memory',
		async () => {
			const store = new MemoryLockEngine();
			return { store, other: store, close: async () => undefined };
		},
	],
];

/** A sub-workflow whose one HTTP Request uses credential `id` under a name that does not say tenant-cred. */
function subWorkflow(id: string): LoadedSubWorkflow {
	return {
		id: 'sub1',
		name: 'Tenant calls',
		label: '"Tenant calls"',
		inCallerProject: true,
		nodes: [
			{ name: 'Start', type: 'n8n-nodes-base.executeWorkflowTrigger' },
			{
				name: 'Call Tenant API',
				type: 'n8n-nodes-base.httpRequest',
				typeVersion: 4.2,
				parameters: { authentication: 'genericCredentialType', genericAuthType: 'httpHeaderAuth' },
				credentials: { httpHeaderAuth: { id, name: 'My API key' } },
			},
		],
		connections: {},
		settings: {},
		version: 'published',
	};
}

describe.each(backends)('on %s', (_backend, open) => {
	let stores: Stores;
	beforeAll(async () => {
		stores = await open();
	});
	afterAll(async () => {
		await stores?.close();
	});

	it('refuses a placeholder the registry knows as a tenant credential (renamed by hand); control: unregistered, it passes', async () => {
		const scope = `http://127.0.0.1:5678/api/v1/${uniqueName('scope')}`;
		const context = {
			registry: tenantCredentialRegistryFor(stores.store),
			scope,
			api: {} as N8nApiClient,
			readerScope: 'reader',
			draft: false,
		};
		const id = uniqueName('cred').replace(/[^A-Za-z0-9]/g, '');
		expect((await placeholderToBind(context, subWorkflow(id), { placeholderId: id }, [0])).id).toBe(id);
		await tenantCredentialRegistryFor(stores.other).registerTenantCredential(
			{ scope, name: `tenant-cred abcdefgh acme ${id}`, credentialId: id, credentialType: 'httpHeaderAuth', tenantId: 'acme', retentionMs: 60_000 },
			1_000,
		);
		// A new read of the sub-workflow (new version) is checked again.
		const refused = await placeholderToBind(context, subWorkflow(id), { placeholderId: id }, [3]).then(
			() => undefined,
			(error: unknown) => error,
		);
		expect(refused).toBeInstanceOf(SwapItemError);
		expect((refused as SwapItemError).message).toContain("is a tenant's credential");
		expect((refused as SwapItemError).itemIndexes).toEqual([3]);
	});
});
