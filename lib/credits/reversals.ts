import { firstFitting, grantLots } from './changes';
import { type CutAfter, cutAfter, withCutsTaken } from './cuts-after';
import { byBurnOrder, isExpiredAt, type Lot, LotSource, type LotTake } from './lots';
import { type PurchaseRecord, refereeTarget, referrerTarget } from './purchase';
import { withoutRefunded, withRefundedMonths } from './refunded-months';
import {
  andThen,
  type CustomerFacts,
  type CustomerState,
  changeOf,
  type Debt,
  type EntryDraft,
  EntryType,
  type LotCancel,
  type StateChange,
} from './state';

/**
 * C22-C24 as pure functions: a purchase's record says how much its reversals should have taken
 * back (`refereeTarget`); what was taken so far is `lost`. Each command that changes the record
 * (a reversal, an undo, a grant arriving after its reversals) moves the customer to the new
 * target from wherever they are, so the credits lost after all reversals are the same whatever
 * order they arrive in (C16). Which lots a take-back finds is judged at the reversal's time.
 */

/** Names the change: its ledger entries' ids and the time they carry (Stripe's, C22). */
export type ReversalStep = { readonly entryId: string; readonly atMs: number };

export type Settled = {
  readonly change?: StateChange;
  readonly record: PurchaseRecord;
  /** The take-back filled its batch with more to take: the record counts what it took. */
  readonly more?: boolean;
};

/**
 * How many transaction items one take-back may write: its lots and its entries (a reversal's and
 * a debt's). A lot taken from is one item, an upcoming lot cancelled two (its due marker too), a
 * lot the same transaction creates none more (`created`: the take-back only makes it smaller).
 */
export type TakeBackBatch = {
  readonly maxItems: number;
  readonly created?: ReadonlySet<string>;
  /** Lots the transaction changes already, which it cannot write twice: left alone. */
  readonly skip?: ReadonlySet<string>;
  /**
   * C19 C22: what downgrades Stripe billed after the reversal cut, by month (cuts-after.ts):
   * the take-back finds it as in Stripe's order, before the cut.
   */
  readonly cutAfter?: ReadonlyMap<string, CutAfter>;
};

/**
 * Transaction items a take-back's change has of DynamoDB's 100, leaving the rest to the
 * account, its subscriptions, the purchase's record, the command's fact and the referrer's
 * share (lib/store/transact.ts); what time settles in the same transaction comes out of it.
 */
export const MAX_ITEMS_PER_TAKE_BACK = 80;

/** Room for the take-back's own entries: the reversal's and a debt's. */
const TAKE_BACK_ENTRIES = 2;

/**
 * C22/C23: takes back, or gives back, what the record's target asks of the referee; a take-back
 * from more lots than `batch` holds (an annual invoice of many prices) takes from those it
 * holds, and the command runs again for the rest.
 */
export function settleTakeBack(
  state: CustomerState,
  record: PurchaseRecord,
  step: ReversalStep,
  batch: TakeBackBatch = { maxItems: Number.POSITIVE_INFINITY },
): Settled {
  if (!record.granted) return { record };
  const target = refereeTarget(record);
  const delta = target - record.lost;
  const next = { ...record, lost: target };
  if (delta > 0) {
    const taken = takeBack(state, record.id, delta, step, batch);
    if (taken.short === 0) return { change: taken.change, record: next };
    return { change: taken.change, record: { ...record, lost: target - taken.short }, more: true };
  }
  if (delta < 0) {
    const change = giveBack(state, record, -delta, step);
    return { ...(change && { change }), record: next };
  }
  return { record: next };
}

/** A lot a take-back can take from: what it holds, and a later downgrade's cut of it. */
type Source = { readonly lot: Lot; readonly cut: number };

const holding = (source: Source) => source.lot.remaining + source.cut;

/**
 * The lots a take-back finds at `atMs`, in the order it takes them: the purchase's own first
 * (those granted in burn order, then those not yet granted, latest first), then the customer's
 * other lots likewise (C22). Lots not yet granted are taken too, so that a debt is owed only
 * when nothing at all is left, and every credit granted later repays it first (C23). A month a
 * later downgrade cut holds its cut as well (`cutAfter`), a month cut to nothing included.
 */
function takeBackOrder(
  state: CustomerState,
  purchaseId: string,
  atMs: number,
  batch: TakeBackBatch,
): Source[] {
  const skip = batch.skip ?? new Set<string>();
  const cutAfter = batch.cutAfter ?? new Map<string, CutAfter>();
  const stored = new Set(state.lots.map((lot) => lot.id));
  const cutOf = (lot: Lot) => (lot.forfeit ? 0 : (cutAfter.get(lot.id)?.credits ?? 0));
  const gone = [...cutAfter.values()].flatMap((each) =>
    each.month && !stored.has(each.month.id) ? [each.month] : [],
  );
  const alive = [...state.lots, ...gone]
    .map((lot) => ({ lot, cut: cutOf(lot) }))
    .filter(
      (source) =>
        holding(source) > 0 &&
        !source.lot.forfeit &&
        !isExpiredAt(source.lot, atMs) &&
        !skip.has(source.lot.id),
    );
  const granted = (sources: Source[]) =>
    sources.filter((each) => !each.lot.upcoming).sort((a, b) => byBurnOrder(a.lot, b.lot));
  const upcoming = (sources: Source[]) =>
    sources
      .filter((each) => each.lot.upcoming)
      .sort((a, b) => byBurnOrder(a.lot, b.lot))
      .reverse();
  const own = alive.filter((each) => each.lot.ref === purchaseId);
  const others = alive.filter((each) => each.lot.ref !== purchaseId);
  return [...granted(own), ...upcoming(own), ...granted(others), ...upcoming(others)];
}

/** The first sources of `order` that hold `credits`, or all of them when they hold less. */
function lotsHolding(order: readonly Source[], credits: number): Source[] {
  const sources: Source[] = [];
  let held = 0;
  for (const source of order) {
    if (held >= credits) break;
    sources.push(source);
    held += holding(source);
  }
  return sources;
}

/**
 * C22/C23: `credits` out of the lots, the rest as debt owed by the purchase; as many lots as
 * `batch` holds, and then what is left is `short` (not debt: the next batch takes it). A batch's
 * entry is named by its first lot, so that the batches of one reversal are entries of their own.
 */
function takeBack(
  state: CustomerState,
  purchaseId: string,
  credits: number,
  step: ReversalStep,
  batch: TakeBackBatch,
): { change: StateChange; short: number; ofCuts: number } {
  const needed = lotsHolding(takeBackOrder(state, purchaseId, step.atMs, batch), credits);
  // A cut taken back writes no lot: only what the lot holds costs items.
  const itemsOf = ({ lot }: Source) => {
    if (batch.created?.has(lot.id) || lot.remaining === 0) return 0;
    return lot.upcoming ? 2 : 1;
  };
  const lots = firstFitting(needed, itemsOf, batch.maxItems - TAKE_BACK_ENTRIES);
  const taken: LotTake[] = [];
  const cancelled: LotCancel[] = [];
  const fromCuts: LotTake[] = [];
  let left = credits;
  for (const { lot, cut } of lots) {
    // In Stripe's order the reversal came before the cut: it takes the cut's part first.
    const ofCut = Math.min(left, cut);
    if (ofCut > 0) fromCuts.push({ lot, amount: ofCut, drains: false });
    const amount = Math.min(left - ofCut, lot.remaining);
    if (amount > 0 && lot.upcoming) cancelled.push({ lot, amount });
    else if (amount > 0) taken.push({ lot, amount, drains: amount === lot.remaining });
    left -= ofCut + amount;
  }
  const short = lots.length < needed.length ? left : 0;
  const fromLots = taken.reduce((sum, take) => sum + take.amount, 0);
  // C19: the months taken are remembered, for a downgrade delivered later (refunded-months.ts).
  const remembered = withRefundedMonths(
    withCutsTaken(state.facts, fromCuts, step.atMs),
    purchaseId,
    [...fromCuts, ...taken, ...cancelled],
    step.atMs,
  );
  const drafts: EntryDraft[] = [];
  const ofCuts = fromCuts.reduce((sum, take) => sum + take.amount, 0);
  if (lots.length > 0) {
    const notYet = credits - left - fromLots - ofCuts;
    const first = taken[0]?.lot.id ?? cancelled[0]?.lot.id ?? fromCuts[0]?.lot.id;
    drafts.push({
      id: short > 0 ? `${step.entryId}#${first}` : step.entryId,
      type: EntryType.reversal,
      amount: -fromLots,
      atMs: step.atMs,
      ref: purchaseId,
      reason:
        `money paid for ${purchaseId} went back (C22)` +
        (notYet > 0 ? `; ${notYet} credits not yet granted are cancelled` : '') +
        (ofCuts > 0 ? `; ${ofCuts} credits a later downgrade had cut are taken instead (C19)` : ''),
      lots: taken.map((take) => ({ lotId: take.lot.id, amount: -take.amount })),
    });
  }
  if (left === 0 || short > 0) {
    const facts = remembered === state.facts ? {} : { facts: remembered };
    return { change: changeOf(state, { taken, cancelled, drafts, ...facts }), short, ofCuts };
  }
  drafts.push(debtEntry(step, purchaseId, left));
  const facts = withDebt(remembered, purchaseId, left, step.atMs);
  return { change: changeOf(state, { taken, cancelled, drafts, facts }), short, ofCuts };
}

/**
 * C19 C22 C16: the reversals of `retakes` take again what a downgrade delivered after them cut
 * from the months they had taken: in Stripe's order the cut came first and they took the rest
 * of what they take elsewhere, in their own order, as debt what they cannot find. What a
 * downgrade Stripe billed after a reversal cut counts as still there for it, as in its first
 * take (cuts-after.ts); `ofCuts` says how much of that it took, which that downgrade then has
 * to cut elsewhere (the caller plans the cuts again). `skip`: the lots the same transaction
 * already changes. At most `maxItems` items a reversal; what more it would need is owed (C23),
 * to be repaid by the next credits.
 */
export function takeAgain(
  state: CustomerState,
  retakes: readonly { purchaseId: string; credits: number; atMs: number }[],
  entryId: string,
  batch: { maxItems: number; skip: ReadonlySet<string>; nowMs: number },
): { change?: StateChange; ofCuts: number } {
  let result: { state: CustomerState; change?: StateChange } = { state };
  let ofCuts = 0;
  for (const retake of retakes) {
    const step = { entryId: `${entryId}#${retake.purchaseId}`, atMs: retake.atMs };
    result = andThen(state, result.change, (after) => {
      const later = cutAfter(after.facts, retake.atMs, batch.nowMs);
      const taken = takeBack(after, retake.purchaseId, retake.credits, step, {
        maxItems: batch.maxItems,
        skip: batch.skip,
        ...(later.size > 0 && { cutAfter: later }),
      });
      ofCuts += taken.ofCuts;
      if (taken.short === 0) return taken.change;
      return andThen(after, taken.change, (rest) =>
        changeOf(rest, {
          drafts: [debtEntry(step, retake.purchaseId, taken.short)],
          facts: withDebt(rest.facts, retake.purchaseId, taken.short, step.atMs),
        }),
      ).change;
    });
  }
  return { ...(result.change && { change: result.change }), ofCuts };
}

/**
 * C23: a reversal undone gives back what it took: first it cancels the debt its purchase still
 * owes, then the rest returns as a lot that expires when the purchase's own would have (nothing,
 * if that time has passed). The new lot repays any other debt first, as every grant does.
 */
function giveBack(
  state: CustomerState,
  record: PurchaseRecord,
  credits: number,
  step: ReversalStep,
): StateChange | undefined {
  const owed = state.facts.debts?.[record.id]?.credits ?? 0;
  const cancel = Math.min(credits, owed);
  const rest = credits - cancel;
  // C19: what comes back as a lot is no longer the months' to lose to a later cut.
  const forgotten = withoutRefunded(state.facts, record.id, rest);
  const cancelling =
    cancel > 0 || forgotten !== state.facts
      ? changeOf(state, {
          drafts: cancel > 0 ? [debtEntry(step, record.id, -cancel)] : [],
          facts: cancel > 0 ? withDebt(forgotten, record.id, -cancel, step.atMs) : forgotten,
        })
      : undefined;
  const granted = record.granted;
  const lot =
    granted && rest > 0 && granted.expiresAtMs > step.atMs
      ? giveBackLot(step, record.id, rest, {
          source: granted.source,
          expiresAtMs: granted.expiresAtMs,
          ...(granted.subscriptionId !== undefined && { subscriptionId: granted.subscriptionId }),
        })
      : undefined;
  return andThen(state, cancelling, (after) =>
    lot ? grantLots(after, giveBackEntry(step, record.id), [lot]) : undefined,
  ).change;
}

/**
 * C24: the referrer's bonus goes back in the same proportion, only from what remains of the bonus
 * lot (a referrer never owes for someone else's refund); an undo gives back what was taken.
 */
export function settleReferrer(
  referrer: CustomerState,
  record: PurchaseRecord,
  step: ReversalStep,
): Settled {
  const referral = record.granted?.referral;
  if (!referral) return { record };
  const target = referrerTarget(record);
  const had = record.referrerTaken;
  if (target > had) {
    const lot = referrer.lots.find(
      (each) =>
        each.id === referral.referrerLotId &&
        each.remaining > 0 &&
        !each.forfeit &&
        !isExpiredAt(each, step.atMs),
    );
    const amount = Math.min(target - had, lot?.remaining ?? 0);
    if (!lot || amount === 0) return { record };
    const take = { lot, amount, drains: amount === lot.remaining };
    const change = changeOf(referrer, {
      taken: [take],
      drafts: [
        {
          id: step.entryId,
          type: EntryType.reversal,
          amount: -amount,
          atMs: step.atMs,
          ref: record.customerId,
          reason: `money paid by referred ${record.customerId} went back (C24)`,
          lots: [{ lotId: lot.id, amount: -amount }],
        },
      ],
    });
    return { change, record: { ...record, referrerTaken: had + amount } };
  }
  if (target === had) return { record };
  const next = { ...record, referrerTaken: target };
  if (referral.referrerExpiresAtMs <= step.atMs) return { record: next };
  const lot = giveBackLot(step, record.customerId, had - target, {
    source: LotSource.referralBonus,
    expiresAtMs: referral.referrerExpiresAtMs,
  });
  return {
    change: grantLots(referrer, giveBackEntry(step, record.customerId), [lot]),
    record: next,
  };
}

function giveBackLot(
  step: ReversalStep,
  ref: string,
  credits: number,
  like: { source: LotSource; expiresAtMs: number; subscriptionId?: string },
): Lot {
  return {
    id: `giveback#${step.entryId}`,
    source: like.source,
    granted: credits,
    remaining: credits,
    grantedAtMs: step.atMs,
    expiresAtMs: like.expiresAtMs,
    ref,
    ...(like.subscriptionId !== undefined && { subscriptionId: like.subscriptionId }),
  };
}

function giveBackEntry(step: ReversalStep, ref: string) {
  return {
    id: `${step.entryId}#giveback`,
    type: EntryType.reversal,
    atMs: step.atMs,
    ref,
    reason: 'a reversal undone gives back what it took (C23)',
  };
}

/**
 * C23: debt moved by `credits` (+ owed, - cancelled). The amount keeps balance - debt equal to
 * the ledger's sum (C14): owing more leaves the balance alone and lowers the ledger.
 */
function debtEntry(step: ReversalStep, purchaseId: string, credits: number): EntryDraft {
  return {
    id: `${step.entryId}#debt`,
    type: EntryType.debt,
    amount: -credits,
    debt: credits,
    atMs: step.atMs,
    ref: purchaseId,
    reason:
      credits > 0
        ? `${credits} credits of ${purchaseId} were already spent: owed (C23)`
        : `a reversal of ${purchaseId} undone cancels ${-credits} credits of its debt (C23)`,
    lots: [],
  };
}

function withDebt(
  facts: CustomerFacts,
  purchaseId: string,
  credits: number,
  atMs: number,
): CustomerFacts {
  const debts: Record<string, Debt> = { ...facts.debts };
  const owed = (debts[purchaseId]?.credits ?? 0) + credits;
  if (owed > 0) debts[purchaseId] = { credits: owed, atMs: debts[purchaseId]?.atMs ?? atMs };
  else delete debts[purchaseId];
  return { ...facts, debts };
}
