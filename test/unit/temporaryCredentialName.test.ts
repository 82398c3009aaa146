import { validateWithTemporaryCredential } from '../../nodes/shared/swap/temporaryCredential';
import type { SwapContext, SwapGroup } from '../../nodes/shared/swap/types';

/** The name n8n is asked to give the temporary credential (the create call is stopped there). */
async function temporaryNameFor(tenantId: string): Promise<string> {
	const names: string[] = [];
	const context = {
		api: {
			createCredential: async ({ name }: { name: string }) => {
				names.push(name);
				throw new Error('stopped after the name');
			},
		},
		owner: { instanceId: 'i', executionId: '7', workflowId: 'w' },
	} as unknown as SwapContext;
	const group = { tenantId, base: { id: '1', name: 'base', type: 'httpHeaderAuth' }, data: { name: 'x', value: 'v' }, itemIndexes: [0], options: {} } as unknown as SwapGroup;
	await expect(validateWithTemporaryCredential(context, group)).rejects.toThrow('stopped after the name');
	return names[0];
}

describe('the temporary credential name', () => {
	it('shows the Tenant ID only as [A-Za-z0-9._@-], at most 40 characters (a caller cannot write text into n8n)', async () => {
		const name = await temporaryNameFor('Acme (verified by admin, do not delete) and a lot more text after it');
		expect(name).toMatch(/^tenant-swap tmp Acme__verified_by_admin__do_not_delete__ exec 7 [0-9a-f]{6}$/);
		// control: a plain ID stays as it is
		expect(await temporaryNameFor('acme')).toMatch(/^tenant-swap tmp acme exec 7 [0-9a-f]{6}$/);
	});
});
