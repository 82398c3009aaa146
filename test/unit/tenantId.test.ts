/**
 * The Tenant ID both nodes read (decision 4 of issue 16): webhook callers choose it, and it is shown
 * in credential names, lock rows, logs and errors. Each refusal has its control: the same ID without
 * the offending part passes.
 */
import type { IExecuteFunctions } from 'n8n-workflow';

import { MAX_TENANT_ID_LENGTH, readTenantId } from '../../nodes/shared/itemParameters';
import { SwapItemError } from '../../nodes/shared/swap/errors';

function read(value: unknown): string {
	const context = { getNodeParameter: (_name: string, _item: number, fallback: unknown) => (value === undefined ? fallback : value) };
	return readTenantId(context as unknown as IExecuteFunctions, 3);
}

function refusal(value: unknown): SwapItemError {
	try {
		read(value);
	} catch (error) {
		if (error instanceof SwapItemError) return error;
		throw error;
	}
	throw new Error('not refused');
}

describe('Tenant ID', () => {
	it('is trimmed text or a number', () => {
		expect(read('  acme-42 ')).toBe('acme-42');
		expect(read(42)).toBe('42');
		expect(read('Ünïcode Tenant ✓')).toBe('Ünïcode Tenant ✓');
	});

	it('says missing for no value and how to map it, and what it got for other types, naming parameter and item', () => {
		for (const [value, message] of [
			[undefined, 'Tenant ID is missing: its value is empty for this item'],
			[null, 'Tenant ID is missing: its value is empty for this item'],
			['', 'Tenant ID is missing: its value is empty for this item'],
			['   ', 'Tenant ID is missing: its value is empty for this item'],
			[{ id: 1 }, 'Tenant ID must be text or a number, but its value is an object'],
			[['a'], 'Tenant ID must be text or a number, but its value is a list'],
			[true, 'Tenant ID must be text or a number, but its value is a boolean'],
		] as const) {
			const error = refusal(value);
			expect(error.message).toBe(message);
			expect(error.message).not.toMatch(/must be text/.test(message) ? /missing/ : /must be text/);
			expect(error.itemIndexes).toEqual([3]);
			expect(error.options.parameter).toBe('tenantId');
			expect(error.options.description).toMatch(/\{\{ \$json\.body\.tenantId \}\}.*Nothing was created\.$/);
		}
		// A missing value says how to map it from the input panel and to check the callers.
		expect(refusal(undefined).options.description).toMatch(/drag the field holding it from the input panel onto Tenant ID.*check that every caller sends it/);
		// An object (the mapped field is the body, not the ID inside it) says to map the field itself.
		expect(refusal({ tenantId: 'a' }).options.description).toMatch(/^Map the field that holds the ID itself/);
	});

	it(`is at most ${MAX_TENANT_ID_LENGTH} characters (code points); a longer one is refused showing only a short, safe prefix`, () => {
		expect(read('a'.repeat(MAX_TENANT_ID_LENGTH))).toHaveLength(MAX_TENANT_ID_LENGTH);
		expect(read('😀'.repeat(MAX_TENANT_ID_LENGTH))).toHaveLength(2 * MAX_TENANT_ID_LENGTH);
		const hostile = `Ignore previous <b>instructions</b> ${'x'.repeat(10_240)}`;
		const error = refusal(hostile);
		expect(error.message).toBe(`Tenant ID is too long: ${[...hostile].length} characters (starting "Ignore_previ"), at most 200 are allowed`);
		expect(error.options.description).toMatch(/at most 200 characters; nothing was created/);
		expect(`${error.message}${error.options.description}`).not.toContain('<b>');
	});

	it.each([
		['a line break', 'acme\nadmin', 5],
		['a tab', 'acme\tx', 5],
		['an ANSI escape', 'acme\u001b[31m', 5],
		['a NUL', 'ac\u0000me', 3],
		['a right-to-left override', 'acme\u202egnp.exe', 5],
		['a zero-width space', 'ac\u200bme', 3],
		['a private-use character', 'acme\ue000', 5],
	])('refuses %s (Unicode category C), naming its position', (_what, tenantId, position) => {
		const error = refusal(tenantId);
		expect(error.message).toMatch(new RegExp(`^Tenant ID holds a control or invisible character at position ${position} \\(starting "[\\w.@-]*"\\)$`));
		expect(error.options.parameter).toBe('tenantId');
		// Control: the same ID without that character passes.
		expect(read(tenantId.replace(/\p{C}/gu, ''))).toBe(tenantId.replace(/\p{C}/gu, ''));
	});
});
