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
  };

  /** The refund of `amount` of the annual invoice's $600, on 1 May at noon. */
  const refund = (amount: number) =>
    refundEvent(
      'refund.created',
      refundObject({ paymentIntentId: 'pi_year', amount, created: '2027-05-01T12:00:00Z' }),
    );

  async function outcomeOf(order: readonly string[], refunded: number) {
    const events: Readonly<Record<string, Event>> = { ...purchases, refund: refund(refunded) };
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

  /** Every order of the four deliveries must end as Stripe's order does. */
  async function everyOrderAsStripe(refunded: number) {
    const inOrder = await outcomeOf(['yearly', 'up', 'down', 'refund'], refunded);
    for (const order of orders(['yearly', 'up', 'down', 'refund']).slice(1)) {
      expect({ order, ...(await outcomeOf(order, refunded)) }).toEqual({ order, ...inOrder });
    }
    return inOrder;
  }

  it('C16 C19 C22 C23 a full refund and the downgrade cutting its months give the debt of Stripe order in every order', async () => {
    // Both purchases have 2200 left from March once the cut is made: the refund takes them and
    // owes 1400. Delivered before the downgrade, it takes months the cut then takes, and takes
    // that much again (owed); delivered after the cut but before the top-up, it finds months
    // cut that the top-up's arrival gives back, and they repay what it owes.
    const outcome = await everyOrderAsStripe(PAID);
    expect(outcome).toEqual({ balance: 0, debt: 1400, lots: [], upcoming: [] });
  }, 120_000);

  it('C16 C19 C22 a half refund leaves the months of Stripe order in every order', async () => {
    // 1800 back: the annual invoice's 1200 left, then the top-up's granted months (600).
    const outcome = await everyOrderAsStripe(PAID / 2);
    expect(outcome).toEqual({
      balance: 0,
      debt: 0,
      lots: [],
      upcoming: ['2027-06-01 200', '2027-07-01 200'],
    });
  }, 120_000);
});
