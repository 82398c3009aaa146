/**
 * Preludes for the plain Node child processes the tests start (a lock holder to SIGKILL, an engine
 * that needs process-start settings): they load our TypeScript sources by transpiling them on require.
 */
export const REQUIRE_TYPESCRIPT = `
const fs = require('node:fs');
const ts = require('typescript');
require.extensions['.ts'] = (module, filename) => {
	const source = fs.readFileSync(filename, 'utf8');
	const { outputText } = ts.transpileModule(source, {
		fileName: filename,
		compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
	});
	module._compile(outputText, filename);
};
`;
