/**
 * Runs the Tenant OAuth2 Connect node (Create Connect Link, Disconnect) through the execute-context
 * harness, with n8n's public API answered by a FakeCredentialsApi.
 */
import type { IDataObject, IHttpRequestOptions, INodeExecutionData } from 'n8n-workflow';

import { TenantOAuth2Connect } from '../../nodes/TenantOAuth2Connect/TenantOAuth2Connect.node';
import { executeContext, type ContextSpec, type ParameterValue, type TestContext } from './executeContext';
import type { FakeCredentialsApi } from './fakeN8n';

const node = new TenantOAuth2Connect();

/** executeContext's `send`: n8n's HTTP helper options, answered by the fake at its Base URL. */
export function sendTo(api: FakeCredentialsApi): (options: IHttpRequestOptions) => Promise<{ statusCode: number; body: unknown }> {
	return async (options) => {
		const url = new URL(options.url);
		const path = url.pathname.replace(/^\/api\/v1/, '');
		return await api.send({ method: options.method ?? 'GET', path, qs: options.qs as IDataObject | undefined, body: options.body as IDataObject | undefined });
	};
}

export interface ConnectRun {
	output?: INodeExecutionData[];
	error?: Error & { description?: string };
	harness: TestContext;
}

/** One execution of the node; its error (if it threw) instead of a rejection. */
export async function runConnectNode(
	parameters: Record<string, ParameterValue>,
	items: INodeExecutionData[],
	options: { api?: FakeCredentialsApi; credentials?: ContextSpec['credentials']; continueOnFail?: boolean } = {},
): Promise<ConnectRun> {
	const credentials: ContextSpec['credentials'] = {
		tenantSwapN8nApi: { baseUrl: options.api?.instanceId ?? 'http://n8n.invalid/api/v1', apiKey: 'test-key' },
		...options.credentials,
	};
	const harness = executeContext({
		items,
		parameters,
		credentials,
		executionId: `exec-${Math.random().toString(36).slice(2)}`,
		continueOnFail: options.continueOnFail,
		send: options.api ? sendTo(options.api) : async () => ({ statusCode: 500, body: { message: 'no n8n API in this test' } }),
	});
	try {
		const [output] = await node.execute.call(harness.context);
		return { output, harness };
	} catch (error) {
		return { error: error as Error, harness };
	}
}

/** n input items (the node reads everything from parameters). */
export const items = (count: number): INodeExecutionData[] => Array.from({ length: count }, (_, index) => ({ json: { index } }));
