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
		oauthTokenData: tokenData,
	};
	const expression = expressionPath(data, 'data');
	if (expression) throw new TenantConnectionRefused(`${expression} starts with "=": n8n would evaluate it as an expression, so no credential was written`);
	return data;
}

/**
 * Creates the tenant's credential, or updates the one it has for this connection (whole data, so no
 * old token survives), then records the connection. Held under the (connection, tenant) lock: two
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
	const { id, created } = await writeCredential(context, wish, data);
	const connection: TenantConnection = {
		tenantId: wish.tenantId,
		appId: wish.connection,
		credentialId: id,
		credentialType: OAUTH2_APP_CREDENTIAL_TYPE,
		connectedAt: new Date(),
	};
	try {
		await context.store.saveConnection(connection);
	} catch (error) {
		// Unrecorded, nobody would find or delete it: a new credential goes now (an updated one stays recorded).
		if (created) await context.api.deleteCredential(id, 'delete tenant OAuth2 credential').catch(() => undefined);
		throw error;
	}
	return connection;
}

async function writeCredential(context: TenantConnectionContext, wish: TenantConnectionWish, data: IDataObject): Promise<{ id: string; created: boolean }> {
	const known = await context.store.connectionOf(wish.tenantId, wish.connection);
	if (known && known.credentialType === OAUTH2_APP_CREDENTIAL_TYPE) {
		try {
			await context.api.updateCredential(known.credentialId, { data }, { noBlindRetry: true });
			return { id: known.credentialId, created: false };
		} catch (error) {
			// Deleted by hand: make a new one.
			if (!isCredentialGone(error)) throw error;
		}
	}
	const created = await context.api.createCredential(
		{
			name: tenantOAuthCredentialName(wish.connection, wish.tenantId),
			type: OAUTH2_APP_CREDENTIAL_TYPE,
			data,
			...(context.projectId ? { projectId: context.projectId } : {}),
		},
		'create tenant OAuth2 credential',
	);
	return { id: created.id, created: true };
}
