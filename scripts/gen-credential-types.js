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
 *    reads, or (generic non-OAuth HTTP auth types) all of them; with the displayOptions that show them.
 * Run with Node 24 (n8n-nodes-base needs it): `<cache>/node-24/.../bin/node scripts/gen-credential-types.js`.
 */
const fs = require('fs');
const path = require('path');
const { getPaths, N8N_VERSION } = require('../test/harness/install.js');

const modules = path.join(getPaths().n8nDir, 'node_modules');
const { NodeHelpers } = require(path.join(modules, 'n8n-workflow'));
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

/** n8n's CredentialsHelper.getCredentialsProperties (2.40.7): the type's own and inherited fields. */
function propertiesOf(name) {
	const type = types[name];
	if (!type) throw new Error(`unknown credential type ${name}`);
	if (!type.extends) return type.properties;
	const merged = [];
	for (const parent of type.extends) NodeHelpers.mergeNodeProperties(merged, propertiesOf(parent));
	NodeHelpers.mergeNodeProperties(merged, type.properties);
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
	const secrets = properties.filter((p) => p.typeOptions?.password === true).map((p) => p.name);
	const entry = {};
	if (keepsToken) entry.keepsToken = keepsToken;
	if (needs.length) entry.needs = needs;
	if (Object.keys(conditionDefaults).length) entry.defaults = conditionDefaults;
	entry.secrets = secrets;
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
		`\t/** n8n's defaults of the fields those conditions look at. */\n` +
		`\tdefaults?: Record<string, unknown>;\n` +
		`\t/** Fields n8n shows as passwords (typeOptions.password): what outputs must never carry. */\n` +
		`\tsecrets: string[];\n` +
		`}\n\n` +
		`export const N8N_CREDENTIAL_TYPES_VERSION = ${JSON.stringify(N8N_VERSION)};\n\n` +
		`export const KNOWN_CREDENTIAL_TYPES: Readonly<Record<string, KnownCredentialType>> = {\n${body}\n};\n`,
);
process.stdout.write(`${Object.keys(table).length} credential types written to ${path.relative(process.cwd(), target)}\n`);
