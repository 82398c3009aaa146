import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { errorItem, toNodeError } from '../../shared/nodeErrors';
import { redactSecrets } from '../../shared/swap/credentialData';
import type { SwapItemError } from '../../shared/swap/errors';
import type { RunGroup } from './grouping';
import type { ItemFailures } from './itemFailures';

/** How a group's sub-execution ended: its paired output items, or the error for all its items. */
export interface GroupOutcome {
	items?: INodeExecutionData[];
	error?: SwapItemError;
	/** The sub-execution paused (see SubExecutionWaiting). */
	waited?: boolean;
}

/**
 * The node's output in input order: an item that failed gives its error item; a group's sub-workflow
 * output comes whole at the place of the group's first item; Input Items gives each item, redacted.
 */
export function assembleOutput(
	node: IExecuteFunctions,
	items: INodeExecutionData[],
	failures: ItemFailures,
	outcomes: Map<RunGroup, GroupOutcome>,
): INodeExecutionData[] {
	const output: INodeExecutionData[] = [];
	const emitted = new Set<RunGroup>();
	const groupOf = new Map<number, RunGroup>();
	for (const group of outcomes.keys()) for (const index of group.itemIndexes) groupOf.set(index, group);
	for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
		const error = failures.of(itemIndex);
		if (error) {
			output.push(errorItem(toNodeError(node, error, itemIndex), itemIndex));
			continue;
		}
		const group = groupOf.get(itemIndex);
		if (!group) continue;
		const outcome = outcomes.get(group)!;
		if (outcome.error) {
			output.push(errorItem(toNodeError(node, outcome.error, itemIndex), itemIndex));
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
	return output;
}
