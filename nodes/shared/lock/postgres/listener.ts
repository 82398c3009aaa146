import { randomUUID } from 'node:crypto';
import { LoggerProxy } from 'n8n-workflow';
import { Client, type Pool } from 'pg';

import { sleepUnlessWoken } from '../waiting';
import { PostgresStatements } from './statements';

/** Every lock table's release messages: "<key hash>" or "<key hash> <ticket>" (see StoreLockEngine). */
export const NOTIFY_CHANNEL = 'tenant_swap_lock_released';
/** NOTIFY payloads the listener sends itself to learn whether notifications arrive at all. */
const PROBE_PREFIX = 'tsl-probe:';
/** Probe again this often: a pooler put in front later, or a broken session, is noticed. */
const PROBE_INTERVAL_MS = 60_000;
/** Probe again after this when the last probe could not be sent. */
const PROBE_RETRY_MS = 1_000;
/** The longest pause between two tries to bring a lost LISTEN connection back. */
const LISTENER_RETRY_MAX_MS = 30_000;
export const DEFAULT_PROBE_TIMEOUT_MS = 5_000;

/** Where the listener's one-time operator warnings go: n8n's log (n8n sets LoggerProxy up). */
export interface EngineLogger {
	warn(message: string, meta?: Record<string, unknown>): void;
}

/** A lock engine woken through the listener. */
export interface ListenerSubscriber {
	/** `schema.table`, for warnings. */
	readonly lockTable: string;
	/** A release message (any lock table's: key hashes and tickets say whose waiters it is for). */
	onMessage(payload: string): void;
	/** The connection dropped or notifications stopped arriving: waiters may have missed a release. */
	onDropped(): void;
	/** Whether notifications are known to arrive (a probe came back). */
	onUp(up: boolean): void;
}

/**
 * The LISTEN connection of one pool (one lock database as one user, in this process), shared by
 * every lock table on it: a pg.Client of its own, outside the pool, so waking waiters never costs a
 * pool connection and a killed listener never takes one from renewals. It counts as up (waiters
 * sleep long and wait to be woken) only once a probe NOTIFY it sent itself came back: behind
 * PgBouncer in transaction pooling LISTEN succeeds but nothing ever arrives, and waiters must then
 * re-check on their own (StoreLockEngine's short degraded wait).
 */
export class PostgresListener {
	private readonly subscribers = new Set<ListenerSubscriber>();
	private readonly probes = new Map<string, () => void>();
	private readonly statements: PostgresStatements;
	private listener?: Promise<Client>;
	private client?: Client;
	private dropClient?: () => void;
	private retryMs = 0;
	private up = false;
	private closed = false;
	private warnedNoNotify = false;
	/** One warning per outage of the wake-up connection, not one per reconnect try. */
	private warnedDown = false;
	log: EngineLogger = LoggerProxy;

	constructor(
		private readonly pool: Pool,
		private readonly probeTimeoutMs = DEFAULT_PROBE_TIMEOUT_MS,
	) {
		this.statements = new PostgresStatements(pool);
	}

	/** Adds a subscriber and resolves once listening (rejects when the connection cannot be opened now). */
	async subscribe(subscriber: ListenerSubscriber): Promise<void> {
		if (this.closed) throw new Error('listener closed');
		if (!this.subscribers.has(subscriber)) {
			this.subscribers.add(subscriber);
			subscriber.onUp(this.up);
		}
		this.listener ??= this.start();
		await this.listener;
	}

	/** Removes a subscriber; the last one out closes the connection (and the listener). */
	unsubscribe(subscriber: ListenerSubscriber): void {
		if (!this.subscribers.delete(subscriber)) return;
		subscriber.onUp(false);
		subscriber.onDropped();
		if (this.subscribers.size > 0) return;
		this.closed = true;
		if (listeners.get(this.pool) === this) listeners.delete(this.pool);
		this.dropClient?.();
	}

	private lockTables(): string {
		return [...new Set([...this.subscribers].map((s) => s.lockTable))].join(', ');
	}

	private setUp(up: boolean): void {
		this.up = up;
		for (const subscriber of this.subscribers) subscriber.onUp(up);
	}

	private dropped(): void {
		this.setUp(false);
		for (const subscriber of this.subscribers) subscriber.onDropped();
	}

	private async start(): Promise<Client> {
		// pg-pool keeps the password as a non-enumerable option (out of stack traces): copy it by name.
		const client = new Client({ ...this.pool.options, password: this.pool.options.password });
		client.on('error', () => undefined);
		let gone = false;
		const drop = () => {
			if (gone) return;
			gone = true;
			if (this.client === client || !this.client) {
				this.listener = undefined;
				this.client = undefined;
				this.dropClient = undefined;
			}
			void client.end().catch(() => undefined);
			this.dropped();
			this.reconnect();
		};
		try {
			await client.connect();
			client.on('notification', (message) => {
				if (message.channel !== NOTIFY_CHANNEL || !message.payload) return;
				if (message.payload.startsWith(PROBE_PREFIX)) this.probes.get(message.payload)?.();
				else for (const subscriber of this.subscribers) subscriber.onMessage(message.payload);
			});
			client.on('error', drop);
			client.on('end', drop);
			await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
		} catch (error) {
			if (!this.warnedDown && !this.closed) {
				this.warnedDown = true;
				this.log.warn(
					`Tenant Credential Swap could not open its wake-up connection to the lock database (${(error as Error).message}); waiting executions re-check every 250 ms until it works. It keeps trying in the background.`,
					{ lockTable: this.lockTables() },
				);
			}
			drop();
			throw error;
		}
		if (this.closed) {
			drop();
			return client;
		}
		this.warnedDown = false;
		this.client = client;
		this.dropClient = drop;
		this.retryMs = 0;
		void this.watchNotifications(client);
		return client;
	}

	/** Brings the connection back after a drop: at once, then with growing pauses while it fails. */
	private reconnect(): void {
		if (this.closed) return;
		const pause = this.retryMs;
		this.retryMs = Math.min(LISTENER_RETRY_MAX_MS, Math.max(1_000, pause * 2));
		void (async () => {
			if (pause > 0) await sleepUnlessWoken(pause, true).promise;
			if (this.closed || this.listener) return;
			// A failure drops again, which schedules the next try.
			this.listener = this.start();
			await this.listener.catch(() => undefined);
		})();
	}

	/** Probes now and every PROBE_INTERVAL_MS while `client` is the connection. */
	private async watchNotifications(client: Client): Promise<void> {
		while (!this.closed && this.client === client) {
			const outcome = await this.probe();
			if (this.closed || this.client !== client) return;
			if (outcome === 'arrived') {
				this.setUp(true);
			} else if (outcome === 'missing') {
				// Waiters asleep for a wake-up that will not come: they look again, and from now on often.
				if (this.up) this.dropped();
				this.setUp(false);
				if (!this.warnedNoNotify) {
					this.warnedNoNotify = true;
					this.log.warn(
						`Tenant Credential Swap: the lock database accepts LISTEN but a test notification sent through it did not arrive within ${this.probeTimeoutMs} ms. ` +
							'This is what PgBouncer in transaction pooling mode does. Locks still work: waiting executions re-check every 250 ms instead of being woken, ' +
							'so hand-offs take a little longer and cost more queries. Point the lock at PostgreSQL directly or at a session-pooling port to get wake-ups.',
						{ lockTable: this.lockTables() },
					);
				}
			}
			// A probe the store did not answer (e.g. a stale pool connection after a restart) says
			// nothing about notifications: ask again soon rather than in a minute.
			await sleepUnlessWoken(outcome === 'failed' ? PROBE_RETRY_MS : PROBE_INTERVAL_MS, true).promise;
		}
	}

	/** Sends a NOTIFY only this listener expects and waits (up to probeTimeoutMs) for it to arrive. */
	private async probe(): Promise<'arrived' | 'missing' | 'failed'> {
		const payload = `${PROBE_PREFIX}${randomUUID()}`;
		const waiting = sleepUnlessWoken(this.probeTimeoutMs, true);
		let arrived = false;
		this.probes.set(payload, () => {
			arrived = true;
			waiting.wake();
		});
		try {
			await this.statements.query('notify probe', 'SELECT pg_notify($1, $2)', [NOTIFY_CHANNEL, payload]);
			await waiting.promise;
			return arrived ? 'arrived' : 'missing';
		} catch {
			// The store did not answer: nothing learnt about notifications.
			waiting.wake();
			return 'failed';
		} finally {
			this.probes.delete(payload);
		}
	}
}

/** One listener per pool (the registry shares one pool per lock database and user). */
const listeners = new WeakMap<Pool, PostgresListener>();

/** The pool's listener, created on first use; closed when its last subscriber leaves. */
export function listenerFor(pool: Pool, probeTimeoutMs?: number): PostgresListener {
	let listener = listeners.get(pool);
	if (!listener) {
		listener = new PostgresListener(pool, probeTimeoutMs);
		listeners.set(pool, listener);
	}
	return listener;
}
