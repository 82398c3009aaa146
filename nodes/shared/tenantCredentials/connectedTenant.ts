import { SwapItemError } from '../swap/errors';
import type { ConnectStore, TenantConnection } from '../tenantOAuth/types';
import type { N8nApiClient } from '../transport/n8nApiClient';
import { CONNECTED_CREDENTIAL_PREFIX, shownTenantId } from './credentialName';
import { credentialExists, credentialRefusal, plainSubWorkflowFailure, type FailedRun } from './lostCredential';

/**
 * Run With Tenant Credential's source "Connected Tenant": the tenant's credential is the one its
 * Tenant OAuth2 Connect connection points at (the connect store, nodes/shared/tenantOAuth). It is the
 * tenant's only copy of a rotating refresh token, so this node never registers, retires or deletes it:
 * only Disconnect (or a person) removes it, and then the connection is forgotten here.
 */

/** What this node asks of the connect store. */
export type ConnectionLookup = Pick<ConnectStore, 'connectionOf' | 'forgetConnection' | 'saveConnection'>;

const CONNECT_LINK_HELP = 'send them a connect link (Tenant OAuth2 Connect → Create Connect Link)';

/** The item error of a tenant without a connection (or whose credential is gone). */
export function notConnected(tenantId: string, connection: string, itemIndexes: number[], credentialDeleted = false): SwapItemError {
	const message = credentialDeleted
		? `Tenant "${shownTenantId(tenantId)}" is not connected (its credential was deleted) to ${connection}: ${CONNECT_LINK_HELP}`
		: `Tenant "${shownTenantId(tenantId)}" has not connected ${connection}: ${CONNECT_LINK_HELP}`;
	return new SwapItemError(message, itemIndexes, {
		parameter: 'connection',
		description:
			"Nothing was run for this item. Route the node's error output (Settings → On Error → Continue (using error output)) to the step that sends the tenant a connect link; once they approve, their next call runs.",
	});
}

/** How messages and the rebound node entry name a connected credential (n8n loads it by ID; the name is for people). */
export function connectedCredentialName(connection: string, tenantId: string): string {
	return `${CONNECTED_CREDENTIAL_PREFIX}${connection} ${shownTenantId(tenantId)}`;
}

/**
 * The tenant's connection, checked against the placeholder: of its type, and not the placeholder itself.
 * A tenant without one fails its item with what to do.
 */
export async function connectedCredentialFor(
	connections: ConnectionLookup,
	wish: { tenantId: string; connection: string; placeholder: { id: string; type: string }; itemIndexes: number[] },
): Promise<TenantConnection> {
	const found = await connections.connectionOf(wish.tenantId, wish.connection);
	if (!found) throw notConnected(wish.tenantId, wish.connection, wish.itemIndexes);
	if (found.credentialType !== wish.placeholder.type) {
		throw new SwapItemError(
			`Tenant "${shownTenantId(wish.tenantId)}" connected ${wish.connection} with a credential of type ${found.credentialType}, but the placeholder credential is of type ${wish.placeholder.type}`,
			wish.itemIndexes,
			{
				parameter: 'placeholderCredential',
				description: `Nothing was run. The nodes using the placeholder get the tenant's connected credential, so both must be of one type: select a placeholder of type ${found.credentialType} in the sub-workflow's nodes (a generic OAuth2 credential with dummy values), or check that Connection names the connection made for this sub-workflow's service.`,
			},
		);
	}
	if (found.credentialId === wish.placeholder.id) {
		throw new SwapItemError(`The placeholder credential is tenant "${shownTenantId(wish.tenantId)}"'s connected credential`, wish.itemIndexes, {
			parameter: 'placeholderCredential',
			description:
				"Nothing was run. Anything in the sub-workflow that is not rebound would use that one tenant's account for every tenant. Create an OAuth2 credential with dummy values, select it in the sub-workflow's nodes, and pick it as Placeholder Credential.",
		});
	}
	return found;
}

/**
 * Runs `work` (one sub-execution with the tenant's connected credential). Every execution of a tenant
 * shares that credential, and n8n's OAuth2 helper writes a refreshed token back into it. If concurrent
 * refreshes with a rotating refresh token turn out to lose the connection, this is the one place to
 * serialise the runs of one (tenant, connection), e.g. under the lock store's lock on
 * `tenant-connection:<connection>:<tenant>`: every connected run passes through here.
 */
export async function withTenantConnection<T>(connection: TenantConnection, work: () => Promise<T>): Promise<T> {
	void connection;
	return await work();
}

/**
 * Forgets the connection whose credential is gone, and only that one: a tenant who connected again
 * meanwhile (a new credential) keeps the new connection (the contract has no conditional delete, so a
 * newer one taken by mistake is put back).
 */
export async function forgetLostConnection(connections: ConnectionLookup, lost: TenantConnection): Promise<void> {
	const current = await connections.connectionOf(lost.tenantId, lost.appId);
	if (!current || current.credentialId !== lost.credentialId) return;
	const forgotten = await connections.forgetConnection(lost.tenantId, lost.appId);
	if (forgotten && forgotten.credentialId !== lost.credentialId) await connections.saveConnection(forgotten);
}

/**
 * n8n's OAuth2 helper got `invalid_grant` for the refresh token (the tenant revoked access, the token
 * expired, or it was used elsewhere): n8n's error says "needs to be reconnected" (n8n-core 2.40.7
 * request-helpers/oauth.js, failure cause `credential-invalid`).
 */
function isRevokedGrant(error: unknown): boolean {
	const failure = error as { message?: unknown; failure?: { cause?: unknown } } | undefined;
	return failure?.failure?.cause === 'credential-invalid' || /needs to be reconnected/.test(String(failure?.message ?? ''));
}

/** A connection the provider no longer honours: the tenant must connect again; the connection stays until then (a reconnect replaces it). */
function connectionRevoked(run: FailedConnectedRun): SwapItemError {
	const { connection } = run;
	return new SwapItemError(
		`Tenant "${shownTenantId(run.tenantId)}"'s connection to ${connection.appId} no longer works (the provider refused its refresh token): ${CONNECT_LINK_HELP}`,
		run.itemIndexes,
		{
			parameter: 'connection',
			description: `The tenant revoked access, the refresh token expired, or it was used elsewhere. Connecting again replaces the credential (ID ${connection.credentialId}). ${run.whereToFind ?? ''}`.trim(),
		},
	);
}

export interface FailedConnectedRun extends Omit<FailedRun, 'registry' | 'credentialId'> {
	api: N8nApiClient;
	connections: ConnectionLookup;
	connection: TenantConnection;
}

/**
 * The item error of a failed sub-execution with a connected credential. When n8n refused the credential
 * (404 "does not exist" or "does not have access", as for provisioned ones: see lostCredential.ts) and it
 * is gone, the connection is forgotten and the item fails as not connected; any other failure is reported
 * as for provisioned credentials. The tenant credential registry is never touched.
 */
export async function connectedSubWorkflowFailure(error: unknown, run: FailedConnectedRun): Promise<SwapItemError> {
	const { connection } = run;
	if (isRevokedGrant(error)) return connectionRevoked(run);
	const refusal = credentialRefusal(error, connection.credentialId);
	if (!refusal) return plainSubWorkflowFailure(error, run);
	const state = refusal === 'notFound' ? 'gone' : await credentialExists(run.api, connection.credentialId);
	if (state === 'gone') {
		const kept = await forgetLostConnection(run.connections, connection).then(
			() => undefined,
			() => ' The lock store could not be updated to forget the connection: check it; the next execution tries again.',
		);
		const gone = notConnected(run.tenantId, connection.appId, run.itemIndexes, true);
		return new SwapItemError(gone.message, run.itemIndexes, {
			parameter: gone.options.parameter,
			description: `The tenant's connected credential (ID ${connection.credentialId}) was deleted outside Tenant OAuth2 Connect; the connection is forgotten.${kept ?? ''} This execution is not repeated, as the sub-workflow may have done part of its work. ${gone.options.description}`,
		});
	}
	const why =
		state === 'exists'
			? `The tenant's connected credential (ID ${connection.credentialId}) exists, but n8n does not let this workflow use it: it lives in the project of the n8n API credential Tenant OAuth2 Connect used. Give this workflow's project access to it (or use an API key of this workflow's project in Tenant OAuth2 Connect and let the tenant connect again).`
			: `n8n refused the tenant's connected credential (ID ${connection.credentialId}) to this workflow, and the n8n API key could not tell whether it still exists. Check that it exists and that this workflow's project may use it.`;
	return new SwapItemError(`Sub-workflow ${run.subWorkflowLabel} could not use tenant "${shownTenantId(run.tenantId)}"'s connected credential for ${connection.appId}`, run.itemIndexes, {
		description: `${why} The connection is kept.`,
	});
}
