import { executionStateOf, type ExecutionLookup, type ExecutionStatusSource } from './executionFollowing';
import type { HeldLock, HeldLockLogger } from './HeldLock';
import type { ReleaseOutcome } from './types';
import { sleepUnlessWoken } from './waiting';

export interface KeeperLogger extends HeldLockLogger {
	/** n8n's logger has it; without it the line goes to debug. */
	info?(message: string, meta?: Record<string, unknown>): void;
}

export interface KeepOptions {
	/** The owner's identity in this process: instance + execution (ownerKey). */
	ownerKey: string;
	executionId: string;
	/** Held locks of the execution; they renew themselves. */
	locks: HeldLock[];
	/** Where n8n is asked. Executions with the same source ID share one status check per round. */
	statusSource: ExecutionStatusSource;
	/** Seen running through this key at swap time: a later 404 then means it ended (executionFollowing.ts). */
	followed: boolean;
	/** Called once the keeper has freed the locks of an execution that ended without Release Lock. */
	onReleased?: (outcomes: ReleaseOutcome[]) => Promise<void> | void;
	/** Called when a held lock of the execution is lost while the execution may still use it. */
	onLost?: (lock: HeldLock) => Promise<void> | void;
	/** Aborted when n8n cancels the execution: ask about it at once instead of at the next round. */
	cancelSignal?: AbortSignal;
	/** Where this execution's problems are logged (the node's logger); else the keeper's. */
	log?: KeeperLogger;
}

/**
 * One round of status checks per source at most this often: with 50 held executions that is one
 * listing every 3 s, not 50 requests a second. Shorter for short TTLs (a third of the shortest),
 * so an ended execution's lock is freed about as soon as its TTL would have freed it.
 */
const MAX_ROUND_INTERVAL_MS = 3_000;
const MIN_ROUND_INTERVAL_MS = 250;
/** Executions asked about one by one (not listed as running, or n8n cannot list): at most this many per second and source. */
const LOOKUPS_PER_SECOND = 2;

/** What the keeper keeps of KeepOptions: not the source (only the newest per group is kept). */
type WatchedOptions = Omit<KeepOptions, 'statusSource' | 'locks'>;

interface Watched {
	options: WatchedOptions;
	group: Group;
	locks: Set<HeldLock>;
	followed: boolean;
	/** performance.now() of the last answer about it (0: never): the longest unasked goes first. */
	lastAnsweredAt: number;
	registeredAt: number;
	/** n8n cancelled it: asked first in the next round. */
	urgent: boolean;
	releaseFailing: boolean;
	/** Freed so far for an ended execution; reported together once every lock is freed. */
	freed: ReleaseOutcome[];
	stopped: boolean;
	cleanups: Array<() => void>;
}

/** The executions asked about through one source (one n8n API URL and key). */
interface Group {
	id: string;
	/** The newest swap's source: an older execution's request helper is not kept alive for the hold. */
	source: ExecutionStatusSource;
	log: KeeperLogger;
	members: Map<string, Watched>;
	/** n8n lists running executions for this key; false after it refused or left one out (older n8n). */
	listing: boolean;
	/** n8n did not answer the last round: one warning per outage, debug lines in between. */
	failing: boolean;
	stopped: boolean;
	looping: boolean;
	pause?: ReturnType<typeof sleepUnlessWoken>;
	pauseMs: number;
	round?: Promise<void>;
}

const SILENT: KeeperLogger = { warn: () => undefined, debug: () => undefined };

function messageOf(error: unknown): string {
	return error instanceof Error ? error.message : String(error);
}

/**
 * Decides when an execution's held locks stop: it asks n8n whether executions still run, frees the
 * locks (by token) of one that ended without a Release Lock (error, cancel, forgotten node), and stops
 * their renewal when n8n cannot show it (then the TTL applies). The locks renew themselves from the
 * grant (HeldLock); this only decides when that ends. When this process dies the renewals stop and
 * the TTL frees the locks: the TTL is the crash backstop only.
 *
 * Cost: per source, one round every few seconds: one listing of running executions, plus a bounded
 * number of single lookups for those not listed (they may have ended: confirmed before freeing).
 */
export class LeaseKeeper {
	private readonly watched = new Map<string, Watched>();
	private readonly groups = new Map<string, Group>();

	/** `autoRun: false` (tests): rounds run only through checkNow(). */
	constructor(
		private readonly log: KeeperLogger = SILENT,
		private readonly settings: { autoRun?: boolean } = {},
	) {}

	/** Starts (or joins) watching the execution; its first check comes with its source's next round. */
	keep({ statusSource, locks, ...options }: KeepOptions): void {
		let entry = this.watched.get(options.ownerKey);
		const group = entry?.group ?? this.groupFor(statusSource);
		if (group.id === statusSource.id) group.source = statusSource;
		if (options.log) group.log = options.log;
		if (!entry) {
			entry = {
				options,
				group,
				locks: new Set(),
				followed: options.followed,
				lastAnsweredAt: 0,
				registeredAt: performance.now(),
				urgent: false,
				releaseFailing: false,
				freed: [],
				stopped: false,
				cleanups: [],
			};
			this.watched.set(options.ownerKey, entry);
			group.members.set(options.ownerKey, entry);
			this.watchCancel(entry);
		} else {
			entry.options = options;
			entry.followed ||= options.followed;
		}
		for (const lock of locks) this.add(entry, lock);
		if (this.settings.autoRun === false) return;
		if (!group.looping) {
			group.looping = true;
			void this.loop(group);
		} else if (group.pause && this.interval(group) < group.pauseMs) {
			// A shorter TTL joined: its first check must not wait for the longer pause.
			group.pause.wake();
		}
	}

	/** The execution released its locks itself (Release Lock): stop watching. */
	forget(ownerKey: string): void {
		const entry = this.watched.get(ownerKey);
		if (entry) this.stop(entry);
	}

	/** Stops watching everything (the locks keep their own renewal state). */
	stopAll(): void {
		for (const entry of [...this.watched.values()]) this.stop(entry);
	}

	/** Owners whose executions this keeper watches (for tests and diagnostics). */
	keptOwners(): string[] {
		return [...this.watched.keys()];
	}

	/** The pause between two rounds of a source's checks; undefined when it has nothing to watch. */
	roundIntervalMs(sourceId: string): number | undefined {
		const group = this.groups.get(sourceId);
		return group ? this.interval(group) : undefined;
	}

	/** Runs one round for every source now (tests; otherwise rounds run by themselves). */
	async checkNow(): Promise<void> {
		await Promise.all([...this.groups.values()].map(async (group) => await this.runRound(group)));
	}

	private groupFor(source: ExecutionStatusSource): Group {
		let group = this.groups.get(source.id);
		if (!group) {
			group = { id: source.id, source, log: this.log, members: new Map(), listing: true, failing: false, stopped: false, looping: false, pauseMs: 0 };
			this.groups.set(source.id, group);
		}
		return group;
	}

	private add(entry: Watched, lock: HeldLock): void {
		if (entry.locks.has(lock)) return;
		entry.locks.add(lock);
		const onLost = () => {
			void Promise.resolve(entry.options.onLost?.(lock)).catch(() => undefined);
		};
		lock.lost.addEventListener('abort', onLost, { once: true });
		entry.cleanups.push(() => lock.lost.removeEventListener('abort', onLost));
	}

	private logFor(entry: Watched): KeeperLogger {
		return entry.options.log ?? this.log;
	}

	private interval(group: Group): number {
		let shortestTtl = Infinity;
		for (const entry of group.members.values()) for (const lock of entry.locks) shortestTtl = Math.min(shortestTtl, lock.ttlMs);
		return Math.max(MIN_ROUND_INTERVAL_MS, Math.min(MAX_ROUND_INTERVAL_MS, Math.floor(shortestTtl / 3)));
	}

	private lookupBudget(group: Group): number {
		return Math.max(1, Math.floor((LOOKUPS_PER_SECOND * this.interval(group)) / 1000));
	}

	/** One round per interval until the source has nothing left to watch. The pause never keeps n8n from exiting. */
	private async loop(group: Group): Promise<void> {
		while (!group.stopped) {
			group.pauseMs = this.interval(group);
			group.pause = sleepUnlessWoken(group.pauseMs, true);
			await group.pause.promise;
			if (!group.stopped) await this.runRound(group);
		}
	}

	private async runRound(group: Group): Promise<void> {
		group.round ??= this.round(group).finally(() => (group.round = undefined));
		await group.round;
	}

	private watchCancel(entry: Watched): void {
		const signal = entry.options.cancelSignal;
		if (!signal) return;
		const onAbort = () => {
			if (entry.stopped) return;
			entry.urgent = true;
			void this.lookUpNow(entry);
		};
		signal.addEventListener('abort', onAbort, { once: true });
		entry.cleanups.push(() => signal.removeEventListener('abort', onAbort));
	}

	private stop(entry: Watched): void {
		entry.stopped = true;
		for (const cleanup of entry.cleanups.splice(0)) cleanup();
		if (this.watched.get(entry.options.ownerKey) === entry) this.watched.delete(entry.options.ownerKey);
		const group = entry.group;
		if (group.members.get(entry.options.ownerKey) === entry) group.members.delete(entry.options.ownerKey);
		if (group.members.size === 0) {
			group.stopped = true;
			group.pause?.wake();
			if (this.groups.get(group.id) === group) this.groups.delete(group.id);
		}
	}

	/** Drops locks that ended by themselves (released elsewhere, lost, run out); an execution without any is done. */
	private prune(entry: Watched): boolean {
		// Ended, with a release the store refused: releaseEnded finishes and reports it (its locks may have freed themselves meanwhile).
		if (entry.releaseFailing) return !entry.stopped;
		for (const lock of [...entry.locks]) if (lock.state !== 'held') entry.locks.delete(lock);
		if (entry.locks.size === 0) this.stop(entry);
		return !entry.stopped;
	}

	private async round(group: Group): Promise<void> {
		const kept = [...group.members.values()].filter((entry) => this.prune(entry));
		// Known to have ended: n8n need not be asked again.
		for (const entry of kept) if (entry.releaseFailing) await this.releaseEnded(entry);
		const members = kept.filter((entry) => !entry.stopped);
		if (members.length === 0) return;
		const listSentAt = performance.now();
		let listed: Set<string> | undefined;
		try {
			if (group.listing) {
				listed = await group.source.listRunning();
				if (!listed) {
					group.listing = false;
					group.log.debug('Tenant Credential Swap: n8n does not list running executions for this API key; asking about held executions one by one');
				}
			}
		} catch (error) {
			this.failed(group, error, members);
			return;
		}
		const answeredAt = performance.now();
		for (const entry of members) {
			if (!listed?.has(entry.options.executionId)) continue;
			entry.followed = true;
			entry.lastAnsweredAt = answeredAt;
		}
		// Not listed as running: it may have ended, or be waiting. Confirmed one by one before any lock is freed.
		const unlisted = members
			.filter((entry) => !entry.stopped && !listed?.has(entry.options.executionId))
			.sort((a, b) => Number(b.urgent) - Number(a.urgent) || a.lastAnsweredAt - b.lastAnsweredAt)
			.slice(0, this.lookupBudget(group));
		for (const entry of unlisted) {
			if (entry.stopped) continue;
			let lookup: ExecutionLookup;
			try {
				lookup = await group.source.lookUp(entry.options.executionId);
			} catch (error) {
				this.failed(group, error, members);
				return;
			}
			if (lookup === 'running' && listed && group.listing && entry.registeredAt < listSentAt) {
				// Older n8n versions leave the executions they run themselves out of the list.
				group.listing = false;
				group.log.debug("Tenant Credential Swap: n8n's list of running executions left out one that runs; asking one by one from now on", {
					executionId: entry.options.executionId,
				});
			}
			await this.apply(entry, lookup);
		}
		this.recovered(group, members.length);
	}

	/** A cancelled execution: one lookup at once, outside the rounds. No answer: the next round asks again. */
	private async lookUpNow(entry: Watched): Promise<void> {
		try {
			const lookup = await entry.group.source.lookUp(entry.options.executionId);
			if (!entry.stopped) await this.apply(entry, lookup);
		} catch (error) {
			this.logFor(entry).debug('Tenant Credential Swap could not ask n8n about a cancelled execution; the next round asks again', {
				executionId: entry.options.executionId,
				error: messageOf(error),
			});
		}
	}

	private async apply(entry: Watched, lookup: ExecutionLookup): Promise<void> {
		entry.lastAnsweredAt = performance.now();
		entry.urgent = false;
		const state = executionStateOf(lookup, entry.followed);
		if (state === 'running') entry.followed = true;
		else if (state === 'ended') await this.releaseEnded(entry);
		else if (state === 'untrackable') this.giveUp(entry, lookup);
	}

	/** No answer is not an end: dropping the lock of a running execution would let another tenant in. */
	private failed(group: Group, error: unknown, members: Watched[]): void {
		const reason = messageOf(error);
		const meta = { executions: members.length, error: reason };
		// n8n's console log shows the message only, so the reason goes into it.
		const message = `Tenant Credential Swap could not ask n8n whether its executions still run, so their locks stay held (and renewed) until n8n answers: ${reason}`;
		if (group.failing) {
			group.log.debug(message, meta);
			return;
		}
		group.failing = true;
		group.log.warn(message, meta);
	}

	private recovered(group: Group, executions: number): void {
		if (!group.failing) return;
		group.failing = false;
		const log = group.log;
		const message = 'Tenant Credential Swap reaches n8n again: it follows its executions and frees the locks of those that ended';
		if (log.info) log.info(message, { executions });
		else log.debug(message, { executions });
	}

	private giveUp(entry: Watched, lookup: ExecutionLookup): void {
		const { executionId } = entry.options;
		const why =
			lookup === 'forbidden'
				? 'the API key lacks the execution:read scope'
				: 'n8n does not show this execution to the API key (the workflow is not shared with its owner, or the n8n API URL is another n8n)';
		this.logFor(entry).warn(
			`Tenant Credential Swap cannot follow execution ${executionId} through the n8n API (${why}), so it stops renewing its lock: the Lock TTL applies`,
			{ executionId },
		);
		for (const lock of entry.locks) lock.stopRenewing();
		this.stop(entry);
	}

	private async releaseEnded(entry: Watched): Promise<void> {
		const { executionId } = entry.options;
		if (entry.stopped) return;
		// A lock freed in an earlier round whose other locks failed is reported with them.
		const outcomes = entry.freed;
		let failed = false;
		for (const lock of [...entry.locks]) {
			try {
				// A lock that retried its refused release itself and freed the key is reported with the rest.
				if (lock.state === 'held' || (entry.releaseFailing && lock.state === 'released')) outcomes.push(await lock.release());
				entry.locks.delete(lock);
			} catch (error) {
				// The store is down: the lock stops renewing and retries the release itself until its TTL; the next round asks again. One warning per run of failures.
				failed = true;
				const log = this.logFor(entry);
				(entry.releaseFailing ? log.debug.bind(log) : log.warn.bind(log))('Tenant Credential Swap could not free a lock of an ended execution; retrying', {
					executionId,
					lockKey: lock.key,
					error: messageOf(error),
				});
				entry.releaseFailing = true;
			}
		}
		// Failed: the next round tries again. Stopped: a concurrent look (cancel) finished and reported it.
		if (failed || entry.stopped) return;
		this.stop(entry);
		this.logFor(entry).debug('Tenant Credential Swap freed the locks of an execution that ended without Release Lock', {
			executionId,
			locks: outcomes.length,
		});
		if (outcomes.length > 0) await entry.options.onReleased?.(outcomes);
	}
}

/** One keeper per process: it watches executions, whatever their lock backend. */
let keeper: LeaseKeeper | undefined;

export function leaseKeeper(): LeaseKeeper {
	keeper ??= new LeaseKeeper();
	return keeper;
}

/** For tests and shutdown: stops watching every execution in this process. */
export function stopLeaseKeepers(): void {
	keeper?.stopAll();
}
