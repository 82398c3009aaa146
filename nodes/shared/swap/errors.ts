/**
 * A failure that belongs to items: the node turns it into a NodeOperationError per item
 * (or an error item under continueOnFail). Messages never carry credential data.
 */
export class SwapItemError extends Error {
	constructor(
		message: string,
		readonly itemIndexes: number[],
		readonly options: { parameter?: string; description?: string; cause?: unknown } = {},
	) {
		super(message, { cause: options.cause });
		this.name = 'SwapItemError';
	}
}
