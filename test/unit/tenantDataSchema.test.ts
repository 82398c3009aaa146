/**
 * The tenant data checks against n8n's schema of the type (nodes/shared/tenantData): what keeps a
 * credential from being left unusable or holding the previous tenant's token. Schemas are what a real
 * n8n 2.40.7 answered (test/fixtures/credentialSchemas.json, recorded by scripts/record-credential-schemas.js).
 */
import type { IDataObject } from 'n8n-workflow';

import { schemaFields, schemaProblems } from '../../nodes/shared/swap/credentialData';
import { SwapItemError } from '../../nodes/shared/swap/errors';
import { knownCredentialType } from '../../nodes/shared/tenantData/knownTypes';
import { emptyFields, missingFieldsForFullReplace } from '../../nodes/shared/tenantData/neededFields';
import { partialUpdateRisk } from '../../nodes/shared/tenantData/partialUpdate';
import { refusalWithSchema, type TenantDataPolicy } from '../../nodes/shared/tenantData/policy';
import type { CredentialSchema } from '../../nodes/shared/transport/n8nApiClient';
import recorded from '../fixtures/credentialSchemas.json';

const schemas = recorded.schemas as unknown as Record<string, CredentialSchema>;
const schema = (type: string): CredentialSchema => JSON.parse(JSON.stringify(schemas[type])) as CredentialSchema;

it('the fixture is what n8n 2.40.7 answers', () => {
	expect(recorded.n8nVersion).toBe('2.40.7');
	// n8n adds oauthTokenData to every OAuth type and descendant, and hides hidden fields.
	expect(Object.keys(schema('hubspotDeveloperApi').properties ?? {})).toContain('oauthTokenData');
	expect(Object.keys(schema('twitterOAuth1Api').properties ?? {})).toContain('oauthTokenData');
	expect(Object.keys(schema('metabaseApi').properties ?? {})).not.toContain('sessionToken');
});

describe('partialUpdateRisk: Partial Update only for types known to keep no fetched token', () => {
	it.each([
		['oAuth2Api', /OAuth credential/],
		['hubspotDeveloperApi', /OAuth credential/], // extends oAuth2Api; no "oauth" in its name
		['oAuth1Api', /OAuth credential/],
		['twitterOAuth1Api', /OAuth credential/], // extends oAuth1Api
		['metabaseApi', /session token/], // sessionToken: hidden, expirable, preAuthentication
		['slackApi', /fields n8n hides/],
	])('refuses %s', (type, reason) => {
		expect(partialUpdateRisk(type, schema(type))).toMatch(reason);
	});

	it.each(['httpHeaderAuth', 'httpBasicAuth', 'httpQueryAuth', 'postgres', 'openAiApi', 'stripeApi'])('allows %s', (type) => {
		expect(partialUpdateRisk(type, schema(type))).toBeUndefined();
	});

	it('sees an OAuth descendant by the oauthTokenData n8n adds to its schema, even when the type is not known', () => {
		expect(partialUpdateRisk('acmeCommunityApi', schema('hubspotDeveloperApi'))).toMatch(/OAuth credential/);
	});

	it('sees hubspotDeveloperApi as OAuth from the generated table alone (schema without oauthTokenData)', () => {
		const stripped = schema('hubspotDeveloperApi');
		delete stripped.properties?.oauthTokenData;
		expect(partialUpdateRisk('hubspotDeveloperApi', stripped)).toMatch(/OAuth credential/);
	});

	it('refuses a type it does not know (a community type: its hidden fields cannot be seen)', () => {
		expect(partialUpdateRisk('acmeCommunityApi', schema('httpHeaderAuth'))).toMatch(/cannot tell/);
	});

	it('agrees with n8n: every recorded schema with oauthTokenData is an OAuth type in the table', () => {
		for (const [type, recordedSchema] of Object.entries(schemas)) {
			const oauth = 'oauthTokenData' in (recordedSchema.properties ?? {});
			expect([type, oauth]).toEqual([type, ['oAuth1', 'oAuth2'].includes(knownCredentialType(type)?.keepsToken ?? '')]);
		}
	});

	it('refusal names options.partialUpdate and the reason, and changes the item indexes it was given', () => {
		const refusal = refusalWithSchema(
			{ baseCredentialName: 'HubSpot base', type: 'hubspotDeveloperApi' },
			{ apiKey: 'tenant-key-0123456789' },
			schema('hubspotDeveloperApi'),
			{ allowedFields: [], partialUpdate: true },
			[3],
		);
		expect(refusal).toBeInstanceOf(SwapItemError);
		expect(refusal?.options.parameter).toBe('options.partialUpdate');
		expect(refusal?.itemIndexes).toEqual([3]);
		expect(refusal?.options.description).toMatch(/previous tenant's token.*Turn "Partial Update" off/);
		expect(`${refusal?.message} ${refusal?.options.description}`).not.toContain('tenant-key-0123456789');
	});
});

describe('refusalWithSchema: data that would leave the credential unusable', () => {
	const check = (type: string, data: IDataObject, options: Partial<TenantDataPolicy> = {}) =>
		refusalWithSchema({ baseCredentialName: 'Base', type }, data, schema(type), { allowedFields: [], partialUpdate: false, ...options }, [0]);

	it('refuses the old default {"value": ""}: an empty value, and the header name left out', () => {
		const refusal = check('httpHeaderAuth', { value: '' });
		expect(refusal?.options.parameter).toBe('credentialData');
		expect(refusal?.message).toBe(
			'Credential data sets "value" to an empty value and leaves out "name", which a "httpHeaderAuth" credential needs (without Partial Update every field the data does not set is emptied): the base credential "Base" would be left unusable',
		);
		expect(refusal?.options.description).toMatch(/Nothing was changed.*Fields Allowed Empty/);
	});

	it.each([
		['spaces only', { name: 'x-key', value: '   ' }, ['value']],
		['null', { name: 'x-key', value: null }, ['value']],
	])('counts %s as empty', (_name, data, fields) => {
		expect(emptyFields(data as IDataObject)).toEqual(fields);
		expect(check('httpHeaderAuth', data as IDataObject)?.message).toMatch(/sets "value" to an empty value/);
	});

	it('names fields, never values', () => {
		const refusal = check('httpBasicAuth', { user: 'tenant-user-SECRET-42' });
		expect(refusal?.message).toMatch(/leaves out "password"/);
		expect(JSON.stringify([refusal?.message, refusal?.options.description])).not.toContain('tenant-user-SECRET-42');
	});

	it.each([
		['httpHeaderAuth', { name: 'x-key', value: 'v1' }],
		['httpBasicAuth', { user: 'u', password: 'p' }],
		['httpQueryAuth', { name: 'key', value: 'v' }],
		['postgres', { host: 'db', user: 'u', password: 'p', database: 'd' }],
		['oAuth2Api', { grantType: 'clientCredentials', accessTokenUrl: 'https://x/token', clientId: 'id', clientSecret: 's', authentication: 'body' }],
		['twitterOAuth1Api', { consumerKey: 'k', consumerSecret: 's' }],
	])('accepts complete data for %s', (type, data) => {
		expect(check(type, data as IDataObject)).toBeUndefined();
	});

	it.each([
		['httpQueryAuth', { value: 'v' }, ['name']],
		// grantType defaults to authorizationCode, which needs authUrl
		['oAuth2Api', { accessTokenUrl: 'https://x/token', clientId: 'id', clientSecret: 's' }, ['authUrl']],
		['oAuth2Api', { grantType: 'clientCredentials', clientId: 'id' }, ['accessTokenUrl', 'clientSecret']],
		// the schema's own `required`
		['twitterOAuth1Api', { consumerKey: 'k' }, ['consumerSecret']],
		['postgres', { host: 'db' }, []],
		['openAiApi', { organizationId: 'org' }, ['apiKey']],
	])('finds what %s needs in a full replace', (type, data, missing) => {
		expect(missingFieldsForFullReplace(type, data as IDataObject, schema(type))).toEqual(missing);
	});

	it('uses the schema (required, and the allOf conditions the data meets) for types it does not know', () => {
		const communitySchema: CredentialSchema = {
			properties: { mode: { type: 'string', enum: ['a', 'b'] }, key: { type: 'string' }, url: { type: 'string' } },
			required: ['key'],
			allOf: [{ if: { properties: { mode: { enum: ['b'] } }, required: ['mode'] }, then: { allOf: [{ required: ['url'] }] } }],
		};
		expect(missingFieldsForFullReplace('acmeApi', { mode: 'a' }, communitySchema)).toEqual(['key']);
		expect(missingFieldsForFullReplace('acmeApi', { mode: 'b', key: 'k' }, communitySchema)).toEqual(['url']);
	});

	it('Partial Update: leaving fields out is fine, empty values are not', () => {
		expect(check('httpHeaderAuth', { value: 'v2' }, { partialUpdate: true })).toBeUndefined();
		expect(check('httpHeaderAuth', { value: '' }, { partialUpdate: true })?.message).toMatch(/^Credential data sets "value" to an empty value, which a "httpHeaderAuth" credential needs: /);
	});

	it('Fields Allowed Empty lets the named fields (or * every field) be empty or left out', () => {
		expect(check('httpHeaderAuth', { name: 'x', value: '' }, { allowEmptyFields: ['value'] })).toBeUndefined();
		expect(check('httpHeaderAuth', { value: 'v' }, { allowEmptyFields: ['name'] })).toBeUndefined();
		expect(check('httpHeaderAuth', { value: '' }, { allowEmptyFields: ['name'] })?.message).toMatch(/^Credential data sets "value" to an empty value, which/);
		expect(check('httpHeaderAuth', { value: '' }, { allowEmptyFields: ['*'] })).toBeUndefined();
	});
});

describe('schemaProblems and fields under allOf[].then', () => {
	it("accepts every field of n8n's conditional parts in the recorded schemas (they are also top-level there)", () => {
		const data = { clientId: 'id', clientSecret: 's', serverUrl: 'https://x' };
		expect(schemaProblems({ ...data, accessTokenUrl: 'https://x/t', authUrl: 'https://x/a' }, schema('oAuth2Api'))).toEqual([]);
		expect(schemaProblems({ ...data, apiKey: 'k', appId: 'a' }, schema('hubspotDeveloperApi'))).toEqual([]);
	});

	// n8n 2.40.7 declares every field in `properties`; a schema that declares some only inside
	// `allOf[].then` (the shape of the finding) is made here from the real oAuth2Api schema.
	function thenOnly(): CredentialSchema {
		const moved = schema('oAuth2Api');
		const properties = moved.properties ?? {};
		const onlyThen = { clientId: properties.clientId, clientSecret: properties.clientSecret, grantType: properties.grantType };
		for (const field of Object.keys(onlyThen)) delete properties[field];
		(moved.allOf as Array<{ then: Record<string, unknown> }>)[0].then.properties = onlyThen;
		return moved;
	}

	it('accepts a field declared only under allOf[].then, and checks its type and options', () => {
		const moved = thenOnly();
		expect(Object.keys(schemaFields(moved))).toEqual(expect.arrayContaining(['clientId', 'clientSecret', 'grantType', 'authUrl']));
		expect(schemaProblems({ clientId: 'id', clientSecret: 's' }, moved)).toEqual([]);
		expect(schemaProblems({ clientId: 42, grantType: 'implicit' }, moved)).toEqual([
			'field "clientId" must be string, got a number',
			'field "grantType" must be one of "authorizationCode", "clientCredentials", "pkce"',
		]);
	});

	it('still refuses a field named only in a condition (a hidden field n8n refuses too)', () => {
		expect(schemaProblems({ useDynamicClientRegistration: true }, schema('oAuth2Api'))[0]).toMatch(/^unknown field "useDynamicClientRegistration"/);
	});
});
