import type { IDataObject } from 'n8n-workflow';

import { shorten } from '../lock/errors';
import { SwapItemError } from '../swap/errors';
import { nothingDone, quotedList, type TenantDataTarget } from './target';

/** n8n-workflow's isExpression: a string whose first character is "=" is evaluated wherever n8n resolves parameters, credential data included. */
const isExpression = (value: unknown): boolean => typeof value === 'string' && value.charAt(0) === '=';

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
const MAX_PATHS_SHOWN = 5;

function childPath(parent: string, key: string | number): string {
	if (typeof key === 'number') return `${parent}[${key}]`;
	const name = shorten(key, 60);
	if (IDENTIFIER.test(key)) return parent ? `${parent}.${name}` : name;
	return `${parent}[${JSON.stringify(name)}]`;
}

/**
 * Paths of every string value, at any depth (objects, arrays), that n8n would evaluate as an expression:
 * `value`, `headers[2].value`, `oauthTokenData.access_token`. Keys are not evaluated, only values.
 * Walked with a stack, so deeply nested data cannot overflow the call stack.
 */
export function expressionPaths(data: IDataObject): string[] {
	const found: string[] = [];
	const stack: Array<[string, unknown]> = Object.entries(data).reverse().map(([key, value]) => [childPath('', key), value]);
	while (stack.length > 0) {
		const [path, value] = stack.pop()!;
		if (isExpression(value)) found.push(path);
		else if (Array.isArray(value)) for (let index = value.length - 1; index >= 0; index--) stack.push([childPath(path, index), value[index]]);
		else if (value && typeof value === 'object') for (const [key, inner] of Object.entries(value).reverse()) stack.push([childPath(path, key), inner]);
	}
	return found;
}

/** The refusal for data holding an expression: names the field paths, never the values. No option turns it off. */
export function expressionRefusal(target: TenantDataTarget, data: IDataObject, itemIndexes: number[]): SwapItemError | undefined {
	const paths = expressionPaths(data);
	if (paths.length === 0) return undefined;
	const shown = quotedList(paths.slice(0, MAX_PATHS_SHOWN)) + (paths.length > MAX_PATHS_SHOWN ? ` and ${paths.length - MAX_PATHS_SHOWN} more` : '');
	const subject = paths.length === 1 ? `field ${shown} starts` : `fields ${shown} start`;
	return new SwapItemError(`Credential data ${subject} with "=", which n8n would evaluate as an expression`, itemIndexes, {
		parameter: 'credentialData',
		description:
			'n8n evaluates a credential value that starts with "=" as an expression each time the credential is used, with access to the workflow\'s data, variables and secrets: ' +
			`the caller could run code in n8n and have the result sent with the credential. Tenant data can never hold such a value. ${nothingDone(target)}`,
	});
}
