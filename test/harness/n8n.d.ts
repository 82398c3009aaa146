// Generated from n8n.js by gen-types.js; do not edit.
export type PostgresOptions = {
    /**
     * postgres://user:password@host:port/adminDatabase (default $TEST_DATABASE_URL)
     */
    url?: string | undefined;
    /**
     * default $PGHOST or 127.0.0.1
     */
    host?: string | undefined;
    /**
     * default $PGPORT or 5432
     */
    port?: number | undefined;
    /**
     * default $PGUSER or postgres
     */
    user?: string | undefined;
    /**
     * default $PGPASSWORD or ''
     */
    password?: string | undefined;
    /**
     * database to connect to for CREATE/DROP DATABASE (default postgres)
     */
    adminDatabase?: string | undefined;
    /**
     * use this existing database instead of creating a fresh one (not dropped)
     */
    database?: string | undefined;
    /**
     * DB_POSTGRESDB_POOL_SIZE (default 10)
     */
    poolSize?: number | undefined;
};
export type RedisOptions = {
    /**
     * default 127.0.0.1
     */
    host?: string | undefined;
    /**
     * default 6379
     */
    port?: number | undefined;
    /**
     * QUEUE_BULL_REDIS_DB (default 0)
     */
    db?: number | undefined;
};
export type StartOptions = {
    /**
     * main HTTP port (default: a free port)
     */
    port?: number | undefined;
    /**
     * default sqlite
     */
    db?: "sqlite" | "postgres" | undefined;
    postgres?: PostgresOptions | undefined;
    /**
     * npm pack output to install the panel way (optional)
     */
    packageTarball?: string | undefined;
    /**
     * extra env for main and workers (undefined deletes)
     */
    env?: Record<string, string | undefined> | undefined;
    /**
     * default regular
     */
    mode?: "regular" | "queue" | undefined;
    /**
     * queue mode: number of `n8n worker` processes (default 1)
     */
    workers?: number | undefined;
    /**
     * queue mode
     */
    redis?: RedisOptions | undefined;
    /**
     * default: random per run
     */
    encryptionKey?: string | undefined;
    /**
     * N8N_LOG_LEVEL (default info)
     */
    logLevel?: string | undefined;
    /**
     * default 180000
     */
    startTimeoutMs?: number | undefined;
    /**
     * SIGTERM -> SIGKILL delay (default 8000)
     */
    stopGraceMs?: number | undefined;
    /**
     * keep the user folder after stop (also $TENANT_SWAP_KEEP_TMP=1)
     */
    keepUserFolder?: boolean | undefined;
    /**
     * n8n release to run (default: install.js' N8N_VERSION)
     */
    n8nVersion?: string | undefined;
    /**
     * progress lines (default: stderr)
     */
    onProgress?: ((line: string) => void) | undefined;
};
export type WorkerInfo = {
    index: number;
    /**
     * watchdog pid = process group id
     */
    pid: number;
    /**
     * QUEUE_HEALTH_CHECK_PORT (GET /healthz, /healthz/readiness)
     */
    healthPort: number;
    /**
     * N8N_RUNNERS_BROKER_PORT
     */
    brokerPort: number;
    logFile: string;
};
export type N8nHandle = {
    runId: string;
    /**
     * http://127.0.0.1:<port>
     */
    baseUrl: string;
    /**
     * <baseUrl>/api/v1
     */
    apiUrl: string;
    /**
     * public API key with every scope
     */
    apiKey: string;
    owner: {
        email: string;
        password: string;
        firstName: string;
        lastName: string;
    };
    /**
     * `n8n-auth=...` for /rest (send with browserId)
     */
    cookie: string;
    /**
     * value for the `browser-id` header /rest needs with the cookie
     */
    browserId: string;
    /**
     * main process output
     */
    logFile: string;
    /**
     * main process: watchdog pid = process group id (n8n runs in that group)
     */
    pid: number;
    /**
     * N8N_USER_FOLDER
     */
    userFolder: string;
    /**
     * <userFolder>/.n8n/nodes
     */
    nodesDir: string;
    port: number;
    encryptionKey: string;
    db: "sqlite" | "postgres";
    /**
     * postgres database name
     */
    database: string | undefined;
    mode: "regular" | "queue";
    workers: WorkerInfo[];
    /**
     * queue mode
     */
    redisPrefixes: {
        bull: string;
        redis: string;
        cache: string;
    } | undefined;
    /**
     * the environment n8n runs with (for extra processes)
     */
    env: Record<string, string>;
    packageName: string | undefined;
    /**
     * time from spawn to ready (owner + API key done)
     */
    startupMs: number;
    /**
     *           call /rest/<urlPath> as the owner (cookie + browser-id)
     */
    rest: (method: string, urlPath: string, body?: unknown) => Promise<{
        status: number;
        body: any;
    }>;
    /**
     * main log text
     */
    readLog: () => string;
    /**
     * main log lines that look like load/start errors
     */
    logErrors: () => string[];
    stop: () => Promise<void>;
};
/**
 * Starts n8n (and, in queue mode, its workers). See StartOptions.
 * @param {StartOptions} [opts]
 * @returns {Promise<N8nHandle>}
 */
export function startN8n(opts?: StartOptions): Promise<N8nHandle>;
/**
 * Builds the package (`npm run build`) and packs it (`npm pack --json`) into a temp dir.
 * If $TENANT_SWAP_PACKAGE_TARBALL names an existing file, returns it instead (set it in
 * jest's globalSetup so parallel workers do not build into dist/ at the same time).
 * @param {string} repoDir
 * @param {{build?: boolean, outDir?: string}} [o]
 * @returns {Promise<string>} absolute tarball path
 */
export function packPackage(repoDir: string, o?: {
    build?: boolean;
    outDir?: string;
}): Promise<string>;
/**
 * Installs a packed tarball into <userFolder>/.n8n/nodes exactly as n8n 2.40.7's
 * community-packages service does after `npm pack <name>@<version>`.
 * @param {string} tarball
 * @param {string} nodesDir  <userFolder>/.n8n/nodes
 * @returns {Promise<{name: string, version: string, dir: string}>}
 */
export function installPackageLikePanel(tarball: string, nodesDir: string): Promise<{
    name: string;
    version: string;
    dir: string;
}>;
import { getFreePort } from "./ports";
/**
 * Several distinct free ports.
 * @param {number} n
 * @returns {Promise<number[]>}
 */
export function getFreePorts(n: number): Promise<number[]>;
/**
 * Minimal RESP client: one command, one reply.
 * @param {RedisOptions} r
 * @param {(string|number)[]} args
 * @returns {Promise<any>}
 */
export function redisCommand(r: RedisOptions, args: (string | number)[]): Promise<any>;
/**
 * Drops databases and Redis keys of earlier runs whose test process is gone.
 * @param {{pg?: ReturnType<typeof pgConfig>, redis?: RedisOptions}} o
 */
export function sweepStale(o: {
    pg?: ReturnType<typeof pgConfig>;
    redis?: RedisOptions;
}): Promise<void>;
/**
 * Connection settings, first found wins: the fields of `p`, `p.url`, $TEST_DATABASE_URL
 * (set by test/setup/globalSetup.ts), the PG* variables, 127.0.0.1:5432 as postgres.
 * @param {PostgresOptions} [p]
 */
export function pgConfig(p?: PostgresOptions): {
    host: string;
    port: number;
    user: string;
    password: string;
    adminDatabase: string;
};
export const OWNER: Readonly<{
    email: "owner@tenant-swap.test";
    firstName: "Test";
    lastName: "Owner";
    password: "Tenant-Swap-Passw0rd";
}>;
export { getFreePort };
