/**
 * What Run With Tenant Credential does to a sub-workflow before it runs it: which credential type it
 * rebinds, that only that type changes, the caller policy, and the content address of a credential.
 */
import type { IDataObject } from 'n8n-workflow';

import { SwapItemError } from '../../nodes/shared/swap/errors';
import { isTenantCredentialName, tenantCredentialName } from '../../nodes/shared/tenantCredentials/credentialName';
import { outputSecrets } from '../../nodes/shared/tenantCredentials/tenantData';
import {
	checkCallerPolicy,
	credentialTypeToRebind,
	reboundWorkflow,
	type LoadedSubWorkflow,
} from '../../nodes/shared/tenantCredentials/subWorkflow';
import type { WorkflowNode } from '../../nodes/shared/transport/n8nApiClient';

const trigger: WorkflowNode = { name: 'Start', type: 'n8n-nodes-base.executeWorkflowTrigger', parameters: { inputSource: 'passthrough' } };
const http = (name: string, type: string, id = 'placeholder'): WorkflowNode => ({
	name,
	type: 'n8n-nodes-base.httpRequest',
	parameters: { authentication: 'genericCredentialType', genericAuthType: type },
	credentials: { [type]: { id, name: 'Placeholder' } },
});

function subWorkflow(nodes: WorkflowNode[], settings: IDataObject = {}, projectId = 'p1'): LoadedSubWorkflow {
	return { id: 'sub1', name: 'Tenant calls', nodes: [trigger, ...nodes], connections: {}, settings, projectId, version: 'draft' };
}

const failure = (run: () => unknown): SwapItemError => {
	try {
		run();
	} catch (error) {
		return error as SwapItemError;
	}
	throw new Error('did not fail');
};

describe('credential type to rebind', () => {
	it('is the one type the nodes use when none is asked for', () => {
		expect(credentialTypeToRebind(subWorkflow([http('A', 'httpHeaderAuth'), http('B', 'httpHeaderAuth')]), undefined, [0])).toBe('httpHeaderAuth');
	});

	it('must be named when the nodes use several types', () => {
		const error = failure(() => credentialTypeToRebind(subWorkflow([http('A', 'httpHeaderAuth'), http('B', 'oAuth2Api')]), undefined, [3]));
		expect(error).toBeInstanceOf(SwapItemError);
		expect(error.message).toContain('2 credential types (httpHeaderAuth, oAuth2Api)');
		expect(error.options.parameter).toBe('options.credentialType');
		expect(error.itemIndexes).toEqual([3]);
		expect(credentialTypeToRebind(subWorkflow([http('A', 'httpHeaderAuth'), http('B', 'oAuth2Api')]), 'oAuth2Api', [0])).toBe('oAuth2Api');
	});

	it('fails when no node uses a credential (of the asked type)', () => {
		expect(failure(() => credentialTypeToRebind(subWorkflow([]), undefined, [0])).message).toContain('uses a credential');
		const error = failure(() => credentialTypeToRebind(subWorkflow([http('A', 'httpHeaderAuth')]), 'httpBasicAuth', [0]));
		expect(error.message).toContain('"httpBasicAuth"');
		expect(error.options.description).toContain('httpHeaderAuth');
	});
});

describe('rebinding', () => {
	it("points every node credential of the type at the tenant's and leaves the others", () => {
		const workflow = subWorkflow([
			http('A', 'httpHeaderAuth'),
			http('B', 'httpHeaderAuth'),
			{ ...http('C', 'postgres', 'db1'), type: 'n8n-nodes-base.postgres' },
		]);
		const rebound = reboundWorkflow(workflow, 'httpHeaderAuth', { id: 'tenant7', name: 'tenant-cred t7 abc' });
		const credentialsOf = (name: string) => rebound.nodes.find((node) => node.name === name)?.credentials;
		expect(credentialsOf('A')).toEqual({ httpHeaderAuth: { id: 'tenant7', name: 'tenant-cred t7 abc' } });
		expect(credentialsOf('B')).toEqual({ httpHeaderAuth: { id: 'tenant7', name: 'tenant-cred t7 abc' } });
		expect(credentialsOf('C')).toEqual({ postgres: { id: 'db1', name: 'Placeholder' } });
		// The loaded (cached) sub-workflow is not changed: the next tenant starts from the placeholder.
		expect(workflow.nodes[1].credentials).toEqual({ httpHeaderAuth: { id: 'placeholder', name: 'Placeholder' } });
		// No ID: n8n runs it inline under the calling workflow's ID.
		expect((rebound as { id?: string }).id).toBeUndefined();
	});

	it("keeps the sub-workflow's settings, or turns saving of successful runs off", () => {
		const workflow = subWorkflow([http('A', 'httpHeaderAuth')], { saveDataErrorExecution: 'all', callerPolicy: 'any' });
		const credential = { id: 't', name: 'n' };
		expect(reboundWorkflow(workflow, 'httpHeaderAuth', credential, { saveSuccessfulExecution: true }).settings).toEqual(workflow.settings);
		expect(reboundWorkflow(workflow, 'httpHeaderAuth', credential, { saveSuccessfulExecution: false }).settings).toEqual({
			saveDataErrorExecution: 'all',
			callerPolicy: 'any',
			saveDataSuccessExecution: 'none',
		});
	});
});

describe('caller policy', () => {
	const caller = { workflowId: 'parent', projectId: 'p1' };
	it('lets workflows of the same project call by default', () => {
		expect(() => checkCallerPolicy(subWorkflow([]), caller, [0])).not.toThrow();
		expect(failure(() => checkCallerPolicy(subWorkflow([]), { workflowId: 'parent', projectId: 'p2' }, [0])).options.parameter).toBe('subWorkflow');
	});
	it('follows "any", "none" and the list', () => {
		expect(() => checkCallerPolicy(subWorkflow([], { callerPolicy: 'any' }), { workflowId: 'x', projectId: 'p9' }, [0])).not.toThrow();
		expect(failure(() => checkCallerPolicy(subWorkflow([], { callerPolicy: 'none' }), caller, [0])).message).toContain('"none"');
		const listed = subWorkflow([], { callerPolicy: 'workflowsFromAList', callerIds: 'a, parent' }, 'p5');
		expect(() => checkCallerPolicy(listed, caller, [0])).not.toThrow();
		expect(() => checkCallerPolicy(listed, { workflowId: 'other', projectId: 'p1' }, [0])).toThrow(SwapItemError);
	});
});

describe('content address', () => {
	const identity = { tenantId: 'acme', type: 'httpHeaderAuth', data: { name: 'x-key', value: 's3cret-value' }, projectId: 'p1' };
	it('is the same for the same data (any key order) and differs for other data, tenant, type, project or key', () => {
		const name = tenantCredentialName('k', identity);
		expect(tenantCredentialName('k', { ...identity, data: { value: 's3cret-value', name: 'x-key' } })).toBe(name);
		for (const other of [
			{ ...identity, data: { name: 'x-key', value: 's3cret-valuf' } },
			{ ...identity, tenantId: 'acme2' },
			{ ...identity, type: 'httpBasicAuth' },
			{ ...identity, projectId: 'p2' },
		]) {
			expect(tenantCredentialName('k', other)).not.toBe(name);
		}
		expect(tenantCredentialName('k2', identity)).not.toBe(name);
	});
	it('shows the tenant, never the data, and fits n8n', () => {
		const name = tenantCredentialName('k', identity);
		expect(isTenantCredentialName(name)).toBe(true);
		expect(name.startsWith('tenant-cred acme ')).toBe(true);
		expect(name).not.toContain('s3cret');
		const long = tenantCredentialName('k', { ...identity, tenantId: 'x'.repeat(300) });
		expect(long.length).toBeLessThanOrEqual(128);
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
