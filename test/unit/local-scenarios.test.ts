import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { SAMPLE_PRICES } from '../../infra/local/sample-catalog';
import { SCENARIO_NAMES, SCENARIOS, type ScenarioInput } from '../../infra/local/scenarios';
import { describeBalance, parseTriggerArgs } from '../../infra/local/trigger';
import { parseStripeEvent } from '../../lib/stripe/events';

/** The events `npm run trigger` sends, checked against the shapes of DESIGN's event path. */

const NOW_MS = Date.parse('2027-03-10T12:00:00Z');
const NOW_S = NOW_MS / 1000;

const input: ScenarioInput = {
  customerId: 'cus_amy',
  subscriptionId: 'sub_amy',
  paymentIntentId: 'pi_amy',
  priceId: SAMPLE_PRICES.basic.id,
  toPriceId: SAMPLE_PRICES.pro.id,
  quantity: 2,
  nowMs: NOW_MS,
};

// biome-ignore lint/suspicious/noExplicitAny: the assertions read deep into Stripe's JSON.
type Json = Record<string, any>;
const events = (name: keyof typeof SCENARIOS, extra: Partial<ScenarioInput> = {}) =>
  SCENARIOS[name].events({ ...input, ...extra }) as Json[];
const only = (name: keyof typeof SCENARIOS, extra: Partial<ScenarioInput> = {}) => {
  const [event, ...rest] = events(name, extra);
  expect(rest).toEqual([]);
  return event as Json;
};

describe('Scenarios of npm run trigger', () => {
  it.each(SCENARIO_NAMES)(
    '%s: events of the pinned API version that the envelope check accepts',
    (name) => {
      for (const event of events(name, { referralCode: 'ABCDE-FGHJK' })) {
        expect(event).toMatchObject({
          object: 'event',
          api_version: Stripe.API_VERSION,
          livemode: false,
        });
        expect(event.id).toMatch(/^evt_/);
        expect(() => parseStripeEvent(event)).not.toThrow();
      }
    },
  );

  it('subscribe: a paid subscription_create invoice naming subscription, price and subscription item (C3)', () => {
    // Act
    const invoice = only('subscribe', { referralCode: 'ABCDE-FGHJK' }).data.object;

    // Assess
    expect(invoice).toMatchObject({
      object: 'invoice',
      customer: 'cus_amy',
      status: 'paid',
      billing_reason: 'subscription_create',
      amount_paid: 2 * SAMPLE_PRICES.basic.unitAmount,
      parent: {
        type: 'subscription_details',
        subscription_details: {
          subscription: 'sub_amy',
          metadata: { referral_code: 'ABCDE-FGHJK' },
        },
      },
    });
    const [line, ...more] = invoice.lines.data;
    expect(more).toEqual([]);
    expect(line).toMatchObject({
      quantity: 2,
      period: { start: NOW_S, end: Date.parse('2027-04-10T12:00:00Z') / 1000 },
      pricing: { type: 'price_details', price_details: { price: SAMPLE_PRICES.basic.id } },
      parent: {
        type: 'subscription_item_details',
        subscription_item_details: { subscription: 'sub_amy', proration: false },
      },
    });
    expect(invoice.payments.data[0].payment).toEqual({
      type: 'payment_intent',
      payment_intent: 'pi_amy',
    });
  });

  it('renew: the same shape with billing_reason subscription_cycle and a new invoice id', () => {
    // Act
    const first = only('subscribe').data.object;
    const renewal = only('renew').data.object;

    // Assess
    expect(renewal.billing_reason).toBe('subscription_cycle');
    expect(renewal.id).not.toBe(first.id);
    expect(renewal.parent.subscription_details.metadata).toEqual({});
  });

  it('upgrade: a subscription_update invoice of two proration lines, unused time negative (C19)', () => {
    // Act
    const invoice = only('upgrade').data.object;

    // Assess
    expect(invoice.billing_reason).toBe('subscription_update');
    const lines = invoice.lines.data.map((line: Json) => ({
      price: line.pricing.price_details.price,
      amount: line.amount,
      proration: line.parent.subscription_item_details.proration,
    }));
    expect(lines).toEqual([
      { price: SAMPLE_PRICES.basic.id, amount: -SAMPLE_PRICES.basic.unitAmount, proration: true },
      { price: SAMPLE_PRICES.pro.id, amount: SAMPLE_PRICES.pro.unitAmount, proration: true },
    ]);
    expect(invoice.amount_paid).toBe(SAMPLE_PRICES.pro.unitAmount - SAMPLE_PRICES.basic.unitAmount);
  });

  it('cancel: customer.subscription.deleted, canceled and ended now (C7)', () => {
    // Act
    const event = only('cancel');

    // Assess
    expect(event.type).toBe('customer.subscription.deleted');
    expect(event.data.object).toMatchObject({
      object: 'subscription',
      id: 'sub_amy',
      customer: 'cus_amy',
      status: 'canceled',
      ended_at: NOW_S,
    });
  });

  it('pack: a manual invoice and the Checkout Session that created it, naming one purchase (C21)', () => {
    // Act
    const [invoice, session] = events('pack', { priceId: SAMPLE_PRICES.pack.id, quantity: 1 });

    // Assess
    expect(invoice?.type).toBe('invoice.paid');
    expect(invoice?.data.object).toMatchObject({
      billing_reason: 'manual',
      status: 'paid',
      parent: null,
      amount_paid: SAMPLE_PRICES.pack.unitAmount,
    });
    expect(session?.type).toBe('checkout.session.completed');
    expect(session?.data.object).toMatchObject({
      object: 'checkout.session',
      mode: 'payment',
      status: 'complete',
      payment_status: 'paid',
      customer: 'cus_amy',
      amount_total: SAMPLE_PRICES.pack.unitAmount,
      payment_intent: 'pi_amy',
      invoice: invoice?.data.object.id,
    });
  });

  it('trial and annual: a $0 first invoice, and a first invoice over twelve months (C18, C20)', () => {
    const [trial] = events('trial');
    const [annual] = events('annual', { priceId: SAMPLE_PRICES.annual.id });
    expect(trial?.data.object).toMatchObject({
      billing_reason: 'subscription_create',
      amount_paid: 0,
    });
    const line = annual?.data.object.lines.data[0];
    const months = (line.period.end - line.period.start) / 86_400;
    expect(months).toBeGreaterThanOrEqual(365);
    expect(months).toBeLessThanOrEqual(366);
  });

  it('refund and partial-refund: refund.created and charge.refunded for the amount (C22)', () => {
    // Act
    const full = events('refund');
    const partial = events('partial-refund');
    const given = events('partial-refund', { amount: 250 });

    // Assess
    const paid = 2 * SAMPLE_PRICES.basic.unitAmount;
    expect(full.map((event) => event.type)).toEqual(['refund.created', 'charge.refunded']);
    expect(full[0]?.data.object).toMatchObject({
      object: 'refund',
      amount: paid,
      payment_intent: 'pi_amy',
    });
    expect(full[1]?.data.object).toMatchObject({
      object: 'charge',
      amount_refunded: paid,
      refunded: true,
    });
    expect(partial[1]?.data.object).toMatchObject({ amount_refunded: paid / 2, refunded: false });
    expect(given[0]?.data.object.amount).toBe(250);
  });

  it('dispute-lost and dispute-won: funds withdrawn, and for a win reinstated, of one dispute (C22, C23)', () => {
    // Act
    const lost = events('dispute-lost');
    const won = events('dispute-won');

    // Assess
    expect(lost.map((event) => event.type)).toEqual([
      'charge.dispute.funds_withdrawn',
      'charge.dispute.closed',
    ]);
    expect(lost[1]?.data.object.status).toBe('lost');
    expect(won.map((event) => event.type)).toEqual([
      'charge.dispute.funds_withdrawn',
      'charge.dispute.funds_reinstated',
      'charge.dispute.closed',
    ]);
    expect(new Set(won.map((event) => event.data.object.id)).size).toBe(1);
    expect(won[2]?.data.object.status).toBe('won');
  });
});

describe('Function: parseTriggerArgs', () => {
  it("derives a customer's subscription and payment intent from the customer, so scenarios meet", () => {
    // Act
    const request = parseTriggerArgs(['renew', '--customer', 'cus_zoe', '--quantity', '3']);

    // Assess
    expect(request).toMatchObject({
      scenario: 'renew',
      input: {
        customerId: 'cus_zoe',
        subscriptionId: 'sub_zoe',
        paymentIntentId: 'pi_zoe',
        priceId: SAMPLE_PRICES.basic.id,
        quantity: 3,
      },
      print: false,
    });
  });

  it('buys the sample pack by default in the pack scenario, and dates events with --at', () => {
    // Act
    const request = parseTriggerArgs(['pack', '--at', '2027-01-10T09:15:00Z']);

    // Assess
    expect(request.input.priceId).toBe(SAMPLE_PRICES.pack.id);
    expect(request.atMs).toBe(Date.parse('2027-01-10T09:15:00Z'));
  });

  it.each([
    [[], 'missing the scenario'],
    [['subscribr'], 'unknown scenario "subscribr"; did you mean "subscribe"?'],
    [['referral'], 'referral needs --referrer'],
    [['subscribe', '--code', 'A', '--referrer', 'cus_b'], 'not both'],
    [['subscribe', '--quantity', '0'], '--quantity must be a whole number of at least 1'],
    [['subscribe', '--at', 'yesterday'], '--at must be an ISO-8601 time'],
    [['subscribe', '--colour', 'red'], "Unknown option '--colour'"],
  ])('refuses %j (%s)', (args, message) => {
    expect(() => parseTriggerArgs(args)).toThrow(message);
  });
});

describe('Function: describeBalance', () => {
  it('says the balance and each lot in one line', () => {
    // Act
    const line = describeBalance({
      customerId: 'cus_a',
      balance: 350,
      debt: 0,
      lots: [
        {
          source: 'subscription',
          granted: 100,
          remaining: 100,
          expiresAt: '2027-04-05T10:00:00.000Z',
        },
        {
          source: 'referral_bonus',
          granted: 250,
          remaining: 250,
          expiresAt: '2027-04-06T10:00:00.000Z',
        },
      ],
    });

    // Assess
    expect(line).toBe(
      'balance of cus_a: 350 (100/100 subscription until 2027-04-05, 250/250 referral_bonus until 2027-04-06)',
    );
  });
});
