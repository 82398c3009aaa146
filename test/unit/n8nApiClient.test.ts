import { N8nApiClient, type ApiRequest, type ApiResponse, type N8nApiTransport } from '../../nodes/shared/transport/n8nApiClient';
import { N8nApiError } from '../../nodes/shared/transport/n8nApiErrors';

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
		await expect(new N8nApiClient(transport, fast).deleteCredential('gone')).resolves.toBeUndefined();
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
