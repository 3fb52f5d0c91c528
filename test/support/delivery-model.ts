import fc from 'fast-check';
import { type AnnualIntent, annualRenewalIntent, resolveAnnualRenewal } from './delivery-annual';
import {
  describeReversal,
  type ReversalEvent,
  type ReversalIntent,
  ReversalPlanner,
  reversalConflicts,
  reversalIntent,
} from './delivery-reversals';
import {
  type ChangeEvent,
  type CheckoutEvent,
  describeRenewalProrations,
  describeUpgradeEvent,
  type ProrationLine,
  resolveUpgrade,
  type UpgradeIntent,
  upgradeIntents,
  withPendingProrations,
} from './delivery-upgrades';
import { threeMonthsAfter } from './model';

/**
 * The system-level model-based test's two halves, free of DynamoDB and of lib/:
 *
 * 1. HISTORIES. fast-check generates an abstract history (customer numbers, plan choices,
 *    hours, shuffle keys); `planHistory` turns it, without any I/O, into a concrete plan: Stripe
 *    events with their ids and Stripe times, how often and in which order each is delivered and
 *    which deliveries run concurrently, spends, expiry runs and clock moves. The plan prints as
 *    a readable script, which is what a failing run shows after shrinking.
 * 2. THE REFERENCE MODEL. `DeliveryModel` reads Stripe facts (a paid invoice, an ended
 *    subscription) the way DOMAIN.md states the rules, on top of the plain ledger model of
 *    model.ts, and processes each batch's events once, in the plan's canonical order. Money
 *    going back (C22-C24) is planned by delivery-reversals.ts and checked by what the rules fix
 *    (delivery-reversal-book.ts).
 *
 * Where DOMAIN.md itself says that order matters, the planner keeps the racing events out of
 * one batch (see `conflicts`), so that any difference between the real system and the model is
 * a C16 failure: duplication, order or concurrency changed an outcome.
 */

/**
 * C2: the plan catalog the real webhook gets as PLAN_CREDITS: monthly credits, whatever the
 * billing interval. 45 and 75 are odd, so C11 rounds down.
 */
export const PLAN_CREDITS: Readonly<Record<string, number>> = {
  price_basic: 45,
  price_pro: 500,
  price_yearly: 75,
  /** C21: a credit pack, bought outright on a manual invoice. */
  price_pack: 200,
};
export const PACK_PRICE_ID = 'price_pack';
/** C2/C20: the months one billing interval spans, where not 1 (PLAN_CREDITS' `intervalMonths`). */
export const PLAN_INTERVAL_MONTHS: Readonly<Record<string, number>> = { price_yearly: 12 };
const PRICE_IDS = Object.keys(PLAN_CREDITS).filter((id) => id !== PACK_PRICE_ID);
const ANNUAL_PRICE = { id: 'price_yearly', months: PLAN_INTERVAL_MONTHS.price_yearly ?? 12 };

/** What every price costs a month, in cents (the invoice builder's default unit amount). */
export const UNIT_AMOUNT_CENTS = 2000;

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

// ---------------------------------------------------------------------------------------------
// Abstract histories: what fast-check generates and shrinks.

/** One delivery of an event: its shuffle key, and whether it runs alongside the previous one. */
export type Copy = { key: number; together: boolean };
/** The deliveries of each event an intent makes (an intent makes up to three events). */
export type Copies = [Copy[], Copy[], Copy[]];

export type AbstractReferral =
  | { kind: 'none' }
  /** Another customer's code (their own, when `of` is the subscriber), typed in some form. */
  | { kind: 'friend'; of: number; typed: Typed }
  | { kind: 'own'; typed: Typed }
  | { kind: 'unknown'; code: string };

/** C9: lookup ignores case and dashes, so the code may arrive in any of these forms. */
export type Typed = 'display' | 'lower' | 'compact';

export type Intent =
  | {
      kind: 'subscribe';
      customer: number;
      plan: number;
      quantity: number;
      startHoursAgo: number;
      referral: AbstractReferral;
      via: InvoiceVia;
      /** C18: the first invoice is a $0 trial; the renewals are paid. */
      trial: boolean;
      /** A subscription cancelled soon after it began: its end comes in the same batch. */
      endsAfter: { hours: number; via: 'deleted' | 'updated' } | null;
      copies: Copies;
    }
  | { kind: 'renew'; customer: number; subscription: number; via: InvoiceVia; copies: Copies }
  | {
      kind: 'cancel';
      customer: number;
      subscription: number;
      via: 'deleted' | 'updated' | 'both';
      hoursAgo: number;
      copies: Copies;
    }
  /** C21: a credit pack bought outright on a manual invoice. */
  | { kind: 'pack'; customer: number; quantity: number; via: InvoiceVia; copies: Copies }
  | {
      kind: 'trouble';
      customer: number;
      subscription: number;
      status: 'past_due' | 'cancel_at_period_end';
      copies: Copies;
    }
  /** C19 plan changes and C21 packs through Checkout: test/support/delivery-upgrades.ts. */
  | UpgradeIntent
  /** C22-C24: money going back for one of the customer's purchases (delivery-reversals.ts). */
  | ReversalIntent
  /** C20: an annual plan's next year, with or around its end (delivery-annual.ts). */
  | AnnualIntent;

/** Which event types carry a paid invoice: either, or both (C3: granted once either way). */
export type InvoiceVia = 'paid' | 'succeeded' | 'both';

export type AbstractStep =
  | { kind: 'batch'; intents: Intent[] }
  | { kind: 'spend'; customer: number; amount: number; retryOf: number | null }
  | { kind: 'expire' }
  | { kind: 'advance'; hours: number }
  | { kind: 'advanceToExpiry'; nth: number }
  | { kind: 'referralCode'; customer: number }
  | { kind: 'replay' };

export type AbstractHistory = { startMs: number; customers: number; steps: AbstractStep[] };

const customerNumber = fc.nat({ max: 3 });
/** A value a quarter of the time, else null (shrinks to null). */
function sometimes<T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | null> {
  return fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary });
}
const copy: fc.Arbitrary<Copy> = fc.record({ key: fc.nat({ max: 9 }), together: fc.boolean() });
/** Every event is delivered 1 to 3 times (C16: at least once). */
const deliveries = fc.array(copy, { minLength: 1, maxLength: 3 });
const copies: fc.Arbitrary<Copies> = fc.tuple(deliveries, deliveries, deliveries);
const typed = fc.constantFrom<Typed>('display', 'lower', 'compact');
const via = fc.constantFrom<InvoiceVia>('paid', 'paid', 'succeeded', 'both');

const referral: fc.Arbitrary<AbstractReferral> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ kind: 'none' as const }) },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('friend' as const), of: customerNumber, typed }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('own' as const), typed }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('unknown' as const),
      // Well-formed but nobody's, and not a code at all.
      code: fc.constantFrom('ZZZZZ-ZZZZZ', 'FRIEND-2026'),
    }),
  },
);

const intent: fc.Arbitrary<Intent> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('subscribe' as const),
      customer: customerNumber,
      plan: fc.nat({ max: PRICE_IDS.length - 1 }),
      quantity: fc.integer({ min: 1, max: 3 }),
      startHoursAgo: fc.oneof(fc.constant(0), fc.nat({ max: 72 })),
      referral,
      via,
      trial: fc.oneof(
        { weight: 3, arbitrary: fc.constant(false) },
        { weight: 1, arbitrary: fc.constant(true) },
      ),
      endsAfter: sometimes(
        fc.record({
          hours: fc.nat({ max: 48 }),
          via: fc.constantFrom('deleted' as const, 'updated' as const),
        }),
      ),
      copies,
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('renew' as const),
      customer: customerNumber,
      subscription: fc.nat({ max: 3 }),
      via,
      copies,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('cancel' as const),
      customer: customerNumber,
      subscription: fc.nat({ max: 3 }),
      via: fc.constantFrom('deleted' as const, 'updated' as const, 'both' as const),
      hoursAgo: fc.oneof(fc.constant(0), fc.nat({ max: 24 * 40 })),
      copies,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('pack' as const),
      customer: customerNumber,
      quantity: fc.integer({ min: 1, max: 2 }),
      via,
      copies,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('trouble' as const),
      customer: customerNumber,
      subscription: fc.nat({ max: 3 }),
      status: fc.constantFrom('past_due' as const, 'cancel_at_period_end' as const),
      copies,
    }),
  },
  ...upgradeIntents({ customer: customerNumber, referral, via, copies }),
  { weight: 8, arbitrary: reversalIntent(copies) },
  { weight: 3, arbitrary: annualRenewalIntent({ customer: customerNumber, via, copies }) },
);

const step: fc.Arbitrary<AbstractStep> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('batch' as const),
      intents: fc.array(intent, { minLength: 1, maxLength: 5 }),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('spend' as const),
      customer: customerNumber,
      // Mostly a few images; sometimes more than any balance here (C15's refusal).
      amount: fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: 1, max: 60 }) },
        { weight: 1, arbitrary: fc.integer({ min: 61, max: 900 }) },
      ),
      retryOf: sometimes(fc.nat({ max: 5 })),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'expire' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      // Hours, days, or months.
      hours: fc.oneof(
        fc.integer({ min: 1, max: 23 }),
        fc.integer({ min: 24, max: 24 * 20 }),
        fc.integer({ min: 24 * 25, max: 24 * 100 }),
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('advanceToExpiry' as const),
      nth: fc.nat({ max: 2 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('referralCode' as const), customer: customerNumber }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'replay' as const }) },
);

/** Where the clock starts: at month ends, where C4's clamping and renewal anchors show, or anywhere. */
const startMs = fc.oneof(
  fc
    .constantFrom(
      '2026-01-31T10:00:00Z', // renewals 28 Feb, 31 Mar; lots expire 30 Apr
      '2027-11-30T08:00:00Z', // -> 29 Feb 2028 (leap year)
      '2026-05-31T23:00:00Z',
      '2026-12-31T00:00:00Z',
    )
    .map((iso) => Date.parse(iso)),
  fc
    .integer({ min: 0, max: 3 * 365 * 24 })
    .map((hours) => Date.parse('2026-01-01T00:00:00Z') + hours * HOUR_MS),
);

export function historyArbitrary(maxSteps: number): fc.Arbitrary<Plan> {
  return fc
    .record({
      startMs,
      customers: fc.integer({ min: 2, max: 4 }),
      steps: fc.array(step, { minLength: 1, maxLength: maxSteps }),
    })
    .map(planHistory);
}

// ---------------------------------------------------------------------------------------------
// Concrete plans: what the test runs, and what a failure prints.

/** A referral code as the planner knows it: some customer's (asked for at run time), or text. */
export type PlannedReferral =
  | { kind: 'codeOf'; customer: number; typed: Typed }
  | { kind: 'literal'; code: string };

export type InvoiceEvent = {
  kind: 'invoice';
  eventId: string;
  type: 'invoice.paid' | 'invoice.payment_succeeded';
  customer: number;
  invoiceId: string;
  subscriptionId: string;
  billingReason: 'subscription_create' | 'subscription_cycle';
  priceId: string;
  quantity: number;
  lineId: string;
  /** Stripe's period start and end (C4: the lot's time); the invoice is created at the start. */
  periodStartMs: number;
  periodEndMs: number;
  /** The subscription's metadata `referral_code`, on its first invoice and its renewals (C10). */
  referral: PlannedReferral | null;
  /** Cents paid: 0 for a trial's first invoice (C18), else the price's amount. */
  amountPaid: number;
  /** C10/C18: the subscription began with a $0 invoice, so its first paid one may redeem. */
  trialStart: boolean;
  /** C19: a plan change's prorations, billed with this renewal (delivery-upgrades.ts). */
  prorations?: ProrationLine[];
};

export type EndEvent = {
  kind: 'end';
  eventId: string;
  type: 'customer.subscription.deleted' | 'customer.subscription.updated';
  customer: number;
  subscriptionId: string;
  endedAtMs: number;
};

/** C7: payment trouble or a cancellation scheduled for the period end forfeits nothing. */
export type TroubleEvent = {
  kind: 'trouble';
  eventId: string;
  customer: number;
  subscriptionId: string;
  status: 'past_due' | 'active';
  cancelAtPeriodEnd: boolean;
};

/** C21: a paid manual invoice for a pack, paid at `paidAtMs`. */
export type PackEvent = {
  kind: 'pack';
  eventId: string;
  type: 'invoice.paid' | 'invoice.payment_succeeded';
  customer: number;
  invoiceId: string;
  /** Where the invoice builder wants a subscription; a manual invoice has none that grants. */
  subscriptionId: string;
  quantity: number;
  lineId: string;
  paidAtMs: number;
  amountPaid: number;
};

export type PlannedEvent =
  | InvoiceEvent
  | EndEvent
  | TroubleEvent
  | PackEvent
  | ChangeEvent
  | CheckoutEvent
  | ReversalEvent;

/** A spend through the `credits` function, run concurrently with the part's wave `wave` (C16). */
export type PartSpend = { customer: number; amount: number; key: string; wave: number };

/** One delivery: which event of the part (its index) and which copy of it. */
export type Delivery = { event: number; copy: number };

/**
 * Events delivered as one shuffled lot. `waves` run one after the other; the deliveries inside
 * a wave run concurrently (interleaved by fast-check's scheduler).
 */
export type Part = { events: PlannedEvent[]; waves: Delivery[][]; spends?: PartSpend[] };

export type PlannedStep =
  | { kind: 'deliver'; atMs: number; parts: Part[] }
  | { kind: 'spend'; atMs: number; customer: number; amount: number; key: string; retry: boolean }
  | { kind: 'expire'; atMs: number }
  | { kind: 'clock'; toMs: number; why: string }
  | { kind: 'referralCode'; customer: number }
  /** C17: every event delivered so far, replayed through the backfill function. */
  | { kind: 'replay'; events: PlannedEvent[] };

export type Plan = {
  startMs: number;
  customers: number;
  steps: PlannedStep[];
  toString(): string;
};

export type PlannedSubscription = {
  id: string;
  customer: number;
  number: number;
  anchorMs: number;
  priceId: string;
  quantity: number;
  referral: PlannedReferral | null;
  periods: number;
  lastStartMs: number;
  canceled: boolean;
  trial: boolean;
  /** C20: the months one period spans (12 for an annual price). */
  months: number;
  /** C19: prorations left for the next renewal to bill. */
  prorations?: ProrationLine[];
};

/** Stripe bills monthly on the anchor's day, clamped to shorter months (31 Jan -> 28 Feb). */
export function monthsAfter(anchorMs: number, months: number): number {
  const at = new Date(anchorMs);
  const index = at.getUTCFullYear() * 12 + at.getUTCMonth() + months;
  const year = Math.floor(index / 12);
  const month = index % 12;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const timeOfDayMs = anchorMs - Math.floor(anchorMs / DAY_MS) * DAY_MS;
  return Date.UTC(year, month, Math.min(at.getUTCDate(), lastDay)) + timeOfDayMs;
}

function typesOf(invoiceVia: InvoiceVia) {
  return invoiceVia === 'both'
    ? (['invoice.paid', 'invoice.payment_succeeded'] as const)
    : invoiceVia === 'paid'
      ? (['invoice.paid'] as const)
      : (['invoice.payment_succeeded'] as const);
}

/** What one intent makes: its events, their deliveries, and how to date its ends. */
export type Made = {
  events: PlannedEvent[];
  copies: Copies;
  settle?: (batchAtMs: number) => void;
  spend?: { customer: number; amount: number };
};

function settleEnds(ends: readonly EndEvent[], endedAtMs: number): void {
  for (const end of ends) end.endedAtMs = endedAtMs;
}

/** The planner's state while it walks the abstract steps. */
class Planner {
  nowMs: number;
  readonly steps: PlannedStep[] = [];
  private readonly subscriptions: PlannedSubscription[] = [];
  private readonly codesAsked = new Set<number>();
  private readonly spends: { customer: number; amount: number; key: string }[] = [];
  private readonly delivered: PlannedEvent[] = [];
  private nextEventNumber = 0;
  private packs = 0;
  private readonly reversals = new ReversalPlanner(() => this.eventId());

  constructor(
    startMs: number,
    private readonly customers: number,
  ) {
    this.nowMs = startMs;
  }

  add(step: AbstractStep, index: number): void {
    switch (step.kind) {
      case 'batch':
        this.batch(step.intents);
        break;
      case 'spend':
        this.spend(step, index);
        break;
      case 'expire':
        this.steps.push({ kind: 'expire', atMs: this.nowMs });
        break;
      case 'advance':
        this.moveClock(this.nowMs + step.hours * HOUR_MS, `+${step.hours} h`);
        break;
      case 'advanceToExpiry':
        this.advanceToExpiry(step.nth);
        break;
      case 'referralCode':
        this.askCode(this.customer(step.customer), true);
        break;
      case 'replay':
        if (this.delivered.length > 0) {
          this.steps.push({ kind: 'replay', events: [...this.delivered] });
        }
        break;
    }
  }

  private customer(n: number): number {
    return n % this.customers;
  }

  /** Subscribers are the ones who spend (anyone else is refused, C15), if there are any yet. */
  private spender(n: number): number {
    const running = this.subscriptions.filter((sub) => !sub.canceled);
    const subscribers = [...new Set(running.map((sub) => sub.customer))].sort();
    return subscribers.length === 0 ? this.customer(n) : (subscribers[n % subscribers.length] ?? 0);
  }

  private moveClock(toMs: number, why: string): void {
    if (toMs === this.nowMs) return;
    this.nowMs = toMs;
    this.steps.push({ kind: 'clock', toMs, why });
  }

  /** C6's edge: the clock lands exactly on a lot's expiry (the nth next one planned). */
  private advanceToExpiry(nth: number): void {
    const expiries = [
      ...new Set(
        this.subscriptions.flatMap((sub) =>
          // C20: every month of every period is a lot.
          Array.from({ length: sub.periods * sub.months }, (_, n) =>
            threeMonthsAfter(monthsAfter(sub.anchorMs, n)),
          ),
        ),
      ),
    ]
      .filter((atMs) => atMs > this.nowMs)
      .sort((a, b) => a - b);
    const target = expiries[Math.min(nth, expiries.length - 1)];
    if (target !== undefined) this.moveClock(target, 'to a lot expiry');
  }

  private askCode(customer: number, always: boolean): void {
    if (!always && this.codesAsked.has(customer)) return;
    this.codesAsked.add(customer);
    this.steps.push({ kind: 'referralCode', customer });
  }

  private spend(step: Extract<AbstractStep, { kind: 'spend' }>, index: number): void {
    // Before anyone has subscribed a spend can only be refused: not worth a step.
    if (this.subscriptions.length === 0) return;
    const earlier =
      step.retryOf === null || this.spends.length === 0
        ? undefined
        : this.spends[step.retryOf % this.spends.length];
    const request = earlier ?? {
      customer: this.spender(step.customer),
      amount: step.amount,
      key: `img-${index}`,
    };
    if (!earlier) this.spends.push(request);
    this.steps.push({ kind: 'spend', atMs: this.nowMs, ...request, retry: earlier !== undefined });
  }

  private eventId(): string {
    this.nextEventNumber += 1;
    return `evt_${this.nextEventNumber}`;
  }

  /** The customer's subscriptions still running, the nth of them (modulo), if any. */
  private running(customer: number, nth: number): PlannedSubscription | undefined {
    const live = this.subscriptions.filter((sub) => sub.customer === customer && !sub.canceled);
    return live.length === 0 ? undefined : live[nth % live.length];
  }

  private batch(intents: readonly Intent[]): void {
    this.reversals.batch += 1;
    const planned: Made[] = [];
    for (const each of intents) {
      const made = this.resolve(each);
      if (made) planned.push(made);
    }
    if (planned.length === 0) return;
    // Stripe sends an invoice when its period starts: a renewal moves the clock to its period.
    const latestStart = Math.max(
      ...planned.flatMap((made) =>
        made.events.map((event) => (event.kind === 'invoice' ? event.periodStartMs : 0)),
      ),
    );
    const atMs = Math.max(this.nowMs, latestStart);
    this.nowMs = atMs;
    for (const made of planned) made.settle?.(atMs);
    const parts = splitIntoParts(planned);
    this.delivered.push(...parts.flatMap((part) => part.events));
    this.steps.push({ kind: 'deliver', atMs, parts });
  }

  private resolve(each: Intent): Made | undefined {
    const customer = this.customer(each.customer);
    switch (each.kind) {
      case 'subscribe': {
        const referral = this.referralOf(customer, each.referral);
        const number = this.subscriptions.filter((sub) => sub.customer === customer).length;
        const anchorMs = this.nowMs - each.startHoursAgo * HOUR_MS;
        const priceId = this.priceFor(customer, each.plan);
        const sub: PlannedSubscription = {
          id: `sub_c${customer}_${number}`,
          customer,
          number,
          anchorMs,
          priceId,
          quantity: each.quantity,
          referral,
          periods: 0,
          lastStartMs: anchorMs,
          canceled: false,
          trial: each.trial,
          months: PLAN_INTERVAL_MONTHS[priceId] ?? 1,
        };
        this.subscriptions.push(sub);
        const events: PlannedEvent[] = this.invoices(sub, each.via);
        const quick = each.endsAfter;
        if (!quick) return { events, copies: each.copies };
        const ends = this.end(sub, quick.via);
        return {
          events: [...events, ...ends],
          copies: each.copies,
          // Cancelled within hours of starting, and at the latest now.
          settle: (atMs) => settleEnds(ends, Math.min(anchorMs + quick.hours * HOUR_MS, atMs)),
        };
      }
      case 'renew': {
        const sub = this.running(customer, each.subscription);
        // An annual renewal is a year on: delivery-annual.ts.
        if (!sub || sub.months > 1) return undefined;
        return { events: this.invoices(sub, each.via), copies: each.copies };
      }
      case 'cancel': {
        const sub = this.running(customer, each.subscription);
        if (!sub) return undefined;
        const ends = this.end(sub, each.via);
        // C8: a subscription ends after its last period began (a later renewal would not exist).
        const lastStartMs = sub.lastStartMs;
        return {
          events: ends,
          copies: each.copies,
          settle: (atMs) => settleEnds(ends, Math.max(lastStartMs, atMs - each.hoursAgo * HOUR_MS)),
        };
      }
      case 'pack': {
        const number = this.packs;
        this.packs += 1;
        const pack = {
          kind: 'pack' as const,
          customer,
          invoiceId: `in_c${customer}_pack${number}`,
          subscriptionId: `sub_none_c${customer}`,
          quantity: each.quantity,
          lineId: `il_c${customer}_pack${number}`,
          paidAtMs: this.nowMs,
          amountPaid: UNIT_AMOUNT_CENTS * each.quantity,
        };
        const events = typesOf(each.via).map((type) => ({
          ...pack,
          type,
          eventId: this.eventId(),
        }));
        this.reversals.purchased({
          customer,
          invoiceId: pack.invoiceId,
          paid: pack.amountPaid,
          referrer: undefined,
          ended: () => false,
        });
        return { events, copies: each.copies };
      }
      case 'change':
      case 'checkout':
        return resolveUpgrade(each, {
          nowMs: this.nowMs,
          customer: (n) => this.customer(n),
          live: () => this.subscriptions.filter((sub) => !sub.canceled),
          eventId: () => this.eventId(),
          referralOf: (c, wanted) => this.referralOf(c, wanted),
        });
      case 'trouble': {
        const sub = this.running(customer, each.subscription);
        if (!sub) return undefined;
        const event: TroubleEvent = {
          kind: 'trouble',
          eventId: this.eventId(),
          customer,
          subscriptionId: sub.id,
          status: each.status === 'past_due' ? 'past_due' : 'active',
          cancelAtPeriodEnd: each.status === 'cancel_at_period_end',
        };
        return { events: [event], copies: each.copies };
      }
      case 'reverse': {
        const made = this.reversals.resolve(each);
        return made && { ...made, copies: each.copies };
      }
      case 'annualRenewal':
        return resolveAnnualRenewal(each, {
          customer: (n) => this.customer(n),
          subscriptions: () => this.subscriptions,
          delivered: () => this.delivered,
          invoices: (sub, invoiceVia) => this.invoices(sub, invoiceVia),
          end: (sub, endVia) => this.end(sub, endVia),
          reach: (toMs, why) => {
            if (toMs > this.nowMs) this.moveClock(toMs, why);
          },
          nowMs: () => this.nowMs,
          annualPrice: ANNUAL_PRICE,
          adopt: (sub) => this.subscriptions.push(sub),
        });
    }
  }

  /**
   * The plan of a new subscription. A customer may have several annual ones, whose months come
   * due unrecorded together until a write records them (in transactions of their own when more
   * than fit beside it, lib/store/releases.ts). An annual subscription is renewed by its own
   * intent (delivery-annual.ts), not by `renew`.
   */
  private priceFor(_customer: number, plan: number): string {
    return PRICE_IDS[plan % PRICE_IDS.length] as string;
  }

  /** Ends the subscription: no renewal after this; the time is set once the batch's is known. */
  private end(sub: PlannedSubscription, via: 'deleted' | 'updated' | 'both'): EndEvent[] {
    sub.canceled = true;
    const types =
      via === 'both'
        ? (['customer.subscription.deleted', 'customer.subscription.updated'] as const)
        : via === 'deleted'
          ? (['customer.subscription.deleted'] as const)
          : (['customer.subscription.updated'] as const);
    return types.map((type) => ({
      kind: 'end',
      eventId: this.eventId(),
      type,
      customer: sub.customer,
      subscriptionId: sub.id,
      endedAtMs: Number.NaN,
    }));
  }

  /** The subscription's next period's invoice, as one or both event types. */
  private invoices(sub: PlannedSubscription, invoiceVia: InvoiceVia): InvoiceEvent[] {
    const period = sub.periods;
    sub.periods += 1;
    const periodStartMs = monthsAfter(sub.anchorMs, period * sub.months);
    sub.lastStartMs = periodStartMs;
    const invoice = {
      kind: 'invoice' as const,
      customer: sub.customer,
      invoiceId: `in_c${sub.customer}_${sub.number}_${period}`,
      subscriptionId: sub.id,
      billingReason:
        period === 0 ? ('subscription_create' as const) : ('subscription_cycle' as const),
      priceId: sub.priceId,
      quantity: sub.quantity,
      lineId: `il_c${sub.customer}_${sub.number}_${period}`,
      periodStartMs,
      periodEndMs: monthsAfter(sub.anchorMs, (period + 1) * sub.months),
      referral: sub.referral,
      amountPaid: period === 0 && sub.trial ? 0 : UNIT_AMOUNT_CENTS * sub.quantity,
      trialStart: sub.trial,
    };
    withPendingProrations(sub, invoice);
    const referral = sub.referral;
    this.reversals.purchased({
      customer: sub.customer,
      invoiceId: invoice.invoiceId,
      paid: invoice.amountPaid,
      referrer:
        referral?.kind === 'codeOf' && referral.customer !== sub.customer
          ? referral.customer
          : undefined,
      ended: () => sub.canceled,
    });
    return typesOf(invoiceVia).map((type) => ({ ...invoice, type, eventId: this.eventId() }));
  }

  /** A code that names a customer must exist first: that customer asks for it (C9). */
  private referralOf(customer: number, wanted: AbstractReferral): PlannedReferral | null {
    switch (wanted.kind) {
      case 'none':
        return null;
      case 'unknown':
        return { kind: 'literal', code: wanted.code };
      case 'own':
      case 'friend': {
        const owner = wanted.kind === 'own' ? customer : this.customer(wanted.of);
        this.askCode(owner, false);
        return { kind: 'codeOf', customer: owner, typed: wanted.typed };
      }
    }
  }
}

/**
 * Whether `a` (planned first) and `b` race in a way whose outcome still depends on delivery
 * order, or that the reference model cannot follow, so that they must not be delivered in one
 * shuffled batch. (A redemption and the referrer's own events may: C12 sets no condition on the
 * referrer, and C7/C8 forfeit a referrer's bonus in either order.) C10/C12: two first purchases
 * of one customer may share a part, since lib/ asks Stripe for the customer's purchases before
 * a redemption (lib/stripe/customer-history.ts) and the model reads the same list
 * (test/support/delivery-first-purchase.ts), a Checkout pack paid asynchronously too. A trial's
 * invoices may share a part too: a paid renewal delivered before its $0 start asks Stripe whether it is its
 * subscription's first paid invoice (lib/stripe/subscription-history.ts). C16 C19: plan changes
 * (test/support/delivery-upgrades.ts) share parts in every pairing, two prorating invoices of
 * one subscription too: lib/ plans a subscription's cuts again in Stripe's order on every
 * delivery (lib/credits/downgrades.ts).
 */
function conflicts(a: PlannedEvent, b: PlannedEvent): boolean {
  return reversalConflicts(a, b);
}

/**
 * Splits a batch into parts delivered one after the other, in the intents' order, starting a new
 * part whenever an event conflicts with one already in the current part; then shuffles each
 * part's deliveries by their keys and groups them into waves of concurrent deliveries.
 */
function splitIntoParts(planned: readonly Made[]): Part[] {
  type Building = {
    events: PlannedEvent[];
    copies: Copy[][];
    spends: (PartSpend & { at: number })[];
  };
  const parts: Building[] = [];
  let current: Building | undefined;
  for (const made of planned) {
    const clash = current?.events.some((event) =>
      made.events.some((other) => conflicts(event, other)),
    );
    if (!current || clash) {
      current = { events: [], copies: [], spends: [] };
      parts.push(current);
    }
    const first = made.events[0];
    if (made.spend && first) {
      const key = `img-${first.eventId}`;
      current.spends.push({ ...made.spend, key, wave: 0, at: current.events.length });
    }
    made.events.forEach((event, i) => {
      current?.events.push(event);
      current?.copies.push(made.copies[i] ?? made.copies[0] ?? [{ key: 0, together: false }]);
    });
  }
  return parts.map(({ events, copies: eventCopies, spends }) => {
    const waves = wavesOf(eventCopies);
    // The spend runs alongside the first delivery of its reversal's first event. A spend whose
    // customer another event of the part grants to (or redeems their code) could be served
    // before or after that grant, and only the reversal checks know a spend's two orders.
    const alongside = spends
      .filter((spend) => !events.some((event) => grantsTo(event, (n) => n === spend.customer)))
      .map(({ at, ...spend }) => ({
        ...spend,
        wave: Math.max(
          0,
          waves.findIndex((wave) => wave.some((delivery) => delivery.event === at)),
        ),
      }));
    return { events, waves, ...(alongside.length > 0 && { spends: alongside }) };
  });
}

/**
 * Whether an event other than a reversal may change the credits of the customer `is` names:
 * any event of theirs, or a purchase carrying their code (C11: a referrer's bonus).
 */
export function grantsTo(event: PlannedEvent, is: (customer: number) => boolean): boolean {
  if (event.kind === 'reversal') return false;
  if (is(event.customer)) return true;
  const referral = 'referral' in event ? event.referral : null;
  return referral?.kind === 'codeOf' && is(referral.customer);
}

function wavesOf(eventCopies: readonly Copy[][]): Delivery[][] {
  const deliveries = eventCopies
    .flatMap((list, event) => list.map((each, copyIndex) => ({ ...each, event, copy: copyIndex })))
    // A stable sort on the generated keys: the shuffle shrinks towards the intents' order.
    .sort((a, b) => a.key - b.key);
  const waves: Delivery[][] = [];
  for (const delivery of deliveries) {
    const last = waves.at(-1);
    const entry = { event: delivery.event, copy: delivery.copy };
    if (last && delivery.together) last.push(entry);
    else waves.push([entry]);
  }
  return waves;
}

export function planHistory(history: AbstractHistory): Plan {
  const planner = new Planner(history.startMs, history.customers);
  for (const [index, each] of history.steps.entries()) planner.add(each, index);
  const plan = { startMs: history.startMs, customers: history.customers, steps: planner.steps };
  return { ...plan, toString: () => describePlan(plan) };
}

// ---------------------------------------------------------------------------------------------
// Printing: a failing history reads as a script.

const iso = (ms: number) => new Date(ms).toISOString().replace(':00.000Z', 'Z');

function describeReferral(referral: PlannedReferral | null): string {
  if (!referral) return '';
  if (referral.kind === 'literal') return ` referral_code=${JSON.stringify(referral.code)}`;
  return ` referral_code=<code of c${referral.customer}, ${referral.typed}>`;
}

export function describeEvent(event: PlannedEvent): string {
  switch (event.kind) {
    case 'invoice':
      return `${event.type} ${event.invoiceId} (c${event.customer} ${event.subscriptionId} ${event.billingReason} ${event.priceId} x${event.quantity}${event.amountPaid === 0 ? ' $0' : ''}, period from ${iso(event.periodStartMs)}${describeRenewalProrations(event)}${describeReferral(event.referral)})`;
    case 'change':
    case 'checkout':
      return describeUpgradeEvent(event);
    case 'end':
      return `${event.type} ${event.subscriptionId} (c${event.customer}, canceled, ended_at ${iso(event.endedAtMs)})`;
    case 'pack':
      return `${event.type} ${event.invoiceId} (c${event.customer} manual ${PACK_PRICE_ID} x${event.quantity}, paid at ${iso(event.paidAtMs)})`;
    case 'trouble':
      return `customer.subscription.updated ${event.subscriptionId} (c${event.customer}, ${event.status}${event.cancelAtPeriodEnd ? ', cancel_at_period_end' : ''})`;
    case 'reversal':
      return describeReversal(event);
  }
}

function describeStep(step: PlannedStep, index: number): string {
  const head = `#${index}`;
  switch (step.kind) {
    case 'deliver': {
      const lines = [`${head} deliver at ${iso(step.atMs)}:`];
      step.parts.forEach((part, p) => {
        lines.push(`     part ${p + 1}:`);
        part.events.forEach((event, e) => {
          lines.push(`       e${e} ${event.eventId} ${describeEvent(event)}`);
        });
        const waves = part.waves.map((wave) => `[${wave.map((d) => `e${d.event}`).join(' || ')}]`);
        lines.push(`       deliveries in order (|| = concurrent): ${waves.join(' ')}`);
        for (const spend of part.spends ?? []) {
          lines.push(
            `       c${spend.customer} spends ${spend.amount} (key ${spend.key}) alongside wave ${spend.wave + 1}`,
          );
        }
      });
      return lines.join('\n');
    }
    case 'spend':
      return `${head} c${step.customer} ${step.retry ? 'retries' : 'spends'} ${step.amount} (key ${step.key}) at ${iso(step.atMs)}`;
    case 'expire':
      return `${head} expiry run (rollover) at ${iso(step.atMs)}`;
    case 'clock':
      return `${head} clock ${step.why} -> ${iso(step.toMs)}`;
    case 'referralCode':
      return `${head} c${step.customer} asks for its referral code`;
    case 'replay':
      return `${head} backfill replays all ${step.events.length} events so far`;
  }
}

function describePlan(plan: Omit<Plan, 'toString'>): string {
  return [
    `history of c0..c${plan.customers - 1} from ${iso(plan.startMs)}:`,
    ...plan.steps.map(describeStep),
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// The reference model at the level of Stripe facts: test/support/delivery-reference.ts.

export { DeliveryModel, type LotView, type ModelInvoice } from './delivery-reference';
