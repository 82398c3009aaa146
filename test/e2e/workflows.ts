/** Workflow JSON for the end-to-end tests (and the shape of examples/). */

export const PACKAGE = 'n8n-nodes-tenant-credential-swap';
type Ref = { id: string; name: string };

export interface LockedWorkflowOptions {
	name: string;
	path: string;
	baseCredential: Ref;
	/** httpHeaderAuth (header x-tenant-secret) or oAuth2Api (client credentials). */
	kind: 'headerAuth' | 'oauth2';
	n8nApi: Ref;
	postgres: Ref;
	echoUrl: string;
	lockScope?: 'baseCredential' | 'tenant';
	/** Expression for the base credential ID (per-tenant base credentials). */
	baseCredentialExpression?: string;
}

function webhook(path: string) {
	return {
		id: 'webhook',
		name: 'Webhook',
		type: 'n8n-nodes-base.webhook',
		typeVersion: 2,
		position: [0, 0],
		webhookId: path,
		parameters: { httpMethod: 'POST', path, responseMode: 'lastNode', responseData: 'firstEntryJson', options: {} },
	};
}

function callTenantApi(kind: LockedWorkflowOptions['kind'], echoUrl: string, credential: Ref, x: number) {
	const auth =
		kind === 'oauth2'
			? { genericAuthType: 'oAuth2Api', credentials: { oAuth2Api: credential }, url: `${echoUrl}/echo` }
			: { genericAuthType: 'httpHeaderAuth', credentials: { httpHeaderAuth: credential }, url: `${echoUrl}/echo` };
	return {
		id: 'call',
		name: 'Call Tenant API',
		type: 'n8n-nodes-base.httpRequest',
		typeVersion: 4.2,
		position: [x, 0],
		parameters: { method: 'GET', url: auth.url, authentication: 'genericCredentialType', genericAuthType: auth.genericAuthType, options: {} },
		credentials: auth.credentials,
	};
}

/** The data expression: the tenant's secret from the webhook body, as the base credential's fields. */
export function dataExpression(kind: LockedWorkflowOptions['kind'], echoUrl: string): string {
	return kind === 'oauth2'
		? `={{ { "grantType": "clientCredentials", "accessTokenUrl": "${echoUrl}/oauth/token", "clientId": $json.body.tenantId, "clientSecret": $json.body.secret, "authentication": "body", "scope": "" } }}`
		: '={{ { "name": "x-tenant-secret", "value": $json.body.secret } }}';
}

export function lockedWorkflow(o: LockedWorkflowOptions) {
	return {
		name: o.name,
		settings: { executionOrder: 'v1', saveDataSuccessExecution: 'all' },
		nodes: [
			webhook(o.path),
			{
				id: 'swap',
				name: 'Tenant Credential Swap',
				type: `${PACKAGE}.tenantCredentialSwap`,
				typeVersion: 1,
				position: [220, 0],
				parameters: {
					baseCredential: o.baseCredentialExpression
						? { __rl: true, mode: 'id', value: o.baseCredentialExpression }
						: { __rl: true, mode: 'id', value: o.baseCredential.id },
					tenantId: '={{ $json.body.tenantId }}',
					credentialData: dataExpression(o.kind, o.echoUrl),
					lockBackend: 'postgres',
					options: { lockScope: o.lockScope ?? 'baseCredential', waitTimeout: 600, lockTtl: 120 },
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

/** The pattern without a lock: PATCH the base credential straight from an HTTP Request node. */
export function unlockedWorkflow(o: {
	name: string;
	path: string;
	kind: LockedWorkflowOptions['kind'];
	baseCredential: Ref;
	apiUrl: string;
	apiKey: string;
	echoUrl: string;
	partialData?: boolean;
}) {
	const data = dataExpression(o.kind, o.echoUrl).replace(/^=\{\{ /, '').replace(/ \}\}$/, '');
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
