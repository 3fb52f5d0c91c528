import { describe, expect, it } from 'vitest';
import {
  arrivalsAfterEnd,
  reconcileCuts,
  withDowngrade,
  withDowngradeFacts,
} from '../../lib/credits/downgrades';
import { endSubscription } from '../../lib/credits/forfeits';
import type { Lot } from '../../lib/credits/lots';
import {
  type CustomerState,
  emptyState,
  type SubscriptionFacts,
  stateAfter,
} from '../../lib/credits/state';
import { downgradeOn, lot, ms } from '../support/lots';

/** C19 in any delivery order (C16): lib/credits/downgrades.ts as pure functions. */

const SUB = 'sub_1';
const YEAR_END = ms('2027-01-01T00:00:00Z');
const CHANGE = ms('2026-06-15T00:00:00Z');

/** A month of an annual plan billed on `purchasedAt`, not yet granted. */
function month(id: string, grantedAt: string, credits: number, purchasedAt?: string): Lot {
  return {
    ...lot(id, grantedAt, credits),
    subscriptionId: SUB,
    upcoming: true,
    ...(purchasedAt !== undefined && { purchasedAtMs: ms(purchasedAt) }),
  };
}

function stateWith(
  lots: readonly Lot[],
  subscription: CustomerState['facts']['subscriptions'][string] = {},
) {
  return {
    ...emptyState('cus_1'),
    version: 1,
    lots,
    facts: { subscriptions: { [SUB]: subscription } },
  };
}

const request = (invoiceId: string, credits: number, atMs = CHANGE) => ({
  subscriptionId: SUB,
  invoiceId,
  credits,
  atMs,
  beforeMs: YEAR_END,
  billedAtMs: atMs,
  entryId: `grant#${invoiceId}#downgrade`,
  nowMs: CHANGE,
});

/** The subscription's facts with a downgrade of `credits` on CHANGE recorded. */
function recorded(facts: SubscriptionFacts, invoiceId: string, credits: number) {
  return withDowngrade(facts, {
    invoiceId,
    invoiceCreatedMs: CHANGE,
    proration: { credits: -credits, periodStartMs: CHANGE, periodEndMs: YEAR_END },
  });
}

const plan = (facts: SubscriptionFacts, arriving: Lot[]) => ({
  subscriptionId: SUB,
  facts,
  arriving,
  entryId: 'grant#in#downgrade',
  nowMs: CHANGE,
});

describe('Function: reconcileCuts (C7, C16, C19)', () => {
  it('C16 C19 a downgrade cuts what was billed by then, and old lots without a billing time as before', () => {
    // Prepare: the plan's November (billed in January), a later top-up's (billed in August),
    // and a lot stored before lots recorded when they were billed.
    const state = stateWith([
      month('plan', '2026-11-01T00:00:00Z', 100, '2026-01-01T00:00:00Z'),
      month('later', '2026-11-15T00:00:00Z', 100, '2026-08-01T00:00:00Z'),
      month('old', '2026-10-01T00:00:00Z', 100),
    ]);
    // Act
    const { cancelled, cuts } = downgradeOn(state, { ...request('in_down', 150) });
    // Assess: latest first among those billed by the downgrade; the later top-up is left alone.
    expect(cancelled).toBe(150);
    expect(cuts).toEqual([
      ['plan', 100],
      ['old', 50],
    ]);
  });

  it('C16 C19 a renewal billing an earlier change cuts a top-up billed at once before the renewal', () => {
    // Prepare: a top-up billed on 20 Jun, granted then; the renewal of 1 Jul bills a downgrade
    // whose prorations start with a change on 15 Jun.
    const topUp = month('top', '2026-06-20T00:00:00Z', 100, '2026-06-20T00:00:00Z');
    const state = stateWith([topUp]);
    const renewal = { ...request('in_renewal', 60), beforeMs: ms('2026-07-01T00:00:00Z') };
    // Act
    const billedAtRenewal = downgradeOn(state, {
      ...renewal,
      billedAtMs: ms('2026-07-01T00:00:00Z'),
    });
    const billedAtChange = downgradeOn(state, renewal);
    // Assess: billed after the top-up, the downgrade cuts it; billed before, it does not.
    expect(billedAtRenewal.cancelled).toBe(60);
    expect(billedAtChange.cancelled).toBe(0);
  });

  it('C16 C19 what a downgrade could not cancel waits and is cut from the lots that arrive later, latest first', () => {
    // Prepare: nothing of the subscription delivered yet.
    const facts = recorded({}, 'in_down', 150);
    const first = reconcileCuts([], plan(facts, []));
    expect(first.cancelled).toEqual([]);
    expect(first.cutsOf('in_down')).toBe(0);
    // Act: the annual invoice, billed in January, arrives.
    const planned = ['07', '08', '09'].map((m) =>
      month(`m${m}`, `2026-${m}-01T00:00:00Z`, 100, '2026-01-01T00:00:00Z'),
    );
    const arrived = reconcileCuts([], plan(facts, planned));
    // Assess: September gone, August halved; the record says so.
    expect(arrived.arrivals.map((each) => [each.id, each.remaining, each.granted])).toEqual([
      ['m07', 100, 100],
      ['m08', 50, 50],
    ]);
    expect(arrived.part(planned).downgrades?.in_down?.cuts).toEqual({ m08: 50, m09: 100 });
    expect(Object.keys(arrived.part(planned).cutLots ?? {})).toEqual(['m09']);
  });

  it('C16 C19 a cut that Stripe order puts on a purchase delivered later moves there, giving back the month it took', () => {
    // Prepare: the plan's months (billed in January) cut by 150 latest first: September gone.
    const planMonths = ['07', '08', '09'].map((m) =>
      month(`m${m}`, `2026-${m}-01T00:00:00Z`, 100, '2026-01-01T00:00:00Z'),
    );
    const facts = recorded({}, 'in_down', 150);
    const first = reconcileCuts([], plan(facts, planMonths));
    const stored = stateWith(first.arrivals, withDowngradeFacts(facts, first.part(planMonths)));
    // Act: a top-up billed in March (September, 200) arrives after the downgrade.
    const topUp = {
      ...month('up', '2026-09-15T00:00:00Z', 200, '2026-03-01T00:00:00Z'),
      topUp: true as const,
    };
    const after = reconcileCuts(stored.lots, plan(stored.facts.subscriptions[SUB] ?? {}, [topUp]));
    // Assess: the top-up is the latest: it takes the cut; August and September come back whole.
    expect(after.cancelled.map((each) => [each.lot.id, each.amount])).toEqual([['m08', -50]]);
    expect(after.created.map((each) => [each.id, each.remaining])).toEqual([['m09', 100]]);
    expect(after.arrivals.map((each) => [each.id, each.remaining])).toEqual([['up', 50]]);
  });

  it('C7 C16 C19 a downgrade after the end counts what the end cancelled first, and two never count it twice', () => {
    // Prepare: the end on 15 Jul cancels August to October (300); July stays.
    const lots = ['07', '08', '09', '10'].map((m) =>
      month(`m${m}`, `2026-${m}-01T00:00:00Z`, 100, '2026-01-01T00:00:00Z'),
    );
    const before = stateWith(lots, { activeSinceMs: ms('2026-01-01T00:00:00Z') });
    const end = endSubscription(before, {
      id: SUB,
      endedAtMs: ms('2026-07-15T00:00:00Z'),
      entryId: `end#${SUB}`,
    });
    const ended = stateAfter(before, end);
    const facts = ended.facts.subscriptions[SUB] ?? {};
    expect(facts.endCuts?.reduce((sum, cut) => sum + cut.credits, 0)).toBe(300);
    // Act: a downgrade of 250 is covered by the end; a second of 100 cuts 50 of July.
    const both = recorded(recorded(facts, 'in_one', 250), 'in_two', 100);
    const one = reconcileCuts(ended.lots, plan(recorded(facts, 'in_one', 250), []));
    const two = reconcileCuts(ended.lots, plan(both, []));
    // Assess
    expect(one.cancelled).toEqual([]);
    expect(two.cancelled.map((each) => [each.lot.id, each.amount])).toEqual([['m07', 50]]);
    expect(two.cutsOf('in_two')).toBe(50);
  });

  it('C7 C8 C16 C19 an invoice delivered after the end keeps what it would have granted after it for late downgrades', () => {
    // Prepare
    const planned = ['07', '08', '09'].map((m) =>
      month(`m${m}`, `2026-${m}-01T00:00:00Z`, 100, '2026-01-01T00:00:00Z'),
    );
    // Act
    const after = arrivalsAfterEnd({ endedAtMs: ms('2026-07-15T00:00:00Z') }, planned, CHANGE);
    // Assess: August and September are the end's cuts.
    expect(after.endCuts?.map((cut) => cut.credits)).toEqual([100, 100]);
  });

  it('C19 a downgrade whose period ended a lot lifetime ago is no longer kept', () => {
    const facts = recorded({}, 'in_old', 10);
    const later = ms('2027-04-01T00:00:00Z');
    expect(reconcileCuts([], { ...plan(facts, []), nowMs: later }).part([]).downgrades).toEqual({});
    expect(Object.keys(reconcileCuts([], plan(facts, [])).part([]).downgrades ?? {})).toEqual([
      'in_old',
    ]);
  });

  /** The plan's months (billed in January) as a refund at `refundedAt` left them. */
  function refundedMonths(refundedAt: string) {
    const by = (credits: number) => ({ in_plan: { credits, atMs: ms(refundedAt) } });
    const meta = (id: string, grantedAt: string) => ({
      grantedAtMs: ms(grantedAt),
      purchasedAtMs: ms('2026-01-01T00:00:00Z'),
      ref: `in_${id}`,
    });
    const refunded = {
      m08: { ...meta('m08', '2026-08-01T00:00:00Z'), by: by(50) },
      m09: { ...meta('m09', '2026-09-01T00:00:00Z'), by: by(100) },
    };
    const lots = [
      month('m07', '2026-07-01T00:00:00Z', 100, '2026-01-01T00:00:00Z'),
      { ...month('m08', '2026-08-01T00:00:00Z', 100, '2026-01-01T00:00:00Z'), remaining: 50 },
    ];
    return { lots, facts: recorded({ refunded }, 'in_down', 150) };
  }

  it('C16 C19 C22 a downgrade delivered after a refund Stripe made after it cuts what the refund took, and the refund takes it again', () => {
    // Prepare: a refund on 20 Jun, after the downgrade of 15 Jun, took September and half of
    // August.
    const { lots, facts } = refundedMonths('2026-06-20T00:00:00Z');
    // Act
    const change = reconcileCuts(lots, plan(facts, []));
    // Assess: in Stripe's order the cut came first (September, 50 of August) and the refund
    // took the rest of August and 100 elsewhere: August goes, July stays, the refund takes 100.
    expect(change.cancelled.map((each) => [each.lot.id, each.amount])).toEqual([['m08', 50]]);
    expect(change.retakes).toEqual([
      { purchaseId: 'in_plan', credits: 100, atMs: ms('2026-06-20T00:00:00Z') },
    ]);
    const part = change.part([]);
    expect(part.downgrades?.in_down?.cuts).toEqual({ m08: 50, m09: 100 });
    expect(part.refunded?.m09).toBeUndefined();
    expect(part.refunded?.m08?.by).toEqual({
      in_plan: { credits: 50, atMs: ms('2026-06-20T00:00:00Z') },
    });
  });

  it('C16 C19 C22 a downgrade Stripe billed after a refund cuts only what the refund left', () => {
    // Prepare: the same refund on 1 Jun, before the downgrade.
    const { lots, facts } = refundedMonths('2026-06-01T00:00:00Z');
    // Act
    const change = reconcileCuts(lots, plan(facts, []));
    // Assess: the 150 come out of what is left, August's 50 and July's 100; nothing again.
    expect(change.cancelled.map((each) => [each.lot.id, each.amount])).toEqual([
      ['m08', 50],
      ['m07', 100],
    ]);
    expect(change.retakes).toEqual([]);
  });
});
