/**
 * Run With Tenant Credential follows n8n's own rules for who may call a sub-workflow, on a real n8n 2.40.7:
 * every caller-policy setting x sub-workflow in the calling workflow's project / in another user's
 * personal project x published / never published, called by our node and by n8n's own Execute Workflow
 * node (by ID) in the same instance; ours must allow exactly when n8n's does. Run on instances with
 * different N8N_WORKFLOW_CALLER_POLICY_DEFAULT_OPTION for the sub-workflows without a setting.
 * Also: From List shows only the calling workflow's project, and the items passed into the sub-execution
 * carry no tenant secret (what n8n stored for a failed and a saved sub-execution), with the control
 * Pass Secrets to Sub-Workflow on, where they do.
 * Another n8n release: CALLER_POLICY_N8N_VERSION=2.8.4 (installed by the harness like test:versions).
 */
import { REDACTED } from '../../nodes/shared/swap/credentialData';
import { startE2eStack, type E2eStack, type Ref } from '../helpers/e2eStack';
import { headerAuthPlaceholder, redactSecrets, secretFor } from '../helpers/runWithTenant';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const workflows = require('../harness/workflows.js');

jest.setTimeout(1_800_000);

const RUN = Math.random().toString(36).slice(2, 8);
const HEADER_OPTIONS = { allowedFields: 'name,value', credentialType: 'httpHeaderAuth' };

interface Setting {
	label: string;
	settings: Record<string, unknown>;
	/** callerIds: both calling workflows. */
	listCallers?: boolean;
}

const SETTINGS: Setting[] = [
	{ label: 'any', settings: { callerPolicy: 'any' } },
	{ label: 'none', settings: { callerPolicy: 'none' } },
	{ label: 'workflowsFromSameOwner', settings: { callerPolicy: 'workflowsFromSameOwner' } },
	{ label: 'workflowsFromAList, callers listed', settings: { callerPolicy: 'workflowsFromAList' }, listCallers: true },
	{ label: 'workflowsFromAList, callers not listed', settings: { callerPolicy: 'workflowsFromAList', callerIds: 'someOtherWorkflow1' } },
	{ label: 'unset', settings: {} },
	{ label: 'unset, callers listed', settings: {}, listCallers: true },
];

type Outcome = 'allowed' | 'refused: policy' | 'refused: not published' | string;

/** A member user (invited and accepted without mail) and their personal project. */
async function addMember(n8n: any): Promise<{ projectId: string }> {
	const email = `member-${RUN}@example.com`;
	const invited = await n8n.rest('POST', 'invitations', [{ email, role: 'global:member' }]);
	if (invited.status !== 200) throw new Error(`invite: HTTP ${invited.status} ${JSON.stringify(invited.body).slice(0, 300)}`);
	const acceptUrl = String(invited.body.data?.[0]?.user?.inviteAcceptUrl ?? '');
	// n8n 2.40: /signup?token=..., accepted at /invitations/accept; n8n 2.8 without mail: ?inviterId=&inviteeId=, at /invitations/<invitee>/accept.
	const query = new URL(acceptUrl).searchParams;
	const token = query.get('token');
	const browserId = `member-${RUN}`;
	const profile = { firstName: 'Other', lastName: 'Member', password: 'Member-Passw0rd' };
	const accepted = await fetch(token ? `${n8n.baseUrl}/rest/invitations/accept` : `${n8n.baseUrl}/rest/invitations/${query.get('inviteeId')}/accept`, {
		method: 'POST',
		headers: { 'content-type': 'application/json', 'browser-id': browserId },
		body: JSON.stringify(token ? { token, ...profile } : { inviterId: query.get('inviterId'), ...profile }),
	});
	const acceptedBody = await accepted.text();
	if (accepted.status !== 200) throw new Error(`accept: HTTP ${accepted.status} ${acceptedBody.slice(0, 300)}`);
	const cookie = accepted.headers
		.getSetCookie()
		.map((c) => c.split(';')[0])
		.find((c) => c.startsWith('n8n-auth='));
	const personal = await fetch(`${n8n.baseUrl}/rest/projects/personal`, { headers: { cookie: cookie ?? '', 'browser-id': browserId } });
	const project = (await personal.json()) as { data?: { id?: string } };
	if (!project.data?.id) throw new Error("no personal project for the member");
	return { projectId: project.data.id };
}

/** n8n's own Execute Workflow node (v1.2, source database, by ID from the body), errors as items. */
function executeWorkflowNode() {
	return {
		id: 'execute',
		name: 'Execute Workflow',
		type: 'n8n-nodes-base.executeWorkflow',
		typeVersion: 1.2,
		position: [0, 0],
		onError: 'continueRegularOutput',
		parameters: { source: 'database', workflowId: { __rl: true, mode: 'id', value: '={{ $json.body.subId }}' }, mode: 'each', options: {} },
	};
}

interface Instance {
	stack: E2eStack;
	ownerProject: string;
	memberProject: string;
	ours: { id: string };
	theirs: { id: string };
	placeholders: Map<string, Ref>;
}

async function startInstance(defaultOption: string | undefined): Promise<Instance> {
	const stack = await startE2eStack({
		...(process.env.CALLER_POLICY_N8N_VERSION ? { n8nVersion: process.env.CALLER_POLICY_N8N_VERSION } : {}),
		...(defaultOption ? { env: { N8N_WORKFLOW_CALLER_POLICY_DEFAULT_OPTION: defaultOption } } : {}),
	});
	try {
		const { n8n, api, n8nApi, postgres, echo } = stack;
		const { projectId: memberProject } = await addMember(n8n);
		const ownerProject = (await n8n.rest('GET', 'projects/personal')).body.data.id as string;
		const ours = await api.deployWorkflow(
			workflows.runWithTenantWorkflow({
				name: 'caller policy: Run With Tenant Credential',
				path: 'cp-ours',
				subWorkflowId: '={{ $json.body.subId }}',
				n8nApi,
				postgres,
				kind: 'headerAuth',
				echoUrl: echo.url,
				options: HEADER_OPTIONS,
				onError: 'continueRegularOutput',
			}),
		);
		// n8n skips its "sub-workflow must be published" check at publish time for an ID given by an expression.
		const theirs = await api.deployWorkflow(workflows.chainWorkflow({ name: "caller policy: n8n's Execute Workflow", path: 'cp-n8n', nodes: [executeWorkflowNode()] }));
		const placeholders = new Map<string, Ref>();
		for (const projectId of [ownerProject, memberProject]) {
			// In the sub-workflow's own project: n8n's node checks its credentials against that project before the policy.
			placeholders.set(projectId, await createIn(api, 'credentials', { name: `placeholder ${projectId}`, type: 'httpHeaderAuth', data: { name: 'x-tenant-secret', value: 'placeholder' } }, projectId));
		}
		return { stack, ownerProject, memberProject, ours, theirs, placeholders };
	} catch (error) {
		await stack.stop();
		throw error;
	}
}

/**
 * Creates a workflow or credential in a project: n8n 2.40's public API takes `projectId`; n8n 2.8's creates
 * in the key owner's personal project (and refuses the field), then the public API's transfer moves it.
 */
async function createIn(api: any, kind: 'workflows' | 'credentials', body: Record<string, unknown>, projectId: string): Promise<Ref> {
	const direct = await api.request('POST', kind, { body: { ...body, projectId }, expect: [400] });
	const created = (direct.status < 300 ? direct.body : (await api.request('POST', kind, { body })).body) as Ref & { shared?: Array<{ projectId: string; role: string }> };
	const owner = kind === 'workflows' ? (await api.getWorkflow(created.id)).shared?.find((entry: { role: string }) => entry.role === 'workflow:owner')?.projectId : undefined;
	if (kind === 'workflows' && owner !== projectId) {
		await api.request('PUT', `${kind}/${created.id}/transfer`, { body: { destinationProjectId: projectId } });
	} else if (kind === 'credentials') {
		// No public read of a credential's project before n8n 2.20: transfer anyway; n8n refuses a move into its own project (400).
		await api.request('PUT', `${kind}/${created.id}/transfer`, { body: { destinationProjectId: projectId }, expect: [400] });
	}
	return created;
}

async function subWorkflowIn(instance: Instance, o: { name: string; projectId: string; settings: Record<string, unknown>; publish: boolean }): Promise<string> {
	const { api, echo } = instance.stack;
	const json = workflows.tenantSubWorkflow({ name: o.name, kind: 'headerAuth', echoUrl: echo.url, credential: instance.placeholders.get(o.projectId) });
	json.settings = { ...json.settings, ...o.settings };
	const created = await createIn(api, 'workflows', json, o.projectId);
	const home = (await api.getWorkflow(created.id)).shared?.find((entry: { role: string }) => entry.role === 'workflow:owner')?.projectId;
	if (home !== o.projectId) throw new Error(`sub-workflow ${o.name} landed in project ${home}, not ${o.projectId}`);
	if (o.publish) await api.activateWorkflow(created.id);
	return created.id;
}

/** What the caller's answer says: allowed, refused for the policy, refused as not published, or the error. */
function outcomeOf(response: { status: number; body: any }, patterns: { policy: RegExp; unpublished: RegExp }): Outcome {
	const error = response.body?.error;
	if (response.status === 200 && error === undefined) return 'allowed';
	const text = `${String(error ?? '')} ${String(response.body?.errorDescription ?? '')} ${response.status !== 200 ? JSON.stringify(response.body) : ''}`;
	if (patterns.policy.test(text)) return 'refused: policy';
	if (patterns.unpublished.test(text)) return 'refused: not published';
	return `error (HTTP ${response.status}): ${redactSecrets(text).slice(0, 200)}`;
}

/** n8n's rule as read from its code (SubworkflowPolicyChecker, executeWorkflow): what both must do. */
function expected(setting: Setting, stored: Record<string, unknown>, sameProject: boolean, published: boolean, instanceDefault: string): Outcome {
	if (!published) return 'refused: not published';
	const policy = (stored.callerPolicy as string | undefined) ?? instanceDefault;
	if (policy === 'any') return 'allowed';
	if (policy === 'workflowsFromAList') return setting.listCallers ? 'allowed' : 'refused: policy';
	if (policy === 'workflowsFromSameOwner') return sameProject ? 'allowed' : 'refused: policy';
	return 'refused: policy';
}

const rows: string[] = [];
afterAll(() => {
	if (rows.length > 0) process.stderr.write(`caller policy matrix (ours | n8n's Execute Workflow | n8n's rule):\n${rows.join('\n')}\n`);
});

describe.each([
	{ instanceDefault: 'workflowsFromSameOwner', env: undefined, settings: SETTINGS, full: true },
	{ instanceDefault: 'any', env: 'any', settings: SETTINGS.filter((s) => s.label.startsWith('unset')), full: false },
	{ instanceDefault: 'workflowsFromAList', env: 'workflowsFromAList', settings: SETTINGS.filter((s) => s.label.startsWith('unset')), full: false },
])('instance default $instanceDefault', ({ instanceDefault, env, settings, full }) => {
	let instance: Instance;
	beforeAll(async () => {
		instance = await startInstance(env);
	});
	afterAll(async () => {
		await instance?.stack.stop();
	});

	it('ours allows exactly when n8n\'s own Execute Workflow node allows, for every setting x project x published/never published', async () => {
		const { api, n8n } = instance.stack;
		// What the instance says its default is (the owner's /rest/settings): the rule's input.
		const reported = String((await n8n.rest('GET', 'settings')).body.data.workflowCallerPolicyDefaultOption);
		if (!process.env.CALLER_POLICY_N8N_VERSION) expect(reported).toBe(instanceDefault);
		const mismatches: string[] = [];
		let index = 0;
		for (const setting of settings) {
			for (const sameProject of [true, false]) {
				for (const published of [true, false]) {
					index += 1;
					const projectId = sameProject ? instance.ownerProject : instance.memberProject;
					const callerIds = setting.listCallers ? { callerIds: `${instance.ours.id}, ${instance.theirs.id}` } : {};
					const subId = await subWorkflowIn(instance, {
						name: `sub ${index}: ${setting.label}, ${sameProject ? 'same' : 'other'} project, ${published ? 'published' : 'never published'}`,
						projectId,
						settings: { ...setting.settings, ...callerIds },
						publish: published,
					});
					const tenant = `cp${index}`;
					const body = { subId, tenantId: tenant, secret: secretFor(tenant, RUN) };
					const ours = outcomeOf(await api.callWebhook('cp-ours', { body }), { policy: /may not be called by this workflow/, unpublished: /is not published/ });
					const theirs = outcomeOf(await api.callWebhook('cp-n8n', { body }), { policy: /cannot be called by this workflow/, unpublished: /not active and cannot be executed/ });
					// n8n 2.8.4's public API stores callerPolicy "workflowsFromSameOwner" when none is sent (its openapi default).
					const stored = ((await api.getWorkflow(subId)).settings ?? {}) as Record<string, unknown>;
					const storedNote = stored.callerPolicy === setting.settings.callerPolicy ? '' : ` (stored: ${String(stored.callerPolicy)})`;
					const rule = expected(setting, stored, sameProject, published, reported);
					const row = `[default ${instanceDefault}${reported === instanceDefault ? '' : `, n8n reports ${reported}`}] ${setting.label}${storedNote} | ${sameProject ? 'same project' : 'other project'} | ${published ? 'published' : 'never published'}: ours ${ours} | n8n ${theirs} | rule ${rule}`;
					rows.push(row);
					if (ours !== theirs || theirs !== rule) mismatches.push(row);
				}
			}
		}
		expect(mismatches).toEqual([]);
	});

	// From List and the secrets: once, on the first instance.
	if (!full) return;

	it('From List shows the sub-workflows of the calling workflow\'s project only, and no list without a project', async () => {
		const { n8n, n8nApi } = instance.stack;
		const own = await subWorkflowIn(instance, { name: `listed own ${RUN}`, projectId: instance.ownerProject, settings: { callerPolicy: 'any' }, publish: false });
		const foreign = await subWorkflowIn(instance, { name: `listed foreign ${RUN}`, projectId: instance.memberProject, settings: { callerPolicy: 'any' }, publish: false });
		const search = async (scope: { projectId?: string; workflowId?: string }) =>
			await n8n.rest('POST', 'dynamic-node-parameters/resource-locator-results', {
				nodeTypeAndVersion: { name: `${workflows.PACKAGE}.runWithTenantCredential`, version: 1 },
				path: 'subWorkflow',
				methodName: 'searchSubWorkflows',
				currentNodeParameters: { subWorkflow: { __rl: true, mode: 'list', value: '' } },
				credentials: { tenantSwapN8nApi: n8nApi },
				filter: RUN,
				...scope,
			});
		for (const scope of [{ projectId: instance.ownerProject }, { workflowId: instance.ours.id }]) {
			const answer = await search(scope);
			expect(answer.status).toBe(200);
			const ids = (answer.body.data.results as Array<{ value: string; name: string }>).map((result) => result.value);
			expect(ids).toContain(own);
			expect(ids).not.toContain(foreign);
			expect(JSON.stringify(answer.body)).not.toContain('listed foreign');
		}
		// Control: the member's project lists the member's workflow (it is a sub-workflow the key can see).
		const memberList = await search({ projectId: instance.memberProject });
		expect(memberList.status).toBe(200);
		expect((memberList.body.data.results as Array<{ value: string }>).map((result) => result.value)).toContain(foreign);
		const none = await search({});
		expect(none.status).not.toBe(200);
		expect(JSON.stringify(none.body)).toMatch(/Could not tell this workflow's project/);
	});

	it("items passed into the sub-execution hold no tenant secret; Pass Secrets to Sub-Workflow (control) passes them", async () => {
		const { api, n8nApi, postgres, echo } = instance.stack;
		const placeholder = await headerAuthPlaceholder(api, 'placeholder (secrets into sub-executions)');
		/** Trigger -> [Fail]; Call Tenant API (the node the tenant's credential goes to) is not reached. */
		const subWorkflow = async (name: string, fail: boolean) => {
			const json = workflows.tenantSubWorkflow({ name, kind: 'headerAuth', echoUrl: echo.url, credential: placeholder, pick: 'none' });
			const trigger = json.nodes[0];
			const callNode = json.nodes.find((node: any) => node.name === 'Call Tenant API');
			json.nodes = fail ? [trigger, { ...workflows.stopAndErrorNode('failing on purpose before any call'), position: [220, 0] }, callNode] : [trigger, callNode];
			json.connections = fail ? { [trigger.name]: { main: [[{ node: 'Fail', type: 'main', index: 0 }]] } } : {};
			json.settings = { ...json.settings, callerPolicy: 'workflowsFromSameOwner', saveDataErrorExecution: 'all' };
			const created = await api.createWorkflow(json);
			await api.activateWorkflow(created.id);
			return created.id as string;
		};
		const failing = await subWorkflow('sub-workflow failing before its call (secrets)', true);
		const succeeding = await subWorkflow('sub-workflow returning its input (secrets)', false);
		const caller = async (path: string, pass: boolean) =>
			(await api.deployWorkflow(
				workflows.runWithTenantWorkflow({
					name: `secrets into sub-executions (${pass ? 'passed' : 'redacted'})`,
					path,
					subWorkflowId: '={{ $json.body.subId }}',
					n8nApi,
					postgres,
					kind: 'headerAuth',
					echoUrl: echo.url,
					options: { ...HEADER_OPTIONS, saveSuccessfulSubExecutions: true, ...(pass ? { passSecretsToSubWorkflow: true } : {}) },
				}),
			)) as { id: string };
		const results: string[] = [];
		for (const pass of [false, true]) {
			const workflow = await caller(pass ? 'cp-secrets-pass' : 'cp-secrets', pass);
			for (const [subId, status] of [
				[failing, 'error'],
				[succeeding, 'success'],
			] as const) {
				const tenant = `sec-${pass ? 'pass' : 'red'}-${status}`;
				const secret = secretFor(tenant, RUN);
				// Finds the sub-execution (the tenant ID is a part of the test secret, so it is redacted too).
				const marker = `item-${pass ? 'p' : 'r'}-${status}-${RUN}`;
				const response = await api.callWebhook(pass ? 'cp-secrets-pass' : 'cp-secrets', { body: { subId, tenantId: tenant, secret, marker } });
				expect(response.status).toBe(status === 'error' ? 500 : 200);
				// A sub-execution is the one whose Execute Workflow Trigger ran, with this call's item (stored under the calling workflow).
				const trigger = (execution: any) => execution.data?.resultData?.runData?.['When Executed by Another Workflow'];
				let stored: any;
				let seen: string[] = [];
				const deadline = Date.now() + 60_000;
				while (!stored && Date.now() < deadline) {
					const executions = await api.getExecutions({ includeData: true, limit: 40 });
					stored = executions.find((execution: any) => execution.status === status && trigger(execution) && JSON.stringify(trigger(execution)).includes(marker));
					seen = executions.map(
						(execution: any) =>
							`${execution.id} ${execution.mode} ${execution.status} workflow ${execution.workflowId}${trigger(execution) ? ' trigger ran' : ''}${JSON.stringify(execution.data ?? {}).includes(marker) ? ' has the marker' : ''}`,
					);
					if (!stored) await new Promise((resolve) => setTimeout(resolve, 500));
				}
				if (!stored) process.stderr.write(`no stored sub-execution for ${tenant} (caller ${workflow.id}); newest executions:\n  ${seen.join('\n  ')}\n`);
				expect(stored).toBeDefined();
				const text = JSON.stringify(stored.data);
				const holdsSecret = text.includes(secret);
				results.push(`${pass ? 'Pass Secrets on (control)' : 'default'}, ${status === 'error' ? 'failed' : 'saved successful'} sub-execution: secret ${holdsSecret ? 'PRESENT' : 'absent'}${text.includes(REDACTED) ? ', redaction marker present' : ''}`);
				expect(holdsSecret).toBe(pass);
				if (!pass) expect(text).toContain(REDACTED);
			}
		}
		process.stderr.write(`secrets in stored sub-executions:\n  ${results.join('\n  ')}\n`);
	});
});
