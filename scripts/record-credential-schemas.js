#!/usr/bin/env node
// @ts-check
'use strict';
/**
 * Records what a real n8n (the harness's release, 2.40.7) answers to
 * `GET /api/v1/credentials/schema/:type` for the credential types the swap's unit tests use, into
 * test/fixtures/credentialSchemas.json. Loopback only; starts and stops its own n8n (SQLite).
 * Run: `flock /tmp/heavy.lock node scripts/record-credential-schemas.js`
 */
const fs = require('fs');
const path = require('path');
const { startN8n } = require('../test/harness/n8n.js');
const { N8N_VERSION } = require('../test/harness/install.js');

const TYPES = [
	'httpHeaderAuth',
	'httpBasicAuth',
	'httpQueryAuth',
	'postgres',
	'oAuth2Api',
	'hubspotDeveloperApi',
	'oAuth1Api',
	'twitterOAuth1Api',
	'metabaseApi',
	'slackApi',
	'openAiApi',
	'stripeApi',
];

async function main() {
	const n8n = await startN8n({});
	try {
		/** @type {Record<string, unknown>} */
		const schemas = {};
		for (const type of TYPES) {
			const response = await fetch(`${n8n.apiUrl}/credentials/schema/${type}`, { headers: { 'X-N8N-API-KEY': n8n.apiKey } });
			if (response.status !== 200) throw new Error(`schema of ${type}: ${response.status}`);
			schemas[type] = await response.json();
		}
		const target = path.join(__dirname, '..', 'test', 'fixtures', 'credentialSchemas.json');
		fs.writeFileSync(target, `${JSON.stringify({ n8nVersion: N8N_VERSION, recordedWith: 'scripts/record-credential-schemas.js', schemas }, null, '\t')}\n`);
		process.stdout.write(`${TYPES.length} schemas written to ${path.relative(process.cwd(), target)}\n`);
	} finally {
		await n8n.stop();
	}
}

main().catch((error) => {
	process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
	process.exit(1);
});
