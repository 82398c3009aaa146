/**
 * A Connection names one OAuth2 app's connections: the same name on the Tenant OAuth2 Connect Trigger,
 * Tenant OAuth2 Connect and Run With Tenant Credential. It keys links, sign-ins and connections.
 */
const CONNECTION_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** 1 to 64 letters, digits, `_`, `.` or `-`. */
export function isConnectionName(value: string): boolean {
	return CONNECTION_NAME.test(value);
}
