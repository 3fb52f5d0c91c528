import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { balanceOf, readAccount } from '../../lib/ledger/queries';
import { redeemReferral } from '../../lib/ledger/referrals';
import { endSubscription, grantSubscriptionInvoice } from '../../lib/ledger/subscriptions';
import { referralCodeOf } from '../../lib/referrals/store';
import { freshTable } from '../support/table';

const periodStart = Date.parse('2026-03-01T09:00:00Z');
const later = Date.parse('2026-03-02T09:00:00Z');

describe('Referral redemption (ledger level)', () => {
  let table: Awaited<ReturnType<typeof freshTable>>;
  const deps = () => ({ ...table, clock: () => later });
  beforeAll(async () => {
    table = await freshTable('referral');
  });
  afterAll(async () => table.drop());

  async function subscribe(
    customerId: string,
    invoiceId: string,
    credits: number,
    atMs = periodStart,
  ) {
    await grantSubscriptionInvoice(deps(), {
      customerId,
      invoiceId,
      subscriptionId: `sub_${customerId}`,
      invoiceCreatedMs: atMs,
      lines: [{ lineId: 'il_1', credits, periodStartMs: atMs }],
    });
  }

  function firstPurchase(customerId: string, invoiceId: string, code: string, credits = 500) {
    return redeemReferral(deps(), {
      customerId,
      invoiceId,
      code,
      purchaseCredits: credits,
      periodStartMs: periodStart,
      invoiceCreatedMs: periodStart,
      billingReason: 'subscription_create',
    });
  }

  it('C11 gives the seeds example exactly: referrer 100 -> 350, friend 500 -> 750', async () => {
    // Prepare
    await subscribe('cus_ref', 'in_ref_1', 100, periodStart - 86_400_000);
    const code = await referralCodeOf(deps(), 'cus_ref');
    await subscribe('cus_friend', 'in_friend_1', 500);
    // Act
    const result = await firstPurchase('cus_friend', 'in_friend_1', code.toLowerCase());
    // Assess
    expect(result.outcome).toMatchObject({ result: 'redeemed', bonus: 250, referrerBonus: 250 });
    expect((await balanceOf(table, 'cus_ref', later)).balance).toBe(350);
    expect((await balanceOf(table, 'cus_friend', later)).balance).toBe(750);
    const friendLots = (await balanceOf(table, 'cus_friend', later)).lots;
    expect(friendLots.find((lot) => lot.source === 'referral_bonus')?.expiresAt).toBe(
      '2026-06-01T09:00:00.000Z',
    );
  });

  it('C12 redeems at most once, even under concurrent deliveries', async () => {
    await subscribe('cus_r2', 'in_r2', 200, periodStart - 1000);
    const code = await referralCodeOf(deps(), 'cus_r2');
    await subscribe('cus_n2', 'in_n2', 100);
    const results = await Promise.all(
      Array.from({ length: 6 }, () => firstPurchase('cus_n2', 'in_n2', code, 100)),
    );
    expect(results.filter((r) => r.status === 'applied')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'already_applied')).toHaveLength(5);
    expect((await balanceOf(table, 'cus_n2', later)).balance).toBe(150);
    expect((await balanceOf(table, 'cus_r2', later)).balance).toBe(250);
  });

  it('C12 rejects an unknown code, the own code and a customer who is not new, recording the reason', async () => {
    await subscribe('cus_self', 'in_self', 100);
    const own = await referralCodeOf(deps(), 'cus_self');
    const ownResult = await firstPurchase('cus_self', 'in_self', own, 100);
    expect(ownResult.outcome).toEqual({ result: 'rejected', reason: 'own_code' });

    await subscribe('cus_unknown', 'in_unknown', 100);
    const unknown = await firstPurchase('cus_unknown', 'in_unknown', 'ZZZZZ-ZZZZZ', 100);
    expect(unknown.outcome).toEqual({ result: 'rejected', reason: 'unknown_code' });

    const code = await referralCodeOf(deps(), 'cus_r2');
    await subscribe('cus_old', 'in_old_1', 100, periodStart - 90 * 86_400_000);
    await subscribe('cus_old', 'in_old_2', 100);
    const notNew = await firstPurchase('cus_old', 'in_old_2', code, 100);
    expect(notNew.outcome).toEqual({ result: 'rejected', reason: 'not_new_customer' });
    expect(notNew.status).toBe('recorded');
    expect((await balanceOf(table, 'cus_self', later)).balance).toBe(100);
    expect((await balanceOf(table, 'cus_unknown', later)).balance).toBe(100);
  });

  it('C12 gives only the new customer a bonus when the referrer has no active subscription', async () => {
    await subscribe('cus_gone', 'in_gone', 100, periodStart - 10 * 86_400_000);
    const code = await referralCodeOf(deps(), 'cus_gone');
    await endSubscription(deps(), {
      customerId: 'cus_gone',
      subscriptionId: 'sub_cus_gone',
      endedAtMs: periodStart - 1000,
    });
    await subscribe('cus_n3', 'in_n3', 300);
    const result = await firstPurchase('cus_n3', 'in_n3', code, 300);
    expect(result.outcome).toMatchObject({
      result: 'redeemed',
      bonus: 150,
      referrerBonus: 0,
      referrerSkipped: 'referrer_inactive',
    });
    expect((await balanceOf(table, 'cus_n3', later)).balance).toBe(450);
    expect((await balanceOf(table, 'cus_gone', later)).balance).toBe(0);
  });

  it('C12 a renewal, or a later resubscription with another code, gives nothing more', async () => {
    const codeA = await referralCodeOf(deps(), 'cus_ref');
    const codeB = await referralCodeOf(deps(), 'cus_r2');
    await subscribe('cus_n4', 'in_n4', 100);
    await firstPurchase('cus_n4', 'in_n4', codeA, 100);
    const renewal = await redeemReferral(deps(), {
      customerId: 'cus_n4',
      invoiceId: 'in_n4_2',
      code: codeA,
      purchaseCredits: 100,
      periodStartMs: later,
      invoiceCreatedMs: later,
      billingReason: 'subscription_cycle',
    });
    expect(renewal.outcome).toMatchObject({ result: 'not_first_purchase' });
    const again = await firstPurchase('cus_n4', 'in_n4_new_sub', codeB, 100);
    expect(again.outcome).toEqual({ result: 'rejected', reason: 'already_redeemed' });
    expect((await readAccount(table, 'cus_n4')).redemption?.invoiceId).toBe('in_n4');
    expect((await balanceOf(table, 'cus_n4', later)).balance).toBe(150);
  });
});
