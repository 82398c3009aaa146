/**
 * What the editor shows: one scope list everywhere, named credential selectors, wording, and the
 * credential test's messages for answers a real n8n 2.40.7 cannot give (older n8n versions).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { INodeProperties } from 'n8n-workflow';

import { TenantSwapN8nApi } from '../../credentials/TenantSwapN8nApi.credentials';
import { RunWithTenantCredential } from '../../nodes/RunWithTenantCredential/RunWithTenantCredential.node';
import { TenantCredentialSwap } from '../../nodes/TenantCredentialSwap/TenantCredentialSwap.node';
import { tenantSwapN8nApiTest } from '../../nodes/shared/transport/credentialTest';
import { TenantLockRelease } from '../../nodes/TenantLockRelease/TenantLockRelease.node';
import { lockBackendProperty } from '../../nodes/shared/lockParameters';
import { REDACTED } from '../../nodes/shared/swap/credentialData';
import { failedSubExecution, keepsSubExecution, linkRunToSubExecution, subExecutionMetadata, whereToFindFailedSubExecution } from '../../nodes/shared/tenantCredentials/subExecution';
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
			'OAuth2 tokens (Authorization Code, PKCE)',
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

describe('Run With Tenant Credential, as a new user sees it (issue 18, point 8)', () => {
	const runNode = new RunWithTenantCredential();
	const runProperty = (name: string) => runNode.description.properties.find((p) => p.name === name)!;
	const runOption = (name: string) => (runProperty('options').options as INodeProperties[]).find((p) => p.name === name)!;
	const swapNode = new TenantCredentialSwap();

	it("the lock hints say why this node needs a lock database, not the swap's pairing with Release Lock", () => {
		const hint = String(runProperty('lockBackend').description);
		expect(hint).toMatch(/registry of tenant credentials/);
		expect(hint).toMatch(/one execution at a time create a tenant's credential/);
		expect(hint).not.toMatch(/Release Lock|Tenant Credential Swap/);
		expect(String(runOption('lockTable').description)).toMatch(/registry of tenant credentials/);
		expect(String(runOption('lockTable').description)).not.toMatch(/Both nodes/);
		// The same choices as the swap's, and the swap keeps its own words (control).
		expect(runProperty('lockBackend').options).toEqual(lockBackendProperty.options);
		const swapBackend = swapNode.description.properties.find((p) => p.name === 'lockBackend')!;
		expect(swapBackend.description).toMatch(/Tenant Credential Swap and Release Lock must use the same backend/);
	});

	it('Retention shows 168, not "168.000" (no numberPrecision), and still takes fractions of an hour', () => {
		expect(runOption('retention').default).toBe(168);
		expect(runOption('retention').typeOptions?.numberPrecision).toBeUndefined();
		expect(runOption('retention').typeOptions?.minValue).toBe(0.001);
	});

	it('Save Successful Sub-Executions says that only saved ones are linked, and where n8n lists them', () => {
		const hint = String(runOption('saveSuccessfulSubExecutions').description);
		expect(hint).toMatch(/On: this node's output links it/);
		expect(hint).toMatch(/not saved and not linked/);
		expect(hint).toMatch(/under the calling workflow, not the sub-workflow/);
	});

	it('the redaction marker names neither node: both nodes and n8n\'s stored sub-executions show it', () => {
		expect(REDACTED).toBe('[redacted tenant secret]');
		expect(REDACTED).not.toMatch(/Tenant Credential Swap|Run With Tenant Credential/);
	});

	it('the example picks its sub-workflow From List by name, and its note fits an editor where it is already imported', () => {
		const workflow = JSON.parse(readFileSync(join(__dirname, '..', '..', 'examples', 'run-with-tenant-credential.json'), 'utf8'));
		const sub = JSON.parse(readFileSync(join(__dirname, '..', '..', 'examples', 'run-with-tenant-credential-sub-workflow.json'), 'utf8'));
		const node = workflow.nodes.find((n: { type: string }) => n.type.endsWith('.runWithTenantCredential'));
		expect(node.parameters.subWorkflow).toMatchObject({ mode: 'list', cachedResultName: sub.name, cachedResultUrl: `/workflow/${node.parameters.subWorkflow.value}` });
		expect(node.notes).toMatch(/^Runs "Call Tenant API \(sub-workflow of Run With Tenant Credential\)"/);
		expect(node.notes).toMatch(/Importing by hand: import and publish/);
	});

	it('npm run dev prints a "Try it" for every imported flow, this node\'s included', () => {
		// eslint-disable-next-line @typescript-eslint/no-require-imports
		const { tryItLines } = require('../../scripts/dev.js') as { tryItLines: (base: string, paths: object, rwt: boolean, body: string) => string[] };
		const lines = tryItLines('http://127.0.0.1:5678', { example: 'swap-path', control: 'control-path', runWithTenant: 'tenant-run' }, true, '{}');
		const curls = lines.filter((line) => line.includes('curl'));
		expect(curls.map((line) => /\/webhook\/(\S+)/.exec(line)?.[1])).toEqual(['swap-path', 'tenant-run', 'control-path']);
		expect(lines[lines.indexOf(curls[1]) - 1]).toMatch(/Run With Tenant Credential/);
	});
});

describe('where a failed sub-execution is, and links only to kept ones', () => {
	it('a successful sub-execution is linked only when n8n keeps it', () => {
		const ref = { executionId: '42', workflowId: 'w1' };
		expect(subExecutionMetadata(ref, true)).toEqual({ metadata: { subExecution: ref } });
		expect(subExecutionMetadata(ref, false)).toEqual({});
		// reboundWorkflow sets "none" when the option is off; the sub-workflow may say "none" itself.
		expect(keepsSubExecution({ saveDataSuccessExecution: 'none' }, 'success')).toBe(false);
		expect(keepsSubExecution({}, 'success')).toBe(true);
		expect(keepsSubExecution({ saveDataErrorExecution: 'none' }, 'error')).toBe(false);
		expect(keepsSubExecution({ saveDataSuccessExecution: 'none' }, 'error')).toBe(true);
	});

	it("a failure names the sub-execution n8n attached to its error and says it is listed under this workflow, never a link that is not there", () => {
		// n8n 2.40.7 (objectToError) puts executionId and workflowId on the error a failed sub-execution throws.
		const error = Object.assign(new Error('boom'), { executionId: '317', workflowId: 'parentWf' });
		const ref = failedSubExecution(error);
		expect(ref).toEqual({ executionId: '317', workflowId: 'parentWf' });
		const where = whereToFindFailedSubExecution(ref, true);
		expect(where).toBe(
			'To see what happened, open execution 317 ("View sub-execution" above this node\'s output, or this workflow\'s Executions list: n8n lists a sub-workflow run by this node under the calling workflow, not under the sub-workflow).',
		);
		expect(where).not.toMatch(/linked from this node's output/);
		expect(failedSubExecution(new Error('no id'))).toBeUndefined();
		expect(whereToFindFailedSubExecution(undefined, true)).toMatch(/^To see what happened, open the failed sub-execution in this workflow's Executions list/);
		expect(whereToFindFailedSubExecution(ref, false)).toMatch(/did not keep this sub-execution.*Save failed production executions/);
	});

	it("links the node's run (n8n's View sub-execution, run metadata) to each kept sub-execution, counting them", () => {
		let metadata: Record<string, unknown> | undefined;
		const context = {
			setMetadata: (more: Record<string, unknown>) => (metadata = { ...(metadata ?? {}), ...more }),
			getExecuteData: () => ({ metadata }),
		};
		linkRunToSubExecution(context as never, { executionId: '7', workflowId: 'w' });
		expect(metadata).toEqual({ subExecution: { executionId: '7', workflowId: 'w' }, subExecutionsCount: 1 });
		linkRunToSubExecution(context as never, { executionId: '8', workflowId: 'w' });
		expect(metadata).toEqual({ subExecution: { executionId: '8', workflowId: 'w' }, subExecutionsCount: 2 });
		// A context without setMetadata (older n8n, test doubles) is left alone.
		expect(() => linkRunToSubExecution({} as never, { executionId: '9', workflowId: 'w' })).not.toThrow();
	});
});
