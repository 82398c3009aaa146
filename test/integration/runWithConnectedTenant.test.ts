/**
 * Run With Tenant Credential's Connected Tenant source on the PostgreSQL lock backend: the node finds
 * the connections in the connect store of its own lock database and table (saved here through a store
 * on the same database and table, as Tenant OAuth2 Connect would), binds each tenant's items to its
 * credential, fails a tenant not connected per item, forgets a connection whose credential n8n says is
 * gone, and leaves the tenant credential registry's table empty. n8n's API is faked; sub-executions are
 * scripted (test/helpers/connectedTenant.ts).
 */
import { closeLockEngines, closeSharedPools, postgresLockEngine } from '../../nodes/shared/lock';
import { postgresSettings } from '../../nodes/shared/lockParameters';
import { tenantCredentialRegistryFor } from '../../nodes/shared/tenantCredentials/registry';
import { forgetCachedSubWorkflows } from '../../nodes/shared/tenantCredentials/subWorkflow';
import { connectStoreFor } from '../../nodes/shared/tenantOAuth/connectStore';
import { FAKE_API_URL, fakeApi, recordingSubExecutions, runConnected, subWorkflow, unique } from '../helpers/connectedTenant';
import { postgresCredential } from '../helpers/fixtures';

const lockTable = `connected_${process.pid}_${Date.now().toString(36)}`;
const engine = () => postgresLockEngine(postgresSettings(postgresCredential()), { table: lockTable });
const connectedAs = (tenantId: string, appId: string, credentialId: string) => ({ tenantId, appId, credentialId, credentialType: 'oAuth2Api', connectedAt: new Date() });

afterAll(async () => {
	await closeLockEngines();
	await closeSharedPools();
});

beforeEach(() => forgetCachedSubWorkflows());

it('binds each connected tenant to its credential, fails the one not connected, forgets a deleted one; no registry row', async () => {
	const store = connectStoreFor(engine());
	const app = unique('hubspot');
	const [acme, beta, ghost, gone] = ['acme', 'beta', 'ghost', 'gone'].map(unique);
	await store.saveConnection(connectedAs(acme, app, 'pgAcme'));
	await store.saveConnection(connectedAs(beta, app, 'pgBeta'));
	await store.saveConnection(connectedAs(gone, app, 'pgGone'));
	const subs = recordingSubExecutions((boundTo) => (boundTo === 'pgGone' ? new Error('Credential with ID "pgGone" does not exist for type "oAuth2Api".') : undefined));
	const output = await runConnected({
		tenants: [acme, ghost, beta, gone, acme],
		connection: app,
		subWorkflowId: 'pgSub',
		api: fakeApi({ workflows: [subWorkflow('pgSub')] }),
		executeWorkflow: subs.executeWorkflow,
		continueOnFail: true,
		credentials: { postgres: postgresCredential() },
		parameters: { lockBackend: 'postgres', options: { lockTable } },
	}).run;

	expect(subs.runs.map((sub) => [sub.boundTo, sub.tenants]).sort()).toEqual([
		['pgAcme', [acme, acme]],
		['pgBeta', [beta]],
		['pgGone', [gone]],
	]);
	const byItem = new Map(output.map((item) => [(item.pairedItem as { item: number }).item, item.json]));
	expect(byItem.get(0)).toEqual({ tenant: acme, boundTo: 'pgAcme' });
	expect(String(byItem.get(1)?.error)).toContain(`Tenant "${ghost}" has not connected ${app}: send them a connect link`);
	expect(byItem.get(2)).toEqual({ tenant: beta, boundTo: 'pgBeta' });
	expect(String(byItem.get(3)?.error)).toContain(`Tenant "${gone}" is not connected (its credential was deleted) to ${app}`);
	expect(await store.connectionOf(gone, app)).toBeUndefined();
	expect((await store.connectionOf(acme, app))?.credentialId).toBe('pgAcme');
	// The registry in the same lock database holds nothing for them.
	for (const tenant of [acme, beta, gone]) {
		expect(await tenantCredentialRegistryFor(engine()).countLiveTenantCredentials(FAKE_API_URL, tenant, 10)).toEqual({ tenant: 0, total: 0 });
	}
});
