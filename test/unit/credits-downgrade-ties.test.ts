import { describe, expect, it } from 'vitest';
import { topUpIdPrefix } from '../../lib/credits/changes';
import { arrivalOf, downgrade, withDowngradeFacts } from '../../lib/credits/downgrades';
import type { Lot } from '../../lib/credits/lots';
import { type CustomerState, emptyState, stateAfter } from '../../lib/credits/state';
import { lot, ms } from '../support/lots';

/**
 * C16 C19: two invoices of one subscription billed at the same instant, delivered in every
 * order, through lib/credits/downgrades.ts as lib/ledger/subscriptions.ts calls it (an
 * invoice's lots are cut by the downgrades waiting for them, then its own prorations, if a
 * downgrade, cancel what is already there).
 */

const SUB = 'sub_1';
const YEAR_END = '2027-01-01T00:00:00Z';
const NOW = ms('2026-06-15T00:00:00Z');

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
  const facts = state.facts.subscriptions[SUB] ?? {};
  const arrival = arrivalOf(facts, invoice.lots, NOW);
  const arrived = withDowngradeFacts(facts, arrival.part);
  const cut = invoice.downgrade;
  const down = cut
    ? downgrade(
        state,
        {
          subscriptionId: SUB,
          invoiceId: invoice.id,
          credits: cut.credits,
          atMs: ms(cut.at),
          beforeMs: ms(cut.before),
          billedAtMs: ms(invoice.billedAt),
          entryId: `grant#${invoice.id}#downgrade`,
          nowMs: NOW,
        },
        arrived,
      )
    : undefined;
  const after = down?.change ? stateAfter(state, down.change) : state;
  const subscription = down ? withDowngradeFacts(arrived, down.facts) : arrived;
  return {
    ...after,
    lots: [...after.lots, ...arrival.lots],
    facts: { ...after.facts, subscriptions: { [SUB]: subscription } },
  };
}

/** What is left of each lot, and what still waits, once every invoice is delivered. */
function outcome(order: readonly Invoice[]) {
  const start: CustomerState = {
    ...emptyState('cus_1'),
    version: 1,
    facts: { subscriptions: { [SUB]: {} } },
  };
  const end = order.reduce(deliver, start);
  const waiting = Object.values(end.facts.subscriptions[SUB]?.downgrades ?? {});
  return {
    lots: end.lots
      .filter((each) => each.remaining > 0)
      .map((each) => `${each.id} ${each.remaining}`)
      .sort(),
    waiting: waiting.reduce((sum, each) => sum + each.credits, 0),
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

describe('Function: downgrade, arrivalOf at the same instant (C16, C19)', () => {
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
