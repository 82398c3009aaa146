import type { WorkflowNode } from '../transport/n8nApiClient';

/**
 * Nodes whose credential choice is readable from their parameters, as their own code reads it: the
 * HTTP Request node (and its tool form, and the AI HTTP Request tool) v2 on. `authentication` says
 * none / predefined (`nodeCredentialType`) / generic (`genericAuthType`); `provideSslCertificates`
 * adds `httpSslAuth`. n8n keeps a node's other credential entries when its authentication changes: n8n
 * never uses them, so they must not decide which credential is the placeholder.
 */
const HTTP_REQUEST_TYPES = new Set(['n8n-nodes-base.httpRequest', 'n8n-nodes-base.httpRequestTool', '@n8n/n8n-nodes-langchain.toolHttpRequest']);

/** HTTP Request v1's `authentication` values (no generic/predefined split yet) and the credential each uses. */
const V1_AUTHENTICATION: Record<string, string> = {
	basicAuth: 'httpBasicAuth',
	digestAuth: 'httpDigestAuth',
	headerAuth: 'httpHeaderAuth',
	queryAuth: 'httpQueryAuth',
	oAuth1: 'oAuth1Api',
	oAuth2: 'oAuth2Api',
};

const isExpression = (value: unknown) => typeof value === 'string' && value.startsWith('=');

/**
 * The credential types the node uses given its parameters, or undefined when that cannot be told
 * cheaply (any other node type, or an expression in a parameter that decides it): then every entry
 * counts as used. Parameters left at their default are absent from stored workflows: `authentication`
 * defaults to "none" on every HTTP Request version.
 */
export function activeCredentialTypes(node: WorkflowNode): Set<string> | undefined {
	if (!HTTP_REQUEST_TYPES.has(node.type)) return undefined;
	const parameters = node.parameters ?? {};
	const deciding = [parameters.authentication, parameters.genericAuthType, parameters.nodeCredentialType, parameters.provideSslCertificates];
	if (deciding.some(isExpression)) return undefined;
	const authentication = String(parameters.authentication ?? 'none');
	const active = new Set<string>();
	if (node.type === 'n8n-nodes-base.httpRequest' && (node.typeVersion ?? 1) < 2) {
		if (V1_AUTHENTICATION[authentication]) active.add(V1_AUTHENTICATION[authentication]);
		return active;
	}
	if (authentication === 'genericCredentialType' && typeof parameters.genericAuthType === 'string') active.add(parameters.genericAuthType);
	else if (authentication === 'predefinedCredentialType' && typeof parameters.nodeCredentialType === 'string') active.add(parameters.nodeCredentialType);
	else if (authentication !== 'none' && authentication !== 'genericCredentialType' && authentication !== 'predefinedCredentialType') return undefined;
	if (parameters.provideSslCertificates === true) active.add('httpSslAuth');
	return active;
}

/** One credential entry of a node: `credentials[type] = { id, name }`. */
export interface CredentialEntry {
	node: string;
	type: string;
	/** Null/absent on entries of very old workflows (n8n then resolves by name). */
	id?: string;
	name: string;
	/** n8n uses it (false: an entry kept from an earlier authentication setting). */
	active: boolean;
}

/** Every credential entry of the nodes, with whether the node uses it. */
export function credentialEntries(nodes: readonly WorkflowNode[]): CredentialEntry[] {
	const entries: CredentialEntry[] = [];
	for (const node of nodes) {
		const active = activeCredentialTypes(node);
		for (const [type, entry] of Object.entries(node.credentials ?? {})) {
			const id = typeof entry?.id === 'string' && entry.id !== '' ? entry.id : undefined;
			entries.push({ node: node.name, type, id, name: String(entry?.name ?? ''), active: active === undefined || active.has(type) });
		}
	}
	return entries;
}
