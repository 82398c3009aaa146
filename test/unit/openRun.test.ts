import type { IExecuteFunctions } from 'n8n-workflow';

import { openRun } from '../../nodes/RunWithTenantCredential/actions/runContext';

/** A node whose two credential reads (lock's postgres, n8n API) answer only when the test says so. */
function nodeWithHeldCredentials() {
	const asked: string[] = [];
	const answers = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
	const node = {
		getNodeParameter: (name: string, _item: number, fallback?: unknown) => (name === 'lockBackend' ? 'postgres' : fallback),
		getCredentials: async (type: string) => {
			asked.push(type);
			return await new Promise((resolve, reject) => answers.set(type, { resolve, reject }));
		},
		getNode: () => ({ name: 'Run With Tenant Credential', type: 'runWithTenantCredential', typeVersion: 1, parameters: {} }),
	} as unknown as IExecuteFunctions;
	return { node, asked, answers };
}

const tick = async () => await new Promise((resolve) => setImmediate(resolve));

describe('openRun: the lock credential and the n8n API credential are read from n8n at once', () => {
	it('asks for both before either answers (one database round trip, not two in a row)', async () => {
		const { node, asked, answers } = nodeWithHeldCredentials();
		const opening = openRun(node);
		opening.catch(() => undefined);
		await tick();
		expect(asked.sort()).toEqual(['postgres', 'tenantSwapN8nApi']);
		answers.get('tenantSwapN8nApi')?.reject(new Error('no API credential'));
		answers.get('postgres')?.reject(new Error('no postgres credential'));
		await expect(opening).rejects.toThrow();
	});

	it("when both reads fail, the lock's failure is the one reported (as when they ran one after the other)", async () => {
		const { node, answers } = nodeWithHeldCredentials();
		const opening = openRun(node);
		opening.catch(() => undefined);
		await tick();
		// The API credential's failure arrives first: it still does not win.
		answers.get('tenantSwapN8nApi')?.reject(new Error('no API credential'));
		await tick();
		answers.get('postgres')?.reject(new Error('no postgres credential'));
		await expect(opening).rejects.toThrow('no postgres credential');
	});
});
