import { repayFromNewLots } from './debt';
import { effectiveLots, forfeitsByEnd, reconcileForfeits } from './forfeits';
import {
  byBurnOrder,
  dueLots,
  expiredLots,
  type Lot,
  type LotSource,
  newLot,
  planBurn,
  spendableBalance,
} from './lots';
import {
  andThen,
  type CustomerFacts,
  type CustomerState,
  changeOf,
  type EntryBase,
  type EntryDraft,
  EntryType,
  type InsufficientCredits,
  LotExistsError,
  mergeChanges,
  type StateChange,
  stateAfter,
} from './state';
import { addCalendarMonthsMs } from './time';

/**
 * The changes the rules make to a customer's state, as pure functions of that state and the
 * request: grants (C3, C20, C21), spends (C5, C15), expiry (C6), releases of upcoming lots
 * (C20) and cancellations of never-granted credit (C7, C19).
 */

/**
 * Adds new lots with one entry (subscription grant, bonus, adjustment, pack). Lots granted in
 * the future (C20) are created upcoming, out of the entry, which counts only what is granted
 * by `nowMs`. C7/C8/C16: a lot granted at or before an end already recorded that left no
 * subscription active would have been forfeited had Stripe delivered the grant first, so it
 * arrives forfeited: the outcome does not depend on delivery order.
 */
export function grantLots(
  state: CustomerState,
  entry: EntryBase,
  lots: readonly Lot[],
  extra: { facts?: CustomerFacts; quiet?: boolean; nowMs?: number } = {},
): StateChange {
  const known = new Set(state.lots.map((lot) => lot.id));
  for (const lot of lots) {
    if (known.has(lot.id)) throw new LotExistsError(state.customerId, lot.id);
  }
  const nowMs = extra.nowMs ?? Number.POSITIVE_INFINITY;
  const granted = lots.filter((lot) => lot.grantedAtMs <= nowMs);
  const upcoming = lots.filter((lot) => lot.grantedAtMs > nowMs).map(asUpcoming);
  const grant: EntryDraft = {
    ...entry,
    amount: granted.reduce((sum, lot) => sum + lot.granted, 0),
    lots: granted.map((lot) => ({ lotId: lot.id, amount: lot.granted })),
  };
  const facts = extra.facts ?? state.facts;
  const forfeits = forfeitsByEnd(facts, granted, entry.id);
  const taken = new Map(forfeits.flatMap(({ by, lots: each }) => each.map((lot) => [lot.id, by])));
  const created = granted.map((lot) => {
    const by = taken.get(lot.id);
    return by === undefined ? lot : { ...lot, remaining: 0, forfeit: { by, credits: lot.granted } };
  });
  // C23: a quiet write cannot see the account's debts; the referral rules write loudly then.
  const repayment = extra.quiet
    ? undefined
    : repayFromNewLots(facts, [...created, ...upcoming], entry);
  const drafts = granted.length > 0 ? [grant, ...forfeits.map((each) => each.draft)] : [];
  return changeOf(state, {
    created: repayment ? [...repayment.lots] : [...created, ...upcoming],
    drafts: [...drafts, ...(repayment?.drafts ?? [])],
    ...((repayment || extra.facts) && { facts: repayment?.facts ?? facts }),
    ...(extra.quiet && { quiet: true }),
  });
}

function asUpcoming(lot: Lot): Lot {
  return { ...lot, upcoming: true };
}

/** How many lots one grant writes per transaction (an invoice may have hundreds of lines). */
export const MAX_LOTS_PER_GRANT = 30;

/**
 * C20: a line whose period spans `months` calendar months releases its credits as that many
 * monthly lots of equal size (any remainder in the first), lot k granted `k` months after the
 * period start (clamped to the month's end, C4) and expiring 3 months after its own grant.
 */
export function monthlyLots(fields: {
  idPrefix: string;
  source: LotSource;
  totalCredits: number;
  months: number;
  startMs: number;
  ref: string;
  subscriptionId?: string;
  /** C19: when Stripe billed the purchase (its invoice's creation); see Lot. */
  purchasedAtMs?: number;
  /** C19: the months of an invoice's top-up (see Lot). */
  topUp?: boolean;
}): Lot[] {
  const months = Math.max(1, fields.months);
  const each = Math.floor(fields.totalCredits / months);
  const first = fields.totalCredits - each * (months - 1);
  return Array.from({ length: months }, (_, k) =>
    newLot({
      id: k === 0 ? fields.idPrefix : `${fields.idPrefix}#${k}`,
      source: fields.source,
      credits: k === 0 ? first : each,
      grantedAtMs: addCalendarMonthsMs(fields.startMs, k),
      ref: fields.ref,
      ...(fields.subscriptionId !== undefined && { subscriptionId: fields.subscriptionId }),
      ...(fields.purchasedAtMs !== undefined && { purchasedAtMs: fields.purchasedAtMs }),
      ...(fields.topUp && { topUp: true }),
    }),
  ).filter((lot) => lot.granted > 0);
}

/**
 * C20: records the upcoming lots granted by `nowMs` in the ledger, each as a grant at its own
 * grant time. They were spendable since then already; this only makes them durable.
 */
export function releaseDue(state: CustomerState, nowMs: number): StateChange | undefined {
  const due = dueLots(state.lots, nowMs);
  if (due.length === 0) return undefined;
  return changeOf(state, { released: due, drafts: due.map(releaseEntry) });
}

/**
 * How many lots come due one release of its own records: each is three items of a
 * transaction (the lot, its due marker, its entry), and a transaction holds 100.
 */
export const MAX_LOTS_PER_RELEASE = 30;

/**
 * C20: the releases of `lots` (upcoming lots come due, as in `state`) on their own, oldest
 * grant first, at most MAX_LOTS_PER_RELEASE a change, each decided on the state the ones
 * before leave. A write that would record more months than fit beside it writes these first
 * (lib/store/releases.ts).
 */
export function releasesInBatches(state: CustomerState, lots: readonly Lot[]): StateChange[] {
  const oldestFirst = [...lots].sort((a, b) => a.grantedAtMs - b.grantedAtMs || byBurnOrder(a, b));
  const changes: StateChange[] = [];
  let current = state;
  for (let start = 0; start < oldestFirst.length; start += MAX_LOTS_PER_RELEASE) {
    const batch = oldestFirst.slice(start, start + MAX_LOTS_PER_RELEASE);
    const change = changeOf(current, { released: batch, drafts: batch.map(releaseEntry) });
    changes.push(change);
    current = stateAfter(current, change);
  }
  return changes;
}

function releaseEntry(lot: Lot): EntryDraft {
  return {
    id: `release#${lot.id}`,
    type: EntryType.grant,
    amount: lot.remaining,
    atMs: lot.grantedAtMs,
    ref: lot.ref,
    reason: 'a month of a longer period (C20)',
    lots: [{ lotId: lot.id, amount: lot.remaining }],
  };
}

/**
 * What any decision that writes the customer's account settles first, as of `nowMs`: upcoming
 * lots now due enter the ledger (C20), then forfeits the facts imply but nobody wrote, or that
 * are no longer right, are written (lib/credits/forfeits.ts).
 */
export function settleByTime(
  state: CustomerState,
  nowMs: number,
): { state: CustomerState; change?: StateChange } {
  return andThen(
    state,
    releaseDue(state, nowMs),
    (released) => reconcileForfeits(released, nowMs).change,
  );
}

/**
 * C15: takes `amount` from spendable lots in burn order, or refuses and changes nothing. Lots
 * an end takes are not spendable even before their forfeit is written (effectiveLots); an
 * upcoming lot that has come due is spendable, and is recorded in the ledger by the spend.
 */
export function spend(
  state: CustomerState,
  entry: EntryBase & { readonly amount: number },
): StateChange | InsufficientCredits {
  const lots = effectiveLots(state, entry.atMs);
  const takes = planBurn(lots, entry.amount, entry.atMs);
  if (!takes) {
    return { error: 'insufficient_credits', balance: spendableBalance(lots, entry.atMs) };
  }
  const { amount, ...base } = entry;
  const touchesDue = takes.some((take) => take.lot.upcoming);
  const settled = andThen(
    state,
    touchesDue ? releaseDue(state, entry.atMs) : undefined,
    (released) => {
      const current = new Map(released.lots.map((lot) => [lot.id, lot]));
      return changeOf(released, {
        taken: takes.map((take) => ({ ...take, lot: current.get(take.lot.id) ?? take.lot })),
        drafts: [
          {
            ...base,
            amount: -amount,
            lots: takes.map((take) => ({ lotId: take.lot.id, amount: take.amount })),
          },
        ],
      });
    },
  );
  return settled.change as StateChange;
}

/**
 * How many transaction items one expiry change takes at most, leaving the rest of DynamoDB's
 * 100 to the account and to what the run settles first: a lot reclaimed is its item and its
 * entry (40 lots a change); an upcoming lot nobody recorded, also its due marker and release.
 */
export const MAX_ITEMS_PER_EXPIRY = 80;

function expiryItems(lot: Lot): number {
  const entries = lot.remaining > 0 ? 1 : 0;
  return lot.upcoming ? 2 * (1 + entries) : 1 + entries;
}

/**
 * The longest prefix of `all` whose transaction items (`itemsOf` each) stay within `maxItems`,
 * one element at least: how a change too large for one transaction is cut into several.
 */
export function firstFitting<T>(
  all: readonly T[],
  itemsOf: (each: T) => number,
  maxItems: number,
): T[] {
  const batch: T[] = [];
  let items = 0;
  for (const each of all) {
    items += itemsOf(each);
    if (batch.length > 0 && items > maxItems) break;
    batch.push(each);
  }
  return batch;
}

/**
 * C6: reclaims the lots expired at `nowMs`, soonest first, one entry per lot with credit left
 * (dated at its expiry); as many as fit in `maxItems` transaction items, so that the change
 * fits in one transaction (the expiry job runs again while expired lots are left).
 */
export function expire(
  state: CustomerState,
  nowMs: number,
  maxItems = MAX_ITEMS_PER_EXPIRY,
): StateChange | null {
  const reclaimed = firstFitting(expiredLots(state.lots, nowMs), expiryItems, maxItems);
  if (reclaimed.length === 0) return null;
  const drafts: EntryDraft[] = reclaimed
    .filter((lot) => lot.remaining > 0)
    .flatMap((lot) => [
      // An upcoming lot nobody recorded before it expired enters the ledger first (C20).
      ...(lot.upcoming ? [releaseEntry(lot)] : []),
      {
        id: `expiry#${lot.id}`,
        type: EntryType.expiry,
        amount: -lot.remaining,
        atMs: lot.expiresAtMs,
        ref: lot.id,
        lots: [{ lotId: lot.id, amount: lot.remaining }],
      },
    ]);
  return changeOf(state, { reclaimed, drafts });
}

/**
 * C6 after what time settled (`settleByTime`): the expiry of the state after `pending`, in one
 * change with it. A lot that `pending` forfeits (its end came while it was alive, C7) and that
 * has expired by now too is reclaimed as read, its forfeit entry kept: DynamoDB lets a
 * transaction write an item once, and the ledger reads the same as a forfeit written at the
 * end followed by the expiry of an empty lot.
 */
export function expireSettled(
  read: CustomerState,
  pending: StateChange | undefined,
  nowMs: number,
  maxItems = MAX_ITEMS_PER_EXPIRY,
): StateChange | undefined {
  const expired = expire(pending ? stateAfter(read, pending) : read, nowMs, maxItems);
  if (!pending || !expired) return expired ?? pending;
  const reclaimedIds = new Set(expired.reclaimed.map((lot) => lot.id));
  const asRead = new Map(
    pending.forfeited
      .filter(({ lot }) => reclaimedIds.has(lot.id))
      .map(({ lot }) => [lot.id, lot] as const),
  );
  if (asRead.size === 0) return mergeChanges(pending, expired);
  return mergeChanges(
    { ...pending, forfeited: pending.forfeited.filter(({ lot }) => !asRead.has(lot.id)) },
    { ...expired, reclaimed: expired.reclaimed.map((lot) => asRead.get(lot.id) ?? lot) },
  );
}

/** C19: a downgrade's reach: the change, the end of its period, and when Stripe billed it. */
export type DowngradeWindow = {
  readonly atMs: number;
  readonly beforeMs: number;
  readonly billedAtMs: number;
};

/**
 * C19: the mark in the id of an invoice's top-up lots (its positive prorations,
 * lib/ledger/subscriptions.ts). Lots now say so themselves (`topUp`); lots stored before only
 * carry the mark.
 */
const TOP_UP_MARK = '#proration';

/** C19: the id prefix of an invoice's top-up lots (monthlyLots numbers the later months). */
export function topUpIdPrefix(invoiceId: string): string {
  return `${invoiceId}${TOP_UP_MARK}`;
}

/** C19: whether a lot is an invoice's top-up (its own field, or the mark of older lots). */
export function isTopUp(lot: { readonly id?: string; readonly topUp?: boolean }): boolean {
  return lot.topUp ?? lot.id?.includes(TOP_UP_MARK) ?? false;
}

/**
 * Whether a downgrade cuts a lot (or an end's cut of one, lib/credits/downgrades.ts): granted
 * after the change and before its period ends, and billed before the downgrade (C16: a lot that
 * does not know when it was billed counts as billed before every downgrade). The tie rule for
 * an invoice billed at the very same instant: a plan's months count as billed before (Stripe
 * changes only a period that has begun), a top-up does not (nothing orders two changes billed
 * together, and a downgrade that reached a top-up would cut other months in other orders).
 */
export function cuts(
  window: DowngradeWindow,
  lot: {
    readonly id?: string;
    readonly grantedAtMs: number;
    readonly purchasedAtMs?: number;
    readonly topUp?: boolean;
  },
): boolean {
  return (
    lot.grantedAtMs > window.atMs &&
    lot.grantedAtMs < window.beforeMs &&
    billedBefore(window.billedAtMs, lot)
  );
}

function billedBefore(
  billedAtMs: number,
  lot: { readonly id?: string; readonly purchasedAtMs?: number; readonly topUp?: boolean },
): boolean {
  if (lot.purchasedAtMs === undefined || lot.purchasedAtMs < billedAtMs) return true;
  return lot.purchasedAtMs === billedAtMs && !isTopUp(lot);
}

/**
 * Up to `credits` taken from `ordered` in its order (latest first, for a downgrade or an end),
 * each giving what `capacityOf` says it holds, from `maxItems` of them at most: the one way
 * C19's cuts are counted out (cut-plan.ts).
 */
export function inOrderUpTo<T>(
  ordered: readonly T[],
  credits: number,
  capacityOf: (each: T) => number,
  maxItems = Number.POSITIVE_INFINITY,
): { item: T; amount: number }[] {
  const taken: { item: T; amount: number }[] = [];
  let left = credits;
  for (const item of ordered) {
    if (left <= 0 || taken.length === maxItems) break;
    const amount = Math.min(left, capacityOf(item));
    if (amount <= 0) continue;
    taken.push({ item, amount });
    left -= amount;
  }
  return taken;
}
