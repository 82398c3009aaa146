import type { IDataObject, IExecuteFunctions, INodeParameterResourceLocator } from 'n8n-workflow';

import { commaList, readTenantId } from '../../shared/itemParameters';
import { parseCredentialData } from '../../shared/swap/credentialData';
import { SwapItemError } from '../../shared/swap/errors';
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

/** One item's wish: run the sub-workflow with this tenant's credential. */
export interface RunRequest {
	itemIndex: number;
	subWorkflowId: string;
	/** The sub-workflow's credential the tenant's replaces; undefined: inferred when unambiguous (workflows made before the parameter). */
	placeholderId?: string;
	tenantId: string;
	data: IDataObject;
	options: RunOptions;
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

	const parsed = parseCredentialData(context.getNodeParameter('credentialData', itemIndex, ''));
	if (!parsed.data) throw fail('credentialData', `Credential Data ${parsed.problem}`, CREDENTIAL_DATA_HELP);

	const options = context.getNodeParameter('options', itemIndex, {}) as IDataObject;
	const retention = options.retention === undefined ? 168 : Number(options.retention);
	if (!Number.isFinite(retention) || retention <= 0) {
		throw fail('options.retention', `Retention must be more than 0 hours (got ${String(options.retention)})`);
	}
	const waitTimeout = options.waitTimeout === undefined ? 60 : Number(options.waitTimeout);
	if (!Number.isFinite(waitTimeout) || waitTimeout < 0) {
		throw fail('options.waitTimeout', `Wait Timeout must be 0 seconds or more (got ${String(options.waitTimeout)})`);
	}
	const output = String(options.output ?? 'subWorkflow');
	if (output !== 'subWorkflow' && output !== 'input') {
		throw fail('options.output', `Output must be "subWorkflow" or "input" (got "${output}")`);
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
	const tenantsInParallel = options.tenantsInParallel === undefined ? DEFAULT_TENANTS_IN_PARALLEL : Number(options.tenantsInParallel);
	if (!Number.isInteger(tenantsInParallel) || tenantsInParallel < 1 || tenantsInParallel > MAX_TENANTS_IN_PARALLEL) {
		throw fail(
			'options.tenantsInParallel',
			`Tenants in Parallel must be a whole number from 1 to ${MAX_TENANTS_IN_PARALLEL} (got ${String(options.tenantsInParallel)})`,
		);
	}
	const credentialType = String(options.credentialType ?? '').trim();
	return {
		itemIndex,
		subWorkflowId,
		placeholderId,
		tenantId,
		data: parsed.data,
		options: {
			credentialType: credentialType || undefined,
			retentionMs: Math.round(retention * HOUR_MS),
			testCredential: options.testCredential === true,
			waitTimeoutMs: Math.round(waitTimeout * 1000),
			output,
			saveSuccessfulSubExecutions: options.saveSuccessfulSubExecutions === true,
			passSecretsToSubWorkflow: options.passSecretsToSubWorkflow === true,
			tenantsInParallel,
			allowedFields: commaList(options.allowedFields),
			allowEmptyFields: commaList(options.allowEmptyFields),
			limits,
		},
	};
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
