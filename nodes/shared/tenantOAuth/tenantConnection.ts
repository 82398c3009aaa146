import type { IDataObject } from 'n8n-workflow';

import type { HeldLockLogger, LockClient, LockOwner } from '../lock';
import { shownTenantId } from '../tenantCredentials/credentialName';
import type { N8nApiClient } from '../transport/n8nApiClient';
import { isCredentialGone } from '../transport/n8nApiErrors';
import { connectionHold } from './connectionLock';
import type { ConnectStore, TenantConnection } from './types';
import { OAUTH2_APP_CREDENTIAL_TYPE, type OAuthApp } from './oauthApp';
import { expressionPath, type OAuthTokenData } from './tokenExchange';

export interface TenantConnectionContext {
	api: N8nApiClient;
	store: ConnectStore;
	locks: LockClient;
	owner: Omit<LockOwner, 'tenantId'>;
	/** The project the credential is made in (the trigger's workflow's), when known. */
	projectId?: string;
	lockLog?: HeldLockLogger;
}

export interface TenantConnectionWish {
	/** The connection name (the core contract's appId). */
	connection: string;
	tenantId: string;
	app: OAuthApp;
	tokenData: OAuthTokenData;
}

/** The credential could not be written as asked (never for a reason that carries a secret). */
export class TenantConnectionRefused extends Error {
	constructor(message: string) {
		super(message);
		this.name = 'TenantConnectionRefused';
	}
}

export const CONNECTED_NOTE = ' (connected by Tenant OAuth2 Connect: do not edit or use)';

export function tenantOAuthCredentialName(connection: string, tenantId: string): string {
	return `tenant-oauth ${connection} ${shownTenantId(tenantId)}${CONNECTED_NOTE}`;
}

/**
 * The tenant credential's full data: the app's settings (so n8n's refresh finds the token URL and the
 * client) and the tenant's tokens, as n8n's own callback would leave them. Refused when any string
 * starts with `=` (n8n evaluates those): nothing from a provider or an app becomes an expression.
 */
export function tenantCredentialData(app: OAuthApp, tokenData: OAuthTokenData): IDataObject {
	const data: IDataObject = {
		grantType: 'authorizationCode',
		authUrl: app.authUrl,
		accessTokenUrl: app.accessTokenUrl,
		clientId: app.clientId,
		clientSecret: app.clientSecret,
		scope: app.scope,
		authQueryParameters: app.authQueryParameters,
		authentication: app.authentication,
		// n8n before 2.40 (measured on 2.8.4) refuses an oAuth2Api credential without serverUrl (its public API
		// schema treats the absent, hidden useDynamicClientRegistration as true); an empty one is ignored.
		serverUrl: '',
		oauthTokenData: tokenData,
	};
	const expression = expressionPath(data, 'data');
	if (expression) throw new TenantConnectionRefused(`${expression} starts with "=": n8n would evaluate it as an expression, so no credential was written`);
	return data;
}

/**
 * Makes the tenant's credential, records the connection, then deletes the credential of an earlier
 * connection. A reconnect never PATCHes the live credential: n8n writes a refreshed token back without
 * a version check, so a refresh in flight would put the old grant back over the new one (measured on
 * n8n 2.40.7, test/e2e/oauthRefreshRace.test.ts case e). Held under the (connection, tenant) lock: two
 * completions for one tenant never interleave (one's credential orphaned, or the older tokens last).
 */
export async function connectTenantCredential(context: TenantConnectionContext, wish: TenantConnectionWish): Promise<TenantConnection> {
	const data = tenantCredentialData(wish.app, wish.tokenData);
	if (!connectionLock) return await writeAndRecord(context, wish, data);
	// The key Disconnect holds too: a Complete never records a credential a Disconnect just deleted.
	const hold = connectionHold(context.locks, context.owner, { connection: wish.connection, tenantId: wish.tenantId }, [0], context.lockLog);
	return await hold(async () => await writeAndRecord(context, wish, data));
}

let connectionLock = true;

/** For tests only: `false` writes without the (connection, tenant) lock (the control that must make two credentials); undefined restores it. */
export function configureConnectionLock(enabled?: boolean): void {
	connectionLock = enabled ?? true;
}

async function writeAndRecord(context: TenantConnectionContext, wish: TenantConnectionWish, data: IDataObject): Promise<TenantConnection> {
	const previous = await context.store.connectionOf(wish.tenantId, wish.connection);
	const created = await context.api.createCredential(
		{
			name: tenantOAuthCredentialName(wish.connection, wish.tenantId),
			type: OAUTH2_APP_CREDENTIAL_TYPE,
			data,
			...(context.projectId ? { projectId: context.projectId } : {}),
		},
		'create tenant OAuth2 credential',
	);
	const connection: TenantConnection = {
		tenantId: wish.tenantId,
		appId: wish.connection,
		credentialId: created.id,
		credentialType: OAUTH2_APP_CREDENTIAL_TYPE,
		connectedAt: new Date(),
	};
	try {
		await context.store.saveConnection(connection);
	} catch (error) {
		// Unrecorded, nobody would find or delete it.
		await context.api.deleteCredential(created.id, 'delete tenant OAuth2 credential').catch(() => undefined);
		throw error;
	}
	if (previous && previous.credentialId !== created.id) await retirePreviousCredential(context, previous);
	return connection;
}

/**
 * The earlier connection's credential: executions still running with it may fail when n8n saves a
 * refreshed token into it; new ones use the new credential. Left in place (and said so) when n8n
 * refuses the delete: the tenant is connected either way.
 */
async function retirePreviousCredential(context: TenantConnectionContext, previous: TenantConnection): Promise<void> {
	try {
		await context.api.deleteCredential(previous.credentialId, 'delete replaced tenant OAuth2 credential');
	} catch (error) {
		if (isCredentialGone(error)) return;
		context.lockLog?.warn('Tenant OAuth2 Connect could not delete the credential of an earlier connection; delete it by hand', {
			credentialId: previous.credentialId,
			connection: previous.appId,
			error: error instanceof Error ? error.message : String(error),
		});
	}
}
