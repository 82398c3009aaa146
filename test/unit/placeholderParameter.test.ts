/**
 * The Placeholder Credential parameter as Run With Tenant Credential reads it: an ID picked in the
 * editor, empty for workflows made before it, never an expression (which credential gets the tenant's
 * secret is the workflow's choice, not the caller's).
 */
import type { IExecuteFunctions } from 'n8n-workflow';

import { readRunRequest } from '../../nodes/RunWithTenantCredential/actions/request';
import { SwapItemError } from '../../nodes/shared/swap/errors';

function contextWith(placeholderCredential: unknown, raw: unknown = placeholderCredential): IExecuteFunctions {
	const parameters: Record<string, unknown> = {
		subWorkflow: { __rl: true, mode: 'id', value: 'sub1' },
		tenantId: 'acme',
		credentialData: { name: 'x-tenant-secret', value: 'v' },
		options: {},
		...(placeholderCredential === undefined ? {} : { placeholderCredential }),
	};
	return {
		getNode: () => ({ name: 'Run With Tenant Credential', parameters: raw === undefined ? {} : { placeholderCredential: raw } }),
		getNodeParameter: (name: string, _item: number, fallback?: unknown) => (name in parameters ? parameters[name] : fallback),
	} as unknown as IExecuteFunctions;
}

it('reads the picked ID (From List or By ID), and nothing when empty or absent', () => {
	expect(readRunRequest(contextWith({ __rl: true, mode: 'list', value: 'Ab3_-x' }), 0).placeholderId).toBe('Ab3_-x');
	expect(readRunRequest(contextWith({ __rl: true, mode: 'id', value: ' Ab3 ' }), 0).placeholderId).toBe('Ab3');
	expect(readRunRequest(contextWith({ __rl: true, mode: 'list', value: '' }), 0).placeholderId).toBeUndefined();
	expect(readRunRequest(contextWith(undefined), 0).placeholderId).toBeUndefined();
});

it('refuses an expression, even one that resolves to a valid ID', () => {
	const expression = { __rl: true, mode: 'id', value: '={{ $json.body.placeholder }}' };
	const run = () => readRunRequest(contextWith({ __rl: true, mode: 'id', value: 'Ab3' }, expression), 2);
	expect(run).toThrow(SwapItemError);
	expect(run).toThrow('Placeholder Credential must not be an expression');
	try {
		run();
	} catch (error) {
		expect((error as SwapItemError).options.parameter).toBe('placeholderCredential');
		expect((error as SwapItemError).itemIndexes).toEqual([2]);
	}
});

it('refuses what is not a credential ID', () => {
	expect(() => readRunRequest(contextWith({ __rl: true, mode: 'id', value: 'a/b' }), 0)).toThrow('is not a credential ID');
});
