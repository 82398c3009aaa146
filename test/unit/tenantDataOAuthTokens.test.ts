/**
 * Issue 19, "the swap refuses": tenant data carrying an OAuth2 tenant's tokens (`oauthTokenData`) for a
 * grant n8n refreshes with the refresh token (Authorization Code, PKCE) is refused by both nodes, before
 * anything is locked or created: n8n's refresh writes the rotated tokens into the credential the node
 * used, which the next swap overwrites (Tenant Credential Swap) or Retention deletes (Run With Tenant
 * Credential), and the tenant's connection is lost. Client Credentials data (with or without a token) and
 * OAuth1 tokens stay allowed. Each refused shape has a control that only the rule stops it; schemas are
 * what n8n 2.40.7 answered (test/fixtures/credentialSchemas.json).
 */
import type { IDataObject } from 'n8n-workflow';

import { SwapItemError } from '../../nodes/shared/swap/errors';
import { KNOWN_CREDENTIAL_TYPES } from '../../nodes/shared/swap/n8nCredentialTypes';
import { oauthTokenRefusal } from '../../nodes/shared/tenantData/oauthTokens';
import { isOAuth2Type, oauth2GrantOf } from '../../nodes/shared/tenantData/oauthTypes';
import { checkTenantData, refusalBeforeSchema, type CredentialSchemaSource, type TenantDataPolicy, type TenantDataTarget } from '../../nodes/shared/tenantData/policy';
import type { CredentialSchema } from '../../nodes/shared/transport/n8nApiClient';
import recorded from '../fixtures/credentialSchemas.json';

const schemas = recorded.schemas as unknown as Record<string, CredentialSchema>;
const schema = (type: string): CredentialSchema => JSON.parse(JSON.stringify(schemas[type])) as CredentialSchema;

const CLIENT_SECRET = 'client-SECRET-0123456789';
const ACCESS_TOKEN = 'tenant-ACCESS-token-0123456789';
const REFRESH_TOKEN = 'tenant-REFRESH-token-0123456789';
const TOKENS = { access_token: ACCESS_TOKEN, refresh_token: REFRESH_TOKEN, token_type: 'Bearer', expires_in: 3600 };
const VALUES = [CLIENT_SECRET, ACCESS_TOKEN, REFRESH_TOKEN];

const swapTarget = (type: string): TenantDataTarget => ({ type, baseCredentialName: 'Shared CRM' });
const runTarget = (type: string): TenantDataTarget => ({ type });
/** Every field the shapes below set, so Allowed Fields is never what stops them. */
const everyField: TenantDataPolicy = {
	allowedFields: ['grantType', 'authUrl', 'accessTokenUrl', 'clientId', 'clientSecret', 'scope', 'authentication', 'oauthTokenData', 'consumerKey', 'consumerSecret', 'apiPermissions', 'apiKey', 'appId'],
};

/** A schema source like N8nApiClient's; "acme" types are community types n8n answers the schema of as the named built-in one. */
function schemaSource(asIf: Record<string, string> = {}): CredentialSchemaSource & { reads: string[] } {
	const reads: string[] = [];
	return {
		reads,
		getSchema: async (type: string) => {
			reads.push(type);
			return schema(asIf[type] ?? type);
		},
	};
}

const shown = (error: SwapItemError | undefined) => `${error?.message} ${error?.options.description}`;

const AUTH_CODE = { authUrl: 'https://idp.example.com/authorize', accessTokenUrl: 'https://idp.example.com/token', clientId: 'app-1', clientSecret: CLIENT_SECRET, scope: 'crm', authentication: 'header' };
const CLIENT_CREDENTIALS = { grantType: 'clientCredentials', accessTokenUrl: 'https://idp.example.com/token', clientId: 'app-1', clientSecret: CLIENT_SECRET, scope: '', authentication: 'body' };

describe('refused: OAuth2 tokens of a grant n8n refreshes with the refresh token', () => {
	it.each<[string, string, IDataObject, string]>([
		['oAuth2Api, Authorization Code named in the data', 'oAuth2Api', { ...AUTH_CODE, grantType: 'authorizationCode', oauthTokenData: TOKENS }, 'Authorization Code'],
		["oAuth2Api, no grantType (n8n's default: Authorization Code)", 'oAuth2Api', { ...AUTH_CODE, oauthTokenData: TOKENS }, 'Authorization Code'],
		['oAuth2Api, PKCE', 'oAuth2Api', { ...AUTH_CODE, grantType: 'pkce', oauthTokenData: TOKENS }, 'PKCE'],
		['a built-in descendant whose grant is hidden (googleOAuth2Api)', 'googleOAuth2Api', { clientId: 'app-1', clientSecret: CLIENT_SECRET, oauthTokenData: TOKENS }, 'Authorization Code'],
		['a built-in descendant fixed to PKCE (airtableOAuth2Api)', 'airtableOAuth2Api', { clientId: 'app-1', clientSecret: CLIENT_SECRET, oauthTokenData: TOKENS }, 'PKCE'],
		['a descendant without "oauth" in its name (hubspotDeveloperApi)', 'hubspotDeveloperApi', { clientId: 'app-1', clientSecret: CLIENT_SECRET, apiKey: 'k', appId: '1', oauthTokenData: TOKENS }, 'Authorization Code'],
		['databricksOAuth2Api (Client Credentials by default) set to Authorization Code', 'databricksOAuth2Api', { grantType: 'authorizationCode', clientId: 'app-1', clientSecret: CLIENT_SECRET, oauthTokenData: TOKENS }, 'Authorization Code'],
		['token data set to null (the field is set, whatever its value)', 'oAuth2Api', { ...AUTH_CODE, oauthTokenData: null }, 'Authorization Code'],
	])('%s', (_name, type, data, grant) => {
		for (const target of [swapTarget(type), runTarget(type)]) {
			const refusal = oauthTokenRefusal(target, data, undefined, [3]);
			expect(refusal).toBeInstanceOf(SwapItemError);
			expect(refusal?.options.parameter).toBe('credentialData');
			expect(refusal?.itemIndexes).toEqual([3]);
			expect(refusal?.message).toBe(
				`Credential data sets "oauthTokenData" (the tenant's OAuth2 tokens) for a "${type}" credential with the ${grant} grant: the tenant would lose the connection at a token refresh`,
			);
			for (const value of VALUES) expect(shown(refusal)).not.toContain(value);
			// The same rule where the nodes call it, with every field allowed: nothing but it stops the data.
			expect(refusalBeforeSchema(target, data, everyField, [3])?.message).toBe(refusal?.message);
		}
	});

	it('control: without "oauthTokenData" the same data passes the rule, so the tokens are what is refused', () => {
		expect(oauthTokenRefusal(swapTarget('oAuth2Api'), AUTH_CODE, undefined, [0])).toBeUndefined();
		expect(oauthTokenRefusal(runTarget('googleOAuth2Api'), { clientId: 'app-1', clientSecret: CLIENT_SECRET }, undefined, [0])).toBeUndefined();
	});

	it('says why and what to do, for each node: the base credential the next swap overwrites, the tenant credential Retention deletes', () => {
		const data = { ...AUTH_CODE, oauthTokenData: TOKENS };
		const swap = oauthTokenRefusal(swapTarget('oAuth2Api'), data, undefined, [0])!.options.description!;
		expect(swap).toMatch(/writes the new tokens into the base credential "Shared CRM", and the next swap replaces them/);
		expect(swap).toMatch(/rotate refresh tokens.*consent again/);
		expect(swap).toMatch(/Tenant OAuth2 Connect node .*Run With Tenant Credential, credential source "Connected tenant"/);
		expect(swap).toMatch(/Client Credentials data needs no "oauthTokenData"/);
		expect(swap).toMatch(/Nothing was changed\.$/);
		const run = oauthTokenRefusal(runTarget('oAuth2Api'), data, undefined, [0])!.options.description!;
		expect(run).toMatch(/into the tenant credential made from this data, which is deleted after Retention/);
		expect(run).toMatch(/Tenant OAuth2 Connect node .*"Connected tenant"/);
		expect(run).toMatch(/Nothing was created\.$/);
	});
});

describe('allowed: data that loses no connection', () => {
	it.each<[string, string, IDataObject]>([
		['Client Credentials without a token (n8n fetches one)', 'oAuth2Api', CLIENT_CREDENTIALS],
		['Client Credentials with a token (n8n gets the next one with the client credentials, never a refresh token)', 'oAuth2Api', { ...CLIENT_CREDENTIALS, oauthTokenData: TOKENS }],
		["databricksOAuth2Api with a token and no grantType: the type's own grant is Client Credentials", 'databricksOAuth2Api', { clientId: 'app-1', clientSecret: CLIENT_SECRET, oauthTokenData: TOKENS }],
		['OAuth1 tokens (n8n never refreshes them): oAuth1Api', 'oAuth1Api', { consumerKey: 'k', consumerSecret: CLIENT_SECRET, oauthTokenData: { oauth_token: ACCESS_TOKEN, oauth_token_secret: REFRESH_TOKEN } }],
		['OAuth1 tokens: twitterOAuth1Api', 'twitterOAuth1Api', { consumerKey: 'k', consumerSecret: CLIENT_SECRET, oauthTokenData: { oauth_token: ACCESS_TOKEN, oauth_token_secret: REFRESH_TOKEN } }],
		['Authorization Code settings without tokens (the rule is about tokens; n8n answers "not connected" for such a credential)', 'oAuth2Api', AUTH_CODE],
		['a field named "oauthTokenData" on a type that is not OAuth (n8n\'s schema refuses it as unknown later)', 'httpHeaderAuth', { name: 'x', value: 'y', oauthTokenData: TOKENS }],
	])('%s', (_name, type, data) => {
		expect(oauthTokenRefusal(swapTarget(type), data, schema(type in schemas ? type : 'oAuth2Api'), [0])).toBeUndefined();
		expect(oauthTokenRefusal(runTarget(type), data, undefined, [0])).toBeUndefined();
	});

	it("control: the grant of databricksOAuth2Api comes from the generated table (n8n's default for it is Client Credentials, for the other built-in types a refresh-token grant)", () => {
		expect(KNOWN_CREDENTIAL_TYPES.databricksOAuth2Api.defaults?.grantType).toBe('clientCredentials');
		expect(oauth2GrantOf('databricksOAuth2Api', {}, undefined)).toBe('clientCredentials');
		expect(oauth2GrantOf('googleOAuth2Api', {}, undefined)).toBe('authorizationCode');
		const oauth2Types = Object.entries(KNOWN_CREDENTIAL_TYPES).filter(([, known]) => known.keepsToken === 'oAuth2');
		expect(oauth2Types.length).toBeGreaterThan(100);
		expect(oauth2Types.filter(([, known]) => typeof known.defaults?.grantType !== 'string')).toEqual([]);
		expect(oauth2Types.filter(([, known]) => known.defaults?.grantType === 'clientCredentials').map(([type]) => type)).toEqual(['databricksOAuth2Api']);
	});

	it('Client Credentials data still passes every check of both nodes (with its token URL in Allowed Fields, as before)', async () => {
		const policy = { allowedFields: Object.keys(CLIENT_CREDENTIALS) };
		await expect(checkTenantData(schemaSource(), swapTarget('oAuth2Api'), CLIENT_CREDENTIALS, policy, [0])).resolves.toBeDefined();
		await expect(checkTenantData(schemaSource(), runTarget('oAuth2Api'), CLIENT_CREDENTIALS, policy, [0])).resolves.toBeDefined();
		const withToken = { ...CLIENT_CREDENTIALS, oauthTokenData: TOKENS };
		await expect(checkTenantData(schemaSource(), swapTarget('oAuth2Api'), withToken, { allowedFields: Object.keys(withToken) }, [0])).resolves.toBeDefined();
	});
});

describe('checkTenantData, the one entry point of both nodes', () => {
	const data = { ...AUTH_CODE, oauthTokenData: TOKENS };

	it('refuses the tokens before the fields: with Allowed Fields empty the connection fields would be refused first, whose advice only leads here', async () => {
		// Control: without the rule, the first refusal would be the connection fields' ("list them in Allowed Fields").
		const { oauthTokenData: _tokens, ...withoutTokens } = data;
		expect(refusalBeforeSchema(swapTarget('oAuth2Api'), withoutTokens, { allowedFields: [] }, [0])?.message).toMatch(/which say where n8n connects/);
		for (const target of [swapTarget('oAuth2Api'), runTarget('oAuth2Api')]) {
			const source = schemaSource();
			const refused = await checkTenantData(source, target, data, { allowedFields: [] }, [5]).catch((error) => error);
			expect(refused).toBeInstanceOf(SwapItemError);
			expect(refused.message).toMatch(/^Credential data sets "oauthTokenData" \(the tenant's OAuth2 tokens\) for a "oAuth2Api" credential with the Authorization Code grant/);
			expect(refused.itemIndexes).toEqual([5]);
			expect(source.reads).toEqual([]); // a built-in type: decided from the generated table, nothing asked of n8n
		}
	});

	it('no option turns it off: Allowed Fields listing "oauthTokenData", Fields Allowed Empty "*"', async () => {
		await expect(checkTenantData(schemaSource(), swapTarget('oAuth2Api'), data, { ...everyField, allowEmptyFields: ['*'] }, [0])).rejects.toThrow(/sets "oauthTokenData"/);
	});

	it('an expression is still refused first (its own rule, no schema read)', async () => {
		const source = schemaSource();
		await expect(checkTenantData(source, swapTarget('oAuth2Api'), { ...data, oauthTokenData: { ...TOKENS, access_token: '={{ 1 }}' } }, everyField, [0])).rejects.toThrow(
			/"oauthTokenData.access_token" starts with "="/,
		);
		expect(source.reads).toEqual([]);
	});

	it("a community type: n8n's schema tells OAuth2 (refused) from OAuth1 (allowed); the Allowed Fields refusal does not come first", async () => {
		const source = schemaSource({ acmeCrmOAuth2Api: 'hubspotDeveloperApi', acmeCrmApi: 'hubspotDeveloperApi', acmeLegacyApi: 'twitterOAuth1Api' });
		const crm = { clientId: 'app-1', clientSecret: CLIENT_SECRET, oauthTokenData: TOKENS };
		for (const type of ['acmeCrmOAuth2Api', 'acmeCrmApi']) {
			const refused = await checkTenantData(source, runTarget(type), crm, { allowedFields: ['clientId', 'clientSecret'] }, [1]).catch((error) => error);
			expect(refused.message).toMatch(new RegExp(`^Credential data sets "oauthTokenData" .* for a "${type}" credential with the Authorization Code grant`));
			for (const value of VALUES) expect(shown(refused)).not.toContain(value);
		}
		expect(source.reads).toEqual(['acmeCrmOAuth2Api', 'acmeCrmApi']);
		// Control: the types are unknown to the table, so only their schema says OAuth2.
		expect(isOAuth2Type('acmeCrmApi', undefined)).toBe(false);
		expect(isOAuth2Type('acmeCrmApi', schema('hubspotDeveloperApi'))).toBe(true);
		const legacy = { consumerKey: 'k', consumerSecret: CLIENT_SECRET, oauthTokenData: { oauth_token: ACCESS_TOKEN, oauth_token_secret: REFRESH_TOKEN } };
		await expect(checkTenantData(source, runTarget('acmeLegacyApi'), legacy, { allowedFields: Object.keys(legacy) }, [0])).resolves.toBeDefined();
	});

	it('a community type whose schema n8n cannot answer: the later checks decide, as before', async () => {
		const failing = { getSchema: async () => Promise.reject(new Error('n8n down')) };
		const crm = { clientId: 'app-1', clientSecret: CLIENT_SECRET, oauthTokenData: TOKENS };
		await expect(checkTenantData(failing, runTarget('acmeCrmApi'), crm, { allowedFields: ['clientId', 'clientSecret'] }, [0])).rejects.toThrow(/outside the allowed fields/);
		await expect(checkTenantData(failing, runTarget('acmeCrmApi'), crm, { allowedFields: Object.keys(crm) }, [0])).rejects.toThrow(/n8n down/);
	});
});
