import type { IDataObject } from 'n8n-workflow';

import type { CredentialSchema, JsonSchemaProperty } from '../transport/n8nApiClient';

/** Accepts an object, or JSON text of one (an expression may yield either). */
export function parseCredentialData(value: unknown): { data?: IDataObject; problem?: string } {
	let parsed = value;
	if (typeof value === 'string') {
		if (value.trim() === '') return { problem: 'is empty' };
		try {
			parsed = JSON.parse(value);
		} catch {
			return { problem: 'is not valid JSON (check quotes and commas, or map an object with an expression)' };
		}
	}
	if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
		return { problem: `must be an object of credential fields, got ${describeType(parsed)}` };
	}
	if (Object.keys(parsed).length === 0) return { problem: 'has no fields' };
	return { data: parsed as IDataObject };
}

/** Field names, value types and option lists checked against n8n's schema for the type. */
export function schemaProblems(data: IDataObject, schema: CredentialSchema): string[] {
	const problems: string[] = [];
	const properties = schemaFields(schema);
	const known = Object.keys(properties);
	for (const [field, value] of Object.entries(data)) {
		const property = properties[field];
		if (!property) {
			problems.push(`unknown field "${field}"${known.length ? ` (fields of this type: ${known.join(', ')})` : ''}`);
			continue;
		}
		const typeProblem = valueTypeProblem(value, property);
		if (typeProblem) problems.push(`field "${field}" ${typeProblem}`);
	}
	return problems;
}

/**
 * Every field a schema declares: its `properties`, and those declared only inside n8n's conditional parts
 * (`allOf[].then` / `else`, nested `allOf` / `anyOf` / `oneOf`), which n8n builds from displayOptions.
 * A field declared in several places keeps its top-level definition.
 */
export function schemaFields(schema: CredentialSchema): Record<string, JsonSchemaProperty> {
	const fields: Record<string, JsonSchemaProperty> = {};
	const visit = (part: unknown, depth: number) => {
		if (!part || typeof part !== 'object' || depth > 8) return;
		const node = part as { properties?: unknown; then?: unknown; else?: unknown; allOf?: unknown; anyOf?: unknown; oneOf?: unknown };
		if (node.properties && typeof node.properties === 'object') {
			for (const [field, definition] of Object.entries(node.properties as Record<string, unknown>)) {
				if (!(field in fields) && definition && typeof definition === 'object') fields[field] = definition as JsonSchemaProperty;
			}
		}
		for (const branch of [node.then, node.else]) visit(branch, depth + 1);
		for (const group of [node.allOf, node.anyOf, node.oneOf]) if (Array.isArray(group)) for (const inner of group) visit(inner, depth + 1);
	};
	visit({ properties: schema.properties }, 0);
	for (const entry of schema.allOf ?? []) visit(entry && typeof entry === 'object' ? { then: (entry as { then?: unknown }).then, else: (entry as { else?: unknown }).else } : undefined, 0);
	return fields;
}

function valueTypeProblem(value: unknown, property: JsonSchemaProperty): string | undefined {
	if (value === null || value === undefined) return undefined;
	const types = property.type === undefined ? [] : Array.isArray(property.type) ? property.type : [property.type];
	if (types.length > 0 && !types.some((type) => matchesType(value, type))) {
		return `must be ${types.join(' or ')}, got ${describeType(value)}`;
	}
	if (Array.isArray(property.enum) && property.enum.length > 0 && !property.enum.includes(value)) {
		// Values of an option list are not secrets; listing them tells the user what to send.
		return `must be one of ${property.enum.map((option) => JSON.stringify(option)).join(', ')}`;
	}
	return undefined;
}

function matchesType(value: unknown, type: string): boolean {
	switch (type) {
		case 'string':
			return typeof value === 'string';
		case 'number':
			return typeof value === 'number' && Number.isFinite(value);
		case 'integer':
			return Number.isInteger(value);
		case 'boolean':
			return typeof value === 'boolean';
		case 'object':
			return typeof value === 'object' && !Array.isArray(value);
		case 'array':
			return Array.isArray(value);
		case 'null':
			return value === null;
		default:
			return true;
	}
}

export function describeType(value: unknown): string {
	if (value === null) return 'null';
	if (Array.isArray(value)) return 'an array';
	if (typeof value === 'object') return 'an object';
	return `a ${typeof value}`;
}

/** Key order must not make equal data look different. */
export function canonicalJson(value: unknown): string {
	if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
	if (value && typeof value === 'object') {
		const entries = Object.entries(value as Record<string, unknown>)
			.filter(([, v]) => v !== undefined)
			.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
		return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
	}
	return JSON.stringify(value);
}

/** Every string value in the data, for scrubbing outputs. Walked with a stack: caller-sent data may nest deeper than the call stack. */
export function secretStrings(data: unknown, out: Set<string> = new Set()): Set<string> {
	const pending: unknown[] = [data];
	while (pending.length > 0) {
		const value = pending.pop();
		if (typeof value === 'string') {
			if (value.length > 0) out.add(value);
		} else if (Array.isArray(value)) {
			for (const inner of value) pending.push(inner);
		} else if (value && typeof value === 'object') {
			for (const inner of Object.values(value)) pending.push(inner);
		}
	}
	return out;
}

/** Neutral: both nodes (and n8n's stored sub-executions) show it, so it names neither node. */
export const REDACTED = '[redacted tenant secret]';
/** Shorter values are only redacted where they are a whole value: as substrings they would hit ordinary text. */
const MIN_SUBSTRING_SECRET = 8;

/** A copy of `value` in which no secret string appears. */
export function redactSecrets<T>(value: T, secrets: Set<string>): T {
	if (secrets.size === 0) return value;
	const long = [...secrets].filter((secret) => secret.length >= MIN_SUBSTRING_SECRET).sort((a, b) => b.length - a.length);
	const walk = (node: unknown): unknown => {
		if (typeof node === 'string') {
			if (secrets.has(node)) return REDACTED;
			// A value the data was built from: "Bearer " + token, a URL or JSON text around a key.
			if (node.length >= MIN_SUBSTRING_SECRET && long.some((secret) => secret.includes(node))) return REDACTED;
			let text = node;
			for (const secret of long) if (text.includes(secret)) text = text.split(secret).join(REDACTED);
			return text;
		}
		if (Array.isArray(node)) return node.map(walk);
		if (node && typeof node === 'object' && !(node instanceof Date)) {
			return Object.fromEntries(Object.entries(node as Record<string, unknown>).map(([k, v]) => [k, walk(v)]));
		}
		return node;
	};
	return walk(value) as T;
}
