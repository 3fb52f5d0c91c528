import { cancelUpcoming, cuts, type DowngradeWindow, isTopUp } from './changes';
import { byBurnOrder, type Lot } from './lots';
import type { CustomerFacts, CustomerState, StateChange, SubscriptionFacts } from './state';
import { lotExpiresAtMs } from './time';

/**
 * C19 whatever the delivery order (C16). In Stripe's order a downgrade at time `c` (billed at
 * once, or on the next renewal with the period's other changes) cancels, latest first, credits
 * of the subscription's lots that Stripe billed before it (`purchasedAtMs`, the creation of
 * their invoice, before the downgrade's; see the tie rule below) and granted after `c` within the
 * change's period; later, the subscription's end (C7) cancels what is left after it. Delivered
 * in another order, the processor keeps two small facts per subscription so that the lots come
 * out the same:
 * - `downgrades`: what a downgrade could not cancel yet because the lots it cuts were not
 *   delivered (an annual plan's first invoice delivered after the change). The grant of an
 *   earlier purchase delivered later has it cut from its lots on arrival, latest first.
 * - `endCuts`: the credits the end cancelled after it (or that a grant delivered after the end
 *   never created), by grant time. In Stripe's order a downgrade before the end cut those
 *   first, being the latest; a downgrade delivered after the end counts them (using them up,
 *   so that two downgrades never count the same credits) before it cuts lots granted by the end.
 * A lot stored before lots recorded when they were billed (`purchasedAtMs` absent) counts as
 * billed before every downgrade: such a lot is cut as it always was. The time Stripe billed a
 * purchase, not the start of its period, orders them: a renewal that bills several changes'
 * prorations cuts the top-up of a change billed at once before it, though its prorations'
 * period starts with an earlier change.
 *
 * Limits of late delivery: a lot already granted and partly spent when a cut reaches it loses
 * only what is left (C1: a balance is never negative). Two downgrades of one period delivered
 * in the reverse of Stripe's order, or a downgrade delivered before one of two earlier
 * purchases whose lots it cuts, may cut other lots than in Stripe's order (the same total when
 * there is enough to cut).
 *
 * Tie rule for two invoices of one subscription billed at the same instant (`cuts`,
 * changes.ts): a plan's months of that instant count as billed before the downgrade (Stripe
 * changes only a period that has begun), a top-up does not. Had a downgrade cut a same-instant
 * change's top-up, it would cut the plan's months alone when delivered before the top-up and
 * both when delivered after; leaving the top-up alone, it meets one purchase in every order. An
 * end's cut of a top-up keeps the mark (`topUp`) for the downgrades delivered after the end.
 */

/** C19: a downgrade's part still to cancel once the lots it cuts arrive. */
export type PendingDowngrade = {
  /** The change: it cuts lots granted after it. */
  readonly atMs: number;
  /** When Stripe billed it: it cuts lots billed by then. */
  readonly billedAtMs: number;
  /** The end of the period the change falls in: lots granted from then on are no part of it. */
  readonly beforeMs: number;
  readonly credits: number;
  /** What the downgrade's own earlier batches cancelled (MAX_LOTS_PER_DOWNGRADE), while it runs. */
  readonly cancelled?: number;
};

/** C7/C19: credits the subscription's end cancelled after it, left for late downgrades. */
export type EndCut = {
  readonly grantedAtMs: number;
  readonly purchasedAtMs?: number;
  /** Cut from an invoice's top-up: the tie rule of `cuts` (changes.ts) needs to know. */
  readonly topUp?: true;
  readonly credits: number;
};

/** The subscription facts this file keeps (the rest of SubscriptionFacts is others'). */
export type DowngradeFacts = Pick<SubscriptionFacts, 'downgrades' | 'endCuts'>;

/**
 * A pending downgrade whose period ended a lot lifetime (C4) ago can only cut expired lots,
 * and an end's cut of a lot that would have expired can only excuse cuts of expired lots: both
 * are dropped, which keeps the facts small.
 */
function stillMatters(grantedBeforeMs: number, nowMs: number): boolean {
  return lotExpiresAtMs(grantedBeforeMs) > nowMs;
}

/**
 * C19/C16: an invoice's planned lots as they arrive, with what pending downgrades of its
 * subscription still had to cancel cut from them (each downgrade in Stripe's order, that is by
 * the time of its change, latest lot first); lots left with nothing are not created. Returns
 * the downgrades still pending after that.
 */
export function cutOnArrival(
  facts: SubscriptionFacts,
  planned: readonly Lot[],
  nowMs: number,
): { lots: Lot[]; downgrades: Record<string, PendingDowngrade> } {
  const lots = new Map(planned.map((lot) => [lot.id, lot]));
  const downgrades: Record<string, PendingDowngrade> = {};
  const pending = Object.entries(facts.downgrades ?? {}).sort(
    ([a, one], [b, other]) => one.atMs - other.atMs || (a < b ? -1 : 1),
  );
  for (const [id, downgrade] of pending) {
    if (!stillMatters(downgrade.beforeMs, nowMs)) continue;
    let left = downgrade.credits;
    const latestFirst = [...lots.values()]
      .filter((lot) => cuts(downgrade, lot))
      .sort(byBurnOrder)
      .reverse();
    for (const lot of latestFirst) {
      if (left === 0) break;
      const amount = Math.min(left, lot.remaining);
      lots.set(lot.id, {
        ...lot,
        granted: lot.granted - amount,
        remaining: lot.remaining - amount,
      });
      left -= amount;
    }
    if (left > 0) downgrades[id] = { ...downgrade, credits: left };
  }
  return { lots: [...lots.values()].filter((lot) => lot.remaining > 0), downgrades };
}

/** C7: what an end cancels (or keeps from being granted) after it, kept for late downgrades. */
export function withEndCuts(
  facts: SubscriptionFacts,
  lots: readonly Lot[],
  nowMs: number,
): EndCut[] {
  const added = lots
    .filter((lot) => lot.remaining > 0)
    .map((lot) => ({
      grantedAtMs: lot.grantedAtMs,
      ...(lot.purchasedAtMs !== undefined && { purchasedAtMs: lot.purchasedAtMs }),
      ...(isTopUp(lot) && { topUp: true as const }),
      credits: lot.remaining,
    }));
  return [...(facts.endCuts ?? []), ...added].filter((cut) => stillMatters(cut.grantedAtMs, nowMs));
}

/**
 * C19: a downgrade of `credits` at `atMs`: first it counts what the subscription's end already
 * cancelled in its window (latest first, using it up), then cancels lots not yet granted at
 * `atMs` as cancelUpcoming does; what neither covers waits for the lots still to be delivered.
 * Returns what it cancelled from lots, the change, and the subscription's facts of this file
 * as they are after it; `more` when it cut MAX_LOTS_PER_DOWNGRADE lots and has more to cut,
 * which the grant's next run does (found as this invoice's pending part).
 */
export function downgrade(
  state: CustomerState,
  request: DowngradeWindow & {
    subscriptionId: string;
    invoiceId: string;
    credits: number;
    entryId: string;
    nowMs: number;
  },
  facts: SubscriptionFacts,
): { cancelled: number; change?: StateChange; facts: DowngradeFacts; more?: boolean } {
  // A run after a batch of this downgrade's own cuts goes on from what that batch left.
  const resumed = facts.downgrades?.[request.invoiceId];
  const counted = resumed
    ? { credits: request.credits - resumed.credits, endCuts: facts.endCuts ?? [] }
    : countEndCuts(facts.endCuts ?? [], request, request.credits);
  const cancelled = cancelUpcoming(state, {
    subscriptionId: request.subscriptionId,
    credits: request.credits - counted.credits,
    atMs: request.atMs,
    beforeMs: request.beforeMs,
    billedAtMs: request.billedAtMs,
    entryId: request.entryId,
    maxLots: MAX_LOTS_PER_DOWNGRADE,
  });
  const left = request.credits - counted.credits - cancelled.cancelled;
  const cancelledSoFar = (resumed?.cancelled ?? 0) + cancelled.cancelled;
  const pending = Object.fromEntries(
    Object.entries(facts.downgrades ?? {}).filter(
      ([id, each]) => id !== request.invoiceId && stillMatters(each.beforeMs, request.nowMs),
    ),
  );
  const downgrades =
    left > 0
      ? {
          ...pending,
          [request.invoiceId]: {
            atMs: request.atMs,
            beforeMs: request.beforeMs,
            billedAtMs: request.billedAtMs,
            credits: left,
            ...(cancelled.more && { cancelled: cancelledSoFar }),
          },
        }
      : pending;
  return {
    cancelled: cancelledSoFar,
    ...(cancelled.change && { change: cancelled.change }),
    facts: { downgrades, endCuts: counted.endCuts },
    ...(cancelled.more && { more: true }),
  };
}

/**
 * How many lots one transaction of a downgrade cuts (each is two items, beside the account,
 * the fact and what the grant writes). A downgrade that reaches more, across an annual plan of
 * many prices, cuts a batch in a transaction of its own, keeps what it still has to cut as its
 * pending part (`downgrades`, by its invoice id), and the grant's next run resumes from there.
 */
export const MAX_LOTS_PER_DOWNGRADE = 25;

/** What of `credits` the end's cuts in the window cover, latest first, and the cuts left. */
function countEndCuts(
  endCuts: readonly EndCut[],
  window: DowngradeWindow,
  credits: number,
): { credits: number; endCuts: EndCut[] } {
  const order = endCuts
    .map((cut, index) => ({ cut, index }))
    .filter(({ cut }) => cuts(window, cut))
    .sort((a, b) => b.cut.grantedAtMs - a.cut.grantedAtMs || b.index - a.index);
  const left = [...endCuts];
  let counted = 0;
  for (const { cut, index } of order) {
    if (counted === credits) break;
    const amount = Math.min(credits - counted, cut.credits);
    left[index] = { ...cut, credits: cut.credits - amount };
    counted += amount;
  }
  return { credits: counted, endCuts: left.filter((cut) => cut.credits > 0) };
}

/** The subscription's facts with this file's part replaced; empty parts are left out. */
export function withDowngradeFacts(
  facts: SubscriptionFacts,
  part: DowngradeFacts,
): SubscriptionFacts {
  const { downgrades: _downgrades, endCuts: _endCuts, ...rest } = facts;
  const downgrades = part.downgrades ?? facts.downgrades;
  const endCuts = part.endCuts ?? facts.endCuts;
  return {
    ...rest,
    ...(downgrades && Object.keys(downgrades).length > 0 && { downgrades }),
    ...(endCuts && endCuts.length > 0 && { endCuts }),
  };
}

/**
 * C19/C16: an invoice's planned lots on arrival: cut by the downgrades still pending
 * (cutOnArrival) and, for an ended subscription, only those granted by its end (C8), those
 * after it kept as the end's cuts. Returns the lots to create and the facts of this file after.
 */
export function arrivalOf(
  facts: SubscriptionFacts,
  planned: readonly Lot[],
  nowMs: number,
): { lots: Lot[]; part: DowngradeFacts } {
  const cut = cutOnArrival(facts, planned, nowMs);
  const endedAtMs = facts.endedAtMs;
  if (endedAtMs === undefined) return { lots: cut.lots, part: { downgrades: cut.downgrades } };
  const afterEnd = cut.lots.filter((lot) => lot.grantedAtMs > endedAtMs);
  return {
    lots: cut.lots.filter((lot) => lot.grantedAtMs <= endedAtMs),
    part: { downgrades: cut.downgrades, endCuts: withEndCuts(facts, afterEnd, nowMs) },
  };
}

/** The customer's facts with `part` of one subscription's facts replaced. */
export function withSubscriptionPart(
  facts: CustomerFacts,
  subscriptionId: string,
  part: DowngradeFacts,
): CustomerFacts {
  const subscription = withDowngradeFacts(facts.subscriptions[subscriptionId] ?? {}, part);
  const before = facts.subscriptions[subscriptionId] ?? {};
  if (JSON.stringify(before) === JSON.stringify(subscription)) return facts;
  return { ...facts, subscriptions: { ...facts.subscriptions, [subscriptionId]: subscription } };
}

/**
 * C19: an invoice whose prorations net zero or less is a downgrade: it cancels that much of
 * the credit still to come in the period the change falls in, latest first, of what was bought
 * by the change (`downgrade`). A later renewal's lots are no part of it, nor a later change's
 * top-up, even when Stripe delivers those first (C16).
 */
export function downgradeOf(
  customer: CustomerState,
  invoice: {
    readonly invoiceId: string;
    readonly subscriptionId: string;
    readonly invoiceCreatedMs: number;
    readonly proration?: {
      readonly credits: number;
      readonly periodStartMs: number;
      readonly periodEndMs: number;
    };
  },
  facts: CustomerFacts,
  nowMs: number,
): { cancelled: number; change?: StateChange; facts?: DowngradeFacts; more?: boolean } {
  const proration = invoice.proration;
  if (!proration || proration.credits >= 0) return { cancelled: 0 };
  return downgrade(
    customer,
    {
      subscriptionId: invoice.subscriptionId,
      invoiceId: invoice.invoiceId,
      credits: -proration.credits,
      atMs: proration.periodStartMs,
      beforeMs: proration.periodEndMs,
      billedAtMs: invoice.invoiceCreatedMs,
      entryId: `grant#${invoice.invoiceId}#downgrade`,
      nowMs,
    },
    facts.subscriptions[invoice.subscriptionId] ?? {},
  );
}
