/**
 * What the editor shows: one scope list everywhere, named credential selectors, wording, and the
 * credential test's messages for answers a real n8n 2.40.7 cannot give (older n8n versions).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { TenantSwapN8nApi } from '../../credentials/TenantSwapN8nApi.credentials';
import { RunWithTenantCredential } from '../../nodes/RunWithTenantCredential/RunWithTenantCredential.node';
import { TenantCredentialSwap } from '../../nodes/TenantCredentialSwap/TenantCredentialSwap.node';
import { tenantSwapN8nApiTest } from '../../nodes/shared/transport/credentialTest';
import { TenantLockRelease } from '../../nodes/TenantLockRelease/TenantLockRelease.node';
import { lockBackendProperty } from '../../nodes/shared/lockParameters';
import { API_SCOPES, API_SCOPES_TEXT } from '../../nodes/shared/transport/apiScopes';
import { N8nApiError } from '../../nodes/shared/transport/n8nApiErrors';

const README = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
const credential = new TenantSwapN8nApi();
const property = (name: string) => credential.properties.find((p) => p.name === name)!;

describe('one scope list everywhere', () => {
	it('the credential tooltip lists every scope the nodes use', () => {
		expect(property('apiKey').description).toContain(API_SCOPES_TEXT);
	});

	it("the README's set-up step lists exactly those scopes", () => {
		const step = README.split('\n## Install')[1].split('with the scopes')[1].split('(for *Renew')[0];
		const scopes = [...step.matchAll(/`([a-z]+:[a-z]+)`/g)].map((m) => m[1]);
		expect(scopes).toEqual([...API_SCOPES]);
	});

	it("a 403 names the operation's scope and the whole list", () => {
		const error = new N8nApiError('create temporary credential', 403, 'Forbidden');
		expect(error.hint).toBe(`The API key lacks the scope credential:create (to create the temporary credential). Give it all of: ${API_SCOPES_TEXT}.`);
	});
});

describe('credential selectors and wording', () => {
	it('names the two credential selectors of each node', () => {
		const names = (node: { description: { credentials?: Array<{ name: string; displayName?: string }> } }) =>
			Object.fromEntries((node.description.credentials ?? []).map((c) => [c.name, c.displayName]));
		expect(names(new TenantCredentialSwap())).toEqual({ tenantSwapN8nApi: 'n8n API', postgres: 'Lock Database', redis: 'Lock Redis' });
		expect(names(new TenantLockRelease())).toEqual({ postgres: 'Lock Database', redis: 'Lock Redis' });
	});

	it('the in-memory backend option never says "N8n"', () => {
		const names = (lockBackendProperty.options as Array<{ name: string }>).map((o) => o.name);
		expect(names).toEqual(['PostgreSQL', 'Redis', 'In-Memory (Single Process Only)']);
		expect(JSON.stringify(lockBackendProperty)).not.toContain('N8n');
	});

	it("a new credential's default name reads well (the editor drops the word API and adds account)", () => {
		// n8n 2.40.7's editor: displayName split on spaces, without API/OAuth1/OAuth2/MCP, plus " account".
		const defaultName = `${credential.displayName.split(' ').filter((w) => !['API', 'OAuth1', 'OAuth2', 'MCP'].includes(w)).join(' ')} account`;
		expect(defaultName).toBe('Tenant Swap n8n account');
	});

	it('Base URL says how to find it when n8n listens elsewhere', () => {
		expect(property('baseUrl').description).toMatch(/N8N_PORT \(5678 unless changed/);
	});

	it("the documentation link opens the README's set-up section", () => {
		const [page, anchor] = String(credential.documentationUrl).split('#');
		expect(page).toBe('https://www.npmjs.com/package/n8n-nodes-tenant-credential-swap');
		expect(README).toMatch(new RegExp(`^## ${anchor}$`, 'im'));
	});

	it('the examples pick the base credential From List, not by an opaque ID', () => {
		for (const file of ['multi-tenant-webhook', 'per-tenant-base-credentials']) {
			const workflow = JSON.parse(readFileSync(join(__dirname, '..', '..', 'examples', `${file}.json`), 'utf8'));
			for (const node of workflow.nodes.filter((n: { type: string }) => n.type.endsWith('.tenantCredentialSwap'))) {
				expect(node.parameters.baseCredential).toMatchObject({ mode: 'list', cachedResultName: expect.stringMatching(/\(httpHeaderAuth\)$/) });
			}
		}
	});
});

describe('the credential test on n8n versions without the credential API', () => {
	const answering = (statusCode: number, body: unknown) =>
		({ helpers: { request: async () => ({ statusCode, body }) } }) as never;
	const data = { baseUrl: 'http://127.0.0.1:5678/api/v1', apiKey: 'k' };

	it.each([
		['405 (n8n 1.x, 2.0 to 2.7: no credential list)', 405, { message: 'method not allowed' }],
		['404 of a route that does not exist', 404, { message: 'not found' }],
	])('%s names the version needed', async (_name, status, body) => {
		const result = await tenantSwapN8nApiTest.call(answering(status, body), { id: '1', name: 'n', type: 't', data });
		expect(result.status).toBe('Error');
		expect(result.message).toMatch(/The nodes need n8n 2\.8 or later/);
	});
});

describe('what a caller may set: the editor and the README say it', () => {
	it.each([
		['Tenant Credential Swap', new TenantCredentialSwap()],
		['Run With Tenant Credential', new RunWithTenantCredential()],
	])('%s shows the notice just before Credential Data: authenticate the webhook, "=" and connection fields refused', (_name, node) => {
		const names = node.description.properties.map((p) => p.name);
		const notice = node.description.properties[names.indexOf('credentialData') - 1];
		expect(notice.type).toBe('notice');
		expect(notice.displayName).toMatch(/Webhook node Authentication \(Header Auth, Basic Auth or JWT\)/);
		expect(notice.displayName).toMatch(/starting with "=" are refused; URL, host, port and domain fields only when listed in Allowed Fields/);
		expect(notice.displayName.length).toBeLessThan(260);
	});

	it('the README has one table of the rules, and how to authenticate the webhook', () => {
		const section = README.split('\n## What a caller may set\n')[1].split('\n## ')[0];
		const rows = section.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| ---'));
		expect(rows.slice(1).map((row) => row.split(' | ')[0].slice(2))).toEqual([
			'Expressions',
			'Connection fields (built-in types)',
			'Unknown (community) types',
			'Allowed Fields',
			'Fields and value types',
			'Empty values',
			'Partial Update (Tenant Credential Swap)',
			'Tenant ID',
			'Limits (Run With Tenant Credential)',
			'Items passed into the sub-workflow (Run With Tenant Credential)',
		]);
		expect(section.match(/^\| Rule \|/gm)).toHaveLength(1);
		expect(section).toMatch(/\*\*Authenticate the webhook\.\*\*[^]*\*Header Auth\*[^]*\*Basic Auth\*[^]*\*JWT Auth\*/);
	});
});
