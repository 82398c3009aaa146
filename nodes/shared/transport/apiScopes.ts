/**
 * The n8n API key scopes the nodes use: one list for the credential's tooltip, the credential test,
 * the nodes' errors and the README (a test checks the README against it).
 */
export const API_SCOPES = [
	'credential:list',
	'credential:read',
	'credential:create',
	'credential:update',
	'credential:delete',
	'execution:read',
] as const;

/** Scopes only Run With Tenant Credential uses (reading the sub-workflow and the calling workflow, and From List). */
export const RUN_WITH_TENANT_SCOPES = ['workflow:read', 'workflow:list'] as const;

export type ApiScope = (typeof API_SCOPES)[number] | (typeof RUN_WITH_TENANT_SCOPES)[number];

export const API_SCOPES_TEXT = API_SCOPES.join(', ');

/** Which scope each API call of the nodes needs (the operation names of N8nApiClient). */
export const SCOPE_OF_OPERATION: Record<string, ApiScope> = {
	'list credentials': 'credential:list',
	'read credential': 'credential:read',
	'test credential': 'credential:read',
	'create temporary credential': 'credential:create',
	'update base credential': 'credential:update',
	'delete temporary credential': 'credential:delete',
	'read execution': 'execution:read',
	'create tenant credential': 'credential:create',
	'delete tenant credential': 'credential:delete',
	'read workflow': 'workflow:read',
	'list workflows': 'workflow:list',
};

/** What the nodes do with each scope, for messages that name a missing one. */
export const SCOPE_PURPOSE: Record<ApiScope, string> = {
	'credential:list': 'find the base credential by name and in From List',
	'credential:read': 'read the base credential by ID and run Test Credential (n8n 2.20+)',
	'credential:create': 'create the temporary credential',
	'credential:update': 'update the base credential',
	'credential:delete': 'delete the temporary credential',
	'execution:read': 'Renew Lock While Running (follow the execution that holds a lock)',
	'workflow:read': 'read the sub-workflow of Run With Tenant Credential',
	'workflow:list': 'list workflows in the Sub-Workflow parameter of Run With Tenant Credential',
};

/**
 * One harmless request per scope: IDs that do not exist, so n8n answers 404 (or 400) once the scope
 * check passed, and 403 when the key lacks the scope. Nothing is created or changed.
 */
export const SCOPE_PROBES: ReadonlyArray<{ scope: ApiScope; method: 'GET' | 'POST' | 'PATCH' | 'DELETE'; path: string; body?: object }> = [
	{ scope: 'credential:list', method: 'GET', path: '/credentials?limit=1' },
	{ scope: 'credential:read', method: 'GET', path: '/credentials/tenantSwapScopeProbe0' },
	// An empty body: refused as invalid (400) after the scope check, so nothing is created.
	{ scope: 'credential:create', method: 'POST', path: '/credentials', body: {} },
	{ scope: 'credential:update', method: 'PATCH', path: '/credentials/tenantSwapScopeProbe0', body: { data: {} } },
	{ scope: 'credential:delete', method: 'DELETE', path: '/credentials/tenantSwapScopeProbe0' },
	{ scope: 'execution:read', method: 'GET', path: '/executions/0?includeData=false' },
];

/** Probes of the scopes only Run With Tenant Credential needs: a 404 about the made-up workflow means the scope is there. */
export const RUN_WITH_TENANT_SCOPE_PROBES: ReadonlyArray<{ scope: ApiScope; method: 'GET'; path: string }> = [
	{ scope: 'workflow:read', method: 'GET', path: '/workflows/tenantSwapScopeProbe0' },
	{ scope: 'workflow:list', method: 'GET', path: '/workflows?limit=1' },
];

export interface ScopeReport {
	/** Scopes n8n refused (403). */
	missing: ApiScope[];
	/** Scopes whose endpoint this n8n version does not have (404/405 without "not found" of the object). */
	unavailable: ApiScope[];
	/** Probes that gave another answer, with it (status or error), for the message. */
	unclear: Array<{ scope: ApiScope; answer: string }>;
}

/** `/credentials/<id>`: the one path of n8n's public API that addresses a credential by ID (not `/credentials/schema/<type>`); see isCredentialGone. */
export const CREDENTIAL_BY_ID_PATH = /^\/credentials\/(?!schema\/)[^/?]+$/;

/** Scopes probed on `/credentials/<id>`: there any 404 is about the made-up credential (n8n's words differ by role), never a missing route (that is 405). */
const BY_ID_SCOPES = new Set<ApiScope>(SCOPE_PROBES.filter((probe) => CREDENTIAL_BY_ID_PATH.test(probe.path)).map((probe) => probe.scope));

/** Reads the answers of the probes (status per scope) into a report. */
export function scopeReport(answers: Array<{ scope: ApiScope; status?: number; message?: string }>): ScopeReport {
	const report: ScopeReport = { missing: [], unavailable: [], unclear: [] };
	for (const { scope, status, message } of answers) {
		if (status === 403) report.missing.push(scope);
		// A 404 about the probe's made-up ID means the scope check passed; any other 404 (or 405): no such route.
		else if (status === 405 || (status === 404 && !BY_ID_SCOPES.has(scope) && !/(credential|execution).*not found/i.test(message ?? ''))) report.unavailable.push(scope);
		else if (status === undefined || status === 401 || status >= 500) report.unclear.push({ scope, answer: status === undefined ? (message ?? 'no answer') : `HTTP ${status}` });
	}
	return report;
}

/** "needs credential:update (update the base credential)" for each missing scope. */
export function describeMissingScopes(missing: readonly ApiScope[]): string {
	return missing.map((scope) => `${scope} (to ${SCOPE_PURPOSE[scope]})`).join(', ');
}
