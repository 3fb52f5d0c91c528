import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import { type StripeObject, stripeSample } from '../../test/fixtures/stripe-objects';
import { intervalMonthsOf, SAMPLE_PRICES, samplePriceById } from './sample-catalog';

/**
 * The Stripe events of `npm run trigger`, one list per scenario, each event built from Stripe's
 * own sample objects (test/fixtures/) with only the fields of the scenario overwritten, in the
 * shapes of the API version the `stripe` package pins: a subscription invoice names its
 * subscription and metadata under `parent.subscription_details`, a line its price under
 * `pricing.price_details.price` and its subscription item under
 * `parent.subscription_item_details`. Add a scenario by adding an entry to SCENARIOS.
 */

/** What a scenario is about; every id has a default derived from the customer. */
export type ScenarioInput = {
  readonly customerId: string;
  readonly subscriptionId: string;
  /** The price bought: a plan for subscriptions, a pack for `pack`. */
  readonly priceId: string;
  /** The new price of an `upgrade`. */
  readonly toPriceId: string;
  readonly quantity: number;
  /** A referral code for the subscription's (or the pack's Checkout Session's) metadata. */
  readonly referralCode?: string;
  /** Cents: what a purchase cost, or what a refund or dispute takes back. */
  readonly amount?: number;
  /** The payment intent that paid for the customer's purchases, and that refunds name. */
  readonly paymentIntentId: string;
  readonly nowMs: number;
};

type Event = StripeObject;
type Scenario = {
  readonly summary: string;
  readonly events: (input: ScenarioInput) => Event[];
};

const DAY_S = 86_400;

/** A Stripe-looking id, new on every call, so that no two runs collide. */
export function newId(prefix: string): string {
  return `${prefix}_trig${randomBytes(8).toString('hex')}`;
}

const seconds = (ms: number) => Math.floor(ms / 1000);

function monthAfter(startS: number, months = 1): number {
  const date = new Date(startS * 1000);
  date.setUTCMonth(date.getUTCMonth() + months);
  return seconds(date.getTime());
}

/** What one unit of the price costs, in cents (sample prices know; others count as $10). */
function unitAmount(priceId: string): number {
  return samplePriceById(priceId)?.unitAmount ?? 1000;
}

/** How many months one period of the price spans (sample prices know; others are monthly). */
function periodMonths(priceId: string): number {
  const price = samplePriceById(priceId);
  return price ? intervalMonthsOf(price) : 1;
}

/** An event envelope (Stripe's `event` sample) around `object`. */
export function envelope(type: string, object: StripeObject, createdS: number): Event {
  return {
    ...stripeSample('event'),
    id: newId('evt'),
    type,
    created: createdS,
    api_version: Stripe.API_VERSION,
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    data: { object },
  };
}

type LineInput = {
  readonly invoiceId: string;
  readonly subscriptionId: string;
  readonly priceId: string;
  readonly quantity: number;
  readonly amount: number;
  readonly period: { readonly start: number; readonly end: number };
  readonly proration: boolean;
};

/** A subscription line of an invoice (Stripe's `line_item` sample). */
function subscriptionLine(input: LineInput): StripeObject {
  return {
    ...stripeSample('line_item'),
    id: newId('il'),
    invoice: input.invoiceId,
    amount: input.amount,
    quantity: input.quantity,
    quantity_decimal: String(input.quantity),
    period: input.period,
    subscription: input.subscriptionId,
    parent: {
      type: 'subscription_item_details',
      invoice_item_details: null,
      subscription_item_details: {
        invoice_item: null,
        proration: input.proration,
        proration_details: { credited_items: null },
        subscription: input.subscriptionId,
        subscription_item: `si_${input.subscriptionId.replace(/^sub_/, '')}`,
      },
    },
    pricing: {
      type: 'price_details',
      price_details: { price: input.priceId, product: `prod_${input.priceId}` },
      unit_amount_decimal: String(unitAmount(input.priceId)),
    },
    description: `${input.quantity} × ${input.priceId}${input.proration ? ' (proration)' : ''}`,
  };
}

type InvoiceInput = {
  readonly scenario: ScenarioInput;
  readonly billingReason: string;
  readonly lines: (invoiceId: string) => StripeObject[];
  /** A one-off invoice (a pack) has no subscription; default false. */
  readonly standalone?: boolean;
  readonly invoiceId?: string;
};

/** A paid subscription invoice (Stripe's `invoice` sample) and its `invoice.paid` event. */
function invoicePaid({
  scenario,
  billingReason,
  lines,
  standalone,
  invoiceId = newId('in'),
}: InvoiceInput): Event {
  const data = lines(invoiceId);
  const total = data.reduce((sum, line) => sum + (line.amount as number), 0);
  const paid = Math.max(0, scenario.amount ?? total);
  const nowS = seconds(scenario.nowMs);
  const invoice = {
    ...stripeSample('invoice'),
    id: invoiceId,
    customer: scenario.customerId,
    customer_email: null,
    status: 'paid',
    billing_reason: billingReason,
    created: nowS,
    period_start: nowS,
    period_end: nowS,
    amount_due: paid,
    amount_paid: paid,
    amount_remaining: 0,
    status_transitions: {
      finalized_at: nowS,
      marked_uncollectible_at: null,
      paid_at: nowS,
      voided_at: null,
    },
    parent: standalone
      ? null
      : {
          type: 'subscription_details',
          quote_details: null,
          subscription_details: {
            subscription: scenario.subscriptionId,
            metadata: scenario.referralCode ? { referral_code: scenario.referralCode } : {},
          },
        },
    // A pack's code: the app sets it on the Checkout Session and on the invoice it creates.
    metadata: standalone && scenario.referralCode ? { referral_code: scenario.referralCode } : {},
    lines: { object: 'list', data, has_more: false, url: `/v1/invoices/${invoiceId}/lines` },
    payments: invoicePayments(invoiceId, scenario.paymentIntentId, paid),
  };
  return envelope('invoice.paid', invoice, nowS);
}

/** The invoice's payments list (Stripe's `invoice_payment` sample): how a refund finds it. */
function invoicePayments(invoiceId: string, paymentIntentId: string, amount: number) {
  const payment = {
    ...stripeSample('invoice_payment'),
    id: newId('inpay'),
    invoice: invoiceId,
    amount_paid: amount,
    amount_requested: amount,
    currency: 'usd',
    is_default: true,
    livemode: false,
    status: 'paid',
    payment: { type: 'payment_intent', payment_intent: paymentIntentId },
  };
  return { object: 'list', data: [payment], has_more: false, url: '/v1/invoice_payments' };
}

/**
 * A subscription's first invoice (`subscription_create`) or a renewal (`subscription_cycle`),
 * over one billing period of the price (a year for a yearly price). A trial's first invoice
 * charges nothing: its line's amount is 0 (C18).
 */
function planInvoice(scenario: ScenarioInput, billingReason: string, trial = false): Event {
  const start = seconds(scenario.nowMs);
  return invoicePaid({
    scenario: trial ? { ...scenario, amount: 0 } : scenario,
    billingReason,
    lines: (invoiceId) => [
      subscriptionLine({
        invoiceId,
        subscriptionId: scenario.subscriptionId,
        priceId: scenario.priceId,
        quantity: scenario.quantity,
        amount: trial ? 0 : unitAmount(scenario.priceId) * scenario.quantity,
        period: { start, end: monthAfter(start, periodMonths(scenario.priceId)) },
        proration: false,
      }),
    ],
  });
}

/**
 * A change to a dearer price in the middle of the period, invoiced at once: Stripe's two
 * proration lines, a credit for the unused half of the old price and a charge for the new one.
 */
function upgradeInvoice(scenario: ScenarioInput): Event {
  const start = seconds(scenario.nowMs);
  const period = { start, end: start + 15 * DAY_S };
  const half = (priceId: string) => Math.round((unitAmount(priceId) * scenario.quantity) / 2);
  const line = (priceId: string, amount: number, invoiceId: string) =>
    subscriptionLine({
      invoiceId,
      subscriptionId: scenario.subscriptionId,
      priceId,
      quantity: scenario.quantity,
      amount,
      period,
      proration: true,
    });
  return invoicePaid({
    scenario,
    billingReason: 'subscription_update',
    lines: (invoiceId) => [
      line(scenario.priceId, -half(scenario.priceId), invoiceId),
      line(scenario.toPriceId, half(scenario.toPriceId), invoiceId),
    ],
  });
}

/** `customer.subscription.deleted`: the subscription ended now (Stripe's `subscription`). */
function subscriptionDeleted(scenario: ScenarioInput): Event {
  const nowS = seconds(scenario.nowMs);
  const subscription = {
    ...stripeSample('subscription'),
    id: scenario.subscriptionId,
    customer: scenario.customerId,
    status: 'canceled',
    canceled_at: nowS,
    ended_at: nowS,
    cancel_at: null,
    cancel_at_period_end: false,
    metadata: scenario.referralCode ? { referral_code: scenario.referralCode } : {},
  };
  return envelope('customer.subscription.deleted', subscription, nowS);
}

/** A one-off invoice line for a price (Stripe's `line_item` sample): a pack's line. */
function packLine(invoiceId: string, scenario: ScenarioInput): StripeObject {
  const nowS = seconds(scenario.nowMs);
  return {
    ...stripeSample('line_item'),
    id: newId('il'),
    invoice: invoiceId,
    amount: unitAmount(scenario.priceId) * scenario.quantity,
    quantity: scenario.quantity,
    quantity_decimal: String(scenario.quantity),
    period: { start: nowS, end: nowS },
    subscription: null,
    parent: {
      type: 'invoice_item_details',
      invoice_item_details: {
        invoice_item: newId('ii'),
        proration: false,
        proration_details: { credited_items: null },
        subscription: null,
      },
      subscription_item_details: null,
    },
    pricing: {
      type: 'price_details',
      price_details: { price: scenario.priceId, product: `prod_${scenario.priceId}` },
      unit_amount_decimal: String(unitAmount(scenario.priceId)),
    },
    description: `${scenario.quantity} × ${scenario.priceId}`,
  };
}

/**
 * A credit pack bought through Checkout in payment mode with invoice creation: the invoice's
 * `invoice.paid` (billing_reason manual, its lines in the event) and the Session's
 * `checkout.session.completed` naming that invoice. Both carry the purchase: it grants once,
 * and, delivered after the invoice, the Session needs no call to Stripe for its lines.
 */
function packPurchase(scenario: ScenarioInput): Event[] {
  const invoiceId = newId('in');
  const invoice = invoicePaid({
    scenario,
    billingReason: 'manual',
    standalone: true,
    invoiceId,
    lines: (id) => [packLine(id, scenario)],
  });
  return [invoice, packCheckout(scenario, invoiceId)];
}

/** A credit pack bought through Checkout in payment mode, paid at once. */
function packCheckout(scenario: ScenarioInput, invoiceId: string | null): Event {
  const nowS = seconds(scenario.nowMs);
  const total = scenario.amount ?? unitAmount(scenario.priceId) * scenario.quantity;
  const session = {
    ...stripeSample('checkout.session'),
    id: newId('cs_test'),
    mode: 'payment',
    status: 'complete',
    payment_status: 'paid',
    customer: scenario.customerId,
    customer_email: null,
    customer_details: null,
    created: nowS,
    amount_subtotal: total,
    amount_total: total,
    currency: 'usd',
    payment_intent: scenario.paymentIntentId,
    invoice: invoiceId,
    subscription: null,
    metadata: scenario.referralCode ? { referral_code: scenario.referralCode } : {},
    url: null,
  };
  return envelope('checkout.session.completed', session, nowS);
}

/** The charge behind the customer's payment intent (Stripe's `charge` sample). */
function charge(scenario: ScenarioInput, refunded: number, paid: number): StripeObject {
  return {
    ...stripeSample('charge'),
    id: chargeIdOf(scenario.paymentIntentId),
    customer: scenario.customerId,
    payment_intent: scenario.paymentIntentId,
    amount: paid,
    amount_captured: paid,
    amount_refunded: refunded,
    captured: true,
    paid: true,
    refunded: refunded >= paid,
  };
}

function chargeIdOf(paymentIntentId: string): string {
  return `ch_${paymentIntentId.replace(/^pi_/, '')}`;
}

/** What the customer paid, for refunds and disputes: the amount given, or the price's. */
function purchaseAmount(scenario: ScenarioInput): number {
  return unitAmount(scenario.priceId) * scenario.quantity;
}

/** A refund of `amount` cents: `refund.created`, then `charge.refunded`, as Stripe sends them. */
function refundEvents(scenario: ScenarioInput, amount: number): Event[] {
  const nowS = seconds(scenario.nowMs);
  const paid = purchaseAmount(scenario);
  const refund = {
    ...stripeSample('refund'),
    id: newId('re'),
    amount,
    charge: chargeIdOf(scenario.paymentIntentId),
    payment_intent: scenario.paymentIntentId,
    created: nowS,
    currency: 'usd',
    status: 'succeeded',
    reason: 'requested_by_customer',
  };
  const refundedCharge = {
    ...charge(scenario, amount, paid),
    refunds: { object: 'list', data: [refund], has_more: false, url: '/v1/refunds' },
  };
  return [
    envelope('refund.created', refund, nowS),
    envelope('charge.refunded', refundedCharge, nowS),
  ];
}

/** A dispute (Stripe's `dispute` sample) of the customer's charge in the given state. */
function dispute(scenario: ScenarioInput, id: string, status: string): StripeObject {
  return {
    ...stripeSample('dispute'),
    id,
    amount: scenario.amount ?? purchaseAmount(scenario),
    charge: chargeIdOf(scenario.paymentIntentId),
    payment_intent: scenario.paymentIntentId,
    currency: 'usd',
    created: seconds(scenario.nowMs),
    reason: 'fraudulent',
    status,
  };
}

/** A chargeback: the funds go when it opens; if won they come back, then it closes. */
function disputeEvents(scenario: ScenarioInput, won: boolean): Event[] {
  const id = newId('dp');
  const nowS = seconds(scenario.nowMs);
  const withdrawn = envelope(
    'charge.dispute.funds_withdrawn',
    dispute(scenario, id, 'needs_response'),
    nowS,
  );
  const outcome = won ? 'won' : 'lost';
  // All at the scenario's time: a later one would be in the future of the stack's clock, and
  // what a won dispute gives back is granted at its event's time (C22, C23).
  const closed = envelope('charge.dispute.closed', dispute(scenario, id, outcome), nowS);
  if (!won) return [withdrawn, closed];
  const reinstated = envelope(
    'charge.dispute.funds_reinstated',
    dispute(scenario, id, 'won'),
    nowS,
  );
  return [withdrawn, reinstated, closed];
}

export const SCENARIOS = {
  subscribe: {
    summary: "a new subscription's first invoice is paid (a --code makes it a referral)",
    events: (input) => [planInvoice(input, 'subscription_create')],
  },
  trial: {
    summary: 'a subscription starts with a free trial: its first invoice is $0 (C18)',
    events: (input) => [planInvoice(input, 'subscription_create', true)],
  },
  annual: {
    summary: 'a yearly plan is paid: twelve monthly lots, one now, the rest upcoming (C20)',
    events: (input) => [planInvoice(input, 'subscription_create')],
  },
  renew: {
    summary: "the subscription's next period is paid",
    events: (input) => [planInvoice(input, 'subscription_cycle')],
  },
  upgrade: {
    summary: 'a change from --price to --to mid-period, prorations invoiced at once',
    events: (input) => [upgradeInvoice(input)],
  },
  cancel: {
    summary: 'the subscription ends now',
    events: (input) => [subscriptionDeleted(input)],
  },
  pack: {
    summary: 'a credit pack bought through Checkout with an invoice (granted once)',
    events: (input) => packPurchase(input),
  },
  refund: {
    summary: 'the whole purchase is refunded',
    events: (input) => refundEvents(input, input.amount ?? purchaseAmount(input)),
  },
  'partial-refund': {
    summary: 'part of the purchase is refunded (--amount cents, default half)',
    events: (input) => refundEvents(input, input.amount ?? Math.floor(purchaseAmount(input) / 2)),
  },
  'dispute-lost': {
    summary: 'a chargeback: the funds are withdrawn and the dispute is lost',
    events: (input) => disputeEvents(input, false),
  },
  'dispute-won': {
    summary: 'a chargeback that is won: the funds are withdrawn, then reinstated',
    events: (input) => disputeEvents(input, true),
  },
  referral: {
    summary: "a new customer subscribes with a referrer's code (--referrer or --code)",
    events: (input) => [planInvoice(input, 'subscription_create')],
  },
} as const satisfies Record<string, Scenario>;

export type ScenarioName = keyof typeof SCENARIOS;
export const SCENARIO_NAMES = Object.keys(SCENARIOS) as readonly ScenarioName[];

export function isScenarioName(name: string): name is ScenarioName {
  return Object.hasOwn(SCENARIOS, name);
}

/** The price a scenario buys unless --price says otherwise. */
export function defaultPriceOf(scenario: ScenarioName): string {
  if (scenario === 'pack') return SAMPLE_PRICES.pack.id;
  if (scenario === 'annual') return SAMPLE_PRICES.annual.id;
  return SAMPLE_PRICES.basic.id;
}

/** The ids of a customer's things, derived from the customer so that scenarios meet. */
export function idsOf(customerId: string) {
  const suffix = customerId.replace(/^cus_/, '');
  return { subscriptionId: `sub_${suffix}`, paymentIntentId: `pi_${suffix}` };
}
