/**
 * Tenant OAuth2 Connect (issue 19): Create Connect Link and Disconnect on the in-memory store, with
 * n8n's public API faked (FakeCredentialsApi, n8n 2.40.7's answer bodies) for the answers a real n8n
 * cannot give on demand (a 500 or 403 to one delete). The real stores and concurrency are in
 * test/integration/tenantOAuth2Connect.test.ts.
 */
import { memoryLockEngine } from '../../nodes/shared/lock';
import { tenantConnectionLockKey } from '../../nodes/shared/tenantOAuth/connectionLock';
import { connectStoreFor } from '../../nodes/shared/tenantOAuth/connectStore';
import { setDefaultRetryOptions } from '../../nodes/shared/transport/n8nApiClient';
import { TenantOAuth2Connect } from '../../nodes/TenantOAuth2Connect/TenantOAuth2Connect.node';
import { items, runConnectNode } from '../helpers/connectNode';
import { FakeCredentialsApi } from '../helpers/fakeN8n';

const store = connectStoreFor(memoryLockEngine());
const START = 'https://n8n.example.com/webhook/tenant-connect/start';
let counter = 0;
const tenant = (name: string) => `${name}-${++counter}`;

const linkParameters = (overrides: Record<string, unknown> = {}) => ({
	operation: 'createConnectLink',
	connection: 'hubspot',
	tenantId: 'acme',
	connectStartUrl: START,
	linkExpiry: 15,
	lockBackend: 'memory',
	...overrides,
});

const disconnectParameters = (tenantId: string | ((i: number) => string), overrides: Record<string, unknown> = {}) => ({
	operation: 'disconnect',
	connection: 'hubspot',
	tenantId,
	lockBackend: 'memory',
	...overrides,
});

/** The link token of a connect URL (the only query parameter). */
const tokenOf = (connectUrl: string) => new URL(connectUrl).searchParams.get('link') ?? '';

async function connect(api: FakeCredentialsApi, tenantId: string, appId = 'hubspot'): Promise<string> {
	const credentialId = api.add(`cred-${tenantId}-${appId}`, `tenant-oauth ${appId} ${tenantId}`);
	await store.saveConnection({ tenantId, appId, credentialId, credentialType: 'oAuth2Api', connectedAt: new Date() });
	return credentialId;
}

beforeAll(() => setDefaultRetryOptions({ attempts: 2, baseDelayMs: 1, maxDelayMs: 1 }));
afterAll(() => setDefaultRetryOptions());

describe('the node', () => {
	const description = new TenantOAuth2Connect().description;

	it('declares the n8n API credential for Disconnect only, and the lock database like Run With Tenant Credential', () => {
		expect(description.credentials).toEqual([
			expect.objectContaining({ name: 'tenantSwapN8nApi', required: true, displayOptions: { show: { operation: ['disconnect'] } } }),
			expect.objectContaining({ name: 'postgres', displayOptions: { show: { lockBackend: ['postgres'] } } }),
			expect.objectContaining({ name: 'redis', displayOptions: { show: { lockBackend: ['redis'] } } }),
		]);
	});

	it("says in the editor that the link is a one-time bearer capability, and that Disconnect does not revoke at the provider", () => {
		const notice = (name: string) => String(description.properties.find((property) => property.name === name)?.displayName);
		expect(notice('createLinkNotice')).toMatch(/one-time link token: whoever opens it first connects/);
		expect(notice('createLinkNotice')).toMatch(/do not log it/);
		expect(notice('disconnectNotice')).toMatch(/does not revoke the grant at the provider/);
	});
});

describe('Create Connect Link', () => {
	it("outputs the link for the item's tenant and connection: the start URL with a one-time token bound to both on the server", async () => {
		const before = Date.now();
		const run = await runConnectNode(linkParameters({ tenantId: (i: number) => ['acme', 'globex'][i] }), items(2));
		expect(run.error).toBeUndefined();
		const outputs = run.output!.map((item) => item.json as { tenantId: string; connection: string; connectUrl: string; expiresAt: string });
		expect(outputs.map(({ tenantId, connection }) => ({ tenantId, connection }))).toEqual([
			{ tenantId: 'acme', connection: 'hubspot' },
			{ tenantId: 'globex', connection: 'hubspot' },
		]);
		expect(run.output!.map((item) => item.pairedItem)).toEqual([{ item: 0 }, { item: 1 }]);
		for (const output of outputs) {
			expect(output.connectUrl.startsWith(`${START}?link=`)).toBe(true);
			expect([...new URL(output.connectUrl).searchParams.keys()]).toEqual(['link']);
			const expiresAt = Date.parse(output.expiresAt);
			expect(expiresAt).toBeGreaterThanOrEqual(before + 15 * 60_000);
			expect(expiresAt).toBeLessThanOrEqual(Date.now() + 15 * 60_000);
		}
		expect(tokenOf(outputs[0].connectUrl)).not.toBe(tokenOf(outputs[1].connectUrl));
		// The token is the link: used once, for the tenant and connection of its item.
		expect(await store.useLink(tokenOf(outputs[1].connectUrl))).toEqual({ ok: true, target: { tenantId: 'globex', appId: 'hubspot' } });
		expect(await store.useLink(tokenOf(outputs[1].connectUrl))).toEqual({ ok: false, reason: 'used' });
		expect(await store.useLink(tokenOf(outputs[0].connectUrl))).toEqual({ ok: true, target: { tenantId: 'acme', appId: 'hubspot' } });
	});

	it('never logs the link token, and makes no n8n API call', async () => {
		const run = await runConnectNode(linkParameters(), items(1));
		const token = tokenOf(String(run.output![0].json.connectUrl));
		expect(token.length).toBeGreaterThanOrEqual(43);
		expect(run.harness.logs.join('\n')).not.toContain(token);
		expect(run.harness.requests).toEqual([]);
	});

	it('keeps a start URL with a path, port and trailing slash as it is, and takes Link Expiry in minutes', async () => {
		const run = await runConnectNode(linkParameters({ connectStartUrl: 'http://127.0.0.1:5678/webhook/my-connect/start/', linkExpiry: 1 }), items(1));
		const { connectUrl, expiresAt } = run.output![0].json as { connectUrl: string; expiresAt: string };
		expect(connectUrl.startsWith('http://127.0.0.1:5678/webhook/my-connect/start/?link=')).toBe(true);
		expect(Date.parse(expiresAt) - Date.now()).toBeLessThanOrEqual(60_000);
		expect(Date.parse(expiresAt) - Date.now()).toBeGreaterThan(50_000);
	});

	it.each([
		['connection', { connection: '' }, 'Parameter "Connection", item 0: Connection is empty'],
		['connection', { connection: 'hub spot' }, 'Parameter "Connection", item 0: Connection must be 1 to 64 letters, digits, "_", "." or "-"'],
		['connection', { connection: 'x'.repeat(65) }, 'Parameter "Connection", item 0: Connection must be 1 to 64'],
		['connection', { connection: 'hub/spot' }, 'Parameter "Connection", item 0: Connection must be 1 to 64'],
		['tenantId', { tenantId: '' }, 'Parameter "Tenant ID", item 0: Tenant ID is missing'],
		['tenantId', { tenantId: 'acme\u202e' }, 'Parameter "Tenant ID", item 0: Tenant ID holds a control or invisible character'],
		['connectStartUrl', { connectStartUrl: '' }, 'Parameter "Connect Start URL", item 0: Connect Start URL is empty'],
		['connectStartUrl', { connectStartUrl: 'javascript:alert(1)' }, 'must start with https:// or http://'],
		['connectStartUrl', { connectStartUrl: 'ftp://n8n.example.com/start' }, 'must start with https:// or http://'],
		['connectStartUrl', { connectStartUrl: 'n8n.example.com/start' }, 'is not a valid URL'],
		['connectStartUrl', { connectStartUrl: `${START}?tenant=acme` }, 'must not have a query'],
		['connectStartUrl', { connectStartUrl: `${START}?` }, 'must not have a query'],
		['connectStartUrl', { connectStartUrl: `${START}#x` }, 'must not have a fragment'],
		['connectStartUrl', { connectStartUrl: 'https://user:pw@n8n.example.com/start' }, 'must not hold a user name or password'],
		['connectStartUrl', { connectStartUrl: 'https://n8n.example.com/st art' }, 'holds a space or control character'],
		['connectStartUrl', { connectStartUrl: 'https://n8n.example.com/start\n' + 'x' }, 'holds a space or control character'],
		['linkExpiry', { linkExpiry: 0 }, 'Parameter "Link Expiry", item 0: Link Expiry must be 1 to 1440 minutes (got 0)'],
		['linkExpiry', { linkExpiry: 1441 }, 'Link Expiry must be 1 to 1440 minutes (got 1441)'],
		['linkExpiry', { linkExpiry: 'soon' }, 'Link Expiry must be 1 to 1440 minutes (got soon)'],
	])('refuses a bad %s (%j) with an error naming the parameter and the item, and creates no link', async (_name, overrides, message) => {
		const created = jest.spyOn(store, 'createLink');
		try {
			const run = await runConnectNode(linkParameters(overrides), items(1));
			expect(run.error?.message).toContain(message);
			expect(run.error?.constructor.name).toBe('NodeOperationError');
			expect(run.error?.description).toMatch(/\S/);
			expect(created).not.toHaveBeenCalled();
		} finally {
			created.mockRestore();
		}
	});

	it('with Continue On Fail, a bad item becomes an error item and the others get their links', async () => {
		const run = await runConnectNode(linkParameters({ tenantId: (i: number) => (i === 1 ? '' : `t${i}`) }), items(3), { continueOnFail: true });
		expect(run.error).toBeUndefined();
		expect(run.output!.map((item) => item.json.tenantId ?? item.json.error)).toEqual(['t0', 'Parameter "Tenant ID", item 1: Tenant ID is missing: its value is empty for this item', 't2']);
		expect(run.output!.map((item) => item.pairedItem)).toEqual([{ item: 0 }, { item: 1 }, { item: 2 }]);
	});

	it('without Continue On Fail, the first bad item fails the node, naming that item', async () => {
		const run = await runConnectNode(linkParameters({ connectStartUrl: (i: number) => (i === 1 ? `${START}?x=1` : START) }), items(2));
		expect(run.error?.message).toBe('Parameter "Connect Start URL", item 1: Connect Start URL must not have a query (the part after "?")');
	});
});

describe('Disconnect', () => {
	it("locks the tenant's connection under the key the trigger's Complete uses (no two tenants or connections share one)", () => {
		expect(tenantConnectionLockKey('hubspot', 'acme')).toBe('tenant-oauth:["hubspot","acme"]');
		expect(tenantConnectionLockKey('a', 'b","c')).not.toBe(tenantConnectionLockKey('a","b', 'c'));
	});

	it("forgets the connection and deletes the tenant's n8n credential; a second run finds nothing (idempotent)", async () => {
		const api = new FakeCredentialsApi();
		const tenantId = tenant('acme');
		const credentialId = await connect(api, tenantId);
		const first = await runConnectNode(disconnectParameters(tenantId), items(1), { api });
		expect(first.error).toBeUndefined();
		expect(first.output!.map((item) => item.json)).toEqual([{ tenantId, connection: 'hubspot', disconnected: true, credentialDeleted: 'deleted' }]);
		expect(api.deletes()).toEqual([credentialId]);
		expect(api.credentials.has(credentialId)).toBe(false);
		expect(await store.connectionOf(tenantId, 'hubspot')).toBeUndefined();

		const second = await runConnectNode(disconnectParameters(tenantId), items(1), { api });
		expect(second.output!.map((item) => item.json)).toEqual([{ tenantId, connection: 'hubspot', disconnected: false, credentialDeleted: 'none' }]);
		expect(api.deletes()).toEqual([credentialId]);
	});

	it("touches only that tenant's connection of that Connection name", async () => {
		const api = new FakeCredentialsApi();
		const tenantId = tenant('acme');
		const other = tenant('globex');
		await connect(api, tenantId);
		const otherApp = await connect(api, tenantId, 'xero');
		const otherTenant = await connect(api, other);
		await runConnectNode(disconnectParameters(tenantId), items(1), { api });
		expect(api.credentials.has(otherApp)).toBe(true);
		expect(api.credentials.has(otherTenant)).toBe(true);
		expect(await store.connectionOf(tenantId, 'xero')).toMatchObject({ credentialId: otherApp });
		expect(await store.connectionOf(other, 'hubspot')).toMatchObject({ credentialId: otherTenant });
	});

	it('a credential already deleted in n8n (404) counts as done: credentialDeleted "gone"', async () => {
		for (const role of ['owner', 'member', 'legacy'] as const) {
			const api = new FakeCredentialsApi(role);
			const tenantId = tenant('acme');
			const credentialId = await connect(api, tenantId);
			api.credentials.delete(credentialId);
			const run = await runConnectNode(disconnectParameters(tenantId), items(1), { api });
			expect(run.output!.map((item) => item.json)).toEqual([{ tenantId, connection: 'hubspot', disconnected: true, credentialDeleted: 'gone' }]);
			expect(await store.connectionOf(tenantId, 'hubspot')).toBeUndefined();
		}
	});

	it.each([
		[500, /n8n API answered 500 during delete tenant credential/, /kept failing/],
		[403, /n8n API answered 403 during delete tenant credential/, /lacks the scope credential:delete/],
	])('a delete n8n refuses (%i) fails the item, keeps the tenant connected, and a later run deletes', async (status, message, hint) => {
		const api = new FakeCredentialsApi();
		const tenantId = tenant('acme');
		const credentialId = await connect(api, tenantId);
		api.failDelete.set(credentialId, status);
		const failed = await runConnectNode(disconnectParameters(tenantId), items(1), { api });
		expect(failed.error?.message).toMatch(/^Item 0: Could not delete the tenant's n8n credential /);
		expect(failed.error?.message).toMatch(message);
		expect(failed.error?.description).toMatch(hint);
		expect(failed.error?.description).toMatch(/The tenant stays connected: run Disconnect again\./);
		expect(await store.connectionOf(tenantId, 'hubspot')).toMatchObject({ credentialId });

		api.failDelete.delete(credentialId);
		const retried = await runConnectNode(disconnectParameters(tenantId), items(1), { api });
		expect(retried.output!.map((item) => item.json)).toEqual([{ tenantId, connection: 'hubspot', disconnected: true, credentialDeleted: 'deleted' }]);
	});

	it('a failed delete whose connection cannot be recorded again says which credential to delete by hand', async () => {
		const api = new FakeCredentialsApi();
		const tenantId = tenant('acme');
		const credentialId = await connect(api, tenantId);
		api.failDelete.set(credentialId, 500);
		const saved = jest.spyOn(store, 'saveConnection').mockRejectedValueOnce(new Error('lock database down'));
		try {
			const failed = await runConnectNode(disconnectParameters(tenantId), items(1), { api });
			expect(failed.error?.description).toMatch(new RegExp(`could not be recorded again either \\(lock database\\): delete the credential ${credentialId} in n8n by hand`));
			expect(saved).toHaveBeenCalledTimes(1);
		} finally {
			saved.mockRestore();
		}
	});

	it('with Continue On Fail, a failing item becomes an error item and the others are disconnected', async () => {
		const api = new FakeCredentialsApi();
		const tenants = [tenant('a'), tenant('b'), tenant('c')];
		const ids = await Promise.all(tenants.map(async (tenantId) => await connect(api, tenantId)));
		api.failDelete.set(ids[1], 500);
		const run = await runConnectNode(disconnectParameters((i) => tenants[i]), items(3), { api, continueOnFail: true });
		expect(run.output!.map((item) => item.json.credentialDeleted ?? 'error')).toEqual(['deleted', 'error', 'deleted']);
		expect(String(run.output![1].json.error)).toMatch(/^Item 1: Could not delete/);
		expect(await store.connectionOf(tenants[1], 'hubspot')).toMatchObject({ credentialId: ids[1] });
	});

	it('refuses a bad Connection or Tenant ID before touching the store or n8n', async () => {
		const api = new FakeCredentialsApi();
		const tenantId = tenant('acme');
		await connect(api, tenantId);
		const badConnection = await runConnectNode(disconnectParameters(tenantId, { connection: 'hub spot' }), items(1), { api });
		expect(badConnection.error?.message).toMatch(/^Parameter "Connection", item 0: /);
		const badTenant = await runConnectNode(disconnectParameters('x'.repeat(201)), items(1), { api });
		expect(badTenant.error?.message).toMatch(/^Parameter "Tenant ID", item 0: Tenant ID is too long/);
		expect(api.requests).toEqual([]);
		expect(await store.connectionOf(tenantId, 'hubspot')).toBeDefined();
	});
});
