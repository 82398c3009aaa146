import {
	NodeConnectionTypes,
	NodeOperationError,
	type INodeType,
	type INodeTypeDescription,
	type IWebhookFunctions,
	type IWebhookResponseData,
	type WebhookType,
} from 'n8n-workflow';

import { errorPage } from '../shared/tenantOAuth/pages';
import { tenantSwapN8nApiTest } from '../shared/transport/credentialTest';
import { completeConnect } from './actions/callback';
import { connectSettings, SETUP_PROBLEM } from './actions/connectContext';
import { sendPage } from './actions/respond';
import { startConnect } from './actions/start';
import { connectTriggerProperties } from './description';

/** n8n types webhook names as 'default' | 'setup'; any name works at run time (it only tells the node's webhooks apart). */
export const START_WEBHOOK = 'start' as WebhookType;
export const CALLBACK_WEBHOOK = 'callback' as WebhookType;

export class TenantOAuth2ConnectTrigger implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Tenant OAuth2 Connect Trigger',
		name: 'tenantOAuth2ConnectTrigger',
		icon: { light: 'file:tenantOAuth2ConnectTrigger.svg', dark: 'file:tenantOAuth2ConnectTrigger.dark.svg' },
		group: ['trigger'],
		version: 1,
		subtitle: '={{ "connection " + $parameter["connection"] }}',
		description: 'Lets a tenant connect their own OAuth2 account from a one-time link, and runs when one is connected',
		defaults: { name: 'Tenant OAuth2 Connect Trigger' },
		inputs: [],
		outputs: [NodeConnectionTypes.Main],
		credentials: [
			{ name: 'oAuth2Api', displayName: 'OAuth2 App', required: true },
			{ name: 'tenantSwapN8nApi', displayName: 'n8n API', required: true, testedBy: 'tenantSwapN8nApiTest' },
			{ name: 'postgres', displayName: 'Lock Database', required: true, displayOptions: { show: { lockBackend: ['postgres'] } } },
			{ name: 'redis', displayName: 'Lock Redis', required: true, displayOptions: { show: { lockBackend: ['redis'] } } },
		],
		webhooks: [
			{
				name: START_WEBHOOK,
				httpMethod: 'GET',
				responseMode: 'onReceived',
				path: '={{$parameter["path"]}}/start',
				isFullPath: true,
			},
			{
				name: CALLBACK_WEBHOOK,
				httpMethod: 'GET',
				responseMode: 'onReceived',
				path: '={{$parameter["path"]}}/callback',
				isFullPath: true,
			},
		],
		usableAsTool: undefined,
		properties: connectTriggerProperties,
	};

	methods = {
		credentialTest: { tenantSwapN8nApiTest },
	};

	async webhook(this: IWebhookFunctions): Promise<IWebhookResponseData> {
		try {
			const settings = await connectSettings(this);
			if (this.getWebhookName() === START_WEBHOOK) return await startConnect(this, settings);
			return await completeConnect(this, settings);
		} catch (error) {
			// The browser learns only that it failed; the operator's log says what to fix (messages carry no secret).
			if (error instanceof NodeOperationError && error.description === SETUP_PROBLEM) {
				this.logger.warn(`Tenant OAuth2 Connect Trigger: ${error.message}. ${SETUP_PROBLEM}`);
			} else {
				this.logger.error(`Tenant OAuth2 Connect Trigger: the connect attempt failed: ${(error as Error)?.message ?? String(error)}`);
			}
			if (!this.getResponseObject().headersSent) sendPage(this, errorPage(500));
			return { noWebhookResponse: true };
		}
	}
}
