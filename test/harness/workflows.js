// @ts-check
'use strict';
/**
 * Workflow JSON for the demo, dev and the end-to-end tests. The locked Header Auth workflow is
 * examples/multi-tenant-webhook.json itself, with its placeholders filled in, so the example stays tested.
 */
const fs = require('fs');
const path = require('path');

const PACKAGE = 'n8n-nodes-tenant-credential-swap';
const EXAMPLES = path.resolve(__dirname, '..', '..', 'examples');

/** @typedef {{id: string, name: string}} Ref */

/**
 * @param {string} name  file name in examples/ without .json
 * @param {Record<string, string>} replacements  placeholder -> value (IDs, URLs, paths)
 */
function loadExample(name, replacements) {
	let text = fs.readFileSync(path.join(EXAMPLES, `${name}.json`), 'utf8');
	for (const [placeholder, value] of Object.entries(replacements)) {
		text = text.split(placeholder).join(value);
	}
	return JSON.parse(text);
}

/**
 * examples/multi-tenant-webhook.json for this n8n.
 * @param {{path: string, name?: string, baseCredential: Ref, n8nApi: Ref, postgres: Ref, echoUrl: string,
 *          errorWorkflowId?: string, lockScope?: 'baseCredential'|'tenant', baseCredentialExpression?: string,
 *          waitTimeout?: number}} o
 */
function exampleWorkflow(o) {
	const workflow = loadExample('multi-tenant-webhook', {
		REPLACE_N8N_API_CREDENTIAL_ID: o.n8nApi.id,
		REPLACE_POSTGRES_CREDENTIAL_ID: o.postgres.id,
		REPLACE_BASE_CREDENTIAL_ID: o.baseCredential.id,
		'https://api.example.com/v1/me': `${o.echoUrl}/echo`,
		'"tenant-call"': JSON.stringify(o.path),
	});
	if (o.name) workflow.name = o.name;
	if (o.errorWorkflowId) workflow.settings.errorWorkflow = o.errorWorkflowId;
	else delete workflow.settings.errorWorkflow;
	const swap = workflow.nodes.find((/** @type {any} */ node) => node.name === 'Tenant Credential Swap');
	// Load tests queue many executions on one key: let them wait.
	swap.parameters.options.waitTimeout = o.waitTimeout ?? 600;
	swap.parameters.options.lockTtl = 120;
	if (o.lockScope) swap.parameters.options.lockScope = o.lockScope;
	if (o.baseCredentialExpression) swap.parameters.baseCredential = { __rl: true, mode: 'id', value: o.baseCredentialExpression };
	return workflow;
}

/**
 * examples/per-tenant-base-credentials.json: a Switch routes acme and globex to their own base credentials.
 * @param {{path: string, acme: Ref, globex: Ref, n8nApi: Ref, postgres: Ref, echoUrl: string}} o
 */
function perTenantExampleWorkflow(o) {
	return loadExample('per-tenant-base-credentials', {
		REPLACE_N8N_API_CREDENTIAL_ID: o.n8nApi.id,
		REPLACE_POSTGRES_CREDENTIAL_ID: o.postgres.id,
		REPLACE_ACME_BASE_CREDENTIAL_ID: o.acme.id,
		REPLACE_GLOBEX_BASE_CREDENTIAL_ID: o.globex.id,
		'https://api.example.com/v1/me': `${o.echoUrl}/echo`,
		'"per-tenant-call"': JSON.stringify(o.path),
	});
}

/**
 * examples/run-with-tenant-credential-sub-workflow.json for this n8n: Execute Workflow Trigger -> Call
 * Tenant API (`${echoUrl}/echo`), wired to `placeholder` (any Header Auth credential).
 * @param {{placeholder: Ref, echoUrl: string, name?: string, settings?: Record<string, unknown>}} o
 *        settings: merged into the workflow's settings (e.g. saveDataSuccessExecution: 'none')
 */
function runWithTenantSubWorkflow(o) {
	const workflow = loadExample('run-with-tenant-credential-sub-workflow', {
		REPLACE_PLACEHOLDER_CREDENTIAL_ID: o.placeholder.id,
		'https://api.example.com/v1/me': `${o.echoUrl}/echo`,
	});
	if (o.name) workflow.name = o.name;
	if (o.settings) Object.assign(workflow.settings, o.settings);
	return workflow;
}

/**
 * examples/run-with-tenant-credential.json for this n8n: Webhook (POST `path`) -> Run With Tenant
 * Credential running the sub-workflow `subWorkflowId`.
 * @param {{path: string, subWorkflowId: string, n8nApi: Ref, postgres: Ref, name?: string, options?: Record<string, unknown>,
 *          credentialData?: string}} o  options: merged into the node's options; credentialData: replaces the node's
 */
function runWithTenantWorkflow(o) {
	const workflow = loadExample('run-with-tenant-credential', {
		REPLACE_SUB_WORKFLOW_ID: o.subWorkflowId,
		REPLACE_N8N_API_CREDENTIAL_ID: o.n8nApi.id,
		REPLACE_POSTGRES_CREDENTIAL_ID: o.postgres.id,
		'"tenant-run"': JSON.stringify(o.path),
	});
	if (o.name) workflow.name = o.name;
	const node = workflow.nodes.find((/** @type {any} */ n) => n.type === `${PACKAGE}.runWithTenantCredential`);
	if (o.options) Object.assign(node.parameters.options, o.options);
	if (o.credentialData) node.parameters.credentialData = o.credentialData;
	return workflow;
}

/** @param {{postgres: Ref, name?: string}} o */
function errorTriggerWorkflow(o) {
	const workflow = loadExample('release-on-error', { REPLACE_POSTGRES_CREDENTIAL_ID: o.postgres.id });
	if (o.name) workflow.name = o.name;
	return workflow;
}

/** @param {string} workflowPath */
function webhook(workflowPath) {
	return {
		id: 'webhook',
		name: 'Webhook',
		type: 'n8n-nodes-base.webhook',
		typeVersion: 2,
		position: [0, 0],
		webhookId: workflowPath,
		parameters: { httpMethod: 'POST', path: workflowPath, responseMode: 'lastNode', responseData: 'firstEntryJson', options: {} },
	};
}

/**
 * @param {'headerAuth'|'oauth2'} kind
 * @param {string} echoUrl
 * @param {Ref} credential
 * @param {number} x
 */
function callTenantApi(kind, echoUrl, credential, x) {
	const genericAuthType = kind === 'oauth2' ? 'oAuth2Api' : 'httpHeaderAuth';
	return {
		id: 'call',
		name: 'Call Tenant API',
		type: 'n8n-nodes-base.httpRequest',
		typeVersion: 4.2,
		position: [x, 0],
		parameters: { method: 'GET', url: `${echoUrl}/echo`, authentication: 'genericCredentialType', genericAuthType, options: {} },
		credentials: { [genericAuthType]: credential },
	};
}

/**
 * The tenant's secret from the webhook body as the base credential's fields (without `={{ }}`).
 * @param {'headerAuth'|'oauth2'} kind
 * @param {string} echoUrl
 */
function dataObjectExpression(kind, echoUrl) {
	return kind === 'oauth2'
		? `{ "grantType": "clientCredentials", "accessTokenUrl": "${echoUrl}/oauth/token", "clientId": $json.body.tenantId, "clientSecret": $json.body.secret, "authentication": "body" }`
		: '{ "name": "x-tenant-secret", "value": $json.body.secret }';
}

/**
 * Webhook -> Tenant Credential Swap -> Call Tenant API -> Release Lock, for any credential kind.
 * @param {{name: string, path: string, kind: 'headerAuth'|'oauth2', baseCredential: Ref, n8nApi: Ref, postgres: Ref, echoUrl: string}} o
 */
function lockedWorkflow(o) {
	return {
		name: o.name,
		settings: { executionOrder: 'v1' },
		nodes: [
			webhook(o.path),
			{
				id: 'swap',
				name: 'Tenant Credential Swap',
				type: `${PACKAGE}.tenantCredentialSwap`,
				typeVersion: 1,
				position: [220, 0],
				parameters: {
					baseCredential: { __rl: true, mode: 'id', value: o.baseCredential.id },
					tenantId: '={{ $json.body.tenantId }}',
					credentialData: `={{ ${dataObjectExpression(o.kind, o.echoUrl)} }}`,
					lockBackend: 'postgres',
					options: { waitTimeout: 600, lockTtl: 120 },
				},
				credentials: { tenantSwapN8nApi: o.n8nApi, postgres: o.postgres },
			},
			callTenantApi(o.kind, o.echoUrl, o.baseCredential, 440),
			{
				id: 'release',
				name: 'Release Lock',
				type: `${PACKAGE}.tenantLockRelease`,
				typeVersion: 1,
				position: [660, 0],
				parameters: { lockBackend: 'postgres', releaseMode: 'execution', options: {} },
				credentials: { postgres: o.postgres },
			},
		],
		connections: {
			Webhook: { main: [[{ node: 'Tenant Credential Swap', type: 'main', index: 0 }]] },
			'Tenant Credential Swap': { main: [[{ node: 'Call Tenant API', type: 'main', index: 0 }]] },
			'Call Tenant API': { main: [[{ node: 'Release Lock', type: 'main', index: 0 }]] },
		},
	};
}

/**
 * The control: the same pattern without a lock, PATCHing the base credential from an HTTP Request node.
 * @param {{name: string, path: string, kind: 'headerAuth'|'oauth2', baseCredential: Ref, apiUrl: string, apiKey: string, echoUrl: string, partialData?: boolean}} o
 */
function unlockedWorkflow(o) {
	const data = dataObjectExpression(o.kind, o.echoUrl);
	return {
		name: o.name,
		settings: { executionOrder: 'v1' },
		nodes: [
			webhook(o.path),
			{
				id: 'patch',
				name: 'Patch Base Credential',
				type: 'n8n-nodes-base.httpRequest',
				typeVersion: 4.2,
				position: [220, 0],
				parameters: {
					method: 'PATCH',
					url: `${o.apiUrl}/credentials/${o.baseCredential.id}`,
					sendHeaders: true,
					headerParameters: { parameters: [{ name: 'X-N8N-API-KEY', value: o.apiKey }] },
					sendBody: true,
					specifyBody: 'json',
					jsonBody: `={{ JSON.stringify({ data: ${data}${o.partialData ? ', isPartialData: true' : ''} }) }}`,
					options: {},
				},
			},
			callTenantApi(o.kind, o.echoUrl, o.baseCredential, 440),
		],
		connections: {
			Webhook: { main: [[{ node: 'Patch Base Credential', type: 'main', index: 0 }]] },
			'Patch Base Credential': { main: [[{ node: 'Call Tenant API', type: 'main', index: 0 }]] },
		},
	};
}

/**
 * Inserts a node between "Call Tenant API" and "Release Lock" (e.g. one that fails, or waits).
 * @param {any} workflow
 * @param {any} node
 */
function insertBeforeRelease(workflow, node) {
	workflow.nodes.push(node);
	workflow.connections['Call Tenant API'] = { main: [[{ node: node.name, type: 'main', index: 0 }]] };
	workflow.connections[node.name] = { main: [[{ node: 'Release Lock', type: 'main', index: 0 }]] };
	return workflow;
}

/**
 * Inserts a node between "Tenant Credential Swap" and "Call Tenant API" (e.g. a slow one).
 * @param {any} workflow
 * @param {any} node
 */
function insertAfterSwap(workflow, node) {
	workflow.nodes.push(node);
	workflow.connections['Tenant Credential Swap'] = { main: [[{ node: node.name, type: 'main', index: 0 }]] };
	workflow.connections[node.name] = { main: [[{ node: 'Call Tenant API', type: 'main', index: 0 }]] };
	return workflow;
}

/**
 * Sets options of the workflow's Tenant Credential Swap node.
 * @param {any} workflow
 * @param {Record<string, unknown>} options
 */
function withSwapOptions(workflow, options) {
	const swap = workflow.nodes.find((/** @type {any} */ node) => node.name === 'Tenant Credential Swap');
	Object.assign(swap.parameters.options, options);
	return workflow;
}

// ---------------------------------------------------------------------------------------------
// Small building blocks for workflows assembled in a test (test/e2e/secrets.test.ts).

/**
 * A Tenant Credential Swap node on the PostgreSQL lock backend.
 * @param {{n8nApi: Ref, postgres: Ref, baseCredentialId: string, credentialData: string, tenantId?: string,
 *          options?: Record<string, unknown>, onError?: string, name?: string}} o
 *        baseCredentialId: an ID or an expression (`={{ ... }}`); credentialData: an expression or text
 */
function swapNode(o) {
	return {
		id: 'swap',
		name: o.name ?? 'Tenant Credential Swap',
		type: `${PACKAGE}.tenantCredentialSwap`,
		typeVersion: 1,
		position: [0, 0],
		...(o.onError ? { onError: o.onError } : {}),
		parameters: {
			baseCredential: { __rl: true, mode: 'id', value: o.baseCredentialId },
			tenantId: o.tenantId ?? '={{ $json.body.tenantId }}',
			credentialData: o.credentialData,
			lockBackend: 'postgres',
			options: { ...(o.options ?? {}) },
		},
		credentials: { tenantSwapN8nApi: o.n8nApi, postgres: o.postgres },
	};
}

/**
 * A Release Lock node (this execution's locks) on the PostgreSQL lock backend.
 * @param {{postgres: Ref, name?: string}} o
 */
function releaseNode(o) {
	return {
		id: 'release',
		name: o.name ?? 'Release Lock',
		type: `${PACKAGE}.tenantLockRelease`,
		typeVersion: 1,
		position: [0, 0],
		parameters: { lockBackend: 'postgres', releaseMode: 'execution', options: {} },
		credentials: { postgres: o.postgres },
	};
}

/**
 * A Code node (all items at once).
 * @param {string} name
 * @param {string} jsCode
 */
function codeNode(name, jsCode) {
	return {
		id: `code-${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`,
		name,
		type: 'n8n-nodes-base.code',
		typeVersion: 2,
		position: [0, 0],
		parameters: { mode: 'runOnceForAllItems', jsCode },
	};
}

/**
 * An HTTP Request node that calls `url` with a generic credential (e.g. the base credential).
 * @param {{name?: string, url: string, genericAuthType: string, credential: Ref}} o
 */
function httpCallNode(o) {
	return {
		id: 'call',
		name: o.name ?? 'Call Tenant API',
		type: 'n8n-nodes-base.httpRequest',
		typeVersion: 4.2,
		position: [0, 0],
		parameters: { method: 'GET', url: o.url, authentication: 'genericCredentialType', genericAuthType: o.genericAuthType, options: {} },
		credentials: { [o.genericAuthType]: o.credential },
	};
}

/** @param {string} errorMessage */
function stopAndErrorNode(errorMessage) {
	return {
		id: 'fail',
		name: 'Fail',
		type: 'n8n-nodes-base.stopAndError',
		typeVersion: 1,
		position: [0, 0],
		parameters: { errorMessage },
	};
}

/**
 * Webhook (POST `path`, answers with the last node's first item) -> nodes[0] -> nodes[1] -> ...
 * `branches` adds extra connections: from node name -> node names also fed by its output (run
 * before the next node of the chain, n8n's v1 order runs the first connection's branch first).
 * @param {{name: string, path: string, nodes: any[], branches?: Record<string, string[]>}} o
 */
function chainWorkflow(o) {
	const branchNodes = new Set(Object.values(o.branches ?? {}).flat());
	// A branch node sits above the chain: v1 order runs the topmost branch first.
	const nodes = [webhook(o.path), ...o.nodes].map((node, index) => ({ ...node, position: [index * 220, branchNodes.has(node.name) ? -200 : 0] }));
	/** @type {Record<string, any>} */
	const connections = {};
	const chained = [webhook(o.path), ...o.nodes.filter((node) => !branchNodes.has(node.name))];
	for (let i = 0; i + 1 < chained.length; i++) {
		const from = chained[i].name;
		const extra = (o.branches ?? {})[from] ?? [];
		connections[from] = {
			main: [[...extra, chained[i + 1].name].map((node) => ({ node, type: 'main', index: 0 }))],
		};
	}
	return { name: o.name, settings: { executionOrder: 'v1' }, nodes, connections };
}

module.exports = {
	insertAfterSwap,
	withSwapOptions,
	PACKAGE,
	exampleWorkflow,
	perTenantExampleWorkflow,
	runWithTenantSubWorkflow,
	runWithTenantWorkflow,
	errorTriggerWorkflow,
	lockedWorkflow,
	unlockedWorkflow,
	insertBeforeRelease,
	loadExample,
	swapNode,
	releaseNode,
	codeNode,
	httpCallNode,
	stopAndErrorNode,
	chainWorkflow,
};
