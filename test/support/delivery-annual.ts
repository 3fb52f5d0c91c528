import fc from 'fast-check';
import type {
  Copies,
  EndEvent,
  InvoiceEvent,
  InvoiceVia,
  Made,
  PlannedEvent,
  PlannedSubscription,
} from './delivery-model';
import { monthsAfter } from './model';

/**
 * The delivery property test's renewals of annual plans (C20), kept apart from
 * test/support/delivery-model.ts, which calls in here from its `resolve`:
 * - an `annualRenewal` intent bills an annual subscription's next year (`subscription_cycle`,
 *   a 12-month line granting the next 12 monthly lots). Stripe sends it when the year begins,
 *   so the planner's clock moves there (a year on, or more for a later year), or a few hours
 *   later: a late delivery (Stripe retries for 3 days).
 * - the subscription's end may come in the same batch, hours before the renewal's period
 *   (C8: the renewal is then recorded and ignored, in either delivery order) or after it (C7:
 *   the renewal's first month is granted and forfeited with the rest, its later months
 *   cancelled, C20).
 * - the end may come alone, the renewal left for later: a subscription that ended in an earlier
 *   batch may still be billed (C8: a late invoice.paid for an ended subscription). For a year
 *   that began at or before the end it grants the months up to the end, forfeited on arrival
 *   when the end left nothing active; for a year after the end it grants nothing.
 * - the subscription may be new: one that began a year ago (a $0 trial, C18, or paid), whose
 *   first invoice Stripe delivers now, a year late (a backfill, C17), shuffled with its renewal
 *   (C4: the lots take Stripe's times, so most of the first year's have expired on arrival).
 *   So does one created earlier in the same batch. A new one carries no code: a purchase
 *   created a year before the customer's others, delivered after them, is the known limit of
 *   docs/functions.md's referral section, not this file's subject.
 * The reference model needs nothing more: a 12-month line is 12 monthly lots (model.ts), the
 * balance lists the ones not granted yet as upcoming, and each expires 3 months after its grant.
 */

const HOUR_MS = 3_600_000;

export type AnnualIntent = {
  kind: 'annualRenewal';
  customer: number;
  /** Which of the annual subscriptions (modulo), the customer's own when it has one. */
  subscription: number;
  via: InvoiceVia;
  /** Hours after the new year's start that the renewal arrives. */
  lateHours: number;
  /**
   * The subscription ends in the same batch, `hours` from the renewal's start (negative:
   * before). When `alone`, the renewal is not billed yet: a later intent may bring it (C8).
   */
  end: { hours: number; via: 'deleted' | 'updated' | 'both'; alone: boolean } | null;
  /**
   * A subscription that began a year and `startHoursAgo` ago, billed now for both years: when
   * `fresh`, or when there is no annual subscription to renew.
   */
  start: { fresh: boolean; quantity: number; trial: boolean; startHoursAgo: number };
  copies: Copies;
};

export function annualRenewalIntent(deliveries: {
  customer: fc.Arbitrary<number>;
  via: fc.Arbitrary<InvoiceVia>;
  copies: fc.Arbitrary<Copies>;
}): fc.Arbitrary<AnnualIntent> {
  return fc.record({
    kind: fc.constant('annualRenewal' as const),
    customer: deliveries.customer,
    subscription: fc.nat({ max: 3 }),
    via: deliveries.via,
    lateHours: fc.oneof(fc.constant(0), fc.nat({ max: 72 })),
    // Half the time; just before or after the year's start, at it (the C7 edge), or days off.
    end: fc.option(
      fc.record({
        hours: fc.oneof(
          fc.constant(0),
          fc.integer({ min: -3, max: 3 }),
          fc.integer({ min: -24 * 20, max: 72 }),
        ),
        via: fc.constantFrom('deleted' as const, 'updated' as const, 'both' as const),
        alone: fc.oneof(
          { weight: 3, arbitrary: fc.constant(false) },
          { weight: 1, arbitrary: fc.constant(true) },
        ),
      }),
      { freq: 2, nil: null },
    ),
    start: fc.record({
      fresh: fc.oneof(
        { weight: 3, arbitrary: fc.constant(false) },
        { weight: 1, arbitrary: fc.constant(true) },
      ),
      quantity: fc.integer({ min: 1, max: 3 }),
      trial: fc.oneof(
        { weight: 3, arbitrary: fc.constant(false) },
        { weight: 1, arbitrary: fc.constant(true) },
      ),
      startHoursAgo: fc.oneof(fc.constant(0), fc.nat({ max: 72 })),
    }),
    copies: deliveries.copies,
  });
}

/** What the planner lends this file. */
export type AnnualPlannerView = {
  customer(n: number): number;
  /** Every subscription planned so far, ended or not. */
  subscriptions(): readonly PlannedSubscription[];
  /** The events delivered in earlier batches (an earlier end's time is settled there). */
  delivered(): readonly PlannedEvent[];
  /** The subscription's next period's invoice events (C3), as the planner bills them. */
  invoices(sub: PlannedSubscription, via: InvoiceVia): InvoiceEvent[];
  /** The subscription's end events, dated by the batch's settle. */
  end(sub: PlannedSubscription, via: 'deleted' | 'updated' | 'both'): EndEvent[];
  /** Moves the planner's clock forward to `toMs` (a clock step), if it is later. */
  reach(toMs: number, why: string): void;
  nowMs(): number;
  /** The catalog's annual price (C2: its interval spans 12 months). */
  annualPrice: { id: string; months: number };
  /** Plans a new subscription (C3: billed from its first invoice on). */
  adopt(sub: PlannedSubscription): void;
};

export function resolveAnnualRenewal(
  intent: AnnualIntent,
  view: AnnualPlannerView,
): Made | undefined {
  const customer = view.customer(intent.customer);
  const candidates = view
    .subscriptions()
    .filter((sub) => sub.months > 1 && sub.periods > 0)
    .filter((sub) => !sub.canceled || earlierEnd(sub, view) !== undefined);
  const own = candidates.filter((sub) => sub.customer === customer);
  const among = own.length > 0 ? own : candidates;
  const picked = among[intent.subscription % Math.max(1, among.length)];
  const startsNow = intent.start.fresh || !picked;
  const sub = startsNow ? yearAgo(customer, intent.start, view) : picked;
  // Its first year's invoice, delivered with the renewal.
  const first = startsNow ? view.invoices(sub, intent.via) : [];
  const yearStartMs = monthsAfter(sub.anchorMs, sub.periods * sub.months);
  // The end, if any, comes after the subscription's last change (C8: nothing changes after it).
  const lastChangeMs = sub.lastStartMs;
  const quickEnd = sub.canceled ? null : intent.end;
  const arrivesMs = yearStartMs + Math.max(intent.lateHours, quickEnd?.hours ?? 0) * HOUR_MS;
  view.reach(arrivesMs, 'to an annual renewal');
  const renewal = quickEnd?.alone ? [] : view.invoices(sub, intent.via);
  const events: PlannedEvent[] = [...first, ...renewal];
  if (!quickEnd) return { events, copies: intent.copies };
  const ends = view.end(sub, quickEnd.via);
  const endsAtMs = Math.max(lastChangeMs, yearStartMs + quickEnd.hours * HOUR_MS);
  return {
    events: [...events, ...ends],
    copies: intent.copies,
    settle: (batchAtMs) => {
      for (const end of ends) end.endedAtMs = Math.min(endsAtMs, batchAtMs);
    },
  };
}

/** An annual subscription of the customer's that began a year (and some hours) ago. */
function yearAgo(
  customer: number,
  start: AnnualIntent['start'],
  view: AnnualPlannerView,
): PlannedSubscription {
  const { id: priceId, months } = view.annualPrice;
  const number = view.subscriptions().filter((sub) => sub.customer === customer).length;
  const anchorMs = monthsAfter(view.nowMs(), -months) - start.startHoursAgo * HOUR_MS;
  const sub: PlannedSubscription = {
    id: `sub_c${customer}_${number}`,
    customer,
    number,
    anchorMs,
    priceId,
    quantity: start.quantity,
    referral: null,
    periods: 0,
    lastStartMs: anchorMs,
    canceled: false,
    trial: start.trial,
    months,
  };
  view.adopt(sub);
  return sub;
}

/** When a subscription ended, if an earlier batch delivered its end (C8: a late renewal). */
function earlierEnd(sub: PlannedSubscription, view: AnnualPlannerView): number | undefined {
  const end = view
    .delivered()
    .find((event) => event.kind === 'end' && event.subscriptionId === sub.id);
  return end?.kind === 'end' ? end.endedAtMs : undefined;
}
