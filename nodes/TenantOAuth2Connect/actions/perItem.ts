import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { errorItem, toNodeError } from '../../shared/nodeErrors';
import { asItemError } from '../../shared/swap/itemErrors';

/**
 * Runs `work` for each item, one after another: a failure stops the node with an error naming the
 * parameter and item, or with Continue On Fail becomes that item's error item.
 */
export async function eachItem(context: IExecuteFunctions, work: (itemIndex: number) => Promise<IDataObject>): Promise<INodeExecutionData[][]> {
	const output: INodeExecutionData[] = [];
	const items = context.getInputData();
	for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
		try {
			output.push({ json: await work(itemIndex), pairedItem: { item: itemIndex } });
		} catch (error) {
			const nodeError = toNodeError(context, asItemError(error, [itemIndex], new Set()), itemIndex);
			if (!context.continueOnFail()) throw nodeError;
			output.push(errorItem(nodeError, itemIndex));
		}
	}
	return [output];
}
