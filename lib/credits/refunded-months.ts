import type { Lot } from './lots';
import type { CustomerFacts, SubscriptionFacts } from './state';
import { lotExpiresAtMs } from './time';

/**
 * C19 C22 C16: what reversals took from a subscription's months, kept so that its downgrades
 * cut as in Stripe's order whatever the order of delivery. In Stripe's order a downgrade cuts
 * before a refund that follows it, and the refund then takes what the cut left: the same
 * credits lost in all, but the cut on the month and the refund elsewhere (the purchase's other
 * months, the customer's other lots, or debt). A refund delivered before the downgrade (or
 * before a purchase that moves the downgrade's cut) took the month first; the downgrade's plan
 * (cut-plan.ts) counts what the refund took as the month's still, and what it cuts of that
 * the refund takes again elsewhere (reconcileCuts, lib/ledger/subscriptions.ts).
 */

/** One month's take-backs: the month as a cut plan needs it, and what each purchase took. */
export type RefundedMonth = {
  readonly grantedAtMs: number;
  readonly purchasedAtMs?: number;
  readonly topUp?: true;
  readonly ref: string;
  /** By the purchase whose reversal took it: credits still counted, and the reversal's time. */
  readonly by: Readonly<Record<string, RefundedBy>>;
};

export type RefundedBy = { readonly credits: number; readonly atMs: number };

/**
 * C22: the facts once purchase `purchaseId`'s take-back at `atMs` took `takes` (granted lots
 * taken from, or months not yet granted cancelled): the subscription months among them are
 * remembered.
 */
export function withRefundedMonths(
  facts: CustomerFacts,
  purchaseId: string,
  takes: readonly { readonly lot: Lot; readonly amount: number }[],
  atMs: number,
): CustomerFacts {
  let subscriptions = facts.subscriptions;
  for (const { lot, amount } of takes) {
    const subscriptionId = lot.subscriptionId;
    if (subscriptionId === undefined || amount <= 0 || lot.forfeit) continue;
    const subscription = subscriptions[subscriptionId] ?? {};
    const month = subscription.refunded?.[lot.id] ?? monthOf(lot);
    const had = month.by[purchaseId]?.credits ?? 0;
    const by = { ...month.by, [purchaseId]: { credits: had + amount, atMs } };
    const refunded = { ...subscription.refunded, [lot.id]: { ...month, by } };
    subscriptions = { ...subscriptions, [subscriptionId]: { ...subscription, refunded } };
  }
  return subscriptions === facts.subscriptions ? facts : { ...facts, subscriptions };
}

function monthOf(lot: Lot): RefundedMonth {
  return {
    grantedAtMs: lot.grantedAtMs,
    ...(lot.purchasedAtMs !== undefined && { purchasedAtMs: lot.purchasedAtMs }),
    ...(lot.topUp && { topUp: true as const }),
    ref: lot.ref,
    by: {},
  };
}

/**
 * C23: a reversal undone gives back as a lot of its own `credits` that it took from lots; its
 * months no longer count them (the latest first), so that no later cut takes them again.
 */
export function withoutRefunded(
  facts: CustomerFacts,
  purchaseId: string,
  credits: number,
): CustomerFacts {
  let left = credits;
  let subscriptions = facts.subscriptions;
  for (const [subscriptionId, subscription] of Object.entries(facts.subscriptions)) {
    const months = Object.entries(subscription.refunded ?? {})
      .filter(([, month]) => (month.by[purchaseId]?.credits ?? 0) > 0)
      .sort(([a, x], [b, y]) => y.grantedAtMs - x.grantedAtMs || (a < b ? 1 : -1));
    if (months.length === 0) continue;
    const reduced = months.map(([lotId, month]) => {
      const had = month.by[purchaseId]?.credits ?? 0;
      const less = Math.min(had, left);
      left -= less;
      return [lotId, lessBy(month, { [purchaseId]: less })] as const;
    });
    const refunded = withMonths(subscription.refunded ?? {}, reduced);
    subscriptions = { ...subscriptions, [subscriptionId]: withRefunded(subscription, refunded) };
  }
  return subscriptions === facts.subscriptions ? facts : { ...facts, subscriptions };
}

/** The month less `credits` by purchase; undefined when it counts nothing any more. */
export function lessBy(
  month: RefundedMonth,
  credits: Readonly<Record<string, number>>,
): RefundedMonth | undefined {
  const by = Object.fromEntries(
    Object.entries(month.by)
      .map(([purchaseId, each]) => [
        purchaseId,
        { ...each, credits: each.credits - (credits[purchaseId] ?? 0) },
      ])
      .filter(([, each]) => (each as RefundedBy).credits > 0),
  ) as Record<string, RefundedBy>;
  return Object.keys(by).length > 0 ? { ...month, by } : undefined;
}

/** `months` with `changed` months replaced (an undefined one removed). */
export function withMonths(
  months: Readonly<Record<string, RefundedMonth>>,
  changed: readonly (readonly [string, RefundedMonth | undefined])[],
): Record<string, RefundedMonth> {
  const next: Record<string, RefundedMonth> = { ...months };
  for (const [lotId, month] of changed) {
    if (month) next[lotId] = month;
    else delete next[lotId];
  }
  return next;
}

/** The subscription's facts with `refunded` (left out when empty). */
function withRefunded(
  subscription: SubscriptionFacts,
  refunded: Readonly<Record<string, RefundedMonth>>,
): SubscriptionFacts {
  const { refunded: _before, ...rest } = subscription;
  return Object.keys(refunded).length > 0 ? { ...rest, refunded } : rest;
}

/** The months still to matter at `nowMs`: an expired month keeps its cuts (C6). */
export function refundedStillMatters(
  refunded: Readonly<Record<string, RefundedMonth>> | undefined,
  nowMs: number,
): Record<string, RefundedMonth> {
  return Object.fromEntries(
    Object.entries(refunded ?? {}).filter(([, month]) => lotExpiresAtMs(month.grantedAtMs) > nowMs),
  );
}

/**
 * The purchases that take again what a cut took of a month they had taken (`shortfall`): the
 * latest reversal first (the cut came before it in Stripe's order), then by purchase id; and
 * the month as it then counts.
 */
export function shortfallOf(
  month: RefundedMonth,
  shortfall: number,
): { retakes: RetakeOf[]; month: RefundedMonth | undefined } {
  let left = shortfall;
  const retakes: RetakeOf[] = [];
  const latestFirst = Object.entries(month.by).sort(
    ([a, x], [b, y]) => y.atMs - x.atMs || (a < b ? -1 : 1),
  );
  for (const [purchaseId, each] of latestFirst) {
    const credits = Math.min(left, each.credits);
    if (credits === 0) continue;
    retakes.push({ purchaseId, credits, atMs: each.atMs });
    left -= credits;
  }
  const taken = Object.fromEntries(retakes.map((each) => [each.purchaseId, each.credits]));
  return { retakes, month: lessBy(month, taken) };
}

/** What a purchase's reversal takes again: a cut took it from a month the reversal had taken. */
export type RetakeOf = {
  readonly purchaseId: string;
  readonly credits: number;
  readonly atMs: number;
};

/** The retakes of one purchase added together (its reversal's latest time). */
export function byPurchase(retakes: readonly RetakeOf[]): RetakeOf[] {
  const sums = new Map<string, RetakeOf>();
  for (const each of retakes) {
    const had = sums.get(each.purchaseId);
    sums.set(each.purchaseId, {
      purchaseId: each.purchaseId,
      credits: (had?.credits ?? 0) + each.credits,
      atMs: Math.max(had?.atMs ?? 0, each.atMs),
    });
  }
  return [...sums.values()].sort((a, b) => (a.purchaseId < b.purchaseId ? -1 : 1));
}
