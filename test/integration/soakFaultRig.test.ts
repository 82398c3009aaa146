/**
 * The soak's fault rig (scripts/lib/faults.js, `npm run soak -- --faults`) really injects: a `stall`
 * holds a lock-store command until the heal, a Redis `restart` comes back empty, an `api-slow` holds
 * n8n's answers back. Against its own throwaway redis-server and a stand-in HTTP server, loopback.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Redis from 'ioredis';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startFaultRig } = require('../../scripts/lib/faults.js') as {
	startFaultRig(
		backend: 'redis',
		db: number,
	): Promise<{
		lockRedis: { host: string; port: number; db: number };
		direct: { redis: { host: string; port: number } };
		events: Array<{ step: string; atS: number; endS?: number }>;
		delayedApiAnswers(): number;
		nodeApiUrl(apiUrl: string): Promise<string>;
		run(plan: object, loadStart: number, signal: AbortSignal, log: (line: string) => void): Promise<void>;
		close(): Promise<void>;
	}>;
};

jest.setTimeout(120_000);

type Rig = Awaited<ReturnType<typeof startFaultRig>>;

function step(kinds: string[], seconds = 2) {
	return { steps: [{ kinds, seconds }], everySeconds: 1, apiDelayMs: 1_500 };
}

/** Runs one step of the schedule (starting 1 s in), resolving with the rig's record of it once healed. */
async function oneStep(rig: Rig, kinds: string[], whileOn: () => Promise<void>) {
	const stop = new AbortController();
	const t0 = Date.now();
	const running = rig.run(step(kinds), t0, stop.signal, () => undefined);
	while (rig.events.length === 0) await new Promise((r) => setTimeout(r, 20));
	await whileOn();
	while (rig.events[0].endS === undefined) await new Promise((r) => setTimeout(r, 20));
	stop.abort();
	await running;
	return { event: rig.events[0], t0 };
}

describe('soak fault rig (fails if a fault is not injected)', () => {
	let rig: Rig | undefined;
	const clients: Redis[] = [];
	afterEach(async () => {
		for (const c of clients.splice(0)) c.disconnect();
		await rig?.close();
		rig = undefined;
	});

	it('stall: a command through the proxy gets no answer until the heal', async () => {
		rig = await startFaultRig('redis', 1);
		const viaProxy = new Redis({ ...rig.lockRedis, maxRetriesPerRequest: 0, lazyConnect: true });
		clients.push(viaProxy);
		await viaProxy.connect();
		expect(await viaProxy.ping()).toBe('PONG');
		let healedWhenAnswered: boolean | undefined;
		const { event } = await oneStep(rig, ['stall'], async () => {
			void viaProxy.ping().then(() => (healedWhenAnswered = rig!.events[0].endS !== undefined));
		});
		while (healedWhenAnswered === undefined) await new Promise((r) => setTimeout(r, 20));
		// the answer came once the rig had healed the stall, not before
		expect(healedWhenAnswered).toBe(true);
		expect(event.step).toBe('stall:2');
	});

	it('restart: Redis without persistence comes back empty', async () => {
		rig = await startFaultRig('redis', 1);
		const direct = new Redis({ ...rig.direct.redis, db: 1, maxRetriesPerRequest: null });
		clients.push(direct);
		await direct.set('tenant-swap:lease:k', 'token');
		await oneStep(rig, ['restart'], async () => undefined);
		expect(await direct.get('tenant-swap:lease:k')).toBeNull();
	});

	it("api-slow: n8n's answers reach the node late, and are counted", async () => {
		const n8n = http.createServer((_req, res) => res.end('{"ok":true}'));
		await new Promise<void>((r) => n8n.listen(0, '127.0.0.1', () => r()));
		try {
			rig = await startFaultRig('redis', 1);
			const url = await rig.nodeApiUrl(`http://127.0.0.1:${(n8n.address() as AddressInfo).port}/api/v1`);
			let answer: unknown;
			await oneStep(rig, ['api-slow'], async () => {
				answer = await (await fetch(`${url}/credentials`)).json();
			});
			expect(answer).toEqual({ ok: true });
			// the proxy held n8n's answer back (and only while the fault was on)
			expect(rig.delayedApiAnswers()).toBe(1);
			await fetch(`${url}/credentials`);
			expect(rig.delayedApiAnswers()).toBe(1);
		} finally {
			n8n.close();
		}
	});
});
