import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { settleInParallel } from '../../shared/inParallel';
import { toNodeError } from '../../shared/nodeErrors';
import { asItemError } from '../../shared/swap/itemErrors';
import { withTenantConnection } from '../../shared/tenantCredentials/connectedTenant';
import { groupRequests, type RunGroup } from './grouping';
import { ItemFailures } from './itemFailures';
import { assembleOutput, type GroupOutcome } from './output';
import { stayRunning } from './parentWait';
import { provisionTenantCredential } from './provisioning';
import { readRunRequests } from './request';
import { openRun, type RunContext } from './runContext';
import { runGroup, SubExecutionWaiting } from './runGroup';
import { sweepInBackground } from './sweeping';

/** Steps 3 and 4 for one group; a failure becomes the outcome of all its items (never thrown). */
async function settleGroup(run: RunContext, group: RunGroup, projectId: string | undefined, items: INodeExecutionData[]): Promise<GroupOutcome> {
	try {
		const { connected } = group;
		if (connected) {
			// Never provisioned nor registered: the tenant's connection names the credential.
			const credential = { id: connected.credentialId, name: group.credentialName, created: false };
			return { items: await withTenantConnection(connected, async () => await runGroup(run, group, credential, items, projectId)) };
		}
		const credential = await provisionTenantCredential(run, group, projectId);
		return { items: await runGroup(run, group, credential, items, projectId) };
	} catch (error) {
		return { error: asItemError(error, group.itemIndexes, group.secrets), waited: error instanceof SubExecutionWaiting };
	}
}

/** The node's steps, in the order the README's "What it does, per execution" lists them. */
export async function executeRunWithTenantCredential(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const items = this.getInputData();
	const failures = new ItemFailures(this, this.continueOnFail());
	const requests = readRunRequests(this, items.length, failures);

	const outcomes = new Map<RunGroup, GroupOutcome>();
	if (requests.length > 0) {
		const run = await openRun(this);
		const groups = await groupRequests(run, requests, failures);
		const projectId = await run.callerProject.catch(() => undefined);
		// Items of several tenants ask one value each: the smallest wins.
		const inParallel = Math.min(...requests.map((request) => request.options.tenantsInParallel));
		// Without Continue On Fail the first failure stops starting groups; those started settle first.
		const settled = await settleInParallel(
			groups,
			inParallel,
			async (group) => await settleGroup(run, group, projectId, items),
			(outcome) => outcome.error !== undefined && !failures.continueOnFail,
		);
		if (settled.some((outcome) => outcome?.waited)) await stayRunning(this);
		for (const [index, group] of groups.entries()) {
			const outcome = settled[index];
			if (!outcome) continue;
			if (outcome.error && !failures.continueOnFail) throw toNodeError(this, outcome.error, group.itemIndexes[0]);
			outcomes.set(group, outcome);
		}
		// Only credentials made from data are retired; a run of connected tenants only leaves them to the next.
		const fromData = requests.filter((request) => request.connection === undefined);
		if (fromData.length > 0) sweepInBackground(run, fromData);
	}
	return [assembleOutput(this, items, failures, outcomes)];
}
