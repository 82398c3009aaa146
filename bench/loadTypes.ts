/** Shapes of what the JS load helpers (scripts/lib/load.js) and the test harness's API client hand the bench. */

export interface Ref {
	id: string;
	name: string;
}

/** One webhook call: a tenant and its secret. */
export interface Call {
	tenant: string;
	secret: string;
}

/** A call's answer as the load helpers report it. */
export interface Answer {
	call: Call;
	status: number;
	body: unknown;
	error?: string;
	ms: number;
}
