import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { balanceOf, ledgerOf, readCustomer } from '../../lib/ledger/queries';
import { grantSubscriptionInvoice, type SubscriptionGrant } from '../../lib/ledger/subscriptions';
import { tableItems } from '../support/faults';
import { freshTable } from '../support/table';

const ms = (iso: string) => Date.parse(iso);
const PERIOD_START = ms('2026-01-31T10:00:00Z');
/** Processing happens days after the period started: a late delivery must not matter (C4). */
const PROCESSED_AT = ms('2026-02-03T08:00:00Z');

function invoice(customerId: string, invoiceId: string, credits = 500): SubscriptionGrant {
  return {
    customerId,
    invoiceId,
    subscriptionId: `sub_${customerId}`,
    invoiceCreatedMs: PERIOD_START,
    lines: [{ lineId: 'il_1', credits, periodStartMs: PERIOD_START }],
  };
}

describe('Function: grantSubscriptionInvoice', () => {
  let table: Awaited<ReturnType<typeof freshTable>>;
  const deps = () => ({ ...table, clock: () => PROCESSED_AT });

  beforeAll(async () => {
    table = await freshTable('ledger-grant');
  });
  afterAll(async () => table.drop());

  it('C3 C4 grants a lot at the period start that expires 3 calendar months later', async () => {
    // Prepare
    const grant = invoice('cus_g1', 'in_g1');

    // Act
    const result = await grantSubscriptionInvoice(deps(), grant);

    // Assess
    expect(result).toEqual({
      status: 'applied',
      outcome: { result: 'granted', credits: 500, balance: 500 },
    });
    const view = await balanceOf(table, 'cus_g1', PROCESSED_AT);
    expect(view).toEqual({
      customerId: 'cus_g1',
      balance: 500,
      held: 0,
      debt: 0,
      lots: [
        {
          source: 'subscription',
          granted: 500,
          remaining: 500,
          grantedAt: '2026-01-31T10:00:00.000Z',
          expiresAt: '2026-04-30T10:00:00.000Z',
        },
      ],
      upcoming: [],
    });
    const { entries } = await ledgerOf(table, 'cus_g1');
    expect(entries).toEqual([
      {
        type: 'grant',
        amount: 500,
        balanceAfter: 500,
        at: '2026-01-31T10:00:00.000Z',
        ref: 'in_g1',
      },
    ]);
  });

  it('C3 the same invoice twice grants once; the replay is already_applied with the first outcome', async () => {
    // Prepare
    const grant = invoice('cus_g2', 'in_g2');
    const first = await grantSubscriptionInvoice(deps(), grant);
    const itemsAfterFirst = await tableItems(table);

    // Act: replayed later, when the clock (and so the balance) would differ.
    const replay = await grantSubscriptionInvoice(
      { ...table, clock: () => ms('2026-06-01T00:00:00Z') },
      grant,
    );

    // Assess
    expect(replay).toEqual({ status: 'already_applied', outcome: first.outcome });
    expect(await tableItems(table)).toEqual(itemsAfterFirst);
  });

  it('C3 the same invoice with different lines is a conflict: reported, not applied', async () => {
    // Prepare
    await grantSubscriptionInvoice(deps(), invoice('cus_g3', 'in_g3', 500));
    const itemsBefore = await tableItems(table);

    // Act
    const result = await grantSubscriptionInvoice(deps(), invoice('cus_g3', 'in_g3', 900));

    // Assess: the first outcome comes back so the caller can see what was applied.
    expect(result).toEqual({
      status: 'conflict',
      outcome: { result: 'granted', credits: 500, balance: 500 },
    });
    expect(await tableItems(table)).toEqual(itemsBefore);
    expect((await balanceOf(table, 'cus_g3', PROCESSED_AT)).balance).toBe(500);
  });

  it('C2 C3 an invoice with two subscription lines makes two lots and one grant entry', async () => {
    // Prepare
    const grant: SubscriptionGrant = {
      ...invoice('cus_g4', 'in_g4'),
      lines: [
        { lineId: 'il_a', credits: 500, periodStartMs: PERIOD_START },
        { lineId: 'il_b', credits: 200, periodStartMs: PERIOD_START },
      ],
    };

    // Act
    const result = await grantSubscriptionInvoice(deps(), grant);

    // Assess
    expect(result.outcome).toEqual({ result: 'granted', credits: 700, balance: 700 });
    const account = await readCustomer(table, 'cus_g4');
    expect(account.lots.map((lot) => [lot.id, lot.granted]).sort()).toEqual([
      ['in_g4#il_a', 500],
      ['in_g4#il_b', 200],
    ]);
    const { entries } = await ledgerOf(table, 'cus_g4');
    expect(entries.map((entry) => [entry.type, entry.amount, entry.balanceAfter])).toEqual([
      ['grant', 700, 700],
    ]);
  });

  it('C3 C16 the same invoice delivered concurrently five times is granted once', async () => {
    // Prepare
    const grant = invoice('cus_g5', 'in_g5', 100);

    // Act
    const results = await Promise.all(
      Array.from({ length: 5 }, () => grantSubscriptionInvoice(deps(), grant)),
    );

    // Assess
    expect(results.filter((result) => result.status === 'applied')).toHaveLength(1);
    expect(results.filter((result) => result.status === 'already_applied')).toHaveLength(4);
    for (const result of results) {
      expect(result.outcome).toEqual({ result: 'granted', credits: 100, balance: 100 });
    }
    const { entries } = await ledgerOf(table, 'cus_g5');
    expect(entries.map((entry) => entry.amount)).toEqual([100]);
  });

  it('C4 successive monthly invoices accumulate as separate lots with their own expiry', async () => {
    // Prepare
    const january = invoice('cus_g6', 'in_jan', 100);
    const february: SubscriptionGrant = {
      ...invoice('cus_g6', 'in_feb', 100),
      invoiceCreatedMs: ms('2026-02-28T10:00:00Z'),
      lines: [{ lineId: 'il_1', credits: 100, periodStartMs: ms('2026-02-28T10:00:00Z') }],
    };

    // Act
    await grantSubscriptionInvoice(deps(), january);
    await grantSubscriptionInvoice(deps(), february);

    // Assess: balance as of a day where both live, and one after January's lot expired.
    const both = await balanceOf(table, 'cus_g6', ms('2026-03-01T00:00:00Z'));
    const afterJanuary = await balanceOf(table, 'cus_g6', ms('2026-04-30T10:00:00Z'));
    expect(both.lots.map((lot) => lot.expiresAt)).toEqual([
      '2026-04-30T10:00:00.000Z',
      '2026-05-28T10:00:00.000Z',
    ]);
    expect(both.balance).toBe(200);
    expect(afterJanuary.balance).toBe(100);
  });
});
