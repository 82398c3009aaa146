import { sleepUnlessWoken } from '../waiting';

/** Thrown by AttemptGate.enter when no slot came free in time: congestion in this process. */
export class AttemptGateTimeout extends Error {
	constructor(
		readonly limit: number,
		readonly waitedMs: number,
	) {
		super(`all ${limit} connections for attempts busy for ${waitedMs} ms`);
	}
}

/**
 * At most `limit` attempts (waiters' statements) use connections at once; the rest of the pool is
 * kept for renewals and releases, which skip the gate. Waiting here is bounded like waiting for a
 * pool connection would be.
 */
export class AttemptGate {
	private running = 0;
	private readonly queue: Array<() => void> = [];

	constructor(private limit: number) {}

	/** Attempts waiting for a slot. */
	get waiting(): number {
		return this.queue.length;
	}

	resize(limit: number): void {
		this.limit = limit;
		while (this.running < this.limit && this.queue.length > 0) {
			this.running += 1;
			this.queue.shift()?.();
		}
	}

	/** A slot now, or undefined when all are taken. */
	tryEnter(): (() => void) | undefined {
		if (this.running >= this.limit || this.queue.length > 0) return undefined;
		this.running += 1;
		return this.leaver();
	}

	async enter(timeoutMs: number): Promise<() => void> {
		const now = this.tryEnter();
		if (now) return now;
		const admitted = sleepUnlessWoken(timeoutMs, true);
		let ok = false;
		const admit = () => {
			ok = true;
			admitted.wake();
		};
		this.queue.push(admit);
		await admitted.promise;
		if (!ok) {
			this.queue.splice(this.queue.indexOf(admit), 1);
			throw new AttemptGateTimeout(this.limit, timeoutMs);
		}
		return this.leaver();
	}

	private leaver(): () => void {
		let left = false;
		return () => {
			if (left) return;
			left = true;
			// Hand the slot over to the next in line, or free it.
			const next = this.running <= this.limit ? this.queue.shift() : undefined;
			if (next) next();
			else this.running -= 1;
		};
	}
}
