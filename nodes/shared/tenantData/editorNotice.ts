import type { INodeProperties } from 'n8n-workflow';

/** Both nodes show it just before Credential Data: where tenant data comes from, and what is refused. */
export const tenantDataNotice: INodeProperties = {
	displayName:
		'Whoever calls the webhook chooses this data: give the Webhook node Authentication (Header Auth, Basic Auth or JWT). Values starting with "=" are refused; URL, host, port and domain fields only when listed in Allowed Fields.',
	name: 'tenantDataNotice',
	type: 'notice',
	default: '',
};
