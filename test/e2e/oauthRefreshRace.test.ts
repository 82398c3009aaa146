/**
 * A documented fact about n8n 2.40.7, measured on a real n8n (PostgreSQL, regular mode): what its OAuth2
 * refresh does when many executions use one authorization-code credential at once and the provider
 * rotates refresh tokens (each refresh invalidates the refresh token it used; presenting it again is
 * answered 400 invalid_grant). The code: n8n-core dist/execution-engine/node-execution-context/utils/
 * request-helpers/oauth.js (`requestOAuth2` refreshes only after a 401; `refreshOrFetchToken` runs one
 * refresh per credential ID at a time through a SingleFlightLease and LockService, in-process in regular
 * mode and in Redis in queue mode, and re-reads the credential first: a token someone else already renewed
 * is used, not refreshed again).
 *
 * The provider below (on 127.0.0.1) counts every refresh and which generation of the grant's refresh
 * token it presented; its access tokens stay valid until the test expires them (no wall clock).
 *   (a) sequential control: each call after an expiry refreshes once, presenting the newest refresh
 *       token: n8n writes every rotated token back;
 *   (b) 20 concurrent executions on one credential, all holding the expired access token: n8n refreshes
 *       once (per-credential single flight + lock, re-reading the credential before refreshing), no
 *       invalid_grant, 20 of 20 succeed, and the connection still works after the next expiry;
 *   (c) control, the way a connection is lost: two n8n credentials holding the same grant (a copy of the
 *       token data, as a swap into a base credential or a second credential for one connection would make)
 *       used concurrently. n8n serialises per credential ID only, so both refresh with the same refresh
 *       token: one gets invalid_grant, its executions fail with "needs to be reconnected", and that
 *       credential stays dead (it presents the same stale token again; n8n neither clears nor repairs it);
 *   (d) the other way, with no race at all: the provider rotates but its answer never reaches n8n (a dropped
 *       connection): n8n keeps the old refresh token, and every later refresh is refused;
 *   (e) new token data written through the public API (a reconnect: PATCH of the whole data) while a refresh
 *       is in flight: the refresh's write-back replaces it (n8n's lock covers only its own refreshes), the
 *       credential ends on the old grant; control: the same PATCH with no refresh in flight takes effect.
 * The same file in queue mode with 2 workers gave the same outcomes (measured once; not run here: n8n
 * takes minutes to start with workers).
 * No token is ever printed: failures show counts, generations and n8n's error messages only.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startE2eStack, waitUntil, type E2eStack, type Ref } from '../helpers/e2eStack';
import { executionError, mapLimit } from '../helpers/runWithTenant';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const workflows = require('../harness/workflows.js');

jest.setTimeout(300_000);

const CLIENT_ID = 'race-client';
const CLIENT_SECRET = `race-secret-${randomBytes(8).toString('hex')}`;
/** A refresh answer takes this long, as a real provider's does: the window in which unserialised refreshes overlap. */
const TOKEN_ENDPOINT_DELAY_MS = 500;

interface RefreshEvent {
	grant: string;
	/** Generation of the refresh token presented (0 = the one the credential was created with). */
	presented: number;
	/** The grant's newest generation when it was presented. */
	current: number;
	outcome: 'rotated' | 'invalid_grant';
}

/**
 * A minimal OAuth2 provider with refresh token rotation: /token (grant_type=refresh_token only, client
 * authenticated by HTTP Basic) and /api/me (Bearer; 401 for an expired or unknown access token).
 */
class RotatingProvider {
	readonly refreshes: RefreshEvent[] = [];
	apiCalls = { ok: 0, unauthorized: 0 };
	/** Rotate on the next refresh but never answer it (the connection drops), as a timeout or a restart loses an answer. */
	dropNextRefreshAnswer = false;
	/** While set, a rotated refresh's answer waits for it (the test acts while a refresh is in flight). */
	holdRefreshAnswers?: Promise<void>;
	private readonly grants = new Map<string, { generation: number }>();
	private readonly refreshTokens = new Map<string, { grant: string; generation: number }>();
	private readonly accessTokens = new Map<string, { grant: string; generation: number; expired: boolean }>();
	private server?: Server;
	url = '';

	async start(): Promise<void> {
		this.server = createServer((request, response) => {
			void this.handle(request, response).catch(() => this.json(response, 500, { error: 'server_error' }));
		});
		await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
		this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
	}

	async stop(): Promise<void> {
		this.server?.closeAllConnections();
		await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
	}

	/** A new grant (as after the user authorised): its first access and refresh token, generation 0. */
	newGrant(grant: string): { access_token: string; refresh_token: string; token_type: string; expires_in: number } {
		this.grants.set(grant, { generation: 0 });
		return { ...this.issue(grant, 0), token_type: 'Bearer', expires_in: 3600 };
	}

	/** Every access token issued so far expires now (the next API call answers 401). */
	expireAccessTokens(): void {
		for (const token of this.accessTokens.values()) token.expired = true;
	}

	generationOf(grant: string): number {
		return this.grants.get(grant)?.generation ?? -1;
	}

	refreshesOf(grant: string, since = 0): RefreshEvent[] {
		return this.refreshes.slice(since).filter((event) => event.grant === grant);
	}

	private issue(grant: string, generation: number) {
		const access = `at-${randomBytes(16).toString('hex')}`;
		const refresh = `rt-${randomBytes(16).toString('hex')}`;
		this.accessTokens.set(access, { grant, generation, expired: false });
		this.refreshTokens.set(refresh, { grant, generation });
		return { access_token: access, refresh_token: refresh };
	}

	private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
		const path = new URL(request.url ?? '/', this.url).pathname;
		if (request.method === 'POST' && path === '/token') return await this.token(request, response);
		if (request.method === 'GET' && path === '/api/me') return this.me(request, response);
		this.json(response, 404, { error: 'not_found' });
	}

	private async token(request: IncomingMessage, response: ServerResponse): Promise<void> {
		const chunks: Buffer[] = [];
		for await (const chunk of request) chunks.push(chunk as Buffer);
		const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
		const basic = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`;
		if (request.headers.authorization !== basic) return this.json(response, 401, { error: 'invalid_client' });
		if (form.get('grant_type') !== 'refresh_token') return this.json(response, 400, { error: 'unsupported_grant_type' });
		const presented = this.refreshTokens.get(form.get('refresh_token') ?? '');
		if (!presented) return this.json(response, 400, { error: 'invalid_grant' });
		const grant = this.grants.get(presented.grant);
		if (!grant) return this.json(response, 400, { error: 'invalid_grant' });
		const event: RefreshEvent = { grant: presented.grant, presented: presented.generation, current: grant.generation, outcome: 'invalid_grant' };
		this.refreshes.push(event);
		if (presented.generation !== grant.generation) return this.json(response, 400, { error: 'invalid_grant', error_description: 'refresh token already used' });
		// Rotation: the presented refresh token is dead from this moment, whether or not the answer arrives.
		grant.generation += 1;
		event.outcome = 'rotated';
		const issued = this.issue(presented.grant, grant.generation);
		await new Promise((resolve) => setTimeout(resolve, TOKEN_ENDPOINT_DELAY_MS));
		await this.holdRefreshAnswers;
		if (this.dropNextRefreshAnswer) {
			this.dropNextRefreshAnswer = false;
			request.socket.destroy();
			return;
		}
		this.json(response, 200, { ...issued, token_type: 'Bearer', expires_in: 3600 });
	}

	private me(request: IncomingMessage, response: ServerResponse): void {
		const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1] ?? '';
		const access = this.accessTokens.get(token);
		if (!access || access.expired) {
			this.apiCalls.unauthorized += 1;
			return this.json(response, 401, { error: 'invalid_token' });
		}
		this.apiCalls.ok += 1;
		this.json(response, 200, { grant: access.grant, generation: access.generation });
	}

	private json(response: ServerResponse, status: number, body: unknown): void {
		if (response.headersSent) return;
		response.writeHead(status, { 'content-type': 'application/json' });
		response.end(JSON.stringify(body));
	}
}

let stack: E2eStack;
let api: any;
const provider = new RotatingProvider();

beforeAll(async () => {
	await provider.start();
	// debug: n8n logs each refresh it starts ("expired. Revalidating.") and each one it finishes.
	stack = await startE2eStack({ logLevel: 'debug' });
	({ api } = stack);
});

afterAll(async () => {
	await stack?.stop();
	await provider.stop();
});

/** An authorization-code oAuth2Api credential connected to a grant of the provider (token data as n8n stores it). */
async function connectedCredential(name: string, tokenData: Record<string, unknown>): Promise<Ref> {
	return await api.createCredential({ name, type: 'oAuth2Api', data: connectedData(tokenData) });
}

function connectedData(tokenData: Record<string, unknown>): Record<string, unknown> {
	return {
		grantType: 'authorizationCode',
		authUrl: `${provider.url}/authorize`,
		accessTokenUrl: `${provider.url}/token`,
		clientId: CLIENT_ID,
		clientSecret: CLIENT_SECRET,
		scope: '',
		authQueryParameters: '',
		authentication: 'header',
		oauthTokenData: tokenData,
	};
}

/** Webhook -> HTTP Request GET /api/me with the credential (generic oAuth2Api) -> answers the API's JSON. */
async function deployCaller(path: string, credential: Ref): Promise<{ id: string }> {
	const call = workflows.httpCallNode({ name: 'Call API', url: `${provider.url}/api/me`, genericAuthType: 'oAuth2Api', credential });
	const workflow = workflows.chainWorkflow({ name: `oauth refresh race (${path})`, path, nodes: [call] });
	return await api.deployWorkflow({ ...workflow, settings: { ...workflow.settings, saveDataErrorExecution: 'all', saveDataSuccessExecution: 'none' } });
}

interface CallResult {
	status: number;
	generation?: number;
	grant?: string;
}

/** One webhook call: its status and which grant and generation of access token the API saw (none on failure). */
async function callGrant(path: string): Promise<CallResult> {
	const response = await api.callWebhook(path, { body: {} });
	const seen = response.status === 200 ? response.body : undefined;
	return { status: response.status, grant: seen?.grant, generation: seen?.generation };
}

/** As callGrant, for a workflow with one grant: status and generation. */
async function callOnce(path: string): Promise<Omit<CallResult, 'grant'>> {
	const { status, generation } = await callGrant(path);
	return { status, generation };
}

/** The stored errors of the workflow's failed executions, message -> count. */
async function failedExecutionErrors(workflowId: string): Promise<Map<string, number>> {
	const executions = await api.getExecutions({ workflowId, includeData: true });
	const errors = new Map<string, number>();
	for (const execution of executions) {
		if (execution.status !== 'error' && execution.status !== 'crashed') continue;
		const { node, message } = executionError(execution);
		const key = `${node}: ${message}`;
		errors.set(key, (errors.get(key) ?? 0) + 1);
	}
	return errors;
}

/** n8n's log lines containing `text`, in the main process and any workers. */
function logLines(text: string): number {
	const logs = [stack.n8n.readLog(), ...(stack.n8n.workers ?? []).map((worker: { logFile: string }) => readFileSync(worker.logFile, 'utf8'))];
	return logs.join('\n').split('\n').filter((line) => line.includes(text)).length;
}

const REVALIDATING = 'expired. Revalidating.';
const RENEWED = 'has been renewed.';
const LEASE_TIMEOUT = 'Could not acquire refresh lock';

describe('n8n 2.40.7 OAuth2 refresh with a rotating provider', () => {
	it('(a) sequential control: one refresh per expiry, always with the newest refresh token; every call works', async () => {
		const credential = await connectedCredential('race: sequential', provider.newGrant('sequential'));
		const workflow = await deployCaller('oauth-race-sequential', credential);
		expect(await callOnce('oauth-race-sequential')).toEqual({ status: 200, generation: 0 });
		for (let round = 1; round <= 3; round++) {
			provider.expireAccessTokens();
			expect(await callOnce('oauth-race-sequential')).toEqual({ status: 200, generation: round });
		}
		const refreshes = provider.refreshesOf('sequential');
		process.stderr.write(`(a) sequential: ${refreshes.length} refreshes, presented generations ${refreshes.map((event) => event.presented).join(',')}\n`);
		expect(refreshes).toEqual([0, 1, 2].map((generation) => ({ grant: 'sequential', presented: generation, current: generation, outcome: 'rotated' })));
		expect(await failedExecutionErrors(workflow.id)).toEqual(new Map());
	});

	it('(b) 20 concurrent executions on one credential after expiry: one refresh, no invalid_grant, all succeed, the connection stays alive', async () => {
		const CONCURRENT = 20;
		const path = 'oauth-race-concurrent';
		const credential = await connectedCredential('race: concurrent', provider.newGrant('concurrent'));
		const workflow = await deployCaller(path, credential);
		expect((await callOnce(path)).status).toBe(200);
		provider.expireAccessTokens();
		const logBefore = { revalidating: logLines(REVALIDATING), renewed: logLines(RENEWED), leaseTimeouts: logLines(LEASE_TIMEOUT) };
		const unauthorizedBefore = provider.apiCalls.unauthorized;
		const eventsBefore = provider.refreshes.length;

		const results = await mapLimit(Array.from({ length: CONCURRENT }), CONCURRENT, async () => await callOnce(path));

		const refreshes = provider.refreshesOf('concurrent', eventsBefore);
		const log = { revalidating: logLines(REVALIDATING) - logBefore.revalidating, renewed: logLines(RENEWED) - logBefore.renewed, leaseTimeouts: logLines(LEASE_TIMEOUT) - logBefore.leaseTimeouts };
		const failed = results.filter((result) => result.status !== 200);
		const errors = await failedExecutionErrors(workflow.id);
		process.stderr.write(
			`(b) ${CONCURRENT} concurrent: ${provider.apiCalls.unauthorized - unauthorizedBefore} API calls answered 401, ` +
				`${refreshes.length} token requests (${refreshes.filter((event) => event.outcome === 'invalid_grant').length} invalid_grant), ` +
				`n8n log: ${log.revalidating} refreshes started, ${log.renewed} renewed, ${log.leaseTimeouts} lock timeouts; ` +
				`${failed.length} failed ${JSON.stringify([...errors])}\n`,
		);
		// The race was real: several executions got the 401 that starts n8n's refresh path...
		expect(provider.apiCalls.unauthorized - unauthorizedBefore).toBeGreaterThan(1);
		// ...yet n8n asked the provider once, with the newest refresh token, and every execution used its answer.
		expect(refreshes).toEqual([{ grant: 'concurrent', presented: 0, current: 0, outcome: 'rotated' }]);
		expect(log.revalidating).toBe(1);
		expect(failed).toEqual([]);
		expect(results.every((result) => result.generation === 1)).toBe(true);
		expect(errors).toEqual(new Map());

		// Alive: after the next expiry the stored (rotated) refresh token still works.
		provider.expireAccessTokens();
		expect(await callOnce(path)).toEqual({ status: 200, generation: 2 });
		expect(provider.refreshesOf('concurrent', eventsBefore).map((event) => event.outcome)).toEqual(['rotated', 'rotated']);
	});

	it('(c) control: two credentials holding one grant, used concurrently: both refresh, one gets invalid_grant and is left dead', async () => {
		const PER_CREDENTIAL = 10;
		const tokenData = provider.newGrant('copied');
		const first = await connectedCredential('race: copy 1', tokenData);
		const second = await connectedCredential('race: copy 2', tokenData);
		const firstWorkflow = await deployCaller('oauth-race-copy-1', first);
		const secondWorkflow = await deployCaller('oauth-race-copy-2', second);
		provider.expireAccessTokens();
		const eventsBefore = provider.refreshes.length;

		const paths = Array.from({ length: 2 * PER_CREDENTIAL }, (_, i) => (i % 2 === 0 ? 'oauth-race-copy-1' : 'oauth-race-copy-2'));
		const results = await mapLimit(paths, paths.length, async (path) => ({ path, ...(await callOnce(path)) }));

		const refreshes = provider.refreshesOf('copied', eventsBefore);
		const okBy = (path: string) => results.filter((result) => result.path === path && result.status === 200).length;
		const firstErrors = await failedExecutionErrors(firstWorkflow.id);
		const secondErrors = await failedExecutionErrors(secondWorkflow.id);
		process.stderr.write(
			`(c) ${paths.length} concurrent over 2 copies: ${refreshes.length} token requests ` +
				`(${refreshes.filter((event) => event.outcome === 'invalid_grant').length} invalid_grant), ` +
				`succeeded: copy 1 ${okBy('oauth-race-copy-1')}/${PER_CREDENTIAL}, copy 2 ${okBy('oauth-race-copy-2')}/${PER_CREDENTIAL}; ` +
				`errors ${JSON.stringify([...firstErrors, ...secondErrors])}\n`,
		);
		// Each credential ID refreshes on its own, both presenting generation 0: one rotates, the other is
		// refused (more than once if a loser's 401 arrives after its first refusal ended).
		expect(refreshes.every((event) => event.presented === 0)).toBe(true);
		expect(refreshes.filter((event) => event.outcome === 'rotated')).toHaveLength(1);
		expect(refreshes.filter((event) => event.outcome === 'invalid_grant').length).toBeGreaterThanOrEqual(1);
		const [winner, loser] = okBy('oauth-race-copy-1') === PER_CREDENTIAL ? ['oauth-race-copy-1', 'oauth-race-copy-2'] : ['oauth-race-copy-2', 'oauth-race-copy-1'];
		expect(okBy(winner)).toBe(PER_CREDENTIAL);
		expect(okBy(loser)).toBe(0);
		const loserErrors = loser === 'oauth-race-copy-1' ? firstErrors : secondErrors;
		expect([...loserErrors.keys()]).toEqual([expect.stringMatching(/needs to be reconnected/)]);

		// Dead: the loser keeps its stale token data (n8n neither clears nor repairs it) and presents it
		// again; the winner keeps working.
		const before = provider.refreshes.length;
		expect((await callOnce(loser)).status).not.toBe(200);
		expect(provider.refreshesOf('copied', before)).toEqual([{ grant: 'copied', presented: 0, current: 1, outcome: 'invalid_grant' }]);
		provider.expireAccessTokens();
		expect(await callOnce(winner)).toEqual({ status: 200, generation: 2 });
		expect((await callOnce(loser)).status).not.toBe(200);
	});

	it('(d) a rotated refresh whose answer never reaches n8n leaves the credential dead (no race needed)', async () => {
		const path = 'oauth-race-lost-answer';
		const credential = await connectedCredential('race: lost answer', provider.newGrant('lost'));
		const workflow = await deployCaller(path, credential);
		provider.expireAccessTokens();
		provider.dropNextRefreshAnswer = true;
		expect((await callOnce(path)).status).not.toBe(200);
		const afterDrop = await failedExecutionErrors(workflow.id);
		// n8n kept the refresh token the provider had just rotated: every later refresh is refused.
		expect((await callOnce(path)).status).not.toBe(200);
		expect((await callOnce(path)).status).not.toBe(200);
		const refreshes = provider.refreshesOf('lost');
		const errors = await failedExecutionErrors(workflow.id);
		process.stderr.write(`(d) lost answer: token requests ${JSON.stringify(refreshes.map((event) => [event.presented, event.outcome]))}; errors ${JSON.stringify([...errors])}\n`);
		expect(refreshes).toEqual([
			{ grant: 'lost', presented: 0, current: 0, outcome: 'rotated' },
			{ grant: 'lost', presented: 0, current: 1, outcome: 'invalid_grant' },
			{ grant: 'lost', presented: 0, current: 1, outcome: 'invalid_grant' },
		]);
		expect([...afterDrop.keys()]).toHaveLength(1);
		expect([...afterDrop.keys()][0]).not.toMatch(/needs to be reconnected/);
		expect(errors.get(`Call API: The credential "race: lost answer" needs to be reconnected.`)).toBe(2);
	});

	it('(e) new token data PATCHed through the public API while a refresh is in flight is overwritten by the refresh', async () => {
		const path = 'oauth-race-reconnect';
		const credential = await connectedCredential('race: reconnect', provider.newGrant('reconnect-old'));
		await deployCaller(path, credential);
		provider.expireAccessTokens();
		let release = () => {};
		provider.holdRefreshAnswers = new Promise<void>((resolve) => (release = resolve));
		const inFlight = callGrant(path);
		const arrived = await waitUntil(() => provider.refreshesOf('reconnect-old').length > 0, 30_000);
		// A reconnect written through the public API: the whole data with the new grant's token data (a partial
		// PATCH cannot change oauthTokenData: n8n 2.40.7 keeps the stored one, credentials.service.js:377-380).
		await api.updateCredential(credential.id, { data: connectedData(provider.newGrant('reconnect-new')) });
		release();
		provider.holdRefreshAnswers = undefined;
		expect(arrived).toBe(true);
		expect(await inFlight).toEqual({ status: 200, grant: 'reconnect-old', generation: 1 });
		// n8n re-read the credential only before refreshing; its write after the refresh replaced the new grant's data.
		const after = await callGrant(path);
		process.stderr.write(`(e) reconnect during a refresh: the next call used grant ${after.grant} generation ${after.generation}\n`);
		expect(after).toEqual({ status: 200, grant: 'reconnect-old', generation: 1 });

		// Control: the same PATCH with no refresh in flight takes effect.
		await api.updateCredential(credential.id, { data: connectedData(provider.newGrant('reconnect-control')) });
		expect(await callGrant(path)).toEqual({ status: 200, grant: 'reconnect-control', generation: 0 });
	});
});
