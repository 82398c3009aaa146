// @ts-check
'use strict';
/**
 * Connected tenants under load (issue 19), for `npm run soak:oauth` and test/e2e/tenantOAuthLoad.test.ts:
 * the workflows of the whole loop in a real n8n, tenants connecting through the real flow, calls that
 * use their connections, and the verdicts. Everything on 127.0.0.1.
 *
 *   Operator webhook -> Tenant OAuth2 Connect (Create Connect Link)   -> { connectUrl }
 *   Browser -> Tenant OAuth2 Connect Trigger (start) -> stand-in provider (approve as the tenant's own
 *     account) -> trigger (callback): the tenant's oAuth2Api credential, recorded in the connect store
 *   Use webhook -> Run With Tenant Credential (Credential Source Connected Tenant; error output ->
 *     "Send Connect Link") -> sub-workflow: HTTP Request (generic OAuth2, placeholder credential) GET
 *     the provider's /api/me?tenant=<tenantId>
 *   Operator webhook -> Tenant OAuth2 Connect (Disconnect)
 *
 * Tenant N approves as provider account "tenant-N" (= its tenant ID), so the provider's per-account
 * `tenantHintMismatches` counts every call that carried another tenant's token, and the webhook answer
 * (the provider's /api/me item: account, tenantHint) names whose token the call used.
 * No link, state, code, cookie or token is ever returned by these helpers or printed.
 */
const { requireTs } = require('./requireTs');
const { makeCalls, fireSustained, postJson, percentile } = require('./load');
const { PACKAGE, chainWorkflow, setNode, RUN_WITH_TENANT } = require('../../test/harness/workflows.js');

/** @type {typeof import('../../test/helpers/oauthProvider')} */
const { startOAuthProvider } = requireTs('../../test/helpers/oauthProvider.ts', __dirname);
/** @type {typeof import('../../test/helpers/oauthBrowser')} */
const { followConnectFlow } = requireTs('../../test/helpers/oauthBrowser.ts', __dirname);

/** What the webhook answers when the Run node's item left on its error output. */
const SEND_CONNECT_LINK = 'Send Connect Link';
/** Run With Tenant Credential's message for a tenant without a connection (wt-use connectedTenant.ts notConnected). */
const NOT_CONNECTED = /has not connected|is not connected/;

/**
 * @typedef {{id: string, name: string}} Ref
 * @typedef {import('./load').Call} Call
 * @typedef {import('./load').Answer} Answer
 */

/**
 * @typedef {object} Rig
 * @property {import('../../test/helpers/oauthProvider').OAuthProvider} provider
 * @property {string} connection   the Connection name on all three nodes
 * @property {{link: string, disconnect: string, use: string, start: string}} urls  webhook URLs (start: the trigger's)
 * @property {Ref} app             the provider app (oAuth2Api, authorization code)
 * @property {Ref} placeholder     the sub-workflow's design-time OAuth2 credential
 * @property {{trigger: string, use: string, sub: string}} workflowIds
 */

/**
 * Starts the stand-in provider and deploys the four workflows into n8n.
 * @param {{api: any, n8nBaseUrl: string, n8nApi: Ref, postgres: Ref, tag: string, accessTokenTtlSeconds: number}} o
 *        tag: makes webhook paths and the Connection name unique per run (letters and digits)
 * @returns {Promise<Rig>}
 */
async function deployConnectedTenantRig(o) {
	const { api } = o;
	const provider = await startOAuthProvider({ settings: { accessTokenTtlSeconds: o.accessTokenTtlSeconds } });
	try {
		const connection = `load${o.tag}`;
		const connectPath = `tenant-connect-${o.tag}`;
		const start = `${o.n8nBaseUrl}/webhook/${connectPath}/start`;
		const client = provider.registerClient({ redirectUris: [`${o.n8nBaseUrl}/webhook/${connectPath}/callback`] });
		const app = await api.createCredential({
			name: `Stand-in provider app (${o.tag})`,
			type: 'oAuth2Api',
			data: provider.appCredentialData(client),
		});
		const lockCredentials = { tenantSwapN8nApi: o.n8nApi, postgres: o.postgres };
		const trigger = await api.createWorkflow({
			name: `Tenant connect (${o.tag})`,
			nodes: [
				{
					id: 'trigger',
					name: 'Tenant OAuth2 Connect Trigger',
					type: `${PACKAGE}.tenantOAuth2ConnectTrigger`,
					typeVersion: 1,
					position: [0, 0],
					webhookId: connectPath,
					parameters: { path: connectPath, connection, lockBackend: 'postgres', options: {} },
					credentials: { oAuth2Api: app, ...lockCredentials },
				},
				{ id: 'noop', name: 'Connected', type: 'n8n-nodes-base.noOp', typeVersion: 1, position: [220, 0], parameters: {} },
			],
			connections: { 'Tenant OAuth2 Connect Trigger': { main: [[{ node: 'Connected', type: 'main', index: 0 }]] } },
			settings: { executionOrder: 'v1' },
		});
		await api.activateWorkflow(trigger.id);
		await api.waitForWebhook(`${connectPath}/start`, 'GET', { workflowId: trigger.id });
		await api.waitForWebhook(`${connectPath}/callback`, 'GET', { workflowId: trigger.id });

		/** @param {string} path @param {Record<string, unknown>} parameters */
		const operatorWorkflow = (path, parameters) =>
			chainWorkflow({
				name: path,
				path,
				nodes: [
					{
						id: 'connect',
						name: 'Tenant OAuth2 Connect',
						type: `${PACKAGE}.tenantOAuth2Connect`,
						typeVersion: 1,
						parameters: { connection, tenantId: '={{ $json.body.tenantId }}', lockBackend: 'postgres', ...parameters },
						credentials: lockCredentials,
					},
				],
			});
		const linkPath = `connect-link-${o.tag}`;
		const disconnectPath = `disconnect-${o.tag}`;
		await api.deployWorkflow(operatorWorkflow(linkPath, { operation: 'createConnectLink', connectStartUrl: start, linkExpiry: 15 }));
		await api.deployWorkflow(operatorWorkflow(disconnectPath, { operation: 'disconnect' }));

		// Design-time values only: Run With Tenant Credential rebinds it to the tenant's connected credential.
		const placeholder = await api.createCredential({
			name: `placeholder OAuth2 (${o.tag})`,
			type: 'oAuth2Api',
			data: {
				grantType: 'authorizationCode',
				clientId: 'placeholder',
				clientSecret: 'placeholder',
				authUrl: 'http://127.0.0.1:9/authorize',
				accessTokenUrl: 'http://127.0.0.1:9/token',
				scope: '',
				authQueryParameters: '',
				authentication: 'header',
			},
		});
		const sub = await api.createWorkflow({
			name: `Call the provider as the tenant (${o.tag})`,
			settings: { executionOrder: 'v1' },
			nodes: [
				{ id: 'sub-trigger', name: 'When Executed by Another Workflow', type: 'n8n-nodes-base.executeWorkflowTrigger', typeVersion: 1.1, position: [0, 0], parameters: { inputSource: 'passthrough' } },
				{
					id: 'me',
					name: 'Call Tenant API',
					type: 'n8n-nodes-base.httpRequest',
					typeVersion: 4.2,
					position: [220, 0],
					parameters: {
						method: 'GET',
						url: `=${provider.resourceUrl}?tenant={{ encodeURIComponent($json.body.tenantId) }}`,
						authentication: 'genericCredentialType',
						genericAuthType: 'oAuth2Api',
						options: {},
					},
					credentials: { oAuth2Api: placeholder },
				},
			],
			connections: { 'When Executed by Another Workflow': { main: [[{ node: 'Call Tenant API', type: 'main', index: 0 }]] } },
		});
		await api.activateWorkflow(sub.id);

		const usePath = `use-${o.tag}`;
		const run = {
			id: 'run-with-tenant',
			name: RUN_WITH_TENANT,
			type: `${PACKAGE}.runWithTenantCredential`,
			typeVersion: 1,
			onError: 'continueErrorOutput',
			parameters: {
				subWorkflow: { __rl: true, mode: 'id', value: sub.id },
				placeholderCredential: { __rl: true, mode: 'id', value: placeholder.id },
				credentialSource: 'connectedTenant',
				connection,
				tenantId: '={{ $json.body.tenantId }}',
				lockBackend: 'postgres',
				options: {},
			},
			credentials: lockCredentials,
		};
		const use = chainWorkflow({ name: `Use connected tenant (${o.tag})`, path: usePath, nodes: [run] });
		use.nodes.push({
			...setNode(SEND_CONNECT_LINK, { sendConnectLink: { type: 'boolean', value: /** @type {any} */ (true) }, error: { type: 'string', value: '={{ $json.error }}' } }),
			position: [440, 200],
		});
		use.connections[RUN_WITH_TENANT] = { main: [[], [{ node: SEND_CONNECT_LINK, type: 'main', index: 0 }]] };
		const useWorkflow = await api.deployWorkflow(use);

		const webhook = (/** @type {string} */ path) => `${o.n8nBaseUrl}/webhook/${path}`;
		return {
			provider,
			connection,
			urls: { link: webhook(linkPath), disconnect: webhook(disconnectPath), use: webhook(usePath), start },
			app,
			placeholder,
			workflowIds: { trigger: trigger.id, use: useWorkflow.id, sub: sub.id },
		};
	} catch (error) {
		await provider.close();
		throw error;
	}
}

/**
 * Tenant IDs `tenant-01` ... (as load.js makeCalls names them).
 * @param {number} count
 */
function tenantIds(count) {
	return [...new Set(makeCalls(count, count).map((call) => call.tenant))];
}

/**
 * Runs `fn` over `items`, at most `limit` at a time; results in order.
 * @template T, R
 * @param {readonly T[]} items @param {number} limit @param {(item: T, index: number) => Promise<R>} fn
 * @returns {Promise<R[]>}
 */
async function mapLimit(items, limit, fn) {
	/** @type {R[]} */
	const results = new Array(items.length);
	let next = 0;
	await Promise.all(
		Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
			while (next < items.length) {
				const index = next++;
				results[index] = await fn(items[index], index);
			}
		}),
	);
	return results;
}

/**
 * @typedef {object} ConnectOutcome
 * @property {string} tenant
 * @property {boolean} connected  Create Connect Link answered a link and the flow ended on the "connected" page
 * @property {string} [problem]   what went wrong otherwise (no link, state, code or token in it)
 */

/**
 * Each tenant connects through the real flow: the operator webhook makes its link (Create Connect
 * Link), then a fresh browser follows it through the trigger and the provider, approving as the
 * tenant's own provider account (its tenant ID).
 * @param {Rig} rig @param {string[]} tenants @param {number} concurrency
 * @returns {Promise<{outcomes: ConnectOutcome[], wallMs: number}>}
 */
async function connectTenants(rig, tenants, concurrency) {
	const t0 = performance.now();
	const outcomes = await mapLimit(tenants, concurrency, async (tenant) => {
		const link = await postJson(rig.urls.link, { tenantId: tenant }, 60_000);
		const connectUrl = /** @type {any} */ (link.body)?.connectUrl;
		if (link.status !== 200 || typeof connectUrl !== 'string' || !connectUrl.startsWith(`${rig.urls.start}?link=`)) {
			return { tenant, connected: false, problem: `Create Connect Link answered HTTP ${link.status}${link.error ? ` (${link.error})` : ''}` };
		}
		try {
			const flow = await followConnectFlow(connectUrl, { account: tenant, decision: 'approve' });
			const connected = flow.finalStatus === 200 && /is connected/.test(flow.finalBody);
			return connected ? { tenant, connected } : { tenant, connected, problem: `the flow ended with HTTP ${flow.finalStatus} at ${new URL(flow.finalUrl).pathname}` };
		} catch (error) {
			return { tenant, connected: false, problem: `the flow failed: ${/** @type {Error} */ (error).message}` };
		}
	});
	return { outcomes, wallMs: performance.now() - t0 };
}

/**
 * @typedef {'own'|'bled'|'not connected'|'failed'} Verdict
 *   own: HTTP 200 and the provider's answer names the caller's tenant as account and as hint;
 *   bled: HTTP 200 with another account's answer; not connected: the item left on the error output
 *   with Run With Tenant Credential's "not connected"; failed: anything else.
 */

/** @param {Answer} answer @returns {Verdict} */
function verdictOf(answer) {
	const body = /** @type {any} */ (answer.body);
	if (answer.status !== 200 || !body || typeof body !== 'object') return 'failed';
	if (body.sendConnectLink === true) return NOT_CONNECTED.test(String(body.error ?? '')) ? 'not connected' : 'failed';
	if (typeof body.account !== 'string') return 'failed';
	return body.account === answer.call.tenant && body.tenantHint === answer.call.tenant ? 'own' : 'bled';
}

/**
 * "3 x HTTP 500 ..." lines for answers that were not `own` (bodies cut, no token in them: the provider
 * answers no token and the Run node's errors name none).
 * @param {Answer[]} answers
 */
function describeAnswers(answers) {
	/** @type {Map<string, number>} */
	const groups = new Map();
	for (const answer of answers) {
		const verdict = verdictOf(answer);
		if (verdict === 'own') continue;
		const body = /** @type {any} */ (answer.body);
		const what =
			verdict === 'bled'
				? `bled: ${answer.call.tenant} got ${body.account}'s answer`
				: answer.status === 0
					? `${verdict}: no answer (${answer.error})`
					: `${verdict}: HTTP ${answer.status} ${(typeof body === 'string' ? body : JSON.stringify(body)).slice(0, 240)}`;
		groups.set(what, (groups.get(what) ?? 0) + 1);
	}
	return [...groups].map(([what, count]) => `${count} x ${what}`).sort();
}

/**
 * The provider's counters summed over `tenants` (their accounts).
 * @param {Rig} rig @param {string[]} tenants
 */
function providerTotals(rig, tenants) {
	const totals = { codeExchanges: 0, refreshes: 0, invalidGrants: 0, refreshReuses: 0, resourceCalls: 0, rejectedResourceCalls: 0, tenantHintMismatches: 0, revocations: 0 };
	for (const tenant of tenants) {
		const stats = rig.provider.stats.account(tenant);
		for (const key of /** @type {(keyof typeof totals)[]} */ (Object.keys(totals))) totals[key] += /** @type {number} */ (stats[key]);
	}
	return { ...totals, unknownTokenCalls: rig.provider.stats.unknownTokenCalls };
}

/**
 * @param {ReturnType<typeof providerTotals>} after @param {ReturnType<typeof providerTotals>} before
 */
function providerDelta(after, before) {
	/** @type {Record<string, number>} */
	const delta = {};
	for (const key of Object.keys(after)) delta[key] = /** @type {any} */ (after)[key] - /** @type {any} */ (before)[key];
	return /** @type {ReturnType<typeof providerTotals>} */ (delta);
}

/**
 * `count` calls round-robin over `tenants`, `concurrency` in flight, at the use webhook; then the
 * verdicts, the provider's counters over the run and the refresh bound. The bound: a refresh is made
 * only for an expired token and the token it gets lives `accessTokenTtlSeconds`, so one tenant can see
 * at most floor(D / TTL) + 1 refreshes in D (the provider's clock over the run): one per tenant per
 * expiry window; one refresh per call would exceed it.
 * @param {Rig} rig @param {string[]} tenants
 * @param {{count: number, concurrency: number, callTimeoutMs?: number, expireEvery?: number}} o
 *        expireEvery: each time this many more calls were answered, move the provider's clock on by one token
 *        lifetime (counted in D): every token expires then, however fast the run goes
 */
async function useUnderLoad(rig, tenants, o) {
	const calls = Array.from({ length: o.count }, (_, i) => ({ tenant: tenants[i % tenants.length], secret: 'unused' }));
	const before = providerTotals(rig, tenants);
	const refreshesBefore = new Map(tenants.map((tenant) => [tenant, rig.provider.stats.account(tenant).refreshes]));
	const providerStart = rig.provider.now();
	const ttl = rig.provider.settings.accessTokenTtlSeconds;
	const run = await fireSustained(rig.urls.use, calls, {
		concurrency: o.concurrency,
		callTimeoutMs: o.callTimeoutMs ?? 120_000,
		// Every token expires here whatever the speed: the provider's clock jumps one lifetime.
		onAnswer: (_, answered) => {
			if (o.expireEvery && answered % o.expireEvery === 0 && answered < calls.length) rig.provider.advanceClock(ttl * 1000);
		},
	});
	const providerMs = rig.provider.now() - providerStart;
	const provider = providerDelta(providerTotals(rig, tenants), before);
	const verdicts = countVerdicts(run.answers);
	const windowsPerTenant = Math.floor(providerMs / 1000 / ttl) + 1;
	const refreshesPerTenant = tenants.map((tenant) => rig.provider.stats.account(tenant).refreshes - /** @type {number} */ (refreshesBefore.get(tenant)));
	const latencies = run.answers.filter((a) => a.status !== 0).map((a) => a.ms).sort((x, y) => x - y);
	return {
		calls: run.answers.length,
		notStarted: run.notStarted,
		wallMs: run.wallMs,
		perSecond: run.answers.length / (run.wallMs / 1000),
		p50: percentile(latencies, 50),
		p95: percentile(latencies, 95),
		verdicts,
		problems: describeAnswers(run.answers),
		provider,
		refreshes: {
			total: provider.refreshes,
			fewestPerTenant: Math.min(...refreshesPerTenant),
			mostPerTenant: Math.max(...refreshesPerTenant),
			ttlSeconds: ttl,
			providerSeconds: providerMs / 1000,
			/** At most this many per tenant: floor(D / TTL) + 1. */
			windowsPerTenant,
			tenantsOverBound: tenants.filter((_, i) => refreshesPerTenant[i] > windowsPerTenant),
		},
		answers: run.answers,
	};
}

/** @param {Answer[]} answers */
function countVerdicts(answers) {
	/** @type {Record<Verdict, number>} */
	const counts = { own: 0, bled: 0, 'not connected': 0, failed: 0 };
	for (const answer of answers) counts[verdictOf(answer)]++;
	return counts;
}

/**
 * Disconnect under load: `callsPerTenant` calls for each of `tenants` with `concurrency` in flight;
 * once a third of them were answered, the operator webhook disconnects `victim`. Each answer is
 * placed by when its call started and ended against the Disconnect call.
 * @param {Rig} rig @param {string[]} tenants @param {string} victim @param {{callsPerTenant: number, concurrency: number}} o
 */
async function disconnectUnderLoad(rig, tenants, victim, o) {
	const calls = Array.from({ length: o.callsPerTenant * tenants.length }, (_, i) => ({ tenant: tenants[i % tenants.length], secret: 'unused' }));
	const before = providerTotals(rig, tenants);
	/** @type {{sent: number, answered: number, status: number, body: any} | undefined} */
	let disconnect;
	/** @type {Promise<void> | undefined} */
	let disconnecting;
	/** @type {Map<Answer, number>} */
	const endedAt = new Map();
	const run = await fireSustained(rig.urls.use, calls, {
		concurrency: o.concurrency,
		callTimeoutMs: 120_000,
		onAnswer: (answer, answered) => {
			endedAt.set(answer, performance.now());
			if (!disconnecting && answered >= Math.floor(calls.length / 3)) {
				const sent = performance.now();
				disconnecting = postJson(rig.urls.disconnect, { tenantId: victim }, 60_000).then((r) => {
					disconnect = { sent, answered: performance.now(), status: r.status, body: r.body };
				});
			}
		},
	});
	await disconnecting;
	if (!disconnect) throw new Error('the Disconnect call was never made');
	const d = disconnect;
	const place = (/** @type {Answer} */ answer) => {
		const end = /** @type {number} */ (endedAt.get(answer));
		const start = end - answer.ms;
		return end < d.sent ? 'before' : start > d.answered ? 'after' : 'during';
	};
	/** @type {Record<string, Record<Verdict, number>>} */
	const victimCalls = {};
	for (const when of ['before', 'during', 'after']) {
		victimCalls[when] = countVerdicts(run.answers.filter((a) => a.call.tenant === victim && place(a) === when));
	}
	const others = run.answers.filter((a) => a.call.tenant !== victim);
	return {
		calls: run.answers.length,
		disconnect: { status: d.status, body: d.body },
		victimCalls,
		others: countVerdicts(others),
		otherProblems: describeAnswers(others),
		/** What the victim's calls started after Disconnect answered were answered (expected: not connected). */
		victimAfter: describeAnswers(run.answers.filter((a) => a.call.tenant === victim && place(a) === 'after')),
		provider: providerDelta(providerTotals(rig, tenants), before),
		wallMs: run.wallMs,
	};
}

module.exports = { deployConnectedTenantRig, tenantIds, connectTenants, useUnderLoad, disconnectUnderLoad, providerTotals, verdictOf, countVerdicts, describeAnswers, mapLimit };
