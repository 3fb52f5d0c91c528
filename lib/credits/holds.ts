import { firstFitting } from './changes';
import { effectiveLots } from './forfeits';
import {
  countRestore,
  creditsOf,
  endHold,
  finish,
  type Given,
  giveBack,
  holdsOf,
  movedDraft,
  type Plan,
  placeHold,
  planOn,
  spendOn,
  splitCredits,
  withDrafts,
} from './give-back';
import type { Hold, LotPart } from './hold-change';
import { type Lot, spendableBalance } from './lots';
import {
  type CustomerState,
  type EntryDraft,
  EntryType,
  type InsufficientCredits,
  isInsufficient,
  type StateChange,
} from './state';

/**
 * The image app's jobs (C25, C26) as pure rules.
 *
 * A hold takes its credits out of their lots, in burn order (C5), into a hold item, and writes a
 * `hold` entry of minus its amount: the balance (C14: spendable lots less what live holds keep)
 * is then simply the lots' remaining credit, and the ledger's sum stays the lots' sum. A hold
 * ends once, by whichever comes first:
 * - `settle`: a `release` entry of plus the whole hold, then a `consumption` of what the job
 *   used, taken from the part that expires soonest; the rest stays in its lots;
 * - `release`: a `release` entry of plus the whole hold;
 * - a lapse, at its expiry by time alone: from then on the rules read its credits as back in
 *   their lots (viewAt), and the first write that meets it records the `release` (dated at the
 *   expiry), as does the daily job.
 * Credits given back go to the lots they came from, unless those expired or were forfeited
 * meanwhile: then they are gone, and an expiry or forfeit entry says so (give-back.ts). So for
 * the ledger a hold is a consumption that may come back; the sum of the `hold` and `release`
 * entries is minus what live holds keep (the audit checks both).
 */

/** C25: a hold's time to live when the caller gives none: 15 minutes. */
export const DEFAULT_HOLD_TTL_S = 900;
/** C25: at most 24 hours. */
export const MAX_HOLD_TTL_S = 86_400;
/**
 * The shortest time to live. A container's lot cache (lib/store/lot-cache.ts) plans spends on
 * a state read up to CACHE_TTL_MS ago; a hold written since by another container is unknown to
 * it, and were that hold able to lapse while the entry is used, its credits would come back to
 * their lots by time alone behind the cache's back. A hold lives at least this long after its
 * writer decided it, which is more than CACHE_TTL_MS + MAX_COMMAND_MS + MAX_CLOCK_SKEW_MS (the
 * longest a writer may take to commit, on a clock that far off ours), so every hold a cached
 * state misses is still live for the whole life of the entry (test/unit/credits-holds.test.ts
 * checks the sum).
 */
export const MIN_HOLD_TTL_S = 120;
/** Live holds one customer may have at once: every decision about the customer reads them. */
export const MAX_LIVE_HOLDS = 100;
/**
 * DynamoDB items the lapses given back in one change may take, so that the write they go with
 * still fits one transaction (100 items); more lapsed holds are written in batches first.
 */
export const LAPSE_ITEMS_PER_CHANGE = 50;

/** The fact key of a hold's end: its settle, its release or its lapse writes it, once. */
export function holdEndKey(holdId: string): string {
  return `hold-end#${holdId}`;
}

/** The fact a lapse writes for its hold (a settle or release meeting it lapsed says the same). */
export const LAPSE_FACT = {
  fingerprint: '{"action":"lapse"}',
  outcome: { ok: false, error: 'hold_lapsed' },
} as const;

export function isLapsedAt(hold: Hold, atMs: number): boolean {
  return atMs >= hold.expiresAtMs;
}

/** C25: what live holds keep at `atMs` (the balance view's `held`). */
export function heldAt(state: CustomerState, atMs: number): number {
  return holdsOf(state)
    .filter((hold) => !isLapsedAt(hold, atMs))
    .reduce((sum, hold) => sum + hold.amount, 0);
}

function lapsedHolds(state: CustomerState, atMs: number): Hold[] {
  return holdsOf(state)
    .filter((hold) => isLapsedAt(hold, atMs))
    .sort((a, b) => a.expiresAtMs - b.expiresAtMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** C25: the state as the rules read it at `atMs`: every hold lapsed by then given back. */
export function viewAt(state: CustomerState, atMs: number): CustomerState {
  let plan = planOn(state);
  for (const hold of lapsedHolds(state, atMs)) plan = lapse(plan, hold, true).plan;
  return plan.working;
}

/** C6/C14/C25: the lots as the rules see them at `atMs` (lapses given back, forfeits applied). */
export function lotsAt(state: CustomerState, atMs: number): Lot[] {
  return effectiveLots(viewAt(state, atMs), atMs);
}

/** C14: the balance at `atMs`: spendable lots, lapsed holds given back, live holds kept apart. */
export function spendableAt(state: CustomerState, atMs: number): number {
  return spendableBalance(lotsAt(state, atMs), atMs);
}

function releaseDraft(hold: Hold, atMs: number, reason: string): EntryDraft {
  return movedDraft(
    { id: `release#${hold.id}`, type: EntryType.release, atMs, ref: hold.id, reason },
    hold.parts,
    1,
  );
}

/** A hold's lapse: ended, and its credits given back as of its expiry. */
function lapse(plan: Plan, hold: Hold, recordsLapse: boolean): Given {
  const ended = withDrafts(
    endHold(plan, hold, recordsLapse),
    releaseDraft(hold, hold.expiresAtMs, 'lapsed'),
  );
  return giveBack(ended, hold.parts, hold.expiresAtMs, { id: `release#${hold.id}`, ref: hold.id });
}

/** The lapses first written on their own, when too many to go with the write that met them. */
export type LapseBatch = { readonly kind: 'batch'; readonly change: StateChange };

function lapseItems(hold: Hold): number {
  // The hold, its fact, one item per lot, its release entry and up to two entries of gone credit;
  // and per lot the forfeit entry of its own credit, should an end take it unmarked (give-back.ts).
  return 5 + 2 * hold.parts.length;
}

function fitting(holds: readonly Hold[]): Hold[] {
  return firstFitting(holds, lapseItems, LAPSE_ITEMS_PER_CHANGE);
}

/**
 * C25: a write that meets holds lapsed by `atMs` gives their credits back in its own change.
 * `ownHoldId` is the hold the write itself settles or releases: its command writes that hold's
 * fact. When the lapses do not fit beside the write, the first of them come as a batch to be
 * written first (then the write is decided again on what it left).
 */
export function givingBackLapses(
  read: CustomerState,
  atMs: number,
  ownHoldId?: string,
): { readonly kind: 'ready'; readonly plan: Plan } | LapseBatch {
  const lapsed = lapsedHolds(read, atMs);
  const batch = fitting(lapsed);
  const all = batch.length === lapsed.length;
  let plan = planOn(read);
  for (const hold of batch) plan = lapse(plan, hold, !(all && hold.id === ownHoldId)).plan;
  return all ? { kind: 'ready', plan } : { kind: 'batch', change: finish(plan) };
}

/** The daily job's part (C25): the lapses that fit one change, and what they gave back. */
export function recordLapses(
  read: CustomerState,
  atMs: number,
  options: { all?: boolean } = {},
): { change: StateChange; holds: number; credits: number; gone: number } | undefined {
  const lapsed = lapsedHolds(read, atMs);
  if (lapsed.length === 0) return undefined;
  let given: Given = { plan: planOn(read), back: 0, gone: 0 };
  let credits = 0;
  let gone = 0;
  for (const hold of options.all ? lapsed : fitting(lapsed)) {
    given = lapse(given.plan, hold, true);
    credits += hold.amount;
    gone += given.gone;
  }
  return { change: finish(given.plan), holds: given.plan.ended.length, credits, gone };
}

type SpendEntry = {
  readonly id: string;
  readonly type: EntryDraft['type'];
  readonly amount: number;
  readonly atMs: number;
  readonly ref: string;
  readonly reason?: string;
};

/** C15 with C25: a spend from the lots as they are at its time, lapsed holds given back first. */
export function spendGivingBackLapses(
  read: CustomerState,
  entry: SpendEntry,
):
  | LapseBatch
  | { readonly kind: 'refused'; readonly refusal: InsufficientCredits }
  | { readonly kind: 'spent'; readonly change: StateChange; readonly taken: LotPart[] } {
  const first = givingBackLapses(read, entry.atMs);
  if (first.kind === 'batch') return first;
  const spent = spendOn(first.plan, entry);
  if (isInsufficient(spent)) return { kind: 'refused', refusal: spent };
  return { kind: 'spent', change: finish(spent.plan), taken: spent.taken };
}

export type TooManyHolds = { readonly error: 'too_many_holds'; readonly balance: number };

/**
 * C25: holds `amount` credits under the caller's hold id, taken in burn order (C5), all or
 * nothing (C15), until `atMs + ttlMs`. `known` when a hold of that id is stored: the reserve was
 * applied before, and its fact has the first outcome.
 */
export function reserveHold(
  read: CustomerState,
  request: { holdId: string; amount: number; ttlMs: number; atMs: number },
):
  | LapseBatch
  | { readonly kind: 'known' }
  | { readonly kind: 'refused'; readonly refusal: InsufficientCredits | TooManyHolds }
  | { readonly kind: 'held'; readonly change: StateChange; readonly hold: Hold } {
  const { holdId, amount, atMs } = request;
  if (holdsOf(read).some((hold) => hold.id === holdId)) return { kind: 'known' };
  const first = givingBackLapses(read, atMs);
  if (first.kind === 'batch') return first;
  if (holdsOf(first.plan.working).length >= MAX_LIVE_HOLDS) {
    const balance = spendableAt(read, atMs);
    return { kind: 'refused', refusal: { error: 'too_many_holds', balance } };
  }
  const entry = { id: `hold#${holdId}`, type: EntryType.hold, amount, atMs, ref: holdId };
  const spent = spendOn(first.plan, entry);
  if (isInsufficient(spent)) return { kind: 'refused', refusal: spent };
  const hold: Hold = {
    id: holdId,
    amount,
    parts: spent.taken,
    heldAtMs: atMs,
    expiresAtMs: atMs + request.ttlMs,
  };
  return { kind: 'held', change: finish(placeHold(spent.plan, hold)), hold };
}

type HoldRefusal<E> = { readonly kind: 'refused'; readonly error: E };
type Lapsed = { readonly kind: 'lapsed'; readonly change: StateChange };

function storedHold(read: CustomerState, holdId: string): Hold | undefined {
  return holdsOf(read).find((hold) => hold.id === holdId);
}

/**
 * C25: the job used `amount` of the hold's credits: those that expire soonest are consumed
 * (C5), the rest go back to their lots. A hold lapsed by `atMs` cannot be settled: its lapse is
 * recorded instead.
 */
export function settleHold(
  read: CustomerState,
  request: { holdId: string; amount: number; atMs: number },
):
  | HoldRefusal<'hold_not_found' | 'exceeds_hold'>
  | LapseBatch
  | Lapsed
  | { readonly kind: 'settled'; readonly change: StateChange; readonly consumed: LotPart[] } {
  const { holdId, amount, atMs } = request;
  const hold = storedHold(read, holdId);
  if (!hold) return { kind: 'refused', error: 'hold_not_found' };
  const lapsed = isLapsedAt(hold, atMs);
  if (!lapsed && amount > hold.amount) return { kind: 'refused', error: 'exceeds_hold' };
  const first = givingBackLapses(read, atMs, holdId);
  if (first.kind === 'batch') return first;
  if (lapsed) return { kind: 'lapsed', change: finish(first.plan) };
  const [consumed, rest] = splitCredits(hold.parts, amount);
  const consumption = movedDraft(
    { id: `settle#${holdId}`, type: EntryType.consumption, atMs, ref: holdId },
    consumed,
    -1,
  );
  const drafted = withDrafts(
    endHold(first.plan, hold, false),
    releaseDraft(hold, atMs, 'settled'),
    ...(amount > 0 ? [consumption] : []),
  );
  const given = giveBack(drafted, rest, atMs, { id: `release#${holdId}`, ref: holdId });
  return { kind: 'settled', change: finish(given.plan), consumed };
}

/** C25: the job did not run: every credit of the hold goes back to its lot. */
export function releaseHold(
  read: CustomerState,
  request: { holdId: string; atMs: number },
):
  | HoldRefusal<'hold_not_found'>
  | LapseBatch
  | Lapsed
  | { readonly kind: 'released'; readonly change: StateChange; readonly back: number } {
  const { holdId, atMs } = request;
  const hold = storedHold(read, holdId);
  if (!hold) return { kind: 'refused', error: 'hold_not_found' };
  const first = givingBackLapses(read, atMs, holdId);
  if (first.kind === 'batch') return first;
  if (isLapsedAt(hold, atMs)) return { kind: 'lapsed', change: finish(first.plan) };
  const drafted = withDrafts(
    endHold(first.plan, hold, false),
    releaseDraft(hold, atMs, 'released'),
  );
  const given = giveBack(drafted, hold.parts, atMs, { id: `release#${holdId}`, ref: holdId });
  return { kind: 'released', change: finish(given.plan), back: given.back };
}

/** What a consumption took (from its fact), and how much of it has been given back already. */
export type Consumption = {
  /** The fact's key, e.g. `consume#<idempotency key>`. */
  readonly key: string;
  /** The caller's name for it, the restore entry's ref. */
  readonly ref: string;
  readonly parts: readonly LotPart[];
  readonly restored: number;
};

/**
 * C26: gives back `amount` (default: all that is left) of what a consumption took: the credits
 * it took last come back first, each to its lot. Restores of one consumption add up and never
 * give back more than it took.
 */
export function restoreConsumption(
  read: CustomerState,
  request: { consumption: Consumption; restoreKey: string; amount?: number; atMs: number },
):
  | HoldRefusal<'exceeds_consumption'>
  | LapseBatch
  | { kind: 'restored'; change: StateChange; back: number; gone: number } {
  const { consumption, restoreKey, atMs } = request;
  const left = creditsOf(consumption.parts) - consumption.restored;
  const amount = request.amount ?? left;
  if (amount <= 0 || amount > left) return { kind: 'refused', error: 'exceeds_consumption' };
  const first = givingBackLapses(read, atMs);
  if (first.kind === 'batch') return first;
  const [unrestored] = splitCredits(consumption.parts, left);
  const [, given] = splitCredits(unrestored, left - amount);
  const cause = { id: `restore#${restoreKey}`, ref: consumption.ref };
  const drafted = withDrafts(
    first.plan,
    movedDraft({ ...cause, type: EntryType.restore, atMs }, given, 1),
  );
  const back = giveBack(drafted, given, atMs, cause);
  const counted = countRestore(back.plan, {
    consumptionKey: consumption.key,
    before: consumption.restored,
    after: consumption.restored + amount,
  });
  return { kind: 'restored', change: finish(counted), back: back.back, gone: back.gone };
}
