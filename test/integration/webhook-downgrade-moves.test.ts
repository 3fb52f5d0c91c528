import { describe, expect, it } from 'vitest';
import { annualQuantityChanges, type LineSpec, paidInvoiceEvent } from '../support/stripe-events';
import { harnessesWithStripeFake, type WebhookHarness } from '../support/webhook-harness';

/**
 * C19 whatever the delivery order (C16), for two prorating invoices of one subscription: a
 * downgrade cuts, latest first, what its subscription had billed before it, as in Stripe's
 * order, even when one of those purchases, or an earlier downgrade, is delivered after it (the
 * cuts move to where Stripe's order puts them). Through the real webhook handler on DynamoDB
 * Local; each case delivers the same events in every order and expects the same lots.
 */

const YEARLY = 'price_yearly'; // 100 a month, billed once a year ($200)
const BASIC = 'price_basic'; // 100 a month, $20
const YEAR_START = '2026-11-01T00:00:00Z';
const YEAR_END = '2027-11-01T00:00:00Z';

describe('Function: stripeWebhook, downgrades moved to Stripe order (C16, C19, C20)', () => {
  const harnesses = harnessesWithStripeFake();
  const customerId = 'cus_moves';
  const subscriptionId = 'sub_year';

  const start = (now: string) =>
    harnesses.start({
      planCredits: { [YEARLY]: 100, [BASIC]: 100 },
      planIntervalMonths: { [YEARLY]: 12, [BASIC]: 1 },
      now,
    });

  /** The annual plan's first invoice: `quantity` x YEARLY from 1 Nov. */
  const yearly = (quantity: number) =>
    paidInvoiceEvent({
      customerId,
      subscriptionId,
      invoiceId: 'in_year',
      billingReason: 'subscription_create',
      lines: [
        {
          priceId: YEARLY,
          quantity,
          periodStart: YEAR_START,
          periodEnd: YEAR_END,
          unitAmount: 20000,
        },
      ],
    });

  /** C19: YEARLY's quantity from `from` to `to` at `at` (`left` of the year to go), at once. */
  const change = annualQuantityChanges(
    { customerId, subscriptionId },
    { priceId: YEARLY, unitAmount: 20000, periodEnd: YEAR_END },
  );

  async function lotsAfter(now: string, events: readonly Record<string, unknown>[]) {
    const h: WebhookHarness = await start(now);
    for (const event of events) {
      expect((await h.deliver(event)).statusCode).toBe(200);
    }
    const view = await h.balance(customerId);
    const shape = (lots: readonly { grantedAt: string; granted: number; remaining?: number }[]) =>
      lots.map((lot) => `${lot.grantedAt.slice(0, 10)} ${lot.remaining ?? lot.granted}`).sort();
    return { balance: view.balance, lots: shape(view.lots), upcoming: shape(view.upcoming) };
  }

  function orders<T>(items: readonly T[]): T[][] {
    if (items.length <= 1) return [[...items]];
    return items.flatMap((item, i) =>
      orders([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
    );
  }

  it('C16 C19 a downgrade delivered between the two purchases it cuts cuts the months of Stripe order', async () => {
    // 3 x YEARLY (300 a month); on 1 Feb up to 5 (9 months left): +1800 as 200 a month from
    // February to October; on 1 May down to 2 (6 months left): -1800, latest first among
    // both: October, September, August (500 each) and 300 of July.
    const now = '2027-05-02T00:00:00Z';
    const up = change('in_up', '2027-02-01T00:00:00Z', 3, 5, 0.75);
    const down = change('in_down', '2027-05-01T00:00:00Z', 5, 2, 0.5);
    const inOrder = await lotsAfter(now, [yearly(3), up, down]);
    expect(inOrder.upcoming).toEqual(['2027-06-01 200', '2027-06-01 300', '2027-07-01 200']);
    for (const order of orders([yearly(3), up, down]).slice(1)) {
      expect(await lotsAfter(now, order)).toEqual(inOrder);
    }
  });

  it('C16 C19 two downgrades delivered in reverse of Stripe order cut the months of Stripe order', async () => {
    // 5 x YEARLY (500 a month); on 1 Feb down to 2 (9 months left): -2700, June to October
    // (2500) and 200 of May (granted by then); on 1 May down to 1: -600, with nothing left
    // after its change to cancel.
    const now = '2027-05-02T00:00:00Z';
    const first = change('in_down1', '2027-02-01T00:00:00Z', 5, 2, 0.75);
    const second = change('in_down2', '2027-05-01T00:00:00Z', 2, 1, 0.5);
    const inOrder = await lotsAfter(now, [yearly(5), first, second]);
    expect(inOrder.upcoming).toEqual([]);
    expect(inOrder.lots).toContain('2027-05-01 300');
    for (const order of orders([yearly(5), first, second]).slice(1)) {
      expect(await lotsAfter(now, order)).toEqual(inOrder);
    }
  });

  it('C16 C19 a renewal billing a downgrade cuts the latest top-up of its period in every order', async () => {
    // A monthly plan; on 15 and 20 June a change billed at once tops up 50 (granted then); the
    // renewal of 1 July bills a change of 10 June: -70, the later top-up and 20 of the earlier.
    const now = '2027-07-02T00:00:00Z';
    const monthly = 'sub_month';
    const proration = (at: string, end: string, amount: number): LineSpec => ({
      priceId: BASIC,
      kind: 'proration',
      periodStart: at,
      periodEnd: end,
      unitAmount: 2000,
      amount,
    });
    const topUp = (invoiceId: string, at: string) =>
      paidInvoiceEvent({
        customerId,
        subscriptionId: monthly,
        invoiceId,
        billingReason: 'subscription_update',
        lines: [proration(at, '2027-07-01T00:00:00Z', 1000)],
      });
    const renewal = paidInvoiceEvent({
      customerId,
      subscriptionId: monthly,
      invoiceId: 'in_renewal',
      billingReason: 'subscription_cycle',
      created: '2027-07-01T00:00:00Z',
      lines: [
        { priceId: BASIC, periodStart: '2027-07-01T00:00:00Z', periodEnd: '2027-08-01T00:00:00Z' },
        proration('2027-06-10T00:00:00Z', '2027-07-01T00:00:00Z', -1400),
      ],
    });
    const events = [
      topUp('in_a', '2027-06-15T00:00:00Z'),
      topUp('in_b', '2027-06-20T00:00:00Z'),
      renewal,
    ];
    const inOrder = await lotsAfter(now, events);
    expect(inOrder.lots).toEqual(['2027-06-15 30', '2027-07-01 100']);
    for (const order of orders(events).slice(1)) {
      expect(await lotsAfter(now, order)).toEqual(inOrder);
    }
  });
});
