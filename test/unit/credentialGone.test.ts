/**
 * One rule for "this credential is not there" (issue 18, points 3 and 4): any 404 to a request on
 * /credentials/:id, whatever n8n's words (they differ by role: BRIEF "n8n's credential answers"). The
 * old rule read the text ("credential not found") and missed n8n 2.40.7's real answers for owners
 * ("Not Found") and members (`Credential with ID "x" not found.`).
 */
import { MemoryLockEngine, LockClient } from '../../nodes/shared/lock';
import { runSwaps, type SwapRequest } from '../../nodes/shared/swap/swap';
import { scopeReport } from '../../nodes/shared/transport/apiScopes';
import { N8nApiClient } from '../../nodes/shared/transport/n8nApiClient';
import { isCredentialGone, N8nApiError } from '../../nodes/shared/transport/n8nApiErrors';
import { credentialNotFoundBody, FakeCredentialsApi, FakeN8n, type KeyRole } from '../helpers/fakeN8n';

const ROLES: KeyRole[] = ['owner', 'member', 'legacy'];

describe.each(ROLES)("n8n's 404 as a %s key sees it", (role) => {
	it('DELETE of a missing credential is done ("gone"), not an error', async () => {
		const fake = new FakeCredentialsApi(role);
		fake.add('here');
		const api = fake.client();
		await expect(api.deleteCredential('here', 'delete tenant credential')).resolves.toBe('deleted');
		await expect(api.deleteCredential('here', 'delete tenant credential')).resolves.toBe('gone');
		await expect(api.deleteCredential('never', 'delete tenant credential')).resolves.toBe('gone');
	});

	it("the swap's critical section says the base credential no longer exists (PATCH answered 404)", async () => {
		const fake = new FakeN8n(['cred-1']);
		fake.notFoundRole = role;
		fake.script.push('notFound');
		const request: SwapRequest = {
			itemIndex: 0,
			baseCredential: { mode: 'id', value: 'cred-1' },
			tenantId: 'tenant-a',
			data: { name: 'x-tenant', value: 'SECRET-gone-test' },
			options: { lockScope: 'baseCredential', lockTtlMs: 5_000, waitTimeoutMs: 0, validateWithTemporaryCredential: false, testCredential: false, partialUpdate: false, skipUnchanged: false, allowedFields: [] },
		};
		const locks = new LockClient(new MemoryLockEngine());
		const results = await runSwaps({ api: fake.client('exec'), locks, state: new MemoryLockEngine(), owner: { executionId: 'exec' }, stopOnFirstError: true, instanceId: `fake-${role}` }, [request]);
		expect(results.errors[0].message).toMatch(/Base credential .* no longer exists/);
		expect(results.errors[0].message).not.toContain('SECRET-gone-test');
	});

	it('a read by ID of a missing credential is "gone", with a hint that says so (not "this n8n version lacks the endpoint")', async () => {
		const fake = new FakeCredentialsApi(role);
		const failure = await fake.client().getCredential('nope').catch((error: unknown) => error);
		expect(isCredentialGone(failure)).toBe(true);
		expect((failure as N8nApiError).hint).toMatch(/no longer exists, or the API key's user cannot see it/);
		expect((failure as N8nApiError).hint).not.toMatch(/version/);
	});

	it("the API credential's scope check counts a 404 on the made-up credential as the scope being there", () => {
		const { message } = credentialNotFoundBody(role, 'tenantSwapScopeProbe0');
		const report = scopeReport([
			{ scope: 'credential:read', status: 404, message },
			{ scope: 'credential:update', status: 404, message },
			{ scope: 'credential:delete', status: 404, message },
		]);
		expect(report).toEqual({ missing: [], unavailable: [], unclear: [] });
	});
});

describe('what the rule does not cover', () => {
	const answering = (statusCode: number, message: string) =>
		new N8nApiClient({ instanceId: 'fixed', send: async () => ({ statusCode, body: { message } }) }, { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 });

	it('a 403 on DELETE is an error (the key may not delete it: it exists)', async () => {
		await expect(answering(403, 'Forbidden').deleteCredential('x', 'delete tenant credential')).rejects.toMatchObject({ status: 403 });
	});

	it('a 404 on another path (a schema, a workflow) is not a missing credential', async () => {
		const schema = await answering(404, 'Not Found').getSchema(`nope-${Date.now()}`).catch((error: unknown) => error);
		expect(isCredentialGone(schema)).toBe(false);
		const workflow = await answering(404, 'Not Found').getWorkflow('nope').catch((error: unknown) => error);
		expect(isCredentialGone(workflow)).toBe(false);
	});

	it('405 on a read by ID (n8n before 2.20) is not "gone"', async () => {
		const fake = new FakeCredentialsApi('owner');
		fake.readById = false;
		const failure = await fake.client().getCredential('x').catch((error: unknown) => error);
		expect(isCredentialGone(failure)).toBe(false);
		expect((failure as N8nApiError).status).toBe(405);
	});
});
