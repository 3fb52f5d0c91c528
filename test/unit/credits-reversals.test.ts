import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cutAfter, repaidBeforeCuts } from '../../lib/credits/cuts-after';
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

describe('Function: settleTakeBack beside a downgrade billed after the reversal (cuts-after.ts)', () => {
  const DAY = 86_400_000;
  const BILLED = GRANTED_AT + 10 * DAY;
  const month = (id: string, credits: number, at: number, upcoming: boolean) => ({
    ...newLot({
      id,
      source: 'subscription',
      credits: 100,
      grantedAtMs: at,
      ref: 'in_1',
      subscriptionId: 'sub_1',
    }),
    remaining: credits,
    ...(upcoming && { upcoming: true as const }),
  });

  /** March granted (100); April cut from 100 to 40 and May to nothing by `in_down`. */
  function annual(): { state: CustomerState; record: PurchaseRecord } {
    const april = month('in_1#m2', 40, GRANTED_AT + 31 * DAY, true);
    const state: CustomerState = {
      ...emptyState('cus_1'),
      lots: [month('in_1#m1', 100, GRANTED_AT, false), april],
      facts: {
        subscriptions: {
          sub_1: {
            downgrades: {
              in_down: {
                atMs: BILLED,
                billedAtMs: BILLED,
                beforeMs: GRANTED_AT + 365 * DAY,
                credits: 160,
                cuts: { 'in_1#m2': 60, 'in_1#m3': 100 },
              },
            },
            cutLots: { 'in_1#m3': { grantedAtMs: GRANTED_AT + 61 * DAY, ref: 'in_1' } },
          },
        },
      },
    };
    const record: PurchaseRecord = {
      ...emptyRecord('cus_1', 'in_1'),
      granted: {
        credits: 300,
        amountPaid: 3000,
        expiresAtMs: april.expiresAtMs,
        source: 'subscription',
      },
    };
    return { state, record };
  }

  function refunded(amount: number, atMs: number) {
    const { state, record } = annual();
    const next = withReversal(record, 'refund#a', { amount, atMs, undo: false });
    const settled = settleTakeBack(
      state,
      next,
      { entryId: 'refund#a', atMs },
      { maxItems: 80, cutAfter: cutAfter(state.facts, atMs, GRANTED_AT + DAY) },
    );
    return settled.change ? stateAfter(state, settled.change) : state;
  }

  it('C16 C19 C22 a refund Stripe made before the downgrade takes the cut months first, as in Stripe order, and the cut gives them up', () => {
    // Act: half of 300 back, five days in: March (100), then the latest month to come: May,
    // which the downgrade had cut to nothing (50 of its cut become the refund's).
    const after = refunded(1500, GRANTED_AT + 5 * DAY);

    // Assess
    const subscription = after.facts.subscriptions.sub_1;
    expect(after.lots.map((lot) => [lot.id, lot.remaining])).toEqual([['in_1#m2', 40]]);
    expect(subscription?.downgrades?.in_down?.cuts).toEqual({ 'in_1#m2': 60, 'in_1#m3': 50 });
    expect(subscription?.refunded?.['in_1#m3']?.by.in_1?.credits).toBe(50);
    expect(subscription?.refunded?.['in_1#m1']?.by.in_1?.credits).toBe(100);
    expect(totalDebt(after.facts)).toBe(0);
  });

  it('C19 C22 C23 a refund Stripe made after the downgrade finds the months as the cut left them', () => {
    // Act: the same refund, twenty days in: March, April's 40, and 10 owed.
    const after = refunded(1500, GRANTED_AT + 20 * DAY);

    // Assess
    expect(after.lots).toEqual([]);
    expect(after.facts.subscriptions.sub_1?.downgrades?.in_down?.cuts).toEqual({
      'in_1#m2': 60,
      'in_1#m3': 100,
    });
    expect(totalDebt(after.facts)).toBe(10);
  });
});

describe('Function: repaidBeforeCuts', () => {
  const DAY = 86_400_000;
  const BILLED = GRANTED_AT + 10 * DAY;
  const NOW = GRANTED_AT + 12 * DAY;
  const topUpMonth = (n: number) =>
    newLot({
      id: `in_up#m${n}`,
      source: 'subscription',
      credits: 100,
      grantedAtMs: GRANTED_AT + (n - 1) * 31 * DAY,
      ref: 'in_up',
      subscriptionId: 'sub_1',
      purchasedAtMs: GRANTED_AT + DAY,
    });
  const subscription = {
    downgrades: {
      in_down: {
        atMs: BILLED,
        billedAtMs: BILLED,
        beforeMs: GRANTED_AT + 365 * DAY,
        credits: 200,
        cuts: {},
      },
    },
  };
  const owing = (atMs: number) => ({
    subscriptions: { sub_1: subscription },
    debts: { in_1: { credits: 150, atMs } },
  });
  const entry = { id: 'grant#in_up#before-cut', atMs: NOW, ref: 'in_up' };
  const arriving = [topUpMonth(1), topUpMonth(2), topUpMonth(3)];

  it('C19 C22 C23 a debt older than the downgrade is repaid before the cut, as the refund took the months in Stripe order', () => {
    // Act: owed since day 5, the downgrade billed on day 10 cuts the months from April.
    const repaid = repaidBeforeCuts(
      owing(GRANTED_AT + 5 * DAY),
      subscription,
      [],
      arriving,
      entry,
      NOW,
    );

    // Assess: March (granted) first, then the latest month to come, May (50).
    const refunded = repaid?.facts.subscriptions.sub_1?.refunded ?? {};
    expect(
      Object.entries(refunded).map(([lotId, month]) => [lotId, month.by.in_1?.credits]),
    ).toEqual([
      ['in_up#m1', 100],
      ['in_up#m3', 50],
    ]);
    expect(repaid?.facts.debts).toEqual({});
    expect(repaid?.drafts).toMatchObject([{ type: 'debt', amount: 150, debt: -150 }]);
  });

  it('C19 C22 C23 a stored month an earlier downgrade no longer cuts once the months arrive repays the debt first, as the refund took it in Stripe order', () => {
    // Arrange: a downgrade billed on day 3, before the refund, cut the refunded purchase's
    // June to nothing while the top-up was not delivered; latest first, it now cuts the top-up's
    // July instead, and June is free again.
    const june = GRANTED_AT + 62 * DAY;
    const earlier = {
      ...subscription,
      downgrades: {
        ...subscription.downgrades,
        in_down0: {
          atMs: GRANTED_AT + 3 * DAY,
          billedAtMs: GRANTED_AT + 3 * DAY,
          beforeMs: GRANTED_AT + 365 * DAY,
          credits: 100,
          cuts: { 'in_1#m3': 100 },
        },
      },
      cutLots: { 'in_1#m3': { grantedAtMs: june, purchasedAtMs: GRANTED_AT, ref: 'in_1' } },
    };
    const facts = {
      subscriptions: { sub_1: earlier },
      debts: { in_1: { credits: 150, atMs: GRANTED_AT + 5 * DAY } },
    };

    // Act
    const repaid = repaidBeforeCuts(facts, earlier, [], [...arriving, topUpMonth(4)], entry, NOW);

    // Assess: the refunded purchase's own June first (as the refund takes), then the top-up's
    // granted March; the earlier downgrade's record no longer cuts June.
    const after = repaid?.facts.subscriptions.sub_1;
    expect(
      Object.entries(after?.refunded ?? {}).map(([lotId, month]) => [
        lotId,
        month.by.in_1?.credits,
      ]),
    ).toEqual([
      ['in_1#m3', 100],
      ['in_up#m1', 50],
    ]);
    expect(after?.downgrades?.in_down0?.cuts).toEqual({});
    expect(repaid?.facts.debts).toEqual({});
    expect(repaid?.drafts).toMatchObject([{ type: 'debt', amount: 150, debt: -150 }]);
  });

  it('C19 C23 a debt younger than every downgrade is left to the grant: the cut came first', () => {
    // Act
    const repaid = repaidBeforeCuts(
      owing(GRANTED_AT + 11 * DAY),
      subscription,
      [],
      arriving,
      entry,
      NOW,
    );

    // Assess
    expect(repaid).toBeUndefined();
  });
});
