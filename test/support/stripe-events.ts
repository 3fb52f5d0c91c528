import { randomBytes } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import Stripe from 'stripe';
import { stripeSample } from '../fixtures/stripe-objects';

/**
 * Builders of realistic Stripe webhook deliveries. Every object starts as Stripe's own sample
 * committed under `test/fixtures/` (what Stripe's API mock serves) and only the fields a
 * scenario needs are overwritten, so tests see the shapes real Stripe sends, unknown fields and
 * all. Times are given as ISO strings or Unix seconds, as the scenario reads best.
 */

export const TEST_WEBHOOK_SECRET = 'whsec_test_0123456789abcdefghijklmnopqrstuv';
export const SUPPORTED_API_VERSION: string = Stripe.API_VERSION;

type Json = Record<string, unknown>;
/** An ISO-8601 time or Unix seconds. */
export type Time = string | number;

export function unix(time: Time): number {
  if (typeof time === 'number') return time;
  const ms = Date.parse(time);
  if (Number.isNaN(ms)) throw new Error(`not a time: ${time}`);
  return Math.floor(ms / 1000);
}

export function ms(time: Time): number {
  return unix(time) * 1000;
}

/** A deep copy of Stripe's sample object for `resource` (`invoice`, `subscription`, ...). */
export function stripeFixture(resource: string): Json {
  return stripeSample(resource);
}

/** A Stripe-looking id with the given prefix, unique per call. */
export function stripeId(prefix: string): string {
  return `${prefix}_test${randomBytes(9).toString('hex')}`;
}

export type EventOptions = {
  readonly type: string;
  readonly object: Json;
  readonly id?: string;
  readonly created?: Time;
  /** Defaults to the version the installed `stripe` package pins. */
  readonly apiVersion?: string | null;
};

/** An event envelope (Stripe's `event` sample) around `object`. */
export function stripeEvent(options: EventOptions): Json {
  const event = stripeFixture('event');
  return {
    ...event,
    id: options.id ?? stripeId('evt'),
    type: options.type,
    created: unix(options.created ?? '2026-11-01T00:00:00Z'),
    api_version: options.apiVersion === undefined ? SUPPORTED_API_VERSION : options.apiVersion,
    data: { object: options.object },
  };
}

export type LineSpec = {
  readonly priceId: string;
  readonly quantity?: number;
  readonly periodStart: Time;
  /** Defaults to one month after periodStart. */
  readonly periodEnd?: Time;
  readonly lineId?: string;
  /** `subscription` (default), a subscription `proration`, or a one-off `invoice_item`. */
  readonly kind?: 'subscription' | 'proration' | 'invoice_item';
  /** Defaults to the invoice's subscription. */
  readonly subscriptionId?: string;
  /** The price's unit amount in cents (default 2000); null sends none, as for some lines. */
  readonly unitAmount?: number | null;
  /** The line's amount in cents; defaults to unitAmount x quantity (negative: unused time). */
  readonly amount?: number;
};

/** An invoice line item (Stripe's `line_item` sample) for a subscription's price. */
export function invoiceLine(spec: LineSpec, invoiceId: string, subscriptionId: string): Json {
  const line = stripeFixture('line_item');
  const kind = spec.kind ?? 'subscription';
  const start = unix(spec.periodStart);
  const lineSubscription = spec.subscriptionId ?? subscriptionId;
  const parent =
    kind === 'invoice_item'
      ? {
          type: 'invoice_item_details',
          invoice_item_details: {
            invoice_item: stripeId('ii'),
            proration: false,
            proration_details: { credited_items: null },
            subscription: null,
          },
          subscription_item_details: null,
        }
      : {
          type: 'subscription_item_details',
          invoice_item_details: null,
          subscription_item_details: {
            invoice_item: null,
            proration: kind === 'proration',
            proration_details: { credited_items: null },
            subscription: lineSubscription,
            subscription_item: stripeId('si'),
          },
        };
  const unitAmount = spec.unitAmount === undefined ? 2000 : spec.unitAmount;
  return {
    ...line,
    id: spec.lineId ?? stripeId('il'),
    invoice: invoiceId,
    amount: spec.amount ?? (unitAmount ?? 2000) * (spec.quantity ?? 1),
    quantity: spec.quantity ?? 1,
    quantity_decimal: String(spec.quantity ?? 1),
    period: { start, end: spec.periodEnd ? unix(spec.periodEnd) : oneMonthAfter(start) },
    parent,
    pricing: {
      type: 'price_details',
      price_details: { price: spec.priceId, product: 'prod_QXg1hqf4jFNsqG' },
      unit_amount_decimal: unitAmount === null ? null : String(unitAmount),
    },
    subscription: kind === 'invoice_item' ? null : lineSubscription,
  };
}

function oneMonthAfter(startS: number): number {
  const date = new Date(startS * 1000);
  date.setUTCMonth(date.getUTCMonth() + 1);
  return Math.floor(date.getTime() / 1000);
}

export type InvoiceOptions = {
  readonly customerId: string;
  readonly subscriptionId: string;
  readonly lines: readonly LineSpec[];
  readonly invoiceId?: string;
  readonly billingReason?: string;
  readonly status?: string;
  /** The subscription's metadata as Stripe copies it onto the invoice (referral_code). */
  readonly metadata?: Record<string, string> | null;
  /** When Stripe created the invoice; defaults to the first line's period start. */
  readonly created?: Time;
  /** Marks the lines as the first page only (Stripe then lists the rest on request). */
  readonly hasMore?: boolean;
  readonly customerEmail?: string | null;
  /** Cents paid; defaults to the lines' amounts (0 for a trial or a 100% coupon). */
  readonly amountPaid?: number;
  /** When it was paid (status_transitions.paid_at); defaults to created. */
  readonly paidAt?: Time;
  /** The invoice's own metadata (a pack's referral code). */
  readonly invoiceMetadata?: Record<string, string>;
};

function sumOf(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0);
}

/** A paid subscription invoice (Stripe's `invoice` sample) with the given lines. */
export function paidInvoice(options: InvoiceOptions): Json {
  const invoice = stripeFixture('invoice');
  const invoiceId = options.invoiceId ?? stripeId('in');
  const firstStart = options.lines[0]?.periodStart ?? '2026-11-01T00:00:00Z';
  const lines = options.lines.map((spec) => invoiceLine(spec, invoiceId, options.subscriptionId));
  return {
    ...invoice,
    id: invoiceId,
    customer: options.customerId,
    customer_email:
      options.customerEmail === undefined ? 'buyer@example.com' : options.customerEmail,
    status: options.status ?? 'paid',
    billing_reason: options.billingReason ?? 'subscription_create',
    created: unix(options.created ?? firstStart),
    amount_paid:
      options.amountPaid ?? Math.max(0, sumOf(lines.map((line) => line.amount as number))),
    amount_due:
      options.amountPaid ?? Math.max(0, sumOf(lines.map((line) => line.amount as number))),
    amount_remaining: 0,
    metadata: options.invoiceMetadata ?? {},
    status_transitions: {
      ...(invoice.status_transitions as Json),
      paid_at: unix(options.paidAt ?? options.created ?? firstStart),
    },
    parent: {
      type: 'subscription_details',
      quote_details: null,
      subscription_details: {
        metadata: options.metadata === undefined ? {} : options.metadata,
        subscription: options.subscriptionId,
      },
    },
    lines: {
      ...(invoice.lines as Json),
      data: lines,
      has_more: options.hasMore ?? false,
      url: `/v1/invoices/${invoiceId}/lines`,
    },
  };
}

export type PaidInvoiceEventOptions = InvoiceOptions & {
  readonly eventId?: string;
  /** `invoice.paid` (default) or `invoice.payment_succeeded`. */
  readonly type?: string;
  readonly eventCreated?: Time;
  readonly apiVersion?: string | null;
};

/** `invoice.paid` for a subscription invoice; see paidInvoice for the invoice's fields. */
export function paidInvoiceEvent(options: PaidInvoiceEventOptions): Json {
  const invoice = paidInvoice(options);
  return stripeEvent({
    type: options.type ?? 'invoice.paid',
    object: invoice,
    ...(options.eventId && { id: options.eventId }),
    created: options.eventCreated ?? (invoice.created as number),
    ...(options.apiVersion !== undefined && { apiVersion: options.apiVersion }),
  });
}

/**
 * C19: the invoice Stripe bills at once (`subscription_update`) when one price's quantity goes
 * from `from` to `to` at `at`: a line for the unused time of the old quantity and one for the
 * rest of the period at the new, `left` being the part of the period still to go.
 */
export function quantityChangeEvent(change: {
  readonly customerId: string;
  readonly subscriptionId: string;
  readonly invoiceId: string;
  readonly priceId: string;
  readonly unitAmount: number;
  readonly at: Time;
  readonly periodEnd: Time;
  readonly from: number;
  readonly to: number;
  readonly left: number;
}): Json {
  const line = (quantity: number, sign: number): LineSpec => ({
    priceId: change.priceId,
    kind: 'proration',
    quantity,
    periodStart: change.at,
    periodEnd: change.periodEnd,
    unitAmount: change.unitAmount,
    amount: sign * Math.round(change.unitAmount * quantity * change.left),
  });
  return paidInvoiceEvent({
    customerId: change.customerId,
    subscriptionId: change.subscriptionId,
    invoiceId: change.invoiceId,
    billingReason: 'subscription_update',
    lines: [line(change.from, -1), line(change.to, 1)],
  });
}

/** The annual price whose seat count a test changes (C19), and the end of its year. */
export type AnnualSeats = {
  readonly priceId: string;
  readonly unitAmount: number;
  readonly periodEnd: Time;
};

/**
 * C19: quantityChangeEvent for one annual subscription's price, so a test that moves its seats
 * up and down several times names only what differs between the changes: the invoice, when,
 * from and to how many seats, and how much of the year is left.
 */
export function annualQuantityChanges(
  subscription: { readonly customerId: string; readonly subscriptionId: string },
  seats: AnnualSeats,
): (invoiceId: string, at: Time, from: number, to: number, left: number) => Json {
  return (invoiceId, at, from, to, left) =>
    quantityChangeEvent({ ...subscription, ...seats, invoiceId, at, from, to, left });
}

export type SubscriptionOptions = {
  readonly customerId: string;
  readonly subscriptionId: string;
  readonly status: string;
  readonly endedAt?: Time | null;
  readonly canceledAt?: Time | null;
  readonly cancelAtPeriodEnd?: boolean;
  readonly metadata?: Record<string, string>;
};

/** A subscription (Stripe's `subscription` sample) in the given state. */
export function subscriptionObject(options: SubscriptionOptions): Json {
  const subscription = stripeFixture('subscription');
  const time = (value: Time | null | undefined) =>
    value === undefined || value === null ? null : unix(value);
  return {
    ...subscription,
    id: options.subscriptionId,
    customer: options.customerId,
    status: options.status,
    ended_at: time(options.endedAt),
    canceled_at: time(options.canceledAt),
    cancel_at: null,
    cancel_at_period_end: options.cancelAtPeriodEnd ?? false,
    metadata: options.metadata ?? {},
  };
}

export type SubscriptionEventOptions = SubscriptionOptions & {
  readonly type: string;
  readonly eventId?: string;
  readonly eventCreated?: Time;
};

export function subscriptionEvent(options: SubscriptionEventOptions): Json {
  return stripeEvent({
    type: options.type,
    object: subscriptionObject(options),
    ...(options.eventId && { id: options.eventId }),
    created: options.eventCreated ?? options.endedAt ?? '2026-11-01T00:00:00Z',
  });
}

/** `customer.subscription.deleted`: status canceled, ended (and canceled) at `endedAt`. */
export function subscriptionDeletedEvent(
  options: Omit<SubscriptionEventOptions, 'type' | 'status' | 'endedAt'> & {
    readonly endedAt: Time | null;
    readonly status?: string;
  },
): Json {
  return subscriptionEvent({
    canceledAt: options.endedAt,
    ...options,
    type: 'customer.subscription.deleted',
    status: options.status ?? 'canceled',
  });
}

/** `customer.subscription.updated` to the given status. */
export function subscriptionUpdatedEvent(options: Omit<SubscriptionEventOptions, 'type'>): Json {
  return subscriptionEvent({ ...options, type: 'customer.subscription.updated' });
}

export type CheckoutOptions = {
  readonly customerId: string | null;
  readonly sessionId?: string;
  /** Set when the Session created an invoice (invoice_creation): the purchase's key then. */
  readonly invoiceId?: string | null;
  readonly paymentIntentId?: string;
  /** Cents; default 2000. */
  readonly amountTotal?: number;
  /** `paid` (default), `unpaid` (an asynchronous payment pending) or `no_payment_required`. */
  readonly paymentStatus?: string;
  readonly mode?: string;
  readonly metadata?: Record<string, string>;
  /** The Session's own `created`; checkoutEvent defaults it to the event's. */
  readonly sessionCreated?: Time;
};

/** A Checkout Session (Stripe's `checkout.session` sample), completed. */
export function checkoutSession(options: CheckoutOptions): Json {
  const sample = stripeFixture('checkout.session');
  return {
    ...sample,
    id: options.sessionId ?? stripeId('cs'),
    created: options.sessionCreated === undefined ? sample.created : unix(options.sessionCreated),
    customer: options.customerId,
    invoice: options.invoiceId ?? null,
    payment_intent: options.paymentIntentId ?? stripeId('pi'),
    amount_total: options.amountTotal ?? 2000,
    amount_subtotal: options.amountTotal ?? 2000,
    currency: 'usd',
    mode: options.mode ?? 'payment',
    payment_status: options.paymentStatus ?? 'paid',
    status: 'complete',
    metadata: options.metadata ?? {},
  };
}

/** `checkout.session.completed` (or `checkout.session.async_payment_succeeded`). */
export function checkoutEvent(
  options: CheckoutOptions & {
    readonly type?: string;
    readonly eventId?: string;
    readonly created?: Time;
  },
): Json {
  const created = options.created ?? '2026-11-01T00:00:00Z';
  return stripeEvent({
    type: options.type ?? 'checkout.session.completed',
    object: checkoutSession({ ...options, sessionCreated: options.sessionCreated ?? created }),
    ...(options.eventId && { id: options.eventId }),
    created,
  });
}

/** A Checkout Session's line item (Stripe's `item` sample) for a price, as the API lists it. */
export function checkoutLineItem(priceId: string, quantity = 1): Json {
  const item = stripeFixture('item');
  return {
    ...item,
    id: stripeId('li'),
    quantity,
    price: { ...(item.price as Json), id: priceId, recurring: null, type: 'one_time' },
  };
}

export type SignOptions = {
  readonly secret?: string;
  /** The `t=` of the signature, Unix seconds or ISO; defaults to now. */
  readonly timestamp?: Time;
};

export type SignedRequest = {
  /** The body exactly as Stripe would send it (pretty-printed JSON, as Stripe does). */
  readonly body: string;
  readonly signature: string;
  readonly headers: Record<string, string>;
};

/** Serialises and signs an event (or an exact body) with stripe-node's own test helper. */
export function signedRequest(event: Json | string, options: SignOptions = {}): SignedRequest {
  const body = typeof event === 'string' ? event : JSON.stringify(event, null, 2);
  const signature = Stripe.webhooks.generateTestHeaderString({
    payload: body,
    secret: options.secret ?? TEST_WEBHOOK_SECRET,
    timestamp: unix(options.timestamp ?? Math.floor(Date.now() / 1000)),
  });
  return {
    body,
    signature,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'stripe-signature': signature,
      'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
    },
  };
}

/** An API Gateway HTTP API (payload v2) request, as Lambda receives it: header names lower-case. */
export function apiGatewayEvent(request: {
  readonly body: string;
  readonly headers: Record<string, string>;
  /** Send the body base64-encoded, as API Gateway does for bodies it treats as binary. */
  readonly base64?: boolean;
  readonly timeEpochMs?: number;
}): APIGatewayProxyEventV2 {
  const headers = Object.fromEntries(
    Object.entries(request.headers).map(([name, value]) => [name.toLowerCase(), value]),
  );
  const timeEpoch = request.timeEpochMs ?? Date.now();
  return {
    version: '2.0',
    routeKey: 'POST /webhooks/stripe',
    rawPath: '/webhooks/stripe',
    rawQueryString: '',
    headers,
    requestContext: {
      accountId: '123456789012',
      apiId: 'local',
      domainName: 'localhost',
      domainPrefix: 'localhost',
      http: {
        method: 'POST',
        path: '/webhooks/stripe',
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: headers['user-agent'] ?? 'test',
      },
      requestId: stripeId('req'),
      routeKey: 'POST /webhooks/stripe',
      stage: '$default',
      time: new Date(timeEpoch).toISOString(),
      timeEpoch,
    },
    body: request.base64 ? Buffer.from(request.body, 'utf8').toString('base64') : request.body,
    isBase64Encoded: request.base64 ?? false,
  };
}

/** Signs `event` and wraps it as the API Gateway request Stripe's delivery becomes. */
export function signedApiGatewayEvent(
  event: Json | string,
  options: SignOptions & { readonly base64?: boolean } = {},
): APIGatewayProxyEventV2 {
  const signed = signedRequest(event, options);
  return apiGatewayEvent({
    body: signed.body,
    headers: signed.headers,
    ...(options.base64 !== undefined && { base64: options.base64 }),
  });
}
