/**
 * The per-process cache of base credentials read by ID stays bounded however many credentials a
 * long-running n8n swaps, and a cached entry spares the next execution its API read.
 * The n8n API is scripted: only the number of reads matters here, not n8n's answers.
 */
import { RESOLVED_BY_ID_MAX, resolveBaseCredentials, resolvedCacheSize } from '../../nodes/shared/swap/plan';
import type { SwapRequest } from '../../nodes/shared/swap/types';
import { N8nApiClient, type ApiRequest } from '../../nodes/shared/transport/n8nApiClient';

function scriptedApi() {
	const reads: string[] = [];
	const api = new N8nApiClient(
		{
			instanceId: 'scripted',
			async send(request: ApiRequest) {
				reads.push(request.path);
				const id = decodeURIComponent(request.path.split('/').pop() ?? '');
				return { statusCode: 200, body: { id, name: `base ${id}`, type: 'httpHeaderAuth', updatedAt: '2026-01-01T00:00:00.000Z' } };
			},
		},
		{ attempts: 1, baseDelayMs: 0, maxDelayMs: 0 },
	);
	return { api, reads };
}

const request = (id: string): SwapRequest => ({
	itemIndex: 0,
	baseCredential: { mode: 'id', value: id },
	tenantId: 't',
	data: {},
	options: {} as SwapRequest['options'],
});

describe('base credentials read by ID', () => {
	it('a second execution within the minute reads nothing; the cache never holds more than its bound', async () => {
		const { api, reads } = scriptedApi();
		await resolveBaseCredentials(api, 'inst-cache', [request('first')]);
		await resolveBaseCredentials(api, 'inst-cache', [request('first')]);
		expect(reads.filter((path) => path.endsWith('/first'))).toHaveLength(1);

		for (let i = 0; i < RESOLVED_BY_ID_MAX + 200; i++) await resolveBaseCredentials(api, 'inst-cache', [request(`cred-${i}`)]);
		expect(resolvedCacheSize()).toBeLessThanOrEqual(RESOLVED_BY_ID_MAX);
		// The newest entries stay: the last one read is still served from the cache.
		const before = reads.length;
		await resolveBaseCredentials(api, 'inst-cache', [request(`cred-${RESOLVED_BY_ID_MAX + 199}`)]);
		expect(reads.length).toBe(before);
	});
});
