/**
 * What Run With Tenant Credential does to a sub-workflow before it runs it: that only the placeholder's
 * entries change (which credential is the placeholder: placeholder.test.ts), which version runs, and the content address of a credential.
 * The caller policy: callerPolicy.test.ts.
 */
import type { IDataObject } from 'n8n-workflow';

import { SwapItemError } from '../../nodes/shared/swap/errors';
import { isRegistryCredentialName, isTenantCredentialName, registryTag, shownTenantId, tenantCredentialName } from '../../nodes/shared/tenantCredentials/credentialName';
import { outputSecrets } from '../../nodes/shared/tenantCredentials/tenantData';
import { resolvePlaceholder } from '../../nodes/shared/tenantCredentials/placeholder';
import {
	homeProjectOf,
	reboundWorkflow,
	runsDrafts,
	subWorkflowToRun,
	type LoadedSubWorkflow,
} from '../../nodes/shared/tenantCredentials/subWorkflow';
import type { WorkflowNode, WorkflowSummary } from '../../nodes/shared/transport/n8nApiClient';

const trigger: WorkflowNode = { name: 'Start', type: 'n8n-nodes-base.executeWorkflowTrigger', parameters: { inputSource: 'passthrough' } };
const http = (name: string, type: string, id = 'placeholder'): WorkflowNode => ({
	name,
	type: 'n8n-nodes-base.httpRequest',
	parameters: { authentication: 'genericCredentialType', genericAuthType: type },
	credentials: { [type]: { id, name: 'Placeholder' } },
});

function subWorkflow(nodes: WorkflowNode[], settings: IDataObject = {}, projectId = 'p1'): LoadedSubWorkflow {
	return { id: 'sub1', name: 'Tenant calls', label: '"Tenant calls"', inCallerProject: true, nodes: [trigger, ...nodes], connections: {}, settings, projectId, version: 'draft' };
}

const failure = (run: () => unknown): SwapItemError => {
	try {
		run();
	} catch (error) {
		return error as SwapItemError;
	}
	throw new Error('did not fail');
};

describe('rebinding', () => {
	it("points every entry of the placeholder's ID at the tenant's credential and leaves every other credential, of its type too", () => {
		const workflow = subWorkflow([
			http('A', 'httpHeaderAuth'),
			http('B', 'httpHeaderAuth'),
			http('Logging', 'httpHeaderAuth', 'logging-fixed'),
			{ ...http('C', 'postgres', 'db1'), type: 'n8n-nodes-base.postgres' },
		]);
		const rebound = reboundWorkflow(workflow, 'placeholder', { id: 'tenant7', name: 'tenant-cred t7 abc' });
		const credentialsOf = (name: string) => rebound.nodes.find((node) => node.name === name)?.credentials;
		expect(credentialsOf('A')).toEqual({ httpHeaderAuth: { id: 'tenant7', name: 'tenant-cred t7 abc' } });
		expect(credentialsOf('B')).toEqual({ httpHeaderAuth: { id: 'tenant7', name: 'tenant-cred t7 abc' } });
		expect(credentialsOf('Logging')).toEqual({ httpHeaderAuth: { id: 'logging-fixed', name: 'Placeholder' } });
		expect(credentialsOf('C')).toEqual({ postgres: { id: 'db1', name: 'Placeholder' } });
		// The loaded (cached) sub-workflow is not changed: the next tenant starts from the placeholder.
		expect(workflow.nodes[1].credentials).toEqual({ httpHeaderAuth: { id: 'placeholder', name: 'Placeholder' } });
		// No ID: n8n runs it inline under the calling workflow's ID.
		expect((rebound as { id?: string }).id).toBeUndefined();
	});

	it("keeps the sub-workflow's settings, or turns saving of successful runs off", () => {
		const workflow = subWorkflow([http('A', 'httpHeaderAuth')], { saveDataErrorExecution: 'all', callerPolicy: 'any' });
		const credential = { id: 't', name: 'n' };
		expect(reboundWorkflow(workflow, 'placeholder', credential, { saveSuccessfulExecution: true }).settings).toEqual(workflow.settings);
		expect(reboundWorkflow(workflow, 'placeholder', credential, { saveSuccessfulExecution: false }).settings).toEqual({
			saveDataErrorExecution: 'all',
			callerPolicy: 'any',
			saveDataSuccessExecution: 'none',
		});
	});
});

describe('which version runs (as n8n\'s Execute Workflow node by ID)', () => {
	const draftNodes = [trigger, http('Draft call', 'httpHeaderAuth')];
	const publishedNodes = [trigger, http('Published call', 'httpHeaderAuth')];
	const read = (extra: Partial<WorkflowSummary> = {}): WorkflowSummary => ({
		id: 'sub1',
		name: 'Tenant calls',
		nodes: draftNodes,
		connections: { draft: {} },
		settings: { callerPolicy: 'any' },
		shared: [{ role: 'workflow:owner', projectId: 'p1' }],
		...extra,
	});
	const published = { activeVersion: { versionId: 'v1', nodes: publishedNodes, connections: { published: {} } } };

	it('manual and chat executions run drafts; every other mode the published version', () => {
		expect(['manual', 'chat'].map(runsDrafts)).toEqual([true, true]);
		expect(['webhook', 'trigger', 'integrated', 'internal', 'retry', 'evaluation'].map(runsDrafts)).toEqual([false, false, false, false, false, false]);
	});

	it('production runs the published version, with the current settings', () => {
		const run = subWorkflowToRun(read(published), { draft: false, callerProjectId: 'p1', itemIndexes: [0] });
		expect(run.version).toBe('published');
		expect(run.nodes.map((node) => node.name)).toEqual(['Start', 'Published call']);
		expect(run.connections).toEqual({ published: {} });
		expect(run.settings).toEqual({ callerPolicy: 'any' });
	});

	it('production refuses a sub-workflow that was never published (n8n: "Workflow is not active and cannot be executed")', () => {
		for (const activeVersion of [undefined, null]) {
			const error = failure(() => subWorkflowToRun(read({ activeVersion }), { draft: false, callerProjectId: 'p1', itemIndexes: [2] }));
			expect(error).toBeInstanceOf(SwapItemError);
			expect(error.message).toContain('is not published');
			expect(error.options.parameter).toBe('subWorkflow');
			expect(error.itemIndexes).toEqual([2]);
		}
	});

	it('manual runs the draft even when a published version exists', () => {
		const run = subWorkflowToRun(read(published), { draft: true, callerProjectId: 'p1', itemIndexes: [0] });
		expect(run.version).toBe('draft');
		expect(run.nodes.map((node) => node.name)).toEqual(['Start', 'Draft call']);
		expect(subWorkflowToRun(read(), { draft: true, callerProjectId: 'p1', itemIndexes: [0] }).version).toBe('draft');
	});

	it('checks the trigger of the version that runs', () => {
		const withoutTrigger = { activeVersion: { nodes: [http('Published call', 'httpHeaderAuth')], connections: {} } };
		expect(failure(() => subWorkflowToRun(read(withoutTrigger), { draft: false, callerProjectId: 'p1', itemIndexes: [0] })).message).toContain(
			'its published version has no (enabled) Execute Workflow Trigger',
		);
		expect(subWorkflowToRun(read(withoutTrigger), { draft: true, callerProjectId: 'p1', itemIndexes: [0] }).version).toBe('draft');
	});

	it("names a workflow of another project only by its ID, in every message", () => {
		const own = subWorkflowToRun(read(published), { draft: false, callerProjectId: 'p1', itemIndexes: [0] });
		expect(own.label).toBe('"Tenant calls"');
		const foreign = subWorkflowToRun(read(published), { draft: false, callerProjectId: 'p2', itemIndexes: [0] });
		expect(foreign.label).toBe('with ID "sub1"');
		expect(foreign.inCallerProject).toBe(false);
		const unpublished = failure(() => subWorkflowToRun(read(), { draft: false, callerProjectId: 'p2', itemIndexes: [0] }));
		expect(`${unpublished.message} ${unpublished.options.description}`).not.toContain('Tenant calls');
		const noType = failure(() => resolvePlaceholder(foreign, { credentialType: 'oAuth2Api' }, [0]));
		expect(`${noType.message} ${noType.options.description}`).not.toContain('Tenant calls');
		const notUsed = failure(() => resolvePlaceholder(foreign, { placeholderId: 'other' }, [0]));
		expect(`${notUsed.message} ${notUsed.options.description}`).not.toContain('Tenant calls');
		expect(reboundWorkflow(foreign, 'placeholder', { id: 't', name: 'n' }).name).toBe('Sub-workflow sub1');
		expect(reboundWorkflow(own, 'placeholder', { id: 't', name: 'n' }).name).toBe('Tenant calls');
	});

	it('takes the home project from the owner entry only, never from a project it is shared with', () => {
		expect(homeProjectOf({ shared: [{ role: 'workflow:editor', projectId: 'p9' }, { role: 'workflow:owner', projectId: 'p1' }] })).toBe('p1');
		expect(homeProjectOf({ shared: [{ role: 'workflow:editor', projectId: 'p9' }] })).toBeUndefined();
		expect(homeProjectOf({})).toBeUndefined();
	});
});

describe('content address', () => {
	const identity = { tenantId: 'acme', type: 'httpHeaderAuth', data: { name: 'x-key', value: 's3cret-value' }, projectId: 'p1' };
	const naming = { tag: registryTag('postgres:{"host":"db"}', 'https://n8n.example/api/v1'), key: 'registry-secret' };
	it('is the same for the same data (any key order) and differs for other data, tenant, type, project or key', () => {
		const name = tenantCredentialName(naming, identity);
		expect(tenantCredentialName(naming, { ...identity, data: { value: 's3cret-value', name: 'x-key' } })).toBe(name);
		for (const other of [
			{ ...identity, data: { name: 'x-key', value: 's3cret-valuf' } },
			{ ...identity, tenantId: 'acme2' },
			{ ...identity, type: 'httpBasicAuth' },
			{ ...identity, projectId: 'p2' },
		]) {
			expect(tenantCredentialName(naming, other)).not.toBe(name);
		}
		expect(tenantCredentialName({ ...naming, key: 'k2' }, identity)).not.toBe(name);
	});
	it('reads `tenant-cred <tag> <tenant> <hmac>`: the tag of the lock store and the n8n Base URL, the tenant, never the data', () => {
		const name = tenantCredentialName(naming, identity);
		expect(name).toMatch(new RegExp(`^tenant-cred ${naming.tag} acme [\\w-]{24}$`));
		expect(naming.tag).toMatch(/^[\w-]{8}$/);
		expect(isTenantCredentialName(name)).toBe(true);
		expect(isRegistryCredentialName(name, naming.tag)).toBe(true);
		expect(name).not.toContain('s3cret');
		expect(registryTag('postgres:{"host":"db"}', 'https://n8n.example/api/v1')).toBe(naming.tag);
		expect(registryTag('postgres:{"host":"db2"}', 'https://n8n.example/api/v1')).not.toBe(naming.tag);
		expect(registryTag('postgres:{"host":"db"}', 'https://other.example/api/v1')).not.toBe(naming.tag);
	});
	it('shows at most 40 characters of the tenant ID, only [A-Za-z0-9._@-] (others "_"), and fits n8n', () => {
		const long = tenantCredentialName(naming, { ...identity, tenantId: 'x'.repeat(200) });
		expect(long.split(' ')[2]).toBe('x'.repeat(40));
		expect(long.length).toBeLessThanOrEqual(128);
		expect(shownTenantId('Acme Inc. <admin@acme.io> \u202e"ok"/../é')).toBe('Acme_Inc.__admin@acme.io____ok__..__');
		expect(tenantCredentialName(naming, { ...identity, tenantId: 'a b\u202ec' }).split(' ')).toHaveLength(4);
	});
	it("tells this registry's names from another tag's and from names made before tags", () => {
		const name = tenantCredentialName(naming, identity);
		expect(isRegistryCredentialName(name, 'AAAAAAAA')).toBe(false);
		// The old format, `tenant-cred <tenant> <hmac>`, even for a tenant whose ID equals the tag.
		expect(isRegistryCredentialName(`tenant-cred ${naming.tag} Q2hhbmdlZEJ5VGVzdHMx`, naming.tag)).toBe(false);
		expect(isRegistryCredentialName(`tenant-cred acme Q2hhbmdlZEJ5VGVzdHMx`, naming.tag)).toBe(false);
	});
});

describe('what the output must not carry', () => {
	it("is the values of the type's password fields for n8n's types, every string for others", () => {
		expect(outputSecrets('httpHeaderAuth', { name: 'x-tenant-secret', value: 's3cret-value' })).toEqual(new Set(['s3cret-value']));
		const oauth = { grantType: 'clientCredentials', accessTokenUrl: 'http://127.0.0.1/token', clientId: 'acme', clientSecret: 'cs-123456789', authentication: 'body' };
		expect(outputSecrets('oAuth2Api', oauth)).toEqual(new Set(['cs-123456789']));
		expect(outputSecrets('someCommunityApi', { user: 'u1', token: 't-1' })).toEqual(new Set(['u1', 't-1']));
	});
});
