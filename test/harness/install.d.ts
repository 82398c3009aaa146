// Generated from install.js by gen-types.js; do not edit.
export type InstallResult = {
    /**
     * absolute path of the Node 24 binary
     */
    nodeBin: string;
    /**
     * absolute path of n8n's bin script (run it as `nodeBin n8nBin start`)
     */
    n8nBin: string;
    /**
     * the node-<platform>-<arch> package folder (headers, bin)
     */
    nodeDir: string;
    /**
     * the folder holding node_modules/n8n
     */
    n8nDir: string;
    cacheRoot: string;
    n8nVersion: string;
};
export type InstallOptions = {
    /**
     * receives progress lines (default: stderr)
     */
    onProgress?: ((line: string) => void) | undefined;
    /**
     * overrides $TENANT_SWAP_CACHE_DIR / the default
     */
    cacheRoot?: string | undefined;
    /**
     * n8n version (default N8N_VERSION; `npm run test:versions` asks for others)
     */
    version?: string | undefined;
};
/**
 * Makes sure Node 24 and n8n are installed in the cache; installs what is missing.
 * Safe to call from several processes at once (they wait for each other).
 * @param {InstallOptions} [options]
 * @returns {Promise<InstallResult>}
 */
export function ensureN8nInstalled(options?: InstallOptions): Promise<InstallResult>;
/**
 * @param {string} [cacheRoot]
 * @param {string} [version]
 * @returns {InstallResult}
 */
export function getPaths(cacheRoot?: string, version?: string): InstallResult;
/** @returns {string} */
export function defaultCacheRoot(): string;
/**
 * @typedef {object} InstallResult
 * @property {string} nodeBin  absolute path of the Node 24 binary
 * @property {string} n8nBin   absolute path of n8n's bin script (run it as `nodeBin n8nBin start`)
 * @property {string} nodeDir  the node-<platform>-<arch> package folder (headers, bin)
 * @property {string} n8nDir   the folder holding node_modules/n8n
 * @property {string} cacheRoot
 * @property {string} n8nVersion
 */
/**
 * @typedef {object} InstallOptions
 * @property {(line: string) => void} [onProgress] receives progress lines (default: stderr)
 * @property {string} [cacheRoot] overrides $TENANT_SWAP_CACHE_DIR / the default
 * @property {string} [version] n8n version (default N8N_VERSION; `npm run test:versions` asks for others)
 */
/**
 * n8n before 2.30 depends on an xlsx build outside the npm registry (measured on 2.8.4 and 2.20.12;
 * 2.40.7 and 2.41.1 install plainly): the registry's last xlsx stands in.
 * @param {string} version
 */
export function needsXlsxOverride(version: string): boolean;
export const N8N_VERSION: "2.40.7";
export const NODE_MAJOR: 24;
