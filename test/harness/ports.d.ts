// Generated from ports.js by gen-types.js; do not edit.
/**
 * A port that is free on 127.0.0.1 right now (the OS picks it).
 * @returns {Promise<number>}
 */
export function getFreePort(): Promise<number>;
