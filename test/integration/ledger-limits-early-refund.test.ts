import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bookBalance } from '../../lib/credits/lots';
import { audit } from '../../lib/jobs/audit';
import type { LedgerDeps } from '../../lib/ledger/deps';
import { balanceOf, readCustomer } from '../../lib/ledger/queries';
import { referralCodeOf } from '../../lib/ledger/referrals';
import { reverse } from '../../lib/ledger/reversals';
import { grantSubscriptionInvoice } from '../../lib/ledger/subscriptions';
import { wholeLedger } from '../../lib/store/ledger';
import { FaultKind, faultyStore } from '../support/faults';
import { freshTable, localClientConfig } from '../support/table';

type Table = Awaited<ReturnType<typeof freshTable>>;

const YEAR_START = Date.parse('2026-01-01T00:00:00Z');
/** The refund's time and the late grant's: January and February have come due. */
const FEBRUARY = Date.parse('2026-02-10T00:00:00Z');

/**
 * C16 C20 C22: a full refund of an annual invoice of twelve prices (144 monthly lots) that
 * Stripe delivers before the invoice's `invoice.paid`: the grant takes it back when it arrives,
 * more lots than one transaction holds.
 */
describe('Limits of one DynamoDB transaction: a refund delivered before its annual grant', () => {
  let table: Table;
  beforeAll(async () => {
    table = await freshTable('limits-early-refund');
  });
  afterAll(async () => table.drop());

  const deps = (): LedgerDeps => ({ ...table, clock: () => FEBRUARY });

  const refund = (customerId: string) =>
    reverse(deps(), {
      customerId,
      purchaseId: `in_${customerId}`,
      key: `refund#re_${customerId}`,
      amount: 120_000,
      atMs: FEBRUARY,
      undo: false,
    });

  /** One subscription of 12 annual prices, 10 credits a month each, paid 1,200.00. */
  const grant = (customerId: string, store = deps(), code?: string) =>
    grantSubscriptionInvoice(store, {
      customerId,
      invoiceId: `in_${customerId}`,
      subscriptionId: `sub_${customerId}`,
      invoiceCreatedMs: YEAR_START,
      lines: Array.from({ length: 12 }, (_, i) => ({
        lineId: `il_${String(i).padStart(2, '0')}`,
        credits: 10,
        periodStartMs: YEAR_START,
        months: 12,
      })),
      amountPaid: 120_000,
      ...(code && { referral: { code } }),
    });

  /** C14: nothing left, nothing to come, the ledger sums to the lots and the audit is clean. */
  async function nothingLeft(customerId: string) {
    const balance = await balanceOf(table, customerId, FEBRUARY);
    expect(balance.balance).toBe(0);
    expect(balance.upcoming).toEqual([]);
    const entries = await wholeLedger(table, customerId);
    const sum = entries.reduce((total, entry) => total + entry.amount, 0);
    expect(sum).toBe(bookBalance((await readCustomer(table, customerId)).lots));
    expect(sum).toBe(0);
    expect((await audit(table, { customerId })).problems).toEqual([]);
    return entries;
  }

  it('C22 C16 C20 the grant takes back all 144 months over several transactions, each batch its own entry', async () => {
    // Prepare
    const early = await refund('cus_early');
    expect(early.outcome).toMatchObject({ result: 'pending', lost: 0 });
    // Act
    const granted = await grant('cus_early');
    // Assess: January and February were granted (240), the 120 months to come cancelled.
    expect(granted.status).toBe('applied');
    expect(granted.outcome).toMatchObject({ result: 'granted', credits: 1440, balance: 0 });
    const entries = await nothingLeft('cus_early');
    const reversals = entries.filter((entry) => entry.type === 'reversal');
    expect(reversals.length).toBeGreaterThan(1);
    expect(reversals.reduce((sum, entry) => sum + entry.amount, 0)).toBe(-240);
    expect(entries.filter((entry) => entry.type === 'debt')).toEqual([]);
    expect((await grant('cus_early')).status).toBe('already_applied');
    expect((await refund('cus_early')).status).toBe('already_applied');
    await nothingLeft('cus_early');
  });

  it('C22 C16 two deliveries of that grant at once grant once and take back once', async () => {
    // Prepare
    await refund('cus_early_twice');
    // Act
    const both = await Promise.all([grant('cus_early_twice'), grant('cus_early_twice')]);
    // Assess
    expect(both.map((each) => each.status).sort()).toEqual(['already_applied', 'applied']);
    expect(both.map((each) => each.outcome)).toContainEqual(
      expect.objectContaining({ result: 'granted', credits: 1440, balance: 0 }),
    );
    const entries = await nothingLeft('cus_early_twice');
    const grants = entries.filter((entry) => entry.type === 'grant');
    expect(grants.reduce((sum, entry) => sum + entry.amount, 0)).toBe(240);
  });

  it('C22 C16 a delivery that stops after the grant has begun taking back is finished by the next, which grants nothing twice', async () => {
    // Prepare: the store stops answering right after the first transaction that takes back.
    await refund('cus_early_stopped');
    const faulty = faultyStore(table, localClientConfig(), { maxAttempts: 1, keepBodies: true });
    faulty.faults.watch((seen) => {
      if (seen.operation === 'TransactWriteItems' && seen.body?.includes('#reversals#')) {
        faulty.faults.fail({ kind: FaultKind.connectionReset, times: Number.POSITIVE_INFINITY });
      }
    });
    const stopped = await grant('cus_early_stopped', { ...faulty.deps, clock: () => FEBRUARY })
      .then(() => 'finished')
      .catch(() => 'stopped');
    faulty.destroy();
    expect(stopped).toBe('stopped');
    expect((await balanceOf(table, 'cus_early_stopped', FEBRUARY)).upcoming).not.toEqual([]);
    // Act: Stripe delivers the invoice again.
    const again = await grant('cus_early_stopped');
    // Assess
    expect(again.status).toBe('applied');
    expect(again.outcome).toMatchObject({ result: 'granted', credits: 1440, balance: 0 });
    const entries = await nothingLeft('cus_early_stopped');
    const grants = entries.filter((entry) => entry.type === 'grant');
    expect(grants.reduce((sum, entry) => sum + entry.amount, 0)).toBe(240);
  });

  it('C24 C16 a first purchase with a code: both bonuses go back too, the referrer bonus with the last batch', async () => {
    // Prepare: the referrer has 100 credits of their own; the refund comes first.
    await grantSubscriptionInvoice(deps(), {
      customerId: 'cus_early_referrer',
      invoiceId: 'in_early_referrer',
      subscriptionId: 'sub_early_referrer',
      invoiceCreatedMs: FEBRUARY,
      lines: [{ lineId: 'il_1', credits: 100, periodStartMs: FEBRUARY }],
    });
    const code = await referralCodeOf(deps(), 'cus_early_referrer');
    await refund('cus_early_referee');
    // Act
    const granted = await grant('cus_early_referee', deps(), code);
    // Assess
    expect(granted.status).toBe('applied');
    expect(granted.outcome).toMatchObject({
      result: 'granted',
      credits: 1440,
      balance: 0,
      referral: { result: 'redeemed', referrerId: 'cus_early_referrer', referrerBonus: 60 },
    });
    const entries = await nothingLeft('cus_early_referee');
    expect(entries.filter((entry) => entry.type === 'reversal').length).toBeGreaterThan(1);
    expect((await balanceOf(table, 'cus_early_referrer', FEBRUARY)).balance).toBe(100);
    expect((await audit(table, { customerId: 'cus_early_referrer' })).problems).toEqual([]);
    expect((await grant('cus_early_referee', deps(), code)).status).toBe('already_applied');
  });
});
