import { describe, expect, it } from 'vitest';
import { audit } from '../../lib/jobs/audit';
import { refundEvent, refundObject } from '../support/reversal-events';
import { annualQuantityChanges, paidInvoiceEvent } from '../support/stripe-events';
import { harnessesWithStripeFake } from '../support/webhook-harness';

/**
 * C16 C19 C22 C23: a full refund of an annual invoice whose months a downgrade cuts, beside a
 * top-up the downgrade cuts too, through the real webhook handler on DynamoDB Local. In
 * Stripe's order the downgrade cuts first, latest first across both purchases, and the refund
 * then takes what is left; delivered in another order, the months a refund found cut, or took
 * before the cut came, must end as in Stripe's order all the same.
 */

const YEARLY = 'price_yearly'; // 100 a month, billed once a year ($200)
const YEAR_START = '2026-11-01T00:00:00Z';
const YEAR_END = '2027-11-01T00:00:00Z';
const PAID = 60_000;

type Event = Record<string, unknown>;

describe('Function: stripeWebhook, a refund of months a downgrade cuts (C16, C19, C22, C23)', () => {
  const harnesses = harnessesWithStripeFake();
  const customerId = 'cus_refund_cut';
  const subscriptionId = 'sub_year';

  /** C19: YEARLY's quantity from `from` to `to` at `at` (`left` of the year to go), at once. */
  const change = annualQuantityChanges(
    { customerId, subscriptionId },
    { priceId: YEARLY, unitAmount: 20000, periodEnd: YEAR_END },
  );

  // 3 x YEARLY from 1 Nov (300 a month, $600); on 1 Feb up to 5 (+200 a month, February to
  // October); on 1 May down to 2: -1800, latest first among both purchases (October,
  // September, August and 300 of July). The refund of the annual invoice, on 1 May at noon,
  // takes back in proportion to what it returns (C22): what is left of the annual invoice's
  // months from March first, then the top-up's, granted before those to come.
  const purchases: Readonly<Record<string, Event>> = {
    yearly: paidInvoiceEvent({
      customerId,
      subscriptionId,
      invoiceId: 'in_year',
      billingReason: 'subscription_create',
      lines: [
        {
          priceId: YEARLY,
          quantity: 3,
          periodStart: YEAR_START,
          periodEnd: YEAR_END,
          unitAmount: 20000,
        },
      ],
    }),
    up: change('in_up', '2027-02-01T00:00:00Z', 3, 5, 0.75),
    down: change('in_down', '2027-05-01T00:00:00Z', 5, 2, 0.5),
    // Or two downgrades, one billed before a refund of 20 April and one after it.
    down1: change('in_down1', '2027-03-01T00:00:00Z', 5, 4, 8 / 12),
    down2: change('in_down2', '2027-05-01T00:00:00Z', 4, 2, 0.5),
  };

  /** The refund of `amount` of the annual invoice's $600, on 1 May at noon unless `created`. */
  const refund = (amount: number, created = '2027-05-01T12:00:00Z') =>
    refundEvent('refund.created', refundObject({ paymentIntentId: 'pi_year', amount, created }));

  type Refund = { readonly amount: number; readonly created?: string };

  /** A handler on a fresh table on 2 May, the annual invoice's payment listed by Stripe. */
  async function annualCustomer() {
    const h = await harnesses.start({
      planCredits: { [YEARLY]: 100 },
      planIntervalMonths: { [YEARLY]: 12 },
      now: '2027-05-02T00:00:00Z',
    });
    harnesses.fake.invoicePayments.set('pi_year', {
      invoiceId: 'in_year',
      customerId,
      amount: PAID,
    });
    return h;
  }

  async function outcomeOf(order: readonly string[], refunded: Refund) {
    const events: Readonly<Record<string, Event>> = {
      ...purchases,
      refund: refund(refunded.amount, refunded.created),
    };
    const h = await annualCustomer();
    for (const name of order) {
      expect((await h.deliver(events[name] as Event)).statusCode).toBe(200);
    }
    expect((await audit(h.table, { customerId })).problems).toEqual([]);
    const view = await h.balance(customerId);
    const shape = (lots: readonly { grantedAt: string; granted: number; remaining?: number }[]) =>
      lots.map((lot) => `${lot.grantedAt.slice(0, 10)} ${lot.remaining ?? lot.granted}`).sort();
    return {
      balance: view.balance,
      debt: view.debt,
      lots: shape(view.lots),
      upcoming: shape(view.upcoming),
    };
  }

  function orders<T>(items: readonly T[]): T[][] {
    if (items.length <= 1) return [[...items]];
    return items.flatMap((item, i) =>
      orders([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
    );
  }

  /** Every order of the deliveries (those `tested` only, when given) ends as Stripe's does. */
  async function everyOrderAsStripe(
    refunded: Refund,
    stripe: readonly string[] = ['yearly', 'up', 'down', 'refund'],
    tested: (order: readonly string[]) => boolean = () => true,
  ) {
    const inOrder = await outcomeOf(stripe, refunded);
    for (const order of orders(stripe).filter(tested)) {
      if (order.join() === stripe.join()) continue;
      expect({ order, ...(await outcomeOf(order, refunded)) }).toEqual({ order, ...inOrder });
    }
    return inOrder;
  }

  it('C16 C19 C22 C23 a full refund and the downgrade cutting its months give the debt of Stripe order in every order', async () => {
    // Both purchases have 2200 left from March once the cut is made: the refund takes them and
    // owes 1400. Delivered before the downgrade, it takes months the cut then takes, and takes
    // that much again (owed); delivered after the cut but before the top-up, it finds months
    // cut that the top-up's arrival gives back, and they repay what it owes.
    const outcome = await everyOrderAsStripe({ amount: PAID });
    expect(outcome).toEqual({ balance: 0, debt: 1400, lots: [], upcoming: [] });
  }, 120_000);

  it('C16 C19 C22 a half refund leaves the months of Stripe order in every order', async () => {
    // 1800 back: the annual invoice's 1200 left, then the top-up's granted months (600).
    const outcome = await everyOrderAsStripe({ amount: PAID / 2 });
    expect(outcome).toEqual({
      balance: 0,
      debt: 0,
      lots: [],
      upcoming: ['2027-06-01 200', '2027-07-01 200'],
    });
  }, 120_000);

  // The refund on 20 April, before the downgrade: in Stripe's order it takes what is left of the
  // annual invoice's months (February has expired), granted first, then those to come latest
  // first, and the downgrade then cuts, latest first, what the refund left of both purchases.
  // Delivered after the downgrade, the refund finds the months it cut: it takes those cut
  // credits as its own, and the downgrade, planned again, cuts elsewhere what it can.
  const beforeDown = ['yearly', 'up', 'refund', 'down'];
  const refundedBeforeDown = (amount: number) => ({ amount, created: '2027-04-20T00:00:00Z' });

  it('C16 C19 C22 a half refund Stripe made before the downgrade leaves the months of Stripe order in every order', async () => {
    // 1800 back: March, April and May of the annual invoice, then October to August of it; the
    // downgrade then cuts, latest first, the months both purchases have left to come.
    const outcome = await everyOrderAsStripe(refundedBeforeDown(PAID / 2), beforeDown);
    expect(outcome).toEqual({
      balance: 600,
      debt: 0,
      lots: ['2027-03-01 200', '2027-04-01 200', '2027-05-01 200'],
      upcoming: ['2027-06-01 100'],
    });
  }, 120_000);

  it('C16 C19 C22 C23 a full refund Stripe made before the downgrade takes the top-up rather than owing, in every order', async () => {
    // 3600 back: the annual invoice's 2400 left, then 1200 of the top-up's months; the downgrade
    // cuts the rest. Delivered before the top-up, the refund owes 1200; the top-up arriving
    // after the downgrade repays it before the cut, as the refund took it in Stripe's order.
    const outcome = await everyOrderAsStripe(refundedBeforeDown(PAID), beforeDown);
    expect(outcome).toEqual({ balance: 0, debt: 0, lots: [], upcoming: [] });
  }, 120_000);

  it('C19 C22 C23 a refund between two downgrades, its debt repaid by a top-up delivered last, settles (found by review: it retried until it gave up)', async () => {
    // A downgrade billed before the refund cuts the top-up's months first; the repayment
    // before the later downgrade's cut takes only what that first cut leaves, so the plan
    // never takes the repayment back and the grant does not run again and again.
    const h = await annualCustomer();
    const events = [
      purchases.yearly,
      change('in_down1', '2027-03-01T00:00:00Z', 5, 4, 8 / 12),
      change('in_down2', '2027-05-01T00:00:00Z', 4, 2, 0.5),
      refund((PAID * 3) / 4, '2027-04-20T00:00:00Z'),
      purchases.up,
    ];
    for (const event of events) {
      expect((await h.deliver(event as Event)).statusCode).toBe(200);
    }
    expect((await audit(h.table, { customerId })).problems).toEqual([]);
  }, 120_000);

  // A refund between two downgrades: the first (1 March, 5 to 4) cuts before the refund in
  // Stripe's order, the second (1 May, 4 to 2) after it.
  const betweenDowns = ['yearly', 'up', 'down1', 'refund', 'down2'];

  it('C16 C19 C22 C23 a refund between two downgrades leaves the months of Stripe order in all 120 orders (found by review: the top-up delivered last left 0 where Stripe leaves 200)', async () => {
    // 2700 back: the annual invoice's February to May, then August to June (the first
    // downgrade cut its September and October), then the top-up's February to April.
    // Delivered after both downgrades but before the top-up, the refund owes 801; when the
    // top-up comes, the first downgrade cuts its October and September instead of the annual
    // invoice's August, and that August (201) repays the debt with the top-up's February to
    // April, as the refund took them in Stripe's order: the top-up's May is left.
    const outcome = await everyOrderAsStripe(refundedBeforeDown((PAID * 3) / 4), betweenDowns);
    expect(outcome).toEqual({ balance: 200, debt: 0, lots: ['2027-05-01 200'], upcoming: [] });
  }, 300_000);

  it('C16 C19 C22 C23 a full refund between two downgrades owes nothing, as in Stripe order, in all 120 orders (found by review: up to 700 was owed)', async () => {
    // 3600 back: everything both purchases have left once the first downgrade has cut, so the
    // second cuts what little is left. Delivered before the top-up, the refund owes (1701 after
    // both downgrades); the top-up and the August the first downgrade no longer cuts repay it.
    // Delivered before the first downgrade, the refund took months that downgrade then cuts: it
    // takes as much again, from the second downgrade's cuts first (that one comes after it in
    // Stripe's order, and cuts elsewhere what it can) and from a month the first cuts in part.
    const outcome = await everyOrderAsStripe(refundedBeforeDown(PAID), betweenDowns);
    expect(outcome).toEqual({ balance: 0, debt: 0, lots: [], upcoming: [] });
  }, 300_000);
});
