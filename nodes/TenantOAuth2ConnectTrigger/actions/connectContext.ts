import { createHash, randomUUID } from 'node:crypto';

import { NodeOperationError, type ICredentialDataDecryptedObject, type IWebhookFunctions } from 'n8n-workflow';

import { lockClientFor } from '../../shared/lock';
import { lockEngineFor } from '../../shared/lockParameters';
import { callerProjectOf } from '../../shared/tenantCredentials/subWorkflow';
import { connectStoreFor } from '../../shared/tenantOAuth/connectStore';
import { isConnectionName } from '../../shared/tenantOAuth/connectionName';
import type { ConnectStore } from '../../shared/tenantOAuth/types';
import { OAUTH2_APP_CREDENTIAL_TYPE, oauthAppFrom, type OAuthApp } from '../../shared/tenantOAuth/oauthApp';
import type { TenantConnectionContext } from '../../shared/tenantOAuth/tenantConnection';
import { N8nApiClient } from '../../shared/transport/n8nApiClient';
import { n8nApiCredentials, PublicApiTransport } from '../../shared/transport/publicApiTransport';
import { DEFAULT_AUTHORIZATION_MINUTES, MAX_AUTHORIZATION_MINUTES } from '../description';

/** The node's settings are wrong: the operator must fix the named parameter (the browser sees a generic page). */
function setupProblem(context: IWebhookFunctions, parameter: string, message: string): NodeOperationError {
	return new NodeOperationError(context.getNode(), `Parameter "${parameter}": ${message}`, { description: SETUP_PROBLEM });
}

export const SETUP_PROBLEM = "Fix the Tenant OAuth2 Connect Trigger's settings: tenants cannot connect until then.";

export interface ConnectSettings {
	connection: string;
	app: OAuthApp;
	store: ConnectStore;
	authorizationTtlMs: number;
	emitRefusals: boolean;
	/** The trigger's callback URL (production), fixed by n8n: the redirect URI. */
	redirectUri: string;
}

/** The node's settings and the app, checked before anything is used up (a link, a state). */
export async function connectSettings(context: IWebhookFunctions): Promise<ConnectSettings> {
	const connection = String(context.getNodeParameter('connection', '') ?? '').trim();
	if (!isConnectionName(connection)) {
		throw setupProblem(context, 'Connection', 'Connection must be 1-64 letters, digits, "_", "." or "-" (e.g. hubspot)');
	}
	const redirectUri = context.getNodeWebhookUrl('callback' as never);
	if (!redirectUri) throw setupProblem(context, 'Path', "n8n gave no URL for this node's callback webhook");
	const appCredentials = await context.getCredentials<ICredentialDataDecryptedObject>(OAUTH2_APP_CREDENTIAL_TYPE);
	let app: OAuthApp;
	try {
		app = oauthAppFrom(appCredentials);
	} catch (error) {
		throw setupProblem(context, 'OAuth2 app credential', (error as Error).message);
	}
	const minutes = Number(context.getNodeParameter('options.authorizationMinutes', DEFAULT_AUTHORIZATION_MINUTES));
	const bounded = Number.isFinite(minutes) ? Math.min(MAX_AUTHORIZATION_MINUTES, Math.max(1, minutes)) : DEFAULT_AUTHORIZATION_MINUTES;
	const store = connectStoreFor(await lockEngineFor(context));
	return {
		connection,
		app,
		store,
		authorizationTtlMs: Math.round(bounded * 60_000),
		emitRefusals: context.getNodeParameter('options.emitRefusals', false) === true,
		redirectUri,
	};
}

/** n8n's API and the lock for writing the tenant's credential, in the project of this node's workflow. */
export async function tenantConnectionContext(context: IWebhookFunctions, store: ConnectStore): Promise<TenantConnectionContext> {
	const engine = await lockEngineFor(context);
	const apiCredentials = await n8nApiCredentials(context);
	const transport = new PublicApiTransport(context, apiCredentials);
	const api = new N8nApiClient(transport);
	const workflowId = String(context.getWorkflow().id ?? '');
	// The reader cache's scope, as Run With Tenant Credential keys it: what a key may read differs per key.
	const readerScope = `${transport.instanceId}\u0000${createHash('sha256').update(apiCredentials.apiKey ?? '').digest('hex')}`;
	const projectId = workflowId ? await callerProjectOf(api, readerScope, workflowId) : undefined;
	return {
		api,
		store,
		locks: lockClientFor(engine),
		// A webhook call has no execution yet: each completion is its own lock owner.
		owner: { instanceId: context.getInstanceId(), executionId: `tenant-oauth-connect:${randomUUID()}`, workflowId },
		projectId,
		lockLog: context.logger,
	};
}

/** One query value, or undefined: missing, repeated (an array), too long, or with control characters. */
export function queryValue(context: IWebhookFunctions, name: string, maxLength: number): string | undefined {
	const value = (context.getQueryData() as Record<string, unknown>)[name];
	if (typeof value !== 'string' || value.length === 0 || value.length > maxLength) return undefined;
	if (/\p{Cc}/u.test(value)) return undefined;
	return value;
}
