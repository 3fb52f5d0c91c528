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
 * forfeited, not above what it granted", a re-created lot its absence, a lot marked forfeited
 * its exact credit, credits joining a forfeit record "still that end's record".
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
 * nothing (C6). Credits coming back to a lot that a subscription's end took (C7) are gone from
 * the balance too, but kept in that lot's forfeit record (keptByForfeit): should a grant
 * delivered later show the forfeit wrong (C8), undoing it gives them back, as the release would
 * have had Stripe delivered that grant first (C16). Gone credits are said by an expiry or
 * forfeit entry after the caller's own entry. A lot that was drained (and so deleted) since is
 * re-created as it was, holding what comes back.
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
  const marks: EntryDraft[] = [];
  for (const part of parts) {
    const fate = fateOf(working, part, atMs);
    if (fate === 'back') working = returnedTo(working, part);
    else if (fate === 'expired') expired.push(part);
    else {
      const marking = unmarkedForfeit(working, part.lot.id, fate.forfeitedBy, cause.id);
      if (marking) marks.push(marking);
      working = keptByForfeit(working, part, fate.forfeitedBy);
      forfeited.set(fate.forfeitedBy, [...(forfeited.get(fate.forfeitedBy) ?? []), part]);
    }
  }
  const gone: EntryDraft[] = [...marks];
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
  const goneCredits =
    creditsOf(expired) + [...forfeited.values()].reduce((sum, lost) => sum + creditsOf(lost), 0);
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

/**
 * C7: a lot an end takes whose forfeit is not written yet (effectiveLots) still holds its own
 * credit; it is marked forfeited with the credits coming back (keptByForfeit), so its own
 * credit leaves the book here, with the forfeit entry reconcileForfeits would have written,
 * dated at the end.
 */
function unmarkedForfeit(
  working: CustomerState,
  lotId: string,
  by: string,
  causeId: string,
): EntryDraft | undefined {
  const stored = working.lots.find((lot) => lot.id === lotId);
  if (!stored || stored.forfeit || stored.remaining <= 0) return undefined;
  return {
    id: `${causeId}#forfeit#${by}#${lotId}`,
    type: EntryType.forfeit,
    amount: -stored.remaining,
    atMs: working.facts.subscriptions[by]?.endedAtMs ?? stored.grantedAtMs,
    ref: by,
    reason: 'taken by the end of the last active subscription (C7)',
    lots: [{ lotId, amount: -stored.remaining }],
  };
}

/**
 * C7 C8: credits coming back to a lot an end took join its forfeit record (`credits` grows;
 * `remaining` stays 0), so that undoing that forfeit gives them back too. A lot drained since is
 * re-created as such a record; one not marked yet is marked, holding its own credit and these.
 */
function keptByForfeit(working: CustomerState, part: LotPart, by: string): CustomerState {
  const stored = working.lots.find((lot) => lot.id === part.lot.id);
  if (!stored) {
    const record: Lot = { ...revived(part), remaining: 0, forfeit: { by, credits: part.amount } };
    return { ...working, lots: [...working.lots, record] };
  }
  const forfeit = {
    by: stored.forfeit?.by ?? by,
    credits: (stored.forfeit?.credits ?? stored.remaining) + part.amount,
  };
  const lots = working.lots.map((lot) =>
    lot.id === part.lot.id ? { ...lot, remaining: 0, forfeit } : lot,
  );
  return { ...working, lots };
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
  const forfeited: { lot: Lot; by: string; credits: number }[] = [];
  const kept: LotReturn[] = [];
  for (const lot of read.lots) {
    const now = after.get(lot.id);
    if (!now) taken.push({ lot, amount: lot.remaining, drains: true });
    else if (now.forfeit && !lot.forfeit) {
      forfeited.push({ lot, by: now.forfeit.by, credits: now.forfeit.credits });
    } else if (now.forfeit && lot.forfeit && now.forfeit.credits > lot.forfeit.credits) {
      kept.push({ lot, amount: now.forfeit.credits - lot.forfeit.credits });
    } else if (now.remaining < lot.remaining) {
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
    forfeited,
    unforfeited: [],
    // C20: a spend that takes from an upcoming lot come due records its grant first (spend).
    released: read.lots.filter((lot) => lot.upcoming && !after.get(lot.id)?.upcoming),
    cancelled: [],
    reclaimed: [],
    entries,
    holds: { returned, kept, placed: plan.placed, ended: plan.ended, restores: plan.restores },
  };
}
