import type {
	ICredentialsDecrypted,
	ICredentialTestFunctions,
	INodeCredentialTestResult,
} from 'n8n-workflow';

import {
	API_SCOPES_TEXT,
	describeMissingScopes,
	RUN_WITH_TENANT_SCOPE_PROBES,
	SCOPE_PROBES,
	scopeReport,
	type ApiScope,
} from './apiScopes';
import { normaliseBaseUrl } from './publicApiTransport';

interface Answer {
	statusCode?: number;
	message: string;
}

/**
 * Checks the key against every endpoint the nodes use (one harmless request per scope), and says
 * in words what is wrong: unreachable, refused key, an n8n too old, or which scopes are missing.
 */
export async function tenantSwapN8nApiTest(
	this: ICredentialTestFunctions,
	credential: ICredentialsDecrypted,
): Promise<INodeCredentialTestResult> {
	const data = credential.data ?? {};
	const baseUrl = normaliseBaseUrl(String(data.baseUrl ?? ''));
	if (!/^https?:\/\//.test(baseUrl)) {
		return { status: 'Error', message: 'Base URL must start with http:// or https:// and end in /api/v1' };
	}
	const ask = async (probe: { method: string; path: string; body?: object }): Promise<Answer> => {
		try {
			const response = (await this.helpers.request({
				method: probe.method,
				uri: `${baseUrl}${probe.path}`,
				body: probe.body,
				headers: { 'X-N8N-API-KEY': String(data.apiKey ?? ''), accept: 'application/json' },
				json: true,
				rejectUnauthorized: data.allowUnauthorizedCerts !== true,
				resolveWithFullResponse: true,
				simple: false,
				timeout: 15_000,
			})) as { statusCode: number; body?: { message?: string } | string };
			const body = response.body;
			return { statusCode: response.statusCode, message: typeof body === 'object' && body ? String(body.message ?? '') : String(body ?? '') };
		} catch (error) {
			const failure = error as { statusCode?: number; response?: { status?: number }; message?: string };
			return { statusCode: failure.statusCode ?? failure.response?.status, message: failure.message ?? 'no answer' };
		}
	};

	const [listProbe, ...otherProbes] = SCOPE_PROBES;
	const list = await ask(listProbe);
	if (list.statusCode === undefined) return { status: 'Error', message: `Cannot reach ${baseUrl}: ${list.message}` };
	if (list.statusCode === 401) return { status: 'Error', message: 'n8n refused the API key (401): check it in Settings > n8n API' };
	if (scopeReport([{ scope: listProbe.scope, status: list.statusCode, message: list.message }]).unavailable.length > 0) {
		return {
			status: 'Error',
			message: `This n8n has no credential API at ${baseUrl} (HTTP ${list.statusCode}): check that the URL ends in /api/v1. The nodes need n8n 2.8 or later: n8n 1.x and 2.0 to 2.7 cannot update a credential through the public API.`,
		};
	}
	const answers: Array<{ scope: ApiScope; status?: number; message?: string }> = [
		{ scope: listProbe.scope, status: list.statusCode, message: list.message },
	];
	for (const probe of otherProbes) {
		const answer = await ask(probe);
		answers.push({ scope: probe.scope, status: answer.statusCode, message: answer.message });
	}
	const report = scopeReport(answers);
	if (report.missing.length > 0) {
		return {
			status: 'Error',
			message: `The API key lacks ${report.missing.length === 1 ? 'the scope' : 'the scopes'} ${describeMissingScopes(report.missing)}. Give it all of: ${API_SCOPES_TEXT}.`,
		};
	}
	if (report.unclear.length > 0) {
		return {
			status: 'Error',
			message: `n8n gave unexpected answers: ${report.unclear.map((u) => `${u.scope}: ${u.answer}`).join('; ')}`,
		};
	}
	const notes: string[] = [];
	// n8n 2.8 to 2.19 has no credential read by ID: the swap finds credentials through the list.
	if (report.unavailable.includes('credential:read')) notes.push('this n8n is older than 2.20: Test Credential in the swap is not available');
	// Only Run With Tenant Credential reads workflows: without these scopes the swap and Release Lock work.
	const workflowScopesMissing: ApiScope[] = [];
	for (const probe of RUN_WITH_TENANT_SCOPE_PROBES) {
		if ((await ask(probe)).statusCode === 403) workflowScopesMissing.push(probe.scope);
	}
	if (workflowScopesMissing.length > 0) notes.push(`for Run With Tenant Credential the key also needs ${describeMissingScopes(workflowScopesMissing)}`);
	return { status: 'OK', message: notes.length > 0 ? `Connection successful (${notes.join('; ')})` : 'Connection successful' };
}
