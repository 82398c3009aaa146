/**
 * As root, embedded PostgreSQL runs initdb and postgres as a `postgres` user. In a checkout inside a
 * 0700 folder (root's home, `mktemp -d`) that user cannot reach node_modules, and the throwaway
 * PostgreSQL of `npm test`, `npm run demo` and `npm run dev` died with `spawn .../initdb EACCES`.
 * This copies the harness and (hard-linked) node_modules into such a folder and starts it there.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const REPO = path.resolve(__dirname, '..', '..');
const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

jest.setTimeout(180_000);

/** Hard links when the temp folder is on the same file system (fast, no space), else a copy. */
function linkTree(from: string, to: string): void {
	const linked = spawnSync('cp', ['-al', from, to]);
	if (linked.status !== 0) fs.cpSync(from, to, { recursive: true, verbatimSymlinks: true });
}

// Only root hands PostgreSQL to another user: there is nothing to reproduce for anyone else.
(asRoot ? describe : describe.skip)('as root, in a checkout inside a 0700 folder', () => {
	let privateDir: string;

	beforeAll(() => {
		privateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenant-swap-private-'));
		fs.chmodSync(privateDir, 0o700);
		const clone = path.join(privateDir, 'clone');
		fs.mkdirSync(path.join(clone, 'test'), { recursive: true });
		fs.copyFileSync(path.join(REPO, 'package.json'), path.join(clone, 'package.json'));
		fs.cpSync(path.join(REPO, 'test', 'harness'), path.join(clone, 'test', 'harness'), { recursive: true });
		linkTree(path.join(REPO, 'node_modules'), path.join(clone, 'node_modules'));
	});

	afterAll(() => {
		if (privateDir) fs.rmSync(privateDir, { recursive: true, force: true });
	});

	it('starts the throwaway PostgreSQL, answers a query and removes its data directory', () => {
		const clone = path.join(privateDir, 'clone');
		expect(fs.statSync(privateDir).mode & 0o777).toBe(0o700);
		const script = `
			const { ensurePostgres } = require('./test/harness/postgres.js');
			const { Client } = require('pg');
			(async () => {
				const pg = await ensurePostgres({ onProgress: () => undefined });
				const client = new Client({ connectionString: pg.url });
				await client.connect();
				const { rows } = await client.query('SELECT current_setting($1) AS dir, current_user AS who', ['data_directory']);
				await client.end();
				await pg.stop();
				process.stdout.write(JSON.stringify({ embedded: pg.embedded, dir: rows[0].dir, who: rows[0].who }));
			})().catch((error) => { process.stderr.write(String(error && error.stack || error)); process.exit(1); });`;
		const env = { ...process.env };
		// the throwaway server, not the one the test run uses
		for (const key of Object.keys(env)) if (key === 'TEST_DATABASE_URL' || /^PG/.test(key)) delete env[key];
		const run = spawnSync(process.execPath, ['-e', script], { cwd: clone, env, encoding: 'utf8', timeout: 150_000 });
		expect(run.stderr).not.toMatch(/EACCES/);
		expect({ status: run.status, stderr: run.stderr.slice(-2000) }).toEqual({ status: 0, stderr: '' });
		const result = JSON.parse(run.stdout) as { embedded: boolean; dir: string; who: string };
		expect(result).toMatchObject({ embedded: true, who: 'postgres' });
		// the data directory sits outside the private folder, and is gone after stop()
		expect(result.dir.startsWith(privateDir)).toBe(false);
		expect(fs.existsSync(result.dir)).toBe(false);
	});
});
