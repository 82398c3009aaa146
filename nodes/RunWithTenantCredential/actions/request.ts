import type { IDataObject, IExecuteFunctions, INodeParameterResourceLocator } from 'n8n-workflow';

import { commaList, readTenantId } from '../../shared/itemParameters';
import { shorten } from '../../shared/lock';
import { parseCredentialData } from '../../shared/swap/credentialData';
import { SwapItemError } from '../../shared/swap/errors';
import { isConnectionName } from '../../shared/tenantOAuth/connectionName';
import { DEFAULT_TENANT_CREDENTIAL_LIMITS, type TenantCredentialLimits } from '../../shared/tenantCredentials/provision';
import type { TenantDataPolicy } from '../../shared/tenantData/policy';
import type { ItemFailures } from './itemFailures';

export interface RunOptions extends TenantDataPolicy {
	credentialType?: string;
	retentionMs: number;
	testCredential: boolean;
	waitTimeoutMs: number;
	output: 'subWorkflow' | 'input';
	saveSuccessfulSubExecutions: boolean;
	limits: TenantCredentialLimits;
	/** Items passed into the sub-execution keep the tenant's secret values (default: redacted). */
	passSecretsToSubWorkflow: boolean;
	/** How many groups (sub-executions) of one execution run at once. */
	tenantsInParallel: number;
}

/** Where the tenant's credential comes from: made from the request's data, or the tenant's Tenant OAuth2 Connect connection. */
export type CredentialSource = 'tenantData' | 'connectedTenant';

/** One item's wish: run the sub-workflow with this tenant's credential. */
export interface RunRequest {
	itemIndex: number;
	subWorkflowId: string;
	/** The sub-workflow's credential the tenant's replaces; undefined: inferred when unambiguous (workflows made before the parameter). */
	placeholderId?: string;
	tenantId: string;
	/** Tenant Data: the credential's fields. Connected Tenant: empty (nothing comes from the request). */
	data: IDataObject;
	options: RunOptions;
	/** Connected Tenant: the connection's name (the connect store's appId). */
	connection?: string;
}

const HOUR_MS = 3_600_000;

/** A few at once: each group is a sub-execution of n8n's, with its own execution record and API calls. */
export const DEFAULT_TENANTS_IN_PARALLEL = 4;
/** Bounded: more sub-executions at once than this only queue inside n8n and the lock store's connections. */
export const MAX_TENANTS_IN_PARALLEL = 20;

const CREDENTIAL_DATA_HELP =
	"Map the tenant's credential fields here as a JSON object, with the field names of the credential type, e.g. { \"name\": \"X-API-Key\", \"value\": \"{{ $json.body.apiKey }}\" } for Header Auth. Nothing was created.";

/** Reads and checks one item's parameters; nothing is created here. */
export function readRunRequest(context: IExecuteFunctions, itemIndex: number): RunRequest {
	const fail = (parameter: string, message: string, description?: string) => new SwapItemError(message, [itemIndex], { parameter, description });

	const locator = context.getNodeParameter('subWorkflow', itemIndex) as INodeParameterResourceLocator | string;
	const subWorkflowId = String(typeof locator === 'object' ? (locator.value ?? '') : locator).trim();
	if (!subWorkflowId) throw fail('subWorkflow', 'No sub-workflow chosen', 'Pick the workflow that holds the nodes using the tenant\'s credential.');

	const placeholderId = readPlaceholderId(context, itemIndex);

	const tenantId = readTenantId(context, itemIndex);

	const options = context.getNodeParameter('options', itemIndex, {}) as IDataObject;
	const shared = readSharedOptions(options, fail);
	if (readCredentialSource(context, itemIndex) === 'connectedTenant') {
		// Nothing of the tenant's comes from the request: the data options (hidden in the editor) do not apply.
		return { itemIndex, subWorkflowId, placeholderId, tenantId, data: {}, connection: readConnection(context, itemIndex), options: { ...CONNECTED_DEFAULTS, ...shared } };
	}

	const parsed = parseCredentialData(context.getNodeParameter('credentialData', itemIndex, ''));
	if (!parsed.data) throw fail('credentialData', `Credential Data ${parsed.problem}`, CREDENTIAL_DATA_HELP);

	const retention = options.retention === undefined ? 168 : Number(options.retention);
	if (!Number.isFinite(retention) || retention <= 0) {
		throw fail('options.retention', `Retention must be more than 0 hours (got ${String(options.retention)})`);
	}
	const waitTimeout = options.waitTimeout === undefined ? 60 : Number(options.waitTimeout);
	if (!Number.isFinite(waitTimeout) || waitTimeout < 0) {
		throw fail('options.waitTimeout', `Wait Timeout must be 0 seconds or more (got ${String(options.waitTimeout)})`);
	}
	const limit = (option: keyof TenantCredentialLimits, label: string) => {
		const value = options[option] === undefined ? DEFAULT_TENANT_CREDENTIAL_LIMITS[option] : Number(options[option]);
		if (!Number.isInteger(value) || value < 1) throw fail(`options.${option}`, `${label} must be a whole number of at least 1 (got ${String(options[option])})`);
		return value;
	};
	const limits = {
		maxTenantCredentials: limit('maxTenantCredentials', 'Max Tenant Credentials'),
		maxCredentialsPerTenant: limit('maxCredentialsPerTenant', 'Max Credentials per Tenant'),
	};
	return {
		itemIndex,
		subWorkflowId,
		placeholderId,
		tenantId,
		data: parsed.data,
		options: {
			...shared,
			retentionMs: Math.round(retention * HOUR_MS),
			testCredential: options.testCredential === true,
			waitTimeoutMs: Math.round(waitTimeout * 1000),
			passSecretsToSubWorkflow: options.passSecretsToSubWorkflow === true,
			allowedFields: commaList(options.allowedFields),
			allowEmptyFields: commaList(options.allowEmptyFields),
			limits,
		},
	};
}

type SharedOptions = Pick<RunOptions, 'credentialType' | 'output' | 'saveSuccessfulSubExecutions' | 'tenantsInParallel'>;

/** The options of both credential sources. */
function readSharedOptions(options: IDataObject, fail: (parameter: string, message: string) => SwapItemError): SharedOptions {
	const output = String(options.output ?? 'subWorkflow');
	if (output !== 'subWorkflow' && output !== 'input') {
		throw fail('options.output', `Output must be "subWorkflow" or "input" (got "${output}")`);
	}
	const tenantsInParallel = options.tenantsInParallel === undefined ? DEFAULT_TENANTS_IN_PARALLEL : Number(options.tenantsInParallel);
	if (!Number.isInteger(tenantsInParallel) || tenantsInParallel < 1 || tenantsInParallel > MAX_TENANTS_IN_PARALLEL) {
		throw fail(
			'options.tenantsInParallel',
			`Tenants in Parallel must be a whole number from 1 to ${MAX_TENANTS_IN_PARALLEL} (got ${String(options.tenantsInParallel)})`,
		);
	}
	const credentialType = String(options.credentialType ?? '').trim();
	return { credentialType: credentialType || undefined, output, saveSuccessfulSubExecutions: options.saveSuccessfulSubExecutions === true, tenantsInParallel };
}

/** A connected tenant's run: no data, so no data policy, retention, creation wait or limits (the fields are there for the shared code's types only). */
const CONNECTED_DEFAULTS: Omit<RunOptions, keyof SharedOptions> = {
	retentionMs: 168 * HOUR_MS,
	testCredential: false,
	waitTimeoutMs: 60_000,
	passSecretsToSubWorkflow: false,
	allowedFields: [],
	allowEmptyFields: [],
	limits: { ...DEFAULT_TENANT_CREDENTIAL_LIMITS },
};

const SOURCE_HELP = 'Pick Credential Source in the editor: Tenant Data in the Request, or Connected Tenant (Tenant OAuth2 Connect).';

/**
 * Credential Source. Absent in workflows made before it: n8n gives a missing parameter its default
 * (Tenant Data in the Request), so they run as before. Never an expression: whether the tenant's
 * credential is made from the caller's data or taken from the tenant's connection is the workflow's choice.
 */
export function readCredentialSource(context: IExecuteFunctions, itemIndex: number): CredentialSource {
	const raw = context.getNode().parameters.credentialSource;
	const value = typeof raw === 'string' && raw.startsWith('=') ? raw : context.getNodeParameter('credentialSource', itemIndex, 'tenantData');
	if (value === 'tenantData' || value === 'connectedTenant') return value;
	throw new SwapItemError(`Credential Source must be "tenantData" or "connectedTenant" (got "${shorten(String(value), 60)}")`, [itemIndex], {
		parameter: 'credentialSource',
		description: SOURCE_HELP,
	});
}

/** Connection: the name set the same on Tenant OAuth2 Connect and its trigger. Fixed by the workflow, never an expression. */
function readConnection(context: IExecuteFunctions, itemIndex: number): string {
	const raw = context.getNode().parameters.connection;
	const fail = (message: string, description: string) => new SwapItemError(message, [itemIndex], { parameter: 'connection', description });
	if (typeof raw === 'string' && raw.startsWith('=')) {
		throw fail(
			'Connection must not be an expression',
			"Type the connection's name (e.g. hubspot), the same as on Tenant OAuth2 Connect: which of the tenant's accounts the sub-workflow uses is fixed by the workflow, never by the data an execution receives.",
		);
	}
	const connection = String(context.getNodeParameter('connection', itemIndex, '') ?? '').trim();
	if (!isConnectionName(connection)) {
		throw fail(
			connection === '' ? 'Connection is empty' : `Connection "${shorten(connection, 64)}" is not a connection name`,
			'Type the name of the connection, as set on Tenant OAuth2 Connect and its trigger: 1 to 64 letters, digits, _ . or - (e.g. hubspot).',
		);
	}
	return connection;
}

/** Step 0: every item's parameters; an item that cannot be read fails alone (see ItemFailures). */
export function readRunRequests(context: IExecuteFunctions, itemCount: number, failures: ItemFailures): RunRequest[] {
	const requests: RunRequest[] = [];
	for (let itemIndex = 0; itemIndex < itemCount; itemIndex++) {
		try {
			requests.push(readRunRequest(context, itemIndex));
		} catch (error) {
			failures.fail(error, [itemIndex], new Set());
		}
	}
	return requests;
}

/**
 * The Placeholder Credential's ID. Picked in the editor, never an expression: which credential gets the
 * tenant's secret is the workflow's choice, not the caller's (a caller naming another credential would
 * send their secret where that one goes, and the placeholder's to the tenant's service).
 */
function readPlaceholderId(context: IExecuteFunctions, itemIndex: number): string | undefined {
	const raw = context.getNode().parameters.placeholderCredential as INodeParameterResourceLocator | string | undefined;
	const rawValue = typeof raw === 'object' && raw !== null ? raw.value : raw;
	if (typeof rawValue === 'string' && rawValue.startsWith('=')) {
		throw new SwapItemError('Placeholder Credential must not be an expression', [itemIndex], {
			parameter: 'placeholderCredential',
			description: "Pick the credential from the list or enter its ID: which credential the tenant's replaces is fixed by the workflow, never by the data an execution receives.",
		});
	}
	const locator = context.getNodeParameter('placeholderCredential', itemIndex, '') as INodeParameterResourceLocator | string | undefined;
	const id = String(typeof locator === 'object' && locator !== null ? (locator.value ?? '') : (locator ?? '')).trim();
	if (id !== '' && !/^[A-Za-z0-9_-]+$/.test(id)) {
		throw new SwapItemError(`Placeholder Credential "${id.slice(0, 60)}" is not a credential ID`, [itemIndex], {
			parameter: 'placeholderCredential',
			description: 'Pick the credential from the list, or enter the ID from its URL (letters, digits, - and _).',
		});
	}
	return id === '' ? undefined : id;
}
