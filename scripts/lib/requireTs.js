// @ts-check
'use strict';
/**
 * Lets a plain-JS script require the TypeScript test helpers (e.g. test/helpers/faultServers.ts) as
 * they are, instead of keeping a JS copy: each .ts file is transpiled on load with the TypeScript
 * compiler the repository already has (no type check; `npx tsc` does that), as ts-jest does for jest.
 *
 *   const { FaultProxy } = requireTs('../../test/helpers/faultServers.ts');
 */
const fs = require('fs');
const path = require('path');

let registered = false;

function register() {
	if (registered) return;
	registered = true;
	const ts = require('typescript');
	const compilerOptions = { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true };
	// Node's hook for a file extension (what ts-node registers): compile the source, then load it as CommonJS.
	require.extensions['.ts'] = (module, filename) => {
		const source = fs.readFileSync(filename, 'utf8');
		const { outputText } = ts.transpileModule(source, { compilerOptions, fileName: filename });
		/** @type {any} */ (module)._compile(outputText, filename);
	};
}

/**
 * @param {string} file  path of a .ts module, relative to the caller's folder or absolute
 * @param {string} [from]  the caller's __dirname
 * @returns {any}
 */
function requireTs(file, from = __dirname) {
	// Under jest (its own require, no extension hooks) its transform already compiles TypeScript.
	if (require.extensions) register();
	return require(path.resolve(from, file));
}

module.exports = { requireTs };
