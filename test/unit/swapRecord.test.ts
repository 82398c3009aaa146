/** What the swap remembers of its last write (Skip Unchanged Data): the fingerprint and the failure to write it. */
import { stateWriteFailure, swapFingerprint, type FingerprintOptions } from '../../nodes/shared/swap/swapRecord';

describe('swapFingerprint: what Skip Unchanged Data compares', () => {
	const options: FingerprintOptions = { partialUpdate: false, validateWithTemporaryCredential: false, testCredential: false, allowedFields: [] };
	const data = { name: 'x', value: 'v' };
	const plain = swapFingerprint('httpHeaderAuth', data, options);

	it.each<[string, Partial<FingerprintOptions>]>([
		['Test Credential', { testCredential: true }],
		['Validate With Temporary Credential', { validateWithTemporaryCredential: true }],
		['Allowed Fields', { allowedFields: ['value'] }],
		['Credential Type', { expectedCredentialType: 'httpHeaderAuth' }],
		['Partial Update', { partialUpdate: true }],
	])('changes with %s', (_name, change) => {
		expect(swapFingerprint('httpHeaderAuth', data, { ...options, ...change })).not.toBe(plain);
	});

	it('changes with Test Credential when the temporary credential was made anyway', () => {
		const validated = { ...options, validateWithTemporaryCredential: true };
		expect(swapFingerprint('httpHeaderAuth', data, { ...validated, testCredential: true })).not.toBe(swapFingerprint('httpHeaderAuth', data, validated));
	});

	it('does not change with key order or the order of Allowed Fields', () => {
		expect(swapFingerprint('httpHeaderAuth', { value: 'v', name: 'x' }, options)).toBe(plain);
		expect(swapFingerprint('httpHeaderAuth', data, { ...options, allowedFields: ['value', 'name'] })).toBe(
			swapFingerprint('httpHeaderAuth', data, { ...options, allowedFields: ['name', 'value'] }),
		);
	});
});

it('stateWriteFailure says the base credential was changed', () => {
	const error = stateWriteFailure(new Error('Lock store unreachable during write swap state: connection refused'), [1]);
	expect(error.message).toMatch(/base credential was updated, but the lock store failed afterwards: Lock store unreachable/);
	expect(error.options.description).toMatch(/^The base credential now holds this tenant's data; only the record used by Skip Unchanged Data could not be written/);
	expect(error.itemIndexes).toEqual([1]);
});
