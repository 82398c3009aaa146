/**
 * The per-process copy of sub-workflows: used as is while young, used once more while one background
 * read refreshes it, read by the execution itself when old or for the editor; kept apart per key.
 */
import { forgetCachedSubWorkflows, readWorkflow } from '../../nodes/shared/tenantCredentials/subWorkflow';
import { N8nApiClient, type ApiRequest, type N8nApiTransport } from '../../nodes/shared/transport/n8nApiClient';

let now = 1_000_000;
let version = 1;
const requests: ApiRequest[] = [];
const transport: N8nApiTransport = {
	instanceId: 'http://n8n.test/api/v1',
	send: async (request) => {
		requests.push(request);
		return { statusCode: 200, body: { id: 'w1', name: `v${version}`, nodes: [], connections: {} } };
	},
};
const api = new N8nApiClient(transport, { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 });
const settle = async () => await new Promise((resolve) => setImmediate(resolve));

beforeEach(() => {
	forgetCachedSubWorkflows();
	requests.length = 0;
	version = 1;
	jest.spyOn(Date, 'now').mockImplementation(() => now);
});
afterEach(() => jest.restoreAllMocks());

it('serves a young copy without asking, an older one once while refreshing it, and reads an old one itself', async () => {
	expect((await readWorkflow(api, 'k1', 'w1', false)).name).toBe('v1');
	version = 2;
	now += 4_000;
	expect((await readWorkflow(api, 'k1', 'w1', false)).name).toBe('v1');
	expect(requests).toHaveLength(1);

	now += 2_000; // 6 s old: served, and one refresh starts
	expect((await readWorkflow(api, 'k1', 'w1', false)).name).toBe('v1');
	expect((await readWorkflow(api, 'k1', 'w1', false)).name).toBe('v1');
	await settle();
	expect(requests).toHaveLength(2);
	expect((await readWorkflow(api, 'k1', 'w1', false)).name).toBe('v2');

	version = 3;
	now += 120_000; // too old to serve: this execution waits for the read
	expect((await readWorkflow(api, 'k1', 'w1', false)).name).toBe('v3');
	expect(requests).toHaveLength(3);
});

it('reads fresh for the editor, and keeps one key\'s copy from another key', async () => {
	await readWorkflow(api, 'k1', 'w1', false);
	version = 2;
	expect((await readWorkflow(api, 'k1', 'w1', true)).name).toBe('v2');
	expect((await readWorkflow(api, 'k2', 'w1', false)).name).toBe('v2');
	expect(requests).toHaveLength(3);
});
