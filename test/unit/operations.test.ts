/**
 * Run With Tenant Credential's two operations (issue 18, offboarding): Run Sub-Workflow (the default,
 * every existing parameter) and Offboard Tenant (Tenant ID, the lock backend and its table, Wait
 * Timeout). The two share the n8n API credential and the lock settings, so an offboarding finds the
 * registry the runs use when the node is copied and switched.
 */
import { runWithTenantProperties } from '../../nodes/RunWithTenantCredential/description';

const shownFor = (operation: string) =>
	runWithTenantProperties.filter((property) => {
		const show = property.displayOptions?.show?.operation as string[] | undefined;
		return property.name !== 'operation' && (show === undefined || show.includes(operation));
	});

describe('operations', () => {
	it('defaults to Run Sub-Workflow, so existing workflows keep running as before', () => {
		const operation = runWithTenantProperties.find((property) => property.name === 'operation');
		expect(operation).toMatchObject({ type: 'options', default: 'runSubWorkflow', noDataExpression: true });
		expect(runWithTenantProperties[0]).toBe(operation);
	});

	it('Offboard Tenant shows only Tenant ID, the lock backend, a notice and its options (Wait Timeout and the lock table)', () => {
		const offboard = shownFor('offboardTenant');
		expect(offboard.map((property) => property.name)).toEqual(['tenantId', 'lockBackend', 'offboardNotice', 'options']);
		const options = offboard.find((property) => property.name === 'options')?.options?.map((option) => ('name' in option ? option.name : ''));
		expect(options).toEqual(expect.arrayContaining(['waitTimeout', 'lockTable']));
	});

	it('Run Sub-Workflow shows every parameter it had, and none of the offboarding ones', () => {
		const names = shownFor('runSubWorkflow').map((property) => property.name);
		expect(names).toEqual(expect.arrayContaining(['subWorkflow', 'tenantId', 'credentialData', 'lockBackend', 'options']));
		expect(names).not.toContain('offboardNotice');
		const options = shownFor('runSubWorkflow').filter((property) => property.name === 'options');
		expect(options).toHaveLength(1);
		expect(options[0].options?.map((option) => ('name' in option ? option.name : ''))).toContain('retention');
	});
});
