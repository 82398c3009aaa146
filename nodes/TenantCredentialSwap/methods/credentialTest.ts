import type {
	ICredentialsDecrypted,
	ICredentialTestFunctions,
	INodeCredentialTestResult,
} from 'n8n-workflow';

import { normaliseBaseUrl } from '../../shared/transport/publicApiTransport';

/** Checks the key against the credential list endpoint, and says what is wrong in words. */
export async function tenantSwapN8nApiTest(
	this: ICredentialTestFunctions,
	credential: ICredentialsDecrypted,
): Promise<INodeCredentialTestResult> {
	const data = credential.data ?? {};
	const baseUrl = normaliseBaseUrl(String(data.baseUrl ?? ''));
	if (!/^https?:\/\//.test(baseUrl)) {
		return { status: 'Error', message: 'Base URL must start with http:// or https:// and end in /api/v1' };
	}
	let statusCode: number | undefined;
	let message = '';
	try {
		const response = (await this.helpers.request({
			method: 'GET',
			uri: `${baseUrl}/credentials`,
			qs: { limit: 1 },
			headers: { 'X-N8N-API-KEY': String(data.apiKey ?? ''), accept: 'application/json' },
			json: true,
			rejectUnauthorized: data.allowUnauthorizedCerts !== true,
			resolveWithFullResponse: true,
			simple: false,
			timeout: 15_000,
		})) as { statusCode: number; body?: { message?: string } };
		statusCode = response.statusCode;
		message = response.body?.message ?? '';
	} catch (error) {
		const failure = error as { statusCode?: number; response?: { status?: number }; message?: string };
		statusCode = failure.statusCode ?? failure.response?.status;
		if (statusCode === undefined) {
			return { status: 'Error', message: `Cannot reach ${baseUrl}: ${failure.message ?? 'no answer'}` };
		}
	}
	if (statusCode !== undefined && statusCode >= 200 && statusCode < 300) {
		return { status: 'OK', message: 'Connection successful' };
	}
	if (statusCode === 401) return { status: 'Error', message: 'n8n refused the API key (401): check it in Settings > n8n API' };
	if (statusCode === 403) {
		return {
			status: 'Error',
			message:
				'The API key lacks credential scopes (403): give it credential:list, credential:read, credential:create, credential:update and credential:delete',
		};
	}
	if (statusCode === 404) {
		return {
			status: 'Error',
			message: `No credential API at ${baseUrl} (404): check that the URL ends in /api/v1 and that n8n is 2.8 or later`,
		};
	}
	return { status: 'Error', message: `n8n answered ${statusCode}${message ? `: ${message}` : ''}` };
}
