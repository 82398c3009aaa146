/**
 * CPU profiles of the running n8n, one per measured window (`--tenant-api-profile`): n8n starts with
 * `--inspect=127.0.0.1:0`; the benchmark finds the n8n main process among the inspectors its log
 * announces and drives V8's profiler over the DevTools protocol (the `ws` client n8n ships with).
 */
import fs from 'node:fs';
import path from 'node:path';

interface Socket {
	on(event: 'message', listener: (data: Buffer) => void): void;
	on(event: 'open' | 'close', listener: () => void): void;
	on(event: 'error', listener: (error: Error) => void): void;
	send(data: string): void;
	close(): void;
}
type SocketClass = new (url: string) => Socket;

export interface Profiler {
	start(): Promise<void>;
	/** Stops and returns the profile (Chrome .cpuprofile JSON). */
	stop(): Promise<unknown>;
	close(): void;
}

/** The inspector URLs `--inspect=127.0.0.1:0` printed into the log, newest last. */
function announced(logFile: string): string[] {
	const text = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
	return [...text.matchAll(/Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/g)].map((m) => m[1]);
}

/** Connects to the inspector of the process running n8n's own bin (not the harness's watchdog). */
export async function connectProfiler(logFile: string, n8nDir: string, samplingMicros = 250): Promise<Profiler> {
	const WebSocket = require(require.resolve('ws', { paths: [path.join(n8nDir, 'node_modules')] })) as SocketClass;
	for (const url of announced(logFile)) {
		const port = /:(\d+)\//.exec(url)?.[1];
		const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ title?: string; url?: string; webSocketDebuggerUrl: string }>;
		const target = list.find((t) => /\/n8n\/bin\/n8n$|n8n$/.test(t.url ?? t.title ?? '') && !/watchdog/.test(t.url ?? t.title ?? ''));
		if (!target) continue;
		const socket = new WebSocket(target.webSocketDebuggerUrl);
		await new Promise<void>((resolve, reject) => {
			socket.on('open', resolve);
			socket.on('error', reject);
		});
		let next = 1;
		const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
		socket.on('message', (data) => {
			const message = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: { message: string } };
			const waiter = message.id === undefined ? undefined : pending.get(message.id);
			if (!waiter) return;
			pending.delete(message.id as number);
			if (message.error) waiter.reject(new Error(message.error.message));
			else waiter.resolve(message.result);
		});
		const send = async (method: string, params: Record<string, unknown> = {}) =>
			await new Promise<unknown>((resolve, reject) => {
				const id = next++;
				pending.set(id, { resolve, reject });
				socket.send(JSON.stringify({ id, method, params }));
			});
		await send('Profiler.enable');
		await send('Profiler.setSamplingInterval', { interval: samplingMicros });
		return {
			start: async () => void (await send('Profiler.start')),
			stop: async () => ((await send('Profiler.stop')) as { profile: unknown }).profile,
			close: () => socket.close(),
		};
	}
	throw new Error(`no n8n inspector found in ${logFile} (announced: ${announced(logFile).join(', ') || 'none'})`);
}
