import { createHash } from 'node:crypto';

import type { IExecuteFunctions } from 'n8n-workflow';

import { lockClientFor } from '../../shared/lock';
import { lockEngineFor } from '../../shared/lockParameters';
import type { RunProbe } from '../../shared/tenantCredentials/callerPolicy';
import type { ConnectionLookup } from '../../shared/tenantCredentials/connectedTenant';
import type { TenantCredentialNaming } from '../../shared/tenantCredentials/credentialName';
import { tenantCredentialNaming, type TenantCredentialContext } from '../../shared/tenantCredentials/provision';
import { tenantCredentialRegistryFor } from '../../shared/tenantCredentials/registry';
import type { TenantCredentialRegistry } from '../../shared/tenantCredentials/registryTypes';
import { callerProjectOf, runsDrafts } from '../../shared/tenantCredentials/subWorkflow';
import { connectStoreFor } from '../../shared/tenantOAuth/connectStore';
import { N8nApiClient, type WorkflowSummary } from '../../shared/transport/n8nApiClient';
import { n8nApiCredentials, PublicApiTransport, type N8nApiCredentials } from '../../shared/transport/publicApiTransport';

/** What one execution of the node shares between its steps: n8n's API, the lock store, who calls. */
export interface RunContext {
	node: IExecuteFunctions;
	registry: TenantCredentialRegistry;
	api: N8nApiClient;
	apiCredentials: N8nApiCredentials;
	/** The n8n instance (its API URL). */
	scope: string;
	/** The instance and the API key: what a key may read differs per key. */
	readerScope: string;
	/** Manual and chat executions run the sub-workflow's saved draft. */
	draft: boolean;
	runProbe: RunProbe;
	workflowId: string;
	executionId: string;
	/** The calling workflow's project, read while the sub-workflow is read. */
	callerProject: Promise<string | undefined>;
	/** The registry's tag and secret: read once per process, awaited per item (a store failure fails the items). */
	naming: Promise<TenantCredentialNaming>;
	/** The sub-workflows of this execution, each read once. */
	subWorkflows: Map<string, Promise<WorkflowSummary>>;
	credentials: TenantCredentialContext;
	/** Tenant OAuth2 Connect's connections, in the same lock store (Connected Tenant). */
	connections: ConnectionLookup;
}

/** Opens the lock store and n8n's API for one execution, and starts the reads every item needs. */
export async function openRun(node: IExecuteFunctions): Promise<RunContext> {
	// Both credentials are read from n8n's database: at once, not one round trip after the other (the lock's failure first).
	const [lock, apiRead] = await Promise.allSettled([lockEngineFor(node), n8nApiCredentials(node)]);
	if (lock.status === 'rejected') throw lock.reason;
	if (apiRead.status === 'rejected') throw apiRead.reason;
	const store = lock.value;
	const registry = tenantCredentialRegistryFor(store);
	const apiCredentials = apiRead.value;
	const transport = new PublicApiTransport(node, apiCredentials);
	const api = new N8nApiClient(transport);
	const scope = transport.instanceId;
	const readerScope = `${scope}\u0000${createHash('sha256').update(apiCredentials.apiKey ?? '').digest('hex')}`;
	// n8n's caller policy check, asked of n8n itself where the API cannot tell (see callerPolicy.ts).
	const runProbe: RunProbe = async (code) => await node.executeWorkflow({ code }, [{ json: {} }], undefined, { executionMode: node.getMode() });
	const workflowId = String(node.getWorkflow().id ?? '');
	const executionId = node.getExecutionId();
	const callerProject = callerProjectOf(api, readerScope, workflowId);
	callerProject.catch(() => undefined);
	const naming = tenantCredentialNaming(registry, scope);
	naming.catch(() => undefined);
	return {
		node,
		registry,
		api,
		apiCredentials,
		scope,
		readerScope,
		draft: runsDrafts(node.getMode()),
		runProbe,
		workflowId,
		executionId,
		callerProject,
		naming,
		subWorkflows: new Map(),
		credentials: {
			api,
			registry,
			locks: lockClientFor(store),
			owner: { instanceId: node.getInstanceId(), executionId, workflowId },
			scope,
			lockLog: node.logger,
		},
		connections: connectStoreFor(store),
	};
}
