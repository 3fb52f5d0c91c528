import { describe, expect, it } from 'vitest';
import type { Hold } from '../../lib/credits/hold-change';
import { type CustomerState, emptyState } from '../../lib/credits/state';
import { AuditProblemKind, checkCustomer } from '../../lib/jobs/audit';
import type { LedgerItem } from '../../lib/store/items';
import { lot, ms } from '../support/lots';

/** The audit's C14/C25 checks on holds (lib/jobs/audit.ts), on states built by hand. */
const feb = lot('feb', '2026-02-10T10:00:00Z', 50, 40);
const hold: Hold = {
  id: 'job-1',
  amount: 10,
  parts: [{ lot: { ...feb, remaining: 50 }, amount: 10 }],
  heldAtMs: ms('2026-03-10T12:00:00Z'),
  expiresAtMs: ms('2026-03-10T12:15:00Z'),
};

function entry(type: LedgerItem['type'], amount: number, balanceAfter: number): LedgerItem {
  return {
    pk: 'CUST#cus_1',
    sk: `LEDGER#${type}`,
    type,
    amount,
    balanceAfter,
    at: '2026-03-10T12:00:00.000Z',
    ref: 'job-1',
    lots: [],
  };
}

const granted = entry('grant', 50, 50);
const held = entry('hold', -10, 40);

function state(holds: Hold[]): CustomerState {
  return { ...emptyState('cus_1'), version: 1, lotsVersion: 1, lotCount: 1, lots: [feb], holds };
}

describe('Function: checkCustomer, holds (C14 C25)', () => {
  it('C14 C25 a live hold with its entry is no problem: the ledger is the lots, the holds apart', () => {
    // Act / Assess
    expect(checkCustomer(state([hold]), [granted, held])).toEqual([]);
  });

  it('C25 finds a hold item the ledger does not explain, and one the ledger says has ended', () => {
    // Act
    const unexplained = checkCustomer(state([hold]), [granted]);
    const ended = checkCustomer(state([]), [granted, held]);

    // Assess
    expect(unexplained).toMatchObject([
      { problem: AuditProblemKind.ledgerSumDiffersFromLots, expected: 40, actual: 50 },
      { problem: AuditProblemKind.heldDiffersFromLedger, expected: 0, actual: 10 },
    ]);
    expect(ended).toEqual([
      {
        customerId: 'cus_1',
        problem: AuditProblemKind.heldDiffersFromLedger,
        expected: 10,
        actual: 0,
      },
    ]);
  });

  it('C14 finds a hold whose parts do not add up, or take more than their lot granted', () => {
    // Prepare
    const uneven = { ...hold, parts: [{ lot: feb, amount: 9 }] };
    const tooBig = { ...hold, amount: 60, parts: [{ lot: feb, amount: 60 }] };

    // Act / Assess
    for (const bad of [uneven, tooBig]) {
      const problems = checkCustomer(state([bad]), [granted, { ...held, amount: -bad.amount }]);
      expect(problems.map((each) => [each.problem, each.holdId])).toContainEqual([
        AuditProblemKind.holdOutOfRange,
        'job-1',
      ]);
    }
  });

  it('C14 C25 with `now`, a hold lapsed by then and not yet recorded is reported', () => {
    // Act
    const before = checkCustomer(state([hold]), [granted, held], hold.expiresAtMs - 1);
    const after = checkCustomer(state([hold]), [granted, held], hold.expiresAtMs);

    // Assess
    expect(before).toEqual([]);
    expect(after).toMatchObject([
      { problem: AuditProblemKind.lapsedHoldNotRecorded, holdId: 'job-1', actual: 10 },
    ]);
  });
});
