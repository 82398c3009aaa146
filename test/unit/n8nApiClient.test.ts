import { NodeOperationError, type IExecuteFunctions, type IHttpRequestOptions } from 'n8n-workflow';

import {
	DEFAULT_RETRY,
	N8nApiClient,
	setDefaultRetryOptions,
	type ApiRequest,
	type ApiResponse,
	type N8nApiTransport,
} from '../../nodes/shared/transport/n8nApiClient';
import { N8nApiError } from '../../nodes/shared/transport/n8nApiErrors';
import { DEFAULT_REQUEST_TIMEOUT_MS, PublicApiTransport, setRequestTimeoutMs } from '../../nodes/shared/transport/publicApiTransport';

/** Scripted answers: failures a real n8n cannot be made to produce on demand. */
class ScriptedTransport implements N8nApiTransport {
	readonly instanceId = `scripted-${Math.random()}`;
	readonly sent: ApiRequest[] = [];
	constructor(private readonly answers: Array<ApiResponse | Error>) {}
	async send(request: ApiRequest): Promise<ApiResponse> {
		this.sent.push(request);
		const answer = this.answers.shift();
		if (!answer) throw new Error('no scripted answer left');
		if (answer instanceof Error) throw answer;
		return answer;
	}
}

const fast = { attempts: 4, baseDelayMs: 1, maxDelayMs: 5 };
const networkError = (code: string) => Object.assign(new Error(`socket ${code}`), { code });
const ok = (body: unknown): ApiResponse => ({ statusCode: 200, body });
const dbNotReady: ApiResponse = { statusCode: 503, body: { message: 'Database is not ready!' } };

describe('N8nApiClient retries', () => {
	it('retries 503 "Database is not ready" and resets on a safe call', async () => {
		const transport = new ScriptedTransport([dbNotReady, networkError('ECONNRESET'), ok({ id: '1', name: 'b', type: 't' })]);
		const client = new N8nApiClient(transport, fast);
		await expect(client.updateCredential('1', { data: { value: 'v' } })).resolves.toMatchObject({ id: '1' });
		expect(transport.sent).toHaveLength(3);
	});

	it('gives up after the attempts with the last error', async () => {
		const transport = new ScriptedTransport([dbNotReady, dbNotReady, dbNotReady, dbNotReady]);
		const client = new N8nApiClient(transport, fast);
		await expect(client.getSchema(`type-${Math.random()}`)).rejects.toMatchObject({ status: 503 });
		expect(transport.sent).toHaveLength(4);
	});

	it('repeats a create only when n8n cannot have processed it', async () => {
		const created = ok({ id: 'tmp', name: 'tmp', type: 't' });
		const retried = new ScriptedTransport([dbNotReady, networkError('ECONNREFUSED'), created]);
		await expect(new N8nApiClient(retried, fast).createCredential({ name: 'n', type: 't', data: {} })).resolves.toMatchObject({ id: 'tmp' });
		expect(retried.sent).toHaveLength(3);

		// A reset or a 500 may come after n8n created it: repeating could leave a second temporary credential.
		for (const failure of [networkError('ECONNRESET'), { statusCode: 500, body: { message: 'boom' } }]) {
			const once = new ScriptedTransport([failure, created]);
			await expect(new N8nApiClient(once, fast).createCredential({ name: 'n', type: 't', data: {} })).rejects.toBeInstanceOf(N8nApiError);
			expect(once.sent).toHaveLength(1);
		}
	});

	it('does not retry client errors', async () => {
		const transport = new ScriptedTransport([{ statusCode: 400, body: { message: 'request.body.data is not allowed to have the additional property "bogus"' } }]);
		const error = await new N8nApiClient(transport, fast).updateCredential('1', { data: { bogus: 'x' } }).catch((e) => e);
		expect(error).toBeInstanceOf(N8nApiError);
		expect(error.status).toBe(400);
		expect(transport.sent).toHaveLength(1);
	});

	it('treats a temporary credential that is already gone as deleted', async () => {
		const transport = new ScriptedTransport([{ statusCode: 404, body: { message: 'Credential not found' } }]);
		await expect(new N8nApiClient(transport, fast).deleteCredential('gone')).resolves.toBe('gone');
	});

	it('caches a type schema per instance', async () => {
		const transport = new ScriptedTransport([ok({ properties: { value: { type: 'string' } } })]);
		const client = new N8nApiClient(transport, fast);
		await client.getSchema('cachedType');
		await client.getSchema('cachedType');
		expect(transport.sent).toHaveLength(1);
	});

	it('explains missing endpoints, bad keys and missing scopes', () => {
		expect(new N8nApiError('update base credential', 405, 'Method Not Allowed').hint).toContain('n8n 2.8');
		expect(new N8nApiError('x', 401, 'Unauthorized').hint).toContain('API key');
		expect(new N8nApiError('x', 403, 'Forbidden').hint).toContain('credential:update');
		expect(new N8nApiError('x', 404, 'Credential not found').hint).toBeUndefined();
	});
});

describe('N8nApiClient fault handling', () => {
	afterEach(() => {
		setDefaultRetryOptions();
		setRequestTimeoutMs();
	});

	/** How n8n's httpRequestWithAuthentication throws a network failure: a NodeApiError, axios' error (with the code) as cause. */
	const n8nWrapped = (code: string) => Object.assign(new Error('The connection to the server was closed unexpectedly'), { cause: networkError(code) });

	it('finds the network code in the cause chain, as n8n wraps it', async () => {
		const patched = new ScriptedTransport([n8nWrapped('ECONNRESET'), ok({ id: '1', name: 'b', type: 't' })]);
		await expect(new N8nApiClient(patched, fast).updateCredential('1', { data: {} })).resolves.toMatchObject({ id: '1' });
		expect(patched.sent).toHaveLength(2);

		// Refused: nothing was sent, a create may be repeated. Timed out: n8n may have created it, no repeat.
		const refused = new ScriptedTransport([n8nWrapped('ECONNREFUSED'), ok({ id: 'tmp', name: 'n', type: 't' })]);
		await expect(new N8nApiClient(refused, fast).createCredential({ name: 'n', type: 't', data: {} })).resolves.toMatchObject({ id: 'tmp' });
		const timedOut = new ScriptedTransport([n8nWrapped('ECONNABORTED'), ok({ id: 'tmp', name: 'n', type: 't' })]);
		const error = await new N8nApiClient(timedOut, fast).createCredential({ name: 'n', type: 't', data: {} }).catch((e) => e);
		expect(error).toMatchObject({ code: 'ECONNABORTED', timedOut: true, attempts: 1 });
		expect(timedOut.sent).toHaveLength(1);
	});

	it('names the step and the attempts, and tells what to do per fault', async () => {
		const failing = new ScriptedTransport([dbNotReady, dbNotReady, dbNotReady, { statusCode: 500, body: { message: 'boom' } }]);
		const error = await new N8nApiClient(failing, fast).updateCredential('1', { data: {} }).catch((e) => e);
		expect(error.message).toBe('n8n API answered 500 during update base credential: boom (gave up after 4 attempts)');
		expect(error.hint).toMatch(/kept failing \(HTTP 500\)\. Run the execution again later.*DB_POSTGRESDB_POOL_SIZE/);
		expect(new N8nApiError('x', undefined, 'timeout of 30000ms exceeded', 'ECONNABORTED').hint).toMatch(/did not answer in time/);
		expect(new N8nApiError('x', undefined, 'connect ECONNREFUSED', 'ECONNREFUSED').hint).toMatch(/Nothing accepted the connection/);
		expect(new N8nApiError('x', undefined, 'socket hang up', 'ECONNRESET').hint).toMatch(/connection to n8n's API failed\. Run the execution again/);
	});

	it('uses the retry settings set for tests by clients without their own, and the defaults again after', async () => {
		setDefaultRetryOptions({ attempts: 2, baseDelayMs: 1, maxDelayMs: 1 });
		const transport = new ScriptedTransport([dbNotReady, dbNotReady, dbNotReady]);
		await expect(new N8nApiClient(transport).getCredential('1')).rejects.toMatchObject({ status: 503, attempts: 2 });
		expect(transport.sent).toHaveLength(2);
		setDefaultRetryOptions();
		expect(DEFAULT_RETRY).toEqual({ attempts: 8, baseDelayMs: 250, maxDelayMs: 5_000 });
	});

	it('never retries past the time left, read afresh at every send, and shrinks each request timeout to it', async () => {
		// Fails with the fix reverted (a deadline fixed at the call's start): the time left here shrinks
		// faster than the clock (a lease whose renewals stopped), and each attempt must see that.
		let lease = 400;
		const slow: N8nApiTransport & { sent: ApiRequest[] } = {
			instanceId: 'slow',
			sent: [],
			async send(request) {
				this.sent.push(request);
				lease -= 100;
				throw networkError('ECONNABORTED');
			},
		};
		const client = new N8nApiClient(slow, { attempts: 50, baseDelayMs: 1, maxDelayMs: 1 });
		const error = await client.getCredential('1', { timeLeftMs: () => lease, minimumTimeMs: 150 }).catch((e) => e);
		expect(error).toBeInstanceOf(N8nApiError);
		expect(error.timedOut).toBe(true);
		expect(error.hint).toMatch(/Retrying stopped early: the lock lease \(Lock TTL\) would run out/);
		// 400, 300, 200 left at the three sends; then 100 < 150: not sent.
		expect(slow.sent.map((request) => request.timeoutMs)).toEqual([400, 300, 200]);

		const unsent = new ScriptedTransport([ok({})]);
		const late = await new N8nApiClient(unsent, fast).updateCredential('1', { data: {} }, { timeLeftMs: () => 99, minimumTimeMs: 100 }).catch((e) => e);
		expect(late).toMatchObject({ code: 'ELEASE', attempts: 0, maybeProcessed: false });
		expect(unsent.sent).toHaveLength(0);
	});

	it('noBlindRetry: repeats only attempts n8n cannot have carried out, and throws the others at once', async () => {
		const updated = ok({ id: '1', name: 'b', type: 't' });
		const refusedFirst = new ScriptedTransport([dbNotReady, networkError('ECONNREFUSED'), updated]);
		await expect(new N8nApiClient(refusedFirst, fast).updateCredential('1', { data: {} }, { noBlindRetry: true })).resolves.toMatchObject({ id: '1' });
		expect(refusedFirst.sent).toHaveLength(3);
		for (const failure of [networkError('ECONNRESET'), networkError('ECONNABORTED'), { statusCode: 500, body: { message: 'boom' } }, { statusCode: 504, body: {} }]) {
			const once = new ScriptedTransport([failure, updated]);
			const error = await new N8nApiClient(once, fast).updateCredential('1', { data: {} }, { noBlindRetry: true }).catch((e) => e);
			expect(error).toMatchObject({ maybeProcessed: true });
			expect(once.sent).toHaveLength(1);
		}
	});

	it('the public API transport sends the request timeout (30 s unless a test sets it), shortened per request', async () => {
		const seen: IHttpRequestOptions[] = [];
		const context = {
			helpers: {
				httpRequestWithAuthentication: async (_type: string, options: IHttpRequestOptions) => {
					seen.push(options);
					return { statusCode: 200, body: '{}' };
				},
			},
		} as unknown as IExecuteFunctions;
		const transport = new PublicApiTransport(context, { baseUrl: 'http://127.0.0.1:1/api/v1/' });
		await transport.send({ method: 'GET', path: '/credentials' });
		setRequestTimeoutMs(1_500);
		await transport.send({ method: 'GET', path: '/credentials' });
		await transport.send({ method: 'GET', path: '/credentials', timeoutMs: 200 });
		expect(seen.map((options) => options.timeout)).toEqual([DEFAULT_REQUEST_TIMEOUT_MS, 1_500, 200]);
		expect(DEFAULT_REQUEST_TIMEOUT_MS).toBe(30_000);
		expect(seen[0].url).toBe('http://127.0.0.1:1/api/v1/credentials');
	});
});

describe('N8nApiClient network failure messages', () => {
	const node = { id: 'n', name: 'Node', type: 't', typeVersion: 1, position: [0, 0] as [number, number], parameters: {} };

	it.each(['ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'EAI_AGAIN'])(
		'%s: the step survives n8n\'s NodeOperationError (which replaces messages that contain error codes)',
		async (code) => {
			const transport = new ScriptedTransport([networkError(code)]);
			const error = await new N8nApiClient(transport, { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 }).getCredential('1').catch((e) => e);
			expect(error.code).toBe(code);
			const shown = new NodeOperationError(node, `Item 0: ${error.message}`);
			expect(shown.message).toBe(`Item 0: ${error.message}`);
			expect(shown.message).toContain('read credential');
		},
	);

	it('finds the code where n8n keeps a non-Error failure (errorResponse, httpCode)', async () => {
		const wrapped = Object.assign(new Error('The service refused the connection - perhaps it is offline'), { httpCode: 'ECONNREFUSED', errorResponse: { code: 'ECONNREFUSED' } });
		const transport = new ScriptedTransport([wrapped, ok({ id: 'tmp', name: 'n', type: 't' })]);
		await expect(new N8nApiClient(transport, fast).createCredential({ name: 'n', type: 't', data: {} })).resolves.toMatchObject({ id: 'tmp' });
		expect(transport.sent).toHaveLength(2);
	});
});

describe('N8nApiClient: may n8n have carried out a failed call?', () => {
	it.each([
		['refused every time', [networkError('ECONNREFUSED'), networkError('ECONNREFUSED')], false],
		['503 and 429 (answered before any work)', [dbNotReady, { statusCode: 429, body: {} }], false],
		['a timeout, then refused', [networkError('ECONNABORTED'), networkError('ECONNREFUSED')], true],
		['a 500, then 503', [{ statusCode: 500, body: {} }, dbNotReady], true],
		['a reset', [networkError('ECONNRESET'), dbNotReady], true],
	] as Array<[string, Array<ApiResponse | Error>, boolean]>)('%s: maybeProcessed %s', async (_name, answers, expected) => {
		const error = await new N8nApiClient(new ScriptedTransport(answers), { attempts: 2, baseDelayMs: 1, maxDelayMs: 1 })
			.updateCredential('1', { data: {} })
			.catch((e) => e);
		expect(error).toBeInstanceOf(N8nApiError);
		expect(error.maybeProcessed).toBe(expected);
	});
});

describe("n8n's own credential test bug (2.20.12: Header, Basic and Query Auth)", () => {
	const bug = 'Unrecognized node type: n8n-nodes-base.graphqlTool';

	it.each([
		['a test result', ok({ status: 'Error', message: bug })],
		['an error answer', { statusCode: 400, body: { message: bug } }],
	])('as %s, says it is a bug of that n8n version, not the data', async (_name, answer) => {
		const client = new N8nApiClient(new ScriptedTransport([answer]), fast);
		const result = await client.testCredential('tmp1');
		expect(result.status).toBe('Error');
		expect(result.message).toMatch(/^Unrecognized node type: n8n-nodes-base\.graphqlTool: a bug in this n8n version's credential test .* not a problem with the data\. Turn Test Credential off, or update n8n/);
	});

	it('other failed tests pass through unchanged', async () => {
		const client = new N8nApiClient(new ScriptedTransport([ok({ status: 'Error', message: 'Authorization failed' })]), fast);
		expect(await client.testCredential('tmp1')).toEqual({ status: 'Error', message: 'Authorization failed' });
	});
});
