/**
 * End to end: the packed package, installed the way n8n's community-nodes panel installs it,
 * loads in a real n8n 2.40.7 (Node 24, SQLite, loopback) and its credential type works.
 * Generic about the nodes' contents: it only relies on their type names.
 */
import * as fs from 'fs';
import * as path from 'path';
import { packPackage, startN8n } from '../harness/n8n';
import type { N8nHandle } from '../harness/n8n';
import { createApiClient } from '../harness/api';

const REPO = path.resolve(__dirname, '..', '..');
const PACKAGE = 'n8n-nodes-tenant-credential-swap';
const NODE_TYPES = [`${PACKAGE}.tenantCredentialSwap`, `${PACKAGE}.tenantLockRelease`];
const CREDENTIAL_TYPE = 'tenantSwapN8nApi';

interface TypeEntry {
	name: string;
	displayName?: string;
	version?: number | number[];
	icon?: unknown;
	iconUrl?: string | { light?: string; dark?: string };
}

jest.setTimeout(600_000);

describe('package loads in a real n8n (community-nodes panel install)', () => {
	let n8n: N8nHandle;
	let api: ReturnType<typeof createApiClient>;
	const created: string[] = [];

	beforeAll(async () => {
		const tarball = await packPackage(REPO);
		n8n = await startN8n({ packageTarball: tarball });
		api = createApiClient(n8n);
	});

	afterAll(async () => {
		if (!n8n) return;
		for (const id of created) await api.deleteCredential(id).catch(() => undefined);
		await n8n.stop();
	});

	/** GET /types/<file>.json as the logged-in owner */
	async function types(file: 'nodes' | 'credentials'): Promise<TypeEntry[]> {
		const res = await fetch(`${n8n.baseUrl}/types/${file}.json`, { headers: { cookie: n8n.cookie } });
		expect(res.status).toBe(200);
		return (await res.json()) as TypeEntry[];
	}

	it('was installed like the panel does: runtime dependencies only, listed in nodes/package.json', () => {
		const list = JSON.parse(fs.readFileSync(path.join(n8n.nodesDir, 'package.json'), 'utf8'));
		expect(list.dependencies).toHaveProperty(PACKAGE);

		const dir = path.join(n8n.nodesDir, 'node_modules', PACKAGE);
		const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
		expect(pkg.devDependencies).toBeUndefined();
		expect(pkg.peerDependencies).toBeUndefined();
		for (const dep of Object.keys(pkg.dependencies ?? {})) {
			expect(fs.existsSync(path.join(dir, 'node_modules', dep, 'package.json'))).toBe(true);
		}
		// the peer stays n8n's own copy
		expect(fs.existsSync(path.join(dir, 'node_modules', 'n8n-workflow'))).toBe(false);
	});

	it('loaded both node types', async () => {
		const nodes = await types('nodes');
		const ours = nodes.filter((t) => t.name.startsWith(`${PACKAGE}.`));
		expect(ours.map((t) => t.name).sort()).toEqual(expect.arrayContaining([...NODE_TYPES].sort()));
		for (const t of ours) expect(t.displayName).toEqual(expect.any(String));

		// the editor fetches full descriptions this way; it resolves the loaded node classes
		const versions = NODE_TYPES.map((name) => {
			const v = ours.find((t) => t.name === name)?.version ?? 1;
			return { name, version: Array.isArray(v) ? Math.max(...v) : v };
		});
		const res = await n8n.rest('POST', 'node-types', { nodeInfos: versions });
		expect(res.status).toBe(200);
		// descriptions carry the bare node name; n8n prefixes the package name when it registers them
		expect(res.body.data.map((d: TypeEntry) => d.name).sort()).toEqual(
			NODE_TYPES.map((t) => t.slice(PACKAGE.length + 1)).sort(),
		);
	});

	it('loaded the credential type', async () => {
		const creds = await types('credentials');
		const cred = creds.find((t) => t.name === CREDENTIAL_TYPE);
		expect(cred).toBeDefined();
		expect(cred?.displayName).toEqual(expect.any(String));
	});

	it('serves the icons of its nodes and credential', async () => {
		const entries = [...(await types('nodes')), ...(await types('credentials'))].filter(
			(t) => t.name.startsWith(`${PACKAGE}.`) || t.name === CREDENTIAL_TYPE,
		);
		const urls = entries.flatMap((t) =>
			typeof t.iconUrl === 'string' ? [t.iconUrl] : Object.values(t.iconUrl ?? {}).filter(Boolean),
		) as string[];
		expect(urls.length).toBeGreaterThan(0);
		for (const url of urls) {
			const res = await fetch(`${n8n.baseUrl}/${url.replace(/^\/+/, '')}`, { headers: { cookie: n8n.cookie } });
			expect({ url, status: res.status }).toEqual({ url, status: 200 });
		}
	});

	it('logged no loading errors', () => {
		const log = n8n.readLog();
		const problems = log
			.split('\n')
			.filter((l) => /tenant-credential-swap|tenantSwap|tenantLock/i.test(l))
			.filter((l) => /error|fail|cannot|unrecognized|invalid/i.test(l));
		expect(problems).toEqual([]);
		expect(n8n.logErrors()).toEqual([]);
	});

	it('creates a tenantSwapN8nApi credential through the public API that passes its test', async () => {
		const data = { baseUrl: n8n.apiUrl, apiKey: n8n.apiKey, allowUnauthorizedCerts: false };
		const cred = await api.createCredential({ name: 'n8n API (self)', type: CREDENTIAL_TYPE, data });
		created.push(cred.id);
		expect(cred).toMatchObject({ name: 'n8n API (self)', type: CREDENTIAL_TYPE });

		// the editor's "Test" button: POST /rest/credentials/test (tests the data sent with it)
		expect(await api.testCredentialInternal({ id: cred.id, name: cred.name, type: cred.type, data })).toMatchObject({
			status: 'OK',
		});
		// the public API's test (n8n >= 2.20): tests the stored data
		expect(await api.testCredential(cred.id)).toMatchObject({ status: 'OK' });
	});

	it('fails the credential test for a key n8n refuses', async () => {
		const data = { baseUrl: n8n.apiUrl, apiKey: 'not-a-valid-key', allowUnauthorizedCerts: false };
		const cred = await api.createCredential({ name: 'n8n API (bad key)', type: CREDENTIAL_TYPE, data });
		created.push(cred.id);
		expect(await api.testCredentialInternal({ id: cred.id, type: cred.type, data })).toMatchObject({ status: 'Error' });
		expect(await api.testCredential(cred.id)).toMatchObject({ status: 'Error' });
	});
});
