import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCreditsHandler } from '../../functions/credits';
import {
  checkoutEvent,
  checkoutLineItem,
  paidInvoiceEvent,
  subscriptionDeletedEvent,
} from '../support/stripe-events';
import { type StripeFake, startStripeFake } from '../support/stripe-fake';
import {
  harnessesWithStripeFake,
  type WebhookHarness,
  webhookHarness,
} from '../support/webhook-harness';

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

describe('The first purchase as Stripe made it, in any delivery order (C10 C12 C16 C21)', () => {
  const PACK = 'price_pack_1000';
  const harnesses = harnessesWithStripeFake();
  const fake = () => harnesses.fake;

  async function start(options: { stripeSecretKey?: undefined } = {}) {
    const h = await harnesses.start({
      planCredits: { [BASIC]: 100, [PRO]: 500, [PACK]: 1000 },
      now: '2026-03-05T09:00:00Z',
      ...options,
    });
    await h.deliver(firstInvoice('cus_ref', 'sub_ref', BASIC, '2026-02-01T08:00:00Z'));
    const credits = createCreditsHandler(() => h.deps);
    const { code } = (await credits(
      { action: 'referralCode', customerId: 'cus_ref' },
      {} as Context,
    )) as { code: string };
    return { h, code };
  }

  /** Stripe lists a purchase from the moment it is made, delivered or not. */
  function known<E extends Record<string, unknown>>(event: E): E {
    const object = (event.data as { object: Record<string, unknown> }).object;
    if (object.object === 'invoice') fake().invoices.set(String(object.id), object);
    else fake().checkoutSessions.set(String(object.id), object);
    return event;
  }

  function firstInvoice(
    customerId: string,
    subscriptionId: string,
    priceId: string,
    at: string,
    code?: string,
  ) {
    return known(
      paidInvoiceEvent({
        customerId,
        subscriptionId,
        invoiceId: `in_${subscriptionId}`,
        lines: [{ priceId, periodStart: at }],
        metadata: code ? { referral_code: code } : {},
      }),
    );
  }

  /** A pack bought through Checkout, without an invoice (C21). */
  function pack(customerId: string, sessionId: string, at: string) {
    fake().checkoutLines.set(sessionId, [checkoutLineItem(PACK, 1)]);
    return known(checkoutEvent({ customerId, sessionId, amountTotal: 2000, created: at }));
  }

  /**
   * A pack paid asynchronously (C21): the Session completes unpaid at `createdAt` and its
   * payment succeeds at `paidAt`; Stripe then lists it paid, with `created` still `createdAt`.
   */
  function asyncPack(
    customerId: string,
    sessionId: string,
    times: { createdAt: string; paidAt: string },
    code?: string,
  ) {
    fake().checkoutLines.set(sessionId, [checkoutLineItem(PACK, 1)]);
    const session = {
      customerId,
      sessionId,
      amountTotal: 2000,
      sessionCreated: times.createdAt,
      metadata: code ? { referral_code: code } : ({} as Record<string, string>),
    };
    const completed = checkoutEvent({
      ...session,
      paymentStatus: 'unpaid',
      created: times.createdAt,
    });
    const paid = checkoutEvent({
      ...session,
      type: 'checkout.session.async_payment_succeeded',
      created: times.paidAt,
    });
    return [completed, known(paid)] as const;
  }

  const asksAbout = (customerId: string) =>
    [...fake().requestsTo('/v1/invoices'), ...fake().requestsTo('/v1/checkout/sessions')].filter(
      (request) => request.query.get('customer') === customerId,
    );

  it('C10 C12 C16: two first invoices of one customer, the later carrying a code: rejected in either delivery order', async () => {
    // Prepare
    const { h, code } = await start();
    const orders = { inOrder: false, reversed: true };
    for (const [name, reversed] of Object.entries(orders)) {
      const customerId = `cus_two_${name}`;
      const early = firstInvoice(customerId, `sub_${name}_a`, BASIC, '2026-03-01T08:00:00Z');
      const late = firstInvoice(customerId, `sub_${name}_b`, PRO, '2026-03-02T08:00:00Z', code);
      // Act
      const answers = [];
      for (const event of reversed ? [late, early] : [early, late]) {
        answers.push(await h.deliver(event));
      }
      // Assess: the customer had purchased before (C12: not new); nobody gets a bonus.
      expect(answers.map((answer) => answer.statusCode)).toEqual([200, 200]);
      expect((await h.balance(customerId)).balance).toBe(100 + 500);
      // Only the redemption the delivered facts allowed asked Stripe: its invoices told.
      expect(asksAbout(customerId)).toHaveLength(reversed ? 1 : 0);
    }
    expect((await h.balance('cus_ref')).balance).toBe(100);
    const rejected = h.log
      .lines()
      .filter((line) => JSON.stringify(line).includes('not_new_customer'));
    expect(rejected.length).toBeGreaterThanOrEqual(2);
  });

  it('C10 C12 C16 C21: a Checkout pack bought before a coded first invoice: the code is rejected in either order', async () => {
    // Prepare
    const { h, code } = await start();
    for (const reversed of [false, true]) {
      const customerId = `cus_pack_${reversed}`;
      const bought = pack(customerId, `cs_${reversed}`, '2026-03-01T08:00:00Z');
      const coded = firstInvoice(
        customerId,
        `sub_p_${reversed}`,
        PRO,
        '2026-03-02T08:00:00Z',
        code,
      );
      // Act
      for (const event of reversed ? [coded, bought] : [bought, coded]) await h.deliver(event);
      // Assess
      expect((await h.balance(customerId)).balance).toBe(1000 + 500);
    }
    expect((await h.balance('cus_ref')).balance).toBe(100);
  });

  it("C10 C12 C16 C21: a pack paid asynchronously counts at its Session's creation, as Stripe lists it, in either order", async () => {
    // Prepare: the Session is created at 08:00 and paid at 12:00; a first invoice falls at 10:00.
    const { h, code } = await start();
    const times = { createdAt: '2026-03-01T08:00:00Z', paidAt: '2026-03-01T12:00:00Z' };
    for (const reversed of [false, true]) {
      const packFirst = `cus_async_pack_${reversed}`;
      const bought = asyncPack(packFirst, `cs_async_${reversed}`, times, code);
      const between = firstInvoice(
        packFirst,
        `sub_async_${reversed}`,
        BASIC,
        '2026-03-01T10:00:00Z',
      );
      const invoiceFirst = `cus_async_sub_${reversed}`;
      const uncoded = asyncPack(invoiceFirst, `cs_async_u_${reversed}`, times);
      const coded = firstInvoice(
        invoiceFirst,
        `sub_async_u_${reversed}`,
        PRO,
        '2026-03-01T10:00:00Z',
        code,
      );
      // Act
      for (const event of reversed ? [between, ...bought] : [...bought, between]) {
        expect((await h.deliver(event)).statusCode).toBe(200);
      }
      for (const event of reversed ? [coded, ...uncoded] : [...uncoded, coded]) {
        expect((await h.deliver(event)).statusCode).toBe(200);
      }
      // Assess: the pack's Session came first, so its code redeems (half its 1000) and the
      // invoice's is rejected (not new), whichever is delivered first.
      const pack = await h.balance(packFirst);
      expect(pack.balance).toBe(1000 + 500 + 100);
      // The pack's credits are granted when it was paid, not when the Session was created.
      const packLot = pack.lots.find((lot: { source: string }) => lot.source === 'pack');
      expect(packLot?.grantedAt).toBe(times.paidAt.replace('Z', '.000Z'));
      expect((await h.balance(invoiceFirst)).balance).toBe(1000 + 500);
    }
    expect((await h.balance('cus_ref')).balance).toBe(100 + 500 + 500);
  });

  it("C10 C16 C21: a Session that created an invoice counts at the invoice's payment, in either order", async () => {
    // Prepare: created at 08:00 and paid at 12:00 with its invoice; a coded first invoice at 10:00.
    const { h, code } = await start();
    const times = { createdAt: '2026-03-01T08:00:00Z', paidAt: '2026-03-01T12:00:00Z' };
    for (const reversed of [false, true]) {
      const customerId = `cus_invoiced_${reversed}`;
      const invoiceId = `in_cs_${reversed}`;
      const paidInvoice = known(
        paidInvoiceEvent({
          customerId,
          subscriptionId: 'sub_none',
          invoiceId,
          billingReason: 'manual',
          amountPaid: 2000,
          paidAt: times.paidAt,
          lines: [{ kind: 'invoice_item', priceId: PACK, periodStart: times.paidAt }],
        }),
      );
      const [completed, paid] = asyncPack(customerId, `cs_inv_${reversed}`, times);
      for (const event of [completed, paid]) {
        (event.data as { object: Record<string, unknown> }).object.invoice = invoiceId;
      }
      const coded = firstInvoice(
        customerId,
        `sub_inv_${reversed}`,
        PRO,
        '2026-03-01T10:00:00Z',
        code,
      );
      const pack = [completed, paid, paidInvoice];
      // Act
      for (const event of reversed ? [...pack, coded] : [coded, ...pack]) {
        const answer = await h.deliver(event);
        expect(answer.statusCode, String(answer.body)).toBe(200);
      }
      // Assess: paid after the invoice at 10:00, the pack leaves that invoice the first purchase.
      expect((await h.balance(customerId)).balance).toBe(500 + 250 + 1000);
    }
    expect((await h.balance('cus_ref')).balance).toBe(100 + 250 + 250);
  });

  it("C10 C11 C16 C21: a coded first invoice made before the customer's other purchases redeems in either order; a renewal never asks", async () => {
    // Prepare
    const { h, code } = await start();
    for (const reversed of [false, true]) {
      const customerId = `cus_first_${reversed}`;
      const coded = firstInvoice(
        customerId,
        `sub_f_${reversed}`,
        PRO,
        '2026-03-01T08:00:00Z',
        code,
      );
      const later = [
        pack(customerId, `cs_later_${reversed}`, '2026-03-02T08:00:00Z'),
        firstInvoice(customerId, `sub_g_${reversed}`, BASIC, '2026-03-03T08:00:00Z'),
      ];
      // Act
      for (const event of reversed ? [...later, coded] : [coded, ...later]) await h.deliver(event);
      // Assess: C11, half the first purchase's 500 on each side.
      expect((await h.balance(customerId)).balance).toBe(500 + 250 + 1000 + 100);
    }
    expect((await h.balance('cus_ref')).balance).toBe(100 + 250 + 250);
    // C12: once redeemed, nothing of the customer asks again.
    const before = asksAbout('cus_first_true').length;
    const renewal = paidInvoiceEvent({
      customerId: 'cus_first_true',
      subscriptionId: 'sub_f_true',
      billingReason: 'subscription_cycle',
      lines: [{ priceId: PRO, periodStart: '2026-04-01T08:00:00Z' }],
      metadata: { referral_code: code },
    });
    expect((await h.deliver(renewal)).statusCode).toBe(200);
    expect(asksAbout('cus_first_true')).toHaveLength(before);
  });

  it("C16 C10: a Stripe failure while listing the customer's purchases is a 5xx that changes nothing; the retry redeems", async () => {
    // Prepare
    const { h, code } = await start();
    const coded = firstInvoice('cus_fault', 'sub_fault', PRO, '2026-03-01T08:00:00Z', code);
    fake().failNext(500, 10);
    // Act
    const failed = await h.deliver(coded);
    const balanceAfterFailure = (await h.balance('cus_fault')).balance;
    fake().failNext(500, 0);
    const retried = await h.deliver(coded);
    // Assess
    expect(failed.statusCode).toBeGreaterThanOrEqual(500);
    expect(balanceAfterFailure).toBe(0);
    expect(retried.statusCode).toBe(200);
    expect((await h.balance('cus_fault')).balance).toBe(500 + 250);
    expect((await h.balance('cus_ref')).balance).toBe(100 + 250);
  });

  it('C16 C10: a listed invoice whose amount_paid is not a number fails the delivery, naming the field', async () => {
    // Prepare
    const { h, code } = await start();
    const other = firstInvoice('cus_odd', 'sub_odd_a', BASIC, '2026-03-01T08:00:00Z');
    const object = (other.data as { object: Record<string, unknown> }).object;
    fake().invoices.set(String(object.id), { ...object, amount_paid: 'twenty' });
    const coded = firstInvoice('cus_odd', 'sub_odd_b', PRO, '2026-03-02T08:00:00Z', code);
    // Act
    const response = await h.deliver(coded);
    // Assess
    expect(response.statusCode).toBe(500);
    expect((await h.balance('cus_odd')).balance).toBe(0);
    expect(JSON.stringify(h.log.lines())).toContain('invoices.in_sub_odd_a.amount_paid');
  });

  it('C10 C16: without STRIPE_SECRET_KEY the delivered facts decide, and the log says so', async () => {
    // Prepare: a deployment that never calls Stripe.
    const { h, code } = await start({ stripeSecretKey: undefined });
    const early = firstInvoice('cus_nokey', 'sub_nokey_a', BASIC, '2026-03-01T08:00:00Z');
    const late = firstInvoice('cus_nokey', 'sub_nokey_b', PRO, '2026-03-02T08:00:00Z', code);
    // Act: the later purchase first, so nothing earlier is known.
    const response = await h.deliver(late);
    await h.deliver(early);
    // Assess: as before Stripe was asked (the known limit without a key), with a warning.
    expect(response.statusCode).toBe(200);
    expect((await h.balance('cus_nokey')).balance).toBe(500 + 250 + 100);
    expect(JSON.stringify(h.log.lines())).toMatch(
      /first purchase decided without Stripe.*STRIPE_SECRET_KEY/,
    );
    expect(fake().requestsTo('/v1/invoices')).toHaveLength(0);
  });
});
