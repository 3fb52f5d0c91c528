import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcileForfeits } from '../../lib/credits/forfeits';
import { releaseHold } from '../../lib/credits/holds';
import type { CustomerState } from '../../lib/credits/state';
import type { LedgerDeps } from '../../lib/ledger/deps';
import { readCustomer } from '../../lib/ledger/queries';
import { endSubscription, grantSubscriptionInvoice } from '../../lib/ledger/subscriptions';
import { defaultBudget } from '../../lib/store/call';
import { changeItems, transact } from '../../lib/store/transact';
import { creditsFunction } from '../support/credits-calls';
import { freshTable } from '../support/table';

/**
 * C7 C8 C16 C25 C26 on DynamoDB Local: credits that come back (a release, a restore) to a lot
 * that the end of sub_old took are kept in that lot's forfeit record, so that when a grant of
 * sub_new (paid for a period started before the end) arrives late and C8 undoes the forfeit,
 * they come back too. Each case runs in Stripe's order (sub_new's grant before the end: the end
 * forfeits nothing) and in the late order; both must end with the same credits.
 */
const ms = (iso: string) => Date.parse(iso);
const PERIOD_START = ms('2026-03-01T00:00:00Z');
const START = ms('2026-03-10T12:00:00Z');
const END = START + 3_600_000;
const MINUTE_MS = 60_000;

type Order = 'stripe' | 'late';
/** What takes the credits out of sub_old's lot before its end, and gives them back after it. */
type Taking = { take: Record<string, unknown>; giveBack: Record<string, unknown> };

describe('Function: credits given back to a forfeited lot (C7 C8 C16 C26)', () => {
  let table: Awaited<ReturnType<typeof freshTable>>;
  let clockMs = START;
  let deps: LedgerDeps;
  let credits: ReturnType<typeof creditsFunction>;

  beforeAll(async () => {
    table = await freshTable('give-back-forfeit');
    deps = { ...table, clock: () => clockMs };
    credits = creditsFunction(() => deps);
  });
  afterAll(async () => table.drop());

  const grant = (customerId: string, subscriptionId: string, credits: number, startMs: number) =>
    grantSubscriptionInvoice(deps, {
      customerId,
      invoiceId: `in_${customerId}_${subscriptionId}`,
      subscriptionId,
      invoiceCreatedMs: startMs,
      lines: [{ lineId: 'il_1', credits, periodStartMs: startMs }],
    });

  /**
   * sub_old grants 100 on 1 March; `taking` takes from its lot; sub_old ends at END; the credits
   * come back a minute later; sub_new's grant of 30 (its period started a day before END)
   * arrives before the end or after everything else.
   */
  async function history(customerId: string, order: Order, taking: Taking) {
    clockMs = PERIOD_START;
    await grant(customerId, 'sub_old', 100, PERIOD_START);
    clockMs = START;
    await credits.call({ customerId, ...taking.take });
    const lateGrant = () => grant(customerId, 'sub_new', 30, END - 24 * 3_600_000);
    if (order === 'stripe') {
      clockMs = START + MINUTE_MS;
      await lateGrant();
    }
    clockMs = END;
    await endSubscription(deps, { customerId, subscriptionId: 'sub_old', endedAtMs: END });
    clockMs = END + MINUTE_MS;
    const given = await credits.call({ customerId, ...taking.giveBack });
    if (order === 'late') {
      clockMs = END + 2 * MINUTE_MS;
      await lateGrant();
    }
    const balance = await credits.call({ action: 'balance', customerId });
    const state = await readCustomer(table, customerId);
    const audit = await credits.call({ action: 'audit', customerId });
    const { entries } = (await credits.call({ action: 'ledger', customerId, limit: 100 })) as {
      entries: { amount: number }[];
    };
    const ledgerSum = entries.reduce((sum, entry) => sum + entry.amount, 0);
    const oldLot = state.lots.find((lot) => lot.id.includes('sub_old'));
    return { given, balance: balance.balance, oldLot, audit, ledgerSum };
  }

  const hold = (amount: number): Taking => ({
    take: { action: 'reserve', holdId: 'job-1', amount, ttlSeconds: 7200 },
    giveBack: { action: 'release', holdId: 'job-1' },
  });
  const consumption: Taking = {
    take: { action: 'consume', amount: 40, idempotencyKey: 'img-1' },
    giveBack: { action: 'restore', idempotencyKey: 'img-1', restoreKey: 'r1' },
  };

  for (const order of ['stripe', 'late'] as const) {
    it(`C7 C8 C16 C25 a hold of 40 released after sub_old's end comes back when sub_new was active at it (${order} order)`, async () => {
      // Act
      const seen = await history(`cus_h_${order}`, order, hold(40));

      // Assess: in the late order the release finds the lot forfeited; undoing it gives all back.
      expect(seen.given).toMatchObject({ ok: true, released: order === 'stripe' ? 40 : 0 });
      expect(seen.balance).toBe(130);
      expect(seen.oldLot).toMatchObject({ remaining: 100 });
      expect(seen.oldLot?.forfeit).toBeUndefined();
      expect(seen.ledgerSum).toBe(130);
      expect(seen.audit).toEqual({ checked: 1, problems: [] });
    });

    it(`C7 C8 C16 C25 a hold that drained sub_old's lot, released after its end, comes back when sub_new was active at it (${order} order)`, async () => {
      // Act: the hold takes the whole lot, so the lot is deleted and the end finds nothing.
      const seen = await history(`cus_d_${order}`, order, hold(100));

      // Assess
      expect(seen.given).toMatchObject({ ok: true, released: order === 'stripe' ? 100 : 0 });
      expect(seen.balance).toBe(130);
      expect(seen.oldLot).toMatchObject({ granted: 100, remaining: 100 });
      expect(seen.oldLot?.forfeit).toBeUndefined();
      expect(seen.ledgerSum).toBe(130);
      expect(seen.audit).toEqual({ checked: 1, problems: [] });
    });

    it(`C7 C8 C16 C26 a consumption restored after sub_old's end comes back when sub_new was active at it (${order} order)`, async () => {
      // Act
      const seen = await history(`cus_c_${order}`, order, consumption);

      // Assess
      expect(seen.given).toMatchObject({ ok: true, restored: order === 'stripe' ? 40 : 0 });
      expect(seen.balance).toBe(130);
      expect(seen.oldLot).toMatchObject({ remaining: 100 });
      expect(seen.ledgerSum).toBe(130);
      expect(seen.audit).toEqual({ checked: 1, problems: [] });
    });
  }

  /** sub_old's lot, 60 of it forfeited and 40 in a hold, as read; and that read with sub_new known. */
  async function forfeitedWithHold(customerId: string) {
    clockMs = PERIOD_START;
    await grant(customerId, 'sub_old', 100, PERIOD_START);
    clockMs = START;
    await credits.call({ customerId, ...hold(40).take });
    clockMs = END;
    await endSubscription(deps, { customerId, subscriptionId: 'sub_old', endedAtMs: END });
    clockMs = END + MINUTE_MS;
    const read = await readCustomer(table, customerId);
    const subscriptions = {
      ...read.facts.subscriptions,
      sub_new: { activeSinceMs: END - 24 * 3_600_000 },
    };
    const known: CustomerState = { ...read, facts: { ...read.facts, subscriptions } };
    return { read, known };
  }

  it('C7 C8 C16 an unforfeit decided before a release grew the forfeit record loses the race, and is decided again', async () => {
    // Prepare: the forfeit is undone on a read of 60; the release adds 40 to the record first.
    const customerId = 'cus_race_u';
    const { known } = await forfeitedWithHold(customerId);
    const unforfeit = reconcileForfeits(known, END + MINUTE_MS).change;
    if (!unforfeit) throw new Error('nothing to undo');
    await credits.call({ customerId, ...hold(40).giveBack });

    // Act
    const written = await transact(table, changeItems(table, known, unforfeit), defaultBudget());

    // Assess: written, it would give back 60 of the record's 100.
    expect(written.kind).toBe('lost');
    const lot = (await readCustomer(table, customerId)).lots[0];
    expect([lot?.remaining, lot?.forfeit]).toEqual([0, { by: 'sub_old', credits: 100 }]);
  });

  it('C7 C8 C16 a release decided before an unforfeit gave the lot back loses the race, and is decided again', async () => {
    // Prepare: the release is decided on the forfeited record; sub_new's grant, undoing the
    // forfeit, is written first.
    const customerId = 'cus_race_r';
    const { read } = await forfeitedWithHold(customerId);
    const released = releaseHold(read, { holdId: 'job-1', atMs: END + MINUTE_MS });
    if (released.kind !== 'released') throw new Error(released.kind);
    await grant(customerId, 'sub_new', 30, END - 24 * 3_600_000);

    // Act
    const written = await transact(
      table,
      changeItems(table, read, released.change),
      defaultBudget(),
    );

    // Assess: written, the 40 would go into a record that no longer exists.
    expect(written.kind).toBe('lost');
    const oldLot = async () =>
      (await readCustomer(table, customerId)).lots.find((lot) => lot.id.includes('sub_old'));
    const lot = await oldLot();
    expect([lot?.remaining, lot?.forfeit]).toEqual([60, undefined]);
    const again = await credits.call({ customerId, ...hold(40).giveBack });
    expect(again).toMatchObject({ ok: true, balance: 130, released: 40 });
    expect((await oldLot())?.remaining).toBe(100);
  });

  it('C7 C26 with no later grant, the credits given back stay gone: the record holds them, the balance does not', async () => {
    // Act
    const customerId = 'cus_gone';
    clockMs = PERIOD_START;
    await grant(customerId, 'sub_old', 100, PERIOD_START);
    clockMs = START;
    await credits.call({ customerId, ...hold(40).take });
    clockMs = END;
    const ended = await endSubscription(deps, {
      customerId,
      subscriptionId: 'sub_old',
      endedAtMs: END,
    });
    clockMs = END + MINUTE_MS;
    const released = await credits.call({ customerId, ...hold(40).giveBack });
    const balance = await credits.call({ action: 'balance', customerId });
    const state = await readCustomer(table, customerId);

    // Assess
    expect(ended.outcome).toEqual({ result: 'ended', forfeited: 60 });
    expect(released).toEqual({ ok: true, balance: 0, released: 0 });
    expect(balance).toMatchObject({ balance: 0 });
    expect(state.lots.map((lot) => [lot.remaining, lot.forfeit])).toEqual([
      [0, { by: 'sub_old', credits: 100 }],
    ]);
    expect(await credits.call({ action: 'audit', customerId })).toEqual({
      checked: 1,
      problems: [],
    });
  });
});
