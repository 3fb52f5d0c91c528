import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bookBalance } from '../../lib/credits/lots';
import { audit } from '../../lib/jobs/audit';
import { runRollover } from '../../lib/jobs/rollover';
import type { LedgerDeps } from '../../lib/ledger/deps';
import { expireCustomer } from '../../lib/ledger/expiry';
import { balanceOf, ledgerOf, readCustomer } from '../../lib/ledger/queries';
import { reverse } from '../../lib/ledger/reversals';
import { endSubscription, grantSubscriptionInvoice } from '../../lib/ledger/subscriptions';
import { capturingLogger } from '../../lib/log';
import { wholeLedger } from '../../lib/store/ledger';
import { creditsFunction } from '../support/credits-calls';
import { freshTable } from '../support/table';

type Table = Awaited<ReturnType<typeof freshTable>>;

const start = Date.parse('2026-01-15T00:00:00Z');
const afterExpiry = Date.parse('2026-05-01T00:00:00Z');

describe('Limits of one DynamoDB transaction', () => {
  let table: Table;
  beforeAll(async () => {
    table = await freshTable('limits');
  });
  afterAll(async () => table.drop());

  it('C6 reclaims 120 expired lots, more than one transaction holds, in batches with one entry each', async () => {
    // Prepare: one invoice with 120 lines is 120 lots.
    const lines = Array.from({ length: 120 }, (_, i) => ({
      lineId: `il_${String(i).padStart(3, '0')}`,
      credits: 2,
      periodStartMs: start + i * 1000,
    }));
    await grantSubscriptionInvoice(table, {
      customerId: 'cus_many',
      invoiceId: 'in_many',
      subscriptionId: 'sub_many',
      invoiceCreatedMs: start,
      lines,
    });
    // Act
    const dryRun = await expireCustomer(table, 'cus_many', afterExpiry, { dryRun: true });
    const result = await expireCustomer(table, 'cus_many', afterExpiry);
    const rerun = await expireCustomer(table, 'cus_many', afterExpiry);
    // Assess
    expect(dryRun.outcome).toEqual({ expiredLots: 120, expiredCredits: 240 });
    expect(result.outcome).toEqual({ expiredLots: 120, expiredCredits: 240 });
    expect(rerun.outcome).toEqual({ expiredLots: 0, expiredCredits: 0 });
    expect((await readCustomer(table, 'cus_many')).lots).toEqual([]);
    expect((await balanceOf(table, 'cus_many', afterExpiry)).balance).toBe(0);
    const ledger = await ledgerOf(table, 'cus_many', { limit: 1000 });
    expect(ledger.entries.filter((entry) => entry.type === 'expiry')).toHaveLength(120);
    expect(ledger.entries[0]?.balanceAfter).toBe(0);
  });
});

const YEAR_START = Date.parse('2026-01-01T00:00:00Z');
/** 10 Dec: the months from February to December have come due (Feb to Sep expired since). */
const DECEMBER = Date.parse('2026-12-10T00:00:00Z');

/**
 * C20: a customer with `plans` annual plans of 100 credits a month from 1 Jan 2026, each its
 * own subscription, and nothing written since their first invoices: by DECEMBER, per plan, 8
 * months have come due and expired unrecorded, and 3 are due and alive, unrecorded too.
 */
async function unrecordedYear(table: Table, customerId: string, plans: number) {
  const deps = { ...table, clock: () => YEAR_START };
  for (let plan = 1; plan <= plans; plan++) {
    const granted = await grantSubscriptionInvoice(deps, {
      customerId,
      invoiceId: `in_${customerId}_${plan}`,
      subscriptionId: `sub_${customerId}_${plan}`,
      invoiceCreatedMs: YEAR_START,
      lines: [{ lineId: 'il_1', credits: 100, periodStartMs: YEAR_START, months: 12 }],
    });
    expect(granted.status).toBe('applied');
  }
}

/**
 * C14: the ledger's sum is what the lots hold and the audit finds nothing wrong; each month
 * entered the ledger once, however many transactions recorded the months.
 */
async function ledgerOfLots(table: Table, customerId: string) {
  const entries = await wholeLedger(table, customerId);
  const sum = entries.reduce((total, entry) => total + entry.amount, 0);
  expect(sum).toBe(bookBalance((await readCustomer(table, customerId)).lots));
  expect((await audit(table, { customerId })).problems).toEqual([]);
  const releases = entries.filter((entry) => entry.id?.startsWith('release#'));
  expect(new Set(releases.map((entry) => entry.id)).size).toBe(releases.length);
  return { sum, releases: releases.length };
}

// 3 plans: 9 months due and alive, 24 expired unrecorded; 12 plans: 36 and 96, more than one
// transaction holds either way (a month recorded is its lot, its due marker and an entry).
describe.each([3, 12])(
  'Limits of one DynamoDB transaction: %i annual plans, a year unrecorded (C20)',
  (plans) => {
    let table: Table;
    let deps: LedgerDeps;
    let credits: ReturnType<typeof creditsFunction>;
    beforeAll(async () => {
      table = await freshTable('limits-due');
      deps = { ...table, clock: () => DECEMBER };
      credits = creditsFunction(() => deps);
    });
    afterAll(async () => table.drop());

    it('C5 C15 a spend records the months come due, then takes from them', async () => {
      // Prepare
      await unrecordedYear(table, 'cus_spend', plans);
      // Act
      const spent = await credits.call({
        action: 'consume',
        customerId: 'cus_spend',
        amount: 150,
        idempotencyKey: 'img-1',
      });
      // Assess: alive are October to December, 300 a plan; January's lot awaits the job.
      expect(spent).toEqual({ ok: true, balance: plans * 300 - 150 });
      expect(await ledgerOfLots(table, 'cus_spend')).toEqual({
        sum: plans * 400 - 150,
        releases: plans * 3,
      });
    });

    it('C3 a grant records the months come due, then grants', async () => {
      // Prepare
      await unrecordedYear(table, 'cus_grant', plans);
      // Act
      const granted = await grantSubscriptionInvoice(deps, {
        customerId: 'cus_grant',
        invoiceId: 'in_cus_grant_monthly',
        subscriptionId: 'sub_cus_grant_monthly',
        invoiceCreatedMs: DECEMBER,
        lines: [{ lineId: 'il_1', credits: 50, periodStartMs: DECEMBER }],
      });
      // Assess
      expect(granted.status).toBe('applied');
      expect(granted.outcome).toMatchObject({ result: 'granted', balance: plans * 300 + 50 });
      expect(await ledgerOfLots(table, 'cus_grant')).toEqual({
        sum: plans * 400 + 50,
        releases: plans * 3,
      });
    });

    it('C25 a hold through the credits function records the months come due, then holds', async () => {
      // Prepare
      await unrecordedYear(table, 'cus_hold', plans);
      // Act
      const held = await credits.call({
        action: 'reserve',
        customerId: 'cus_hold',
        amount: 250,
        holdId: 'job-1',
      });
      // Assess
      expect(held).toMatchObject({ ok: true, held: 250, balance: plans * 300 - 250 });
      expect(await ledgerOfLots(table, 'cus_hold')).toEqual({
        sum: plans * 400 - 250,
        releases: plans * 3,
      });
    });

    it('C6 the expiry job reclaims the months expired unrecorded and records the due ones', async () => {
      // Prepare: a table of its own, so that the job finds this customer alone.
      const own = await freshTable('limits-due-job');
      try {
        await unrecordedYear(own, 'cus_expiry', plans);
        // Act
        const report = await runRollover(own, {
          nowMs: DECEMBER,
          logger: capturingLogger().logger,
        });
        // Assess: January's lot and February to September's, each 100, in every plan.
        expect(report).toMatchObject({ errors: 0, expiredLots: plans * 9, complete: true });
        expect(report.expiredCredits).toBe(plans * 900);
        expect(await ledgerOfLots(own, 'cus_expiry')).toEqual({
          sum: plans * 300,
          releases: plans * 11,
        });
        expect((await balanceOf(own, 'cus_expiry', DECEMBER)).balance).toBe(plans * 300);
      } finally {
        await own.drop();
      }
    });

    it('C15 C16 two spends at once both record the months come due, once, and both take', async () => {
      // Prepare
      await unrecordedYear(table, 'cus_both', plans);
      // Act
      const [first, second] = await Promise.all(
        ['img-a', 'img-b'].map((key) =>
          credits.call({
            action: 'consume',
            customerId: 'cus_both',
            amount: 120,
            idempotencyKey: key,
          }),
        ),
      );
      // Assess
      expect(first).toMatchObject({ ok: true });
      expect(second).toMatchObject({ ok: true });
      expect((await balanceOf(table, 'cus_both', DECEMBER)).balance).toBe(plans * 300 - 240);
      expect(await ledgerOfLots(table, 'cus_both')).toEqual({
        sum: plans * 400 - 240,
        releases: plans * 3,
      });
    });
  },
);

describe('Limits of one DynamoDB transaction: the end of an annual plan of twelve prices', () => {
  let table: Table;
  beforeAll(async () => {
    table = await freshTable('limits-end');
  });
  afterAll(async () => table.drop());

  /** One subscription of 12 annual prices, 10 credits a month each: 144 monthly lots. */
  async function twelvePrices(customerId: string, clockMs = YEAR_START) {
    const lines = Array.from({ length: 12 }, (_, i) => ({
      lineId: `il_${String(i).padStart(2, '0')}`,
      credits: 10,
      periodStartMs: YEAR_START,
      months: 12,
    }));
    const granted = await grantSubscriptionInvoice(
      { ...table, clock: () => clockMs },
      {
        customerId,
        invoiceId: `in_${customerId}`,
        subscriptionId: `sub_${customerId}`,
        invoiceCreatedMs: YEAR_START,
        lines,
        amountPaid: 120_000,
      },
    );
    expect(granted.status).toBe('applied');
  }

  const FEBRUARY = Date.parse('2026-02-10T00:00:00Z');
  const end = (customerId: string) =>
    endSubscription(
      { ...table, clock: () => FEBRUARY },
      { customerId, subscriptionId: `sub_${customerId}`, endedAtMs: FEBRUARY },
    );

  it('C7 C20 cancels the 120 months to come over several transactions and forfeits the two granted', async () => {
    // Prepare: January and February are granted (February comes due on the end's run).
    await twelvePrices('cus_end');
    // Act: 120 lots to cancel are 240 items, more than two transactions hold.
    const ended = await end('cus_end');
    // Assess
    expect(ended.status).toBe('applied');
    expect(ended.outcome).toEqual({ result: 'ended', forfeited: 240 });
    const balance = await balanceOf(table, 'cus_end', FEBRUARY);
    expect(balance.balance).toBe(0);
    expect(balance.upcoming).toEqual([]);
    expect(await ledgerOfLots(table, 'cus_end')).toEqual({ sum: 0, releases: 12 });
    expect((await end('cus_end')).status).toBe('already_applied');
  });

  const downgrade = (customerId: string) =>
    grantSubscriptionInvoice(
      { ...table, clock: () => FEBRUARY },
      {
        customerId,
        invoiceId: `in_${customerId}_down`,
        subscriptionId: `sub_${customerId}`,
        invoiceCreatedMs: FEBRUARY,
        billingReason: 'subscription_update',
        lines: [],
        proration: {
          credits: -600,
          periodStartMs: FEBRUARY,
          periodEndMs: Date.parse('2027-01-01T00:00:00Z'),
          months: 11,
        },
      },
    );

  it('C19 C20 a downgrade cutting 60 months to come cuts them over several transactions, latest first', async () => {
    // Prepare
    await twelvePrices('cus_down');
    // Act: 600 credits are the last five months of all twelve prices, 60 lots.
    const cut = await downgrade('cus_down');
    // Assess
    expect(cut.status).toBe('applied');
    expect(cut.outcome).toMatchObject({ result: 'granted', credits: 0, cancelled: 600 });
    const balance = await balanceOf(table, 'cus_down', FEBRUARY);
    expect(balance.balance).toBe(240);
    const months = balance.upcoming.map((lot) => lot.grantedAt.slice(0, 7));
    expect(new Set(months)).toEqual(
      new Set(['2026-03', '2026-04', '2026-05', '2026-06', '2026-07']),
    );
    expect(balance.upcoming.reduce((sum, lot) => sum + lot.granted, 0)).toBe(600);
    const facts = (await readCustomer(table, 'cus_down')).facts.subscriptions.sub_cus_down;
    // C16: the downgrade's record keeps what it cut (60 months, cut to nothing), for later plans.
    const cuts = Object.values(facts?.downgrades?.in_cus_down_down?.cuts ?? {});
    expect(cuts.length).toBe(60);
    expect(cuts.reduce((sum, credits) => sum + credits, 0)).toBe(600);
    expect(Object.keys(facts?.cutLots ?? {}).length).toBe(60);
    expect((await downgrade('cus_down')).status).toBe('already_applied');
    expect(await ledgerOfLots(table, 'cus_down')).toEqual({ sum: 240, releases: 12 });
  });

  it('C16 C19 C20 that downgrade delivered before the plan, then a top-up billed before it: the cuts move, over several transactions', async () => {
    // Prepare: the downgrade waits; the plan's 144 months arrive cut, in several transactions.
    expect((await downgrade('cus_moves')).status).toBe('applied');
    await twelvePrices('cus_moves', FEBRUARY);
    const cutOnArrival = await balanceOf(table, 'cus_moves', FEBRUARY);
    expect(cutOnArrival.upcoming.reduce((sum, lot) => sum + lot.granted, 0)).toBe(600);
    // Act: a top-up billed on 15 January (December, 600) arrives: in Stripe's order the
    // downgrade cut it first, the latest month, so the plan's 60 months cut come back.
    const topUp = await grantSubscriptionInvoice(
      { ...table, clock: () => FEBRUARY },
      {
        customerId: 'cus_moves',
        invoiceId: 'in_cus_moves_up',
        subscriptionId: 'sub_cus_moves',
        invoiceCreatedMs: Date.parse('2026-01-15T00:00:00Z'),
        billingReason: 'subscription_update',
        lines: [],
        proration: {
          credits: 600,
          periodStartMs: Date.parse('2026-12-01T00:00:00Z'),
          periodEndMs: Date.parse('2027-01-01T00:00:00Z'),
          months: 1,
        },
      },
    );
    // Assess
    expect(topUp.status).toBe('applied');
    const balance = await balanceOf(table, 'cus_moves', FEBRUARY);
    expect(balance.upcoming.reduce((sum, lot) => sum + lot.granted, 0)).toBe(1200);
    expect(balance.upcoming.filter((lot) => lot.grantedAt.startsWith('2026-12'))).toHaveLength(12);
    // January and February were granted with the plan (its clock is February), not released.
    expect(await ledgerOfLots(table, 'cus_moves')).toEqual({ sum: 240, releases: 0 });
  });

  it('C19 C16 two deliveries of that downgrade at once cut it once', async () => {
    // Prepare
    await twelvePrices('cus_down_twice');
    // Act
    const both = await Promise.all([downgrade('cus_down_twice'), downgrade('cus_down_twice')]);
    // Assess
    expect(both.map((each) => each.status).sort()).toEqual(['already_applied', 'applied']);
    const balance = await balanceOf(table, 'cus_down_twice', FEBRUARY);
    expect(balance.upcoming.reduce((sum, lot) => sum + lot.granted, 0)).toBe(600);
    expect(await ledgerOfLots(table, 'cus_down_twice')).toEqual({ sum: 240, releases: 12 });
  });

  const refund = (customerId: string) =>
    reverse(
      { ...table, clock: () => FEBRUARY },
      {
        customerId,
        purchaseId: `in_${customerId}`,
        key: `refund#re_${customerId}`,
        amount: 120_000,
        atMs: FEBRUARY,
        undo: false,
      },
    );

  it('C22 C20 a full refund takes back all 144 months over several transactions, each batch its own entry', async () => {
    // Prepare
    await twelvePrices('cus_refund');
    // Act: two months granted and 120 to come, 288 items.
    const refunded = await refund('cus_refund');
    // Assess
    expect(refunded.status).toBe('applied');
    expect(refunded.outcome).toMatchObject({ result: 'reversed', lost: 1440, debt: 0, balance: 0 });
    expect((await balanceOf(table, 'cus_refund', FEBRUARY)).upcoming).toEqual([]);
    const reversals = (await wholeLedger(table, 'cus_refund')).filter(
      (entry) => entry.type === 'reversal',
    );
    expect(reversals.length).toBeGreaterThan(1);
    expect(reversals.reduce((sum, entry) => sum + entry.amount, 0)).toBe(-240);
    expect((await refund('cus_refund')).status).toBe('already_applied');
    expect(await ledgerOfLots(table, 'cus_refund')).toEqual({ sum: 0, releases: 12 });
  });

  it('C22 C16 two deliveries of that refund at once take back once', async () => {
    // Prepare
    await twelvePrices('cus_refund_twice');
    // Act
    const both = await Promise.all([refund('cus_refund_twice'), refund('cus_refund_twice')]);
    // Assess
    expect(both.map((each) => each.status).sort()).toEqual(['already_applied', 'applied']);
    expect(both.map((each) => each.outcome)).toContainEqual(
      expect.objectContaining({ lost: 1440, debt: 0 }),
    );
    expect(await ledgerOfLots(table, 'cus_refund_twice')).toEqual({ sum: 0, releases: 12 });
  });

  it('C7 C16 two deliveries of that end at once settle it once', async () => {
    // Prepare
    await twelvePrices('cus_end_twice');
    // Act
    const both = await Promise.all([end('cus_end_twice'), end('cus_end_twice')]);
    // Assess
    expect(both.map((each) => each.status).sort()).toEqual(['already_applied', 'applied']);
    expect((await balanceOf(table, 'cus_end_twice', FEBRUARY)).balance).toBe(0);
    expect(await ledgerOfLots(table, 'cus_end_twice')).toEqual({ sum: 0, releases: 12 });
  });
});
