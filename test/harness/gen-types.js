// @ts-check
'use strict';
/**
 * Regenerates the .d.ts files next to the harness modules from their JSDoc (so TypeScript tests
 * can `import { startN8n } from '../harness/n8n'` with types), type-checking the JS on the way.
 * Run after changing a harness module:  node test/harness/gen-types.js
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const here = __dirname;
const modules = ['install', 'n8n', 'api', 'echo', 'ports'];
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'harness-dts-'));
const tsc = require.resolve('typescript/bin/tsc');
const common = ['--allowJs', '--checkJs', '--strict', '--target', 'es2022', '--module', 'commonjs',
	'--moduleResolution', 'node', '--types', 'node', '--skipLibCheck'];
// the harness's own .d.ts must not shadow its .js while checking: compile copies
// (inside the repo, so that `pg` and @types resolve from its node_modules)
const src = fs.mkdtempSync(path.join(here, '.types-src-'));
for (const m of [...modules, 'watchdog']) fs.copyFileSync(path.join(here, `${m}.js`), path.join(src, `${m}.js`));
let r = spawnSync(process.execPath, [tsc, ...common, '--noEmit', path.join(src, 'watchdog.js')], { stdio: 'inherit' });
if (r.status === 0) {
	r = spawnSync(
		process.execPath,
		[tsc, ...common, '--declaration', '--emitDeclarationOnly', '--outDir', out, ...modules.map((m) => path.join(src, `${m}.js`))],
		{ stdio: 'inherit' },
	);
}
if (r.status !== 0) {
	fs.rmSync(out, { recursive: true, force: true });
	fs.rmSync(src, { recursive: true, force: true });
	process.exit(r.status || 1);
}
for (const m of modules) {
	const text = fs.readFileSync(path.join(out, `${m}.d.ts`), 'utf8');
	fs.writeFileSync(path.join(here, `${m}.d.ts`), `// Generated from ${m}.js by gen-types.js; do not edit.\n${text}`);
}
fs.rmSync(out, { recursive: true, force: true });
fs.rmSync(src, { recursive: true, force: true });
process.stdout.write(`wrote ${modules.map((m) => `${m}.d.ts`).join(', ')}\n`);
