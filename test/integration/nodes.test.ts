/**
 * The nodes' execute() against a real n8n (public API) and a real PostgreSQL lock.
 * The n8n API is scripted only for failures a real n8n 2.40.7 cannot produce (see the last block).
 */
import { NodeOperationError, type IDataObject, type INodeExecutionData } from 'n8n-workflow';

import { RunWithTenantCredential } from '../../nodes/RunWithTenantCredential/RunWithTenantCredential.node';
import { TenantCredentialSwap } from '../../nodes/TenantCredentialSwap/TenantCredentialSwap.node';
import { TenantLockRelease } from '../../nodes/TenantLockRelease/TenantLockRelease.node';
import { tenantSwapN8nApiTest } from '../../nodes/shared/transport/credentialTest';
import { searchCredentials } from '../../nodes/TenantCredentialSwap/methods/listSearch';
import { API_SCOPES } from '../../nodes/shared/transport/apiScopes';
import { closeLockEngines, closeSharedPools, hashLockKey, postgresLockEngine } from '../../nodes/shared/lock';
import { withClockSkew } from '../helpers/clockSkew';
import { executeContext, fetchJson, realHttp, type ContextSpec, type ParameterValue } from '../helpers/executeContext';
import { ApiFixture, itemsOf, postgresCredential, unique } from '../helpers/fixtures';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startN8n } = require('../harness/n8n.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { tenantSubWorkflow } = require('../harness/workflows.js');

jest.setTimeout(240_000);

const swapNode = new TenantCredentialSwap();
const releaseNode = new TenantLockRelease();
const lockTable = unique('node_locks');
const SECRET_A = 'tenant-a-SECRET-0123456789';
const SECRET_B = 'tenant-b-SECRET-9876543210';

let n8n: {
	apiUrl: string;
	apiKey: string;
	rest(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
	stop(): Promise<void>;
};
let api: ApiFixture;
let credentials: ContextSpec['credentials'];

beforeAll(async () => {
	n8n = await startN8n({});
	api = new ApiFixture(n8n.apiUrl, n8n.apiKey);
	credentials = {
		tenantSwapN8nApi: { baseUrl: n8n.apiUrl, apiKey: n8n.apiKey, allowUnauthorizedCerts: false },
		postgres: postgresCredential(),
	};
});

afterAll(async () => {
	await closeLockEngines();
	await closeSharedPools();
	await n8n?.stop();
});

async function baseCredential(name = unique('base')) {
	return await api.createCredential(name, 'httpHeaderAuth', { name: 'x-tenant-secret', value: 'initial-value' });
}

/** An OAuth2 client-credentials base credential whose token URL nothing answers (no test here fetches a token). */
async function oauthBaseCredential() {
	return await api.createCredential(unique('oauth'), 'oAuth2Api', {
		grantType: 'clientCredentials',
		accessTokenUrl: 'http://127.0.0.1:9/token',
		clientId: 'a',
		clientSecret: 'b',
		authentication: 'body',
	});
}

function swapParameters(baseId: string, extra: Record<string, ParameterValue> = {}): Record<string, ParameterValue> {
	return {
		baseCredential: { __rl: true, mode: 'id', value: baseId },
		tenantId: (i: number) => `tenant-${i}`,
		credentialData: (i: number) => ({ name: 'x-tenant-secret', value: i === 0 ? SECRET_A : SECRET_B }),
		lockBackend: 'postgres',
		// Most tests here cover the temporary credential too; its default (off) has a test of its own.
		options: { lockTable, lockTtl: 30, waitTimeout: 5, validateWithTemporaryCredential: true },
		...extra,
	};
}

async function runSwap(spec: Partial<ContextSpec> & { parameters: Record<string, ParameterValue> }) {
	const { context, logs, hints } = executeContext({
		items: itemsOf({ tenantId: 'a', credentials: { value: SECRET_A } }),
		credentials,
		executionId: unique('exec'),
		...spec,
	});
	const output = await swapNode.execute.call(context);
	return { output: output[0], logs, hints };
}

async function runRelease(spec: Partial<ContextSpec> & { parameters?: Record<string, ParameterValue> }) {
	const { context } = executeContext({
		items: [],
		credentials,
		executionId: 'unset',
		...spec,
		parameters: { lockBackend: 'postgres', releaseMode: 'execution', options: { lockTable }, ...(spec.parameters ?? {}) },
	});
	return (await releaseNode.execute.call(context))[0];
}

const engine = () => postgresLockEngine(postgresCredential() as never, { table: lockTable });

describe('Tenant Credential Swap + Release Lock on a real n8n', () => {
	it('swaps, holds the lock, carries no secret, and the release frees it', async () => {
		const base = await baseCredential();
		const before = await api.getCredential(base.id);
		const executionId = unique('exec');
		const { output, logs } = await runSwap({ executionId, parameters: swapParameters(base.id) });

		const info = output[0].json.tenantSwap as IDataObject;
		expect(info).toMatchObject({
			baseCredentialId: base.id,
			baseCredentialName: base.name,
			baseCredentialType: 'httpHeaderAuth',
			tenantId: 'tenant-0',
			lockBackend: 'postgres',
			lockKey: `credential:${base.id}`,
			temporaryCredential: 'validated',
			reentered: false,
			// This test's execution is not one of this n8n's: n8n does not show it, so nothing would renew
			// the lock or free it at the end, and the output says so (the keeper's rule, executionFollowing.ts).
			lockRenewal: 'unavailable',
			lockRenewalProblem: expect.stringMatching(/does not show this execution to the API key/),
		});
		expect(typeof info.token).toBe('string');
		expect(info.fence).toBeGreaterThanOrEqual(1);
		expect(Date.parse(info.expiresAt as string)).toBeGreaterThan(Date.parse(info.acquiredAt as string));
		const serialized = JSON.stringify(output) + logs.join('\n');
		expect(serialized).not.toContain(SECRET_A);

		const after = await api.getCredential(base.id);
		expect(Date.parse(after.updatedAt)).toBeGreaterThan(Date.parse(before.updatedAt));
		expect(await api.temporaryCredentials()).toEqual([]);
		expect((await engine().holder(`credential:${base.id}`))?.owner.executionId).toBe(executionId);

		const released = await runRelease({ executionId, items: output });
		expect(released[0].json.tenantSwap).toBeUndefined();
		expect(released[0].json.tenantLockRelease).toMatchObject({ released: 1, lost: 0 });
		expect(await engine().holder(`credential:${base.id}`)).toBeUndefined();
	});

	it('finds the base credential by name and refuses an unknown one, naming the parameter and item', async () => {
		const base = await baseCredential();
		const executionId = unique('exec');
		const { output } = await runSwap({
			executionId,
			parameters: swapParameters(base.id, { baseCredential: { __rl: true, mode: 'name', value: base.name } }),
		});
		expect((output[0].json.tenantSwap as IDataObject).baseCredentialId).toBe(base.id);
		await runRelease({ executionId, items: output });

		const missing = runSwap({ parameters: swapParameters('doesNotExist1') });
		await expect(missing).rejects.toThrow(NodeOperationError);
		await expect(missing).rejects.toThrow(/Parameter "Base Credential", item 0: .*not found/);

		// n8n would replace a message mentioning "EPERM" with "Operation not permitted": ours stays.
		const oddName = runSwap({ parameters: swapParameters('', { baseCredential: { __rl: true, mode: 'name', value: 'eperm-and-enoent creds' } }) });
		await expect(oddName).rejects.toThrow(/Parameter "Base Credential", item 0: No credential is named "eperm-and-enoent creds"/);
	});

	it.each([
		['an empty tenant ID', { tenantId: '' }, /Parameter "Tenant ID", item 0: Tenant ID is empty/],
		['a missing tenant ID', { tenantId: null }, /Parameter "Tenant ID", item 0: Tenant ID is missing \(empty\)/],
		['a tenant ID of 10 kB', { tenantId: 'acme'.repeat(2560) }, /Parameter "Tenant ID", item 0: Tenant ID is too long: 10240 characters \(starting "acmeacmeacme"\), at most 200/],
		['a tenant ID with a control character', { tenantId: 'acme\u001b[31m' }, /Parameter "Tenant ID", item 0: Tenant ID holds a control or invisible character at position 5 \(starting "acme__31m"\)/],
		['data that is not JSON', { credentialData: '{"value": ' }, /Parameter "Credential Data", item 0: .*not valid JSON/],
		['data that is an array', { credentialData: '[1]' }, /Parameter "Credential Data", item 0: .*must be an object/],
		['an unknown field', { credentialData: { value: SECRET_A, bogus: 'x' } }, /unknown field "bogus"/],
		['a wrong value type', { credentialData: { value: 42 } }, /field "value" must be string/],
		[
			'a value outside an option list',
			// A connection field: listed, so n8n's option list is what refuses it.
			{ credentialData: { value: SECRET_A, allowedHttpRequestDomains: 'some' }, options: { lockTable, allowedFields: 'value, allowedHttpRequestDomains' } },
			/must be one of "all", "domains", "none"/,
		],
		['a TTL of 0', { options: { lockTable, lockTtl: 0 } }, /Parameter "Lock TTL", item 0/],
		['a negative wait', { options: { lockTable, waitTimeout: -1 } }, /Parameter "Wait Timeout", item 0/],
		['a type guard that does not match', { options: { lockTable, credentialType: 'httpBasicAuth' } }, /is of type "httpHeaderAuth", not "httpBasicAuth"/],
		[
			'a field outside the allowed fields',
			{ credentialData: { value: SECRET_A, allowedHttpRequestDomains: 'all' }, options: { lockTable, allowedFields: 'name, value' } },
			/Parameter "Credential Data", item 0: Credential data sets "allowedHttpRequestDomains", outside the allowed fields \(name, value\)/,
		],
		[
			'an expression as a value',
			{ credentialData: { name: 'x-tenant-secret', value: `={{ "${SECRET_A}" }}` } },
			/Parameter "Credential Data", item 0: Credential data field "value" starts with "=", which n8n would evaluate as an expression/,
		],
		[
			'an expression nested in an array, even with every field allowed',
			{ credentialData: { name: 'x-tenant-secret', value: SECRET_A, extra: { list: ['plain', `=${SECRET_A}`] } }, options: { lockTable, allowedFields: 'name, value, extra' } },
			/Parameter "Credential Data", item 0: Credential data field "extra.list\[1\]" starts with "="/,
		],
		[
			'a connection field with Allowed Fields empty',
			{ credentialData: { name: 'x-tenant-secret', value: SECRET_A, allowedHttpRequestDomains: 'all' } },
			/Parameter "Credential Data", item 0: Credential data sets "allowedHttpRequestDomains", which says where n8n connects or sends the credential/,
		],
	])('refuses %s before changing anything', async (_name, override, message) => {
		const base = await baseCredential();
		const before = await api.getCredential(base.id);
		const error = await runSwap({ parameters: swapParameters(base.id, override as Record<string, ParameterValue>) }).catch((e) => e);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error.message).toMatch(message);
		expect(error.message + (error.description ?? '')).not.toContain(SECRET_A);
		expect((await api.getCredential(base.id)).updatedAt).toBe(before.updatedAt);
		expect(await engine().holder(`credential:${base.id}`)).toBeUndefined();
		expect(await api.temporaryCredentials()).toEqual([]);
	});

	it('continueOnFail: a bad item becomes an error item, the good one is swapped', async () => {
		const base = await baseCredential();
		const executionId = unique('exec');
		const { output } = await runSwap({
			executionId,
			continueOnFail: true,
			items: itemsOf({ n: 0 }, { n: 1 }),
			parameters: swapParameters(base.id, {
				tenantId: (i: number) => (i === 1 ? '' : 'tenant-0'),
				credentialData: () => ({ name: 'x-tenant-secret', value: SECRET_A }),
			}),
		});
		expect(output[0].json.tenantSwap).toMatchObject({ baseCredentialId: base.id });
		expect(output[1].json.error).toMatch(/Parameter "Tenant ID", item 1/);
		await runRelease({ executionId, items: output });
	});

	it('continueOnFail: an item with an expression becomes an error item before its base credential is locked; another base credential is swapped', async () => {
		const [refusedBase, goodBase] = [await baseCredential(), await baseCredential()];
		const before = await api.getCredential(refusedBase.id);
		const executionId = unique('exec');
		const { output } = await runSwap({
			executionId,
			continueOnFail: true,
			items: itemsOf({ n: 0 }, { n: 1 }),
			parameters: swapParameters(goodBase.id, {
				baseCredential: (i: number) => ({ __rl: true, mode: 'id', value: i === 0 ? refusedBase.id : goodBase.id }),
				credentialData: (i: number) => ({ name: 'x-tenant-secret', value: i === 0 ? `=${SECRET_A}` : SECRET_B }),
			}),
		});
		expect(output[0].json.error).toMatch(/^Parameter "Credential Data", item 0: Credential data field "value" starts with "="/);
		expect(JSON.stringify(output[0].json)).not.toContain(SECRET_A);
		expect(output[1].json.tenantSwap).toMatchObject({ baseCredentialId: goodBase.id, update: 'patched' });
		expect((await api.getCredential(refusedBase.id)).updatedAt).toBe(before.updatedAt);
		expect(await engine().holder(`credential:${refusedBase.id}`)).toBeUndefined();
		await runRelease({ executionId, items: output });
	});

	it('OAuth2: a token URL from the caller is refused with Allowed Fields empty; listed, client credentials with scope "" swap without Fields Allowed Empty', async () => {
		const base = await oauthBaseCredential();
		const before = await api.getCredential(base.id);
		const credentialData = { grantType: 'clientCredentials', accessTokenUrl: 'http://127.0.0.1:9/tenant-b', clientId: 'tenant-b', clientSecret: SECRET_B, scope: '', authentication: 'body' };
		const error = await runSwap({ parameters: swapParameters(base.id, { credentialData }) }).catch((e) => e);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error.message).toMatch(/^Parameter "Credential Data", item 0: Credential data sets "accessTokenUrl", which says where n8n connects/);
		expect(error.description).toMatch(/Options > Allowed Fields.*Nothing was changed\./);
		expect(`${error.message} ${error.description}`).not.toMatch(/tenant-b|127\.0\.0\.1/);
		expect((await api.getCredential(base.id)).updatedAt).toBe(before.updatedAt);
		expect(await engine().holder(`credential:${base.id}`)).toBeUndefined();
		expect(await api.temporaryCredentials()).toEqual([]);

		const executionId = unique('exec');
		const { output } = await runSwap({
			executionId,
			parameters: swapParameters(base.id, {
				credentialData,
				options: { lockTable, lockTtl: 30, waitTimeout: 5, validateWithTemporaryCredential: true, allowedFields: Object.keys(credentialData).join(',') },
			}),
		});
		expect(output[0].json.tenantSwap).toMatchObject({ update: 'patched', temporaryCredential: 'validated' });
		await runRelease({ executionId, items: output });
	});

	it('refuses different data for one base credential in one execution, pointing to Loop Over Items', async () => {
		const base = await baseCredential();
		const before = await api.getCredential(base.id);
		const error = await runSwap({ items: itemsOf({ n: 0 }, { n: 1 }), parameters: swapParameters(base.id) }).catch((e) => e);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error.message).toMatch(/different data for the same base credential/);
		expect(error.description).toMatch(/Loop Over Items/);
		expect((await api.getCredential(base.id)).updatedAt).toBe(before.updatedAt);
		expect(await engine().holder(`credential:${base.id}`)).toBeUndefined();
	});

	it('by default makes no temporary credential and reads a base credential once for many executions', async () => {
		const base = await baseCredential();
		const calls: string[][] = [];
		for (const secret of ['first-SECRET-d1', 'second-SECRET-d2']) {
			const executionId = unique('exec');
			const { context, requests } = executeContext({
				items: itemsOf({ tenantId: 'a' }),
				credentials,
				executionId,
				parameters: swapParameters(base.id, { credentialData: { name: 'x-tenant-secret', value: secret }, options: { lockTable } }),
			});
			const output = await swapNode.execute.call(context);
			expect(output[0][0].json.tenantSwap).toMatchObject({ temporaryCredential: 'skipped', update: 'patched' });
			calls.push(requests.map((request) => `${request.method} ${new URL(request.url).pathname}`));
			await runRelease({ executionId });
		}
		expect(calls.flat().filter((call) => call === 'POST /api/v1/credentials')).toEqual([]);
		// The second execution: under the lock, one read (what a lost answer to the update is compared with) and the update.
		expect(calls[1]).toEqual([`GET /api/v1/credentials/${base.id}`, `PATCH /api/v1/credentials/${base.id}`]);
		expect(await api.temporaryCredentials()).toEqual([]);
	});

	it('a base credential deleted after it was read: a clear error naming the parameter, and the lock released', async () => {
		const base = await baseCredential();
		const first = unique('exec');
		await runSwap({ executionId: first, parameters: swapParameters(base.id, { options: { lockTable } }) });
		await runRelease({ executionId: first });
		expect((await api.call('DELETE', `/credentials/${base.id}`)).status).toBe(200);
		const error = await runSwap({ parameters: swapParameters(base.id, { options: { lockTable } }) }).catch((e) => e);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error.message).toMatch(/Parameter "Base Credential", item 0: .*no longer exists/);
		expect(await engine().holder(`credential:${base.id}`)).toBeUndefined();
	});

	it.each([
		['an hour ahead of', 60 * 60 * 1000],
		['an hour behind', -60 * 60 * 1000],
	])("swaps with this worker's clock %s the lock database's: the update's deadline is the lease's by this worker's clock", async (_name, skew) => {
		const base = await baseCredential();
		const executionId = unique('exec');
		const { output } = await withClockSkew(skew, async () => await runSwap({ executionId, parameters: swapParameters(base.id) }));
		expect(output[0].json.tenantSwap).toMatchObject({ update: 'patched' });
		await runRelease({ executionId });
	});

	it('swaps once for many items with the same data', async () => {
		const base = await baseCredential();
		const executionId = unique('exec');
		const { context, requests } = executeContext({
			items: itemsOf({ n: 0 }, { n: 1 }, { n: 2 }),
			credentials,
			executionId,
			parameters: swapParameters(base.id, { credentialData: () => ({ name: 'x-tenant-secret', value: SECRET_A }), tenantId: 'same' }),
		});
		const output = (await swapNode.execute.call(context))[0];
		expect(output).toHaveLength(3);
		expect(requests.filter((r) => r.method === 'PATCH')).toHaveLength(1);
		expect(requests.filter((r) => r.method === 'POST')).toHaveLength(1);
		await runRelease({ executionId, items: output });
	});

	it('is re-entrant: a second swap in the same execution renews its own lock', async () => {
		const base = await baseCredential();
		const executionId = unique('exec');
		const first = (await runSwap({ executionId, parameters: swapParameters(base.id) })).output[0].json.tenantSwap as IDataObject;
		const second = (await runSwap({ executionId, parameters: swapParameters(base.id) })).output[0].json.tenantSwap as IDataObject;
		expect(second.token).toBe(first.token);
		expect(second.fence).toBe(first.fence);
		expect(second.reentered).toBe(true);
		await runRelease({ executionId });
	});

	it('a second swap that fails under the lock (Continue On Fail) keeps the lock an earlier swap of the execution took', async () => {
		const base = await baseCredential();
		const executionId = unique('exec');
		const first = (await runSwap({ executionId, parameters: swapParameters(base.id) })).output[0].json.tenantSwap as IDataObject;
		// Gone from n8n after the first swap read it: the second swap re-enters the lock, then its PATCH fails (404).
		expect((await api.call('DELETE', `/credentials/${base.id}`)).status).toBeLessThan(300);
		const { output } = await runSwap({ executionId, continueOnFail: true, parameters: swapParameters(base.id) });
		expect(output[0].json.error).toMatch(/no longer exists/);
		const holder = await engine().holder(`credential:${base.id}`);
		expect(holder?.owner.executionId).toBe(executionId);
		expect((await runRelease({ executionId, items: [{ json: { tenantSwap: first } }] }))[0].json.tenantLockRelease).toMatchObject({ released: 1, lost: 0 });
	});

	it('times out on a lock another execution holds, naming the holder, without touching the base credential', async () => {
		const base = await baseCredential();
		const holderExecution = unique('holder');
		await runSwap({ executionId: holderExecution, parameters: swapParameters(base.id) });
		const before = await api.getCredential(base.id);
		const error = await runSwap({ parameters: swapParameters(base.id, { options: { lockTable, waitTimeout: 0.3 } }) }).catch((e) => e);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error.message).toMatch(new RegExp(`held by execution ${holderExecution}`));
		expect((await api.getCredential(base.id)).updatedAt).toBe(before.updatedAt);
		expect(await api.temporaryCredentials()).toEqual([]);
		await runRelease({ executionId: holderExecution });
	});

	it('refuses a partial update of an OAuth2 credential (n8n would keep the previous tenant token)', async () => {
		const base = await oauthBaseCredential();
		const error = await runSwap({
			parameters: swapParameters(base.id, {
				credentialData: { clientId: 'tenant-b', clientSecret: SECRET_B },
				options: { lockTable, partialUpdate: true },
			}),
		}).catch((e) => e);
		expect(error.message).toMatch(/Parameter "Partial Update", item 0/);
		expect(error.description).toMatch(/previous tenant's token/);
		expect(await engine().holder(`credential:${base.id}`)).toBeUndefined();
	});

	it('refuses a partial update of an OAuth2-descendant credential (hubspotDeveloperApi: no "oauth" in its name), leaving it untouched', async () => {
		const base = await api.createCredential(unique('hubspot'), 'hubspotDeveloperApi', {
			apiKey: 'initial-api-key',
			appId: '1',
			clientId: 'a',
			clientSecret: 'b',
		});
		const before = await api.getCredential(base.id);
		const error = await runSwap({
			parameters: swapParameters(base.id, { credentialData: { apiKey: SECRET_B }, options: { lockTable, partialUpdate: true } }),
		}).catch((e) => e);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error.message).toMatch(/^Parameter "Partial Update", item 0: "Partial Update" cannot be used with base credential .*hubspotDeveloperApi/);
		expect(error.description).toMatch(/previous tenant's token/);
		expect(`${error.message} ${error.description}`).not.toContain(SECRET_B);
		expect((await api.getCredential(base.id)).updatedAt).toBe(before.updatedAt);
		expect(await engine().holder(`credential:${base.id}`)).toBeUndefined();
	});

	it.each([
		["a new node's default Credential Data", () => swapNode.description.properties.find((p) => p.name === 'credentialData')?.default, /Parameter "Credential Data", item 0: Credential Data is empty/],
		['the old default {"value": ""}', () => '{\n  "value": ""\n}', /Parameter "Credential Data", item 0: Credential data sets "value" to an empty value and leaves out "name"/],
		['a full replace without the header name', () => ({ value: SECRET_A }), /leaves out "name", which a "httpHeaderAuth" credential needs/],
	])('refuses %s and leaves the base credential untouched', async (_name, credentialData, message) => {
		const base = await baseCredential();
		const before = await api.getCredential(base.id);
		const error = await runSwap({
			parameters: swapParameters(base.id, { credentialData: credentialData(), options: { lockTable } }),
		}).catch((e) => e);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error.message).toMatch(message);
		expect(error.description).toMatch(/Nothing was changed/);
		expect(`${error.message} ${error.description}`).not.toContain(SECRET_A);
		expect((await api.getCredential(base.id)).updatedAt).toBe(before.updatedAt);
		expect(await engine().holder(`credential:${base.id}`)).toBeUndefined();
	});

	it('Fields Allowed Empty lets a named field be empty on purpose', async () => {
		const base = await baseCredential();
		const executionId = unique('exec');
		const { output } = await runSwap({
			executionId,
			parameters: swapParameters(base.id, { credentialData: { name: 'x-tenant-secret', value: '' }, options: { lockTable, allowEmptyFields: 'value' } }),
		});
		expect(output[0].json.tenantSwap).toMatchObject({ update: 'patched' });
		await runRelease({ executionId, items: output });
	});

	it('takes several locks in one global order: two executions in opposite item order never deadlock', async () => {
		const [x, y] = [await baseCredential(), await baseCredential()];
		const parameters = (order: string[]) =>
			swapParameters('', {
				baseCredential: (i: number) => ({ __rl: true, mode: 'id', value: order[i] }),
				credentialData: (i: number) => ({ name: 'x-tenant-secret', value: `${order[i]}-value-${i}` }),
			});
		const runPair = async (order: string[]) => {
			const executionId = unique('exec');
			const { output } = await runSwap({ executionId, items: itemsOf({}, {}), parameters: parameters(order) });
			await new Promise((resolve) => setTimeout(resolve, 20));
			await runRelease({ executionId, items: output });
			return output;
		};
		const results = await Promise.all(
			Array.from({ length: 6 }, (_, i) => runPair(i % 2 === 0 ? [x.id, y.id] : [y.id, x.id])),
		);
		for (const output of results) expect(output.map((item) => (item.json.tenantSwap as IDataObject).baseCredentialId).sort()).toEqual([x.id, y.id].sort());
	});

	it('skips the update when the base credential still holds the same data, and not after someone edited it', async () => {
		const base = await baseCredential();
		const parameters = swapParameters(base.id, { credentialData: () => ({ name: 'x-tenant-secret', value: SECRET_A }) });
		const swapOnce = async () => {
			const executionId = unique('exec');
			const { context, requests } = executeContext({ items: itemsOf({}), credentials, executionId, parameters });
			const output = (await swapNode.execute.call(context))[0];
			await runRelease({ executionId, items: output });
			const writes = requests.filter((r) => r.method === 'PATCH' || r.method === 'POST').map((r) => r.method);
			return { info: output[0].json.tenantSwap as IDataObject, writes };
		};

		const first = await swapOnce();
		expect(first.info).toMatchObject({ update: 'patched', temporaryCredential: 'validated' });
		expect(first.writes).toEqual(['POST', 'PATCH']);

		const second = await swapOnce();
		expect(second.info).toMatchObject({ update: 'unchanged', temporaryCredential: 'skipped' });
		expect(second.writes).toEqual([]);

		// A person edits the credential: its updatedAt moves, so the next swap writes again.
		const edited = await api.call('PATCH', `/credentials/${base.id}`, { data: { name: 'x-tenant-secret', value: 'edited-by-hand' } });
		expect(edited.status).toBe(200);
		const third = await swapOnce();
		expect(third.info).toMatchObject({ update: 'patched' });
		expect(third.writes).toContain('PATCH');

		// What the lock store remembers is a keyed hash, never the data.
		const { Client } = await import('pg');
		const client = new Client({ connectionString: process.env.TEST_DATABASE_URL });
		await client.connect();
		const stateTable = `tsl_${hashLockKey(`public.${lockTable}`).slice(0, 20)}_state`;
		const { rows } = await client.query(`SELECT * FROM public.${stateTable}`);
		await client.end();
		expect(rows.length).toBeGreaterThan(0);
		expect(JSON.stringify(rows)).not.toContain(SECRET_A);
	});

	it('works the same with the Redis lock backend', async () => {
		// eslint-disable-next-line @typescript-eslint/no-require-imports
		const redis = await require('../harness/redis.js').ensureRedis();
		const base = await baseCredential();
		const executionId = unique('exec');
		const redisCredentials = { ...credentials, redis: { host: redis.host, port: redis.port, database: 0, ssl: false } };
		const { output } = await runSwap({
			executionId,
			credentials: redisCredentials,
			parameters: swapParameters(base.id, { lockBackend: 'redis' }),
		});
		expect(output[0].json.tenantSwap).toMatchObject({ lockBackend: 'redis', lockKey: `credential:${base.id}`, update: 'patched' });
		const other = await runSwap({
			credentials: redisCredentials,
			parameters: swapParameters(base.id, { lockBackend: 'redis', options: { lockTable, waitTimeout: 0.2 } }),
		}).catch((e) => e);
		expect(other.message).toMatch(new RegExp(`held by execution ${executionId}`));
		const released = await runRelease({ executionId, items: output, credentials: redisCredentials, parameters: { lockBackend: 'redis' } });
		expect(released[0].json.tenantLockRelease).toMatchObject({ released: 1, lost: 0 });

		// The audit trail: a capped list in Redis, newest first.
		const { default: Redis } = await import('ioredis');
		const client = new Redis({ host: redis.host, port: redis.port });
		const trail = (await client.lrange('tenant-swap:audit', 0, 199)).map((line) => JSON.parse(line));
		client.disconnect();
		const mine = trail.filter((event) => event.executionId === executionId).map((event) => `${event.action}:${event.outcome}`);
		expect(mine.sort()).toEqual(['release:released', 'swap:patched']);
		expect(JSON.stringify(trail)).not.toContain(SECRET_A);
	});

	it('records every swap and release in the audit table of the lock database, never the data', async () => {
		const base = await baseCredential();
		const executionId = unique('exec');
		const { output } = await runSwap({ executionId, parameters: swapParameters(base.id) });
		await runRelease({ executionId, items: output });
		const failedExecution = unique('exec');
		await runSwap({ executionId: failedExecution, parameters: swapParameters(base.id, { credentialData: { value: SECRET_B, bogus: 'x' } }) }).catch(() => undefined);

		const { Client } = await import('pg');
		const client = new Client({ connectionString: process.env.TEST_DATABASE_URL });
		await client.connect();
		const { rows } = await client.query(
			'SELECT action, outcome, execution_id, tenant_id, base_credential_id, lock_key, held_ms, detail FROM public.tenant_swap_audit WHERE execution_id = ANY($1) ORDER BY id',
			[[executionId, failedExecution]],
		);
		const all = await client.query('SELECT * FROM public.tenant_swap_audit');
		await client.end();
		expect(rows).toEqual([
			expect.objectContaining({ action: 'swap', outcome: 'patched', execution_id: executionId, tenant_id: 'tenant-0', base_credential_id: base.id, lock_key: `credential:${base.id}` }),
			expect.objectContaining({ action: 'release', outcome: 'released', execution_id: executionId, lock_key: `credential:${base.id}` }),
			expect.objectContaining({ action: 'swap', outcome: 'failed', execution_id: failedExecution, detail: expect.stringMatching(/unknown field "bogus"/) }),
		]);
		expect(typeof rows[1].held_ms).toBe('number');
		const stored = JSON.stringify(all.rows);
		expect(stored).not.toContain(SECRET_A);
		expect(stored).not.toContain(SECRET_B);
	});

	it("lock scope tenant: takes the base credential's key and the tenant's (never the tenant's alone)", async () => {
		// Fails with the fix reverted: the only key was the tenant's, so two tenants PATCHed one base credential at once.
		const base = await baseCredential();
		const executionId = unique('exec');
		const { output } = await runSwap({
			executionId,
			parameters: swapParameters(base.id, { tenantId: 'acme "quoted" ü', options: { lockTable, lockScope: 'tenant' } }),
		});
		expect(output[0].json.tenantSwap).toMatchObject({ lockKey: `credential:${base.id}`, tenantLockKey: 'tenant:acme "quoted" ü' });
		expect((await engine().holder(`credential:${base.id}`))?.owner.executionId).toBe(executionId);
		expect((await engine().holder('tenant:acme "quoted" ü'))?.owner.executionId).toBe(executionId);
		await runRelease({ executionId, items: output });
	});
});

/** An API key of the harness's owner with every scope but `without`. */
async function apiKeyWithout(without: string): Promise<string> {
	const scopes = ((await n8n.rest('GET', 'api-keys/scopes')).body.data as string[]).filter((scope) => scope !== without);
	const created = await n8n.rest('POST', 'api-keys', { label: unique(`no-${without}`), scopes, expiresAt: null });
	if (created.status !== 200) throw new Error(`creating an API key answered ${created.status}`);
	return created.body.data.rawApiKey as string;
}

function withApiKey(apiKey: string): ContextSpec['credentials'] {
	return { ...credentials, tenantSwapN8nApi: { ...credentials.tenantSwapN8nApi, apiKey } };
}

async function eventually(check: () => Promise<boolean> | boolean, limitMs: number, what: string): Promise<void> {
	const giveUp = Date.now() + limitMs;
	while (!(await check())) {
		if (Date.now() > giveUp) throw new Error(`${what}: not after ${limitMs} ms`);
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
}

describe('API keys and settings the swap cannot work with', () => {
	async function expectNothingChanged(base: { id: string; updatedAt: string }, error: any, secrets: string[]) {
		expect(error).toBeInstanceOf(NodeOperationError);
		for (const secret of secrets) expect(`${error.message} ${error.description ?? ''}`).not.toContain(secret);
		expect((await api.getCredential(base.id)).updatedAt).toBe(base.updatedAt);
		expect(await engine().holder(`credential:${base.id}`)).toBeUndefined();
		expect(await api.temporaryCredentials()).toEqual([]);
	}

	it('an invalid API key: n8n refuses it, the error says to check the key (never shows it), nothing changed', async () => {
		const base = await api.getCredential((await baseCredential()).id);
		const badKey = 'not-a-valid-api-key-0123456789';
		const error = await runSwap({ credentials: withApiKey(badKey), parameters: swapParameters(base.id) }).catch((e) => e);
		expect(error.message).toMatch(/401/);
		expect(error.description).toMatch(/Check the API key/);
		await expectNothingChanged(base, error, [badKey, SECRET_A]);
	});

	it('an API key without credential:update: the update is refused with the scope named, the lock released, nothing changed', async () => {
		const base = await api.getCredential((await baseCredential()).id);
		const limitedKey = await apiKeyWithout('credential:update');
		const error = await runSwap({ credentials: withApiKey(limitedKey), parameters: swapParameters(base.id) }).catch((e) => e);
		expect(error.message).toMatch(/403 during update base credential/);
		expect(error.description).toMatch(/lacks the scope credential:update \(to update the base credential\)\. Give it all of: credential:list, credential:read, credential:create, credential:update, credential:delete, execution:read\./);
		await expectNothingChanged(base, error, [limitedKey, SECRET_A]);
	});

	it('an API key without execution:read: the swap works, and the lock is left to its TTL with a warning naming the scope', async () => {
		const base = await baseCredential();
		const limitedKey = await apiKeyWithout('execution:read');
		const executionId = unique('exec');
		const { output, logs, hints } = await runSwap({
			executionId,
			credentials: withApiKey(limitedKey),
			parameters: swapParameters(base.id, { options: { lockTable, lockTtl: 30 } }),
		});
		expect((output[0].json.tenantSwap as IDataObject).update).toBe('patched');
		// Said where the user looks (output and execution hint), not only in n8n's server log.
		expect(output[0].json.tenantSwap).toMatchObject({ lockRenewal: 'unavailable', lockRenewalProblem: expect.stringMatching(/lacks the execution:read scope/) });
		expect(hints).toEqual([expect.objectContaining({ type: 'warning', message: expect.stringMatching(/lacks the execution:read scope.*held until Release Lock, or until the Lock TTL runs out/) })]);
		// The swap's own look: n8n answers 403, so renewal stops at once and n8n's log names the missing scope.
		await eventually(() => logs.some((line) => line.startsWith('warn') && line.includes('execution:read')), 20_000, 'warning about execution:read');
		expect(logs.join('\n')).not.toContain(limitedKey);
		expect((await engine().holder(`credential:${base.id}`))?.owner.executionId).toBe(executionId);
		await runRelease({ executionId });
	});

	it.each([
		['quotes and SQL', `tenant's "x"; DROP TABLE y; --`],
		['unicode', 'mandant-münchen-租户-🔐-ключ'],
		// The longest allowed (decision 4 of issue 16); 10 kB is refused (see "refuses ... before changing anything").
		['200 characters', `${'t'.repeat(199)}!`],
	])('a tenant ID with %s is a lock key like any other (Lock Scope Tenant), and the release frees it', async (_name, tenantId) => {
		const base = await baseCredential();
		const executionId = unique('exec');
		const { output } = await runSwap({
			executionId,
			parameters: swapParameters(base.id, { tenantId, options: { lockTable, lockScope: 'tenant' } }),
		});
		const info = output[0].json.tenantSwap as IDataObject;
		expect(info.tenantLockKey).toBe(`tenant:${tenantId}`);
		expect(info.tenantId).toBe(tenantId);
		expect((await engine().holder(`tenant:${tenantId}`))?.owner.executionId).toBe(executionId);
		await runRelease({ executionId });
		expect(await engine().holder(`tenant:${tenantId}`)).toBeUndefined();
	});

	it('token mode frees both locks of Lock Scope Tenant: the base credential\'s and the tenant\'s (the tenant lock stayed held before)', async () => {
		const base = await baseCredential();
		const executionId = unique('exec');
		const tenantId = unique('tenant');
		const { output } = await runSwap({ executionId, parameters: swapParameters(base.id, { tenantId, options: { lockTable, lockScope: 'tenant' } }) });
		const info = output[0].json.tenantSwap as IDataObject;
		const released = await runRelease({
			executionId,
			items: output,
			parameters: { releaseMode: 'token', lockKey: () => info.lockKey, token: () => info.token },
		});
		expect((released[0].json.tenantLockRelease as IDataObject).released).toBe(2);
		expect(await engine().holder(`credential:${base.id}`)).toBeUndefined();
		expect(await engine().holder(`tenant:${tenantId}`)).toBeUndefined();
	});

	it.each([
		['a lock table name with a quote', { lockTable: 'locks"; DROP TABLE x; --' }, /Lock Table Name/],
		['a lock table name longer than 63 characters', { lockTable: 'l'.repeat(64) }, /Lock Table Name/],
		['a lock schema with a space', { lockSchema: 'my schema', lockTable: 'locks' }, /Lock Table Schema/],
	])('refuses %s, naming the parameter, before changing anything', async (_name, lockOptions, parameter) => {
		const base = await api.getCredential((await baseCredential()).id);
		const error = await runSwap({ parameters: swapParameters(base.id, { options: { ...lockOptions } }) }).catch((e) => e);
		expect(error.message).toMatch(parameter);
		expect(error.message).toMatch(/item 0/);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect((await api.getCredential(base.id)).updatedAt).toBe(base.updatedAt);
		expect(await api.temporaryCredentials()).toEqual([]);
	});
});

describe('Release Lock modes', () => {
	it('token mode frees the carried lock; a lost lock fails by default and is reported with failIfLost off', async () => {
		const base = await baseCredential();
		const executionId = unique('exec');
		const { output } = await runSwap({ executionId, parameters: swapParameters(base.id, { options: { lockTable, lockTtl: 0.2, renewLock: false } }) });
		const info = output[0].json.tenantSwap as IDataObject;
		// Renewal off: the lease runs out and another execution takes the key over.
		await new Promise((resolve) => setTimeout(resolve, 300));
		const thief = unique('thief');
		await engine().acquire(info.lockKey as string, { owner: { executionId: thief }, ttlMs: 30_000, waitTimeoutMs: 0 });

		const tokenParameters = {
			releaseMode: 'token',
			lockKey: (i: number) => ((output[i].json.tenantSwap as IDataObject).lockKey),
			token: (i: number) => ((output[i].json.tenantSwap as IDataObject).token),
		};
		const error = await runRelease({ executionId, items: output, parameters: tokenParameters }).catch((e) => e);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error.message).toMatch(/Lock lost before release/);
		// The old holder's release left the new holder's lock in place.
		expect((await engine().holder(info.lockKey as string))?.owner.executionId).toBe(thief);

		const reported = await runRelease({ executionId, items: output, parameters: { ...tokenParameters, options: { lockTable, failIfLost: false } } });
		expect(reported[0].json.tenantLockRelease).toMatchObject({ released: 0, lost: 1 });
		await runRelease({ executionId: thief });
	});

	it('executionId mode frees the locks of another (failed) execution, as an Error Trigger workflow would', async () => {
		const base = await baseCredential();
		const failedExecution = unique('failed');
		await runSwap({ executionId: failedExecution, parameters: swapParameters(base.id) });
		const released = await runRelease({
			executionId: unique('error-workflow'),
			items: [{ json: { execution: { id: failedExecution } } }],
			parameters: { releaseMode: 'executionId', executionId: (i: number) => (i === 0 ? failedExecution : '') },
		});
		expect(released[0].json.tenantLockRelease).toMatchObject({ released: 1, lost: 0 });
		expect(await engine().holder(`credential:${base.id}`)).toBeUndefined();
	});

	it('names the parameter when the token is missing', async () => {
		const error = await runRelease({
			executionId: unique('exec'),
			items: [{ json: {} }],
			parameters: { releaseMode: 'token', lockKey: 'credential:x', token: '' },
		}).catch((e) => e);
		expect(error.message).toMatch(/Parameter "Lock Token", item 0/);
	});
});

describe('failures a real n8n 2.40.7 cannot produce (scripted API)', () => {
	const summary = { id: 'base1', name: 'Base', type: 'httpHeaderAuth', updatedAt: '2026-01-01T00:00:00.000Z' };
	const schema = { properties: { name: { type: 'string' }, value: { type: 'string' } } };

	function scripted(patch: { statusCode: number; body: unknown }, deleted: string[]) {
		return async (options: { method?: string; url: string }) => {
			const path = new URL(options.url).pathname.replace(/^\/api\/v1/, '');
			if (options.method === 'GET' && path === '/credentials/base1') return { statusCode: 200, body: summary };
			if (options.method === 'GET' && path.startsWith('/credentials/schema/')) return { statusCode: 200, body: schema };
			if (options.method === 'POST' && path === '/credentials') return { statusCode: 200, body: { id: 'tmp1', name: 'tmp', type: 'httpHeaderAuth' } };
			if (options.method === 'DELETE') {
				deleted.push(path);
				return { statusCode: 200, body: {} };
			}
			if (options.method === 'PATCH') return patch;
			return { statusCode: 500, body: { message: 'unexpected' } };
		};
	}

	it('continueOnFail with a lock shared by two base credentials (tenant scope): one failed update does not free the lock the other still needs', async () => {
		const executionId = unique('exec');
		const other = { ...summary, id: 'base2', name: 'Base 2' };
		const send = async (options: { method?: string; url: string }) => {
			const path = new URL(options.url).pathname.replace(/^\/api\/v1/, '');
			if (options.method === 'GET' && path === '/credentials/base1') return { statusCode: 200, body: summary };
			if (options.method === 'GET' && path === '/credentials/base2') return { statusCode: 200, body: other };
			if (options.method === 'GET') return { statusCode: 200, body: schema };
			if (options.method === 'PATCH' && path === '/credentials/base1') return { statusCode: 400, body: { message: 'refused' } };
			if (options.method === 'PATCH') return { statusCode: 200, body: { ...other, updatedAt: new Date().toISOString() } };
			return { statusCode: 500, body: { message: 'unexpected' } };
		};
		const { output } = await runSwap({
			executionId,
			continueOnFail: true,
			items: itemsOf({}, {}),
			send: send as never,
			parameters: swapParameters('', {
				baseCredential: (i: number) => ({ __rl: true, mode: 'id', value: i === 0 ? 'base1' : 'base2' }),
				tenantId: 'shared-tenant',
				options: { lockTable, lockScope: 'tenant', validateWithTemporaryCredential: false },
			}),
		});
		expect(output[0].json.error).toMatch(/400/);
		expect(output[1].json.tenantSwap).toMatchObject({ baseCredentialId: 'base2', lockKey: 'credential:base2', tenantLockKey: 'tenant:shared-tenant' });
		expect((await engine().holder('tenant:shared-tenant'))?.owner.executionId).toBe(executionId);
		expect((await engine().holder('credential:base2'))?.owner.executionId).toBe(executionId);
		// The failed group's base credential lock is freed; the tenant's stays with the group that succeeded.
		expect(await engine().holder('credential:base1')).toBeUndefined();
		await runRelease({ executionId });
	});

	it.each([
		['an n8n without PATCH (before 2.8)', { statusCode: 405, body: { message: 'Method Not Allowed' } }, /405/, /n8n 2\.8/],
		['an update n8n does not confirm', { statusCode: 200, body: { ...summary } }, /did not confirm the update/, /newer update time/],
	])('%s: clear error, temporary credential deleted, lock released', async (_name, patch, message, description) => {
		const deleted: string[] = [];
		const executionId = unique('exec');
		const error = await runSwap({
			executionId,
			parameters: swapParameters('base1', { options: { lockTable, waitTimeout: 1, validateWithTemporaryCredential: true } }),
			send: scripted(patch, deleted) as never,
		}).catch((e) => e);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error.message).toMatch(message);
		expect(error.description).toMatch(description);
		expect(deleted).toEqual(['/credentials/tmp1']);
		expect(await engine().holder('credential:base1')).toBeUndefined();
	});
});

/** The credential test's context: n8n gives it only `helpers.request` (request-promise options). */
function credentialTestContext() {
	return {
		helpers: {
			request: async (options: { method: string; uri: string; body?: unknown; headers: Record<string, string> }) =>
				await fetchJson(options.uri, options.method, options.headers, options.body),
		},
	} as never;
}

async function testCredentialWith(apiKey: string) {
	return await tenantSwapN8nApiTest.call(credentialTestContext(), {
		id: 'c1',
		name: 'n8n API',
		type: 'tenantSwapN8nApi',
		data: { baseUrl: n8n.apiUrl, apiKey, allowUnauthorizedCerts: false },
	});
}

describe('the credential test checks every scope the nodes use', () => {
	it('passes a key with all of them, and creates or changes nothing', async () => {
		const before = await api.listCredentials();
		expect(await testCredentialWith(n8n.apiKey)).toEqual({ status: 'OK', message: 'Connection successful' });
		expect(await api.listCredentials()).toEqual(before);
	});

	it.each(API_SCOPES.map((scope) => [scope]))('names a missing %s', async (scope) => {
		const result = await testCredentialWith(await apiKeyWithout(scope));
		expect(result.status).toBe('Error');
		expect(result.message).toMatch(new RegExp(`^The API key lacks the scope ${scope} \\(to `));
		expect(result.message).toContain(`Give it all of: ${API_SCOPES.join(', ')}.`);
	});

	it('names every missing scope at once, and never shows the key', async () => {
		const scopes = ((await n8n.rest('GET', 'api-keys/scopes')).body.data as string[]).filter(
			(scope) => scope !== 'credential:create' && scope !== 'execution:read',
		);
		const created = await n8n.rest('POST', 'api-keys', { label: unique('two-missing'), scopes, expiresAt: null });
		const key = created.body.data.rawApiKey as string;
		const result = await testCredentialWith(key);
		expect(result.message).toMatch(/lacks the scopes credential:create \(to create the temporary credential\), execution:read \(to Renew Lock While Running/);
		expect(result.message).not.toContain(key);
	});

	it('passes a key without the workflow scopes, and says that Run With Tenant Credential needs them', async () => {
		const scopes = ((await n8n.rest('GET', 'api-keys/scopes')).body.data as string[]).filter((scope) => !scope.startsWith('workflow:'));
		const created = await n8n.rest('POST', 'api-keys', { label: unique('no-workflow-scopes'), scopes, expiresAt: null });
		expect(await testCredentialWith(created.body.data.rawApiKey as string)).toEqual({
			status: 'OK',
			message:
				'Connection successful (for Run With Tenant Credential the key also needs workflow:read (to read the sub-workflow of Run With Tenant Credential), workflow:list (to list workflows in the Sub-Workflow parameter of Run With Tenant Credential))',
		});
	});

	it('a key n8n refuses, and a URL that is not the API', async () => {
		expect(await testCredentialWith('not-a-valid-key')).toEqual({
			status: 'Error',
			message: 'n8n refused the API key (401): check it in Settings > n8n API',
		});
		const wrongUrl = await tenantSwapN8nApiTest.call(credentialTestContext(), {
			id: 'c1',
			name: 'n8n API',
			type: 'tenantSwapN8nApi',
			data: { baseUrl: n8n.apiUrl.replace(/\/api\/v1$/, '/api/v0'), apiKey: n8n.apiKey },
		});
		expect(wrongUrl.status).toBe('Error');
		expect(wrongUrl.message).toMatch(/check that the URL ends in \/api\/v1\. The nodes need n8n 2\.8 or later/);
	});
});

describe('Renew Lock While Running, as the output says it', () => {
	it('off when the option is off', async () => {
		const base = await baseCredential();
		const executionId = unique('exec');
		const { output, hints } = await runSwap({ executionId, parameters: swapParameters(base.id, { options: { lockTable, renewLock: false } }) });
		expect(output[0].json.tenantSwap).toMatchObject({ lockRenewal: 'off' });
		expect((output[0].json.tenantSwap as IDataObject).lockRenewalProblem).toBeUndefined();
		expect(hints).toEqual([]);
		await runRelease({ executionId });
	});
});

describe('Base Credential "From List"', () => {
	it("leaves out the node's own n8n API and lock database credentials", async () => {
		// This n8n runs without the package (no tenantSwapN8nApi type); the list leaves out by ID, whatever the type.
		const n8nApiCredential = await api.createCredential(unique('own n8n api'), 'httpHeaderAuth', { name: 'x', value: 'y' });
		const lockCredential = await api.createCredential(unique('own lock db'), 'postgres', postgresCredential());
		const base = await baseCredential(unique('listed base'));
		const context = {
			getNode: () => ({
				name: 'Tenant Credential Swap',
				credentials: {
					tenantSwapN8nApi: { id: n8nApiCredential.id, name: n8nApiCredential.name },
					postgres: { id: lockCredential.id, name: lockCredential.name },
				},
			}),
			getCredentials: async () => credentials.tenantSwapN8nApi,
			helpers: {
				httpRequestWithAuthentication: async (_type: string, options: never) => await realHttp(options, n8n.apiKey),
			},
		} as never;
		const ids: string[] = [];
		let token: string | undefined;
		do {
			const page = await searchCredentials.call(context, undefined, token);
			ids.push(...page.results.map((result) => String(result.value)));
			token = page.paginationToken as string | undefined;
		} while (token);
		expect(ids).toContain(base.id);
		expect(ids).not.toContain(n8nApiCredential.id);
		expect(ids).not.toContain(lockCredential.id);
	});
});

describe('Swap and Release on different lock backends', () => {
	it('Release Lock says which backend took the lock instead of failing later as a lost lock', async () => {
		const base = await baseCredential();
		const executionId = unique('exec');
		const { output } = await runSwap({ executionId, parameters: swapParameters(base.id) });
		expect(output[0].json.tenantSwap).toMatchObject({ lockBackend: 'postgres' });
		for (const releaseMode of ['execution', 'token']) {
			const error = await runRelease({ executionId, items: output, parameters: { lockBackend: 'memory', releaseMode, options: { lockTable } } }).catch((e) => e);
			expect(error).toBeInstanceOf(NodeOperationError);
			expect(error.message).toBe(
				'Parameter "Lock Backend", item 0: Tenant Credential Swap took this lock on the "PostgreSQL" lock backend, but this Release Lock uses "In-Memory"',
			);
			expect(error.description).toMatch(/^Set Lock Backend here to "PostgreSQL"/);
		}
		// Nothing was released on the wrong backend; the right one frees it.
		expect((await engine().holder(`credential:${base.id}`))?.owner.executionId).toBe(executionId);
		expect((await runRelease({ executionId, items: output }))[0].json.tenantLockRelease).toMatchObject({ released: 1, lost: 0 });
	});
});

describe('Run With Tenant Credential refuses tenant data before anything is created or locked', () => {
	const runNode = new RunWithTenantCredential();
	let subWorkflowId: string;
	const subExecutions: INodeExecutionData[][] = [];

	beforeAll(async () => {
		const placeholder = await api.createCredential(unique('placeholder'), 'httpHeaderAuth', { name: 'x-tenant-secret', value: 'placeholder' });
		// The tenant API is never called: the sub-execution is scripted (executeWorkflow below).
		const workflow = tenantSubWorkflow({ name: unique('rwt sub'), kind: 'headerAuth', echoUrl: 'http://127.0.0.1:9', credential: placeholder, pick: 'none' });
		const created = await api.call('POST', '/workflows', { ...workflow, settings: { ...workflow.settings, callerPolicy: 'any' } });
		expect(created.status).toBe(200);
		subWorkflowId = created.body.id;
	});

	// Short: a tenant credential's name shows at most 40 characters of the tenant ID.
	let tenants = 0;
	const newTenant = () => `rwt-${Date.now().toString(36)}-${++tenants}`;

	async function runRwt(spec: { executionId: string; tenant: string; items?: INodeExecutionData[]; continueOnFail?: boolean; credentialData: ParameterValue; options?: Record<string, unknown> }) {
		const { context } = executeContext({
			items: spec.items ?? itemsOf({ n: 0 }),
			credentials,
			executionId: spec.executionId,
			continueOnFail: spec.continueOnFail,
			// An editor run: the sub-workflow's saved version runs (it is never published here).
			mode: 'manual',
			executeWorkflow: async (_workflow, items) => {
				subExecutions.push(items);
				return { executionId: unique('sub'), data: [items.map(() => ({ json: { called: true } }))] };
			},
			parameters: {
				subWorkflow: { __rl: true, mode: 'id', value: subWorkflowId },
				tenantId: (i: number) => `${spec.tenant}-${i}`,
				credentialData: spec.credentialData,
				lockBackend: 'postgres',
				options: { lockTable, credentialType: 'httpHeaderAuth', ...(spec.options ?? {}) },
			},
		});
		return (await runNode.execute.call(context))[0];
	}

	const tenantCredentialsOf = async (tenant: string) => (await api.listCredentials()).filter((credential) => credential.name.includes(`${tenant}-`));
	const locksOf = async (executionId: string) => (await engine().heldLocks(1000)).filter((lock) => lock.owner.executionId === executionId);

	it.each<[string, ParameterValue, Record<string, unknown>, RegExp]>([
		['an expression as a value', { name: 'x-tenant-secret', value: `={{ "${SECRET_A}" }}` }, {}, /^Parameter "Credential Data", item 0: Credential data field "value" starts with "=", which n8n would evaluate as an expression/],
		[
			'an expression nested in an object, every field allowed',
			{ name: 'x-tenant-secret', value: SECRET_A, extra: { deep: [{ v: `=${SECRET_A}` }] } },
			{ allowedFields: 'name,value,extra' },
			/^Parameter "Credential Data", item 0: Credential data field "extra.deep\[0\].v" starts with "="/,
		],
		[
			'a connection field with Allowed Fields empty',
			{ name: 'x-tenant-secret', value: SECRET_A, allowedHttpRequestDomains: 'domains', allowedDomains: '127.0.0.1' },
			{},
			/^Parameter "Credential Data", item 0: Credential data sets "allowedHttpRequestDomains", "allowedDomains", which say where n8n connects or sends the credential/,
		],
		['a needed field set empty', { name: 'x-tenant-secret', value: ' ' }, {}, /^Parameter "Credential Data", item 0: Credential data sets "value" to an empty value, which a "httpHeaderAuth" credential needs/],
	])('refuses %s: no tenant credential, no lock, no sub-execution, no value in the error', async (_name, credentialData, options, message) => {
		const [executionId, tenant] = [unique('exec'), newTenant()];
		const runs = subExecutions.length;
		const error = await runRwt({ executionId, tenant, credentialData, options }).catch((e) => e);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error.message).toMatch(message);
		expect(error.description).toMatch(/Nothing was created\./);
		expect(`${error.message} ${error.description}`).not.toContain(SECRET_A);
		expect(await tenantCredentialsOf(tenant)).toEqual([]);
		expect(await locksOf(executionId)).toEqual([]);
		expect(subExecutions.length).toBe(runs);
	});

	it('continueOnFail: the refused item becomes an error item, the other runs with its own credential', async () => {
		const [executionId, tenant] = [unique('exec'), newTenant()];
		const runs = subExecutions.length;
		const output = await runRwt({
			executionId,
			tenant,
			continueOnFail: true,
			items: itemsOf({ n: 0 }, { n: 1 }),
			credentialData: (i: number) => ({ name: 'x-tenant-secret', value: i === 0 ? `=${SECRET_A}` : SECRET_B }),
		});
		expect(output).toHaveLength(2);
		expect(output[0].json.error).toMatch(/^Parameter "Credential Data", item 0: Credential data field "value" starts with "="/);
		expect(JSON.stringify(output[0].json)).not.toContain(SECRET_A);
		expect(output[1].json).toEqual({ called: true });
		expect(subExecutions.length).toBe(runs + 1);
		expect(subExecutions[runs].map((item) => item.json)).toEqual([{ body: { n: 1 } }]);
		// Only the good item's tenant got a credential.
		expect((await tenantCredentialsOf(tenant)).map((credential) => credential.name.includes(`${tenant}-1 `))).toEqual([true]);
	});

	it('continueOnFail: data nested deeper than the call stack fails its own item, not the node', async () => {
		let deep: unknown = 'x';
		for (let level = 0; level < 50_000; level++) deep = { inner: [deep] };
		const [executionId, tenant] = [unique('exec'), newTenant()];
		const output = await runRwt({
			executionId,
			tenant,
			continueOnFail: true,
			items: itemsOf({ n: 0 }, { n: 1 }),
			credentialData: (i: number) => (i === 0 ? { name: 'x-tenant-secret', value: SECRET_A, extra: deep } : { name: 'x-tenant-secret', value: SECRET_B }),
			options: { allowedFields: 'name,value,extra' },
		});
		expect(output).toHaveLength(2);
		expect(output[0].json.error).toMatch(/^Parameter "Credential Data", item 0: Credential data does not fit type "httpHeaderAuth": unknown field "extra"/);
		expect(output[1].json).toEqual({ called: true });
	});
});
