import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeParameterResourceLocator } from 'n8n-workflow';

import { lockEngineFor } from '../../shared/lockParameters';
import { errorItem, toNodeError } from '../../shared/nodeErrors';
import { commaList, readTenantId } from '../../shared/itemParameters';
import { parseCredentialData, redactSecrets, secretStrings } from '../../shared/swap/credentialData';
import { SwapItemError } from '../../shared/swap/errors';
import { runSwaps, type LockScope, type SwapOptions, type SwapRequest, type SwapResults } from '../../shared/swap/swap';
import { lockClientFor, type AuditEvent, type AuditTrail } from '../../shared/lock';
import { keepLeasesWhileRunning } from './keepLeases';
import { refusePausingNodes, RELEASE_LOCK_TYPE_SUFFIX } from './pausingNodes';
import { N8nApiClient } from '../../shared/transport/n8nApiClient';
import { n8nApiCredentials, PublicApiTransport } from '../../shared/transport/publicApiTransport';

/** One item's swap plus what the node does around it. */
interface NodeSwapRequest extends SwapRequest {
	/** Renew the lease while the execution runs (lease keeper). */
	renewLock: boolean;
}

const CREDENTIAL_DATA_HELP =
	"Map the tenant's credential fields here as a JSON object, with the base credential's field names, e.g. { \"name\": \"X-API-Key\", \"value\": \"{{ $json.body.apiKey }}\" } for Header Auth. Nothing was changed.";

/** Reads and checks one item's parameters; nothing is changed here. */
function readRequest(context: IExecuteFunctions, itemIndex: number): NodeSwapRequest {
	const fail = (parameter: string, message: string, description?: string) =>
		new SwapItemError(message, [itemIndex], { parameter, description });

	const locator = context.getNodeParameter('baseCredential', itemIndex) as INodeParameterResourceLocator | string;
	const mode = typeof locator === 'object' ? String(locator.mode ?? 'id') : 'id';
	const value = String(typeof locator === 'object' ? (locator.value ?? '') : locator).trim();
	if (!value) throw fail('baseCredential', 'No base credential chosen', 'Pick the credential your other nodes use.');

	const tenantId = readTenantId(context, itemIndex);

	const parsed = parseCredentialData(context.getNodeParameter('credentialData', itemIndex, ''));
	if (!parsed.data) {
		throw fail('credentialData', `Credential Data ${parsed.problem}`, CREDENTIAL_DATA_HELP);
	}

	const options = context.getNodeParameter('options', itemIndex, {}) as IDataObject;
	const lockTtl = options.lockTtl === undefined ? 30 : Number(options.lockTtl);
	const waitTimeout = options.waitTimeout === undefined ? 60 : Number(options.waitTimeout);
	if (!Number.isFinite(lockTtl) || lockTtl <= 0) {
		throw fail('options.lockTtl', `Lock TTL must be more than 0 seconds (got ${String(options.lockTtl)})`);
	}
	if (!Number.isFinite(waitTimeout) || waitTimeout < 0) {
		throw fail('options.waitTimeout', `Wait Timeout must be 0 seconds or more (got ${String(options.waitTimeout)})`);
	}
	const lockScope = (options.lockScope ?? 'baseCredential') as LockScope;
	if (lockScope !== 'baseCredential' && lockScope !== 'tenant') {
		throw fail('options.lockScope', `Lock Scope must be "baseCredential" or "tenant" (got "${String(lockScope)}")`);
	}
	const swapOptions: SwapOptions = {
		lockScope,
		lockTtlMs: Math.round(lockTtl * 1000),
		waitTimeoutMs: Math.round(waitTimeout * 1000),
		// The credential test runs on the temporary credential, so asking for it implies one.
		validateWithTemporaryCredential: options.validateWithTemporaryCredential === true || options.testCredential === true,
		testCredential: options.testCredential === true,
		partialUpdate: options.partialUpdate === true,
		expectedCredentialType: options.credentialType ? String(options.credentialType) : undefined,
		skipUnchanged: options.skipUnchanged !== false,
		allowedFields: commaList(options.allowedFields),
		allowEmptyFields: commaList(options.allowEmptyFields),
	};
	return {
		itemIndex,
		baseCredential: { mode, value },
		tenantId,
		data: parsed.data,
		options: swapOptions,
		renewLock: options.renewLock !== false,
	};
}


export const MISSING_RELEASE_HINT =
	'No Release Lock node runs after this node, so the lock is held until this whole execution ends (with Renew Lock ' +
	'While Running off, or without the execution:read scope, until its Lock TTL runs out), and other executions that need ' +
	'it wait that long. Add a Release Lock node right after the last node that uses the base credential, and an Error ' +
	"Trigger workflow with Release Lock (Locks of Another Execution) as this workflow's error workflow, so a failed " +
	'execution frees its lock at once.';

/**
 * Warns (execution hint in the output pane) when no enabled Release Lock is downstream of this node.
 * Older n8n versions without getChildNodes or addExecutionHints get no hint; a hint never fails the node.
 */
function hintIfNoReleaseLock(context: IExecuteFunctions): void {
	if (typeof context.getChildNodes !== 'function' || typeof context.addExecutionHints !== 'function') return;
	try {
		const downstream = context.getChildNodes(context.getNode().name);
		const released = downstream.some((node) => !node.disabled && String(node.type).endsWith(RELEASE_LOCK_TYPE_SUFFIX));
		if (!released) context.addExecutionHints({ message: MISSING_RELEASE_HINT, type: 'warning', location: 'outputPane' });
	} catch (error) {
		context.logger.debug('Tenant Credential Swap: could not check for a Release Lock node downstream', {
			error: (error as Error)?.message ?? String(error),
		});
	}
}

/** One audit line per swapped base credential and per failure; best effort: the swap already happened. */
async function auditSwaps(context: IExecuteFunctions, lock: AuditTrail, requests: SwapRequest[], results: SwapResults): Promise<void> {
	const executionId = context.getExecutionId();
	const workflowId = context.getWorkflow().id;
	const events: AuditEvent[] = [];
	const seen = new Set<string>();
	for (const info of results.swapped.values()) {
		if (seen.has(info.baseCredentialId)) continue;
		seen.add(info.baseCredentialId);
		events.push({
			action: 'swap',
			outcome: info.update,
			executionId,
			workflowId,
			tenantId: info.tenantId,
			baseCredentialId: info.baseCredentialId,
			lockKey: info.lockKey,
			waitedMs: info.waitedMs,
		});
	}
	const tenantOf = new Map(requests.map((request) => [request.itemIndex, request.tenantId]));
	for (const error of results.errors) {
		events.push({ action: 'swap', outcome: 'failed', executionId, workflowId, tenantId: tenantOf.get(error.itemIndexes[0]), detail: error.message });
	}
	await lock.audit(events).catch((error: Error) => {
		context.logger.warn('Tenant Credential Swap could not write its audit trail', { error: error.message });
	});
}

export async function executeSwap(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	refusePausingNodes(this);
	hintIfNoReleaseLock(this);
	const items = this.getInputData();
	const continueOnFail = this.continueOnFail();
	const failed = new Map<number, SwapItemError>();
	const requests: NodeSwapRequest[] = [];

	for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
		try {
			requests.push(readRequest(this, itemIndex));
		} catch (error) {
			const itemError = error instanceof SwapItemError ? error : new SwapItemError(String((error as Error).message ?? error), [itemIndex]);
			if (!continueOnFail) throw toNodeError(this, itemError, itemIndex);
			failed.set(itemIndex, itemError);
		}
	}

	if (requests.length > 0) {
		const lock = await lockEngineFor(this);
		const apiCredentials = await n8nApiCredentials(this);
		const transport = new PublicApiTransport(this, apiCredentials);
		const api = new N8nApiClient(transport);
		const results = await runSwaps(
			{
				api,
				locks: lockClientFor(lock),
				state: lock,
				owner: { instanceId: this.getInstanceId(), executionId: this.getExecutionId(), workflowId: this.getWorkflow().id },
				lockLog: this.logger,
				cancelSignal: this.getExecutionCancelSignal?.(),
				stopOnFirstError: !continueOnFail,
				instanceId: transport.instanceId,
				stateSecret: apiCredentials.apiKey,
				logDebug: (message, meta) => this.logger.debug(message, meta),
			},
			requests,
		);
		await auditSwaps(this, lock, requests, results);
		const renewal = await keepLeasesWhileRunning(this, lock, apiCredentials, requests, results);
		const [firstError] = results.errors;
		if (firstError && !continueOnFail) throw toNodeError(this, firstError, firstError.itemIndexes[0] ?? 0);
		for (const error of results.errors) for (const index of error.itemIndexes) failed.set(index, error);

		const secretsByItem = new Map(requests.map((request) => [request.itemIndex, secretStrings(request.data)]));
		return [
			items.map((item, itemIndex) => {
				const error = failed.get(itemIndex);
				if (error) return errorItem(toNodeError(this, error, itemIndex), itemIndex);
				const secrets = secretsByItem.get(itemIndex) ?? new Set<string>();
				return {
					json: { ...redactSecrets(item.json, secrets), tenantSwap: { ...results.swapped.get(itemIndex), ...renewal.get(itemIndex) } as unknown as IDataObject },
					binary: item.binary,
					pairedItem: { item: itemIndex },
				};
			}),
		];
	}
	return [items.map((_, itemIndex) => errorItem(toNodeError(this, failed.get(itemIndex)!, itemIndex), itemIndex))];
}
