/**
 * Which credential of a sub-workflow Run With Tenant Credential replaces with the tenant's (the
 * placeholder), by identity: picked, or inferred only when unambiguous; entries n8n keeps after a node's
 * authentication changed (stale) never decide; a tenant credential is never a placeholder (by name, and
 * by the registry, looked up once per sub-workflow version). The real n8n: test/e2e/placeholderBinding.test.ts.
 */
import { activeCredentialTypes, credentialEntries } from '../../nodes/shared/tenantCredentials/activeCredentials';
import { placeholderToBind, type BindingContext } from '../../nodes/shared/tenantCredentials/binding';
import { MemoryTenantCredentialRegistry } from '../../nodes/shared/tenantCredentials/memoryRegistry';
import { placeholderCandidates, rebindPlaceholder, resolvePlaceholder } from '../../nodes/shared/tenantCredentials/placeholder';
import type { LoadedSubWorkflow } from '../../nodes/shared/tenantCredentials/subWorkflow';
import { SwapItemError } from '../../nodes/shared/swap/errors';
import type { N8nApiClient, WorkflowNode } from '../../nodes/shared/transport/n8nApiClient';

const trigger: WorkflowNode = { name: 'Start', type: 'n8n-nodes-base.executeWorkflowTrigger', parameters: { inputSource: 'passthrough' } };

/** An HTTP Request (v4.2) using `type` generically with credential `id`, plus `extra` entries kept from earlier settings. */
function http(name: string, type: string, id: string, credentialName = `cred ${id}`, extra: WorkflowNode['credentials'] = {}): WorkflowNode {
	return {
		name,
		type: 'n8n-nodes-base.httpRequest',
		typeVersion: 4.2,
		parameters: { url: 'https://x.invalid', authentication: 'genericCredentialType', genericAuthType: type },
		credentials: { ...extra, [type]: { id, name: credentialName } },
	};
}

/** An HTTP Request whose authentication is now "none" but which still holds an entry (n8n keeps it). */
function staleHttp(name: string, type: string, id: string, credentialName = `cred ${id}`): WorkflowNode {
	return { name, type: 'n8n-nodes-base.httpRequest', typeVersion: 4.2, parameters: { url: 'https://x.invalid' }, credentials: { [type]: { id, name: credentialName } } };
}

function subWorkflow(nodes: WorkflowNode[]): LoadedSubWorkflow {
	return { id: 'sub1', name: 'Tenant calls', label: '"Tenant calls"', inCallerProject: true, nodes: [trigger, ...nodes], connections: {}, settings: {}, projectId: 'p1', version: 'published' };
}

const failure = (run: () => unknown): SwapItemError => {
	try {
		run();
	} catch (error) {
		if (error instanceof SwapItemError) return error;
		throw error;
	}
	throw new Error('did not fail');
};

/** The old binding (before the Placeholder Credential): every entry of the type, whatever its ID. Control only. */
function reboundByType(nodes: WorkflowNode[], type: string, credential: { id: string; name: string }): WorkflowNode[] {
	return nodes.map((node) => (node.credentials?.[type] ? { ...node, credentials: { ...node.credentials, [type]: credential } } : node));
}

async function refusal(promise: Promise<unknown>): Promise<SwapItemError> {
	try {
		await promise;
	} catch (error) {
		if (error instanceof SwapItemError) return error;
		throw error;
	}
	throw new Error('did not fail');
}

const tenant = { id: 'tenant-7', name: 'tenant-cred abcdefgh t7 xyz' };
const credentialIdOf = (nodes: WorkflowNode[], node: string, type: string) => nodes.find((candidate) => candidate.name === node)?.credentials?.[type]?.id;

describe("n8n's active credential types of a node", () => {
	it('HTTP Request v2+: the generic or predefined type its authentication names, plus the SSL certificates credential when on', () => {
		expect(activeCredentialTypes(http('A', 'httpHeaderAuth', 'p'))).toEqual(new Set(['httpHeaderAuth']));
		const predefined: WorkflowNode = { ...http('A', 'x', 'p'), parameters: { authentication: 'predefinedCredentialType', nodeCredentialType: 'githubApi', provideSslCertificates: true } };
		expect(activeCredentialTypes(predefined)).toEqual(new Set(['githubApi', 'httpSslAuth']));
		expect(activeCredentialTypes(staleHttp('A', 'httpHeaderAuth', 'p'))).toEqual(new Set());
		expect(activeCredentialTypes({ ...staleHttp('A', 'httpHeaderAuth', 'p'), type: 'n8n-nodes-base.httpRequestTool' })).toEqual(new Set());
	});

	it('HTTP Request v1: its own authentication names', () => {
		const v1: WorkflowNode = { name: 'A', type: 'n8n-nodes-base.httpRequest', typeVersion: 1, parameters: { authentication: 'headerAuth' } };
		expect(activeCredentialTypes(v1)).toEqual(new Set(['httpHeaderAuth']));
		expect(activeCredentialTypes({ ...v1, parameters: {} })).toEqual(new Set());
	});

	it('cannot tell (every entry counts as used): other node types, and an expression in a deciding parameter', () => {
		expect(activeCredentialTypes({ name: 'S', type: 'n8n-nodes-base.slack', parameters: { authentication: 'accessToken' } })).toBeUndefined();
		expect(activeCredentialTypes({ ...http('A', 'httpHeaderAuth', 'p'), parameters: { authentication: 'genericCredentialType', genericAuthType: '={{ "httpHeaderAuth" }}' } })).toBeUndefined();
		const entries = credentialEntries([{ name: 'S', type: 'n8n-nodes-base.slack', credentials: { slackApi: { id: 's1', name: 'Slack' }, slackOAuth2Api: { id: 's2', name: 'Slack OAuth' } } }]);
		expect(entries.map((entry) => entry.active)).toEqual([true, true]);
	});
});

describe('picked placeholder', () => {
	const nodes = [http('Tenant API', 'httpHeaderAuth', 'ph'), http('Logging', 'httpHeaderAuth', 'log')];

	it("only its entries get the tenant's credential; a fixed credential of the same type keeps its own (control: by type, the logging node got the tenant's)", () => {
		const placeholder = resolvePlaceholder(subWorkflow(nodes), { placeholderId: 'ph' }, [0]);
		expect(placeholder).toEqual({ id: 'ph', type: 'httpHeaderAuth', name: 'cred ph', inferred: false });
		const rebound = rebindPlaceholder(nodes, placeholder.id, tenant);
		expect(credentialIdOf(rebound, 'Tenant API', 'httpHeaderAuth')).toBe('tenant-7');
		expect(credentialIdOf(rebound, 'Logging', 'httpHeaderAuth')).toBe('log');
		expect(rebound[1]).toBe(nodes[1]);
		// Control: the old binding by type.
		expect(credentialIdOf(reboundByType(nodes, 'httpHeaderAuth', tenant), 'Logging', 'httpHeaderAuth')).toBe('tenant-7');
	});

	it('refuses an ID no node of the version that runs uses', () => {
		const error = failure(() => resolvePlaceholder(subWorkflow(nodes), { placeholderId: 'gone' }, [4]));
		expect(error.message).toBe('No node of sub-workflow "Tenant calls" (its published version) uses the placeholder credential with ID "gone"');
		expect(error.options.parameter).toBe('placeholderCredential');
		expect(error.options.description).toContain('publish the sub-workflow');
		expect(error.itemIndexes).toEqual([4]);
	});

	it('refuses an ID under two types (hand-edited workflow), naming the nodes', () => {
		const edited = [http('A', 'httpHeaderAuth', 'ph'), http('B', 'httpQueryAuth', 'ph')];
		const error = failure(() => resolvePlaceholder(subWorkflow(edited), { placeholderId: 'ph' }, [0]));
		expect(error.message).toContain('selected under 2 credential types');
		expect(error.message).toContain('(httpHeaderAuth, httpQueryAuth)');
		expect(error.options.description).toContain('"A", "B"');
	});

	it('refuses a placeholder only kept from an earlier authentication setting (n8n would not use it, nor the tenant\'s)', () => {
		const stale = [http('Tenant API', 'httpHeaderAuth', 'other'), staleHttp('Old', 'httpQueryAuth', 'ph')];
		const error = failure(() => resolvePlaceholder(subWorkflow(stale), { placeholderId: 'ph' }, [0]));
		expect(error.message).toContain('is not used by any node');
		expect(error.message).toContain('"Old"');
	});

	it('refuses a Credential Type option other than its type', () => {
		const error = failure(() => resolvePlaceholder(subWorkflow(nodes), { placeholderId: 'ph', credentialType: 'oAuth2Api' }, [0]));
		expect(error.options.parameter).toBe('options.credentialType');
		expect(error.options.description).toContain('httpHeaderAuth');
		expect(resolvePlaceholder(subWorkflow(nodes), { placeholderId: 'ph', credentialType: 'httpHeaderAuth' }, [0]).id).toBe('ph');
	});

	it('refuses a tenant credential by its name, saying why and what to do', () => {
		const wired = [http('Tenant API', 'httpHeaderAuth', 'tc1', 'tenant-cred abcdefgh acme Zm9vYmFy'), http('Logging', 'httpHeaderAuth', 'log')];
		const error = failure(() => resolvePlaceholder(subWorkflow(wired), { placeholderId: 'tc1' }, [2]));
		expect(error.message).toContain("is a tenant's credential");
		expect(error.options.parameter).toBe('placeholderCredential');
		expect(error.options.description).toContain('for every tenant');
		expect(error.options.description).toContain('dummy values');
	});
});

describe('inferred placeholder (Placeholder Credential empty: workflows made before it)', () => {
	it('is the one credential the nodes use, however many nodes use it', () => {
		const placeholder = resolvePlaceholder(subWorkflow([http('A', 'httpHeaderAuth', 'ph'), http('B', 'httpHeaderAuth', 'ph')]), {}, [0]);
		expect(placeholder).toEqual({ id: 'ph', type: 'httpHeaderAuth', name: 'cred ph', inferred: true });
	});

	it('refuses two credentials, naming them (name and type) and saying to pick the Placeholder Credential', () => {
		const nodes = [http('Tenant API', 'httpHeaderAuth', 'ph', 'Tenant API (placeholder)'), http('Logging', 'httpHeaderAuth', 'log', 'Logging host')];
		const error = failure(() => resolvePlaceholder(subWorkflow(nodes), {}, [1]));
		expect(error.message).toBe('The nodes of sub-workflow "Tenant calls" use 2 credentials: "Tenant API (placeholder)" (httpHeaderAuth), "Logging host" (httpHeaderAuth)');
		expect(error.options.parameter).toBe('placeholderCredential');
		expect(error.options.description).toContain('Pick the Placeholder Credential');
		// Credential Type narrows, but not between two credentials of one type.
		expect(failure(() => resolvePlaceholder(subWorkflow(nodes), { credentialType: 'httpHeaderAuth' }, [1])).message).toContain('use 2 credentials of type "httpHeaderAuth"');
	});

	it('Credential Type narrows to one credential of that type', () => {
		const nodes = [http('Tenant API', 'httpQueryAuth', 'ph'), http('Logging', 'httpHeaderAuth', 'log')];
		expect(resolvePlaceholder(subWorkflow(nodes), { credentialType: 'httpQueryAuth' }, [0]).id).toBe('ph');
		expect(failure(() => resolvePlaceholder(subWorkflow(nodes), { credentialType: 'oAuth2Api' }, [0])).message).toContain('uses a credential of type "oAuth2Api"');
	});

	it('a stale entry neither makes it ambiguous nor is chosen (control: a node whose active types cannot be told counts it)', () => {
		// The logging node's authentication is now "none"; n8n kept its old Header Auth entry.
		const nodes = [http('Tenant API', 'httpHeaderAuth', 'ph'), staleHttp('Logging', 'httpHeaderAuth', 'log')];
		expect(resolvePlaceholder(subWorkflow(nodes), {}, [0]).id).toBe('ph');
		const unknownNode = { ...nodes[1], type: 'community.unknownHttp' };
		expect(failure(() => resolvePlaceholder(subWorkflow([nodes[0], unknownNode]), {}, [0])).message).toContain('use 2 credentials');
	});

	it("a stale entry of the asked type is never inferred: the tenant's credential would go unused while a fixed one is sent (control: counting it picks it)", () => {
		// The node sends the fixed Header Auth; its Query Auth entry is a leftover.
		const nodes = [http('Logging', 'httpHeaderAuth', 'log', 'Logging host', { httpQueryAuth: { id: 'old', name: 'Old placeholder' } })];
		expect(failure(() => resolvePlaceholder(subWorkflow(nodes), { credentialType: 'httpQueryAuth' }, [0])).message).toContain('uses a credential of type "httpQueryAuth"');
		const counted = credentialEntries(subWorkflow(nodes).nodes).filter((entry) => entry.type === 'httpQueryAuth');
		expect(counted.map((entry) => entry.id)).toEqual(['old']);
	});

	it('refuses none, a credential without ID, and a tenant credential', () => {
		expect(failure(() => resolvePlaceholder(subWorkflow([]), {}, [0])).message).toContain('uses a credential');
		const noId: WorkflowNode = { ...http('A', 'httpHeaderAuth', 'x'), credentials: { httpHeaderAuth: { id: null, name: 'Old' } } };
		expect(failure(() => resolvePlaceholder(subWorkflow([noId]), {}, [0])).message).toContain('has no ID');
		const tenantWired = [http('A', 'httpHeaderAuth', 'tc1', 'tenant-cred abcdefgh acme Zm9vYmFy')];
		expect(failure(() => resolvePlaceholder(subWorkflow(tenantWired), {}, [0])).message).toContain("is a tenant's credential");
	});
});

describe('what From List offers', () => {
	it('the credentials the nodes use, with their nodes; never a tenant credential nor a stale-only entry', () => {
		const nodes = [
			trigger,
			http('Tenant API', 'httpHeaderAuth', 'ph', 'Tenant API (placeholder)'),
			http('Tenant API 2', 'httpHeaderAuth', 'ph', 'Tenant API (placeholder)'),
			http('Logging', 'httpHeaderAuth', 'log', 'Logging host'),
			http('Oops', 'httpQueryAuth', 'tc1', 'tenant-cred abcdefgh acme Zm9vYmFy'),
			staleHttp('Old', 'httpBasicAuth', 'old'),
		];
		expect(placeholderCandidates(nodes)).toEqual([
			{ id: 'ph', name: 'Tenant API (placeholder)', type: 'httpHeaderAuth', nodes: ['Tenant API', 'Tenant API 2'] },
			{ id: 'log', name: 'Logging host', type: 'httpHeaderAuth', nodes: ['Logging'] },
		]);
	});
});

describe('checked once per sub-workflow version per process', () => {
	const context = (registry: MemoryTenantCredentialRegistry): BindingContext => ({
		registry,
		scope: 'http://127.0.0.1:5678/api/v1',
		api: {} as N8nApiClient,
		readerScope: 'reader',
		draft: false,
	});

	it('looks the placeholder up in the registry once for 100 items, again for a new version', async () => {
		const registry = new MemoryTenantCredentialRegistry();
		const known = jest.spyOn(registry, 'knownTenantCredentialIds');
		const workflow = subWorkflow([http('Tenant API', 'httpHeaderAuth', 'ph'), http('Logging', 'httpHeaderAuth', 'log')]);
		const placeholders = await Promise.all(Array.from({ length: 100 }, (_, item) => placeholderToBind(context(registry), workflow, { placeholderId: 'ph' }, [item])));
		expect(new Set(placeholders.map((placeholder) => placeholder.id))).toEqual(new Set(['ph']));
		expect(known).toHaveBeenCalledTimes(1);
		// A refusal is remembered too, and names each item.
		const refused = await Promise.all([3, 4].map((item) => refusal(placeholderToBind(context(registry), workflow, {}, [item]))));
		expect(refused.map((error) => error.itemIndexes)).toEqual([[3], [4]]);
		expect(refused[0].message).toContain('use 2 credentials');
		// A new read (new version) is a new nodes array.
		await placeholderToBind(context(registry), { ...workflow, nodes: [...workflow.nodes] }, { placeholderId: 'ph' }, [0]);
		expect(known).toHaveBeenCalledTimes(2);
	});

	it('refuses a tenant credential renamed by hand: the registry knows its ID (control: unregistered, the same credential passes)', async () => {
		const registry = new MemoryTenantCredentialRegistry();
		const workflow = subWorkflow([http('Tenant API', 'httpHeaderAuth', 'renamed', 'My API key')]);
		expect((await placeholderToBind(context(registry), workflow, { placeholderId: 'renamed' }, [0])).id).toBe('renamed');
		await registry.registerTenantCredential(
			{ scope: 'http://127.0.0.1:5678/api/v1', name: 'tenant-cred abcdefgh acme Zm9v', credentialId: 'renamed', credentialType: 'httpHeaderAuth', tenantId: 'acme', retentionMs: 60_000 },
			1_000,
		);
		const fresh = { ...workflow, nodes: [...workflow.nodes] };
		const error = await refusal(placeholderToBind(context(registry), fresh, { placeholderId: 'renamed' }, [5]));
		expect(error).toBeInstanceOf(SwapItemError);
		expect(error.message).toContain("is a tenant's credential");
		expect(error.itemIndexes).toEqual([5]);
	});

	it('does not remember a store failure', async () => {
		const registry = new MemoryTenantCredentialRegistry();
		const known = jest.spyOn(registry, 'knownTenantCredentialIds').mockRejectedValueOnce(new Error('lock store unreachable'));
		const workflow = subWorkflow([http('Tenant API', 'httpHeaderAuth', 'ph')]);
		await expect(placeholderToBind(context(registry), workflow, { placeholderId: 'ph' }, [0])).rejects.toThrow('lock store unreachable');
		expect((await placeholderToBind(context(registry), workflow, { placeholderId: 'ph' }, [0])).id).toBe('ph');
		expect(known).toHaveBeenCalledTimes(2);
	});
});
