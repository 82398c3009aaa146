import type { ICredentialDataDecryptedObject, INodeExecutionData } from 'n8n-workflow';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { postgresCredentialData } = require('../harness/postgres.js');

/** n8n's `postgres` credential fields for the test database. */
export function postgresCredential(url = process.env.TEST_DATABASE_URL as string): ICredentialDataDecryptedObject {
	return postgresCredentialData(url);
}

export function itemsOf(...bodies: object[]): INodeExecutionData[] {
	return bodies.map((body) => ({ json: { body } as never }));
}

let counter = 0;
/** Unique per test, so tests never share locks or tables by accident. */
export function unique(prefix: string): string {
	counter += 1;
	return `${prefix}_${process.pid}_${Date.now().toString(36)}_${counter}`;
}

/** Minimal public API calls a test needs besides the nodes. */
export class ApiFixture {
	constructor(
		readonly apiUrl: string,
		readonly apiKey: string,
	) {}

	async call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
		const response = await fetch(`${this.apiUrl}${path}`, {
			method,
			headers: { 'X-N8N-API-KEY': this.apiKey, 'content-type': 'application/json' },
			body: body === undefined ? undefined : JSON.stringify(body),
		});
		const text = await response.text();
		return { status: response.status, body: text ? JSON.parse(text) : undefined };
	}

	async createCredential(name: string, type: string, data: object): Promise<{ id: string; name: string; type: string }> {
		const { status, body } = await this.call('POST', '/credentials', { name, type, data });
		if (status !== 200) throw new Error(`create credential: ${status} ${JSON.stringify(body)}`);
		return body;
	}

	async getCredential(id: string): Promise<{ id: string; name: string; type: string; updatedAt: string }> {
		const { status, body } = await this.call('GET', `/credentials/${id}`);
		if (status !== 200) throw new Error(`get credential: ${status}`);
		return body;
	}

	async listCredentials(): Promise<Array<{ id: string; name: string; type: string }>> {
		const all: Array<{ id: string; name: string; type: string }> = [];
		let cursor: string | undefined;
		do {
			const { body } = await this.call('GET', `/credentials?limit=250${cursor ? `&cursor=${cursor}` : ''}`);
			all.push(...body.data);
			cursor = body.nextCursor ?? undefined;
		} while (cursor);
		return all;
	}

	async temporaryCredentials(): Promise<string[]> {
		return (await this.listCredentials()).filter((c) => c.name.startsWith('tenant-swap tmp')).map((c) => c.name);
	}
}
