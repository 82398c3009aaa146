/**
 * What a tenant (a webhook caller) may put into an n8n credential (nodes/shared/tenantData): the rules
 * both nodes apply before anything is locked or created, and the generated table of connection fields.
 * Each refusal has its control: the same data passes every other check (or n8n would evaluate it), so
 * the rule is what stops it. Schemas are what n8n 2.40.7 answered (test/fixtures/credentialSchemas.json).
 */
import { isExpression, type IDataObject } from 'n8n-workflow';

import { SwapItemError } from '../../nodes/shared/swap/errors';
import { KNOWN_CREDENTIAL_TYPES } from '../../nodes/shared/swap/n8nCredentialTypes';
import { expressionPaths, expressionRefusal } from '../../nodes/shared/tenantData/expressions';
import { connectionFieldsOf, knownCredentialType } from '../../nodes/shared/tenantData/knownTypes';
import { emptyFields } from '../../nodes/shared/tenantData/neededFields';
import {
	checkTenantData,
	refusalBeforeSchema,
	refusalWithSchema,
	type CredentialSchemaSource,
	type TenantDataPolicy,
	type TenantDataTarget,
} from '../../nodes/shared/tenantData/policy';
import type { CredentialSchema } from '../../nodes/shared/transport/n8nApiClient';
import recorded from '../fixtures/credentialSchemas.json';

const schemas = recorded.schemas as unknown as Record<string, CredentialSchema>;
const schema = (type: string): CredentialSchema => JSON.parse(JSON.stringify(schemas[type])) as CredentialSchema;

const SECRET = 'tenant-SECRET-value-0123456789';
const swapTarget = (type: string): TenantDataTarget => ({ type, baseCredentialName: 'Base' });
const runTarget = (type: string): TenantDataTarget => ({ type });
const defaults: TenantDataPolicy = { allowedFields: [], allowEmptyFields: [] };

/** Every word a refusal shows. */
const shown = (error: SwapItemError | undefined) => `${error?.message} ${error?.options.description}`;

/** A schema source that counts its reads, so a test can see the checks before the schema ran first. */
function schemaSource(): CredentialSchemaSource & { reads: string[] } {
	const reads: string[] = [];
	return {
		reads,
		getSchema: async (type: string) => {
			reads.push(type);
			if (schemas[type]) return schema(type);
			return { type: 'object', additionalProperties: false, properties: { apiKey: { type: 'string' }, url: { type: 'string' }, region: { type: 'string' } } };
		},
	};
}

const OAUTH2_CLIENT_CREDENTIALS = {
	grantType: 'clientCredentials',
	accessTokenUrl: 'https://idp.example.com/token',
	clientId: 'client-1',
	clientSecret: SECRET,
	scope: '',
	authentication: 'body',
};

describe('the generated connection fields (connects) of n8n 2.40.7 built-in types', () => {
	it.each<[string, string[]]>([
		['postgres', ['host', 'port', 'sshHost', 'sshPort']],
		['mySql', ['host', 'port', 'sshHost', 'sshPort']],
		['redis', ['host', 'port']],
		['sshPassword', ['host', 'port']],
		['sshPrivateKey', ['host', 'port']],
		['imap', ['host', 'port']],
		['ftp', ['host', 'port']],
		['sftp', ['host', 'port']],
		['mongoDb', ['connectionString', 'host', 'port']],
		['kafka', ['brokers']],
	])('%s: exactly %j', (type, fields) => {
		expect(KNOWN_CREDENTIAL_TYPES[type].connects).toEqual(fields);
	});

	it.each<[string, string[]]>([
		['oAuth2Api', ['authUrl', 'accessTokenUrl', 'serverUrl', 'jwksUri']],
		['oAuth1Api', ['authUrl', 'accessTokenUrl', 'requestTokenUrl']],
		['smtp', ['host', 'port']],
		['aws', ['s3Endpoint', 'lambdaEndpoint', 'sqsEndpoint', 'snsEndpoint', 'sesEndpoint', 'bedrockEndpoint']],
		['zendeskApi', ['subdomain']], // https://{{subdomain}}.zendesk.com: the host's first label
		['mailchimpApi', ['apiKey']], // https://{{apiKey.split("-").pop()}}.api.mailchimp.com: the key's suffix picks the host
		['azureStorageSharedKeyApi', ['account', 'customEndpoint']],
		['wordpressApi', ['url']],
		['githubApi', ['server']],
	])('%s includes %j', (type, fields) => {
		expect(KNOWN_CREDENTIAL_TYPES[type].connects).toEqual(expect.arrayContaining(fields));
	});

	it('the HTTP auth types connect nowhere themselves: only the domain restriction n8n 2.x adds to them', () => {
		for (const type of ['httpHeaderAuth', 'httpBasicAuth', 'httpQueryAuth', 'httpCustomAuth']) {
			expect([type, KNOWN_CREDENTIAL_TYPES[type].connects]).toEqual([type, ['allowedHttpRequestDomains', 'allowedDomains']]);
		}
	});

	it('leaves out what only looks like an address: OAuth scopes (often URLs), a region from a fixed list, the path part of a URL', () => {
		const all = Object.values(KNOWN_CREDENTIAL_TYPES).flatMap((known) => known.connects);
		expect(all.filter((field) => /scope|region/i.test(field))).toEqual([]);
		// telegramApi: ={{$credentials.baseUrl}}/bot{{$credentials.accessToken}}: the token is in the path.
		expect(KNOWN_CREDENTIAL_TYPES.telegramApi.connects).toEqual(['baseUrl']);
		expect(KNOWN_CREDENTIAL_TYPES.trelloApi.connects).not.toContain('apiToken');
	});

	it('agrees with what n8n 2.40.7 shows: every recorded field named like a URL, host, port or domain is a connection field, every connection field exists', () => {
		for (const [type, recordedSchema] of Object.entries(schemas)) {
			const fields = Object.keys(recordedSchema.properties ?? {});
			const connections = connectionFieldsOf(knownCredentialType(type)!);
			const addressLike = fields.filter((field) => /url|uri|host|port|domain|endpoint/i.test(field));
			expect([type, addressLike.filter((field) => !connections.has(field))]).toEqual([type, []]);
			expect([type, KNOWN_CREDENTIAL_TYPES[type].connects.filter((field) => !fields.includes(field))]).toEqual([type, []]);
		}
	});
});

describe('expressions: refused at any depth, named by path, never shown', () => {
	const refuse = (data: IDataObject) => expressionRefusal(swapTarget('httpHeaderAuth'), data, [2]);

	it.each<[string, IDataObject, string[]]>([
		['a top-level value', { name: 'x-key', value: '={{ 6*7 }}' }, ['value']],
		['"=" alone', { name: 'x-key', value: '=' }, ['value']],
		['a value in a nested object', { oauthTokenData: { access_token: `={{ $env.X }}${SECRET}`, token_type: 'bearer' } }, ['oauthTokenData.access_token']],
		['a value in an array of objects', { headers: [{ name: 'a', value: 'b' }, { name: 'c', value: 'd' }, { name: 'e', value: '={{ $execution.id }}' }] }, ['headers[2].value']],
		['a string in an array', { extra: ['plain', '=1'] }, ['extra[1]']],
		['under a key that is not a name', { 'odd key': { '=k': '={{1}}' } }, ['["odd key"]["=k"]']],
		['several', { name: '=a', value: '=b' }, ['name', 'value']],
	])('%s', (_name, data, paths) => {
		expect(expressionPaths(data)).toEqual(paths);
		const refusal = refuse(data);
		expect(refusal).toBeInstanceOf(SwapItemError);
		expect(refusal?.options.parameter).toBe('credentialData');
		expect(refusal?.itemIndexes).toEqual([2]);
		for (const path of paths) expect(refusal?.message).toContain(`"${path}"`);
		expect(refusal?.message).toMatch(/n8n would evaluate as an expression/);
		expect(refusal?.options.description).toMatch(/evaluates a credential value that starts with "=".*Nothing was changed\./);
		expect(shown(refusal)).not.toContain(SECRET);
		expect(shown(refusal)).not.toContain('{{');
	});

	it('control: n8n-workflow treats every refused value as an expression, and none of the allowed ones', () => {
		for (const value of ['={{ 6*7 }}', '=', '=1', `={{ $env.X }}${SECRET}`]) expect([value, isExpression(value)]).toEqual([value, true]);
		for (const value of [' =1', '{{ 6*7 }}', 'a=b', '']) expect([value, isExpression(value)]).toEqual([value, false]);
	});

	it.each<[string, IDataObject]>([
		['a value starting with a space before "="', { name: 'x-key', value: ' ={{ 6*7 }}' }],
		['"{{ }}" without "="', { name: 'x-key', value: '{{ 6*7 }}' }],
		['"=" later in the value', { name: 'x-key', value: 'a=b==' }],
		['a key named like an expression, its value fine', { '={{ 6*7 }}': 'plain' }],
		['numbers, booleans, null', { port: 5432, ssl: true, value: null }],
	])('allows %s', (_name, data) => {
		expect(expressionPaths(data)).toEqual([]);
		expect(refuse(data)).toBeUndefined();
	});

	it('shows at most five paths', () => {
		const data = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`f${i}`, '=x']));
		expect(refuse(data)?.message).toMatch(/^Credential data fields "f0", "f1", "f2", "f3", "f4" and 3 more start with "="/);
	});

	it('walks data nested deeper than the call stack would allow', () => {
		let deep: IDataObject = { value: '=1' };
		for (let i = 0; i < 20_000; i++) deep = { inner: deep };
		expect(expressionPaths(deep)).toHaveLength(1);
	});

	it('no option turns it off: Allowed Fields listing the field and Fields Allowed Empty "*" still refuse', () => {
		const refusal = refusalBeforeSchema(swapTarget('httpHeaderAuth'), { name: 'x', value: '=1' }, { allowedFields: ['name', 'value'], allowEmptyFields: ['*'] }, [0]);
		expect(refusal?.message).toMatch(/field "value" starts with "="/);
	});
});

describe('connection fields: only through Allowed Fields', () => {
	const postgres = { host: '10.0.0.7', port: 5432, database: 'd', user: 'u', password: SECRET };

	it('refuses a database host chosen by the caller, naming the fields and why, never the values', () => {
		const refusal = refusalBeforeSchema(swapTarget('postgres'), postgres, defaults, [1]);
		expect(refusal?.message).toBe('Credential data sets "host", "port", which say where n8n connects or sends the credential, and "Allowed Fields" is empty');
		expect(refusal?.options.parameter).toBe('credentialData');
		expect(refusal?.options.description).toMatch(/chooses where n8n sends the tenant's credential.*Options > Allowed Fields.*Nothing was changed\./);
		expect(shown(refusal)).not.toMatch(/10\.0\.0\.7|5432/);
		expect(shown(refusal)).not.toContain(SECRET);
	});

	it('control: without the rule nothing else stops it (n8n\'s schema and the other checks accept the data)', () => {
		expect(refusalWithSchema(swapTarget('postgres'), postgres, schema('postgres'), defaults, [1])).toBeUndefined();
	});

	it('allows the fields once the workflow lists them in Allowed Fields', () => {
		expect(refusalBeforeSchema(swapTarget('postgres'), postgres, { allowedFields: Object.keys(postgres) }, [1])).toBeUndefined();
	});

	it.each<[string, IDataObject, string]>([
		['an OAuth2 token URL', OAUTH2_CLIENT_CREDENTIALS, '"accessTokenUrl"'],
		['the domain restriction n8n 2.x adds', { name: 'x-key', value: SECRET, allowedHttpRequestDomains: 'all' }, '"allowedHttpRequestDomains"'],
		['an allowed domain list', { name: 'x-key', value: SECRET, allowedHttpRequestDomains: 'domains', allowedDomains: 'evil.example' }, '"allowedHttpRequestDomains", "allowedDomains"'],
	])('refuses %s with empty Allowed Fields', (_name, data, fields) => {
		const type = 'grantType' in data ? 'oAuth2Api' : 'httpHeaderAuth';
		expect(refusalBeforeSchema(runTarget(type), data, defaults, [0])?.message).toMatch(new RegExp(`^Credential data sets ${fields}, which`));
		expect(refusalWithSchema(runTarget(type), data, schema(type), defaults, [0])).toBeUndefined(); // control
	});

	it('does not refuse the fields of a header credential: nothing in it says where n8n connects', () => {
		expect(refusalBeforeSchema(runTarget('httpHeaderAuth'), { name: 'x-key', value: SECRET }, defaults, [0])).toBeUndefined();
	});

	it('Allowed Fields keeps refusing every field it does not list', () => {
		const refusal = refusalBeforeSchema(runTarget('postgres'), postgres, { allowedFields: ['user', 'password'] }, [0]);
		expect(refusal?.message).toBe('Credential data sets "host", "port", "database", outside the allowed fields (user, password)');
		expect(refusal?.options.description).toMatch(/Nothing was created\.$/);
	});
});

describe('unknown (community) types: every field only through Allowed Fields', () => {
	it('refuses empty Allowed Fields, saying so and what to do', () => {
		const refusal = refusalBeforeSchema(runTarget('acmeCommunityApi'), { apiKey: SECRET }, defaults, [4]);
		expect(refusal?.options.parameter).toBe('options.allowedFields');
		expect(refusal?.message).toMatch(/^Credential type "acmeCommunityApi" is not one of n8n's built-in types .*"Allowed Fields" must list the fields the tenant may set$/);
		expect(refusal?.options.description).toMatch(/List under Options > Allowed Fields .*Nothing was created\./);
		expect(shown(refusal)).not.toContain(SECRET);
		expect(knownCredentialType('acmeCommunityApi')).toBeUndefined(); // control: the table does not know it
	});

	it('allows the listed fields', () => {
		expect(refusalBeforeSchema(runTarget('acmeCommunityApi'), { apiKey: SECRET }, { allowedFields: ['apiKey'] }, [4])).toBeUndefined();
	});

	it('keeps the strict empty rule: any empty value is refused unless Fields Allowed Empty lists it', async () => {
		const source = schemaSource();
		const policy = { allowedFields: ['apiKey', 'region'] };
		await expect(checkTenantData(source, runTarget('acmeCommunityApi'), { apiKey: SECRET, region: '' }, policy, [0])).rejects.toThrow(
			/^Credential data sets "region" to an empty value: the tenant's credential would not work$/,
		);
		await expect(checkTenantData(source, runTarget('acmeCommunityApi'), { apiKey: SECRET, region: '' }, { ...policy, allowEmptyFields: ['region'] }, [0])).resolves.toBeDefined();
	});
});

describe('empty values: refused only for the fields the type needs', () => {
	const allFields = { allowedFields: Object.keys(OAUTH2_CLIENT_CREDENTIALS) };

	it('OAuth2 client credentials with scope "" (as n8n\'s own form saves it) pass without Fields Allowed Empty', async () => {
		expect(refusalWithSchema(swapTarget('oAuth2Api'), OAUTH2_CLIENT_CREDENTIALS, schema('oAuth2Api'), defaults, [0])).toBeUndefined();
		expect(refusalWithSchema(runTarget('oAuth2Api'), OAUTH2_CLIENT_CREDENTIALS, schema('oAuth2Api'), defaults, [0])).toBeUndefined();
		await expect(checkTenantData(schemaSource(), swapTarget('oAuth2Api'), OAUTH2_CLIENT_CREDENTIALS, allFields, [0])).resolves.toBeDefined();
		// control: the old rule (every empty value refused) would have refused it
		expect(emptyFields(OAUTH2_CLIENT_CREDENTIALS)).toEqual(['scope']);
	});

	it.each<[string, string, IDataObject, string]>([
		['an OAuth2 client secret', 'oAuth2Api', { ...OAUTH2_CLIENT_CREDENTIALS, clientSecret: '' }, 'clientSecret'],
		['a header value', 'httpHeaderAuth', { name: 'x-key', value: ' ' }, 'value'],
		['a basic auth password', 'httpBasicAuth', { user: 'u', password: null }, 'password'],
	])('refuses %s set empty', (_name, type, data, field) => {
		const refusal = refusalWithSchema(runTarget(type), data, schema(type), defaults, [0]);
		expect(refusal?.message).toBe(`Credential data sets "${field}" to an empty value, which a "${type}" credential needs: the tenant's credential would not work`);
		expect(refusal?.options.description).toMatch(/^Nothing was created\..*Fields Allowed Empty/);
	});

	it("scope \"\" passes where n8n's schema lists scope as required (n8n 2.8.4): present is all n8n needs", () => {
		const base = schema('oAuth2Api');
		const scopeRequired = { ...base, required: [...(base.required ?? []), 'scope'] };
		expect(refusalWithSchema(runTarget('oAuth2Api'), OAUTH2_CLIENT_CREDENTIALS, scopeRequired, defaults, [0])).toBeUndefined();
		// control: left out, a required field is still refused on a full replacement
		const { scope: _left, ...withoutScope } = OAUTH2_CLIENT_CREDENTIALS;
		expect(refusalWithSchema(runTarget('oAuth2Api'), withoutScope, scopeRequired, defaults, [0])?.message).toMatch(/leaves out "scope"/);
	});

	it('an optional field of a built-in type may be empty (the Allowed Domains of a basic auth credential)', () => {
		expect(refusalWithSchema(runTarget('httpBasicAuth'), { user: 'u', password: SECRET, allowedDomains: '' }, schema('httpBasicAuth'), defaults, [0])).toBeUndefined();
	});
});

describe('checkTenantData: the one entry point of both nodes', () => {
	it('refuses an expression before reading the schema (nothing asked of n8n)', async () => {
		const source = schemaSource();
		const refused = await checkTenantData(source, swapTarget('httpHeaderAuth'), { name: 'x', value: '=1' }, defaults, [0]).catch((error) => error);
		expect(refused).toBeInstanceOf(SwapItemError);
		expect(refused.message).toMatch(/"value" starts with "="/);
		expect(source.reads).toEqual([]);
	});

	it('checks in this order: expressions, then fields, then the schema', async () => {
		const source = schemaSource();
		await expect(checkTenantData(source, runTarget('postgres'), { host: '=1', bogus: 'x' }, defaults, [0])).rejects.toThrow(/starts with "="/);
		await expect(checkTenantData(source, runTarget('postgres'), { host: 'h', user: 'u' }, defaults, [0])).rejects.toThrow(/sets "host", which says/);
		await expect(checkTenantData(source, runTarget('postgres'), { user: 'u', bogus: 'x' }, defaults, [0])).rejects.toThrow(/unknown field "bogus"/);
	});

	it('a field the type does not have is refused as unknown at once, never "add it to Allowed Fields" first', async () => {
		const policy = { allowedFields: ['name', 'value'] };
		const data = { name: 'x-key', value: SECRET, bogus: 'x' };
		// Control: without the schema, the only refusal would be the Allowed Fields one, whose advice leads to "unknown field".
		expect(refusalBeforeSchema(runTarget('httpHeaderAuth'), data, policy, [0])?.options.description).toMatch(/Add the field there/);
		for (const [allowed, why] of [
			[policy, 'Allowed Fields set'],
			[defaults, 'Allowed Fields empty, with a connection field'],
		] as Array<[TenantDataPolicy, string]>) {
			const sent = why.includes('connection') ? { ...data, allowedHttpRequestDomains: 'all' } : data;
			const refused = await checkTenantData(schemaSource(), runTarget('httpHeaderAuth'), sent, allowed, [2]).catch((error) => error);
			expect(refused).toBeInstanceOf(SwapItemError);
			expect(refused.message).toMatch(/^Credential data does not fit type "httpHeaderAuth": unknown field "bogus" \(fields of this type: name, value/);
			expect(shown(refused)).not.toMatch(/Allowed Fields/);
			expect(shown(refused)).not.toContain(SECRET);
			expect(refused.itemIndexes).toEqual([2]);
		}
		// A type this package does not know: the schema n8n answers still tells unknown fields apart.
		const community = await checkTenantData(schemaSource(), runTarget('acmeCommunityApi'), { apiKey: SECRET, bogus: 'x' }, defaults, [0]).catch((error) => error);
		expect(community.message).toMatch(/unknown field "bogus"/);
		// A field the type has is still refused by Allowed Fields, with its advice.
		await expect(checkTenantData(schemaSource(), runTarget('httpHeaderAuth'), { name: 'x-key', value: SECRET, allowedDomains: 'x' }, policy, [0])).rejects.toThrow(
			/outside the allowed fields/,
		);
		// n8n unreachable for the schema: the Allowed Fields refusal stands.
		const failing = { getSchema: async () => Promise.reject(new Error('down')) };
		await expect(checkTenantData(failing, runTarget('httpHeaderAuth'), data, policy, [0])).rejects.toThrow(/outside the allowed fields/);
	});

	it('Partial Update is a swap option: refused for an OAuth base credential, ignored for a new credential', async () => {
		const data = { clientId: 'c', clientSecret: SECRET };
		const policy = { allowedFields: ['clientId', 'clientSecret'], partialUpdate: true };
		await expect(checkTenantData(schemaSource(), swapTarget('oAuth2Api'), data, policy, [0])).rejects.toThrow(/"Partial Update" cannot be used with base credential "Base"/);
		await expect(checkTenantData(schemaSource(), runTarget('oAuth2Api'), data, policy, [0])).rejects.toThrow(
			'Credential data leaves out "authUrl", "accessTokenUrl", which a "oAuth2Api" credential needs: the tenant\'s credential would not work',
		);
	});

	it('returns the schema it read for data it accepts', async () => {
		await expect(checkTenantData(schemaSource(), runTarget('httpHeaderAuth'), { name: 'x-key', value: SECRET }, defaults, [0])).resolves.toEqual(schema('httpHeaderAuth'));
	});
});
