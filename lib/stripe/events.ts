import * as z from 'zod';
import { ConfigError, InputError } from '../errors';
import { UnexpectedPayloadError, UnsupportedApiVersionError } from './errors';

/**
 * The parts of Stripe's payloads the processor reads, validated once at the edge into typed
 * values. Shapes follow the API version the installed `stripe` package pins (23.x:
 * 2026-10-28.endive): an invoice names its subscription under
 * `parent.subscription_details`, a line its price under `pricing.price_details.price`. Written
 * out rather than read from the package, which would load all of stripe-node at a cold start;
 * a test fails when an upgrade of the package pins another version.
 */
export const SUPPORTED_API_VERSION: string = '2026-10-28.endive';

/**
 * Versions of another major release whose payloads were checked, field by field, to have the
 * pinned version's shapes for everything this file reads (a reviewed change, with a test that
 * delivers a fixture in that version). Empty: none is needed while the endpoint is on `endive`.
 */
export const CHECKED_OTHER_API_VERSIONS: readonly string[] = [];

const API_VERSION_FORMAT = /^\d{4}-\d{2}-\d{2}\.[a-z]+$/;

/** Stripe's major release of a version: `endive` of `2026-10-28.endive`. */
function majorOf(version: string): string | undefined {
  return API_VERSION_FORMAT.test(version) ? version.split('.')[1] : undefined;
}

/**
 * Whether this build can read payloads of `version` with the schemas below. Stripe's monthly
 * releases within one major are backwards compatible (breaking changes come only with a new
 * major), so every version of the pinned major is readable; another major only once checked.
 */
export function isReadableApiVersion(version: string): boolean {
  return (
    version === SUPPORTED_API_VERSION ||
    majorOf(version) === majorOf(SUPPORTED_API_VERSION) ||
    CHECKED_OTHER_API_VERSIONS.includes(version)
  );
}

/** The API versions events are accepted in: the pinned one, plus those configured. */
export type AcceptedApiVersions = ReadonlySet<string>;

export const PINNED_API_VERSION_ONLY: AcceptedApiVersions = new Set([SUPPORTED_API_VERSION]);

/**
 * STRIPE_ACCEPTED_API_VERSIONS, checked: during a move to a new API version the webhook accepts
 * the endpoint's old version too (docs/runbooks.md), but only one this build can read.
 */
export function acceptedApiVersions(configured: readonly string[] = []): AcceptedApiVersions {
  for (const version of configured) {
    if (!isReadableApiVersion(version)) {
      throw new ConfigError(
        `STRIPE_ACCEPTED_API_VERSIONS: this build (pinned to ${SUPPORTED_API_VERSION}) cannot ` +
          `read payloads of ${version}; only versions of the same major release, or those in ` +
          'CHECKED_OTHER_API_VERSIONS (lib/stripe/events.ts), can be accepted',
      );
    }
  }
  return new Set([SUPPORTED_API_VERSION, ...configured]);
}

/** A reference Stripe may send as an id or, when expanded, as the object carrying that id. */
export const expandableId = z
  .union([z.string().min(1), z.looseObject({ id: z.string().min(1) })])
  .transform((value) => (typeof value === 'string' ? value : value.id));

export const unixSeconds = z.number().int().nonnegative();
const metadata = z
  .record(z.string(), z.string())
  .nullable()
  .optional()
  .transform((value) => value ?? {});

const envelopeSchema = z.object({
  id: z.string().startsWith('evt_', 'must be an event id (evt_...)'),
  object: z.literal('event').optional(),
  type: z.string().min(1),
  created: unixSeconds,
  api_version: z.string().min(1).nullable(),
  livemode: z.boolean().optional(),
  // Checked for being an object but not copied: each event type's translation parses the part
  // of it that it uses, and copying a whole invoice here was a measurable share of the hot path.
  data: z.object({
    object: z.custom<Readonly<Record<string, unknown>>>(
      (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
      'must be an object',
    ),
  }),
});

/** A Stripe event whose envelope is valid and whose API version is the supported one. */
export type StripeEvent = {
  readonly id: string;
  readonly type: string;
  readonly createdMs: number;
  readonly apiVersion: string;
  readonly livemode: boolean;
  /** `data.object`, still unread: each event type's translation parses the part it uses. */
  readonly object: Readonly<Record<string, unknown>>;
};

/**
 * Parses a JSON value as a Stripe event (a delivery's body, or one item of the Events API).
 * Anything that is not an event is an InputError (400); an event in an API version not
 * `accepted` is refused with UnsupportedApiVersionError (400) rather than read with the wrong
 * shapes.
 */
export function parseStripeEvent(
  json: unknown,
  accepted: AcceptedApiVersions = PINNED_API_VERSION_ONLY,
): StripeEvent {
  const parsed = envelopeSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.length ? issue.path.join('.') : 'body';
    throw new InputError(field, `not a Stripe event: ${issue?.message ?? 'invalid'}`);
  }
  const event = parsed.data;
  if (event.api_version === null || !accepted.has(event.api_version)) {
    throw new UnsupportedApiVersionError(event.api_version, SUPPORTED_API_VERSION, event.id);
  }
  return {
    id: event.id,
    type: event.type,
    createdMs: event.created * 1000,
    apiVersion: event.api_version,
    livemode: event.livemode ?? false,
    object: event.data.object,
  };
}

/**
 * Stripe's decimal amounts in minor units: a string in a webhook's JSON (`"1999"`, `"12.5"`),
 * and stripe-node's Decimal object when the API client parsed the response itself.
 */
const decimalString = z
  .union([
    z.string(),
    z.custom<{ toString(): string }>(
      (value) => typeof value === 'object' && value !== null && 'toString' in value,
    ),
  ])
  .transform((value) => String(value))
  .refine((text) => /^-?\d+(\.\d+)?$/.test(text), 'must be a decimal number');

const lineSchema = z.object({
  id: z.string().min(1),
  /** Minor units; negative for a proration's unused time (C19). */
  amount: z.number().int().optional(),
  quantity: z.number().int().nonnegative().nullable(),
  period: z.object({ start: unixSeconds, end: unixSeconds }),
  pricing: z
    .object({
      type: z.string(),
      price_details: z.object({ price: expandableId }).nullable().optional(),
      unit_amount_decimal: decimalString.nullable().optional(),
    })
    .nullable(),
  parent: z
    .object({
      type: z.string(),
      subscription_item_details: z
        .object({
          subscription: z.string().nullable(),
          subscription_item: z.string().nullable().optional(),
          proration: z.boolean(),
        })
        .nullable()
        .optional(),
    })
    .nullable(),
});

/** What a line is for: only plain subscription lines grant credits (C2, C3). */
export const LineKind = {
  subscription: 'subscription',
  proration: 'proration',
  invoiceItem: 'invoice_item',
} as const;
export type LineKind = (typeof LineKind)[keyof typeof LineKind];

export type InvoiceLine = {
  readonly id: string;
  readonly kind: LineKind;
  /** Minor units (C19's amount); 0 when Stripe sent none. */
  readonly amount: number;
  readonly quantity: number | null;
  readonly priceId: string | null;
  /**
   * The price's unit amount in minor units, when Stripe sent it (C19's unit amount): the decimal
   * as Stripe wrote it, so that C19's sum is exact (lib/credits/proration.ts).
   */
  readonly unitAmount: string | null;
  readonly subscriptionId: string | null;
  readonly periodStartMs: number;
  readonly periodEndMs: number;
};

function toLine(line: z.infer<typeof lineSchema>): InvoiceLine {
  const item = line.parent?.subscription_item_details ?? null;
  const isSubscriptionLine = line.parent?.type === 'subscription_item_details' && item !== null;
  const kind = !isSubscriptionLine
    ? LineKind.invoiceItem
    : item.proration
      ? LineKind.proration
      : LineKind.subscription;
  return {
    id: line.id,
    kind,
    amount: line.amount ?? 0,
    quantity: line.quantity,
    priceId: line.pricing?.price_details?.price ?? null,
    unitAmount: line.pricing?.unit_amount_decimal ?? null,
    subscriptionId: item?.subscription ?? null,
    periodStartMs: line.period.start * 1000,
    periodEndMs: line.period.end * 1000,
  };
}

const invoiceSchema = z.object({
  object: z.literal('invoice'),
  id: z.string().min(1),
  customer: expandableId.nullable(),
  status: z.string().nullable(),
  billing_reason: z.string().nullable(),
  created: unixSeconds,
  amount_paid: z.number().int().nonnegative().optional(),
  metadata,
  status_transitions: z.object({ paid_at: unixSeconds.nullable().optional() }).optional(),
  parent: z
    .object({
      type: z.string(),
      subscription_details: z
        .object({ subscription: expandableId, metadata })
        .nullable()
        .optional(),
    })
    .nullable(),
  lines: z.object({ data: z.array(lineSchema), has_more: z.boolean() }),
  discounts: z.array(expandableId).optional(),
  // Present only when the endpoint includes it: how a later refund finds the invoice (C24).
  payments: z
    .object({
      data: z.array(
        z.object({
          payment: z
            .object({ payment_intent: expandableId.nullable().optional() })
            .nullable()
            .optional(),
        }),
      ),
    })
    .nullable()
    .optional(),
});

export type Invoice = {
  readonly id: string;
  readonly customerId: string | null;
  readonly status: string | null;
  readonly billingReason: string | null;
  readonly createdMs: number;
  /** C10/C18: money paid, in minor units (0 for a trial or a 100% coupon). */
  readonly amountPaid: number;
  /** C21: when it was paid (a pack's purchase time); the creation time when Stripe sent none. */
  readonly paidAtMs: number;
  /** The invoice's own metadata (C21: a pack's referral code, set by the app). */
  readonly metadata: Readonly<Record<string, string>>;
  /** From `parent.subscription_details`; null for an invoice that is not a subscription's. */
  readonly subscriptionId: string | null;
  /** The subscription's metadata as Stripe copied it onto the invoice (C10: referral_code). */
  readonly subscriptionMetadata: Readonly<Record<string, string>>;
  readonly lines: readonly InvoiceLine[];
  /** True when `lines` is only the first page: the rest must be fetched before granting. */
  readonly hasMoreLines: boolean;
  readonly discountIds: readonly string[];
  /** C24: the payment intent that paid it, when the payload lists the invoice's payments. */
  readonly paymentIntentId: string | null;
};

export function parseInvoice(object: unknown): Invoice {
  const invoice = parseWithin(invoiceSchema, object, 'data.object');
  const details = invoice.parent?.subscription_details ?? null;
  return {
    id: invoice.id,
    customerId: invoice.customer,
    status: invoice.status,
    billingReason: invoice.billing_reason,
    createdMs: invoice.created * 1000,
    amountPaid: invoice.amount_paid ?? 0,
    paidAtMs: (invoice.status_transitions?.paid_at ?? invoice.created) * 1000,
    metadata: invoice.metadata,
    subscriptionId: details?.subscription ?? null,
    subscriptionMetadata: details?.metadata ?? {},
    lines: invoice.lines.data.map(toLine),
    hasMoreLines: invoice.lines.has_more,
    discountIds: invoice.discounts ?? [],
    paymentIntentId:
      invoice.payments?.data.find((each) => each.payment?.payment_intent)?.payment
        ?.payment_intent ?? null,
  };
}

/** One line as the Invoices API lists it (`GET /v1/invoices/:id/lines`). */
export function parseInvoiceLine(object: unknown, where = 'lines'): InvoiceLine {
  return toLine(parseWithin(lineSchema, object, where));
}

const subscriptionSchema = z.object({
  object: z.literal('subscription'),
  id: z.string().min(1),
  customer: expandableId,
  status: z.string().min(1),
  ended_at: unixSeconds.nullable(),
  canceled_at: unixSeconds.nullable(),
  cancel_at_period_end: z.boolean(),
  metadata,
});

export type Subscription = {
  readonly id: string;
  readonly customerId: string;
  readonly status: string;
  readonly endedAtMs: number | null;
  readonly canceledAtMs: number | null;
  readonly cancelAtPeriodEnd: boolean;
  readonly metadata: Readonly<Record<string, string>>;
};

export function parseSubscription(object: unknown): Subscription {
  const subscription = parseWithin(subscriptionSchema, object, 'data.object');
  return {
    id: subscription.id,
    customerId: subscription.customer,
    status: subscription.status,
    endedAtMs: subscription.ended_at === null ? null : subscription.ended_at * 1000,
    canceledAtMs: subscription.canceled_at === null ? null : subscription.canceled_at * 1000,
    cancelAtPeriodEnd: subscription.cancel_at_period_end,
    metadata: subscription.metadata,
  };
}

const priceSchema = z.object({
  id: z.string().min(1),
  metadata,
  unit_amount: z.number().int().nullable().optional(),
  recurring: z
    .object({
      interval: z.enum(['day', 'week', 'month', 'year']),
      interval_count: z.number().int().positive(),
    })
    .nullable()
    .optional(),
});

export type Price = {
  readonly id: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly unitAmount: number | null;
  /** C2/C19: the months one billing interval spans; null for a one-time price. */
  readonly intervalMonths: number | null;
};

/** The parts of a Price the plan catalog reads (C2: `metadata.credits`, the interval). */
export function parsePrice(object: unknown): Price {
  const price = parseWithin(priceSchema, object, 'price');
  return {
    id: price.id,
    metadata: price.metadata,
    unitAmount: price.unit_amount ?? null,
    intervalMonths: price.recurring ? intervalMonthsOf(price.recurring) : null,
  };
}

/** A year is 12 months; a week or a day count as a part of one, at least 1 (C20 rounding). */
function intervalMonthsOf(recurring: { interval: string; interval_count: number }): number {
  const months = { year: 12, month: 1, week: 7 / 30.44, day: 1 / 30.44 }[recurring.interval] ?? 1;
  return Math.max(1, Math.round(months * recurring.interval_count));
}

const checkoutSessionSchema = z.object({
  object: z.literal('checkout.session'),
  id: z.string().min(1),
  mode: z.string(),
  payment_status: z.string(),
  created: unixSeconds,
  customer: expandableId.nullable(),
  invoice: expandableId.nullable().optional(),
  payment_intent: expandableId.nullable().optional(),
  amount_total: z.number().int().nullable().optional(),
  metadata,
});

export type CheckoutSession = {
  readonly id: string;
  readonly mode: string;
  readonly paymentStatus: string;
  /**
   * When the Session was created: the only time Stripe keeps on it, so the time its lists give
   * a pack bought without an invoice (C10, lib/stripe/customer-history.ts).
   */
  readonly createdMs: number;
  readonly customerId: string | null;
  /** Set when the Session created an invoice: the purchase's natural key then (C21). */
  readonly invoiceId: string | null;
  readonly paymentIntentId: string | null;
  readonly amountTotal: number;
  readonly metadata: Readonly<Record<string, string>>;
};

export function parseCheckoutSession(object: unknown): CheckoutSession {
  const session = parseWithin(checkoutSessionSchema, object, 'data.object');
  return {
    id: session.id,
    mode: session.mode,
    paymentStatus: session.payment_status,
    createdMs: session.created * 1000,
    customerId: session.customer,
    invoiceId: session.invoice ?? null,
    paymentIntentId: session.payment_intent ?? null,
    amountTotal: session.amount_total ?? 0,
    metadata: session.metadata,
  };
}

const checkoutLineSchema = z.object({
  id: z.string().min(1),
  quantity: z.number().int().nonnegative().nullable(),
  price: expandableId.nullable(),
});

/** One line of a Checkout Session as the API lists it (`GET .../line_items`). */
export function parseCheckoutLine(
  object: unknown,
  where: string,
): { id: string; quantity: number | null; priceId: string | null } {
  const line = parseWithin(checkoutLineSchema, object, where);
  return { id: line.id, quantity: line.quantity, priceId: line.price };
}

export function parseWithin<S extends z.ZodType>(
  schema: S,
  value: unknown,
  where: string,
): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = [where, ...(issue?.path ?? [])].join('.');
  throw new UnexpectedPayloadError(field, issue?.message ?? 'is invalid');
}
