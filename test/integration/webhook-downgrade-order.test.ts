import { describe, expect, it } from 'vitest';
import {
  annualQuantityChanges,
  paidInvoiceEvent,
  subscriptionDeletedEvent,
} from '../support/stripe-events';
import { harnessesWithStripeFake, type WebhookHarness } from '../support/webhook-harness';

/**
 * C19 whatever the delivery order (C16): a downgrade cancels, latest first, what its
 * subscription bought by the change and had not granted yet, as it does in Stripe's order,
 * through the real webhook handler on DynamoDB Local. Each case delivers the same events in
 * Stripe's order and in another, and expects the same lots.
 */

const YEARLY = 'price_yearly'; // 100 a month, billed once a year ($200)
const PRO_YEARLY = 'price_pro_yearly'; // 500 a month, billed once a year ($500)
const BASIC = 'price_basic'; // 100 a month, $20
const YEAR_START = '2026-11-01T00:00:00Z';
const YEAR_END = '2027-11-01T00:00:00Z';

describe('Function: stripeWebhook, downgrades in any delivery order (C7, C16, C19, C20)', () => {
  const harnesses = harnessesWithStripeFake();

  const start = (now: string) =>
    harnesses.start({
      planCredits: { [YEARLY]: 100, [PRO_YEARLY]: 500, [BASIC]: 100 },
      planIntervalMonths: { [YEARLY]: 12, [PRO_YEARLY]: 12, [BASIC]: 1 },
      now,
    });

  const customerId = 'cus_order';
  const subscriptionId = 'sub_year';

  /** The annual plan's first invoice: `quantity` x YEARLY (or one PRO_YEARLY) from 1 Nov. */
  const yearly = (quantity: number, priceId = YEARLY) =>
    paidInvoiceEvent({
      customerId,
      subscriptionId,
      invoiceId: 'in_year',
      billingReason: 'subscription_create',
      lines: [
        {
          priceId,
          quantity,
          periodStart: YEAR_START,
          periodEnd: YEAR_END,
          unitAmount: priceId === YEARLY ? 20000 : 50000,
        },
      ],
    });

  /** C19: YEARLY's quantity from `from` to `to` at `at` (`left` of the year to go), at once. */
  const change = annualQuantityChanges(
    { customerId, subscriptionId },
    { priceId: YEARLY, unitAmount: 20000, periodEnd: YEAR_END },
  );

  const ended = (at: string) =>
    subscriptionDeletedEvent({ customerId, subscriptionId, endedAt: at, status: 'canceled' });

  /** Another subscription active all along: an end forfeits nothing (C7), only cancels. */
  const monthly = paidInvoiceEvent({
    customerId,
    subscriptionId: 'sub_other',
    invoiceId: 'in_other',
    billingReason: 'subscription_create',
    lines: [{ priceId: BASIC, periodStart: YEAR_START, periodEnd: '2026-12-01T00:00:00Z' }],
  });

  async function deliverAll(now: string, events: readonly Record<string, unknown>[]) {
    const h = await start(now);
    for (const event of events) {
      const response = await h.deliver(event);
      expect(response.statusCode).toBe(200);
    }
    return h;
  }

  async function lotsOf(h: WebhookHarness) {
    const view = await h.balance(customerId);
    const shape = (lots: readonly { grantedAt: string; granted: number; remaining?: number }[]) =>
      lots.map((lot) => `${lot.grantedAt.slice(0, 10)} ${lot.remaining ?? lot.granted}`);
    return { balance: view.balance, lots: shape(view.lots), upcoming: shape(view.upcoming) };
  }

  it('C7 C16 C19: a downgrade and its subscription end give the same lots whichever Stripe delivers first', async () => {
    // 5 x YEARLY (500 a month) from 1 Nov, down to 3 on 1 May (half the year left):
    // 100 x 12 x (-50000 + 30000) / 20000 = -1200. The subscription ends on 15 Aug.
    const now = '2027-08-20T00:00:00Z';
    const downgrade = change('in_down', '2027-05-01T00:00:00Z', 5, 3, 0.5);
    const end = ended('2027-08-15T00:00:00Z');
    // In Stripe's order the downgrade cancels October and September (1000) and 200 of August;
    // the end has nothing left after it to cancel.
    const inOrder = await lotsOf(await deliverAll(now, [monthly, yearly(5), downgrade, end]));
    const endFirst = await lotsOf(await deliverAll(now, [monthly, yearly(5), end, downgrade]));
    expect(inOrder.upcoming).toEqual([]);
    expect(inOrder.lots).toContain('2027-08-01 300');
    expect(endFirst).toEqual(inOrder);
  });

  it('C7 C8 C16 C19: an end, then the downgrade, then the annual invoice give the lots of Stripe order', async () => {
    const now = '2027-08-20T00:00:00Z';
    const downgrade = change('in_down', '2027-05-01T00:00:00Z', 5, 3, 0.5);
    const end = ended('2027-08-15T00:00:00Z');
    const inOrder = await lotsOf(await deliverAll(now, [monthly, yearly(5), downgrade, end]));
    const reversed = await lotsOf(await deliverAll(now, [monthly, end, downgrade, yearly(5)]));
    expect(reversed).toEqual(inOrder);
  });

  it('C16 C19: a downgrade leaves the top-up of a later change alone, even when Stripe delivers that first', async () => {
    // 3 x YEARLY (300 a month); on 1 Feb down to 1 (9 months left): 100 x 12 x (-45000 +
    // 15000) / 20000 = -1800, cancelled from the months March to October (2400), latest first;
    // on 1 May back up to 3 (6 months left): +1200 as 200 a month from May to October.
    const now = '2027-05-02T00:00:00Z';
    const down = change('in_down', '2027-02-01T00:00:00Z', 3, 1, 0.75);
    const up = change('in_up', '2027-05-01T00:00:00Z', 1, 3, 0.5);
    const inOrder = await lotsOf(await deliverAll(now, [yearly(3), down, up]));
    const upFirst = await lotsOf(await deliverAll(now, [yearly(3), up, down]));
    // The top-up's months are whole: the downgrade took May to October of the plan only.
    expect(inOrder.upcoming).toEqual([
      '2027-06-01 200',
      '2027-07-01 200',
      '2027-08-01 200',
      '2027-09-01 200',
      '2027-10-01 200',
    ]);
    expect(upFirst).toEqual(inOrder);
  });

  it('C16 C19: an upgrade and a downgrade billed at the same instant give the same lots in every order', async () => {
    // 3 x YEARLY (300 a month); on 1 May (6 months left) up to 5, +1200 as 200 a month from
    // May to October, and in the same second down to 4, -600. Nothing orders the two: the
    // downgrade cuts the plan's months (billed before it), never the other change's top-up.
    const now = '2027-05-02T00:00:00Z';
    const up = change('in_up', '2027-05-01T00:00:00Z', 3, 5, 0.5);
    const down = change('in_down', '2027-05-01T00:00:00Z', 5, 4, 0.5);
    const upFirst = await lotsOf(await deliverAll(now, [yearly(3), up, down]));
    const downFirst = await lotsOf(await deliverAll(now, [yearly(3), down, up]));
    const planLast = await lotsOf(await deliverAll(now, [down, up, yearly(3)]));
    // June to August: the plan's 300 and the top-up's 200; September and October: the top-up's.
    expect(upFirst.upcoming).toEqual([
      '2027-06-01 200',
      '2027-06-01 300',
      '2027-07-01 200',
      '2027-07-01 300',
      '2027-08-01 200',
      '2027-08-01 300',
      '2027-09-01 200',
      '2027-10-01 200',
    ]);
    expect(downFirst).toEqual(upFirst);
    expect(planLast).toEqual(upFirst);
  });

  it('C7 C16 C19: a same-instant pair and the end give the same lots in any order', async () => {
    // As above, but down to 3 (-1200, more than the plan's 600 after the end on 15 Aug): a
    // downgrade delivered after the end counts only the plan's months the end cancelled, not
    // the top-up's, and cuts the rest from July and August as in the first order.
    const now = '2027-08-20T00:00:00Z';
    const up = change('in_up', '2027-05-01T00:00:00Z', 3, 5, 0.5);
    const down = change('in_down', '2027-05-01T00:00:00Z', 5, 3, 0.5);
    const end = ended('2027-08-15T00:00:00Z');
    const inOrder = await lotsOf(await deliverAll(now, [monthly, yearly(3), up, down, end]));
    const reversed = await lotsOf(await deliverAll(now, [monthly, end, down, up, yearly(3)]));
    const downLast = await lotsOf(await deliverAll(now, [monthly, yearly(3), up, end, down]));
    expect(inOrder.lots).toContain('2027-08-01 200');
    expect(inOrder.lots).not.toContain('2027-08-01 300');
    expect(reversed).toEqual(inOrder);
    expect(downLast).toEqual(inOrder);
  });

  it('C16 C19 C20: a downgrade delivered before the annual invoice it cuts cancels its months on arrival', async () => {
    // PRO_YEARLY (500 a month) from 1 Nov; on 1 May down to YEARLY: 500 x 12 x -25000/50000 +
    // 100 x 12 x 10000/20000 = -2400 of the 2500 still to come, latest first.
    const now = '2027-05-01T00:10:00Z';
    const period = { periodStart: '2027-05-01T00:00:00Z', periodEnd: YEAR_END };
    const downgrade = paidInvoiceEvent({
      customerId,
      subscriptionId,
      invoiceId: 'in_down',
      billingReason: 'subscription_update',
      lines: [
        { priceId: PRO_YEARLY, kind: 'proration', ...period, amount: -25000, unitAmount: 50000 },
        { priceId: YEARLY, kind: 'proration', ...period, amount: 10000, unitAmount: 20000 },
      ],
    });
    const inOrder = await lotsOf(await deliverAll(now, [yearly(1, PRO_YEARLY), downgrade]));
    const downFirst = await lotsOf(await deliverAll(now, [downgrade, yearly(1, PRO_YEARLY)]));
    expect(inOrder.upcoming).toEqual(['2027-06-01 100']);
    expect(downFirst).toEqual(inOrder);
  });

  it('C16 C19: a duplicate of a late downgrade, or of the invoice it cut, changes nothing more', async () => {
    const now = '2027-08-20T00:00:00Z';
    const downgrade = change('in_down', '2027-05-01T00:00:00Z', 5, 3, 0.5);
    const end = ended('2027-08-15T00:00:00Z');
    const once = await lotsOf(await deliverAll(now, [monthly, end, downgrade, yearly(5)]));
    const twice = await lotsOf(
      await deliverAll(now, [monthly, end, downgrade, yearly(5), downgrade, yearly(5), end]),
    );
    expect(twice).toEqual(once);
  });
});
