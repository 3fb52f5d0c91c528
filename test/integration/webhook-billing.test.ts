import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { createCreditsHandler } from '../../functions/credits';
import {
  checkoutEvent,
  checkoutLineItem,
  type LineSpec,
  paidInvoiceEvent,
  subscriptionDeletedEvent,
} from '../support/stripe-events';
import { harnessesWithStripeFake, type WebhookHarness } from '../support/webhook-harness';

/**
 * Every way Stripe bills a customer, through the real webhook handler on DynamoDB Local:
 * several subscriptions (C7, C8), trials (C18), plan changes (C19), annual plans (C20), packs
 * (C21), prices without credits (C2) and referral codes as people type them (C9).
 */

const BASIC = 'price_basic'; // 100 a month, $20
const PRO = 'price_pro'; // 500 a month, $50
const YEARLY = 'price_yearly'; // 100 a month, billed once a year ($200)
const PRO_YEARLY = 'price_pro_yearly'; // 500 a month, billed once a year ($500)
const METERED = 'price_metered'; // an overage price: no credits
const PACK = 'price_pack'; // 1000 credits, bought once

const PLAN_CREDITS = {
  [BASIC]: 100,
  [PRO]: 500,
  [YEARLY]: 100,
  [PRO_YEARLY]: 500,
  [METERED]: 0,
  [PACK]: 1000,
};
const NOV = '2026-11-01T00:00:00Z';

describe('Function: stripeWebhook for every way Stripe bills (C2, C7, C8, C18-C21)', () => {
  const harnesses = harnessesWithStripeFake();
  const fake = () => harnesses.fake;

  async function start(now = '2026-11-01T00:10:00Z') {
    return harnesses.start({
      planCredits: PLAN_CREDITS,
      planIntervalMonths: { [YEARLY]: 12, [PRO_YEARLY]: 12, [BASIC]: 1, [PRO]: 1 },
      now,
    });
  }

  type Paid = {
    customerId: string;
    subscriptionId: string;
    invoiceId?: string;
    billingReason?: string;
    lines: LineSpec[];
    amountPaid?: number;
    code?: string;
  };
  const paid = (options: Paid) =>
    paidInvoiceEvent({
      customerId: options.customerId,
      subscriptionId: options.subscriptionId,
      ...(options.invoiceId && { invoiceId: options.invoiceId }),
      billingReason: options.billingReason ?? 'subscription_create',
      lines: options.lines,
      ...(options.amountPaid !== undefined && { amountPaid: options.amountPaid }),
      metadata: options.code ? { referral_code: options.code } : {},
    });
  const ended = (customerId: string, subscriptionId: string, at: string, status = 'canceled') =>
    subscriptionDeletedEvent({ customerId, subscriptionId, endedAt: at, status });

  async function codeOf(harness: WebhookHarness, customerId: string): Promise<string> {
    const credits = createCreditsHandler(() => harness.deps);
    const result = (await credits({ action: 'referralCode', customerId }, {} as Context)) as {
      code: string;
    };
    return result.code;
  }

  it('C7: a second subscription that was never paid expiring leaves the active one alone', async () => {
    // Prepare
    const h = await start();
    await h.deliver(
      paid({
        customerId: 'cus_two',
        subscriptionId: 'sub_paid',
        lines: [{ priceId: BASIC, periodStart: NOV }],
      }),
    );
    // Act: the second one's first payment failed, and Stripe gives up on it.
    const response = await h.deliver(
      ended('cus_two', 'sub_unpaid', '2026-11-02T00:00:00Z', 'incomplete_expired'),
    );
    // Assess
    expect(response.statusCode).toBe(200);
    expect((await h.balance('cus_two')).balance).toBe(100);
    expect((await h.ledger('cus_two')).map((entry) => entry.type)).toEqual(['grant']);
  });

  it.each([
    ['the new plan first', false],
    ['the cancellation first', true],
  ])(
    'C7 C8: switching plans by starting Pro and cancelling Basic keeps everything, %s',
    async (_order, cancellationFirst) => {
      // Prepare: Basic since 1 Nov; Pro starts 10 Nov; Basic is cancelled 11 Nov.
      const h = await start('2026-11-11T00:10:00Z');
      await h.deliver(
        paid({
          customerId: 'cus_sw',
          subscriptionId: 'sub_basic',
          lines: [{ priceId: BASIC, periodStart: NOV }],
        }),
      );
      const pro = paid({
        customerId: 'cus_sw',
        subscriptionId: 'sub_pro',
        lines: [{ priceId: PRO, periodStart: '2026-11-10T00:00:00Z' }],
      });
      const cancel = ended('cus_sw', 'sub_basic', '2026-11-11T00:00:00Z');
      // Act
      for (const event of cancellationFirst ? [cancel, pro] : [pro, cancel]) {
        expect((await h.deliver(event)).statusCode).toBe(200);
      }
      // Assess: Pro was active when Basic ended, so Basic's credits roll over with it.
      expect((await h.balance('cus_sw')).balance).toBe(600);
    },
  );

  it('C8: a forfeit that a later-delivered grant proves wrong is undone', async () => {
    // Prepare: Basic since 1 Nov; the second subscription's grant (from 5 Nov) arrives late.
    const h = await start('2026-11-11T00:10:00Z');
    await h.deliver(
      paid({
        customerId: 'cus_late',
        subscriptionId: 'sub_a',
        lines: [{ priceId: BASIC, periodStart: NOV }],
      }),
    );
    await h.deliver(ended('cus_late', 'sub_a', '2026-11-10T00:00:00Z'));
    expect((await h.balance('cus_late')).balance).toBe(0);
    // Act
    await h.deliver(
      paid({
        customerId: 'cus_late',
        subscriptionId: 'sub_b',
        lines: [{ priceId: BASIC, periodStart: '2026-11-05T00:00:00Z' }],
      }),
    );
    // Assess: sub_b was active at sub_a's end, so sub_a's 100 come back.
    expect((await h.balance('cus_late')).balance).toBe(200);
    const types = (await h.ledger('cus_late')).map((entry) => [entry.type, entry.amount]);
    expect(types).toEqual(
      expect.arrayContaining([
        ['forfeit', -100],
        ['forfeit', 100],
      ]),
    );
  });

  it("C8: a grant arriving after its subscription's end, which left nothing active, is forfeited on arrival", async () => {
    const h = await start('2026-11-20T00:10:00Z');
    await h.deliver(ended('cus_arr', 'sub_only', '2026-11-15T00:00:00Z'));
    const response = await h.deliver(
      paid({
        customerId: 'cus_arr',
        subscriptionId: 'sub_only',
        lines: [{ priceId: BASIC, periodStart: NOV }],
      }),
    );
    expect(response.body).toMatchObject({ outcome: 'applied' });
    expect((await h.balance('cus_arr')).balance).toBe(0);
  });

  it('C18 C10: a $0 trial invoice grants its plan but redeems no code; the first paid invoice does', async () => {
    // Prepare
    const h = await start('2026-12-01T00:10:00Z');
    await h.deliver(
      paid({
        customerId: 'cus_ref',
        subscriptionId: 'sub_ref',
        lines: [{ priceId: BASIC, periodStart: NOV }],
      }),
    );
    const code = await codeOf(h, 'cus_ref');
    // Act: a trial from 1 Nov, then the first paid month from 1 Dec.
    await h.deliver(
      paid({
        customerId: 'cus_trial',
        subscriptionId: 'sub_trial',
        code,
        amountPaid: 0,
        lines: [{ priceId: PRO, periodStart: NOV, amount: 0 }],
      }),
    );
    const afterTrial = [
      (await h.balance('cus_trial')).balance,
      (await h.balance('cus_ref')).balance,
    ];
    await h.deliver(
      paid({
        customerId: 'cus_trial',
        subscriptionId: 'sub_trial',
        billingReason: 'subscription_cycle',
        code,
        lines: [{ priceId: PRO, periodStart: '2026-12-01T00:00:00Z' }],
      }),
    );
    // Assess
    expect(afterTrial).toEqual([500, 100]);
    expect((await h.balance('cus_trial')).balance).toBe(500 + 500 + 250);
    expect((await h.balance('cus_ref')).balance).toBe(100 + 250);
  });

  /** Puts the event's invoice into the fake's store, as Stripe lists it afterwards. */
  function knownToStripe(event: Record<string, unknown>) {
    const invoice = (event.data as { object: Record<string, unknown> }).object;
    fake().invoices.set(String(invoice.id), invoice);
    return event;
  }

  async function trialInvoices(h: WebhookHarness) {
    await h.deliver(
      paid({
        customerId: 'cus_early',
        subscriptionId: 'sub_early',
        lines: [{ priceId: BASIC, periodStart: NOV }],
      }),
    );
    const code = await codeOf(h, 'cus_early');
    const free = knownToStripe(
      paid({
        customerId: 'cus_late',
        subscriptionId: 'sub_late',
        invoiceId: 'in_late_trial',
        code,
        amountPaid: 0,
        lines: [{ priceId: PRO, periodStart: NOV, amount: 0 }],
      }),
    );
    const firstPaid = knownToStripe(
      paid({
        customerId: 'cus_late',
        subscriptionId: 'sub_late',
        invoiceId: 'in_late_paid',
        billingReason: 'subscription_cycle',
        code,
        lines: [{ priceId: PRO, periodStart: '2026-12-01T00:00:00Z' }],
      }),
    );
    return { free, firstPaid };
  }

  it("C16 C10 C18: a trial's first paid invoice redeems the code when delivered before the $0 invoice too", async () => {
    // Prepare
    const h = await start('2026-12-01T00:10:00Z');
    const { free, firstPaid } = await trialInvoices(h);
    // Act: the paid renewal first; only Stripe knows the subscription began free.
    const response = await h.deliver(firstPaid);
    await h.deliver(free);
    await h.deliver(firstPaid);
    // Assess: as in the delivery order of the test above.
    expect(response.statusCode).toBe(200);
    expect((await h.balance('cus_late')).balance).toBe(500 + 500 + 250);
    expect((await h.balance('cus_early')).balance).toBe(100 + 250);
    expect(fake().requestsTo('/v1/invoices').length).toBeGreaterThanOrEqual(1);
  });

  it('C16 C10: a renewal delivered before its paid first invoice redeems nothing; the first invoice does', async () => {
    // Prepare: Stripe knows both invoices; the renewal is delivered first.
    const h = await start('2026-12-01T00:10:00Z');
    const { firstPaid } = await trialInvoices(h);
    const first = knownToStripe(
      paid({
        customerId: 'cus_late',
        subscriptionId: 'sub_late',
        invoiceId: 'in_late_trial',
        code: await codeOf(h, 'cus_early'),
        lines: [{ priceId: PRO, periodStart: NOV }],
      }),
    );
    // Act
    const renewal = await h.deliver(firstPaid);
    const balanceAfterRenewal = (await h.balance('cus_late')).balance;
    await h.deliver(first);
    // Assess: the bonus is the first invoice's, granted from its period start.
    expect(renewal.body).toMatchObject({
      commands: expect.arrayContaining([
        expect.objectContaining({ command: 'redeemReferral', status: 'refused' }),
      ]),
    });
    expect(balanceAfterRenewal).toBe(500);
    expect((await h.balance('cus_late')).balance).toBe(500 + 500 + 250);
    expect((await h.balance('cus_early')).balance).toBe(100 + 250);
  });

  it('C16 C10 C18: after a trial, the second paid renewal delivered before the first does not redeem; the first does, dated by its own period', async () => {
    // Prepare: the $0 start is delivered; Stripe knows both paid renewals.
    const h = await start('2027-01-01T00:10:00Z');
    const { free, firstPaid } = await trialInvoices(h);
    await h.deliver(free);
    const secondPaid = knownToStripe(
      paid({
        customerId: 'cus_late',
        subscriptionId: 'sub_late',
        invoiceId: 'in_late_paid2',
        billingReason: 'subscription_cycle',
        code: await codeOf(h, 'cus_early'),
        lines: [{ priceId: PRO, periodStart: '2027-01-01T00:00:00Z' }],
      }),
    );
    // Act: January's renewal first, then December's, the subscription's first paid one.
    const second = await h.deliver(secondPaid);
    await h.deliver(firstPaid);
    // Assess: the bonus is December's, as in Stripe's order (it expires 3 months after 1 Dec).
    expect(second.body).toMatchObject({
      commands: expect.arrayContaining([
        expect.objectContaining({ command: 'redeemReferral', status: 'refused' }),
      ]),
    });
    const view = await h.balance('cus_late');
    expect(view.balance).toBe(500 + 500 + 500 + 250);
    expect(view.lots).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          source: 'referral_bonus',
          grantedAt: '2026-12-01T00:00:00.000Z',
          granted: 250,
        }),
      ]),
    );
    expect((await h.balance('cus_early')).balance).toBe(100 + 250);
  });

  it("C16: a Stripe failure while asking for the subscription's invoices is a 5xx that changes nothing", async () => {
    // Prepare
    const h = await start('2026-12-01T00:10:00Z');
    const { firstPaid } = await trialInvoices(h);
    fake().failNext(500, 10);
    // Act
    const failed = await h.deliver(firstPaid);
    const balanceAfterFailure = (await h.balance('cus_late')).balance;
    fake().failNext(500, 0);
    const retried = await h.deliver(firstPaid);
    // Assess
    expect(failed.statusCode).toBeGreaterThanOrEqual(500);
    expect(balanceAfterFailure).toBe(0);
    expect(retried.statusCode).toBe(200);
    expect((await h.balance('cus_late')).balance).toBe(500 + 250);
  });

  it('C16 C10: without STRIPE_SECRET_KEY a renewal delivered first grants and redeems nothing, and says why', async () => {
    // Prepare: a deployment that never calls Stripe.
    const h = await harnesses.start({
      planCredits: PLAN_CREDITS,
      now: '2026-12-01T00:10:00Z',
      stripeSecretKey: undefined,
    });
    const { firstPaid } = await trialInvoices(h);
    // Act
    const response = await h.deliver(firstPaid);
    // Assess: the grant is kept; only the bonus is given up, and the log names the key.
    expect(response.statusCode).toBe(200);
    expect((await h.balance('cus_late')).balance).toBe(500);
    expect(JSON.stringify(h.log.lines())).toMatch(/decided without Stripe.*STRIPE_SECRET_KEY/);
  });

  it('C18: a trial cancelled unpaid leaves the referrer nothing', async () => {
    const h = await start('2026-11-20T00:10:00Z');
    await h.deliver(
      paid({
        customerId: 'cus_r2',
        subscriptionId: 'sub_r2',
        lines: [{ priceId: BASIC, periodStart: NOV }],
      }),
    );
    const code = await codeOf(h, 'cus_r2');
    await h.deliver(
      paid({
        customerId: 'cus_farm',
        subscriptionId: 'sub_farm',
        code,
        amountPaid: 0,
        lines: [{ priceId: PRO, periodStart: NOV, amount: 0 }],
      }),
    );
    await h.deliver(ended('cus_farm', 'sub_farm', '2026-11-15T00:00:00Z'));
    expect((await h.balance('cus_r2')).balance).toBe(100);
    expect((await h.balance('cus_farm')).balance).toBe(0);
  });

  it('C19: an upgrade invoiced at once grants the prorated difference now', async () => {
    // Prepare: Basic ($20, 100) from 1 Nov, changed to Pro ($50, 500) on 16 Nov.
    const h = await start('2026-11-16T00:10:00Z');
    await h.deliver(
      paid({
        customerId: 'cus_up',
        subscriptionId: 'sub_up',
        lines: [{ priceId: BASIC, periodStart: NOV }],
      }),
    );
    const change = '2026-11-16T00:00:00Z';
    const end = '2026-12-01T00:00:00Z';
    // Act
    const response = await h.deliver(
      paid({
        customerId: 'cus_up',
        subscriptionId: 'sub_up',
        billingReason: 'subscription_update',
        lines: [
          {
            priceId: BASIC,
            kind: 'proration',
            periodStart: change,
            periodEnd: end,
            amount: -1000,
            unitAmount: 2000,
          },
          {
            priceId: PRO,
            kind: 'proration',
            periodStart: change,
            periodEnd: end,
            amount: 2500,
            unitAmount: 5000,
          },
        ],
      }),
    );
    // Assess: 500 x 2500/5000 - 100 x 1000/2000 = 200.
    expect(response.body).toMatchObject({ outcome: 'applied' });
    expect((await h.balance('cus_up')).balance).toBe(300);
  });

  it('C16 C19: a downgrade delivered after the next renewal cancels nothing the renewal granted', async () => {
    // Prepare: Pro ($50, 500) from 1 Nov, down to Basic ($20, 100) on 16 Nov, invoiced at once:
    // 500 x -2500/5000 + 100 x 1000/2000 = -200, and nothing of the period is still to come.
    // Basic renews on 1 Dec. Stripe delivers the renewal first, the downgrade's invoice after.
    const change = '2026-11-16T00:00:00Z';
    const renewal = '2026-12-01T00:00:00Z';
    const downgrade = paid({
      customerId: 'cus_late_down',
      subscriptionId: 'sub_late_down',
      billingReason: 'subscription_update',
      lines: [
        {
          priceId: PRO,
          kind: 'proration',
          periodStart: change,
          periodEnd: renewal,
          amount: -2500,
          unitAmount: 5000,
        },
        {
          priceId: BASIC,
          kind: 'proration',
          periodStart: change,
          periodEnd: renewal,
          amount: 1000,
          unitAmount: 2000,
        },
      ],
    });
    const h = await start('2026-12-01T00:10:00Z');
    await h.deliver(
      paid({
        customerId: 'cus_late_down',
        subscriptionId: 'sub_late_down',
        lines: [{ priceId: PRO, periodStart: NOV, unitAmount: 5000 }],
      }),
    );
    await h.deliver(
      paid({
        customerId: 'cus_late_down',
        subscriptionId: 'sub_late_down',
        billingReason: 'subscription_cycle',
        lines: [{ priceId: BASIC, periodStart: renewal }],
      }),
    );
    // Act
    const response = await h.deliver(downgrade);
    // Assess: as if delivered in Stripe's order: Pro's 500 and the renewal's 100 stay.
    expect(response.statusCode).toBe(200);
    expect((await h.balance('cus_late_down')).balance).toBe(600);
  });

  it('C3 C19: a change with billing_cycle_anchor=now grants the new full period at once', async () => {
    const h = await start('2026-11-16T00:10:00Z');
    await h.deliver(
      paid({
        customerId: 'cus_anchor',
        subscriptionId: 'sub_anchor',
        lines: [{ priceId: BASIC, periodStart: NOV }],
      }),
    );
    const change = '2026-11-16T00:00:00Z';
    await h.deliver(
      paid({
        customerId: 'cus_anchor',
        subscriptionId: 'sub_anchor',
        billingReason: 'subscription_update',
        lines: [
          {
            priceId: BASIC,
            kind: 'proration',
            periodStart: change,
            periodEnd: '2026-12-01T00:00:00Z',
            amount: -1000,
            unitAmount: 2000,
          },
          { priceId: PRO, periodStart: change },
        ],
      }),
    );
    // The full Pro month grants 500; the unused Basic half nets to nothing (a downgrade of 50,
    // which takes back nothing already granted).
    expect((await h.balance('cus_anchor')).balance).toBe(600);
  });

  it('C20: an annual plan grants one month now, lists eleven upcoming, and releases them without a job', async () => {
    // Prepare
    const h = await start();
    // Act
    await h.deliver(
      paid({
        customerId: 'cus_year',
        subscriptionId: 'sub_year',
        lines: [
          {
            priceId: YEARLY,
            periodStart: NOV,
            periodEnd: '2027-11-01T00:00:00Z',
            unitAmount: 20000,
          },
        ],
      }),
    );
    // Assess
    const now = await h.balance('cus_year');
    expect(now.balance).toBe(100);
    expect(now.upcoming).toHaveLength(11);
    expect(now.upcoming[0]).toEqual({
      source: 'subscription',
      granted: 100,
      grantedAt: '2026-12-01T00:00:00.000Z',
      expiresAt: '2027-03-01T00:00:00.000Z',
    });
    // Three months later the first lot has expired and three are spendable (C4, C20).
    h.setNow('2027-02-15T00:00:00Z');
    const later = await h.balance('cus_year');
    expect(later.balance).toBe(300);
    expect(later.upcoming).toHaveLength(8);
  });

  it('C7 C20: an annual plan cancelled months in forfeits the lots come due, not yet recorded (found by the delivery property test)', async () => {
    // Prepare: yearly Basic from 1 Nov; nothing touches the account until it ends on 15 Feb, so
    // the December, January and February lots have come due without being written as granted.
    const h = await start();
    await h.deliver(
      paid({
        customerId: 'cus_yr_end',
        subscriptionId: 'sub_yr_end',
        lines: [
          {
            priceId: YEARLY,
            periodStart: NOV,
            periodEnd: '2027-11-01T00:00:00Z',
            unitAmount: 20000,
          },
        ],
      }),
    );
    h.setNow('2027-02-15T00:10:00Z');
    expect((await h.balance('cus_yr_end')).balance).toBe(300);
    // Act
    const response = await h.deliver(ended('cus_yr_end', 'sub_yr_end', '2027-02-15T00:00:00Z'));
    // Assess: the three live lots are forfeited and the eight to come are cancelled.
    expect(response.statusCode).toBe(200);
    const view = await h.balance('cus_yr_end');
    expect(view.balance).toBe(0);
    expect(view.upcoming).toEqual([]);
  });

  it('C19 C20: a downgrade on an annual plan cancels upcoming credits, latest first, and takes back nothing granted', async () => {
    // Prepare: yearly Pro from 1 Nov; on 1 May (6 months left) down to yearly Basic.
    const h = await start('2027-05-01T00:10:00Z');
    await h.deliver(
      paid({
        customerId: 'cus_down',
        subscriptionId: 'sub_down',
        lines: [
          {
            priceId: PRO_YEARLY,
            periodStart: NOV,
            periodEnd: '2027-11-01T00:00:00Z',
            unitAmount: 50000,
          },
        ],
      }),
    );
    const before = await h.balance('cus_down');
    const change = { periodStart: '2027-05-01T00:00:00Z', periodEnd: '2027-11-01T00:00:00Z' };
    // Act: unused Pro is -$250, remaining Basic +$100: 500 x 12 x -250/500 + 100 x 12 x
    // 100/200 = -3000 + 600 = -2400 credits, cancelled from the lots not yet granted.
    await h.deliver(
      paid({
        customerId: 'cus_down',
        subscriptionId: 'sub_down',
        billingReason: 'subscription_update',
        lines: [
          { priceId: PRO_YEARLY, kind: 'proration', ...change, amount: -25000, unitAmount: 50000 },
          { priceId: YEARLY, kind: 'proration', ...change, amount: 10000, unitAmount: 20000 },
        ],
      }),
    );
    // Assess: June to October (5 x 500) were upcoming; 2400 of them are cancelled, latest first.
    const after = await h.balance('cus_down');
    expect(after.balance).toBe(before.balance);
    expect(before.upcoming.map((lot) => lot.granted)).toEqual([500, 500, 500, 500, 500]);
    expect(after.upcoming.map((lot) => lot.granted)).toEqual([100]);
    expect(after.upcoming[0]?.grantedAt).toBe('2027-06-01T00:00:00.000Z');
  });

  it('C4 C16 C19 C20: a downgrade on an annual plan delivered months late cancels the same months, come due since (found by the delivery property test)', async () => {
    // Prepare: yearly Pro from 1 Nov; on 1 May down to yearly Basic, as above, but Stripe's
    // invoice for the change arrives on 15 Aug (a backfill): June to August have come due by
    // then, and nothing has written the account since the first invoice.
    const h = await start();
    await h.deliver(
      paid({
        customerId: 'cus_late_down',
        subscriptionId: 'sub_late_down',
        lines: [
          {
            priceId: PRO_YEARLY,
            periodStart: NOV,
            periodEnd: '2027-11-01T00:00:00Z',
            unitAmount: 50000,
          },
        ],
      }),
    );
    h.setNow('2027-08-15T00:10:00Z');
    const change = { periodStart: '2027-05-01T00:00:00Z', periodEnd: '2027-11-01T00:00:00Z' };
    // Act: -2400 credits, as above.
    const response = await h.deliver(
      paid({
        customerId: 'cus_late_down',
        subscriptionId: 'sub_late_down',
        billingReason: 'subscription_update',
        lines: [
          { priceId: PRO_YEARLY, kind: 'proration', ...change, amount: -25000, unitAmount: 50000 },
          { priceId: YEARLY, kind: 'proration', ...change, amount: 10000, unitAmount: 20000 },
        ],
      }),
    );
    // Assess: the lots not yet granted at the change are cut as if it had come on time (C4:
    // Stripe's times): October to July go, June keeps 100; the May lot expired on 1 Aug.
    expect(response.statusCode).toBe(200);
    const view = await h.balance('cus_late_down');
    expect(view.upcoming).toEqual([]);
    expect(view.lots.map((lot) => [lot.grantedAt, lot.remaining])).toEqual([
      ['2027-06-01T00:00:00.000Z', 100],
    ]);
    expect(view.balance).toBe(100);
  });

  it('C21: a pack through Checkout and its invoice grant once, whichever arrives first, and a cancellation keeps it', async () => {
    // Prepare
    const h = await start();
    fake().checkoutLines.set('cs_pack', [checkoutLineItem(PACK, 2)]);
    const session = checkoutEvent({
      customerId: 'cus_pack',
      sessionId: 'cs_pack',
      invoiceId: 'in_pack',
      amountTotal: 4000,
    });
    const invoice = paidInvoiceEvent({
      customerId: 'cus_pack',
      subscriptionId: 'sub_none',
      invoiceId: 'in_pack',
      billingReason: 'manual',
      lines: [{ priceId: PACK, quantity: 2, periodStart: NOV, kind: 'invoice_item' }],
    });
    // Act
    const answers = await Promise.all([h.deliver(invoice), h.deliver(session), h.deliver(invoice)]);
    // Assess
    expect(answers.map((answer) => answer.statusCode)).toEqual([200, 200, 200]);
    const view = await h.balance('cus_pack');
    expect(view.balance).toBe(2000);
    expect(view.lots).toEqual([
      expect.objectContaining({
        source: 'pack',
        granted: 2000,
        expiresAt: '2027-11-01T00:00:00.000Z',
      }),
    ]);
    // A subscription ending does not take a pack (C7).
    await h.deliver(
      paid({
        customerId: 'cus_pack',
        subscriptionId: 'sub_p',
        lines: [{ priceId: BASIC, periodStart: NOV }],
      }),
    );
    await h.deliver(ended('cus_pack', 'sub_p', '2026-11-01T00:05:00Z'));
    expect((await h.balance('cus_pack')).balance).toBe(2000);
  });

  it('C2: a renewal with a metered price that grants no credits grants the plan, not a 500', async () => {
    const h = await start('2026-12-01T00:10:00Z');
    const response = await h.deliver(
      paid({
        customerId: 'cus_meter',
        subscriptionId: 'sub_meter',
        billingReason: 'subscription_cycle',
        lines: [
          { priceId: BASIC, periodStart: '2026-12-01T00:00:00Z' },
          { priceId: METERED, periodStart: NOV, quantity: 37 },
        ],
      }),
    );
    expect(response).toMatchObject({ statusCode: 200, body: { outcome: 'applied' } });
    expect((await h.balance('cus_meter')).balance).toBe(100);
  });

  it('C9 C11: a code typed with an en dash, a zero-width space and lower case still redeems', async () => {
    const h = await start();
    await h.deliver(
      paid({
        customerId: 'cus_typo_ref',
        subscriptionId: 'sub_tr',
        lines: [{ priceId: BASIC, periodStart: NOV }],
      }),
    );
    const code = await codeOf(h, 'cus_typo_ref');
    const typed = `${code.slice(0, 5).toLowerCase()}\u2013\u200b${code.slice(6)}`;
    await h.deliver(
      paid({
        customerId: 'cus_typo',
        subscriptionId: 'sub_typo',
        code: typed,
        lines: [{ priceId: PRO, periodStart: NOV }],
      }),
    );
    expect((await h.balance('cus_typo')).balance).toBe(750);
    expect((await h.balance('cus_typo_ref')).balance).toBe(350);
  });

  it('C11 C20: a referral on an annual plan is based on its first month', async () => {
    const h = await start();
    await h.deliver(
      paid({
        customerId: 'cus_yr_ref',
        subscriptionId: 'sub_yr_ref',
        lines: [{ priceId: BASIC, periodStart: NOV }],
      }),
    );
    const code = await codeOf(h, 'cus_yr_ref');
    await h.deliver(
      paid({
        customerId: 'cus_yr',
        subscriptionId: 'sub_yr',
        code,
        lines: [
          {
            priceId: YEARLY,
            periodStart: NOV,
            periodEnd: '2027-11-01T00:00:00Z',
            unitAmount: 20000,
          },
        ],
      }),
    );
    expect((await h.balance('cus_yr')).balance).toBe(100 + 50);
    expect((await h.balance('cus_yr_ref')).balance).toBe(100 + 50);
  });
});
