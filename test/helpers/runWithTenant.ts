/**
 * What the Run With Tenant Credential end-to-end tests share: bounded concurrent webhook calls, the
 * tenant credentials the node made (by name), the echo's token fetches, and why executions failed.
 */
import type { Ref } from './e2eStack';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const echoService = require('../harness/echo.js');

/**
 * The echo's digest of a value it saw (tenantSecretHash, bearerClientHash). Tests compare digests:
 * Run With Tenant Credential scrubs its tenant's data values (the secret, and the OAuth2 client ID) from
 * the sub-workflow's output, so the values themselves come back redacted.
 */
export const digest = (value: string): string => echoService.digest(value);

/** What the far side saw, from a Pick node's item: the digest of the x-tenant-secret header. */
export const seenSecret = (body: any): string | undefined => body?.tenantSecretHash ?? undefined;
/** What the far side saw, from a Pick node's item: the digest of the OAuth2 client the token belongs to. */
export const seenClient = (body: any): string | undefined => body?.bearerClientHash ?? undefined;

/** A tenant's credential names: `tenant-cred <registry tag> <tenant> <keyed hash>` (tenant IDs in tests are plain words). */
export const isTenantCredentialOf = (tenant: string, name: string) => name.startsWith('tenant-cred ') && name.split(' ')[2] === tenant;

/** Test secrets look like this, so output can be cleaned of them (never print a secret). */
const TEST_SECRET = /s3cr3t-[A-Za-z0-9_-]+/g;

/** A tenant's fixed secret for a test run: `s3cr3t-<tenant>-<random>`. */
export function secretFor(tenant: string, salt: string): string {
	return `s3cr3t-${tenant}-${salt}`;
}

/** Text with every test secret replaced, for output. */
export function redactSecrets(text: string): string {
	return text.replace(TEST_SECRET, '[a test secret]');
}

/** A Header Auth credential for the sub-workflow's nodes at design time: what no tenant must ever see. */
export const PLACEHOLDER_SECRET = 'placeholder-not-a-tenant';

export async function headerAuthPlaceholder(api: any, name: string): Promise<Ref> {
	return await api.createCredential({ name, type: 'httpHeaderAuth', data: { name: 'x-tenant-secret', value: PLACEHOLDER_SECRET } });
}

/** An OAuth2 (client credentials) credential for the sub-workflow's nodes at design time. */
export async function oauthPlaceholder(api: any, name: string, echoUrl: string): Promise<Ref> {
	const data = { grantType: 'clientCredentials', accessTokenUrl: `${echoUrl}/oauth/token`, clientId: 'placeholder', clientSecret: 'x', authentication: 'body', scope: '' };
	return await api.createCredential({ name, type: 'oAuth2Api', data }).catch(async (error: { status?: number }) => {
		// n8n 2.8.4's public API schema also asks for these (scripts/test-versions.js createOauthCredential).
		if (error?.status !== 400) throw error;
		return await api.createCredential({ name, type: 'oAuth2Api', data: { ...data, serverUrl: '', sendAdditionalBodyProperties: false, additionalBodyProperties: '{}' } });
	});
}

/** Runs `fn` over the items with at most `limit` at a time; results in the items' order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
	const results = new Array<R>(items.length);
	let next = 0;
	const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
		while (next < items.length) {
			const index = next++;
			results[index] = await fn(items[index], index);
		}
	});
	await Promise.all(lanes);
	return results;
}

export interface Call {
	tenant: string;
	secret: string;
	/** Extra fields of the webhook body (e.g. delay, status, slowMs). */
	extra?: Record<string, unknown>;
}

export interface Answer {
	call: Call;
	status: number;
	seen: string | undefined;
	body: any;
}

/**
 * Calls the webhook once per call, `concurrency` in flight at a time (Infinity: all at once), body
 * `{ tenantId, secret, ...extra }`. bled: answered 200 with something other than `expected(call)`.
 */
export async function fireCalls(
	api: any,
	path: string,
	list: readonly Call[],
	o: { concurrency: number; seen: (body: any) => string | undefined; expected: (call: Call) => string },
) {
	const limit = Number.isFinite(o.concurrency) ? o.concurrency : list.length;
	const answers: Answer[] = await mapLimit(list, limit, async (call) => {
		const response = await api.callWebhook(path, { body: { tenantId: call.tenant, secret: call.secret, ...(call.extra ?? {}) } });
		return { call, status: response.status, seen: o.seen(response.body), body: response.body };
	});
	const failed = answers.filter((answer) => answer.status !== 200);
	const bled = answers.filter((answer) => answer.status === 200 && answer.seen !== o.expected(answer.call));
	return { answers, failed, bled };
}

/** What a bleed was, without printing any secret: whose secret (tenant) was seen instead, or the placeholder. */
export function describeBleed(bled: readonly Answer[], ownerOf: (seen: string | undefined) => string): string[] {
	const kinds = new Map<string, number>();
	for (const answer of bled) {
		const key = `${answer.call.tenant} saw ${ownerOf(answer.seen)}`;
		kinds.set(key, (kinds.get(key) ?? 0) + 1);
	}
	return [...kinds].map(([key, count]) => `${count} x ${key}`);
}

/** The credentials named for this tenant (via the public API list). */
export async function tenantCredentials(api: any, tenant: string): Promise<Array<{ id: string; name: string; type: string }>> {
	return (await api.listCredentials()).filter((credential: { name: string }) => isTenantCredentialOf(tenant, credential.name));
}

/** Every `tenant-cred ` credential, counted per tenant. */
export async function tenantCredentialCounts(api: any): Promise<Map<string, number>> {
	const counts = new Map<string, number>();
	for (const credential of await api.listCredentials()) {
		const match = /^tenant-cred \S+ (\S+) /.exec(credential.name);
		if (match) counts.set(match[1], (counts.get(match[1]) ?? 0) + 1);
	}
	return counts;
}

/** The echo's token requests per client_id. */
export function tokenFetches(requests: ReadonlyArray<{ path: string; body?: unknown }>): Map<string, number> {
	const counts = new Map<string, number>();
	for (const request of requests) {
		if (request.path !== '/oauth/token') continue;
		const clientId = String((request.body as { client_id?: unknown } | null)?.client_id ?? '?');
		counts.set(clientId, (counts.get(clientId) ?? 0) + 1);
	}
	return counts;
}

/** The error message an execution stored, and its node (n8n's resultData.error). */
export function executionError(execution: any): { node: string; message: string; description: string } {
	const error = execution?.data?.resultData?.error;
	return { node: error?.node?.name ?? '?', message: String(error?.message ?? ''), description: String(error?.description ?? '') };
}

/**
 * Writes the distinct errors of the workflow's failed executions (and the error items of its Run With
 * Tenant Credential node) to stderr, so a red run says why. Messages are cut to 300 characters.
 */
export async function reportFailures(api: any, workflowId: string, node = 'Run With Tenant Credential'): Promise<void> {
	const executions = await api.getExecutions({ workflowId, includeData: true });
	const messages = new Map<string, number>();
	for (const execution of executions) {
		if (execution.status !== 'error' && execution.status !== 'crashed') continue;
		const { node: failedNode, message, description } = executionError(execution);
		const key = `[${execution.mode}] ${failedNode}: ${message} | ${description}`.slice(0, 300);
		messages.set(key, (messages.get(key) ?? 0) + 1);
		for (const run of execution.data?.resultData?.runData?.[node] ?? []) {
			if (run.error) {
				const runKey = `  (node run error) ${String(run.error.message ?? '')} | ${String(run.error.description ?? '')}`.slice(0, 300);
				messages.set(runKey, (messages.get(runKey) ?? 0) + 1);
			}
		}
	}
	const lines = [...messages].map(([m, n]) => `  ${n} x ${m}`).join('\n') || '  (none stored as failed)';
	process.stderr.write(redactSecrets(`failed executions of workflow ${workflowId}:\n${lines}\n`));
}
