import { SwapItemError } from '../swap/errors';
import { joinSentences } from '../swap/itemErrors';
import type { N8nApiClient } from '../transport/n8nApiClient';
import { N8nApiError } from '../transport/n8nApiErrors';
import type { ConnectionHold } from './connectionLock';
import type { ConnectLinkTarget, ConnectStore } from './types';

/** What happened to the tenant's n8n credential: `gone` = n8n answered 404 (deleted by hand or already). */
export type CredentialDeletion = 'deleted' | 'gone' | 'none';

export interface DisconnectOutcome {
	/** false: the tenant was not connected (or another Disconnect got there first). */
	disconnected: boolean;
	credentialDeleted: CredentialDeletion;
}

/**
 * Forgets the tenant's connection, then deletes its n8n credential, holding the tenant's connection
 * lock (`hold`: the trigger's Complete holds it too, so it never records a credential deleted here, and
 * putting a connection back cannot overwrite a newer one). The forget is the store's atomic take as
 * well: of concurrent Disconnects of one tenant exactly one gets the connection, and only that one
 * deletes. A delete that fails puts the connection back, so running Disconnect again deletes it.
 *
 * Nothing is revoked at the provider: no n8n endpoint gives an API key a credential's tokens, and this
 * package keeps no copy of them (README "Disconnect").
 */
export async function disconnectTenant(
	store: ConnectStore,
	api: N8nApiClient,
	target: ConnectLinkTarget,
	itemIndexes: number[],
	hold: ConnectionHold,
): Promise<DisconnectOutcome> {
	return await hold(async () => await forgetAndDelete(store, api, target, itemIndexes));
}

async function forgetAndDelete(store: ConnectStore, api: N8nApiClient, target: ConnectLinkTarget, itemIndexes: number[]): Promise<DisconnectOutcome> {
	const connection = await store.forgetConnection(target.tenantId, target.appId);
	if (!connection) return { disconnected: false, credentialDeleted: 'none' };
	try {
		return { disconnected: true, credentialDeleted: await api.deleteCredential(connection.credentialId, 'delete tenant credential') };
	} catch (error) {
		const restored = await store.saveConnection(connection).then(
			() => true,
			() => false,
		);
		const what = restored
			? 'The tenant stays connected: run Disconnect again.'
			: `The connection could not be recorded again either (lock database): delete the credential ${connection.credentialId} in n8n by hand.`;
		const reason = error instanceof N8nApiError ? error.message : error instanceof Error ? error.message : String(error);
		throw new SwapItemError(`Could not delete the tenant's n8n credential ${connection.credentialId}: ${reason}`, itemIndexes, {
			description: joinSentences(error instanceof N8nApiError ? error.hint : undefined, what),
			cause: error,
		});
	}
}
