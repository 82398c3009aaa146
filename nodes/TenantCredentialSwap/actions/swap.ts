import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeParameterResourceLocator } from 'n8n-workflow';

import { lockEngineFor } from '../../shared/lockParameters';
import { errorItem, toNodeError } from '../../shared/nodeErrors';
import { commaList, readTenantId } from '../../shared/itemParameters';
import { parseCredentialData, redactSecrets, secretStrings } from '../../shared/swap/credentialData';
import { SwapItemError } from '../../shared/swap/errors';
import { runSwaps, type LockScope, type SwapOptions, type SwapRequest, type SwapResults } from '../../shared/swap/swap';
import { leaseKeeper, lockClientFor, ownerKey, type AuditEvent, type AuditTrail, type HeldLock } from '../../shared/lock';
import { executionStateFromApi } from '../../shared/swap/executionState';
import { refusePausingNodes, RELEASE_LOCK_TYPE_SUFFIX } from './pausingNodes';
import { renewalStates } from './renewal';
import { N8nApiClient } from '../../shared/transport/n8nApiClient';
import { n8nApiCredentials, PublicApiTransport, type N8nApiCredentials } from '../../shared/transport/publicApiTransport';

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

/**
 * The swap's locks renew themselves from their grant. Where the item asked for it (Renew Lock While
 * Running), the process's keeper watches the execution and ends them with it; elsewhere renewal
 * stops now and the Lock TTL runs from the last renewal.
 */
function keepLeasesWhileRunning(
	context: IExecuteFunctions,
	lock: AuditTrail,
	apiCredentials: N8nApiCredentials,
	requests: NodeSwapRequest[],
	results: SwapResults,
): void {
	const renewKeys = new Set<string>();
	for (const request of requests) {
		const info = results.swapped.get(request.itemIndex);
		if (info && request.renewLock) {
			renewKeys.add(info.lockKey);
			if (info.tenantLockKey) renewKeys.add(info.tenantLockKey);
		}
	}
	const watched: HeldLock[] = [];
	for (const { lock: held } of results.held) {
		if (renewKeys.has(held.key)) watched.push(held);
		else held.stopRenewing();
	}
	if (watched.length === 0) return;
	const executionId = context.getExecutionId();
	const workflowId = context.getWorkflow().id;
	const owner = { instanceId: context.getInstanceId(), executionId };
	const statusApi = new N8nApiClient(PublicApiTransport.afterExecution(context, apiCredentials), { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 });
	const audit = async (events: AuditEvent[]) => await lock.audit(events).catch(() => undefined);
	leaseKeeper().keep({
		log: context.logger,
		ownerKey: ownerKey(owner),
		executionId,
		locks: watched,
		executionState: executionStateFromApi(statusApi, executionId),
		cancelSignal: context.getExecutionCancelSignal?.(),
		onReleased: async (outcomes) => {
			await audit(
				outcomes.map((outcome) => ({
					action: 'release',
					outcome: outcome.status,
					executionId,
					workflowId,
					lockKey: outcome.key,
					heldMs: outcome.heldMs,
					detail: 'the execution ended without Release Lock',
				})),
			);
		},
		onLost: async (held) => {
			await audit([{ action: 'release', outcome: 'lost', executionId, workflowId, lockKey: held.key, detail: 'the lease was lost while the execution ran' }]);
		},
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
		keepLeasesWhileRunning(this, lock, apiCredentials, requests, results);
		const [firstError] = results.errors;
		if (firstError && !continueOnFail) throw toNodeError(this, firstError, firstError.itemIndexes[0] ?? 0);
		const renewal = await renewalStates(this, apiCredentials, requests, new Set(results.swapped.keys()));
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
