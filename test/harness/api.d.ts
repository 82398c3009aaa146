// Generated from api.js by gen-types.js; do not edit.
export type Connection = {
    /**
     * <baseUrl>/api/v1
     */
    apiUrl: string;
    apiKey: string;
    baseUrl?: string | undefined;
    /**
     * for the /rest helpers
     */
    cookie?: string | undefined;
    /**
     * for the /rest helpers
     */
    browserId?: string | undefined;
};
export type RequestOptions = {
    body?: unknown;
    query?: Record<string, string | number | boolean | undefined> | undefined;
    /**
     * statuses that are returned instead of thrown (default: 2xx only)
     */
    expect?: number[] | undefined;
    /**
     * retries on 429/502/503/504 and connection errors (default 5)
     */
    retries?: number | undefined;
    headers?: Record<string, string> | undefined;
};
export type ApiClient = ReturnType<typeof createApiClient>;
/**
 * @typedef {ReturnType<typeof createApiClient>} ApiClient
 */
/**
 * @param {Connection} conn  e.g. the handle from startN8n()
 */
export function createApiClient(conn: Connection): {
    baseUrl: string;
    apiUrl: string;
    request: (method: string, urlPath: string, o?: RequestOptions) => Promise<{
        status: number;
        body: any;
        headers: Headers;
    }>;
    rest: (method: string, urlPath: string, o?: RequestOptions) => Promise<{
        status: number;
        body: any;
        headers: Headers;
    }>;
    listAll: (urlPath: string, query?: Record<string, string | number | boolean | undefined>) => Promise<any[]>;
    /**
     * @param {{name: string, type: string, data: Record<string, unknown>}} cred
     * @returns {Promise<{id: string, name: string, type: string, createdAt: string, updatedAt: string}>}
     */
    createCredential(cred: {
        name: string;
        type: string;
        data: Record<string, unknown>;
    }): Promise<{
        id: string;
        name: string;
        type: string;
        createdAt: string;
        updatedAt: string;
    }>;
    /**
     * PATCH /credentials/:id (n8n >= 2.8). Without isPartialData the data replaces the old data whole.
     * @param {string} id
     * @param {{data?: Record<string, unknown>, name?: string, isPartialData?: boolean}} patch
     */
    updateCredential(id: string, patch: {
        data?: Record<string, unknown>;
        name?: string;
        isPartialData?: boolean;
    }): Promise<any>;
    /** @param {string} id */
    deleteCredential(id: string): Promise<any>;
    /** GET /credentials/:id: metadata, never data (n8n >= 2.20). @param {string} id */
    getCredential(id: string): Promise<any>;
    /** every credential, all cursor pages */
    listCredentials(): Promise<any[]>;
    /** @param {string} type */
    getCredentialSchema(type: string): Promise<any>;
    /**
     * POST /credentials/:id/test (public API, n8n >= 2.20): { status: 'OK'|'Error', message }
     * @param {string} id
     */
    testCredential(id: string): Promise<any>;
    /**
     * POST /rest/credentials/test, the editor's "Test" button: tests the given data merged with the
     * stored credential (data may be omitted fields / redacted values). Needs the owner cookie.
     * @param {{id: string, name?: string, type: string, data?: Record<string, unknown>}} cred
     * @returns {Promise<{status: 'OK'|'Error', message?: string}>}
     */
    testCredentialInternal(cred: {
        id: string;
        name?: string;
        type: string;
        data?: Record<string, unknown>;
    }): Promise<{
        status: "OK" | "Error";
        message?: string;
    }>;
    /**
     * @param {{name: string, nodes: any[], connections: Record<string, any>, settings?: Record<string, any>}} json
     * @returns {Promise<{id: string, name: string, active: boolean, versionId: string, [k: string]: any}>}
     */
    createWorkflow(json: {
        name: string;
        nodes: any[];
        connections: Record<string, any>;
        settings?: Record<string, any>;
    }): Promise<{
        id: string;
        name: string;
        active: boolean;
        versionId: string;
        [k: string]: any;
    }>;
    /** @param {string} id */
    getWorkflow(id: string): Promise<any>;
    /** publish (= activate in n8n 1.x) the latest version. @param {string} id */
    activateWorkflow(id: string): Promise<any>;
    /** @param {string} id */
    deactivateWorkflow(id: string): Promise<any>;
    /** @param {string} id */
    deleteWorkflow(id: string): Promise<any>;
    /**
     * createWorkflow + activateWorkflow + waitForWebhook for every Webhook node in it.
     * @param {{name: string, nodes: any[], connections: Record<string, any>, settings?: Record<string, any>}} json
     */
    deployWorkflow(json: {
        name: string;
        nodes: any[];
        connections: Record<string, any>;
        settings?: Record<string, any>;
    }): Promise<{
        [k: string]: any;
        id: string;
        name: string;
        active: boolean;
        versionId: string;
    }>;
    /**
     * @param {string} webhookPath
     * @param {string} [method]
     * @param {{workflowId?: string, timeoutMs?: number, reactivateAfterMs?: number}} [o]
     */
    waitForWebhook(webhookPath: string, method?: string, o?: {
        workflowId?: string;
        timeoutMs?: number;
        reactivateAfterMs?: number;
    }): Promise<void>;
    /**
     * @param {string} webhookPath
     * @param {Parameters<typeof callWebhook>[2]} [o]
     */
    callWebhook(webhookPath: string, o?: Parameters<typeof callWebhook>[2]): Promise<{
        status: number;
        body: any;
        headers: Headers;
    }>;
    /**
     * Every execution (all cursor pages), newest first.
     * @param {{includeData?: boolean, workflowId?: string, status?: string, limit?: number}} [o]
     *        limit: stop after this many
     */
    getExecutions(o?: {
        includeData?: boolean;
        workflowId?: string;
        status?: string;
        limit?: number;
    }): Promise<any[]>;
    /**
     * @param {string|number} id
     * @param {{includeData?: boolean}} [o]
     */
    getExecution(id: string | number, o?: {
        includeData?: boolean;
    }): Promise<any>;
    /**
     * Waits until the workflow has at least `count` finished executions (not new/running/waiting).
     * @param {{workflowId: string, count?: number, timeoutMs?: number, includeData?: boolean}} o
     */
    waitForExecutions(o: {
        workflowId: string;
        count?: number;
        timeoutMs?: number;
        includeData?: boolean;
    }): Promise<any[]>;
};
/**
 * Waits until the production webhook is registered. If it still is not after `reactivateAfterMs`
 * and `api` + `workflowId` are given, deactivates and activates the workflow once more (seen on
 * n8n 2.40.7: right after activation a webhook sometimes stays "not registered" until then).
 * @param {string} baseUrl
 * @param {string} webhookPath
 * @param {string} [method]   default POST
 * @param {{api?: ApiClient, workflowId?: string, timeoutMs?: number, reactivateAfterMs?: number}} [o]
 */
export function waitForWebhook(baseUrl: string, webhookPath: string, method?: string, o?: {
    api?: ApiClient;
    workflowId?: string;
    timeoutMs?: number;
    reactivateAfterMs?: number;
}): Promise<void>;
/**
 * Is the production webhook <method> /webhook/<path> registered? Asks with a CORS preflight
 * (OPTIONS + Origin), which n8n answers from its webhook table without running the workflow:
 * `Access-Control-Allow-Methods` lists the registered methods.
 * @param {string} baseUrl
 * @param {string} webhookPath
 * @param {string} method
 */
export function isWebhookRegistered(baseUrl: string, webhookPath: string, method: string): Promise<boolean>;
/**
 * Calls a production webhook (`/webhook/<path>`).
 * @param {string} baseUrl
 * @param {string} webhookPath
 * @param {{method?: string, body?: unknown, headers?: Record<string,string>, query?: Record<string,string>, test?: boolean}} [o]
 *        test: call /webhook-test/ instead
 * @returns {Promise<{status: number, body: any, headers: Headers}>}
 */
export function callWebhook(baseUrl: string, webhookPath: string, o?: {
    method?: string;
    body?: unknown;
    headers?: Record<string, string>;
    query?: Record<string, string>;
    test?: boolean;
}): Promise<{
    status: number;
    body: any;
    headers: Headers;
}>;
export class ApiError extends Error {
    /**
     * @param {string} message
     * @param {number} status
     * @param {unknown} body
     */
    constructor(message: string, status: number, body: unknown);
    status: number;
    body: unknown;
}
