import { isTopUp } from './changes';
import { planCuts, refundedIn, type Slot } from './cut-plan';
import { repayFromGivenBack } from './debt';
import { type Lot, LotSource, newLot } from './lots';
import {
  byPurchase,
  type RefundedMonth,
  type RetakeOf,
  refundedStillMatters,
  shortfallOf,
  withMonths,
} from './refunded-months';
import {
  type CustomerFacts,
  type EntryDraft,
  EntryType,
  type LotCancel,
  type SubscriptionFacts,
} from './state';
import { lotExpiresAtMs } from './time';

/**
 * C19 whatever the delivery order (C16). In Stripe's order a downgrade at time `c` (billed at
 * once, or on the next renewal with the period's other changes) cancels, latest first, credits
 * of the subscription's lots that Stripe billed before it (`purchasedAtMs`, the creation of
 * their invoice, before the downgrade's; see the tie rule below) and granted after `c` within the
 * change's period; later, the subscription's end (C7) cancels what is left after it.
 *
 * The cuts are a pure function of the facts (lib/credits/cut-plan.ts), as forfeits are: the
 * subscription keeps a record of each downgrade (`downgrades`: its change, billing time, period
 * end, credits, and what it cut from each lot), and every delivery of one of its purchases or
 * downgrades plans the cuts again in Stripe's order and moves what differs: a month still to
 * come is cut more, or given back a cut that Stripe's order puts on a purchase or a downgrade
 * delivered later (`cutLots` remembers a month cut to nothing, so that it can come back). The
 * end's facts (`endCuts`) keep what the end cancelled after it, before any cut, for the
 * downgrades delivered after it: in Stripe's order those cut it first, being the latest.
 * A lot stored before lots recorded when they were billed (`purchasedAtMs` absent) counts as
 * billed before every downgrade; a record stored before records kept their cuts (`cuts`
 * absent) holds what that downgrade still had to cancel. The time Stripe billed a purchase,
 * not the start of its period, orders them: a renewal that bills several changes' prorations
 * cuts the top-up of a change billed at once before it, though its prorations' period starts
 * with an earlier change.
 *
 * Limits of late delivery: a lot expired or forfeited (C6, C7) keeps the cuts recorded on it,
 * and a lot partly spent when a cut reaches it loses only what is left (C1: a balance is never
 * negative), the rest going to the months before it: then the months cut still depend on the
 * order. A cut that moves off a month already granted gives it back in the ledger (a forfeit
 * entry of the credits, positive), so the ledger of a late delivery shows the move though the
 * lots come out as in Stripe's order. A refund (C22) Stripe made after a downgrade comes
 * out as in Stripe's order: the subscription remembers what reversals took from its months
 * (`refunded`, refunded-months.ts); the plan counts it in a month's base, so a downgrade
 * delivered after the refund cuts it and the refund takes it again elsewhere (`retakes`), and
 * credits given back to a month repay debts first (`debts`, C23), as the refund would have
 * taken the month. A refund Stripe made before the downgrade but delivered after it takes
 * what the downgrade cut as still there (cuts-after.ts), and the reversal plans the cuts
 * again; what such a refund owes is repaid by a purchase arriving later before the cut
 * (repaidBeforeCuts). Moving cuts off stored lots and creating the arriving invoice's months
 * are separate transactions (stored lots first), so in between the customer holds less than
 * after.
 *
 * Tie rule for two invoices of one subscription billed at the same instant (`cuts`,
 * changes.ts): a plan's months of that instant count as billed before the downgrade (Stripe
 * changes only a period that has begun), a top-up does not. Had a downgrade cut a same-instant
 * change's top-up, it would cut the plan's months alone when delivered before the top-up and
 * both when delivered after; leaving the top-up alone, it meets one purchase in every order. An
 * end's cut of a top-up keeps the mark (`topUp`) for the downgrades delivered after the end.
 */

/** C19: one downgrade of the subscription, as Stripe billed it, and what it cut. */
export type DowngradeRecord = {
  /** The change: it cuts lots granted after it. */
  readonly atMs: number;
  /** When Stripe billed it: it cuts lots billed by then. */
  readonly billedAtMs: number;
  /** The end of the period the change falls in: lots granted from then on are no part of it. */
  readonly beforeMs: number;
  readonly credits: number;
  /**
   * What it cut from each lot, by lot id. Absent on a record stored before records kept it:
   * `credits` is then what the downgrade still had to cancel.
   */
  readonly cuts?: Readonly<Record<string, number>>;
};

/** C19: a month cut to nothing (so gone), kept so that a cut that moves can give it back. */
export type CutLot = {
  readonly grantedAtMs: number;
  readonly purchasedAtMs?: number;
  readonly topUp?: true;
  readonly ref: string;
};

/** C7/C19: credits the subscription's end cancelled after it, before any cut, for downgrades. */
export type EndCut = {
  readonly grantedAtMs: number;
  readonly purchasedAtMs?: number;
  /** Cut from an invoice's top-up: the tie rule of `cuts` (changes.ts) needs to know. */
  readonly topUp?: true;
  readonly credits: number;
};

/** The subscription facts this file keeps (the rest of SubscriptionFacts is others'). */
export type DowngradeFacts = Pick<
  SubscriptionFacts,
  'downgrades' | 'endCuts' | 'cutLots' | 'refunded'
>;

/**
 * A downgrade whose period ended a lot lifetime (C4) ago can only cut expired lots, and an
 * end's cut of a lot that would have expired can only excuse cuts of expired lots: both are
 * dropped, which keeps the facts small.
 */
function stillMatters(grantedBeforeMs: number, nowMs: number): boolean {
  return lotExpiresAtMs(grantedBeforeMs) > nowMs;
}

/**
 * How many stored lots one transaction of a downgrade's plan changes (each is two items,
 * beside the account, the fact and what the grant writes). A plan that changes more, across an
 * annual plan of many prices, writes a batch in a transaction of its own, its records saying
 * what that batch did, and the command's next run plans again from there.
 */
export const MAX_LOTS_PER_DOWNGRADE = 25;

/**
 * Transaction items a reversal's taking again (C22, takeAgain in reversals.ts) may write beside
 * a downgrade's plan: its lots and its entries; what more it would need is owed (C23).
 */
export const MAX_ITEMS_PER_RETAKE = 20;

/** C19: the subscription's facts with an invoice's downgrade recorded (once; it keeps its cuts). */
export function withDowngrade(
  facts: SubscriptionFacts,
  invoice: {
    readonly invoiceId: string;
    readonly invoiceCreatedMs: number;
    readonly proration?: {
      readonly credits: number;
      readonly periodStartMs: number;
      readonly periodEndMs: number;
    };
  },
): SubscriptionFacts {
  const proration = invoice.proration;
  if (!proration || proration.credits >= 0 || facts.downgrades?.[invoice.invoiceId]) return facts;
  const record: DowngradeRecord = {
    atMs: proration.periodStartMs,
    beforeMs: proration.periodEndMs,
    billedAtMs: invoice.invoiceCreatedMs,
    credits: -proration.credits,
    cuts: {},
  };
  return { ...facts, downgrades: { ...facts.downgrades, [invoice.invoiceId]: record } };
}

/** What a delivery does to the subscription's cuts (reconcileCuts). */
export type CutChange = {
  /** Stored lots cut (+) or given back (-), at most `maxLots`. */
  readonly cancelled: readonly LotCancel[];
  /** Months cut to nothing that come back. */
  readonly created: readonly Lot[];
  /** C13: a granted lot cut leaves the ledger as the end's forfeit does. */
  readonly drafts: readonly EntryDraft[];
  /** More stored lots differ than one transaction changes. */
  readonly more: boolean;
  /** The arriving invoice's lots as the plan cuts them; those left with nothing are absent. */
  readonly arrivals: readonly Lot[];
  /** This file's facts once the written lots and `granted` of the arrivals are stored. */
  readonly part: (granted: readonly Lot[]) => DowngradeFacts;
  /** What each downgrade cut from lots, by invoice id. */
  readonly cutsOf: (invoiceId: string) => number;
  /** C23: the customer's debts once the credits given back repaid them; absent: unchanged. */
  readonly debts?: NonNullable<CustomerFacts['debts']>;
  /** C22: what reversals take again elsewhere, the cut having taken it from their months. */
  readonly retakes: readonly RetakeOf[];
  /** The retakes' entries are named by it: the first month they follow, once in its life. */
  readonly retakeId: string;
};

/**
 * C19/C16: the subscription's lots made to agree with its downgrades in Stripe's order: the
 * plan (cut-plan.ts) for `lots` (the customer's), `arriving` (an invoice's planned lots not
 * stored yet) and `facts` (the subscription's, every downgrade recorded).
 */
export function reconcileCuts(
  lots: readonly Lot[],
  request: {
    subscriptionId: string;
    facts: SubscriptionFacts;
    arriving: readonly Lot[];
    entryId: string;
    nowMs: number;
    maxLots?: number;
    /** C23: the customer's debts, which credits given back repay first. */
    debts?: CustomerFacts['debts'];
  },
): CutChange {
  const nowMs = request.nowMs;
  const facts = kept(request.facts, nowMs);
  const own = lots.filter((lot) => lot.subscriptionId === request.subscriptionId);
  const plan = planCuts(own, request.arriving, facts, nowMs);
  // C22: in Stripe's order the cut comes before a refund delivered ahead of it: a month keeps
  // what the cut leaves less what reversals took (`target`), and what the cut takes of their
  // part they take again elsewhere (`shortfall`).
  const planned = (slot: Slot) => plan.targets.get(slot.id) ?? 0;
  const target = (slot: Slot) => Math.max(0, planned(slot) - refundedIn(slot));
  const shortfall = (slot: Slot) => Math.max(0, refundedIn(slot) - planned(slot));
  const differing = plan.slots
    .filter(
      (slot) =>
        (slot.kind === 'lot' && slot.lot && target(slot) !== slot.lot.remaining) ||
        (slot.kind === 'zeroed' && target(slot) > 0) ||
        shortfall(slot) > 0,
    )
    .sort((a, b) => b.grantedAtMs - a.grantedAtMs || (a.id < b.id ? 1 : -1));
  const batch = differing.slice(0, request.maxLots ?? Number.POSITIVE_INFINITY);
  const written = new Set(batch.map((slot) => slot.id));
  const stays = new Set(differing.filter((slot) => !written.has(slot.id)).map((slot) => slot.id));
  const changed = batch.flatMap((slot): LotCancel[] =>
    slot.kind === 'lot' && slot.lot && slot.lot.remaining !== target(slot)
      ? [{ lot: slot.lot, amount: slot.lot.remaining - target(slot) }]
      : [],
  );
  const comingBack = batch
    .filter((slot) => slot.kind === 'zeroed' && target(slot) > 0)
    .map((slot) => {
      const month = monthOf(slot, request.subscriptionId, facts, target(slot));
      return month.grantedAtMs > nowMs ? { ...month, upcoming: true as const } : month;
    });
  const repayment = repayFromGivenBack(
    request.debts,
    [
      ...changed
        .filter((each) => each.amount < 0)
        .map((each) => ({ lot: each.lot, credits: -each.amount })),
      ...comingBack.map((lot) => ({ lot, credits: lot.granted })),
    ],
    { id: `${request.entryId}#back`, atMs: nowMs, ref: request.entryId },
  );
  const repaid = (lot: Lot) => repayment?.repaid.get(lot.id) ?? 0;
  // What a give-back repaid (C23) stays out of the month: the month keeps only the rest.
  const cancelled = changed
    .map((each) => ({ ...each, amount: each.amount + repaid(each.lot) }))
    .filter((each) => each.amount !== 0);
  const created = comingBack
    .map((lot) => ({
      ...lot,
      granted: lot.granted - repaid(lot),
      remaining: lot.remaining - repaid(lot),
    }))
    .filter((lot) => lot.granted > 0);
  const cut: EntryDraft[] = cancelled
    .filter((each) => !each.lot.upcoming && each.amount > 0)
    .map((each) => ({
      id: `${request.entryId}#${each.lot.id}`,
      type: EntryType.forfeit,
      amount: -each.amount,
      atMs: plan.cutBy.get(each.lot.id)?.atMs ?? nowMs,
      ref: request.entryId,
      reason: 'a downgrade cancels credits not yet granted (C19)',
      lots: [{ lotId: each.lot.id, amount: each.amount }],
    }));
  // A granted month given back a cut that Stripe's order puts elsewhere enters the ledger again.
  const givenBack: EntryDraft[] = [
    ...cancelled
      .filter((each) => !each.lot.upcoming && each.amount < 0)
      .map((each) => ({ lotId: each.lot.id, amount: -each.amount })),
    ...created
      .filter((lot) => !lot.upcoming)
      .map((lot) => ({ lotId: lot.id, amount: lot.granted })),
  ].map((back) => ({
    id: `${request.entryId}#back#${back.lotId}`,
    type: EntryType.forfeit,
    amount: back.amount,
    atMs: nowMs,
    ref: request.entryId,
    reason: "a downgrade's cut given back: in Stripe's order it cuts another purchase (C19)",
    lots: [back],
  }));
  const drafts = [...cut, ...givenBack, ...(repayment?.drafts ?? [])];
  // C22: what the cut took of the reversals' part of a month, by month: they take it again.
  const retaken = batch.flatMap((slot) => {
    const month = facts.refunded?.[slot.id];
    const credits = shortfall(slot);
    return month && credits > 0 ? [[slot.id, shortfallOf(month, credits)] as const] : [];
  });
  const arrivals = plan.slots
    .filter((slot) => slot.kind === 'arriving' && slot.lot && target(slot) > 0)
    .map((slot) => ({ ...(slot.lot as Lot), granted: target(slot), remaining: target(slot) }));
  const part = (granted: readonly Lot[]): DowngradeFacts => {
    const grantedIds = new Set(granted.map((lot) => lot.id));
    const arrivingIds = new Set(request.arriving.map((lot) => lot.id));
    // A lot whose change waits for another transaction keeps the cuts recorded on it.
    const asPlanned = (lotId: string) =>
      !stays.has(lotId) && (!arrivingIds.has(lotId) || grantedIds.has(lotId));
    const downgrades = Object.fromEntries(
      plan.records.map(([id, record]) => {
        const planned = [...plan.byLot]
          .filter(([lotId]) => asPlanned(lotId))
          .map(([lotId, byDowngrade]) => [lotId, byDowngrade.get(id) ?? 0] as const);
        const before = Object.entries(record.cuts ?? {}).filter(([lotId]) => !asPlanned(lotId));
        const cuts = Object.fromEntries(
          [...planned, ...before].filter(([, credits]) => credits > 0),
        );
        return [id, { ...record, cuts }];
      }),
    );
    const refunded = withMonths(
      facts.refunded ?? {},
      retaken.filter(([lotId]) => asPlanned(lotId)).map(([lotId, { month }]) => [lotId, month]),
    );
    return {
      downgrades,
      ...(facts.endCuts && { endCuts: facts.endCuts }),
      cutLots: cutLotsAfter(plan.slots, downgrades, target, asPlanned, facts),
      refunded,
    };
  };
  return {
    cancelled,
    created,
    drafts,
    more: differing.length > batch.length,
    arrivals,
    part,
    cutsOf: (invoiceId) =>
      [...plan.byLot.values()].reduce(
        (sum, byDowngrade) => sum + (byDowngrade.get(invoiceId) ?? 0),
        0,
      ),
    ...(repayment && { debts: repayment.debts }),
    retakes: byPurchase(retaken.flatMap(([, each]) => each.retakes)),
    retakeId: `${request.entryId}#again#${retaken[0]?.[0] ?? ''}`,
  };
}

/** The facts without what can no longer matter at `nowMs` (stillMatters). */
function kept(facts: SubscriptionFacts, nowMs: number): SubscriptionFacts {
  const downgrades = Object.fromEntries(
    Object.entries(facts.downgrades ?? {}).filter(([, each]) => stillMatters(each.beforeMs, nowMs)),
  );
  const endCuts = (facts.endCuts ?? []).filter((cut) => stillMatters(cut.grantedAtMs, nowMs));
  const refunded = refundedStillMatters(facts.refunded, nowMs);
  return withDowngradeFacts(facts, { downgrades, endCuts, refunded });
}

/**
 * The months cut to nothing that the records still cut: those the plan leaves with nothing
 * (or whose change waits), so that a cut that moves away can give them back.
 */
function cutLotsAfter(
  slots: readonly Slot[],
  downgrades: Readonly<Record<string, DowngradeRecord>>,
  target: (slot: Slot) => number,
  asPlanned: (lotId: string) => boolean,
  facts: SubscriptionFacts,
): Record<string, CutLot> {
  const cutIds = new Set(Object.values(downgrades).flatMap((each) => Object.keys(each.cuts ?? {})));
  const entries = slots.flatMap((slot): [string, CutLot][] => {
    if (!cutIds.has(slot.id) || slot.kind === 'ended') return [];
    const before = facts.cutLots?.[slot.id] ?? monthMeta(facts.refunded?.[slot.id]);
    const gone = asPlanned(slot.id)
      ? target(slot) === 0
      : slot.kind === 'zeroed' || (slot.lot?.remaining ?? 0) === 0;
    if (!gone) return [];
    if (before) return [[slot.id, before]];
    if (!slot.lot) return [];
    return [
      [
        slot.id,
        {
          grantedAtMs: slot.grantedAtMs,
          ...(slot.purchasedAtMs !== undefined && { purchasedAtMs: slot.purchasedAtMs }),
          ...(slot.topUp && { topUp: true as const }),
          ref: slot.lot.ref,
        },
      ],
    ];
  });
  return Object.fromEntries(entries);
}

/** A month reversals took, as a month cut to nothing remembers it. */
function monthMeta(month: RefundedMonth | undefined): CutLot | undefined {
  if (!month) return undefined;
  const { by: _by, ...meta } = month;
  return meta;
}

/** A month cut to nothing, as it comes back with `credits`. */
function monthOf(
  slot: Slot,
  subscriptionId: string,
  facts: SubscriptionFacts,
  credits: number,
): Lot {
  const meta = facts.cutLots?.[slot.id] ?? facts.refunded?.[slot.id];
  return newLot({
    id: slot.id,
    source: LotSource.subscription,
    credits,
    grantedAtMs: slot.grantedAtMs,
    ref: meta?.ref ?? slot.id,
    subscriptionId,
    ...(slot.purchasedAtMs !== undefined && { purchasedAtMs: slot.purchasedAtMs }),
    topUp: slot.topUp,
  });
}

/**
 * C7/C19: the facts after the end cancelled `cancelled` (its lots after it) at `endedAtMs`:
 * each lot's credits before any cut, and the months cut to nothing after the end, become the
 * end's cuts, no longer any downgrade's: the end takes them anyway, and the downgrades
 * delivered after it (or planned again) find them there first.
 */
export function endCutsAfter(
  facts: SubscriptionFacts,
  cancelled: readonly Lot[],
  endedAtMs: number,
  nowMs: number,
): DowngradeFacts {
  const records = facts.downgrades ?? {};
  const cutOf = (id: string) =>
    Object.values(records).reduce((sum, each) => sum + (each.cuts?.[id] ?? 0), 0);
  const zeroed = Object.entries(facts.cutLots ?? {}).filter(
    ([, meta]) => meta.grantedAtMs > endedAtMs,
  );
  const moved = new Set([...cancelled.map((lot) => lot.id), ...zeroed.map(([id]) => id)]);
  const added: EndCut[] = [
    ...cancelled.map((lot) => ({
      grantedAtMs: lot.grantedAtMs,
      ...(lot.purchasedAtMs !== undefined && { purchasedAtMs: lot.purchasedAtMs }),
      ...(isTopUp(lot) && { topUp: true as const }),
      credits: lot.remaining + cutOf(lot.id),
    })),
    ...zeroed.map(([id, meta]) => ({
      grantedAtMs: meta.grantedAtMs,
      ...(meta.purchasedAtMs !== undefined && { purchasedAtMs: meta.purchasedAtMs }),
      ...(meta.topUp && { topUp: true as const }),
      credits: cutOf(id),
    })),
  ].filter((cut) => cut.credits > 0);
  const downgrades = Object.fromEntries(
    Object.entries(records).map(([id, each]) => {
      if (!each.cuts) return [id, each];
      const cuts = Object.fromEntries(
        Object.entries(each.cuts).filter(([lotId]) => !moved.has(lotId)),
      );
      return [id, { ...each, cuts }];
    }),
  );
  const cutLots = Object.fromEntries(
    Object.entries(facts.cutLots ?? {}).filter(([id]) => !moved.has(id)),
  );
  const endCuts = [...(facts.endCuts ?? []), ...added].filter((cut) =>
    stillMatters(cut.grantedAtMs, nowMs),
  );
  return { downgrades, endCuts, cutLots };
}

/** C7/C8: an arriving invoice's lots after the end, which it never grants, as the end's cuts. */
export function arrivalsAfterEnd(
  facts: SubscriptionFacts,
  planned: readonly Lot[],
  nowMs: number,
): DowngradeFacts {
  const endedAtMs = facts.endedAtMs;
  if (endedAtMs === undefined) return {};
  const after = planned.filter((lot) => lot.grantedAtMs > endedAtMs);
  if (after.length === 0) return {};
  return {
    endCuts: endCutsAfter({ ...facts, downgrades: {}, cutLots: {} }, after, endedAtMs, nowMs)
      .endCuts,
  };
}

/** The subscription's facts with this file's part replaced; empty parts are left out. */
export function withDowngradeFacts(
  facts: SubscriptionFacts,
  part: DowngradeFacts,
): SubscriptionFacts {
  const {
    downgrades: _downgrades,
    endCuts: _endCuts,
    cutLots: _cutLots,
    refunded: _refunded,
    ...rest
  } = facts;
  const downgrades = part.downgrades ?? facts.downgrades;
  const endCuts = part.endCuts ?? facts.endCuts;
  const cutLots = part.cutLots ?? facts.cutLots;
  const refunded = part.refunded ?? facts.refunded;
  return {
    ...rest,
    ...(downgrades && Object.keys(downgrades).length > 0 && { downgrades }),
    ...(endCuts && endCuts.length > 0 && { endCuts }),
    ...(cutLots && Object.keys(cutLots).length > 0 && { cutLots }),
    ...(refunded && Object.keys(refunded).length > 0 && { refunded }),
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
