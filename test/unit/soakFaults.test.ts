/**
 * The soak's fault schedule and its verdict (scripts/lib/faults.js): how `--faults` is read, which
 * stored failure messages count as naming the lock (built from the lock's real errors, so a message
 * that stops naming the lock fails here), and how calls are grouped around the faults.
 */
import { LockLostError, LockStoreUnavailableError, LockTimeoutError } from '../../nodes/shared/lock/errors';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { parseFaultSteps, faultPeriods, lockHoldersOfTimeouts, NAMES_THE_LOCK } = require('../../scripts/lib/faults.js') as {
	lockHoldersOfTimeouts(messages: string[]): Map<string, { waiters: number; since: string; firstLeaseEnd: string; lastLeaseEnd: string }>;
	parseFaultSteps(text: string, forSeconds: number): Array<{ kinds: string[]; seconds: number }>;
	faultPeriods(
		events: Array<{ step: string; atS: number }>,
		answers: Array<{ call: { secret: string }; status: number; ms: number }>,
		answeredAt: Map<string, number>,
		loadStart: number,
	): Array<{ period: string; faults: number; answered: number; failed: number }>;
	NAMES_THE_LOCK: RegExp;
};

describe('soak --faults', () => {
	it('reads steps in turn, a step of several faults at once, and per-step seconds', () => {
		expect(parseFaultSteps('stall,restart:20,restart+api-slow', 10)).toEqual([
			{ kinds: ['stall'], seconds: 10 },
			{ kinds: ['restart'], seconds: 20 },
			{ kinds: ['restart', 'api-slow'], seconds: 10 },
		]);
	});

	it('refuses an unknown fault rather than running the soak without it', () => {
		expect(() => parseFaultSteps('stall,partition', 10)).toThrow(/cannot read "partition"/);
		expect(() => parseFaultSteps('', 10)).toThrow(/at least one step/);
	});

	it("counts the lock's own failure messages as naming the lock", () => {
		const messages = [
			new LockStoreUnavailableError('acquire', new Error('Connection terminated unexpectedly')).message,
			new LockLostError('tenant-swap:base:1').message,
			new LockTimeoutError('tenant-swap:base:1', 60_000, undefined).message,
			'Lease of lock "x" ended before the update could finish',
		];
		for (const message of messages) expect(message).toMatch(NAMES_THE_LOCK);
	});

	it("does not count n8n's or the API's failures as naming the lock", () => {
		for (const message of ['Database is not ready!', 'Error in workflow', 'n8n API: no answer within the request timeout', 'Blocked by policy']) {
			expect(message).not.toMatch(NAMES_THE_LOCK);
		}
	});

	it('groups calls by the fault step whose period they were answered in', () => {
		const t0 = 1_000_000;
		const answer = (secret: string, status: number) => ({ call: { secret }, status, ms: 100 });
		const answers = [answer('a', 200), answer('b', 500), answer('c', 200), answer('d', 200)];
		const at = new Map([
			['a', t0 + 1_000],
			['b', t0 + 12_000],
			['c', t0 + 30_000],
			['d', t0 + 50_000],
		]);
		const events = [
			{ step: 'stall:5', atS: 10 },
			{ step: 'restart:5', atS: 25 },
			{ step: 'stall:5', atS: 40 },
		];
		expect(faultPeriods(events, answers, at, t0).map(({ period, faults, answered, failed }) => ({ period, faults, answered, failed }))).toEqual([
			{ period: 'before the first fault', faults: 0, answered: 1, failed: 0 },
			{ period: 'stall:5', faults: 2, answered: 2, failed: 1 },
			{ period: 'restart:5', faults: 1, answered: 1, failed: 0 },
		]);
	});

	it("reads the holder out of the lock's real timeout message, and how far its lease moved", () => {
		const holder = (leaseEnds: string) => ({
			owner: { executionId: '366', workflowId: 'wf1' },
			token: 't',
			fence: 1,
			acquiredAt: new Date('2026-12-03T13:13:22.628Z'),
			expiresAt: new Date(leaseEnds),
		});
		const messages = [
			new LockTimeoutError('credential:abc', 60_001, holder('2026-12-03T13:15:04.319Z') as never).message,
			new LockTimeoutError('credential:abc', 60_012, holder('2026-12-03T13:16:27.660Z') as never).message,
			new LockStoreUnavailableError('acquire', new Error('Query read timeout')).message,
		];
		expect([...lockHoldersOfTimeouts(messages)]).toEqual([
			['366', { waiters: 2, since: '2026-12-03T13:13:22.628Z', firstLeaseEnd: '2026-12-03T13:15:04.319Z', lastLeaseEnd: '2026-12-03T13:16:27.660Z' }],
		]);
	});
});
