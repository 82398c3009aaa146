import type { IExecuteFunctions } from 'n8n-workflow';

import { toNodeError } from '../../shared/nodeErrors';
import type { SwapItemError } from '../../shared/swap/errors';
import { asItemError } from '../../shared/swap/itemErrors';

/** Items that failed before their group ran: the node fails at once, or with Continue On Fail each such item outputs its error. */
export class ItemFailures {
	private readonly failed = new Map<number, SwapItemError>();

	constructor(
		private readonly node: IExecuteFunctions,
		readonly continueOnFail: boolean,
	) {}

	/** Records the items' failure, or throws it as the node's error when the node does not continue on fail. */
	fail(error: unknown, itemIndexes: number[], secrets: Set<string>): void {
		const itemError = asItemError(error, itemIndexes, secrets);
		if (!this.continueOnFail) throw toNodeError(this.node, itemError, itemIndexes[0] ?? 0);
		for (const index of itemIndexes) this.failed.set(index, itemError);
	}

	of(itemIndex: number): SwapItemError | undefined {
		return this.failed.get(itemIndex);
	}
}
