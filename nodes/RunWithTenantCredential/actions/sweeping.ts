import { sweepOrphansInBackground } from '../../shared/tenantCredentials/orphans';
import { sweepUnusedInBackground } from '../../shared/tenantCredentials/sweep';
import { N8nApiClient } from '../../shared/transport/n8nApiClient';
import { PublicApiTransport } from '../../shared/transport/publicApiTransport';
import type { RunRequest } from './request';
import type { RunContext } from './runContext';

/** Step 5: retires credentials unused for their retention, and deletes orphans, in the background (each at most so often per process). */
export function sweepInBackground(run: RunContext, requests: RunRequest[]): void {
	const retentions = requests.map((request) => request.options.retentionMs);
	const sweepContext = { registry: run.registry, api: new N8nApiClient(PublicApiTransport.afterExecution(run.node, run.apiCredentials)), scope: run.scope, log: run.node.logger };
	sweepUnusedInBackground(sweepContext, Math.min(...retentions));
	// Orphans are judged by the longest retention asked: a credential is never deleted sooner than any item would keep it.
	sweepOrphansInBackground(sweepContext, Math.max(...retentions));
}
