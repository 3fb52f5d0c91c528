import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PaidRenewal } from '../../lib/ledger/customer-history';
import { balanceOf, ledgerOf, readCustomer } from '../../lib/ledger/queries';
import { referralCodeOf } from '../../lib/ledger/referrals';
import { endSubscription, grantSubscriptionInvoice } from '../../lib/ledger/subscriptions';
import { freshTable } from '../support/table';

const periodStart = Date.parse('2026-03-01T09:00:00Z');
const later = Date.parse('2026-03-02T09:00:00Z');
const DAY_MS = 86_400_000;

/**
 * Referrals at the ledger level: a first invoice carrying a code is one command, its grant and
 * both bonuses one transaction (lib/ledger/subscriptions.ts).
 */
describe('Referral redemption (ledger level)', () => {
  let table: Awaited<ReturnType<typeof freshTable>>;
  const deps = (atMs = later) => ({ ...table, clock: () => atMs });
  beforeAll(async () => {
    table = await freshTable('referral');
  });
  afterAll(async () => table.drop());

  function invoice(
    customerId: string,
    invoiceId: string,
    credits: number,
    options: {
      atMs?: number;
      code?: string;
      billingReason?: string;
      subscriptionId?: string;
      /** Stripe's answer to "first paid invoice of its subscription?", when it is asked. */
      stripe?: (renewal: PaidRenewal) => Promise<boolean>;
    } = {},
  ) {
    const atMs = options.atMs ?? periodStart;
    const withStripe = options.stripe ? { subscriptionHistory: options.stripe } : {};
    return grantSubscriptionInvoice(
      { ...deps(), ...withStripe },
      {
        customerId,
        invoiceId,
        subscriptionId: options.subscriptionId ?? `sub_${customerId}`,
        invoiceCreatedMs: atMs,
        lines: [{ lineId: 'il_1', credits, periodStartMs: atMs }],
        billingReason: options.billingReason ?? 'subscription_create',
        ...(options.code && { referral: { code: options.code } }),
      },
    );
  }

  it('C11 gives the seeds example exactly: referrer 100 -> 350, friend 500 -> 750', async () => {
    // Prepare
    await invoice('cus_ref', 'in_ref_1', 100, { atMs: periodStart - DAY_MS });
    const code = await referralCodeOf(deps(), 'cus_ref');
    // Act
    const result = await invoice('cus_friend', 'in_friend_1', 500, { code: code.toLowerCase() });
    // Assess
    expect(result.status).toBe('applied');
    expect(result.outcome).toMatchObject({
      result: 'granted',
      credits: 500,
      referral: { result: 'redeemed', referrerId: 'cus_ref', bonus: 250, referrerBonus: 250 },
    });
    expect((await balanceOf(table, 'cus_ref', later)).balance).toBe(350);
    expect((await balanceOf(table, 'cus_friend', later)).balance).toBe(750);
    const friendLots = (await balanceOf(table, 'cus_friend', later)).lots;
    expect(friendLots.find((lot) => lot.source === 'referral_bonus')?.expiresAt).toBe(
      '2026-06-01T09:00:00.000Z',
    );
    // C13: each side's ledger says why, with the balance after.
    const referrer = await ledgerOf(table, 'cus_ref');
    expect(referrer.entries[0]).toMatchObject({
      type: 'referral_bonus',
      amount: 250,
      balanceAfter: 350,
      reason: 'referred cus_friend',
    });
  });

  it('C12 redeems at most once, even under concurrent deliveries of the first invoice', async () => {
    await invoice('cus_r2', 'in_r2', 200, { atMs: periodStart - 1000 });
    const code = await referralCodeOf(deps(), 'cus_r2');
    const results = await Promise.all(
      Array.from({ length: 6 }, () => invoice('cus_n2', 'in_n2', 100, { code })),
    );
    expect(results.filter((r) => r.status === 'applied')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'already_applied')).toHaveLength(5);
    expect((await balanceOf(table, 'cus_n2', later)).balance).toBe(150);
    expect((await balanceOf(table, 'cus_r2', later)).balance).toBe(250);
  });

  it('C12 rejects an unknown code, the own code and a customer who is not new, recording the reason', async () => {
    await invoice('cus_self', 'in_self_0', 100, { atMs: periodStart - DAY_MS });
    const own = await referralCodeOf(deps(), 'cus_self');
    const self = await invoice('cus_self', 'in_self_1', 100, {
      code: own,
      subscriptionId: 'sub_other',
    });
    expect(self.outcome.referral).toEqual({ result: 'rejected', reason: 'own_code' });

    const unknown = await invoice('cus_unknown', 'in_unknown', 100, { code: 'ZZZZZ-ZZZZZ' });
    expect(unknown.outcome.referral).toEqual({ result: 'rejected', reason: 'unknown_code' });

    const code = await referralCodeOf(deps(), 'cus_r2');
    await invoice('cus_old', 'in_old_1', 100, { atMs: periodStart - 90 * DAY_MS });
    const notNew = await invoice('cus_old', 'in_old_2', 100, {
      code,
      subscriptionId: 'sub_old_2',
    });
    expect(notNew.outcome.referral).toEqual({ result: 'rejected', reason: 'not_new_customer' });
    // A rejected code costs nothing: the grant itself still applies.
    expect(notNew.status).toBe('applied');
    expect((await balanceOf(table, 'cus_unknown', later)).balance).toBe(100);
    expect((await balanceOf(table, 'cus_r2', later)).balance).toBe(250);
  });

  it('C12 gives the referrer the bonus whatever their own subscription status', async () => {
    await invoice('cus_gone', 'in_gone', 100, { atMs: periodStart - 10 * DAY_MS });
    const code = await referralCodeOf(deps(), 'cus_gone');
    await endSubscription(deps(), {
      customerId: 'cus_gone',
      subscriptionId: 'sub_cus_gone',
      endedAtMs: periodStart - 1000,
    });
    const result = await invoice('cus_n3', 'in_n3', 300, { code });
    expect(result.outcome.referral).toMatchObject({
      result: 'redeemed',
      bonus: 150,
      referrerBonus: 150,
    });
    expect((await balanceOf(table, 'cus_n3', later)).balance).toBe(450);
    // The bonus was granted after the referrer's end, so C7 does not take it.
    expect((await balanceOf(table, 'cus_gone', later)).balance).toBe(150);
  });

  it('C12 a renewal, or a later resubscription with another code, gives nothing more', async () => {
    const codeA = await referralCodeOf(deps(), 'cus_ref');
    const codeB = await referralCodeOf(deps(), 'cus_r2');
    await invoice('cus_n4', 'in_n4', 100, { code: codeA });
    const renewal = await invoice('cus_n4', 'in_n4_2', 100, {
      atMs: later,
      code: codeA,
      billingReason: 'subscription_cycle',
    });
    expect(renewal.outcome.referral).toEqual({
      result: 'not_first_purchase',
      billingReason: 'subscription_cycle',
    });
    const again = await invoice('cus_n4', 'in_n4_new_sub', 100, {
      atMs: later,
      code: codeB,
      subscriptionId: 'sub_n4_new',
    });
    expect(again.outcome.referral).toEqual({ result: 'rejected', reason: 'already_redeemed' });
    expect((await readCustomer(table, 'cus_n4')).facts.redemption?.invoiceId).toBe('in_n4');
    expect((await balanceOf(table, 'cus_n4', later)).balance).toBe(350);
  });

  it('C12 C16 a first invoice delivered after a renewal still redeems; the renewal never does', async () => {
    const code = await referralCodeOf(deps(), 'cus_ref');
    // Stripe delivers the renewal first; the subscription's metadata carries the code on both.
    // Nothing earlier of the subscription is known: the decision asks Stripe, once, and
    // nothing is written until it answers (lib/store/lookup.ts).
    const asked: PaidRenewal[] = [];
    let balanceWhileAsked: number | undefined;
    const renewal = await invoice('cus_n5', 'in_n5_2', 100, {
      atMs: later,
      code,
      billingReason: 'subscription_cycle',
      stripe: async (question) => {
        asked.push(question);
        balanceWhileAsked = (await balanceOf(table, 'cus_n5', later)).balance;
        return false;
      },
    });
    expect(asked).toEqual([
      {
        subscriptionId: 'sub_cus_n5',
        invoiceId: 'in_n5_2',
        invoiceCreatedMs: later,
        localGuess: false,
      },
    ]);
    expect(balanceWhileAsked).toBe(0);
    const first = await invoice('cus_n5', 'in_n5_1', 100, { code });
    expect(renewal.outcome.referral?.result).toBe('not_first_purchase');
    expect(first.outcome.referral).toMatchObject({ result: 'redeemed', bonus: 50 });
  });

  it("C10 C18 a trial's first paid renewal is stored as its subscription's first paid invoice: the next renewal never asks", async () => {
    // Prepare: a $0 trial invoice, then the first paid renewal (Stripe said it is the first).
    const code = await referralCodeOf(deps(), 'cus_ref');
    await grantSubscriptionInvoice(deps(), {
      customerId: 'cus_n7',
      invoiceId: 'in_n7_trial',
      subscriptionId: 'sub_cus_n7',
      invoiceCreatedMs: periodStart - 30 * DAY_MS,
      amountPaid: 0,
      lines: [{ lineId: 'il_1', credits: 100, periodStartMs: periodStart - 30 * DAY_MS }],
      billingReason: 'subscription_create',
      referral: { code },
    });
    await invoice('cus_n7', 'in_n7_1', 100, {
      code,
      billingReason: 'subscription_cycle',
      stripe: async () => true,
    });
    // Act: the next renewal, with the subscription's code as every renewal carries it.
    const next = await invoice('cus_n7', 'in_n7_2', 100, {
      atMs: later,
      code,
      billingReason: 'subscription_cycle',
      stripe: async () => {
        throw new Error('Stripe must not be asked once the first paid invoice is stored');
      },
    });
    // Assess
    expect(next.outcome.referral).toEqual({
      result: 'not_first_purchase',
      billingReason: 'subscription_cycle',
    });
    const facts = (await readCustomer(table, 'cus_n7')).facts.subscriptions.sub_cus_n7;
    expect(facts?.firstPaidMs).toBe(periodStart);
  });

  it("C10 C18 C16 a paid renewal Stripe calls its subscription's first paid invoice redeems", async () => {
    const code = await referralCodeOf(deps(), 'cus_ref');
    const renewal = await invoice('cus_n6', 'in_n6_2', 100, {
      atMs: later,
      code,
      billingReason: 'subscription_cycle',
      stripe: async () => true,
    });
    expect(renewal.outcome.referral).toMatchObject({ result: 'redeemed', bonus: 50 });
  });
});
