// @ts-check
'use strict';
/**
 * Writes nodes/shared/swap/n8nCredentialTypes.ts from the credential classes of the n8n release the
 * tests run against (n8n-nodes-base in the harness's cache), so the swap knows two things n8n's public
 * schema endpoint does not tell (it leaves out `hidden` fields and every default):
 *  - which types may keep a fetched token across a partial update (OAuth1/OAuth2 and their
 *    descendants, a session token in an expirable field / preAuthentication, any hidden field);
 *  - which fields a full replacement must set for the credential to stay usable: string fields whose
 *    default is empty and that the class marks required, that its authenticate/test/preAuthentication
 *    reads, or (generic non-OAuth HTTP auth types) all of them; with the displayOptions that show them;
 *  - which fields say where n8n connects or sends the credential (`connects`): a caller who sets them
 *    chooses the destination (server-side request forgery), so tenant data may set them only when the
 *    workflow author lists them in Allowed Fields. See connectionFields() for what counts;
 *  - the OAuth2 grant a type uses when the data does not set `grantType` (`defaults.grantType`).
 * Run with Node 24 (n8n-nodes-base needs it): `<cache>/node-24/.../bin/node scripts/gen-credential-types.js`.
 */
const fs = require('fs');
const path = require('path');
const { getPaths, N8N_VERSION } = require('../test/harness/install.js');

const modules = path.join(getPaths().n8nDir, 'node_modules');
const { NodeHelpers, injectDomainRestrictionFields } = require(path.join(modules, 'n8n-workflow'));
const credentialsDir = path.join(modules, 'n8n-nodes-base', 'dist', 'credentials');

/** @type {Record<string, any>} */
const types = {};
for (const file of fs.readdirSync(credentialsDir).filter((f) => f.endsWith('.credentials.js'))) {
	let exported;
	try {
		exported = require(path.join(credentialsDir, file));
	} catch {
		continue;
	}
	for (const Class of Object.values(exported)) {
		if (typeof Class !== 'function') continue;
		try {
			const instance = new Class();
			if (instance && typeof instance.name === 'string') types[instance.name] = instance;
		} catch {
			// A class that needs constructor arguments: read it as a plain object is not possible; skipped.
		}
	}
}

/**
 * n8n's CredentialsHelper.getCredentialsProperties (2.40.7): the type's own and inherited fields. With
 * `loaded`, also the domain-restriction fields n8n 2.x adds to a type when it loads it
 * (load-nodes-and-credentials: injectDomainRestrictionFields), as n8n's schema endpoint shows them.
 */
function propertiesOf(name, loaded = false) {
	const type = types[name];
	if (!type) throw new Error(`unknown credential type ${name}`);
	const own = loaded && injectDomainRestrictionFields ? injectDomainRestrictionFields(type) : type.properties;
	if (!type.extends) return own;
	const merged = [];
	for (const parent of type.extends) NodeHelpers.mergeNodeProperties(merged, propertiesOf(parent, loaded));
	NodeHelpers.mergeNodeProperties(merged, own);
	return merged;
}

function ancestors(name) {
	const type = types[name];
	return type && type.extends ? type.extends.flatMap((parent) => [parent, ...ancestors(parent)]) : [];
}

/** Fields named as $credentials.x (or credentials.x in a function) in what n8n sends. */
function usedFields(type) {
	const text = [type.authenticate, type.test, type.preAuthentication]
		.map((part) => (typeof part === 'function' ? part.toString() : JSON.stringify(part ?? null)))
		.join('\n');
	return new Set([...text.matchAll(/credentials\??\.(\w+)/g)].map((match) => match[1]));
}

/** A simple displayOptions.show (plain values only); undefined when the field is always shown; null when it cannot be read. */
function showCondition(property) {
	const options = property.displayOptions;
	if (!options) return undefined;
	if (options.hide || !options.show) return null;
	const show = {};
	for (const [field, values] of Object.entries(options.show)) {
		if (field.startsWith('@') || field.startsWith('/')) return null;
		if (!Array.isArray(values) || values.some((value) => value !== null && typeof value === 'object')) return null;
		show[field] = values;
	}
	return show;
}

/** The domain restriction n8n 2.x adds (allowedHttpRequestDomains, allowedDomains): it says where the credential may be sent. */
const DOMAIN_RESTRICTION = ['allowedHttpRequestDomains', 'allowedDomains'];
/**
 * Names that say where n8n connects: *Url / *Uri, *Endpoint(s), host / hostname / *Host, port / *Port,
 * *domain* (domain, subdomain, allowedDomains), server, *Site, *Origin, account (the host's first label);
 * and by name the few that hold an address list or connection string. Regions are not: n8n offers them
 * as a fixed list (options), which the schema check holds the data to.
 */
const CONNECTION_NAMES = [
	/(url|uri)$/i,
	/endpoints?$/i,
	/^(host|hostname)$/i,
	/Host(name)?$/,
	/^port$|Port$/,
	/domain/i,
	/^server$/,
	/Site$/,
	/Origin$/,
	/^(brokers|connectionString)$/,
	// Azure Storage / Cosmos DB, Snowflake, Chargebee build the host from it: https://<account>.blob.core.windows.net.
	/^account(Name)?$/,
];
/** A default or placeholder that is an address: http(s)://, another scheme, or a host name such as localhost / x.example.com. */
const ADDRESS_TEXT = /^(=?\s*(e\.g\.\s*)?)([a-z][a-z0-9+.-]*:\/\/|localhost\b|[\w-]+(\.[\w-]+)*\.(com|net|org|io|cloud|dev)\b)/i;

/**
 * Fields a request URL of the type (its test request, its authenticate properties)
 * puts before the path: the scheme and host part (`={{$credentials.url}}/api`,
 * `=https://{{$credentials.subdomain}}.zendesk.com/api`), where the value chooses the server.
 */
function hostPartFields(type) {
	const templates = [];
	const request = type.test && type.test.request;
	if (request) templates.push(request.baseURL, request.url);
	const authenticate = type.authenticate;
	if (authenticate && typeof authenticate === 'object' && authenticate.properties) templates.push(authenticate.properties.baseURL, authenticate.properties.url);
	const fields = new Set();
	for (const template of templates) {
		if (typeof template !== 'string') continue;
		const text = template.replace(/^=/, '');
		for (const match of text.matchAll(/\{\{[^}]*?credentials\??\.(\w+)[^}]*\}\}/g)) {
			// What comes before the field, other fields left out: no "/" after the scheme = still the host.
			const before = text.slice(0, match.index).replace(/\{\{.*?\}\}/g, '');
			const scheme = before.indexOf('://');
			if (!before.slice(scheme === -1 ? 0 : scheme + 3).includes('/')) fields.add(match[1]);
		}
	}
	return fields;
}

/**
 * The fields of a type that say where n8n connects or sends the credential: the domain restriction,
 * and free-text fields (string or number, not a fixed list of options, not hidden: the API cannot set
 * hidden fields) with a connection name, an address as default or placeholder, or a place in the host
 * part of one of the type's request URLs.
 */
function connectionFields(type, loadedProperties) {
	const inHost = hostPartFields(type);
	const fields = [];
	for (const property of loadedProperties) {
		const name = property.name;
		if (DOMAIN_RESTRICTION.includes(name)) {
			fields.push(name);
			continue;
		}
		// OAuth scopes are often URLs (https://…/.default) but name permissions, not a destination.
		if ((property.type !== 'string' && property.type !== 'number') || /scope/i.test(name)) continue;
		const address = [property.default, property.placeholder].some((text) => typeof text === 'string' && ADDRESS_TEXT.test(text));
		if (CONNECTION_NAMES.some((pattern) => pattern.test(name)) || address || inHost.has(name)) fields.push(name);
	}
	return [...new Set(fields)];
}

const isEmpty = (value) => value === undefined || value === null || value === '';

const table = {};
for (const name of Object.keys(types).sort()) {
	let properties;
	try {
		properties = propertiesOf(name);
	} catch {
		continue;
	}
	const lineage = [name, ...ancestors(name)];
	let keepsToken;
	if (lineage.includes('oAuth2Api')) keepsToken = 'oAuth2';
	else if (lineage.includes('oAuth1Api')) keepsToken = 'oAuth1';
	else if (typeof types[name].preAuthentication === 'function' || properties.some((p) => p.typeOptions?.expirable)) keepsToken = 'session';
	else if (properties.some((p) => p.type === 'hidden')) keepsToken = 'hidden';

	const used = usedFields(types[name]);
	const byName = new Map(properties.map((p) => [p.name, p]));
	const needs = [];
	const conditionDefaults = {};
	for (const property of properties) {
		if (property.type !== 'string' || !isEmpty(property.default)) continue;
		// n8n builds a generic non-OAuth type's request from its fields (HTTP Request's Header/Basic/Query Auth).
		const generic = types[name].genericAuth === true && keepsToken !== 'oAuth1' && keepsToken !== 'oAuth2';
		if (!(property.required === true || used.has(property.name) || generic)) continue;
		const show = showCondition(property);
		if (show === null) continue; // shown under conditions this table cannot express: not required
		if (show === undefined) {
			needs.push(property.name);
			continue;
		}
		needs.push([property.name, show]);
		for (const field of Object.keys(show)) {
			const control = byName.get(field);
			if (control && control.default !== undefined) conditionDefaults[field] = control.default;
		}
	}
	// The grant n8n uses when the data does not set one (descendants often fix it in a hidden field):
	// authorization code and PKCE keep a tenant's refresh token, which tenant data must not carry.
	const grantType = keepsToken === 'oAuth2' ? byName.get('grantType') : undefined;
	if (grantType && grantType.default !== undefined) conditionDefaults.grantType = grantType.default;
	const secrets = properties.filter((p) => p.typeOptions?.password === true).map((p) => p.name);
	const connects = connectionFields(types[name], propertiesOf(name, true));
	const entry = {};
	if (keepsToken) entry.keepsToken = keepsToken;
	if (needs.length) entry.needs = needs;
	if (Object.keys(conditionDefaults).length) entry.defaults = conditionDefaults;
	entry.secrets = secrets;
	entry.connects = connects;
	table[name] = entry;
}

const target = path.join(__dirname, '..', 'nodes', 'shared', 'swap', 'n8nCredentialTypes.ts');
const body = Object.entries(table)
	.map(([name, entry]) => `\t${JSON.stringify(name)}: ${JSON.stringify(entry)},`)
	.join('\n');
fs.writeFileSync(
	target,
	`// Generated by scripts/gen-credential-types.js from n8n-nodes-base of n8n ${N8N_VERSION}; do not edit.\n` +
		`// Run it again (with Node 24) after moving the tests to another n8n release.\n\n` +
		`/** What n8n's public schema endpoint leaves out (hidden fields, defaults), per built-in credential type. */\n` +
		`export interface KnownCredentialType {\n` +
		`\t/** Why a partial update may keep the previous tenant's token or session (absent: it cannot). */\n` +
		`\tkeepsToken?: 'oAuth1' | 'oAuth2' | 'session' | 'hidden';\n` +
		`\t/** Fields a full replacement must set (n8n's default is empty); [field, shown only when field has one of values]. */\n` +
		`\tneeds?: Array<string | [string, Record<string, unknown[]>]>;\n` +
		`\t/** n8n's defaults of the fields those conditions look at, and of an OAuth2 type's grantType. */\n` +
		`\tdefaults?: Record<string, unknown>;\n` +
		`\t/** Fields n8n shows as passwords (typeOptions.password): what outputs must never carry. */\n` +
		`\tsecrets: string[];\n` +
		`\t/** Fields that say where n8n connects or sends the credential (URL, host, port, domains): set by tenant data only through Allowed Fields. */\n` +
		`\tconnects: string[];\n` +
		`}\n\n` +
		`export const N8N_CREDENTIAL_TYPES_VERSION = ${JSON.stringify(N8N_VERSION)};\n\n` +
		`export const KNOWN_CREDENTIAL_TYPES: Readonly<Record<string, KnownCredentialType>> = {\n${body}\n};\n`,
);
process.stdout.write(`${Object.keys(table).length} credential types written to ${path.relative(process.cwd(), target)}\n`);
