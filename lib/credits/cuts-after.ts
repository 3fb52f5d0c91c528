import type { DowngradeRecord } from './downgrades';
import { type Lot, LotSource, newLot } from './lots';
import type { CustomerFacts, SubscriptionFacts } from './state';
import { lotExpiresAtMs } from './time';

/**
 * C19 C22 C16: a reversal delivered after a downgrade that Stripe made after it. In Stripe's
 * order the reversal came first and took the months as they were; the downgrade then cut what
 * it left, latest first. Delivered the other way round, the reversal finds those months cut:
 * here what the later downgrades cut of a month counts as still there for the reversal
 * (`cutAfter`), and what it takes of it becomes the reversal's instead of the downgrade's
 * (`withCutsTaken`): the month loses nothing more, the downgrade's record cuts less of it and
 * the month remembers the reversal's take (refunded-months.ts). The subscription's cuts are
 * then planned again (reconcileCuts in downgrades.ts), and the downgrade cuts elsewhere what it
 * can, as it would have in Stripe's order.
 */

/** What the downgrades billed at or after a reversal cut of one month. */
export type CutAfter = {
  readonly subscriptionId: string;
  readonly credits: number;
  /** The month as a lot holding nothing: a month cut to nothing is no stored lot. */
  readonly month?: Lot;
};

/**
 * The months a reversal at `atMs` may take back from the later downgrades' cuts, by lot id:
 * those of a downgrade that Stripe billed at or after it (a reversal of the same instant counts
 * as first, as the cut plan has it) and that can still move, not expired at `nowMs`.
 */
export function cutAfter(
  facts: CustomerFacts,
  atMs: number,
  nowMs: number,
): ReadonlyMap<string, CutAfter> {
  const months = new Map<string, CutAfter>();
  for (const [subscriptionId, subscription] of Object.entries(facts.subscriptions)) {
    for (const [, record] of laterDowngrades(subscription, atMs)) {
      for (const [lotId, credits] of Object.entries(record.cuts ?? {})) {
        const meta = subscription.cutLots?.[lotId] ?? subscription.refunded?.[lotId];
        if (meta && lotExpiresAtMs(meta.grantedAtMs) <= nowMs) continue;
        const had = months.get(lotId);
        const month = meta
          ? newLot({
              id: lotId,
              source: LotSource.subscription,
              credits: 0,
              grantedAtMs: meta.grantedAtMs,
              ref: meta.ref,
              subscriptionId,
              ...(meta.purchasedAtMs !== undefined && { purchasedAtMs: meta.purchasedAtMs }),
              topUp: meta.topUp === true,
            })
          : undefined;
        months.set(lotId, {
          subscriptionId,
          credits: (had?.credits ?? 0) + credits,
          ...(month && { month: month.grantedAtMs > nowMs ? { ...month, upcoming: true } : month }),
        });
      }
    }
  }
  return months;
}

/** The subscription's downgrades billed at or after `atMs`, the latest billed first. */
function laterDowngrades(
  subscription: SubscriptionFacts,
  atMs: number,
): [string, DowngradeRecord][] {
  return Object.entries(subscription.downgrades ?? {})
    .filter(([, record]) => record.billedAtMs >= atMs)
    .sort(([, a], [, b]) => b.billedAtMs - a.billedAtMs || b.atMs - a.atMs);
}

/** Whether a downgrade billed at or after `atMs` is recorded: its cuts then need planning. */
export function hasLaterDowngrade(subscription: SubscriptionFacts, atMs: number): boolean {
  return laterDowngrades(subscription, atMs).length > 0;
}

/**
 * The facts once a reversal at `atMs` took `takes` of the later downgrades' cuts: each month's
 * cut is the latest billed downgrade's first to give up.
 */
export function withCutsTaken(
  facts: CustomerFacts,
  takes: readonly { readonly lot: Lot; readonly amount: number }[],
  atMs: number,
): CustomerFacts {
  let subscriptions = facts.subscriptions;
  for (const { lot, amount } of takes) {
    const subscriptionId = lot.subscriptionId;
    const subscription = subscriptionId === undefined ? undefined : subscriptions[subscriptionId];
    if (!subscription || subscriptionId === undefined || amount <= 0) continue;
    let left = amount;
    const downgrades = { ...subscription.downgrades };
    for (const [id, record] of laterDowngrades(subscription, atMs)) {
      const cut = record.cuts?.[lot.id] ?? 0;
      const less = Math.min(cut, left);
      if (less === 0) continue;
      left -= less;
      const { [lot.id]: _cut, ...others } = record.cuts ?? {};
      const cuts = cut - less > 0 ? { ...others, [lot.id]: cut - less } : others;
      downgrades[id] = { ...record, cuts };
    }
    subscriptions = { ...subscriptions, [subscriptionId]: { ...subscription, downgrades } };
  }
  return subscriptions === facts.subscriptions ? facts : { ...facts, subscriptions };
}
