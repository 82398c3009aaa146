/**
 * From List of Run With Tenant Credential: which project it lists (what n8n resolved for the editor's
 * request), and no list at all when n8n gave none (the key may see every project's workflows).
 * The list itself on a real n8n: test/e2e/callerPolicy.test.ts.
 */
import type { ILoadOptionsFunctions, INode } from 'n8n-workflow';

import { listProjectOf, searchPlaceholderCredentials, searchSubWorkflows } from '../../nodes/RunWithTenantCredential/methods/listSearch';

const node: INode = { id: 'n', name: 'Run With Tenant Credential', type: 'x.runWithTenantCredential', typeVersion: 1, position: [0, 0], parameters: {} };
const contextWith = (additionalData: unknown) => {
	const getCredentials = jest.fn(async () => ({ baseUrl: 'http://127.0.0.1:1/api/v1', apiKey: 'k' }));
	const context = { additionalData, getNode: () => node, getCredentials } as unknown as ILoadOptionsFunctions;
	return { context, getCredentials };
};

it("takes n8n's resolved project: projectId (n8n 2.40), else dataTableProjectId (n8n 2.8)", () => {
	expect(listProjectOf(contextWith({ projectId: 'p1', dataTableProjectId: 'p2' }).context)).toBe('p1');
	expect(listProjectOf(contextWith({ dataTableProjectId: 'p2' }).context)).toBe('p2');
	for (const data of [undefined, {}, { projectId: '' }, { projectId: 7 }]) expect(listProjectOf(contextWith(data).context)).toBeUndefined();
});

it('lists nothing, and says why, without a project (before reading any credential)', async () => {
	const { context, getCredentials } = contextWith({});
	await expect(searchSubWorkflows.call(context)).rejects.toThrow("Could not tell this workflow's project");
	expect(getCredentials).not.toHaveBeenCalled();
});

it('Placeholder Credential From List: asks for the Sub-Workflow first (none, or an expression), before reading any credential', async () => {
	for (const chosen of ['', '={{ $json.id }}', undefined]) {
		const { context, getCredentials } = contextWith({ projectId: 'p1' });
		Object.assign(context, { getCurrentNodeParameter: () => chosen });
		await expect(searchPlaceholderCredentials.call(context)).rejects.toThrow('Pick the Sub-Workflow first');
		expect(getCredentials).not.toHaveBeenCalled();
	}
});
