// Generated from echo.js by gen-types.js; do not edit.
export type EchoRequest = {
    method: string;
    path: string;
    query: Record<string, string>;
    headers: import("http").IncomingHttpHeaders;
    rawBody: string;
    body: unknown;
    /**
     * Date.now() when it arrived
     */
    at: number;
};
export type EchoService = {
    /**
     * http://127.0.0.1:<port>
     */
    url: string;
    port: number;
    /**
     * every request received, in order
     */
    requests: EchoRequest[];
    /**
     * access token -> client_id
     */
    tokens: Map<string, string>;
    /**
     * forget recorded requests (tokens stay valid)
     */
    reset: () => void;
    stop: () => Promise<void>;
};
export type EchoOptions = {
    /**
     * client_id -> client_secret; when given, other
     * clients or wrong secrets get 401 invalid_client (default: any pair is accepted)
     */
    clients?: Record<string, string> | undefined;
    /**
     * delay every /echo answer (to widen race windows)
     */
    delayMs?: number | undefined;
    /**
     * default: random
     */
    port?: number | undefined;
};
/**
 * @typedef {object} EchoRequest
 * @property {string} method
 * @property {string} path
 * @property {Record<string,string>} query
 * @property {import('http').IncomingHttpHeaders} headers
 * @property {string} rawBody
 * @property {unknown} body
 * @property {number} at  Date.now() when it arrived
 */
/**
 * @typedef {object} EchoService
 * @property {string} url   http://127.0.0.1:<port>
 * @property {number} port
 * @property {EchoRequest[]} requests        every request received, in order
 * @property {Map<string,string>} tokens     access token -> client_id
 * @property {() => void} reset              forget recorded requests (tokens stay valid)
 * @property {() => Promise<void>} stop
 */
/**
 * @typedef {object} EchoOptions
 * @property {Record<string,string>} [clients] client_id -> client_secret; when given, other
 *           clients or wrong secrets get 401 invalid_client (default: any pair is accepted)
 * @property {number} [delayMs]   delay every /echo answer (to widen race windows)
 * @property {number} [port]      default: random
 */
/**
 * @param {EchoOptions} [opts]
 * @returns {Promise<EchoService>}
 */
export function startEchoService(opts?: EchoOptions): Promise<EchoService>;
/**
 * A short, stable digest of a value the echo saw (sha256, 24 hex characters), null for none.
 * @param {unknown} value
 * @returns {string|null}
 */
export function digest(value: unknown): string | null;
