import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCreditsHandler } from '../../functions/credits';
import { paidInvoiceEvent, subscriptionDeletedEvent } from '../support/stripe-events';
import { type StripeFake, startStripeFake } from '../support/stripe-fake';
import { type WebhookHarness, webhookHarness } from '../support/webhook-harness';

const BASIC = 'price_basic_100';
const PRO = 'price_pro_500';
const MARCH = '2026-03-01T08:00:00Z';
const APRIL = '2026-04-01T08:00:00Z';

describe('Referral program through the webhook (C9-C12)', () => {
  let h: WebhookHarness;
  let stripe: StripeFake;

  beforeAll(async () => {
    stripe = await startStripeFake({
      invoiceDiscounts: { in_promo_first: ['promo_ref', null], in_coupon_only: [null] },
      promotionCodes: { promo_ref: {} },
    });
    h = await webhookHarness({
      planCredits: { [BASIC]: 100, [PRO]: 500 },
      now: '2026-03-01T09:00:00Z',
      stripeApiBase: stripe.apiBase,
      stripeSecretKey: 'sk_test_fake',
    });
  });
  afterAll(async () => {
    await h.drop();
    await stripe.stop();
  });

  const credits = () => createCreditsHandler(() => h.deps);
  async function codeOf(customerId: string): Promise<string> {
    const result = (await credits()({ action: 'referralCode', customerId }, {} as Context)) as {
      code: string;
    };
    return result.code;
  }

  function subscribe(
    customerId: string,
    priceId: string,
    options: {
      invoiceId?: string;
      subscriptionId?: string;
      code?: string;
      at?: string;
      billingReason?: string;
    } = {},
  ) {
    return h.deliver(
      paidInvoiceEvent({
        customerId,
        subscriptionId: options.subscriptionId ?? `sub_${customerId}`,
        ...(options.invoiceId && { invoiceId: options.invoiceId }),
        billingReason: options.billingReason ?? 'subscription_create',
        lines: [{ priceId, periodStart: options.at ?? MARCH }],
        metadata: options.code ? { referral_code: options.code } : {},
      }),
    );
  }

  it('C11 plays the seeds example: you 100 -> 350, your friend on the 500 plan -> 750', async () => {
    // Prepare
    await subscribe('cus_you', BASIC, { at: '2026-02-20T08:00:00Z' });
    const code = await codeOf('cus_you');
    // Act
    const response = await subscribe('cus_friend', PRO, { code, invoiceId: 'in_friend_first' });
    // Assess
    expect(response.statusCode).toBe(200);
    expect(response.body.outcome).toBe('applied');
    expect((await h.balance('cus_you')).balance).toBe(350);
    expect((await h.balance('cus_friend')).balance).toBe(750);
    const friendLedger = await h.ledger('cus_friend');
    expect(friendLedger.map((entry) => [entry.type, entry.amount, entry.balanceAfter])).toEqual([
      ['referral_bonus', 250, 750],
      ['grant', 500, 500],
    ]);
  });

  it('C12 a renewal carrying the same metadata gives no second bonus', async () => {
    const code = await codeOf('cus_you');
    const renewal = await h.deliver(
      paidInvoiceEvent({
        customerId: 'cus_friend',
        subscriptionId: 'sub_cus_friend',
        billingReason: 'subscription_cycle',
        lines: [{ priceId: PRO, periodStart: APRIL }],
        metadata: { referral_code: code },
      }),
    );
    expect(renewal.statusCode).toBe(200);
    h.setNow('2026-04-01T09:00:00Z');
    expect((await h.balance('cus_friend')).balance).toBe(1250);
    expect((await h.balance('cus_you')).balance).toBe(350);
    h.setNow('2026-03-01T09:00:00Z');
  });

  it('C9 a referrer shares one code with any number of new customers; C12 concurrent first deliveries give one pair', async () => {
    await subscribe('cus_sharer', BASIC, { at: '2026-02-01T08:00:00Z' });
    const code = await codeOf('cus_sharer');
    const first = paidInvoiceEvent({
      customerId: 'cus_new_a',
      subscriptionId: 'sub_new_a',
      lines: [{ priceId: BASIC, periodStart: MARCH }],
      metadata: { referral_code: code.replace('-', '') },
    });
    const deliveries = await Promise.all(Array.from({ length: 5 }, () => h.deliver(first)));
    expect(deliveries.map((each) => [each.statusCode, each.body])).toEqual(
      deliveries.map(() => [200, expect.anything()]),
    );
    await subscribe('cus_new_b', PRO, { code: code.toLowerCase() });
    expect((await h.balance('cus_new_a')).balance).toBe(150);
    expect((await h.balance('cus_new_b')).balance).toBe(750);
    expect((await h.balance('cus_sharer')).balance).toBe(100 + 50 + 250);
  });

  it('C12 a customer who redeemed, cancelled and resubscribes with another code gets nothing more', async () => {
    await subscribe('cus_other_ref', BASIC, { at: '2026-02-01T08:00:00Z' });
    const otherCode = await codeOf('cus_other_ref');
    const ended = await h.deliver(
      subscriptionDeletedEvent({
        customerId: 'cus_friend',
        subscriptionId: 'sub_cus_friend',
        endedAt: '2026-04-10T00:00:00Z',
      }),
    );
    expect(ended.statusCode).toBe(200);
    const again = await subscribe('cus_friend', PRO, {
      subscriptionId: 'sub_friend_again',
      code: otherCode,
      at: '2026-04-15T08:00:00Z',
    });
    expect(again.statusCode).toBe(200);
    h.setNow('2026-04-16T00:00:00Z');
    expect((await h.balance('cus_friend')).balance).toBe(500);
    expect((await h.balance('cus_other_ref')).balance).toBe(100);
    h.setNow('2026-03-01T09:00:00Z');
  });

  it('C12 an unknown code and the own code are rejected with the reason and no bonus', async () => {
    const unknown = await subscribe('cus_typo', BASIC, { code: 'ZZZZZ-ZZZZZ' });
    expect(unknown.body.commands).toContainEqual({
      command: 'redeemReferral',
      key: 'cus_typo',
      status: 'recorded',
    });
    expect(unknown.body.reason).toBeUndefined();
    const own = await codeOf('cus_self');
    await subscribe('cus_self', BASIC, { code: own });
    expect((await h.balance('cus_typo')).balance).toBe(100);
    expect((await h.balance('cus_self')).balance).toBe(100);
    const logged = h.log.lines().filter((line) => JSON.stringify(line).includes('own_code'));
    expect(logged.length).toBeGreaterThan(0);
  });

  it('C10 accepts a referral code carried by a Stripe promotion code on the first invoice', async () => {
    await subscribe('cus_promo_ref', BASIC, { at: '2026-02-01T08:00:00Z' });
    stripe.promotionCodes.set('promo_ref', { referral_code: await codeOf('cus_promo_ref') });
    const event = paidInvoiceEvent({
      customerId: 'cus_promo_new',
      subscriptionId: 'sub_promo_new',
      invoiceId: 'in_promo_first',
      lines: [{ priceId: PRO, periodStart: MARCH }],
    });
    (event.data as { object: Record<string, unknown> }).object.discounts = ['di_one', 'di_two'];
    const response = await h.deliver(event);
    expect(response.statusCode).toBe(200);
    expect((await h.balance('cus_promo_new')).balance).toBe(750);
    expect((await h.balance('cus_promo_ref')).balance).toBe(350);
    expect(stripe.requestsTo('/v1/promotion_codes/promo_ref')).toHaveLength(1);
  });

  it('C10 a first invoice whose discount is a plain coupon redeems nothing and still grants', async () => {
    const event = paidInvoiceEvent({
      customerId: 'cus_coupon',
      subscriptionId: 'sub_coupon',
      invoiceId: 'in_coupon_only',
      lines: [{ priceId: BASIC, periodStart: MARCH }],
    });
    (event.data as { object: Record<string, unknown> }).object.discounts = ['di_coupon'];
    const response = await h.deliver(event);
    expect(response.statusCode).toBe(200);
    expect((await h.balance('cus_coupon')).balance).toBe(100);
  });
});
