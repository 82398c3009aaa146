/**
 * Lock Scope "Tenant" on one shared base credential (issue 17, finding 10): the nodes' execute() on a
 * real PostgreSQL lock, 100 concurrent executions over 20 tenants, each "using" the base credential
 * after the swap (it reads the fake n8n's credential) and then releasing. 0 may see another tenant's
 * data. The control runs the same load under the old key, `tenant:<id>` alone, and must bleed: it shows
 * the load would find a bleed if there were one.
 */
import type { IDataObject } from 'n8n-workflow';

import { TenantCredentialSwap } from '../../nodes/TenantCredentialSwap/TenantCredentialSwap.node';
import { TenantLockRelease } from '../../nodes/TenantLockRelease/TenantLockRelease.node';
import { closeLockEngines, closeSharedPools, lockClientFor, postgresLockEngine } from '../../nodes/shared/lock';
import { executeContext } from '../helpers/executeContext';
import { FakeN8n } from '../helpers/fakeN8n';
import { itemsOf, postgresCredential, unique } from '../helpers/fixtures';
import { sleep } from '../helpers/lockTesting';

jest.setTimeout(120_000);

const CALLS = 100;
const TENANTS = 20;
const lockTable = unique('scope_locks');
const swapNode = new TenantCredentialSwap();
const releaseNode = new TenantLockRelease();
const engine = () => postgresLockEngine(postgresCredential() as never, { table: lockTable });

afterAll(async () => {
	await closeLockEngines();
	await closeSharedPools();
});

const secretOf = (tenant: string) => `secret-of-${tenant}`;
/** The nodes between swap and release: they use the base credential for a few milliseconds. */
async function useBaseCredential(fake: FakeN8n): Promise<string> {
	await sleep(5 + Math.random() * 10);
	return fake.credentials.get('shared')!.value;
}

function credentialsFor() {
	return {
		tenantSwapN8nApi: { baseUrl: 'http://127.0.0.1:9/api/v1', apiKey: 'fake-key', allowUnauthorizedCerts: false },
		postgres: postgresCredential(),
	};
}

/** One webhook execution: swap, use the credential, release. Returns what the "tenant API" saw. */
async function execution(fake: FakeN8n, tenant: string): Promise<string> {
	const executionId = unique('exec');
	const { context } = executeContext({
		items: itemsOf({ tenant }),
		credentials: credentialsFor(),
		executionId,
		send: fake.httpSend(executionId) as never,
		parameters: {
			baseCredential: { __rl: true, mode: 'id', value: 'shared' },
			tenantId: tenant,
			credentialData: { name: 'x-tenant', value: secretOf(tenant) },
			lockBackend: 'postgres',
			options: { lockTable, lockScope: 'tenant', lockTtl: 30, waitTimeout: 90, renewLock: false, skipUnchanged: false },
		},
	});
	const output = (await swapNode.execute.call(context))[0];
	expect((output[0].json.tenantSwap as IDataObject).update).toBe('patched');
	const seen = await useBaseCredential(fake);
	const release = executeContext({
		items: output,
		credentials: credentialsFor(),
		executionId,
		parameters: { lockBackend: 'postgres', releaseMode: 'execution', options: { lockTable } },
	});
	await releaseNode.execute.call(release.context);
	return seen;
}

/** The old Lock Scope "Tenant": the tenant's key alone around the same PATCH and use. */
async function oldTenantKeyExecution(fake: FakeN8n, tenant: string): Promise<string> {
	const executionId = unique('control');
	const locks = lockClientFor(engine());
	const { lock } = await locks.acquire(`tenant:${tenant}`, { owner: { executionId }, ttlMs: 30_000, waitTimeoutMs: 90_000 });
	try {
		await fake.client(executionId).updateCredential('shared', { data: { name: 'x-tenant', value: secretOf(tenant) } });
		return await useBaseCredential(fake);
	} finally {
		await lock.release();
	}
}

async function burst(run: (fake: FakeN8n, tenant: string) => Promise<string>): Promise<number> {
	const fake = new FakeN8n(['shared']);
	const tenants = Array.from({ length: CALLS }, (_, i) => `t${i % TENANTS}`);
	const seen = await Promise.all(tenants.map(async (tenant) => await run(fake, tenant)));
	return seen.filter((value, i) => value !== secretOf(tenants[i])).length;
}

it(`Lock Scope Tenant on one shared base credential: ${CALLS} concurrent executions over ${TENANTS} tenants, 0 bleed`, async () => {
	// Fails with the fix reverted (the tenant's key alone): like the control below.
	expect(await burst(execution)).toBe(0);
	expect(await engine().holder('credential:shared')).toBeUndefined();
});

it('control: the old key, tenant:<id> alone, bleeds under the same load', async () => {
	expect(await burst(oldTenantKeyExecution)).toBeGreaterThan(0);
});
