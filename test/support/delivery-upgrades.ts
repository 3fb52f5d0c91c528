import fc from 'fast-check';
import type {
  AbstractReferral,
  Copies,
  InvoiceEvent,
  InvoiceVia,
  Made,
  PlannedEvent,
  PlannedReferral,
  PlannedSubscription,
} from './delivery-model';
import { monthsAfter } from './model';

/**
 * The delivery property test's plan changes (C19) and Checkout packs (C21), kept apart from
 * test/support/delivery-model.ts, which calls in here from a few hooks:
 * - a `change` intent switches a running subscription's price or quantity part way through its
 *   period. Stripe bills it as two proration lines (the unused time on the old price, negative,
 *   and the rest of the period on the new one): at once, on an invoice with `billing_reason`
 *   `subscription_update`, or among the next renewal's lines. An annual subscription changes
 *   quantity (there is one annual price) and is billed at once, since it is never renewed here.
 * - a `checkout` intent buys a pack through a Checkout Session in `payment` mode, paid at once
 *   (`checkout.session.completed`, `payment_status` `paid`) or later (`completed` unpaid, then
 *   `checkout.session.async_payment_succeeded`), with or without the invoice the Session creates
 *   (then also its `invoice.paid`, billing_reason `manual`). Its lines are read from Stripe.
 * The reference model's side is test/support/delivery-upgrades-reference.ts; the Stripe events
 * and the facts the model reads from them, test/support/delivery-upgrades-events.ts.
 */

const HOUR_MS = 3_600_000;
/** A change's `hoursAgo` that puts it at the subscription's last change or period start. */
const SAME_INSTANT = Number.POSITIVE_INFINITY;
/** C2: the monthly prices a monthly subscription changes between (delivery-model's catalog). */
const MONTHLY_PRICES = ['price_basic', 'price_pro'] as const;
export const PACK_PRICE = 'price_pack';
/** What every price costs per interval, in cents, as delivery-model's UNIT_AMOUNT_CENTS. */
export const UNIT_AMOUNT = 2000;

export type UpgradeIntent =
  | {
      kind: 'change';
      customer: number;
      subscription: number;
      /** The new monthly price (an annual subscription keeps its price). */
      plan: number;
      quantity: number;
      /**
       * When the change happened, before the batch's time (Stripe retries for 3 days);
       * `SAME_INSTANT`: in the very second of the subscription's last change or period start.
       */
      hoursAgo: number;
      /** C19: prorations invoiced at once, or left for the next renewal. */
      billing: 'now' | 'renewal';
      via: InvoiceVia;
      copies: Copies;
    }
  | {
      kind: 'checkout';
      customer: number;
      quantity: number;
      referral: AbstractReferral;
      payment: 'sync' | 'async';
      /** The Session creates an invoice (`invoice_creation`): its id is the purchase's key. */
      withInvoice: boolean;
      copies: Copies;
    };

/** C19: one proration line, as Stripe bills it. */
export type ProrationLine = {
  lineId: string;
  priceId: string;
  quantity: number;
  periodStartMs: number;
  periodEndMs: number;
  unitAmount: number;
  /** Cents: negative for the unused time on the old price. */
  amount: number;
};

/** C19: the invoice Stripe sends when prorations are invoiced at once. */
export type ChangeEvent = {
  kind: 'change';
  eventId: string;
  type: 'invoice.paid' | 'invoice.payment_succeeded';
  customer: number;
  invoiceId: string;
  subscriptionId: string;
  changedAtMs: number;
  prorations: ProrationLine[];
  amountPaid: number;
  /** The subscription's metadata, which Stripe copies onto each of its invoices (C10). */
  referral: PlannedReferral | null;
  trialStart: boolean;
};

/** C21: one event of a pack bought through Checkout. */
export type CheckoutEvent = {
  kind: 'checkout';
  eventId: string;
  type: 'checkout.session.completed' | 'checkout.session.async_payment_succeeded' | 'invoice.paid';
  customer: number;
  /** Where the planner wants a subscription id; a pack has none. */
  subscriptionId: string;
  sessionId: string;
  invoiceId: string | null;
  /** The Session's payment_status in this event (an asynchronous payment completes unpaid). */
  paid: boolean;
  quantity: number;
  /** The event's `created` (and the invoice's paid_at): the purchase time when it pays. */
  atMs: number;
  /** The Session's `created`, the same in each of its events: when it first completed. */
  sessionCreatedMs: number;
  amountPaid: number;
  referral: PlannedReferral | null;
};

export type UpgradeEvent = ChangeEvent | CheckoutEvent;

export function isUpgradeEvent(event: PlannedEvent): event is UpgradeEvent {
  return event.kind === 'change' || event.kind === 'checkout';
}

export function upgradeIntents(deliveries: {
  customer: fc.Arbitrary<number>;
  referral: fc.Arbitrary<AbstractReferral>;
  via: fc.Arbitrary<InvoiceVia>;
  copies: fc.Arbitrary<Copies>;
}): { weight: number; arbitrary: fc.Arbitrary<UpgradeIntent> }[] {
  return [
    {
      // Often: most draws find no subscription in a period that can change.
      weight: 10,
      arbitrary: fc.record({
        kind: fc.constant('change' as const),
        customer: deliveries.customer,
        subscription: fc.nat({ max: 3 }),
        plan: fc.nat({ max: MONTHLY_PRICES.length - 1 }),
        quantity: fc.integer({ min: 1, max: 3 }),
        // C19's tie rule: now and then billed in the second of another invoice of its own.
        hoursAgo: fc.oneof(
          { arbitrary: fc.constant(0), weight: 2 },
          { arbitrary: fc.nat({ max: 72 }), weight: 2 },
          { arbitrary: fc.constant(SAME_INSTANT), weight: 1 },
        ),
        billing: fc.constantFrom('now' as const, 'renewal' as const),
        via: deliveries.via,
        copies: deliveries.copies,
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('checkout' as const),
        customer: deliveries.customer,
        quantity: fc.integer({ min: 1, max: 2 }),
        referral: deliveries.referral,
        payment: fc.constantFrom('sync' as const, 'async' as const),
        withInvoice: fc.boolean(),
        copies: deliveries.copies,
      }),
    },
  ];
}

/** What the planner lends the intents of this file. */
export type PlannerView = {
  nowMs: number;
  customer(n: number): number;
  /** The subscriptions not ended. */
  live(): PlannedSubscription[];
  eventId(): string;
  referralOf(customer: number, wanted: AbstractReferral): PlannedReferral | null;
};

export function resolveUpgrade(intent: UpgradeIntent, view: PlannerView): Made | undefined {
  const customer = view.customer(intent.customer);
  if (intent.kind === 'checkout') return checkout(intent, customer, view);
  // The customer's subscription in a period that can change, else another customer's: most
  // histories move the clock past periods that nothing renews.
  const open = view.live().filter((sub) => view.nowMs < currentPeriodEndMs(sub));
  const own = open.filter((sub) => sub.customer === customer);
  const among = own.length > 0 ? own : open;
  const sub = among[intent.subscription % Math.max(1, among.length)];
  return sub && change(intent, sub, view);
}

function currentPeriodEndMs(sub: PlannedSubscription): number {
  return monthsAfter(sub.anchorMs, sub.periods * sub.months);
}

function invoiceTypes(via: InvoiceVia) {
  if (via === 'both') return ['invoice.paid', 'invoice.payment_succeeded'] as const;
  return via === 'paid' ? (['invoice.paid'] as const) : (['invoice.payment_succeeded'] as const);
}

/**
 * C19: the subscription moves to the new price and quantity at the change, which falls in its
 * current period (Stripe renews a subscription whose period is over before it changes).
 */
function change(
  intent: Extract<UpgradeIntent, { kind: 'change' }>,
  sub: PlannedSubscription,
  view: PlannerView,
): Made | undefined {
  // C18: a trial not yet paid for prorates to $0; a change then is not worth a step.
  if (sub.periods === 0 || (sub.trial && sub.periods < 2)) return undefined;
  const periodStartMs = monthsAfter(sub.anchorMs, (sub.periods - 1) * sub.months);
  const periodEndMs = currentPeriodEndMs(sub);
  const priceId = sub.months > 1 ? sub.priceId : MONTHLY_PRICES[intent.plan % 2];
  if (priceId === undefined || (priceId === sub.priceId && intent.quantity === sub.quantity)) {
    return undefined;
  }
  // After the period's start and any earlier change: Stripe's time only moves forward.
  const changedAtMs = Math.max(sub.lastStartMs, view.nowMs - intent.hoursAgo * HOUR_MS);
  const left = (periodEndMs - changedAtMs) / (periodEndMs - periodStartMs);
  const number = view.eventId().replace('evt_', '');
  const line = (side: 'old' | 'new', price: string, quantity: number): ProrationLine => ({
    lineId: `il_c${sub.customer}_${sub.number}_chg${number}_${side}`,
    priceId: price,
    quantity,
    periodStartMs: changedAtMs,
    periodEndMs,
    unitAmount: UNIT_AMOUNT,
    amount: (side === 'old' ? -1 : 1) * Math.round(UNIT_AMOUNT * quantity * left),
  });
  const prorations = [
    line('old', sub.priceId, sub.quantity),
    line('new', priceId, intent.quantity),
  ];
  sub.priceId = priceId;
  sub.quantity = intent.quantity;
  // A later end cannot come before the change (C8: nothing changes after an end).
  sub.lastStartMs = changedAtMs;
  if (intent.billing === 'renewal' && sub.months === 1) {
    sub.prorations = [...(sub.prorations ?? []), ...prorations];
    return undefined;
  }
  const invoice = {
    kind: 'change' as const,
    customer: sub.customer,
    invoiceId: `in_c${sub.customer}_${sub.number}_chg${number}`,
    subscriptionId: sub.id,
    changedAtMs,
    prorations,
    // A net credit stays on the customer's balance: the invoice is paid with $0 (C10, C18).
    amountPaid: Math.max(0, sumOf(prorations.map((each) => each.amount))),
    referral: sub.referral,
    trialStart: sub.trial,
  };
  const events = invoiceTypes(intent.via).map((type) => ({
    ...invoice,
    type,
    eventId: view.eventId(),
  }));
  return { events, copies: intent.copies };
}

function sumOf(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0);
}

/** C19: the next renewal bills the prorations left for it, and its amount includes them. */
export function withPendingProrations(
  sub: PlannedSubscription,
  invoice: Omit<InvoiceEvent, 'eventId' | 'type'>,
): void {
  const prorations = sub.prorations ?? [];
  if (prorations.length === 0) return;
  invoice.prorations = prorations;
  invoice.amountPaid = Math.max(0, invoice.amountPaid + sumOf(prorations.map((p) => p.amount)));
  sub.prorations = [];
}

/**
 * C21: the events of one Checkout purchase, all at the purchase time (an asynchronous payment's
 * unpaid completion an hour before, when the Session was created). The Session's invoice, when
 * it creates one, is paid at the same moment and carries the code too (the app sets it on both,
 * lib/stripe/packs.ts).
 */
function checkout(
  intent: Extract<UpgradeIntent, { kind: 'checkout' }>,
  customer: number,
  view: PlannerView,
): Made {
  const referral = view.referralOf(customer, intent.referral);
  const number = view.eventId().replace('evt_', '');
  const sale = {
    kind: 'checkout' as const,
    customer,
    subscriptionId: `sub_none_c${customer}`,
    sessionId: `cs_c${customer}_${number}`,
    invoiceId: intent.withInvoice ? `in_c${customer}_cs${number}` : null,
    quantity: intent.quantity,
    amountPaid: UNIT_AMOUNT * intent.quantity,
    referral,
  };
  const atMs = view.nowMs;
  const sessionCreatedMs = intent.payment === 'sync' ? atMs : atMs - HOUR_MS;
  const purchase = { ...sale, sessionCreatedMs };
  const events: CheckoutEvent[] =
    intent.payment === 'sync'
      ? [{ ...purchase, type: 'checkout.session.completed', paid: true, atMs, eventId: '' }]
      : [
          {
            ...purchase,
            type: 'checkout.session.completed',
            paid: false,
            atMs: atMs - HOUR_MS,
            eventId: '',
          },
          {
            ...purchase,
            type: 'checkout.session.async_payment_succeeded',
            paid: true,
            atMs,
            eventId: '',
          },
        ];
  if (intent.withInvoice) {
    events.push({ ...purchase, type: 'invoice.paid', paid: true, atMs, eventId: '' });
  }
  for (const event of events) event.eventId = view.eventId();
  return { events, copies: intent.copies };
}

const iso = (ms: number) => new Date(ms).toISOString().replace(':00.000Z', 'Z');

function describeProrations(prorations: readonly ProrationLine[]): string {
  return prorations
    .map(
      (line) =>
        `proration ${line.priceId} x${line.quantity} ${line.amount}c from ${iso(line.periodStartMs)} to ${iso(line.periodEndMs)}`,
    )
    .join(', ');
}

export function describeUpgradeEvent(event: UpgradeEvent): string {
  const code =
    event.referral?.kind === 'codeOf' ? ` referral_code=<code of c${event.referral.customer}>` : '';
  if (event.kind === 'change') {
    return `${event.type} ${event.invoiceId} (c${event.customer} ${event.subscriptionId} subscription_update, ${describeProrations(event.prorations)}, paid ${event.amountPaid}c${code})`;
  }
  return `${event.type} ${event.sessionId}${event.invoiceId ? `/${event.invoiceId}` : ''} (c${event.customer} ${PACK_PRICE} x${event.quantity}, ${event.paid ? 'paid' : 'unpaid'}, at ${iso(event.atMs)}${event.referral?.kind === 'literal' ? ` referral_code=${JSON.stringify(event.referral.code)}` : code})`;
}

/** The prorations a renewal carries, for the description of its event. */
export function describeRenewalProrations(invoice: InvoiceEvent): string {
  return invoice.prorations?.length ? `, ${describeProrations(invoice.prorations)}` : '';
}
