// n8n's community node rules (@n8n/eslint-plugin-community-nodes, recommended) plus
// eslint-plugin-n8n-nodes-base, as `n8n-node lint` applies them, on top of typescript-eslint.
import eslint from '@eslint/js';
import n8nCommunityNodes from '@n8n/eslint-plugin-community-nodes';
import n8nNodesBase from 'eslint-plugin-n8n-nodes-base';
import tseslint from 'typescript-eslint';

export default tseslint.config(
	{ ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'test/**', 'scripts/**', 'bench/**', 'gulpfile.js', 'index.js', 'jest.config.js'] },
	{
		files: ['**/*.ts'],
		extends: [eslint.configs.recommended, tseslint.configs.recommended],
		rules: { 'prefer-spread': 'off' },
	},
	n8nCommunityNodes.configs.recommended,
	{
		files: ['package.json'],
		plugins: { 'n8n-nodes-base': n8nNodesBase },
		rules: { ...n8nNodesBase.configs.community.rules },
		languageOptions: { parser: tseslint.parser, parserOptions: { extraFileExtensions: ['.json'] } },
	},
	{
		files: ['credentials/**/*.ts'],
		plugins: { 'n8n-nodes-base': n8nNodesBase },
		rules: {
			...n8nNodesBase.configs.credentials.rules,
			'n8n-nodes-base/cred-class-field-documentation-url-miscased': 'off',
		},
	},
	{
		files: ['nodes/**/*.ts'],
		plugins: { 'n8n-nodes-base': n8nNodesBase },
		rules: {
			...n8nNodesBase.configs.nodes.rules,
			'n8n-nodes-base/node-class-description-inputs-wrong-regular-node': 'off',
			'n8n-nodes-base/node-class-description-outputs-wrong': 'off',
			'n8n-nodes-base/node-param-type-options-max-value-present': 'off',
		},
	},
	// Where a rule written for HTTP-only nodes on n8n Cloud cannot hold for a package that must
	// speak to a lock database, it yields here, per file, with the reason. Everything else is clean.
	{
		files: ['package.json'],
		rules: {
			// `pg` and `ioredis` are the lock stores' drivers: a shared lock needs a connection, and
			// the community nodes panel installs runtime dependencies (n8n Cloud does not, so this
			// package is for self-hosted n8n, which is who needs it).
			'@n8n/community-nodes/no-runtime-dependencies': 'off',
		},
	},
	{
		files: [
			'nodes/shared/lock/postgresPool.ts',
			'nodes/shared/lock/postgres/*.ts',
			'nodes/shared/lock/RedisLockEngine.ts',
			'nodes/shared/lock/redis/*.ts',
			'nodes/shared/lock/registry.ts',
		],
		rules: {
			// The lock stores' drivers (pg, ioredis); see package.json above.
			'@n8n/community-nodes/no-restricted-imports': 'off',
		},
	},
	{
		files: ['nodes/shared/lock/waiting.ts', 'nodes/shared/lock/MemoryLockEngine.ts', 'nodes/shared/lock/postgres/statements.ts'],
		rules: {
			// Waiters sleep until the lease ends OR a release wakes them; n8n-workflow's `sleep`
			// cannot be cut short (and 2.40's n8n-workflow has no sleepWithAbort).
			'@n8n/community-nodes/no-restricted-globals': 'off',
		},
	},
	{
		files: ['nodes/shared/lock/registry.ts'],
		rules: {
			// Reads EXECUTIONS_MODE to refuse the in-memory lock in queue mode, where it would not protect anything,
			// and the deployment's Redis replica wait (TENANT_SWAP_REDIS_WAIT_REPLICAS).
			'@n8n/community-nodes/no-restricted-globals': 'off',
		},
	},
	{
		files: ['nodes/shared/lock/**/*.ts', 'nodes/shared/swap/**/*.ts', 'nodes/shared/tenantCredentials/**/*.ts', 'nodes/shared/transport/**/*.ts', 'nodes/shared/tenantOAuth/**/*.ts'],
		rules: {
			// Shared domain code has no node to attach: it throws typed errors (LockTimeoutError,
			// N8nApiError, SwapItemError), which the nodes turn into NodeOperationError per item.
			'@n8n/community-nodes/require-node-api-error': 'off',
		},
	},
	{
		files: [
			'nodes/TenantCredentialSwap/TenantCredentialSwap.node.ts',
			'nodes/TenantLockRelease/TenantLockRelease.node.ts',
			'nodes/RunWithTenantCredential/RunWithTenantCredential.node.ts',
			'nodes/TenantOAuth2Connect/TenantOAuth2Connect.node.ts',
		],
		rules: {
			// The lock database is configured with n8n's own `postgres` credential, on purpose: users
			// already have one, with SSL settings, and must not re-enter database secrets.
			'@n8n/community-nodes/no-credential-reuse': 'off',
			'@n8n/community-nodes/valid-credential-references': 'off',
			'n8n-nodes-base/node-class-description-credentials-name-unsuffixed': 'off',
		},
	},
	{
		files: ['nodes/TenantOAuth2ConnectTrigger/TenantOAuth2ConnectTrigger.node.ts'],
		rules: {
			// The lock database as above; the app is n8n's own generic OAuth2 credential (oAuth2Api), on
			// purpose: the tenant credentials made from it are of that type, which n8n's refresh keeps fresh.
			'@n8n/community-nodes/no-credential-reuse': 'off',
			'@n8n/community-nodes/valid-credential-references': 'off',
			'n8n-nodes-base/node-class-description-credentials-name-unsuffixed': 'off',
			// Its webhooks are its own pages (start, callback): nothing is registered at a third party.
			'@n8n/community-nodes/webhook-lifecycle-complete': 'off',
		},
	},
	{
		files: ['nodes/shared/transport/credentialTest.ts'],
		rules: {
			// Credential test functions get only `helpers.request` from n8n (ICredentialTestFunctions).
			'@n8n/community-nodes/no-deprecated-workflow-functions': 'off',
		},
	},
	{
		files: ['credentials/TenantSwapN8nApi.credentials.ts'],
		rules: {
			// The display name "n8n API (Tenant Swap)" is part of the package's contract and keeps
			// n8n's own spelling of its product name.
			'n8n-nodes-base/cred-class-field-display-name-miscased': 'off',
			'n8n-nodes-base/cred-class-field-display-name-missing-api': 'off',
			// A false positive: `allowUnauthorizedCerts` is a boolean switch, not a secret.
			'@n8n/community-nodes/credential-password-field': 'off',
		},
	},
);
