/**
 * Tenant OAuth2 Connect (issue 19) on the real stores (PostgreSQL and Redis, through the node's own
 * lock-database settings), n8n's public API faked (FakeCredentialsApi: it counts the DELETEs; a real
 * n8n is in the e2e).
 *
 * - Create Connect Link stores a link another process can use exactly once, for the item's tenant and
 *   connection.
 * - Concurrent Disconnects of one tenant: exactly one forgets the connection and deletes the credential,
 *   the others output "not connected" and send no DELETE. Either guard alone (the atomic forget, or the
 *   tenant's connection lock) is enough. Control: without both (a forget that reads, then deletes, and
 *   no lock) the same race sends more than one DELETE and reports more than one disconnect.
 * - Disconnect waits while the trigger's Complete holds the tenant's connection lock, then removes what
 *   Complete recorded. Control: without the lock, a Complete that updated the credential records it
 *   after Disconnect deleted it (the tenant looks connected to a deleted credential).
 */
import type { ICredentialDataDecryptedObject } from 'n8n-workflow';

import { closeLockEngines, closeSharedPools, DEFAULT_LOCK_SCHEMA, lockClientFor, postgresLockEngine, redisLockEngine, type LockStore } from '../../nodes/shared/lock';
import { postgresSettings } from '../../nodes/shared/lockParameters';
import { connectionHold, tenantConnectionLockKey, type ConnectionHold } from '../../nodes/shared/tenantOAuth/connectionLock';
import { connectStoreFor } from '../../nodes/shared/tenantOAuth/connectStore';
import { disconnectTenant } from '../../nodes/shared/tenantOAuth/disconnect';
import type { ConnectStore, TenantConnection } from '../../nodes/shared/tenantOAuth/types';
import { items, runConnectNode } from '../helpers/connectNode';
import { FakeCredentialsApi } from '../helpers/fakeN8n';
import { postgresCredential, unique } from '../helpers/fixtures';
import { untilQueued } from '../helpers/lockTesting';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ensureRedis } = require('../harness/redis.js');

jest.setTimeout(60_000);

const CONCURRENT = 8;
const lockTable = unique('connect_locks');

interface Backend {
	name: 'postgres' | 'redis';
	/** The node's parameters and credentials for this lock database. */
	parameters: Record<string, unknown>;
	credentials: Record<string, ICredentialDataDecryptedObject>;
	/** The engine the node's settings resolve to (the process-wide one, the node's own). */
	engine(): LockStore;
}

let redis: { host: string; port: number };

const backends: Backend[] = [
	{
		name: 'postgres',
		parameters: { lockBackend: 'postgres', options: { lockTable } },
		get credentials() {
			return { postgres: postgresCredential() };
		},
		engine: () => postgresLockEngine(postgresSettings(postgresCredential()), { schema: DEFAULT_LOCK_SCHEMA, table: lockTable }),
	},
	{
		name: 'redis',
		parameters: { lockBackend: 'redis' },
		get credentials() {
			return { redis: { host: redis.host, port: redis.port, database: 0, ssl: false } };
		},
		engine: () => redisLockEngine({ host: redis.host, port: redis.port, database: 0, ssl: false, disableTlsVerification: false }),
	},
];

beforeAll(async () => {
	redis = await ensureRedis();
});

afterAll(async () => {
	await closeLockEngines();
	await closeSharedPools();
});

/** No lock: the work runs at once. */
const unlocked: ConnectionHold = async (work) => await work();

/** Resolves when `count` callers have arrived (or after `limitMs`, so a slow one cannot hang the test). */
function barrier(count: number, limitMs = 5_000): () => Promise<void> {
	let arrived = 0;
	let open: () => void = () => undefined;
	const opened = new Promise<void>((resolve) => {
		open = resolve;
		setTimeout(resolve, limitMs).unref();
	});
	return async () => {
		arrived += 1;
		if (arrived >= count) open();
		await opened;
	};
}

/** The bug the atomic forget prevents: read the connection, then delete it, in two steps. */
function nonAtomicForget(store: ConnectStore, callers: number): ConnectStore {
	const allHaveRead = barrier(callers);
	return {
		...store,
		connectionOf: store.connectionOf.bind(store),
		saveConnection: store.saveConnection.bind(store),
		forgetConnection: async (tenantId: string, appId: string): Promise<TenantConnection | undefined> => {
			const read = await store.connectionOf(tenantId, appId);
			await allHaveRead();
			await store.forgetConnection(tenantId, appId);
			return read;
		},
	} as ConnectStore;
}

describe.each(backends)('on $name', (backend) => {
	const connectParameters = (operation: string, tenantId: string) => ({ operation, connection: 'hubspot', tenantId, ...backend.parameters });

	it("Create Connect Link stores a link that another process's store redeems once, for the item's tenant and connection", async () => {
		const tenantId = unique('tenant');
		const run = await runConnectNode(
			{ ...connectParameters('createConnectLink', tenantId), connectStartUrl: 'https://n8n.example.com/webhook/tenant-connect/start', linkExpiry: 15 },
			items(1),
			{ credentials: backend.credentials },
		);
		expect(run.error).toBeUndefined();
		const { connectUrl, expiresAt } = run.output![0].json as { connectUrl: string; expiresAt: string };
		expect(Date.parse(expiresAt)).toBeGreaterThan(Date.now() + 14 * 60_000);
		const token = new URL(connectUrl).searchParams.get('link');
		// Two stores on the same database (another n8n process): one use wins, wherever it is asked.
		const here = connectStoreFor(backend.engine());
		const uses = await Promise.all([here.useLink(token), here.useLink(token), here.useLink(token)]);
		expect(uses.filter((use) => use.ok)).toEqual([{ ok: true, target: { tenantId, appId: 'hubspot' } }]);
		expect(uses.filter((use) => !use.ok)).toEqual([
			{ ok: false, reason: 'used' },
			{ ok: false, reason: 'used' },
		]);
	});

	it(`${CONCURRENT} concurrent Disconnects of one tenant: exactly one forgets and deletes, the others say not connected`, async () => {
		const api = new FakeCredentialsApi();
		const store = connectStoreFor(backend.engine());
		const tenantId = unique('tenant');
		const credentialId = api.add(unique('cred'));
		await store.saveConnection({ tenantId, appId: 'hubspot', credentialId, credentialType: 'oAuth2Api', connectedAt: new Date() });

		const runs = await Promise.all(
			Array.from({ length: CONCURRENT }, async () => await runConnectNode(connectParameters('disconnect', tenantId), items(1), { api, credentials: backend.credentials })),
		);
		expect(runs.map((run) => run.error)).toEqual(Array(CONCURRENT).fill(undefined));
		const outcomes = runs.map((run) => run.output![0].json);
		expect(outcomes.filter((outcome) => outcome.disconnected)).toEqual([{ tenantId, connection: 'hubspot', disconnected: true, credentialDeleted: 'deleted' }]);
		expect(outcomes.filter((outcome) => !outcome.disconnected)).toHaveLength(CONCURRENT - 1);
		expect(outcomes.filter((outcome) => !outcome.disconnected).every((outcome) => outcome.credentialDeleted === 'none')).toBe(true);
		expect(api.deletes()).toEqual([credentialId]);
		expect(await store.connectionOf(tenantId, 'hubspot')).toBeUndefined();
	});

	it('control: with a forget that reads then deletes, the same race sends more than one DELETE', async () => {
		const api = new FakeCredentialsApi();
		const store = connectStoreFor(backend.engine());
		const tenantId = unique('tenant');
		const credentialId = api.add(unique('cred'));
		await store.saveConnection({ tenantId, appId: 'hubspot', credentialId, credentialType: 'oAuth2Api', connectedAt: new Date() });
		const broken = nonAtomicForget(store, CONCURRENT);
		const client = api.client();

		const outcomes = await Promise.all(
			Array.from({ length: CONCURRENT }, async (_, index) => await disconnectTenant(broken, client, { tenantId, appId: 'hubspot' }, [index], unlocked)),
		);
		expect(api.deletes().length).toBeGreaterThan(1);
		expect(outcomes.filter((outcome) => outcome.disconnected).length).toBeGreaterThan(1);
	});

	it('the same race, no lock, the atomic forget alone: one DELETE', async () => {
		const api = new FakeCredentialsApi();
		const store = connectStoreFor(backend.engine());
		const tenantId = unique('tenant');
		const credentialId = api.add(unique('cred'));
		await store.saveConnection({ tenantId, appId: 'hubspot', credentialId, credentialType: 'oAuth2Api', connectedAt: new Date() });
		const client = api.client();
		const outcomes = await Promise.all(
			Array.from({ length: CONCURRENT }, async (_, index) => await disconnectTenant(store, client, { tenantId, appId: 'hubspot' }, [index], unlocked)),
		);
		expect(api.deletes()).toEqual([credentialId]);
		expect(outcomes.filter((outcome) => outcome.disconnected)).toEqual([{ disconnected: true, credentialDeleted: 'deleted' }]);
	});

	it('the same race, the non-atomic forget, with the connection lock alone: one DELETE', async () => {
		const api = new FakeCredentialsApi();
		const store = connectStoreFor(backend.engine());
		const tenantId = unique('tenant');
		const credentialId = api.add(unique('cred'));
		await store.saveConnection({ tenantId, appId: 'hubspot', credentialId, credentialType: 'oAuth2Api', connectedAt: new Date() });
		// The lock lets one in at a time: the barrier would wait for all, so it gives up at once.
		const broken = { ...nonAtomicForget(store, 1) } as ConnectStore;
		const client = api.client();
		const locks = lockClientFor(backend.engine());
		const outcomes = await Promise.all(
			Array.from({ length: CONCURRENT }, async (_, index) => {
				const hold = connectionHold(locks, { instanceId: 'test', executionId: `disconnect-${index}`, workflowId: 'wf' }, { connection: 'hubspot', tenantId }, [index]);
				return await disconnectTenant(broken, client, { tenantId, appId: 'hubspot' }, [index], hold);
			}),
		);
		expect(api.deletes()).toEqual([credentialId]);
		expect(outcomes.filter((outcome) => outcome.disconnected)).toHaveLength(1);
	});

	/** What the trigger's Complete does for a tenant already connected: read the connection, update its credential, record it. */
	async function completeUpdating(store: ConnectStore, tenantId: string, during: () => Promise<void>): Promise<void> {
		const known = await store.connectionOf(tenantId, 'hubspot');
		await during();
		await store.saveConnection({ ...known!, connectedAt: new Date() });
	}

	it("Disconnect waits while Complete holds the tenant's connection lock, then removes what Complete recorded", async () => {
		const api = new FakeCredentialsApi();
		const engine = backend.engine();
		const store = connectStoreFor(engine);
		const tenantId = unique('tenant');
		const credentialId = api.add(unique('cred'));
		await store.saveConnection({ tenantId, appId: 'hubspot', credentialId, credentialType: 'oAuth2Api', connectedAt: new Date() });
		const key = tenantConnectionLockKey('hubspot', tenantId);
		const complete = await lockClientFor(engine).acquire(key, { owner: { instanceId: 'trigger', executionId: unique('complete'), workflowId: 'wf', tenantId }, ttlMs: 30_000, waitTimeoutMs: 0 });
		let disconnect: Promise<unknown> | undefined;
		await completeUpdating(store, tenantId, async () => {
			disconnect = runConnectNode(connectParameters('disconnect', tenantId), items(1), { api, credentials: backend.credentials });
			await untilQueued(engine, key, 1);
			expect(api.deletes()).toEqual([]);
		});
		await complete.lock.release();
		const run = (await disconnect) as Awaited<ReturnType<typeof runConnectNode>>;
		expect(run.output?.map((item) => item.json)).toEqual([{ tenantId, connection: 'hubspot', disconnected: true, credentialDeleted: 'deleted' }]);
		expect(api.deletes()).toEqual([credentialId]);
		expect(await store.connectionOf(tenantId, 'hubspot')).toBeUndefined();
	});

	it('control: without the lock, Disconnect runs inside the Complete and the tenant stays recorded with a deleted credential', async () => {
		const api = new FakeCredentialsApi();
		const store = connectStoreFor(backend.engine());
		const tenantId = unique('tenant');
		const credentialId = api.add(unique('cred'));
		await store.saveConnection({ tenantId, appId: 'hubspot', credentialId, credentialType: 'oAuth2Api', connectedAt: new Date() });
		await completeUpdating(store, tenantId, async () => {
			await disconnectTenant(store, api.client(), { tenantId, appId: 'hubspot' }, [0], unlocked);
		});
		expect(api.deletes()).toEqual([credentialId]);
		expect(await store.connectionOf(tenantId, 'hubspot')).toMatchObject({ credentialId });
		expect(api.credentials.has(credentialId)).toBe(false);
	});
});
