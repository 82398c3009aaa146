/**
 * A second, non-owner n8n user (global:member) with an API key of its own, on a harness n8n, without
 * mail: invited by the owner, accepted through the invitation link n8n answers with, logged in, key
 * made with every scope n8n offers that role. Its personal project is where its key creates things.
 * n8n 2.40: the link is /signup?token=..., accepted at /rest/invitations/accept; n8n 2.8: ?inviterId=&
 * inviteeId=, accepted at /rest/invitations/<invitee>/accept.
 */

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { createApiClient } = require('../harness/api.js');

export interface Member {
	email: string;
	projectId: string;
	apiKey: string;
	/** The harness API client (test/harness/api.js) with the member's key. */
	api: any;
	/** `/rest` as the member. */
	rest(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
}

export async function addMember(n8n: any, label: string): Promise<Member> {
	const email = `member-${label}-${Math.random().toString(36).slice(2, 8)}@example.com`;
	const invited = await n8n.rest('POST', 'invitations', [{ email, role: 'global:member' }]);
	if (invited.status !== 200) throw new Error(`invite: HTTP ${invited.status} ${JSON.stringify(invited.body).slice(0, 300)}`);
	const query = new URL(String(invited.body.data?.[0]?.user?.inviteAcceptUrl ?? '')).searchParams;
	const token = query.get('token');
	const browserId = `member-${label}`;
	const profile = { firstName: 'Other', lastName: 'Member', password: 'Member-Passw0rd' };
	const accepted = await fetch(token ? `${n8n.baseUrl}/rest/invitations/accept` : `${n8n.baseUrl}/rest/invitations/${query.get('inviteeId')}/accept`, {
		method: 'POST',
		headers: { 'content-type': 'application/json', 'browser-id': browserId },
		body: JSON.stringify(token ? { token, ...profile } : { inviterId: query.get('inviterId'), ...profile }),
	});
	if (accepted.status !== 200) throw new Error(`accept: HTTP ${accepted.status} ${(await accepted.text()).slice(0, 300)}`);
	const cookie = accepted.headers
		.getSetCookie()
		.map((c) => c.split(';')[0])
		.find((c) => c.startsWith('n8n-auth='));
	if (!cookie) throw new Error('accepting the invitation returned no n8n-auth cookie');
	const rest = async (method: string, path: string, body?: unknown) => {
		const response = await fetch(`${n8n.baseUrl}/rest/${path}`, {
			method,
			headers: { cookie, 'browser-id': browserId, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
			body: body === undefined ? undefined : JSON.stringify(body),
		});
		const text = await response.text();
		return { status: response.status, body: text ? JSON.parse(text) : undefined };
	};
	const project = await rest('GET', 'projects/personal');
	if (!project.body?.data?.id) throw new Error(`no personal project for the member: HTTP ${project.status}`);
	const scopes = await rest('GET', 'api-keys/scopes');
	if (scopes.status !== 200) throw new Error(`member's GET /rest/api-keys/scopes: HTTP ${scopes.status}`);
	const key = await rest('POST', 'api-keys', { label: `member-${label}`, scopes: scopes.body.data, expiresAt: null });
	const apiKey = key.body?.data?.rawApiKey;
	if (!apiKey) throw new Error(`member's POST /rest/api-keys: HTTP ${key.status}`);
	return { email, projectId: project.body.data.id, apiKey, api: createApiClient({ apiUrl: n8n.apiUrl, baseUrl: n8n.baseUrl, apiKey }), rest };
}
