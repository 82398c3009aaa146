/**
 * Connected tenants under load in a real n8n 2.40.7 (our packed package, n8n on PostgreSQL, lock
 * backend PostgreSQL), with the stand-in OAuth2 provider (rotating refresh tokens). Tokens expire on
 * the provider's clock, not the wall clock: they live an hour, and every 50 answered calls the clock
 * jumps an hour, so there are exactly 4 expiry windows in the 200 calls however fast the run goes
 * (`npm run soak:oauth` lets them expire in real time). The smaller form of `npm run soak:oauth`
 * (scripts/oauth-soak.js), same workflows
 * (scripts/lib/oauthLoad.js):
 *   - 10 tenants connect through the real flow (Create Connect Link behind an operator webhook, then a
 *     browser each through the trigger and the provider, approving as the tenant's own account),
 *     5 at once.
 *   - 200 calls over them, 10 in flight, through Run With Tenant Credential (Connected Tenant): every
 *     answer names its own tenant's account, the provider saw no call with another tenant's token,
 *     nothing failed; every tenant's token was refreshed once per expiry window (3 jumps: at least 3,
 *     at most 4 per tenant, where one refresh per call would be about 15), no invalid_grant; then one
 *     more call per tenant works (none disconnected).
 *   - All tokens expired, then 20 calls of 2 tenants with 10 in flight (5 of each tenant at once): one
 *     refresh per tenant (n8n refreshes one credential once at a time), every call its own account.
 *   - Control: the same workflow with every tenant's connection pointing at one tenant's credential:
 *     the same checks count the other tenants' calls as bled.
 *   - Disconnect under load: calls for 4 tenants; one is disconnected meanwhile: its later calls leave
 *     on the error output as "not connected", no other tenant's call fails.
 */
import { closeLockEngines, DEFAULT_LOCK_SCHEMA, DEFAULT_LOCK_TABLE, postgresLockEngine } from '../../nodes/shared/lock';
import { postgresSettings } from '../../nodes/shared/lockParameters';
import { connectStoreFor } from '../../nodes/shared/tenantOAuth/connectStore';
import type { ConnectStore, TenantConnection } from '../../nodes/shared/tenantOAuth/types';
import { startE2eStack, testDatabaseUrl, type E2eStack, type Ref } from '../helpers/e2eStack';
import type { OAuthProvider } from '../helpers/oauthProvider';

type Verdicts = { own: number; bled: number; 'not connected': number; failed: number };
type ProviderCounts = Record<'codeExchanges' | 'refreshes' | 'invalidGrants' | 'refreshReuses' | 'resourceCalls' | 'rejectedResourceCalls' | 'tenantHintMismatches' | 'unknownTokenCalls', number>;
interface Rig {
	provider: OAuthProvider;
	connection: string;
}
/** What this test uses of scripts/lib/oauthLoad.js (plain JS, shared with `npm run soak:oauth`). */
interface OAuthLoad {
	tenantIds(count: number): string[];
	deployConnectedTenantRig(o: { api: any; n8nBaseUrl: string; n8nApi: Ref; postgres: Ref; tag: string; accessTokenTtlSeconds: number }): Promise<Rig>;
	connectTenants(rig: Rig, tenants: string[], concurrency: number): Promise<{ outcomes: Array<{ tenant: string; connected: boolean; problem?: string }>; wallMs: number }>;
	useUnderLoad(
		rig: Rig,
		tenants: string[],
		o: { count: number; concurrency: number; expireEvery?: number },
	): Promise<{
		calls: number;
		wallMs: number;
		perSecond: number;
		verdicts: Verdicts;
		problems: string[];
		provider: ProviderCounts;
		refreshes: { total: number; fewestPerTenant: number; mostPerTenant: number; providerSeconds: number; windowsPerTenant: number; tenantsOverBound: string[] };
	}>;
	disconnectUnderLoad(
		rig: Rig,
		tenants: string[],
		victim: string,
		o: { callsPerTenant: number; concurrency: number },
	): Promise<{
		disconnect: { status: number; body: any };
		victimCalls: Record<'before' | 'during' | 'after', Verdicts>;
		others: Verdicts;
		otherProblems: string[];
		provider: ProviderCounts;
	}>;
}

/* eslint-disable @typescript-eslint/no-require-imports */
const { postgresCredentialData } = require('../harness/postgres.js');
const oauthLoad = require('../../scripts/lib/oauthLoad.js') as OAuthLoad;
/* eslint-enable @typescript-eslint/no-require-imports */

jest.setTimeout(600_000);

const TENANTS = oauthLoad.tenantIds(10);
const TTL_SECONDS = 3600;
const startedAt = Date.now();

let stack: E2eStack;
let rig: Rig;
let store: ConnectStore;
const log = (line: string) => process.stderr.write(`[tenantOAuthLoad] ${line}\n`);

beforeAll(async () => {
	stack = await startE2eStack();
	rig = await oauthLoad.deployConnectedTenantRig({
		api: stack.api,
		n8nBaseUrl: stack.n8n.baseUrl,
		n8nApi: stack.n8nApi,
		postgres: stack.postgres,
		tag: Math.random().toString(36).slice(2, 8).replace(/[^a-z0-9]/g, 'x'),
		accessTokenTtlSeconds: TTL_SECONDS,
	});
	store = connectStoreFor(postgresLockEngine(postgresSettings(postgresCredentialData(testDatabaseUrl())), { schema: DEFAULT_LOCK_SCHEMA, table: DEFAULT_LOCK_TABLE }));
});

afterAll(async () => {
	await rig?.provider.close();
	await stack?.stop();
	await closeLockEngines();
	log(`ran ${Math.round((Date.now() - startedAt) / 1000)} s (n8n start-up included)`);
});

it('10 tenants connect through the real flow, 5 at once, each as its own provider account', async () => {
	const { outcomes, wallMs } = await oauthLoad.connectTenants(rig, TENANTS, 5);
	log(`connect: ${outcomes.filter((o) => o.connected).length} of ${TENANTS.length} in ${Math.round(wallMs)} ms`);
	expect(outcomes.filter((outcome) => !outcome.connected)).toEqual([]);
	for (const tenant of TENANTS) {
		expect(rig.provider.stats.account(tenant).codeExchanges).toBe(1);
		expect(await store.connectionOf(tenant, rig.connection)).toMatchObject({ credentialType: 'oAuth2Api' });
	}
	const credentialIds = await Promise.all(TENANTS.map(async (tenant) => (await store.connectionOf(tenant, rig.connection))!.credentialId));
	expect(new Set(credentialIds).size).toBe(TENANTS.length);
});

it('200 calls, 10 in flight: 0 bleed, 0 failed, refreshes during the run at most one per tenant per expiry window, none disconnected', async () => {
	const use = await oauthLoad.useUnderLoad(rig, TENANTS, { count: 200, concurrency: 10, expireEvery: 50 });
	log(
		`use: ${use.calls} calls in ${Math.round(use.wallMs)} ms (${use.perSecond.toFixed(1)}/s), verdicts ${JSON.stringify(use.verdicts)}, ` +
			`mismatches ${use.provider.tenantHintMismatches}, refreshes ${use.refreshes.total} (${use.refreshes.fewestPerTenant}-${use.refreshes.mostPerTenant} per tenant, ` +
			`bound ${use.refreshes.windowsPerTenant} over ${use.refreshes.providerSeconds.toFixed(1)} s), 401s ${use.provider.rejectedResourceCalls}, invalid_grant ${use.provider.invalidGrants}`,
	);
	expect(use.problems).toEqual([]);
	expect(use.verdicts).toEqual({ own: 200, bled: 0, 'not connected': 0, failed: 0 });
	expect(use.provider.tenantHintMismatches).toBe(0);
	expect(use.provider.resourceCalls).toBe(200);
	// Every tenant's token expired at each of the 3 clock jumps and was refreshed then ...
	expect(use.refreshes.windowsPerTenant).toBe(4);
	expect(use.refreshes.fewestPerTenant).toBeGreaterThanOrEqual(3);
	// ... once per tenant per expiry window (a refresh made just before a jump may need one more), not
	// once per call (each tenant had 20) nor per 401, and never with a dead refresh token.
	expect(use.refreshes.tenantsOverBound).toEqual([]);
	expect(use.refreshes.total).toBeLessThanOrEqual(TENANTS.length * 4);
	expect(use.refreshes.total).toBeLessThanOrEqual(use.provider.rejectedResourceCalls);
	expect(use.provider.invalidGrants).toBe(0);
	expect(use.provider.refreshReuses).toBe(0);

	const after = await oauthLoad.useUnderLoad(rig, TENANTS, { count: TENANTS.length, concurrency: TENANTS.length });
	expect(after.problems).toEqual([]);
	expect(after.verdicts.own).toBe(TENANTS.length);
});

it('expired tokens with 5 calls of each tenant in flight at once: one refresh per tenant, every call its own account', async () => {
	const pair = TENANTS.slice(0, 2);
	rig.provider.advanceClock(TTL_SECONDS * 1000);
	const use = await oauthLoad.useUnderLoad(rig, pair, { count: 20, concurrency: 10 });
	log(`burst after expiry: verdicts ${JSON.stringify(use.verdicts)}, 401s ${use.provider.rejectedResourceCalls}, refreshes ${use.refreshes.total}, invalid_grant ${use.provider.invalidGrants}`);
	expect(use.problems).toEqual([]);
	expect(use.verdicts.own).toBe(20);
	expect(use.provider.tenantHintMismatches).toBe(0);
	expect(use.refreshes.total).toBe(2);
	expect(use.provider.invalidGrants).toBe(0);
});

it("control: every connection pointing at one tenant's credential, the same checks count the other tenants' calls as bled", async () => {
	const [owner] = TENANTS;
	const connections = new Map<string, TenantConnection>();
	for (const tenant of TENANTS) connections.set(tenant, (await store.connectionOf(tenant, rig.connection))!);
	const ownersCredential = connections.get(owner)!.credentialId;
	try {
		for (const tenant of TENANTS) await store.saveConnection({ ...connections.get(tenant)!, credentialId: ownersCredential });
		const use = await oauthLoad.useUnderLoad(rig, TENANTS, { count: 40, concurrency: 10 });
		log(`control: verdicts ${JSON.stringify(use.verdicts)}, mismatches ${use.provider.tenantHintMismatches}`);
		expect(use.verdicts).toEqual({ own: 4, bled: 36, 'not connected': 0, failed: 0 });
		expect(use.provider.tenantHintMismatches).toBe(36);
		expect(rig.provider.stats.account(owner).tenantHintMismatches).toBe(36);
	} finally {
		for (const connection of connections.values()) await store.saveConnection(connection);
	}
});

it('Disconnect under load: the tenant\'s later calls say "not connected" on the error output, no other tenant fails', async () => {
	const underLoad = TENANTS.slice(0, 4);
	const [victim] = underLoad;
	const result = await oauthLoad.disconnectUnderLoad(rig, underLoad, victim, { callsPerTenant: 15, concurrency: 8 });
	log(`disconnect: ${JSON.stringify({ victim: result.victimCalls, others: result.others, disconnect: result.disconnect.body, mismatches: result.provider.tenantHintMismatches })}`);
	expect(result.disconnect).toMatchObject({ status: 200, body: { tenantId: victim, disconnected: true, credentialDeleted: 'deleted' } });
	expect(result.otherProblems).toEqual([]);
	expect(result.others).toEqual({ own: 45, bled: 0, 'not connected': 0, failed: 0 });
	expect(result.provider.tenantHintMismatches).toBe(0);
	const { before, during, after } = result.victimCalls;
	expect(before).toMatchObject({ bled: 0, 'not connected': 0, failed: 0 });
	expect(during.bled).toBe(0);
	expect(after['not connected']).toBeGreaterThan(0);
	expect(after).toMatchObject({ own: 0, bled: 0, failed: 0 });
	expect(await store.connectionOf(victim, rig.connection)).toBeUndefined();
});
