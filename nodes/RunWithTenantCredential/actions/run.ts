import { createHash } from 'node:crypto';

import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { lockClientFor } from '../../shared/lock';
import { lockEngineFor } from '../../shared/lockParameters';
import { errorItem, toNodeError } from '../../shared/nodeErrors';
import { redactSecrets, secretStrings } from '../../shared/swap/credentialData';
import { SwapItemError } from '../../shared/swap/errors';
import { asItemError } from '../../shared/swap/itemErrors';
import { tenantCredentialName } from '../../shared/tenantCredentials/credentialName';
import { tenantCredentialUses } from '../../shared/tenantCredentials/inUse';
import { tenantCredentialFor, tenantCredentialNaming, type TenantCredentialContext } from '../../shared/tenantCredentials/provision';
import { tenantCredentialRegistryFor } from '../../shared/tenantCredentials/registry';
import { checkCallerPolicy, type RunProbe } from '../../shared/tenantCredentials/callerPolicy';
import {
	callerProjectOf,
	credentialTypeToRebind,
	readSubWorkflow,
	reboundWorkflow,
	runsDrafts,
	subWorkflowToRun,
	type LoadedSubWorkflow,
} from '../../shared/tenantCredentials/subWorkflow';
import type { WorkflowSummary } from '../../shared/transport/n8nApiClient';
import { sweepOrphansInBackground } from '../../shared/tenantCredentials/orphans';
import { sweepUnusedInBackground } from '../../shared/tenantCredentials/sweep';
import { outputSecrets } from '../../shared/tenantCredentials/tenantData';
import { checkTenantData } from '../../shared/tenantData/policy';
import { N8nApiClient } from '../../shared/transport/n8nApiClient';
import { n8nApiCredentials, PublicApiTransport } from '../../shared/transport/publicApiTransport';
import { readRunRequest, type RunRequest } from './request';

/** The items that run the same sub-workflow with the same tenant credential: one sub-execution. */
interface RunGroup {
	subWorkflow: LoadedSubWorkflow;
	credentialType: string;
	credentialName: string;
	requests: RunRequest[];
	itemIndexes: number[];
	/** Every string of the data: kept out of error messages. */
	secrets: Set<string>;
	/** The values of the type's password fields: kept out of output items. */
	outputSecrets: Set<string>;
}

interface GroupOutcome {
	items?: INodeExecutionData[];
	error?: SwapItemError;
}

/** n8n's words when a node's credential ID no longer exists (deleted outside this node). */
const credentialGone = (error: unknown, credentialId: string) =>
	String((error as { message?: string })?.message ?? '').includes(`Credential with ID "${credentialId}" does not exist`);

/** What a failed sub-execution says, with the tenant and the node, never the data. */
function subWorkflowFailure(error: unknown, group: RunGroup, credentialId: string): SwapItemError {
	const failure = error as { message?: string; description?: string; node?: { name?: string } };
	const nodeName = failure?.node?.name;
	const inaccessible = /does not have access to the credential|InaccessibleCredential/i.test(String(failure?.message ?? ''));
	const tenant = group.requests[0].tenantId;
	const message = redactSecrets(String(failure?.message ?? error), group.secrets);
	const description = credentialGone(error, credentialId)
		? "The tenant's credential was deleted outside this node. It is forgotten now: the tenant's next execution creates it again."
		: inaccessible
			? "n8n refused the tenant's credential to this workflow: it is created in the calling workflow's project, so the n8n API key must belong to a user of that project."
			: redactSecrets(failure?.description, group.secrets) || "Open the sub-execution (linked from this node's output) to see what happened.";
	return new SwapItemError(
		`Sub-workflow ${group.subWorkflow.label} failed for tenant "${tenant}"${nodeName ? ` in node "${nodeName}"` : ''}: ${message}`,
		group.itemIndexes,
		{ description },
	);
}

/** Output items of a sub-execution, paired with the group's input items. */
function pairOutput(output: INodeExecutionData[], group: RunGroup, executionId: string, workflowId: string): INodeExecutionData[] {
	const sameLength = output.length === group.itemIndexes.length;
	return output.map((item, index) => ({
		json: redactSecrets(item.json, group.outputSecrets),
		...(item.binary ? { binary: item.binary } : {}),
		pairedItem: sameLength ? { item: group.itemIndexes[index] } : group.itemIndexes.map((item) => ({ item })),
		metadata: { subExecution: { executionId, workflowId } },
	}));
}

export async function executeRunWithTenantCredential(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const items = this.getInputData();
	const continueOnFail = this.continueOnFail();
	const failed = new Map<number, SwapItemError>();
	const fail = (error: unknown, itemIndexes: number[], secrets: Set<string>) => {
		const itemError = asItemError(error, itemIndexes, secrets);
		if (!continueOnFail) throw toNodeError(this, itemError, itemIndexes[0] ?? 0);
		for (const index of itemIndexes) failed.set(index, itemError);
	};

	const requests: RunRequest[] = [];
	for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
		try {
			requests.push(readRunRequest(this, itemIndex));
		} catch (error) {
			fail(error, [itemIndex], new Set());
		}
	}

	const outcomes = new Map<RunGroup, GroupOutcome>();
	if (requests.length > 0) {
		// Both credentials are read from n8n's database: at once, not one round trip after the other (the lock's failure first).
		const [lock, apiRead] = await Promise.allSettled([lockEngineFor(this), n8nApiCredentials(this)]);
		if (lock.status === 'rejected') throw lock.reason;
		if (apiRead.status === 'rejected') throw apiRead.reason;
		const store = lock.value;
		const registry = tenantCredentialRegistryFor(store);
		const apiCredentials = apiRead.value;
		const transport = new PublicApiTransport(this, apiCredentials);
		const api = new N8nApiClient(transport);
		const scope = transport.instanceId;
		// What a key may read differs per key: cached workflows are kept per instance and key.
		const readerScope = `${scope}\u0000${createHash('sha256').update(apiCredentials.apiKey ?? '').digest('hex')}`;
		const draft = runsDrafts(this.getMode());
		// n8n's caller policy check, asked of n8n itself where the API cannot tell (see callerPolicy.ts).
		const runProbe: RunProbe = async (code) => await this.executeWorkflow({ code }, [{ json: {} }], undefined, { executionMode: this.getMode() });
		const workflowId = String(this.getWorkflow().id ?? '');
		const executionId = this.getExecutionId();

		const groups = new Map<string, RunGroup>();
		const subWorkflows = new Map<string, Promise<WorkflowSummary>>();
		// Read the calling workflow while the sub-workflow is read: both are usually cached, else one API round trip each.
		const callerProject = callerProjectOf(api, readerScope, workflowId);
		callerProject.catch(() => undefined);
		// The registry's tag and secret: read once per process, awaited per item (a store failure fails the items).
		const naming = tenantCredentialNaming(registry, scope);
		naming.catch(() => undefined);
		for (const request of requests) {
			const secrets = secretStrings(request.data);
			try {
				let loading = subWorkflows.get(request.subWorkflowId);
				if (!loading) {
					loading = readSubWorkflow(api, readerScope, request.subWorkflowId, { manual: draft, itemIndexes: [request.itemIndex] });
					subWorkflows.set(request.subWorkflowId, loading);
				}
				const [read, projectId] = await Promise.all([loading, callerProject]);
				const subWorkflow = subWorkflowToRun(read, { draft, callerProjectId: projectId, itemIndexes: [request.itemIndex] });
				await checkCallerPolicy(scope, subWorkflow, { workflowId, projectId }, [request.itemIndex], runProbe);
				const credentialType = credentialTypeToRebind(subWorkflow, request.options.credentialType, [request.itemIndex]);
				await checkTenantData(api, { type: credentialType }, request.data, request.options, [request.itemIndex]);
				const credentialName = tenantCredentialName(await naming, { tenantId: request.tenantId, type: credentialType, data: request.data, projectId });
				const key = `${subWorkflow.id}\u0000${credentialName}`;
				const group = groups.get(key) ?? {
					subWorkflow,
					credentialType,
					credentialName,
					requests: [],
					itemIndexes: [],
					secrets: new Set<string>(),
					outputSecrets: outputSecrets(credentialType, request.data),
				};
				group.requests.push(request);
				group.itemIndexes.push(request.itemIndex);
				for (const secret of secrets) group.secrets.add(secret);
				groups.set(key, group);
			} catch (error) {
				fail(error, [request.itemIndex], secrets);
			}
		}

		const credentialContext: TenantCredentialContext = {
			api,
			registry,
			locks: lockClientFor(store),
			owner: { instanceId: this.getInstanceId(), executionId, workflowId },
			scope,
			lockLog: this.logger,
		};
		const projectId = await callerProject.catch(() => undefined);
		for (const group of groups.values()) {
			const [first] = group.requests;
			try {
				const credential = await tenantCredentialFor(credentialContext, {
					tenantId: first.tenantId,
					type: group.credentialType,
					name: group.credentialName,
					data: first.data,
					projectId,
					retentionMs: first.options.retentionMs,
					testCredential: first.options.testCredential,
					waitTimeoutMs: first.options.waitTimeoutMs,
					itemIndexes: group.itemIndexes,
					limits: first.options.limits,
				});
				const endUse = tenantCredentialUses().begin(registry, scope, group.credentialName, this.logger);
				try {
					// The tenant's secrets stay out of the sub-execution's input (n8n stores failed sub-executions) unless the option passes them.
					const groupItems = group.requests.map(({ itemIndex, options }) =>
						options.passSecretsToSubWorkflow ? items[itemIndex] : { ...items[itemIndex], json: redactSecrets(items[itemIndex].json, group.outputSecrets) },
					);
					const result = await this.executeWorkflow(
						{ code: reboundWorkflow(group.subWorkflow, group.credentialType, credential, { saveSuccessfulExecution: first.options.saveSuccessfulSubExecutions }) },
						groupItems,
						undefined,
						{ parentExecution: { executionId, workflowId, shouldResume: true }, executionMode: this.getMode() },
					);
					outcomes.set(group, { items: pairOutput(result.data?.[0] ?? [], group, result.executionId, workflowId) });
				} catch (error) {
					if (credentialGone(error, credential.id)) await registry.forgetTenantCredential(scope, credential.id).catch(() => undefined);
					throw subWorkflowFailure(error, group, credential.id);
				} finally {
					endUse();
				}
			} catch (error) {
				const itemError = asItemError(error, group.itemIndexes, group.secrets);
				if (!continueOnFail) throw toNodeError(this, itemError, group.itemIndexes[0]);
				outcomes.set(group, { error: itemError });
			}
		}

		const retentions = requests.map((request) => request.options.retentionMs);
		const sweepContext = { registry, api: new N8nApiClient(PublicApiTransport.afterExecution(this, apiCredentials)), scope, log: this.logger };
		sweepUnusedInBackground(sweepContext, Math.min(...retentions));
		// Orphans are judged by the longest retention asked: a credential is never deleted sooner than any item would keep it.
		sweepOrphansInBackground(sweepContext, Math.max(...retentions));
	}

	const output: INodeExecutionData[] = [];
	const emitted = new Set<RunGroup>();
	const groupOf = new Map<number, RunGroup>();
	for (const group of outcomes.keys()) for (const index of group.itemIndexes) groupOf.set(index, group);
	for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
		const error = failed.get(itemIndex);
		if (error) {
			output.push(errorItem(toNodeError(this, error, itemIndex), itemIndex));
			continue;
		}
		const group = groupOf.get(itemIndex);
		if (!group) continue;
		const outcome = outcomes.get(group)!;
		if (outcome.error) {
			output.push(errorItem(toNodeError(this, outcome.error, itemIndex), itemIndex));
			continue;
		}
		const request = group.requests.find((candidate) => candidate.itemIndex === itemIndex)!;
		if (request.options.output === 'input') {
			output.push({ json: redactSecrets(items[itemIndex].json, group.secrets) as IDataObject, binary: items[itemIndex].binary, pairedItem: { item: itemIndex } });
		} else if (!emitted.has(group)) {
			emitted.add(group);
			output.push(...(outcome.items ?? []));
		}
	}
	return [output];
}
