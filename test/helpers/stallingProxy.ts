/**
 * A loopback TCP proxy that can stall: after `stall()` it forwards nothing in either direction but
 * keeps every connection open (a network partition or a frozen store as one client sees it: no
 * answer and no error), while other clients that connect to the store directly are unaffected.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export class StallingProxy {
	private readonly sockets = new Set<Socket>();
	private server?: Server;
	private stalled = false;
	port = 0;

	constructor(
		private readonly targetHost: string,
		private readonly targetPort: number,
	) {}

	async start(): Promise<void> {
		this.server = createServer((inbound) => {
			const outbound = connect(this.targetPort, this.targetHost);
			for (const socket of [inbound, outbound]) {
				this.sockets.add(socket);
				socket.on('close', () => this.sockets.delete(socket));
				socket.on('error', () => undefined);
			}
			// Bytes sent while stalled are dropped: the peer waits for an answer that never comes.
			inbound.on('data', (chunk: Buffer) => {
				if (!this.stalled) outbound.write(chunk);
			});
			outbound.on('data', (chunk: Buffer) => {
				if (!this.stalled) inbound.write(chunk);
			});
			inbound.on('close', () => outbound.destroy());
			outbound.on('close', () => inbound.destroy());
		});
		await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
		const address = this.server.address();
		this.port = typeof address === 'object' && address ? address.port : 0;
	}

	stall(): void {
		this.stalled = true;
	}

	async close(): Promise<void> {
		const server = this.server;
		this.server = undefined;
		for (const socket of this.sockets) socket.destroy();
		this.sockets.clear();
		if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
	}
}
