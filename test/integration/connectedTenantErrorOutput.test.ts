/**
 * "Continue (using error output)": n8n routes an item to the error output in n8n-core's
 * WorkflowExecute.handleNodeErrorOutput, by the item's `error` (or a json of only error/message/details).
 * Run With Tenant Credential's output for a tenant not connected is handed to that very function of the
 * installed n8n 2.40.7 (no server): the not-connected item lands on the error output, the connected
 * tenant's on the regular one. Control: the error item without `error` (the shape before, whose json
 * also holds errorDescription) stays on the regular output, so the check would catch a regression.
 */
import path from 'node:path';

import type { INodeExecutionData } from 'n8n-workflow';

import { forgetCachedSubWorkflows } from '../../nodes/shared/tenantCredentials/subWorkflow';
import { connect, fakeApi, recordingSubExecutions, runConnected, subWorkflow, unique } from '../helpers/connectedTenant';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ensureN8nInstalled } = require('../harness/install.js');

jest.setTimeout(600_000);

type Outputs = INodeExecutionData[][];
let route: (outputs: Outputs) => Outputs;

beforeAll(async () => {
	const { n8nDir } = await ensureN8nInstalled();
	const modules = path.join(n8nDir, 'node_modules');
	/* eslint-disable @typescript-eslint/no-require-imports */
	const core = require(path.join(modules, 'n8n-core'));
	const workflowLib = require(require.resolve('n8n-workflow', { paths: [path.join(modules, 'n8n-core')] }));
	/* eslint-enable @typescript-eslint/no-require-imports */
	const description = { name: 'runWithTenantCredential', version: 1, inputs: ['main'], outputs: ['main'], properties: [] };
	const nodeTypes = { getByNameAndVersion: () => ({ description }), getByName: () => ({ description }), getKnownTypes: () => ({}) };
	const node = { id: 'n1', name: 'Run With Tenant Credential', type: 'CUSTOM.runWithTenantCredential', typeVersion: 1, position: [0, 0], parameters: {}, onError: 'continueErrorOutput' };
	const workflow = new workflowLib.Workflow({ id: 'w1', nodes: [node], connections: {}, active: false, nodeTypes });
	const base = 'http://127.0.0.1:5678';
	route = (outputs) => {
		// What WorkflowExecute holds while it runs the node; only what handleNodeErrorOutput reads.
		const execute = Object.create(core.WorkflowExecute.prototype);
		Object.assign(execute, {
			mode: 'webhook',
			abortController: new AbortController(),
			runExecutionData: workflowLib.createRunExecutionData ? workflowLib.createRunExecutionData({}) : { resultData: { runData: {} } },
			additionalData: { instanceBaseUrl: `${base}/`, webhookBaseUrl: `${base}/webhook`, webhookWaitingBaseUrl: `${base}/webhook-waiting`, webhookTestBaseUrl: `${base}/webhook-test`, formWaitingBaseUrl: `${base}/form-waiting`, restApiUrl: `${base}/rest`, variables: {} },
		});
		const copy = outputs.map((items) => [...items]);
		execute.handleNodeErrorOutput(workflow, { node, data: { main: [[]] }, source: null }, copy, 0);
		return copy;
	};
});

beforeEach(() => forgetCachedSubWorkflows());

it("a tenant not connected lands on n8n's error output; a connected tenant's item on the regular one", async () => {
	const app = unique('hubspot');
	const [acme, ghost] = [unique('acme'), unique('ghost')];
	await connect(acme, app, 'credRouted');
	const { run } = runConnected({
		tenants: [acme, ghost],
		connection: app,
		subWorkflowId: 'subRoute',
		api: fakeApi({ workflows: [subWorkflow('subRoute')] }),
		executeWorkflow: recordingSubExecutions().executeWorkflow,
		// n8n's continueOnFail() is true for "Continue (using error output)".
		continueOnFail: true,
	});
	const output = await run;
	const [regular, errors] = route([output]);
	expect(regular.map((item) => item.json)).toEqual([{ tenant: acme, boundTo: 'credRouted' }]);
	expect(errors.map((item) => item.pairedItem)).toEqual([{ item: 1 }]);
	expect(String(errors[0].json.error)).toContain(`Tenant "${ghost}" has not connected ${app}: send them a connect link`);

	// Control: the same error item without `error` is not routed (n8n looks at json keys then, and errorDescription is not one).
	const withoutError = output.map(({ error: _error, ...item }) => item);
	const [regularControl, errorsControl] = route([withoutError]);
	expect(errorsControl).toEqual([]);
	expect(regularControl).toHaveLength(2);
});
