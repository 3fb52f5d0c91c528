import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bookBalance, newLot } from '../../lib/credits/lots';
import {
  emptyRecord,
  type PurchaseRecord,
  proportionalLoss,
  withReversal,
} from '../../lib/credits/purchase';
import { settleTakeBack } from '../../lib/credits/reversals';
import { type CustomerState, emptyState, stateAfter, totalDebt } from '../../lib/credits/state';
import { ms } from '../support/lots';

const GRANTED_AT = ms('2026-03-01T00:00:00Z');
const PAID = 5000;

/** A customer with one 500-credit purchase of which `spent` credits are gone. */
function customer(spent: number): { state: CustomerState; record: PurchaseRecord } {
  const lot = newLot({
    id: 'in_1#il_1',
    source: 'subscription',
    credits: 500,
    grantedAtMs: GRANTED_AT,
    ref: 'in_1',
  });
  const state = {
    ...emptyState('cus_1'),
    lots: spent < 500 ? [{ ...lot, remaining: 500 - spent }] : [],
  };
  const record: PurchaseRecord = {
    ...emptyRecord('cus_1', 'in_1'),
    granted: {
      credits: 500,
      amountPaid: PAID,
      expiresAtMs: lot.expiresAtMs,
      source: 'subscription',
    },
  };
  return { state, record };
}

type Step = { key: string; amount: number; undo: boolean };

/** Applies the steps one command at a time, as the ledger does: each on the state before it. */
function applyAll(spent: number, steps: readonly Step[]) {
  let { state, record } = customer(spent);
  steps.forEach((step, index) => {
    const atMs = GRANTED_AT + (index + 1) * 60_000;
    const next = withReversal(record, step.key, { ...step, atMs });
    const settled = settleTakeBack(state, next, { entryId: `step#${index}`, atMs });
    if (settled.change) state = stateAfter(state, settled.change);
    record = settled.record;
  });
  return { state, record };
}

describe('Function: settleTakeBack', () => {
  it('C22 takes floor(credits x reversed so far / paid), cumulatively', () => {
    // Act
    const { state, record } = applyAll(0, [
      { key: 'refund#a', amount: 1666, undo: false },
      { key: 'refund#b', amount: 1667, undo: false },
    ]);

    // Assess
    expect(record.lost).toBe(333);
    expect(bookBalance(state.lots)).toBe(167);
  });

  it('C22 C23 the credits lost after every reversal are the same whatever the order (C16)', () => {
    const steps = fc.array(
      fc.record({
        key: fc.constantFrom('refund#a', 'refund#b', 'dispute#c'),
        amount: fc.integer({ min: 1, max: PAID }),
        undo: fc.boolean(),
      }),
      { maxLength: 6 },
    );
    fc.assert(
      fc.property(steps, fc.integer({ min: 0, max: 500 }), (drawn, spent) => {
        // One amount per key, as Stripe's ids have: the first drawn for it.
        const amounts = new Map<string, number>();
        for (const step of drawn) if (!amounts.has(step.key)) amounts.set(step.key, step.amount);
        const all = drawn.map((step) => ({ ...step, amount: amounts.get(step.key) ?? 0 }));
        const forward = applyAll(spent, all);
        const backward = applyAll(spent, [...all].reverse());
        expect(backward.record.lost).toBe(forward.record.lost);
        // C14: what the lots hold less what is owed is the same too.
        const net = (state: CustomerState) => bookBalance(state.lots) - totalDebt(state.facts);
        expect(net(backward.state)).toBe(net(forward.state));
      }),
      { numRuns: 300 },
    );
  });

  it('C23 what was spent becomes debt, and the balance never goes below 0 (C1)', () => {
    // Act
    const { state } = applyAll(120, [{ key: 'refund#a', amount: PAID, undo: false }]);

    // Assess
    expect(bookBalance(state.lots)).toBe(0);
    expect(totalDebt(state.facts)).toBe(120);
  });

  it('C23 an undo cancels its own debt first, then gives the rest back', () => {
    // Act
    const { state } = applyAll(120, [
      { key: 'dispute#c', amount: PAID, undo: false },
      { key: 'dispute#c', amount: PAID, undo: true },
    ]);

    // Assess
    expect(totalDebt(state.facts)).toBe(0);
    expect(bookBalance(state.lots)).toBe(380);
  });

  it('C22 a reversal is never more than what was paid', () => {
    expect(proportionalLoss(500, 9000, PAID)).toBe(500);
    expect(proportionalLoss(500, 1, PAID)).toBe(0);
    expect(proportionalLoss(2 ** 40, 3, 7)).toBe(Math.floor((2 ** 40 * 3) / 7));
  });
});
