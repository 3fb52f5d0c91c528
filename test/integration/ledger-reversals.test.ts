import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audit } from '../../lib/jobs/audit';
import { grantPack } from '../../lib/ledger/purchases';
import { balanceOf, ledgerOf } from '../../lib/ledger/queries';
import { referralCodeOf } from '../../lib/ledger/referrals';
import { type ReversalRequest, reverse } from '../../lib/ledger/reversals';
import { consume } from '../../lib/ledger/spending';
import { grantSubscriptionInvoice } from '../../lib/ledger/subscriptions';
import { freshTable } from '../support/table';

const ms = (iso: string) => Date.parse(iso);
const PERIOD_START = ms('2026-03-01T09:00:00Z');
const REFUNDED_AT = ms('2026-03-05T09:00:00Z');
const NEXT_PERIOD = ms('2026-04-01T09:00:00Z');
const NOW = ms('2026-04-02T09:00:00Z');
/** $50.00 for a 500-credit plan. */
const PAID = 5000;

/**
 * Reversals at the ledger level (lib/ledger/reversals.ts): one command per reversal phase, keyed
 * by the reversal's Stripe id, moving the customer to what all of the purchase's reversals take.
 */
describe('Function: reverse', () => {
  let table: Awaited<ReturnType<typeof freshTable>>;
  const deps = () => ({ ...table, clock: () => NOW });
  beforeAll(async () => {
    table = await freshTable('ledger-reversals');
  });
  afterAll(async () => table.drop());

  function subscribe(customerId: string, invoiceId: string, startMs = PERIOD_START, code?: string) {
    return grantSubscriptionInvoice(deps(), {
      customerId,
      invoiceId,
      subscriptionId: `sub_${customerId}`,
      invoiceCreatedMs: startMs,
      lines: [{ lineId: 'il_1', credits: 500, periodStartMs: startMs }],
      amountPaid: PAID,
      billingReason: startMs === PERIOD_START ? 'subscription_create' : 'subscription_cycle',
      ...(code && { referral: { code } }),
    });
  }

  function refund(
    customerId: string,
    purchaseId: string,
    key: string,
    amount: number,
    extra: Partial<ReversalRequest> = {},
  ) {
    return reverse(deps(), {
      customerId,
      purchaseId,
      key,
      amount,
      atMs: REFUNDED_AT,
      undo: false,
      ...extra,
    });
  }

  async function expectAudited(customerId: string) {
    const report = await audit(table, { customerId });
    expect(report.problems).toEqual([]);
  }

  it('C22 C23 a full refund takes back what is left and records the rest as debt', async () => {
    // Prepare
    await subscribe('cus_full', 'in_full');
    await consume(deps(), {
      customerId: 'cus_full',
      amount: 120,
      idempotencyKey: 'img-1',
      atMs: REFUNDED_AT - 1,
    });

    // Act
    const result = await refund('cus_full', 'in_full', 'refund#re_full', PAID);

    // Assess
    expect(result).toEqual({
      status: 'applied',
      outcome: { result: 'reversed', purchaseId: 'in_full', lost: 500, debt: 120, balance: 0 },
    });
    const view = await balanceOf(table, 'cus_full', NOW);
    expect(view).toMatchObject({ balance: 0, debt: 120, lots: [] });
    const { entries } = await ledgerOf(table, 'cus_full');
    expect(entries.slice(0, 2).map((entry) => [entry.type, entry.amount])).toEqual([
      ['debt', -120],
      ['reversal', -380],
    ]);
    await expectAudited('cus_full');
  });

  it('C22 the same refund seen twice counts once', async () => {
    // Prepare
    await subscribe('cus_twice', 'in_twice');

    // Act
    await refund('cus_twice', 'in_twice', 'refund#re_twice', 1000);
    const again = await refund('cus_twice', 'in_twice', 'refund#re_twice', 1000);

    // Assess
    expect(again.status).toBe('already_applied');
    expect((await balanceOf(table, 'cus_twice', NOW)).balance).toBe(400);
  });

  it('C22 partial refunds are cumulative and order-independent', async () => {
    // Prepare: two customers, the same two refunds in the two orders.
    await subscribe('cus_p1', 'in_p1');
    await subscribe('cus_p2', 'in_p2');

    // Act
    await refund('cus_p1', 'in_p1', 'refund#re_a1', 1666);
    const first = await refund('cus_p1', 'in_p1', 'refund#re_b1', 1667);
    await refund('cus_p2', 'in_p2', 'refund#re_b2', 1667);
    const second = await refund('cus_p2', 'in_p2', 'refund#re_a2', 1666);

    // Assess: floor(500 x 3333 / 5000) = 333, not floor(166.6) + floor(166.7) = 332.
    expect(first.outcome).toMatchObject({ lost: 333, balance: 167 });
    expect(second.outcome).toMatchObject({ lost: 333, balance: 167 });
    await expectAudited('cus_p1');
  });

  it('C23 the next grant repays the debt before any of it is spendable', async () => {
    // Prepare
    await subscribe('cus_debt', 'in_debt_1');
    await consume(deps(), {
      customerId: 'cus_debt',
      amount: 120,
      idempotencyKey: 'img-1',
      atMs: REFUNDED_AT - 1,
    });
    await refund('cus_debt', 'in_debt_1', 'refund#re_debt', PAID);

    // Act
    const renewal = await subscribe('cus_debt', 'in_debt_2', NEXT_PERIOD);

    // Assess
    expect(renewal.outcome).toMatchObject({ result: 'granted', balance: 380 });
    expect(await balanceOf(table, 'cus_debt', NOW)).toMatchObject({ balance: 380, debt: 0 });
    await expectAudited('cus_debt');
  });

  it('C23 a dispute won cancels its debt first, then gives the rest back as a lot', async () => {
    // Prepare
    await subscribe('cus_dp', 'in_dp');
    await consume(deps(), {
      customerId: 'cus_dp',
      amount: 120,
      idempotencyKey: 'img-1',
      atMs: REFUNDED_AT - 1,
    });
    await refund('cus_dp', 'in_dp', 'dispute#dp_1', PAID);

    // Act
    const won = await refund('cus_dp', 'in_dp', 'dispute#dp_1', PAID, {
      undo: true,
      atMs: REFUNDED_AT + 86_400_000,
    });

    // Assess
    expect(won.outcome).toMatchObject({ result: 'undone', lost: 0, debt: 0, balance: 380 });
    const view = await balanceOf(table, 'cus_dp', NOW);
    expect(view.lots).toEqual([
      expect.objectContaining({ remaining: 380, expiresAt: '2026-06-01T09:00:00.000Z' }),
    ]);
    await expectAudited('cus_dp');
  });

  it('C16 C23 a dispute won delivered before it was withdrawn changes nothing', async () => {
    // Prepare
    await subscribe('cus_dp2', 'in_dp2');

    // Act
    await refund('cus_dp2', 'in_dp2', 'dispute#dp_2', PAID, { undo: true });
    const withdrawn = await refund('cus_dp2', 'in_dp2', 'dispute#dp_2', PAID);

    // Assess
    expect(withdrawn.outcome).toMatchObject({ lost: 0, balance: 500 });
  });

  it('C16 C22 a refund delivered before its grant takes effect when the grant arrives', async () => {
    // Act
    const early = await refund('cus_early', 'in_early', 'refund#re_early', 2500);
    const grant = await subscribe('cus_early', 'in_early');

    // Assess
    expect(early.outcome).toMatchObject({ result: 'pending', lost: 0 });
    expect(grant.outcome).toMatchObject({ result: 'granted', credits: 500, balance: 250 });
    await expectAudited('cus_early');
  });

  it("C16 C24 a refund delivered before the referee's first invoice takes both bonuses back when it arrives", async () => {
    // Prepare
    await subscribe('cus_referrer2', 'in_referrer2', PERIOD_START - 86_400_000);
    const code = await referralCodeOf(deps(), 'cus_referrer2');
    await refund('cus_referee2', 'in_referee2', 'refund#re_referee2', PAID / 2);

    // Act
    const grant = await subscribe('cus_referee2', 'in_referee2', PERIOD_START, code);

    // Assess: half of 500 + 250 from the referee, half of 250 from the referrer's bonus.
    expect(grant.outcome).toMatchObject({
      referral: { result: 'redeemed', bonus: 250 },
      balance: 375,
    });
    expect((await balanceOf(table, 'cus_referrer2', NOW)).balance).toBe(500 + 125);
    await expectAudited('cus_referee2');
    await expectAudited('cus_referrer2');
  });

  it("C16 C24 the same when the referrer's bonus is written quietly (a grant on time)", async () => {
    // Prepare
    await subscribe('cus_referrer3', 'in_referrer3', PERIOD_START - 86_400_000);
    const code = await referralCodeOf(deps(), 'cus_referrer3');
    await refund('cus_referee3', 'in_referee3', 'refund#re_referee3', PAID);
    const onTime = { ...table, clock: () => PERIOD_START + 60_000 };

    // Act
    const grant = await grantSubscriptionInvoice(onTime, {
      customerId: 'cus_referee3',
      invoiceId: 'in_referee3',
      subscriptionId: 'sub_cus_referee3',
      invoiceCreatedMs: PERIOD_START,
      lines: [{ lineId: 'il_1', credits: 500, periodStartMs: PERIOD_START }],
      amountPaid: PAID,
      referral: { code },
    });

    // Assess: a full refund leaves the referrer only their own plan.
    expect(grant.outcome).toMatchObject({ referral: { result: 'redeemed' }, balance: 0 });
    expect((await balanceOf(table, 'cus_referrer3', NOW)).balance).toBe(500);
    await expectAudited('cus_referrer3');
  });

  it('C22 a pack is taken back like a subscription', async () => {
    // Prepare
    await grantPack(deps(), {
      customerId: 'cus_pack',
      purchaseId: 'cs_pack',
      lines: [{ lineId: 'li_1', credits: 1000 }],
      purchasedAtMs: PERIOD_START,
      amountPaid: 2000,
      paymentIntentId: 'pi_pack',
    });

    // Act
    const result = await refund('cus_pack', 'cs_pack', 'refund#re_pack', 500);

    // Assess
    expect(result.outcome).toMatchObject({ lost: 250, balance: 750 });
  });

  it('C24 a referee refunded loses both bonuses; the referrer only what the bonus lot holds', async () => {
    // Prepare: the referrer has spent part of the bonus.
    await subscribe('cus_referrer', 'in_referrer', PERIOD_START - 86_400_000);
    const code = await referralCodeOf(deps(), 'cus_referrer');
    await subscribe('cus_referee', 'in_referee', PERIOD_START, code);
    // The referrer's own 500 expire later than the bonus? No: both expire 3 months after their
    // start, the referrer's own first, so 600 spends the own lot and 100 of the bonus.
    await consume(deps(), {
      customerId: 'cus_referrer',
      amount: 600,
      idempotencyKey: 'img-1',
      atMs: REFUNDED_AT - 1,
    });

    // Act
    const result = await refund('cus_referee', 'in_referee', 'refund#re_referee', PAID);

    // Assess: the referee loses 500 + 250; the referrer loses the 150 left of the bonus, no debt.
    expect(result.outcome).toMatchObject({ lost: 750, debt: 0, balance: 0 });
    expect(await balanceOf(table, 'cus_referrer', NOW)).toMatchObject({ balance: 0, debt: 0 });
    await expectAudited('cus_referee');
    await expectAudited('cus_referrer');
  });
});
