/**
 * A control build of the package for end-to-end tests: the same packed tarball, renamed
 * (`<name>-control`, so it installs beside the real one in the same n8n), with only Run With Tenant
 * Credential (the credential type stays the real package's) and with one guard replaced by a no-op.
 * The guard is swapped in the built JavaScript of the control copy only: the shipped package has no switch.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const CONTROL_SUFFIX = '-control';

/** The packed tarball with `module`'s export `exported` replaced by a function that does nothing (in that copy only). */
export async function controlTarball(tarball: string, guard: { module: string; exported: string }): Promise<{ tarball: string; nodeType: string }> {
	const dir = mkdtempSync(join(tmpdir(), 'tenant-swap-control-'));
	await run('tar', ['-xzf', tarball, '-C', dir]);
	const root = join(dir, 'package');
	const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
	manifest.name = `${manifest.name}${CONTROL_SUFFIX}`;
	manifest.n8n.credentials = [];
	manifest.n8n.nodes = manifest.n8n.nodes.filter((file: string) => file.includes('RunWithTenantCredential'));
	writeFileSync(join(root, 'package.json'), JSON.stringify(manifest, null, 2));
	const nodeFile = join(root, 'dist', 'nodes', 'RunWithTenantCredential', 'RunWithTenantCredential.node.js');
	const guardFile = join(root, 'dist', guard.module);
	if (!existsSync(nodeFile) || !existsSync(`${guardFile}.js`)) throw new Error(`control build: ${nodeFile} or ${guardFile}.js is missing`);
	if (!readFileSync(`${guardFile}.js`, 'utf8').includes(`exports.${guard.exported} = `)) throw new Error(`control build: ${guard.module} does not export ${guard.exported}`);
	// Callers read the export at each call ((0, module_1.name)(...)), so replacing it on the exports object disables it.
	const relative = `../../${guard.module}`;
	writeFileSync(nodeFile, `require(${JSON.stringify(relative)}).${guard.exported} = async () => undefined;\n${readFileSync(nodeFile, 'utf8')}`);
	const out = join(dir, `${manifest.name}-${manifest.version}.tgz`);
	await run('tar', ['-czf', out, '-C', dir, 'package']);
	return { tarball: out, nodeType: `${manifest.name}.runWithTenantCredential` };
}
