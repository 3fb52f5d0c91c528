import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bookBalance } from '../../lib/credits/lots';
import { expireCustomer } from '../../lib/ledger/expiry';
import { balanceOf, ledgerOf, readCustomer } from '../../lib/ledger/queries';
import { consume } from '../../lib/ledger/spending';
import { endSubscription, grantSubscriptionInvoice } from '../../lib/ledger/subscriptions';
import type { StoreDeps } from '../../lib/store/client';
import { tableItems } from '../support/faults';
import { freshTable } from '../support/table';

const ms = (iso: string) => Date.parse(iso);
const JAN = ms('2026-01-15T09:00:00Z');
const FEB = ms('2026-02-15T09:00:00Z');
const MAR = ms('2026-03-15T09:00:00Z');

async function grant(
  deps: StoreDeps,
  customerId: string,
  invoice: { id: string; subscriptionId?: string; credits: number; periodStartMs: number },
) {
  return grantSubscriptionInvoice(
    { ...deps, clock: () => invoice.periodStartMs },
    {
      customerId,
      invoiceId: invoice.id,
      subscriptionId: invoice.subscriptionId ?? `sub_${customerId}`,
      invoiceCreatedMs: invoice.periodStartMs,
      lines: [{ lineId: 'il_1', credits: invoice.credits, periodStartMs: invoice.periodStartMs }],
    },
  );
}

describe('Function: expireCustomer', () => {
  let table: Awaited<ReturnType<typeof freshTable>>;

  beforeAll(async () => {
    table = await freshTable('ledger-expiry');
  });
  afterAll(async () => table.drop());

  it('C6 the balance as of t excludes lots expired at t before the job has run', async () => {
    // Prepare: January's lot expires 15 Apr 09:00.
    await grant(table, 'cus_e1', { id: 'in_jan', credits: 100, periodStartMs: JAN });
    await grant(table, 'cus_e1', { id: 'in_mar', credits: 30, periodStartMs: MAR });

    // Act
    const justBefore = await balanceOf(table, 'cus_e1', ms('2026-04-15T08:59:59.999Z'));
    const atExpiry = await balanceOf(table, 'cus_e1', ms('2026-04-15T09:00:00Z'));

    // Assess
    expect(justBefore.balance).toBe(130);
    expect(atExpiry.balance).toBe(30);
    expect(atExpiry.lots.map((lot) => lot.grantedAt)).toEqual(['2026-03-15T09:00:00.000Z']);
    // Nothing was recorded yet: the ledger still sums to the book balance of 130.
    const { entries } = await ledgerOf(table, 'cus_e1');
    expect(entries.map((entry) => entry.type)).toEqual(['grant', 'grant']);
  });

  it('C6 C14 writes one expiry entry per expired lot; afterwards the ledger sums to the balance', async () => {
    // Prepare: two lots expired by 16 May (one partly spent), one alive.
    await grant(table, 'cus_e2', { id: 'in_jan', credits: 100, periodStartMs: JAN });
    await grant(table, 'cus_e2', { id: 'in_feb', credits: 100, periodStartMs: FEB });
    await grant(table, 'cus_e2', { id: 'in_mar', credits: 100, periodStartMs: MAR });
    await consume(table, { customerId: 'cus_e2', amount: 40, idempotencyKey: 'k', atMs: MAR });
    const atMs = ms('2026-05-16T00:00:00Z');

    // Act
    const result = await expireCustomer(table, 'cus_e2', atMs);

    // Assess
    expect(result).toEqual({ status: 'applied', outcome: { expiredLots: 2, expiredCredits: 160 } });
    const { entries } = await ledgerOf(table, 'cus_e2');
    expect(entries.slice(0, 2)).toEqual([
      {
        type: 'expiry',
        amount: -100,
        balanceAfter: 100,
        at: '2026-05-15T09:00:00.000Z',
        ref: 'in_feb#il_1',
      },
      {
        type: 'expiry',
        amount: -60,
        balanceAfter: 200,
        at: '2026-04-15T09:00:00.000Z',
        ref: 'in_jan#il_1',
      },
    ]);
    const ledgerSum = entries.reduce((sum, entry) => sum + entry.amount, 0);
    expect(ledgerSum).toBe((await balanceOf(table, 'cus_e2', atMs)).balance);
    const stored = await readCustomer(table, 'cus_e2');
    expect(bookBalance(stored.lots)).toBe(100);
    expect(stored.lots.map((lot) => lot.expiresAtMs)).toEqual([ms('2026-06-15T09:00:00Z')]);
  });

  it('C6 a rerun at the same or a later time (with nothing newly expired) writes nothing', async () => {
    // Prepare
    await grant(table, 'cus_e3', { id: 'in_jan', credits: 10, periodStartMs: JAN });
    await grant(table, 'cus_e3', { id: 'in_mar', credits: 10, periodStartMs: MAR });
    await expireCustomer(table, 'cus_e3', ms('2026-05-01T00:00:00Z'));
    const before = await tableItems(table);

    // Act
    const rerun = await expireCustomer(table, 'cus_e3', ms('2026-05-01T00:00:00Z'));
    const later = await expireCustomer(table, 'cus_e3', ms('2026-06-01T00:00:00Z'));
    const concurrent = await Promise.all([
      expireCustomer(table, 'cus_e3', ms('2026-06-02T00:00:00Z')),
      expireCustomer(table, 'cus_e3', ms('2026-06-02T00:00:00Z')),
    ]);

    // Assess
    const nothing = { status: 'refused', outcome: { expiredLots: 0, expiredCredits: 0 } };
    expect(rerun).toEqual(nothing);
    expect(later).toEqual(nothing);
    expect(concurrent).toEqual([nothing, nothing]);
    expect(await tableItems(table)).toEqual(before);
  });

  it('C6 two concurrent runs after an expiry record it once', async () => {
    // Prepare
    await grant(table, 'cus_e4', { id: 'in_jan', credits: 10, periodStartMs: JAN });
    const atMs = ms('2026-05-01T00:00:00Z');

    // Act
    const results = await Promise.all([
      expireCustomer(table, 'cus_e4', atMs),
      expireCustomer(table, 'cus_e4', atMs),
    ]);

    // Assess
    expect(results.map((result) => result.status).sort()).toEqual(['applied', 'refused']);
    const { entries } = await ledgerOf(table, 'cus_e4');
    expect(entries.map((entry) => [entry.type, entry.amount])).toEqual([
      ['expiry', -10],
      ['grant', 10],
    ]);
    // The lot is gone, and with it the customer's entry in the expiry index.
    expect((await readCustomer(table, 'cus_e4')).lots).toEqual([]);
  });

  it('C6 an unknown customer has nothing to expire and nothing is written', async () => {
    // Prepare
    const before = await tableItems(table);

    // Act
    const result = await expireCustomer(table, 'cus_nobody', ms('2026-05-01T00:00:00Z'));

    // Assess
    expect(result.status).toBe('refused');
    expect(await tableItems(table)).toEqual(before);
  });
});

describe('Function: endSubscription', () => {
  let table: Awaited<ReturnType<typeof freshTable>>;

  beforeAll(async () => {
    table = await freshTable('ledger-forfeit');
  });
  afterAll(async () => table.drop());

  it('C7 forfeits every remaining credit granted up to the end, in one entry', async () => {
    // Prepare
    await grant(table, 'cus_f1', { id: 'in_jan', credits: 100, periodStartMs: JAN });
    await grant(table, 'cus_f1', { id: 'in_feb', credits: 100, periodStartMs: FEB });
    await consume(table, { customerId: 'cus_f1', amount: 30, idempotencyKey: 'k', atMs: FEB });
    const endedAtMs = ms('2026-03-01T00:00:00Z');

    // Act
    const result = await endSubscription(table, {
      customerId: 'cus_f1',
      subscriptionId: 'sub_cus_f1',
      endedAtMs,
    });

    // Assess
    expect(result).toEqual({ status: 'applied', outcome: { result: 'ended', forfeited: 170 } });
    expect((await balanceOf(table, 'cus_f1', endedAtMs)).balance).toBe(0);
    const { entries } = await ledgerOf(table, 'cus_f1');
    expect(entries[0]).toEqual({
      type: 'forfeit',
      amount: -170,
      balanceAfter: 0,
      at: '2026-03-01T00:00:00.000Z',
      ref: 'sub_cus_f1',
    });
    // The lots stay, holding nothing, as the record of what the end took.
    const lots = (await readCustomer(table, 'cus_f1')).lots;
    expect(lots.map((lot) => [lot.remaining, lot.forfeit?.by])).toEqual([
      [0, 'sub_cus_f1'],
      [0, 'sub_cus_f1'],
    ]);
  });

  it('C8 credits of a newer subscription granted after the end are kept, whatever the delivery order', async () => {
    // Prepare: the old subscription ended 1 Mar; the new one's first period started 15 Mar.
    const endedAtMs = ms('2026-03-01T00:00:00Z');
    const end = (customerId: string) =>
      endSubscription(table, { customerId, subscriptionId: 'sub_old', endedAtMs });
    const oldGrant = { id: 'in_old', subscriptionId: 'sub_old', credits: 100, periodStartMs: FEB };
    const newGrant = { id: 'in_new', subscriptionId: 'sub_new', credits: 500, periodStartMs: MAR };

    // Act: in order for one customer, the end delivered last for the other.
    await grant(table, 'cus_f2', oldGrant);
    await end('cus_f2');
    await grant(table, 'cus_f2', newGrant);
    await grant(table, 'cus_f3', oldGrant);
    await grant(table, 'cus_f3', newGrant);
    const lateEnd = await end('cus_f3');

    // Assess
    expect(lateEnd.outcome).toEqual({ result: 'ended', forfeited: 100 });
    for (const customerId of ['cus_f2', 'cus_f3']) {
      const view = await balanceOf(table, customerId, MAR);
      expect(view.balance).toBe(500);
      expect(view.lots.map((lot) => lot.grantedAt)).toEqual(['2026-03-15T09:00:00.000Z']);
    }
  });

  it('C8 a late invoice for an ended subscription is recorded and ignored, also on replay', async () => {
    // Prepare
    await grant(table, 'cus_f4', {
      id: 'in_jan',
      subscriptionId: 'sub_x',
      credits: 100,
      periodStartMs: JAN,
    });
    await endSubscription(table, {
      customerId: 'cus_f4',
      subscriptionId: 'sub_x',
      endedAtMs: ms('2026-02-01T00:00:00Z'),
    });
    const late = { id: 'in_feb', subscriptionId: 'sub_x', credits: 100, periodStartMs: FEB };

    // Act
    const first = await grant(table, 'cus_f4', late);
    const afterFirst = await tableItems(table);
    const replay = await grant(table, 'cus_f4', late);

    // Assess
    const ignored = { result: 'ignored', reason: 'subscription_ended' };
    expect(first).toEqual({ status: 'recorded', outcome: ignored });
    expect(replay).toEqual({ status: 'already_applied', outcome: ignored });
    expect(await tableItems(table)).toEqual(afterFirst);
    expect((await balanceOf(table, 'cus_f4', FEB)).balance).toBe(0);
    const { entries } = await ledgerOf(table, 'cus_f4');
    expect(entries.map((entry) => entry.type)).toEqual(['forfeit', 'grant']);
  });

  it('C7 leaves lots already expired at the end to the expiry job, which records them', async () => {
    // Prepare: January's lot expired 15 Apr; the subscription ended 20 Apr.
    await grant(table, 'cus_f5', { id: 'in_jan', credits: 100, periodStartMs: JAN });
    await grant(table, 'cus_f5', { id: 'in_mar', credits: 50, periodStartMs: MAR });
    const endedAtMs = ms('2026-04-20T00:00:00Z');

    // Act
    const ended = await endSubscription(table, {
      customerId: 'cus_f5',
      subscriptionId: 'sub_cus_f5',
      endedAtMs,
    });
    const expired = await expireCustomer(table, 'cus_f5', endedAtMs);

    // Assess
    expect(ended.outcome).toEqual({ result: 'ended', forfeited: 50 });
    expect(expired.outcome).toEqual({ expiredLots: 1, expiredCredits: 100 });
    const { entries } = await ledgerOf(table, 'cus_f5');
    expect(entries.map((entry) => [entry.type, entry.amount, entry.balanceAfter])).toEqual([
      ['expiry', -100, 0],
      ['forfeit', -50, 100],
      ['grant', 50, 150],
      ['grant', 100, 100],
    ]);
  });

  it('C7 the same end delivered twice settles once; a different end time is a conflict', async () => {
    // Prepare
    await grant(table, 'cus_f6', { id: 'in_jan', credits: 100, periodStartMs: JAN });
    const end = { customerId: 'cus_f6', subscriptionId: 'sub_cus_f6', endedAtMs: FEB };
    const first = await endSubscription(table, end);
    const afterFirst = await tableItems(table);

    // Act
    const replay = await endSubscription(table, end);
    const otherTime = await endSubscription(table, { ...end, endedAtMs: MAR });

    // Assess
    expect(first).toEqual({ status: 'applied', outcome: { result: 'ended', forfeited: 100 } });
    expect(replay).toEqual({ status: 'already_applied', outcome: first.outcome });
    expect(otherTime).toEqual({ status: 'conflict', outcome: first.outcome });
    expect(await tableItems(table)).toEqual(afterFirst);
  });

  it('C7 an end with nothing to forfeit writes no ledger entry and reports 0', async () => {
    // Prepare
    await grant(table, 'cus_f7', { id: 'in_jan', credits: 5, periodStartMs: JAN });
    await consume(table, { customerId: 'cus_f7', amount: 5, idempotencyKey: 'k', atMs: JAN });

    // Act
    const result = await endSubscription(table, {
      customerId: 'cus_f7',
      subscriptionId: 'sub_cus_f7',
      endedAtMs: FEB,
    });

    // Assess
    expect(result).toEqual({ status: 'applied', outcome: { result: 'ended', forfeited: 0 } });
    const { entries } = await ledgerOf(table, 'cus_f7');
    expect(entries.map((entry) => entry.type)).toEqual(['consumption', 'grant']);
    const facts = (await readCustomer(table, 'cus_f7')).facts;
    expect(facts.subscriptions.sub_cus_f7?.endedAtMs).toBe(FEB);
  });
});
