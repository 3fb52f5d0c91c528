import { beforeEach, describe, expect, it } from 'vitest';
import { topUpIdPrefix } from '../../lib/credits/changes';
import { reconcileCuts, withDowngrade, withDowngradeFacts } from '../../lib/credits/downgrades';
import type { Lot } from '../../lib/credits/lots';
import {
  type CustomerState,
  changeOf,
  EntryType,
  emptyState,
  stateAfter,
} from '../../lib/credits/state';
import { lot, ms } from '../support/lots';

/**
 * C16 C19: two invoices of one subscription billed at the same instant, delivered in every
 * order, through lib/credits/downgrades.ts as lib/ledger/subscriptions.ts calls it (an
 * invoice's lots are cut by the downgrades waiting for them, then its own prorations, if a
 * downgrade, cancel what is already there).
 */

const SUB = 'sub_1';
const YEAR_END = '2027-01-01T00:00:00Z';
let NOW = ms('2026-06-15T00:00:00Z');

type Invoice = {
  id: string;
  billedAt: string;
  lots: Lot[];
  downgrade?: { credits: number; at: string; before: string };
};

/** `count` months of credits, the first granted at `from` (as monthlyLots names them). */
function months(
  idPrefix: string,
  from: string,
  count: number,
  credits: number,
  billedAt: string,
): Lot[] {
  return Array.from({ length: count }, (_, k) => {
    const grantedAt = new Date(ms(from));
    grantedAt.setUTCMonth(grantedAt.getUTCMonth() + k);
    const id = k === 0 ? idPrefix : `${idPrefix}#${k}`;
    return {
      ...lot(id, grantedAt.toISOString(), credits),
      subscriptionId: SUB,
      upcoming: true as const,
      purchasedAtMs: ms(billedAt),
    };
  });
}

function deliver(state: CustomerState, invoice: Invoice): CustomerState {
  const cut = invoice.downgrade;
  const facts = withDowngrade(state.facts.subscriptions[SUB] ?? {}, {
    invoiceId: invoice.id,
    invoiceCreatedMs: ms(invoice.billedAt),
    ...(cut && {
      proration: { credits: -cut.credits, periodStartMs: ms(cut.at), periodEndMs: ms(cut.before) },
    }),
  });
  const plan = reconcileCuts(state.lots, {
    subscriptionId: SUB,
    facts,
    arriving: invoice.lots,
    entryId: `grant#${invoice.id}#downgrade`,
    nowMs: NOW,
  });
  // As grantLots does: a month granted by now is no longer upcoming.
  const arrivals: Lot[] = plan.arrivals.map(({ upcoming: _upcoming, ...each }) =>
    each.grantedAtMs > NOW ? { ...each, upcoming: true as const } : each,
  );
  const granted = arrivals.filter((each) => !each.upcoming);
  const change = changeOf(state, {
    cancelled: plan.cancelled,
    created: [...plan.created, ...arrivals],
    drafts: [
      ...plan.drafts,
      ...(granted.length > 0
        ? [
            {
              id: `grant#${invoice.id}`,
              type: EntryType.grant,
              amount: granted.reduce((sum, each) => sum + each.granted, 0),
              atMs: NOW,
              ref: invoice.id,
              lots: granted.map((each) => ({ lotId: each.id, amount: each.granted })),
            },
          ]
        : []),
    ],
    facts: {
      ...state.facts,
      subscriptions: { [SUB]: withDowngradeFacts(facts, plan.part(invoice.lots)) },
    },
  });
  return stateAfter(state, change);
}

/** What is left of each lot, and what still waits, once every invoice is delivered. */
function outcome(order: readonly Invoice[]) {
  const start: CustomerState = {
    ...emptyState('cus_1'),
    version: 1,
    facts: { subscriptions: { [SUB]: {} } },
  };
  const end = order.reduce(deliver, start);
  const records = Object.values(end.facts.subscriptions[SUB]?.downgrades ?? {});
  const cut = (each: (typeof records)[number]) =>
    Object.values(each.cuts ?? {}).reduce((sum, credits) => sum + credits, 0);
  return {
    lots: end.lots
      .filter((each) => each.remaining > 0)
      .map((each) => `${each.id} ${each.remaining}`)
      .sort(),
    waiting: records.reduce((sum, each) => sum + each.credits - cut(each), 0),
  };
}

function orders<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) =>
    orders([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}

/** The outcome of every delivery order, which must all be one. */
function everyOrder(invoices: readonly Invoice[]) {
  const outcomes = orders(invoices).map((order) => JSON.stringify(outcome(order)));
  if (new Set(outcomes).size !== 1)
    console.log(
      orders(invoices)
        .map((order, i) => `${order.map((each) => each.id)} ${outcomes[i]}`)
        .join('\n'),
    );
  expect(new Set(outcomes).size).toBe(1);
  return outcome(invoices);
}

const CHANGE = '2026-06-15T00:00:00Z';
/** An annual plan billed on 1 January: July to December, 100 each, are still to come. */
const plan: Invoice = {
  id: 'in_plan',
  billedAt: '2026-01-01T00:00:00Z',
  lots: months('in_plan#il_1', '2026-07-01T00:00:00Z', 6, 100, '2026-01-01T00:00:00Z'),
};

describe('Function: reconcileCuts at the same instant (C16, C19)', () => {
  beforeEach(() => {
    NOW = ms('2026-06-15T00:00:00Z');
  });
  it('C16 C19 a downgrade billed with an upgrade cuts the plan alone, in every order', () => {
    // Prepare: a top-up and a downgrade of 150, both billed on 15 June.
    const upgrade: Invoice = {
      id: 'in_up',
      billedAt: CHANGE,
      lots: months(topUpIdPrefix('in_up'), CHANGE, 7, 20, CHANGE),
    };
    const down: Invoice = {
      id: 'in_down',
      billedAt: CHANGE,
      lots: [],
      downgrade: { credits: 150, at: CHANGE, before: YEAR_END },
    };
    // Act
    const { lots, waiting } = everyOrder([plan, upgrade, down]);
    // Assess: December gone, November halved; the top-up whole.
    expect(lots).toEqual([
      'in_plan#il_1 100',
      'in_plan#il_1#1 100',
      'in_plan#il_1#2 100',
      'in_plan#il_1#3 100',
      'in_plan#il_1#4 50',
      ...Array.from({ length: 7 }, (_, k) => `in_up#proration${k === 0 ? '' : `#${k}`} 20`),
    ]);
    expect(waiting).toBe(0);
  });

  it('C16 C19 two downgrades billed at the same instant cut the same months in every order', () => {
    const down = (id: string, credits: number): Invoice => ({
      id,
      billedAt: CHANGE,
      lots: [],
      downgrade: { credits, at: CHANGE, before: YEAR_END },
    });
    // Act
    const { lots, waiting } = everyOrder([plan, down('in_d1', 100), down('in_d2', 80)]);
    // Assess: 180 latest first.
    expect(lots).toEqual([
      'in_plan#il_1 100',
      'in_plan#il_1#1 100',
      'in_plan#il_1#2 100',
      'in_plan#il_1#3 100',
      'in_plan#il_1#4 20',
    ]);
    expect(waiting).toBe(0);
  });

  it('C16 C19 a renewal billing a downgrade, and two changes billed at once in its second, in every order', () => {
    // Prepare: a top-up billed on 20 June; the renewal of 1 July (July to December, 100 each)
    // bills a downgrade of 60 whose prorations start on 15 June; on 1 July too, a downgrade of
    // 150 and an upgrade (20 a month) billed at once.
    const renewalAt = '2026-07-01T00:00:00Z';
    const topUpAt = '2026-06-20T00:00:00Z';
    const earlier: Invoice = {
      id: 'in_top',
      billedAt: topUpAt,
      lots: months(topUpIdPrefix('in_top'), topUpAt, 1, 100, topUpAt),
    };
    const renewal: Invoice = {
      id: 'in_renewal',
      billedAt: renewalAt,
      lots: months('in_renewal#il_2', renewalAt, 6, 100, renewalAt),
      downgrade: { credits: 60, at: CHANGE, before: renewalAt },
    };
    const down: Invoice = {
      id: 'in_down',
      billedAt: renewalAt,
      lots: [],
      downgrade: { credits: 150, at: renewalAt, before: YEAR_END },
    };
    const upgrade: Invoice = {
      id: 'in_up',
      billedAt: renewalAt,
      lots: months(topUpIdPrefix('in_up'), renewalAt, 6, 20, renewalAt),
    };
    // Act
    const { lots, waiting } = everyOrder([earlier, renewal, down, upgrade]);
    // Assess: the renewal's downgrade cuts the earlier top-up; the change billed in the
    // renewal's second cuts the renewal's months (billed first), never the other's top-up.
    expect(lots).toEqual([
      'in_renewal#il_2 100',
      'in_renewal#il_2#1 100',
      'in_renewal#il_2#2 100',
      'in_renewal#il_2#3 100',
      'in_renewal#il_2#4 50',
      'in_top#proration 40',
      ...Array.from({ length: 6 }, (_, k) => `in_up#proration${k === 0 ? '' : `#${k}`} 20`),
    ]);
    expect(waiting).toBe(0);
  });
});

describe('Function: reconcileCuts, two prorating invoices in Stripe order (C16, C19)', () => {
  const YEAR = '2027-01-01T00:00:00Z';
  const atOnce = (id: string, at: string, credits: number): Invoice => ({
    id,
    billedAt: at,
    lots: [],
    downgrade: { credits, at, before: YEAR },
  });

  it('C16 C19 a downgrade delivered between the two purchases it cuts cuts latest first among both, in every order', () => {
    NOW = ms('2026-06-16T00:00:00Z');
    // Prepare: the plan (July to December, 100 each); a top-up billed on 1 June (30 a month,
    // July to December); a downgrade on 15 June of 250.
    const topUp: Invoice = {
      id: 'in_up',
      billedAt: '2026-06-01T00:00:00Z',
      lots: months(topUpIdPrefix('in_up'), '2026-07-01T00:00:00Z', 6, 30, '2026-06-01T00:00:00Z'),
    };
    // Act
    const { lots, waiting } = everyOrder([plan, topUp, atOnce('in_down', CHANGE, 250)]);
    // Assess: December (130) and November (130) but 10, latest first among both purchases.
    expect(lots).toEqual([
      'in_plan#il_1 100',
      'in_plan#il_1#1 100',
      'in_plan#il_1#2 100',
      'in_plan#il_1#3 100',
      'in_plan#il_1#4 10',
      ...[0, 1, 2, 3].map((k) => `in_up#proration${k === 0 ? '' : `#${k}`} 30`),
    ]);
    expect(waiting).toBe(0);
  });

  it('C16 C19 two downgrades of one period cut the months of Stripe order in every order', () => {
    NOW = ms('2026-09-02T00:00:00Z');
    // Prepare: on 15 June a downgrade of 550, on 1 September one of 300: in Stripe's order the
    // first takes December to August and 50 of July (granted by then); the second finds
    // nothing left after its change.
    const first = atOnce('in_d1', CHANGE, 550);
    const second = atOnce('in_d2', '2026-09-01T00:00:00Z', 300);
    // Act
    const { lots, waiting } = everyOrder([plan, first, second]);
    // Assess
    expect(lots).toEqual(['in_plan#il_1 50']);
    expect(waiting).toBe(300);
  });

  it('C16 C19 a renewal billing a downgrade cuts the latest top-up billed at once in its period, in every order', () => {
    NOW = ms('2026-07-02T00:00:00Z');
    // Prepare: a monthly plan; top-ups billed at once on 15 and 20 June (100 each, granted
    // then); the renewal of 1 July bills a downgrade of 150 whose prorations start on 10 June.
    const topUp = (id: string, at: string): Invoice => ({
      id,
      billedAt: at,
      lots: months(topUpIdPrefix(id), at, 1, 100, at),
    });
    const renewal: Invoice = {
      id: 'in_renewal',
      billedAt: '2026-07-01T00:00:00Z',
      lots: months('in_renewal#il_1', '2026-07-01T00:00:00Z', 1, 100, '2026-07-01T00:00:00Z'),
      downgrade: { credits: 150, at: '2026-06-10T00:00:00Z', before: '2026-07-01T00:00:00Z' },
    };
    // Act
    const { lots, waiting } = everyOrder([
      topUp('in_a', '2026-06-15T00:00:00Z'),
      topUp('in_b', '2026-06-20T00:00:00Z'),
      renewal,
    ]);
    // Assess: the later top-up gone, the earlier halved; the renewal's own month whole.
    expect(lots).toEqual(['in_a#proration 50', 'in_renewal#il_1 100']);
    expect(waiting).toBe(0);
  });
});
