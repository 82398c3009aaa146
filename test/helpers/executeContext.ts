import type {
	ICredentialDataDecryptedObject,
	IExecuteFunctions,
	IHttpRequestOptions,
	INodeExecutionData,
	NodeExecutionHint,
} from 'n8n-workflow';

/** A parameter value, or a function of the item index (what an expression would give per item). */
export type ParameterValue = unknown | ((itemIndex: number) => unknown);

export interface ContextSpec {
	items: INodeExecutionData[];
	parameters: Record<string, ParameterValue>;
	credentials: Record<string, ICredentialDataDecryptedObject>;
	executionId: string;
	workflowId?: string;
	/** n8n's instance ID (default 'test-instance'): with the execution ID, the lock owner. */
	instanceId?: string;
	continueOnFail?: boolean;
	/** n8n's execution mode (default 'webhook'); 'manual' is a run from the editor. */
	mode?: string;
	/** What this.executeWorkflow does (Run With Tenant Credential's sub-execution); default: fails the test. */
	executeWorkflow?: (
		workflowInfo: unknown,
		items: INodeExecutionData[],
		options?: { parentExecution?: { executionId: string; workflowId: string; shouldResume?: boolean } },
	) => Promise<{ executionId: string; data: Array<INodeExecutionData[] | null>; waitTill?: Date }>;
	/** What this.getExecutionCancelSignal() returns (n8n's cancel signal for the execution). */
	cancelSignal?: AbortSignal;
	/** Replaces real HTTP for the few failure tests a real n8n cannot produce. */
	send?: (options: IHttpRequestOptions) => Promise<{ statusCode: number; body: unknown }>;
}

export interface TestContext {
	context: IExecuteFunctions;
	logs: string[];
	/** Execution hints the node added (n8n shows them in the output pane). */
	hints: NodeExecutionHint[];
	requests: IHttpRequestOptions[];
	/** The calling execution as n8n-core keeps it: its waitTill (set: n8n parks it after the node) and its status among the active executions. */
	execution: { waitTill?: Date; status: string };
}

/** n8n-core's WAIT_INDEFINITELY (n8n-workflow): what it puts the calling execution to wait until when a sub-execution paused. */
export const WAIT_INDEFINITELY = new Date(Date.UTC(3000, 0, 1));

function lookup(parameters: Record<string, ParameterValue>, name: string): unknown {
	if (name in parameters) return parameters[name];
	const [head, ...rest] = name.split('.');
	let value: unknown = parameters[head];
	for (const part of rest) {
		if (value === undefined || value === null || typeof value !== 'object') return undefined;
		value = (value as Record<string, unknown>)[part];
	}
	return value;
}

/** Real HTTP, as n8n's helper does it with `returnFullResponse` and `ignoreHttpStatusErrors`. */
export async function realHttp(options: IHttpRequestOptions, apiKey: string): Promise<{ statusCode: number; body: unknown }> {
	const url = new URL(options.url);
	for (const [key, value] of Object.entries(options.qs ?? {})) {
		if (value !== undefined) url.searchParams.set(key, String(value));
	}
	return await fetchJson(url, options.method ?? 'GET', { 'X-N8N-API-KEY': apiKey }, options.body);
}

/** One HTTP request with a JSON body; the answer's body parsed as JSON when it is JSON. */
export async function fetchJson(url: URL | string, method: string, headers: Record<string, string>, body?: unknown): Promise<{ statusCode: number; body: unknown }> {
	const response = await fetch(url, {
		method,
		headers: { ...headers, 'content-type': 'application/json', accept: 'application/json' },
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	const text = await response.text();
	let parsed: unknown = text;
	try {
		parsed = text ? JSON.parse(text) : undefined;
	} catch {
		// not JSON
	}
	return { statusCode: response.status, body: parsed };
}

/** Enough of IExecuteFunctions for our nodes, with real HTTP to a real n8n unless `send` is given. */
export function executeContext(spec: ContextSpec): TestContext {
	const logs: string[] = [];
	const hints: NodeExecutionHint[] = [];
	const requests: IHttpRequestOptions[] = [];
	const execution: TestContext['execution'] = { status: 'running' };
	const log = (level: string) => (message: string, meta?: object) => logs.push(`${level} ${message} ${meta ? JSON.stringify(meta) : ''}`);
	const node = { id: 'node-1', name: 'Node Under Test', type: 'test', typeVersion: 1, position: [0, 0], parameters: {} };
	const context = {
		getInputData: () => spec.items,
		getNodeParameter: (name: string, itemIndex: number, fallback?: unknown) => {
			const value = lookup(spec.parameters, name);
			const resolved = typeof value === 'function' ? (value as (i: number) => unknown)(itemIndex) : value;
			return resolved === undefined ? fallback : resolved;
		},
		getCredentials: async (type: string) => {
			const credentials = spec.credentials[type];
			if (!credentials) throw new Error(`No credentials of type ${type}`);
			return credentials;
		},
		getExecutionId: () => spec.executionId,
		getMode: () => spec.mode ?? 'webhook',
		getExecutionCancelSignal: () => spec.cancelSignal,
		executeWorkflow: async (workflowInfo: unknown, items: INodeExecutionData[], _callbacks?: unknown, options?: Parameters<NonNullable<ContextSpec['executeWorkflow']>>[2]) => {
			if (!spec.executeWorkflow) throw new Error('executeWorkflow was called, but the test gave none');
			const result = await spec.executeWorkflow(workflowInfo, items, options);
			// As n8n-core's BaseExecuteContext.executeWorkflow: a paused sub-execution puts the caller to wait.
			if (result.waitTill) await context.putExecutionToWait(WAIT_INDEFINITELY);
			return result;
		},
		putExecutionToWait: async (waitTill: Date | undefined) => {
			execution.waitTill = waitTill;
			context.additionalData.setExecutionStatus('waiting');
		},
		// n8n-core's node context keeps it (the workflow runner's setExecutionStatus sets the active execution's status).
		additionalData: {
			setExecutionStatus: (status: string) => {
				execution.status = status;
			},
		},
		getInstanceId: () => spec.instanceId ?? 'test-instance',
		getWorkflow: () => ({ id: spec.workflowId ?? 'workflow-1', name: 'Test workflow', active: true }),
		getNode: () => node,
		continueOnFail: () => spec.continueOnFail === true,
		addExecutionHints: (...added: NodeExecutionHint[]) => hints.push(...added),
		logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
		helpers: {
			httpRequestWithAuthentication: async (_type: string, options: IHttpRequestOptions) => {
				requests.push(options);
				if (spec.send) return await spec.send(options);
				const apiKey = String(spec.credentials.tenantSwapN8nApi?.apiKey ?? '');
				return await realHttp(options, apiKey);
			},
			// What the lease keeper uses once the execution has ended (the key travels in options.headers).
			httpRequest: async (options: IHttpRequestOptions) => {
				requests.push(options);
				if (spec.send) return await spec.send(options);
				const headers = (options.headers ?? {}) as Record<string, string>;
				return await realHttp(options, String(headers['X-N8N-API-KEY'] ?? ''));
			},
		},
	};
	return { context: context as unknown as IExecuteFunctions, logs, hints, requests, execution };
}
