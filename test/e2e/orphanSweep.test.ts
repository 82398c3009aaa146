/**
 * The orphan pass against a real n8n 2.40.7 (its public API: credential listing with cursors,
 * createdAt / updatedAt, deletion) and a real PostgreSQL registry. n8n cannot hold a credential
 * unchanged for 30 days on demand, so the old-versus-recent split is shown twice: with the real grace
 * period (credentials made a moment ago are recent: nothing is deleted), then with the grace period
 * shortened to nothing (tests only), where exactly the unknown tenant credentials go.
 */
import { registryNamePrefix, registryTag } from '../../nodes/shared/tenantCredentials/credentialName';
import { tenantCredentialRegistryFor } from '../../nodes/shared/tenantCredentials/registry';
import type { TenantCredentialRegistry } from '../../nodes/shared/tenantCredentials/registryTypes';
import { configureOrphanCleanup, sweepOrphansInBackground } from '../../nodes/shared/tenantCredentials/orphans';
import type { SweepContext } from '../../nodes/shared/tenantCredentials/sweep';
import { N8nApiClient } from '../../nodes/shared/transport/n8nApiClient';
import { FetchTransport } from '../helpers/fetchTransport';
import { PostgresLockFixture, sleep, uniqueName } from '../helpers/lockTesting';

/* eslint-disable @typescript-eslint/no-require-imports */
const { startN8n } = require('../harness/n8n.js');
const { createApiClient } = require('../harness/api.js');
/* eslint-enable @typescript-eslint/no-require-imports */

jest.setTimeout(600_000);

let n8n: any;
let api: any;
const fixture = new PostgresLockFixture();
let registry: TenantCredentialRegistry;

beforeAll(async () => {
	n8n = await startN8n({});
	api = createApiClient(n8n);
	registry = tenantCredentialRegistryFor(fixture.engine({ schema: uniqueName('orphans_e2e'), table: 'locks' }));
});

afterAll(async () => {
	configureOrphanCleanup();
	await n8n?.stop();
	await fixture.close();
});

async function credential(name: string): Promise<{ id: string; name: string; type: string; createdAt: string; updatedAt: string }> {
	return await api.createCredential({ name, type: 'httpHeaderAuth', data: { name: 'X-Key', value: `v-${Math.random()}` } });
}

it('deletes exactly the tenant credentials the registry does not know, once older than the grace period, paging through the list', async () => {
	const transport = new FetchTransport(n8n.apiUrl, n8n.apiKey);
	const scope = transport.instanceId;
	const ours = registryNamePrefix(registryTag(registry.storeIdentity, scope));
	const orphans = [await credential(`${ours}acme Q2hhbmdlZEJ5VGVzdHMx`), await credential(`${ours}globex Q2hhbmdlZEJ5VGVzdHMy`)];
	const active = await credential(`${ours}initech Q2hhbmdlZEJ5VGVzdHMz`);
	const retiring = await credential(`${ours}umbrella Q2hhbmdlZEJ5VGVzdHM0`);
	const foreign = [
		await credential('Mail server'),
		await credential('tenant-credentials of the old system'),
		await credential('tenant-swap tmp t exec 9 abcdef'),
		// A name from before registry tags, and another lock store's: never this pass's to delete.
		await credential('tenant-cred acme Q2hhbmdlZEJ5VGVzdHM1'),
		await credential(`${registryNamePrefix(registryTag('redis:another-lock-store', scope))}acme Q2hhbmdlZEJ5VGVzdHM2`),
	];
	for (const [record, retentionMs] of [
		[active, 24 * 60 * 60_000],
		[retiring, 0],
	] as const) {
		await registry.registerTenantCredential({ scope, name: record.name, credentialId: record.id, credentialType: 'httpHeaderAuth', tenantId: 't', retentionMs }, 0);
	}
	for (let claimed = false; !claimed; await sleep(5)) {
		claimed = (await registry.retireUnusedTenantCredentials(scope, 10, 60_000)).some((record) => record.credentialId === retiring.id);
	}
	const before = (await api.listCredentials()).map((c: { id: string }) => c.id).sort();
	// n8n's own dates, as its list returns them (the pass reads nothing else).
	const listed = (await api.listCredentials()) as Array<{ id: string; updatedAt?: string; createdAt?: string }>;
	for (const c of listed) expect(Number.isFinite(Date.parse(c.updatedAt ?? ''))).toBe(true);

	const lines: Array<{ level: string; message: string; meta?: Record<string, unknown> }> = [];
	const log: SweepContext['log'] = {
		warn: (message, meta) => lines.push({ level: 'warn', message, meta }),
		debug: (message, meta) => lines.push({ level: 'debug', message, meta }),
	};
	const context: SweepContext = { registry, api: new N8nApiClient(transport, { attempts: 2, baseDelayMs: 50, maxDelayMs: 200 }), scope, log };

	// The real grace period (30 days): everything here was made a moment ago.
	configureOrphanCleanup({ pageSize: 2 });
	await sweepOrphansInBackground(context, 0);
	expect((await api.listCredentials()).map((c: { id: string }) => c.id).sort()).toEqual(before);
	expect(lines).toEqual([{ level: 'debug', message: expect.any(String), meta: expect.objectContaining({ deleted: 0, unknownRecent: 2, known: 2, reachedEnd: true }) }]);

	// No grace (tests only): once n8n's updatedAt of every credential lies in the past.
	const newest = Math.max(...listed.map((c) => Date.parse(c.updatedAt!)));
	while (Date.now() <= newest) await sleep(5);
	configureOrphanCleanup({ pageSize: 2, minGraceMs: 0 });
	lines.length = 0;
	transport.requests.length = 0;
	await sweepOrphansInBackground(context, 0);

	const after = (await api.listCredentials()) as Array<{ id: string }>;
	expect(after.map((c) => c.id).sort()).toEqual(before.filter((id: string) => !orphans.some((o) => o.id === id)).sort());
	for (const kept of [active, retiring, ...foreign]) expect(after.some((c) => c.id === kept.id)).toBe(true);
	// The credentials list (the pass also lists workflows once, for references).
	const lists = transport.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/credentials'));
	// Two a page: every page after the first with n8n's cursor.
	const pages = Math.ceil(before.length / 2);
	expect(pages).toBeGreaterThanOrEqual(4);
	expect(lists.map((r) => r.qs?.cursor === undefined)).toEqual([true, ...Array.from({ length: pages - 1 }, () => false)]);
	expect(transport.requests.filter((r) => r.method === 'DELETE').map((r) => r.path).sort()).toEqual(orphans.map((o) => `/credentials/${o.id}`).sort());
	expect(lines).toEqual([
		{
			level: 'debug',
			message: 'Run With Tenant Credential looked for orphaned tenant credentials',
			meta: { pages, listed: before.length, tenantCredentials: 4, otherTenantCredentials: 2, known: 2, unknownRecent: 0, deleted: 2, gone: 0, referenced: 0, failed: 0, notTried: 0, reachedEnd: true },
		},
	]);
});
