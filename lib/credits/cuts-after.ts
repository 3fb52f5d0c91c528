import { cuts } from './changes';
import { planCuts, refundedIn } from './cut-plan';
import type { DowngradeRecord } from './downgrades';
import { byBurnOrder, type Lot, LotSource, newLot } from './lots';
import { withRefundedMonths } from './refunded-months';
import { type CustomerFacts, type EntryDraft, EntryType, type SubscriptionFacts } from './state';
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
 * can, as it would have in Stripe's order. What the reversal could not find because a purchase
 * had not arrived yet it owes; that purchase's months repay it before the cut
 * (`repaidBeforeCuts`).
 */

/** What the downgrades billed at or after a reversal cut of one month. */
export type CutAfter = {
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
        const month = meta && goneMonth(lotId, meta, subscriptionId, nowMs);
        months.set(lotId, { credits: (had?.credits ?? 0) + credits, ...(month && { month }) });
      }
    }
  }
  return months;
}

/** A month gone from the lots (cut to nothing, or taken by a reversal) as a lot holding nothing. */
function goneMonth(
  lotId: string,
  meta: { grantedAtMs: number; purchasedAtMs?: number; topUp?: boolean; ref: string },
  subscriptionId: string,
  nowMs: number,
): Lot {
  const month = newLot({
    id: lotId,
    source: LotSource.subscription,
    credits: 0,
    grantedAtMs: meta.grantedAtMs,
    ref: meta.ref,
    subscriptionId,
    ...(meta.purchasedAtMs !== undefined && { purchasedAtMs: meta.purchasedAtMs }),
    topUp: meta.topUp === true,
  });
  return month.grantedAtMs > nowMs ? { ...month, upcoming: true } : month;
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
  return Object.values(subscription.downgrades ?? {}).some((record) => record.billedAtMs >= atMs);
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

/**
 * C19 C22 C23: what a reversal owes (its debt) and the credits of an invoice arriving after it
 * that a downgrade Stripe billed at or after the reversal cuts. In Stripe's order the reversal
 * took those credits (the invoice billed before it), or the debt took them as the next credits
 * (the invoice billed after it), before the downgrade cut them: so they repay the debt first,
 * remembered as the reversal's take of each month (`refunded`), and the cut plan then cuts
 * what is left (cut-plan.ts counts the take in the arriving month). They are the arriving
 * months, and the stored months that a downgrade billed before the reversal no longer cuts
 * once the invoice is there to cut instead (the reversal could not take them when it ran).
 * A month is taken as the reversal takes (granted in burn order, then those to come latest
 * first) when its invoice was billed by the reversal's time, else as debts are repaid (by grant
 * time). Debts oldest first. Undefined when nothing repays so.
 */
export function repaidBeforeCuts(
  facts: CustomerFacts,
  subscription: SubscriptionFacts,
  stored: readonly Lot[],
  arriving: readonly Lot[],
  entry: { readonly id: string; readonly atMs: number; readonly ref: string },
  nowMs: number,
): { facts: CustomerFacts; drafts: EntryDraft[] } | undefined {
  const debts = Object.entries(facts.debts ?? {})
    .filter(([, debt]) => debt.credits > 0)
    .sort(([a, x], [b, y]) => x.atMs - y.atMs || (a < b ? -1 : a > b ? 1 : 0));
  const records = Object.values(subscription.downgrades ?? {});
  if (debts.length === 0 || records.length === 0) return undefined;
  // What this call's repayments took of each month, beyond what the facts remember.
  const used = new Map<string, number>();
  let next = facts;
  const drafts: EntryDraft[] = [];
  for (const [purchaseId, debt] of debts) {
    const cutLater = (lot: Lot) =>
      records.some((record) => record.billedAtMs >= debt.atMs && cuts(record, lot));
    // Only beside a later cut: else the grant repays the debt as any grant does.
    if (!arriving.some(cutLater)) continue;
    const held = heldAfterEarlierCuts(stored, arriving, subscription, debt.atMs, nowMs);
    // A month expired by the reversal's time it could not take (C6); the stored ones expired
    // by now keep what they hold (cut-plan.ts moves nothing of them).
    const months = held.filter(
      ({ month, stored }) =>
        !month.forfeit && month.expiresAtMs > debt.atMs && (!stored || month.expiresAtMs > nowMs),
    );
    const free = (lot: Lot) =>
      Math.max(
        0,
        (held.find(({ month }) => month.id === lot.id)?.credits ?? 0) - (used.get(lot.id) ?? 0),
      );
    let due = debt.credits;
    const takes: { lot: Lot; amount: number }[] = [];
    const order = repaymentOrder(
      months.map(({ month }) => month),
      { purchaseId, atMs: debt.atMs },
      nowMs,
    );
    for (const lot of order) {
      const amount = Math.min(due, free(lot));
      if (amount === 0) continue;
      takes.push({ lot, amount });
      used.set(lot.id, (used.get(lot.id) ?? 0) + amount);
      due -= amount;
      if (due === 0) break;
    }
    const repaid = debt.credits - due;
    if (repaid === 0) continue;
    const { [purchaseId]: _repaid, ...others } = next.debts ?? {};
    const debtsAfter = due > 0 ? { ...others, [purchaseId]: { ...debt, credits: due } } : others;
    // A stored month's credits were a cut's: the records cut them no longer, the reversal takes.
    const fromStored = takes.filter(({ lot }) =>
      held.some((each) => each.stored && each.month.id === lot.id),
    );
    const taken = withCutsTaken(next, fromStored, Number.NEGATIVE_INFINITY);
    next = { ...withRefundedMonths(taken, purchaseId, takes, debt.atMs), debts: debtsAfter };
    drafts.push({
      id: `${entry.id}#repays#${purchaseId}`,
      type: EntryType.debt,
      // The months hold less by what they repaid: the entry counts it (C14).
      amount: repaid,
      debt: -repaid,
      atMs: entry.atMs,
      ref: entry.ref,
      reason: `repays ${repaid} credits of debt before a later downgrade cuts the months (C19 C23)`,
      lots: [],
    });
  }
  return drafts.length > 0 ? { facts: next, drafts } : undefined;
}

/** What a month can repay before a later cut: an arriving month, or a stored one's freed cut. */
type Held = { readonly month: Lot; readonly credits: number; readonly stored: boolean };

/**
 * What each arriving month holds, reversals' takes left out, once the subscription's
 * downgrades billed before `atMs` cut in Stripe's order (cut-plan.ts); and what they no longer
 * cut of each stored month (`stored` its lots) that can still move, now that the arriving
 * months are there to cut first.
 */
function heldAfterEarlierCuts(
  stored: readonly Lot[],
  arriving: readonly Lot[],
  subscription: SubscriptionFacts,
  atMs: number,
  nowMs: number,
): Held[] {
  const downgrades = Object.fromEntries(
    Object.entries(subscription.downgrades ?? {}).filter(([, record]) => record.billedAtMs < atMs),
  );
  const plan = planCuts(stored, arriving, { ...subscription, downgrades }, nowMs);
  const subscriptionId = arriving[0]?.subscriptionId;
  const recorded = (lotId: string) =>
    sumOf(Object.values(subscription.downgrades ?? {}).map((record) => record.cuts?.[lotId] ?? 0));
  const planned = (lotId: string) => sumOf(plan.byLot.get(lotId)?.values() ?? []);
  const held: Held[] = [];
  for (const slot of plan.slots) {
    if (slot.kind === 'arriving' && slot.lot) {
      const credits = Math.max(0, (plan.targets.get(slot.id) ?? 0) - refundedIn(slot));
      held.push({ month: slot.lot, credits, stored: false });
      continue;
    }
    if (!slot.flexible || (slot.kind !== 'lot' && slot.kind !== 'zeroed')) continue;
    const credits = recorded(slot.id) - planned(slot.id);
    const meta = subscription.cutLots?.[slot.id] ?? subscription.refunded?.[slot.id];
    const month =
      slot.lot ?? (meta && subscriptionId && goneMonth(slot.id, meta, subscriptionId, nowMs));
    if (credits > 0 && month) held.push({ month, credits, stored: true });
  }
  return held;
}

const sumOf = (values: Iterable<number>) => [...values].reduce((sum, each) => sum + each, 0);

/**
 * As the reversal takes (reversals.ts): of the purchases billed by its time, the reversed
 * purchase's own months first, then the others', each granted in burn order and then those to
 * come latest first; the months of a purchase billed after it as a debt takes new credits.
 */
function repaymentOrder(
  lots: readonly Lot[],
  debt: { readonly purchaseId: string; readonly atMs: number },
  nowMs: number,
): Lot[] {
  const billedBy = lots.filter(
    (lot) => lot.purchasedAtMs === undefined || lot.purchasedAtMs <= debt.atMs,
  );
  const after = lots.filter((lot) => !billedBy.includes(lot));
  const toCome = (lot: Lot) => lot.upcoming === true || lot.grantedAtMs > nowMs;
  const inTakeOrder = (group: readonly Lot[]) => [
    ...group.filter((lot) => !toCome(lot)).sort(byBurnOrder),
    ...group.filter(toCome).sort(byBurnOrder).reverse(),
  ];
  const own = billedBy.filter((lot) => lot.ref === debt.purchaseId);
  const others = billedBy.filter((lot) => lot.ref !== debt.purchaseId);
  const byGrant = [...after].sort((a, b) => a.grantedAtMs - b.grantedAtMs || byBurnOrder(a, b));
  return [...inTakeOrder(own), ...inTakeOrder(others), ...byGrant];
}
