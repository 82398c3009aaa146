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
function runWithTenantExampleSubWorkflow(o) {
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
 * Credential running the sub-workflow `subWorkflowId`, with `placeholder` as its Placeholder Credential
 * (without one, the parameter is left empty: the node infers the sub-workflow's only credential).
 * @param {{path: string, subWorkflowId: string, n8nApi: Ref, postgres: Ref, placeholder?: Ref, name?: string, options?: Record<string, unknown>,
 *          credentialData?: string}} o  options: merged into the node's options; credentialData: replaces the node's
 */
function runWithTenantExampleWorkflow(o) {
	const workflow = loadExample('run-with-tenant-credential', {
		REPLACE_SUB_WORKFLOW_ID: o.subWorkflowId,
		REPLACE_PLACEHOLDER_CREDENTIAL_ID: o.placeholder?.id ?? '',
		REPLACE_N8N_API_CREDENTIAL_ID: o.n8nApi.id,
		REPLACE_POSTGRES_CREDENTIAL_ID: o.postgres.id,
		'"tenant-run"': JSON.stringify(o.path),
	});
	if (o.name) workflow.name = o.name;
	const node = workflow.nodes.find((/** @type {any} */ n) => n.type === `${PACKAGE}.runWithTenantCredential`);
	if (!o.placeholder) delete node.parameters.placeholderCredential;
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
 * Allowed Fields for the data dataObjectExpression() builds. The OAuth2 token URL is a connection field
 * (refused unless listed): the workflow fixes it here, so listing it lets no caller choose it.
 * @param {'headerAuth'|'oauth2'} kind
 */
function allowedFieldsFor(kind) {
	return kind === 'oauth2' ? 'grantType,accessTokenUrl,clientId,clientSecret,authentication' : 'name,value';
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
					options: { waitTimeout: 600, lockTtl: 120, allowedFields: allowedFieldsFor(o.kind) },
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
 * @param {{name: string, path: string, kind: 'headerAuth'|'oauth2', baseCredential: Ref, apiUrl: string, apiKey: string, echoUrl: string, partialData?: boolean,
 *          dataExpression?: string}} o  dataExpression: the credential data (without `={{ }}`), e.g. `$json.body.data`; default from kind
 */
function unlockedWorkflow(o) {
	const data = o.dataExpression ?? dataObjectExpression(o.kind, o.echoUrl);
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

/**
 * A Set node (v3.4) whose output items hold only the given fields.
 * @param {string} name
 * @param {Record<string, {type: 'string'|'number'|'boolean'|'object'|'array', value: string}>} fields  value: text or expression
 */
function setNode(name, fields) {
	return {
		id: `set-${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`,
		name,
		type: 'n8n-nodes-base.set',
		typeVersion: 3.4,
		position: [0, 0],
		parameters: {
			mode: 'manual',
			assignments: {
				assignments: Object.entries(fields).map(([field, { type, value }]) => ({ id: `field-${field}`, name: field, value, type })),
			},
			includeOtherFields: false,
			options: {},
		},
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

// ---------------------------------------------------------------------------------------------
// Run With Tenant Credential: a sub-workflow holding the nodes that use the tenant's credential,
// and a parent workflow that runs it with each tenant's own credential.

/** The node's name in the workflows below. */
const RUN_WITH_TENANT = 'Run With Tenant Credential';
/** The sub-workflow's first node (Execute Workflow Trigger). */
const SUB_TRIGGER = 'When Executed by Another Workflow';

/**
 * A Run With Tenant Credential node on the PostgreSQL lock backend (unless `lockBackend` says otherwise).
 * Credential Data: `credentialData` (an expression or text) or, given `kind` and `echoUrl`, the tenant's
 * secret from the webhook body (dataObjectExpression).
 * @param {{subWorkflowId: string, n8nApi: Ref, postgres?: Ref, kind?: 'headerAuth'|'oauth2', echoUrl?: string,
 *          credentialData?: string, tenantId?: string, options?: Record<string, unknown>, onError?: string,
 *          name?: string, lockBackend?: 'postgres'|'redis'|'memory', subWorkflowMode?: 'id'|'list', placeholder?: Ref}} o
 *        placeholder: the Placeholder Credential (absent: left empty, the node infers the sub-workflow's only credential)
 */
function runWithTenantNode(o) {
	let credentialData = o.credentialData;
	/** @type {Record<string, unknown>} */
	let defaultOptions = {};
	if (credentialData === undefined) {
		if (!o.kind || !o.echoUrl) throw new Error('runWithTenantNode: give credentialData, or kind and echoUrl');
		credentialData = `={{ ${dataObjectExpression(o.kind, o.echoUrl)} }}`;
		defaultOptions = { allowedFields: allowedFieldsFor(o.kind) };
	}
	const lockBackend = o.lockBackend ?? 'postgres';
	/** @type {Record<string, Ref>} */
	const credentials = { tenantSwapN8nApi: o.n8nApi };
	if (lockBackend === 'postgres') {
		if (!o.postgres) throw new Error('runWithTenantNode: the postgres lock backend needs a postgres credential');
		credentials.postgres = o.postgres;
	}
	return {
		id: 'run-with-tenant',
		name: o.name ?? RUN_WITH_TENANT,
		type: `${PACKAGE}.runWithTenantCredential`,
		typeVersion: 1,
		position: [0, 0],
		...(o.onError ? { onError: o.onError } : {}),
		parameters: {
			subWorkflow: { __rl: true, mode: o.subWorkflowMode ?? 'id', value: o.subWorkflowId },
			...(o.placeholder ? { placeholderCredential: { __rl: true, mode: 'id', value: o.placeholder.id } } : {}),
			tenantId: o.tenantId ?? '={{ $json.body.tenantId }}',
			credentialData,
			lockBackend,
			options: { ...defaultOptions, ...(o.options ?? {}) },
		},
		credentials,
	};
}

/**
 * A sub-workflow for Run With Tenant Credential: Execute Workflow Trigger (passthrough) -> [Slow Step]
 * -> Call Tenant API (HTTP GET `${echoUrl}/echo` with the placeholder credential) -> [Pick] -> [extra nodes].
 *   pick 'set' (default) / 'code': a Set / Code node keeping only tenantSecret, bearerClient and their
 *        digests (tenantSecretHash, bearerClientHash) of the echo's answer; 'none': the echo's whole answer.
 *   echoQueryFromBody: the call adds `?delay=<body.delay>&status=<body.status>` from the input item (the
 *        parent's webhook item), so one call can be slow or fail (see echo.js).
 *   slowStep: before the call, an HTTP GET of `/echo?delay=<body.slowMs>` without credential: the call
 *        (which reads the tenant's credential when it starts) then runs only after that delay.
 *   extraNodes: appended to the chain in order (e.g. a Stop and Error node).
 * @param {{name: string, kind: 'headerAuth'|'oauth2', echoUrl: string, credential: Ref, pick?: 'set'|'code'|'none',
 *          echoQueryFromBody?: boolean, slowStep?: boolean, extraNodes?: any[], trigger?: boolean}} o
 *        trigger: false leaves out the Execute Workflow Trigger (a workflow that is not a sub-workflow; a
 *        Manual Trigger stands first instead)
 */
function tenantSubWorkflow(o) {
	const body = '($json.body || {})';
	const first =
		o.trigger === false
			? { id: 'manual', name: 'Manual Trigger', type: 'n8n-nodes-base.manualTrigger', typeVersion: 1, position: [0, 0], parameters: {} }
			: {
					id: 'sub-trigger',
					name: SUB_TRIGGER,
					type: 'n8n-nodes-base.executeWorkflowTrigger',
					typeVersion: 1.1,
					position: [0, 0],
					parameters: { inputSource: 'passthrough' },
				};
	/** @type {any[]} */
	const chain = [first];
	if (o.slowStep) {
		chain.push({
			id: 'slow',
			name: 'Slow Step',
			type: 'n8n-nodes-base.httpRequest',
			typeVersion: 4.2,
			position: [0, 0],
			parameters: { method: 'GET', url: `=${o.echoUrl}/echo?delay={{ ${body}.slowMs || 0 }}`, options: {} },
		});
	}
	const call = callTenantApi(o.kind, o.echoUrl, o.credential, 0);
	if (o.echoQueryFromBody) {
		call.parameters.url = `=${o.echoUrl}/echo?delay={{ ${body}.delay || 0 }}&status={{ ${body}.status || 200 }}`;
	}
	// The slow step's output replaces the item: the call takes the trigger's item for its URL.
	if (o.slowStep && o.echoQueryFromBody) {
		call.parameters.url = `=${o.echoUrl}/echo?delay={{ ($('${SUB_TRIGGER}').item.json.body || {}).delay || 0 }}&status={{ ($('${SUB_TRIGGER}').item.json.body || {}).status || 200 }}`;
	}
	chain.push(call);
	const pick = o.pick ?? 'set';
	if (pick === 'set') {
		chain.push(
			setNode('Pick', {
				tenantSecret: { type: 'string', value: '={{ $json.tenantSecret }}' },
				tenantSecretHash: { type: 'string', value: '={{ $json.tenantSecretHash }}' },
				bearerClient: { type: 'string', value: '={{ $json.bearerClient }}' },
				bearerClientHash: { type: 'string', value: '={{ $json.bearerClientHash }}' },
			}),
		);
	} else if (pick === 'code') {
		chain.push(
			codeNode(
				'Pick',
				'return $input.all().map(({ json }) => ({ json: { tenantSecret: json.tenantSecret, tenantSecretHash: json.tenantSecretHash, bearerClient: json.bearerClient, bearerClientHash: json.bearerClientHash } }));',
			),
		);
	}
	chain.push(...(o.extraNodes ?? []));
	const nodes = chain.map((node, index) => ({ ...node, position: [index * 220, 0] }));
	/** @type {Record<string, any>} */
	const connections = {};
	for (let i = 0; i + 1 < nodes.length; i++) {
		connections[nodes[i].name] = { main: [[{ node: nodes[i + 1].name, type: 'main', index: 0 }]] };
	}
	return { name: o.name, settings: { executionOrder: 'v1' }, nodes, connections };
}

/**
 * Webhook (POST `path`, answers with the last node's first item) -> [before...] -> Run With Tenant Credential.
 * @param {{name: string, path: string, before?: any[]} & Parameters<typeof runWithTenantNode>[0]} o
 */
function runWithTenantWorkflow(o) {
	const { name, path: workflowPath, before, ...node } = o;
	return chainWorkflow({ name, path: workflowPath, nodes: [...(before ?? []), runWithTenantNode(node)] });
}

/**
 * The control for Run With Tenant Credential: Webhook -> PATCH the shared placeholder credential without a
 * lock -> Execute Workflow (v1.1, from the database) of a sub-workflow wired to that shared credential.
 * @param {{name: string, path: string, kind: 'headerAuth'|'oauth2', sharedCredential: Ref, subWorkflowId: string,
 *          apiUrl: string, apiKey: string, echoUrl: string}} o
 */
function sharedSubWorkflowControl(o) {
	const workflow = /** @type {any} */ (unlockedWorkflow({ name: o.name, path: o.path, kind: o.kind, baseCredential: o.sharedCredential, apiUrl: o.apiUrl, apiKey: o.apiKey, echoUrl: o.echoUrl }));
	workflow.nodes = workflow.nodes.filter((/** @type {any} */ node) => node.name !== 'Call Tenant API');
	workflow.nodes.push({
		id: 'execute',
		name: 'Execute Sub-Workflow',
		type: 'n8n-nodes-base.executeWorkflow',
		typeVersion: 1.1,
		position: [440, 0],
		parameters: { source: 'database', workflowId: { __rl: true, mode: 'id', value: o.subWorkflowId }, mode: 'once', options: {} },
	});
	workflow.connections['Patch Base Credential'] = { main: [[{ node: 'Execute Sub-Workflow', type: 'main', index: 0 }]] };
	return workflow;
}

module.exports = {
	allowedFieldsFor,
	insertAfterSwap,
	withSwapOptions,
	PACKAGE,
	exampleWorkflow,
	perTenantExampleWorkflow,
	runWithTenantExampleSubWorkflow,
	runWithTenantExampleWorkflow,
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
	setNode,
	chainWorkflow,
	RUN_WITH_TENANT,
	SUB_TRIGGER,
	runWithTenantNode,
	tenantSubWorkflow,
	runWithTenantWorkflow,
	sharedSubWorkflowControl,
};
