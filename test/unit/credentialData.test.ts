import {
	canonicalJson,
	parseCredentialData,
	REDACTED,
	redactSecrets,
	schemaProblems,
	secretStrings,
} from '../../nodes/shared/swap/credentialData';

const headerAuthSchema = {
	type: 'object',
	additionalProperties: false,
	properties: { name: { type: 'string' }, value: { type: 'string' } },
};

describe('parseCredentialData', () => {
	it('accepts an object and JSON text of one', () => {
		expect(parseCredentialData({ value: 'x' }).data).toEqual({ value: 'x' });
		expect(parseCredentialData('{"value":"x"}').data).toEqual({ value: 'x' });
	});

	it.each([
		['', 'is empty'],
		['{"value": ', 'is not valid JSON'],
		['[1,2]', 'must be an object'],
		[42, 'must be an object'],
		[null, 'must be an object'],
		[{}, 'has no fields'],
	])('refuses %p', (input, problem) => {
		const result = parseCredentialData(input);
		expect(result.data).toBeUndefined();
		expect(result.problem).toContain(problem);
	});

	it('does not echo the JSON text in its problem (it may hold a secret)', () => {
		expect(parseCredentialData('{"value": "s3cr3t-value"').problem).not.toContain('s3cr3t');
	});
});

describe('schemaProblems', () => {
	it('names unknown fields and wrong types, never values', () => {
		const problems = schemaProblems({ value: 12345678, bogus: 'secret-bogus-value' }, headerAuthSchema);
		expect(problems).toEqual([
			'field "value" must be string, got a number',
			'unknown field "bogus" (fields of this type: name, value)',
		]);
		expect(problems.join(' ')).not.toContain('secret-bogus-value');
	});

	it('checks option lists', () => {
		const schema = { properties: { ssl: { type: 'string', enum: ['disable', 'require'] } } };
		expect(schemaProblems({ ssl: 'maybe' }, schema)).toEqual(['field "ssl" must be one of "disable", "require"']);
		expect(schemaProblems({ ssl: 'require' }, schema)).toEqual([]);
	});

	it('accepts a matching object', () => {
		expect(schemaProblems({ name: 'x-key', value: 'v' }, headerAuthSchema)).toEqual([]);
	});
});

describe('redactSecrets', () => {
	it('removes every string of the data from a nested item, whole and inside longer text', () => {
		const data = { name: 'x-tenant-secret', value: 'tenant-a-secret-123', port: 5432 };
		const item = {
			body: { credentials: data, note: 'Bearer tenant-a-secret-123', tenantId: 'a' },
			list: ['tenant-a-secret-123'],
			port: 5432,
		};
		const clean = redactSecrets(item, secretStrings(data));
		expect(JSON.stringify(clean)).not.toContain('tenant-a-secret-123');
		expect(clean.body.note).toBe(`Bearer ${REDACTED}`);
		expect(clean.body.tenantId).toBe('a');
		expect(clean.port).toBe(5432);
		// the input is left as it was
		expect(item.list[0]).toBe('tenant-a-secret-123');
	});

	it('also removes a string the data was built from (the token inside "Bearer <token>"), but not short ones', () => {
		const data = { name: 'Authorization', value: 'Bearer tok-9f8e7d6c5b' };
		const item = { body: { token: 'tok-9f8e7d6c5b', scheme: 'Bearer', tenantId: 'acme' } };
		const clean = redactSecrets(item, secretStrings(data));
		expect(JSON.stringify(clean)).not.toContain('tok-9f8e7d6c5b');
		expect(clean.body.token).toBe(REDACTED);
		// Shorter than 8 characters: too likely to be an ordinary word that happens to occur in a secret.
		expect(clean.body.scheme).toBe('Bearer');
		expect(clean.body.tenantId).toBe('acme');
	});
});

describe('canonicalJson', () => {
	it('ignores key order', () => {
		expect(canonicalJson({ a: 1, b: { c: 2, d: 3 } })).toBe(canonicalJson({ b: { d: 3, c: 2 }, a: 1 }));
		expect(canonicalJson({ a: 1 })).not.toBe(canonicalJson({ a: 2 }));
	});
});

describe('secretStrings', () => {
	it('collects the strings of data nested deeper than the call stack (caller-sent data), without throwing', () => {
		let deep: unknown = 'deep-secret';
		for (let level = 0; level < 50_000; level++) deep = { inner: [deep] };
		// control: a recursive walk of the same data overflows the stack
		const recursive = (value: unknown): number => (value && typeof value === 'object' ? 1 + Math.max(0, ...Object.values(value).map(recursive)) : 0);
		expect(() => recursive(deep)).toThrow(RangeError);
		expect([...secretStrings({ name: 'x', value: deep })]).toEqual(expect.arrayContaining(['x', 'deep-secret']));
	});
});
