import { spend } from './changes';
import { effectiveLots } from './forfeits';
import type { Hold, HoldEnd, LotPart, LotReturn, RestoreCount } from './hold-change';
import { bookBalance, byBurnOrder, isExpiredAt, type Lot, type LotTake } from './lots';
import {
  type CustomerState,
  type EntryDraft,
  EntryType,
  type InsufficientCredits,
  isInsufficient,
  type LedgerEntry,
  type StateChange,
  stateAfter,
} from './state';

/**
 * How a decision about holds is built (C25, C26): step by step on a working copy of the state
 * as read, each step drafting its ledger entries; then `finish` compares the working lots with
 * the lots as read and writes ONE operation per lot, whatever the steps did to it (a lapse giving
 * credits back to a lot and a spend taking them again is one take, or nothing). DynamoDB allows
 * one operation per item in a transaction, and each operation keeps the condition its kind
 * needs: a drain the exact credit read, a take "more than it takes", a return "still there, not
 * forfeited, not above what it granted", a re-created lot its absence.
 */
export type Plan = {
  readonly read: CustomerState;
  readonly working: CustomerState;
  readonly drafts: readonly EntryDraft[];
  readonly placed: readonly Hold[];
  readonly ended: readonly HoldEnd[];
  readonly restores: readonly RestoreCount[];
};

export function planOn(read: CustomerState): Plan {
  return { read, working: read, drafts: [], placed: [], ended: [], restores: [] };
}

export function withDrafts(plan: Plan, ...drafts: EntryDraft[]): Plan {
  return { ...plan, drafts: [...plan.drafts, ...drafts] };
}

export function holdsOf(state: CustomerState): readonly Hold[] {
  return state.holds ?? [];
}

export function placeHold(plan: Plan, hold: Hold): Plan {
  const working = { ...plan.working, holds: [...holdsOf(plan.working), hold] };
  return { ...plan, working, placed: [...plan.placed, hold] };
}

export function endHold(plan: Plan, hold: Hold, recordsLapse: boolean): Plan {
  const holds = holdsOf(plan.working).filter((each) => each.id !== hold.id);
  return {
    ...plan,
    working: { ...plan.working, holds },
    ended: [...plan.ended, { hold, recordsLapse }],
  };
}

export function countRestore(plan: Plan, count: RestoreCount): Plan {
  return { ...plan, restores: [...plan.restores, count] };
}

/** An entry moving `parts`: +1 gives them to their lots, -1 takes them away. */
export function movedDraft(
  fields: Omit<EntryDraft, 'amount' | 'lots'>,
  parts: readonly LotPart[],
  sign: 1 | -1,
): EntryDraft {
  return {
    ...fields,
    amount: sign * creditsOf(parts),
    lots: parts.map((part) => ({ lotId: part.lot.id, amount: sign * part.amount })),
  };
}

export function creditsOf(parts: readonly LotPart[]): number {
  return parts.reduce((sum, part) => sum + part.amount, 0);
}

/**
 * The first `credits` of `parts` in burn order (C5: what expires soonest goes first) and the
 * rest: a settle consumes the first, a restore gives back the last.
 */
export function splitCredits(
  parts: readonly LotPart[],
  credits: number,
): [first: LotPart[], rest: LotPart[]] {
  const first: LotPart[] = [];
  const rest: LotPart[] = [];
  let left = credits;
  for (const part of [...parts].sort((a, b) => byBurnOrder(a.lot, b.lot))) {
    const take = Math.min(left, part.amount);
    if (take > 0) first.push({ lot: part.lot, amount: take });
    if (part.amount > take) rest.push({ lot: part.lot, amount: part.amount - take });
    left -= take;
  }
  return [first, rest];
}

/** C15 on the working lots (lapsed holds already given back): the spend and what it took. */
export function spendOn(
  plan: Plan,
  entry: Parameters<typeof spend>[1],
): { plan: Plan; taken: LotPart[] } | InsufficientCredits {
  const change = spend(plan.working, entry);
  if (isInsufficient(change)) return change;
  return {
    plan: withDrafts(
      { ...plan, working: stateAfter(plan.working, change) },
      ...change.entries.map(draftOf),
    ),
    taken: change.taken.map((take) => ({ lot: take.lot, amount: take.amount })),
  };
}

function draftOf(entry: LedgerEntry): EntryDraft {
  const { balanceAfter: _numberedLater, ...draft } = entry;
  return draft;
}

/** What became of credits given back: in their lots, or gone (and the ledger says so). */
export type Given = { readonly plan: Plan; readonly back: number; readonly gone: number };

type Fate = 'back' | 'expired' | { readonly forfeitedBy: string };

/**
 * C26: gives `parts` back to the lots they came from at `atMs`. A lot expired by then keeps
 * nothing (C6); a lot that a subscription's end took (C7) neither. Those credits are gone, and
 * an expiry or forfeit entry after the caller's own entry says so. A lot that was drained (and
 * so deleted) since is re-created as it was, holding what comes back.
 */
export function giveBack(
  plan: Plan,
  parts: readonly LotPart[],
  atMs: number,
  cause: { readonly id: string; readonly ref: string },
): Given {
  let working = plan.working;
  const expired: LotPart[] = [];
  const forfeited = new Map<string, LotPart[]>();
  for (const part of parts) {
    const fate = fateOf(working, part, atMs);
    if (fate === 'back') working = returnedTo(working, part);
    else if (fate === 'expired') expired.push(part);
    else forfeited.set(fate.forfeitedBy, [...(forfeited.get(fate.forfeitedBy) ?? []), part]);
  }
  const gone: EntryDraft[] = [];
  if (expired.length > 0) {
    const reason = 'their lot had expired when they came back (C6)';
    gone.push(
      movedDraft(
        { id: `${cause.id}#expired`, type: EntryType.expiry, atMs, ref: cause.ref, reason },
        expired,
        -1,
      ),
    );
  }
  for (const [by, lost] of forfeited) {
    const reason = 'their lot had been forfeited when they came back (C7)';
    gone.push(
      movedDraft(
        { id: `${cause.id}#forfeit#${by}`, type: EntryType.forfeit, atMs, ref: by, reason },
        lost,
        -1,
      ),
    );
  }
  const goneCredits = gone.reduce((sum, each) => sum - each.amount, 0);
  return {
    plan: withDrafts({ ...plan, working }, ...gone),
    back: creditsOf(parts) - goneCredits,
    gone: goneCredits,
  };
}

function fateOf(working: CustomerState, part: LotPart, atMs: number): Fate {
  if (isExpiredAt(part.lot, atMs)) return 'expired';
  const stored = working.lots.find((lot) => lot.id === part.lot.id);
  if (stored?.forfeit) return { forfeitedBy: stored.forfeit.by };
  // The rules' own reading of C7/C8 (effectiveLots) on the lot as it would be with the credit.
  const [probe] = effectiveLots({ ...working, lots: [{ ...revived(part), remaining: 1 }] }, atMs);
  return probe?.forfeit ? { forfeitedBy: probe.forfeit.by } : 'back';
}

function returnedTo(working: CustomerState, part: LotPart): CustomerState {
  const present = working.lots.some((lot) => lot.id === part.lot.id);
  const lots = present
    ? working.lots.map((lot) =>
        lot.id === part.lot.id ? { ...lot, remaining: lot.remaining + part.amount } : lot,
      )
    : [...working.lots, revived(part)];
  return { ...working, lots };
}

/** The lot a part came from, holding the part's credits again. */
function revived(part: LotPart): Lot {
  const { forfeit: _none, ...lot } = part.lot;
  return { ...lot, remaining: part.amount };
}

/**
 * The change that takes the state as read to the working state: one operation per lot (see
 * Plan), the drafts numbered with the running book balance, and the hold parts. The drafts must
 * explain the lots exactly (C14): anything else is a bug, thrown before anything is written.
 */
export function finish(plan: Plan): StateChange {
  const { read, working } = plan;
  const before = new Set(read.lots.map((lot) => lot.id));
  const after = new Map(working.lots.map((lot) => [lot.id, lot]));
  const taken: LotTake[] = [];
  const returned: LotReturn[] = [];
  for (const lot of read.lots) {
    const now = after.get(lot.id);
    if (!now) taken.push({ lot, amount: lot.remaining, drains: true });
    else if (now.remaining < lot.remaining) {
      taken.push({ lot, amount: lot.remaining - now.remaining, drains: false });
    } else if (now.remaining > lot.remaining) {
      returned.push({ lot, amount: now.remaining - lot.remaining });
    }
  }
  let balance = bookBalance(read.lots);
  const entries = plan.drafts.map((draft) => {
    balance += draft.amount;
    return { ...draft, balanceAfter: balance };
  });
  const moved = bookBalance(working.lots) - bookBalance(read.lots);
  if (balance - bookBalance(read.lots) !== moved) {
    throw new Error(`hold drafts move ${balance - bookBalance(read.lots)}, lots move ${moved}`);
  }
  return {
    customerId: read.customerId,
    created: working.lots.filter((lot) => !before.has(lot.id)),
    taken,
    forfeited: [],
    unforfeited: [],
    // C20: a spend that takes from an upcoming lot come due records its grant first (spend).
    released: read.lots.filter((lot) => lot.upcoming && !after.get(lot.id)?.upcoming),
    cancelled: [],
    reclaimed: [],
    entries,
    holds: { returned, placed: plan.placed, ended: plan.ended, restores: plan.restores },
  };
}
