import {
  type Hold,
  type HoldChange,
  holdsAfter,
  lotsWithReturns,
  mergeHoldChanges,
} from './hold-change';
import { type Burn, bookBalance, type Lot, type LotTake } from './lots';

/** Why a ledger entry exists (C13). */
export const EntryType = {
  grant: 'grant',
  referralBonus: 'referral_bonus',
  consumption: 'consumption',
  expiry: 'expiry',
  /** Negative when an end takes credits (C7); positive when a later grant undoes that (C8). */
  forfeit: 'forfeit',
  adjustment: 'adjustment',
  // C25/C26 (lib/credits/holds.ts): credits kept for a job, given back from a hold, given back
  // after a consumption.
  hold: 'hold',
  release: 'release',
  restore: 'restore',
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

/** An immutable record of one change to a customer's credits (C13), before it is numbered. */
export type EntryDraft = {
  /** Unique within the customer, from the command's natural key: the entry's id forever (C27). */
  readonly id: string;
  readonly type: EntryType;
  /** Signed, in credits: positive adds, negative takes away. */
  readonly amount: number;
  readonly atMs: number;
  /** The cause: invoice, subscription, lot, or the caller's idempotency key. */
  readonly ref: string;
  readonly reason?: string;
  /** How the amount moved between lots. */
  readonly lots: readonly Burn[];
};

/**
 * An entry as written. `balanceAfter` is the customer's book balance after it, as its writer
 * read the lots: the running sum of the ledger whenever the customer's writes do not overlap.
 * Two writes that overlap (concurrent spends of one hot customer) each report the balance
 * they saw; the ledger's sum is exact either way (C14).
 */
export type LedgerEntry = EntryDraft & { readonly balanceAfter: number };

/** What the rules remember about one subscription (C7, C8, C10). */
export type SubscriptionFacts = {
  /** The start of the earliest period a paid invoice granted for (C7: active from then). */
  readonly activeSinceMs?: number;
  readonly endedAtMs?: number;
  /** Creation time of its earliest invoice with money paid (C10: a trial's first purchase). */
  readonly firstPaidMs?: number;
  /** Creation time of a $0 first invoice (C18: a trial or a 100% coupon). */
  readonly freeStartMs?: number;
};

/** The customer's facts other than lots: small, and changed only by Stripe events and codes. */
export type CustomerFacts = {
  /** The earliest purchase seen (C10: money paid; C12: who counts as a new customer). */
  readonly firstPurchase?: { readonly id: string; readonly atMs: number };
  readonly referralCode?: string;
  /** C12: set once, on the customer's one redemption. */
  readonly redemption?: {
    readonly code: string;
    readonly referrerId: string;
    readonly invoiceId: string;
  };
  readonly subscriptions: Readonly<Record<string, SubscriptionFacts>>;
};

/**
 * Everything a decision about one customer reads: the facts (guarded by `version`), the lots,
 * and the lot set's own counters. Spends never change the facts, so they never race grants
 * or ends on `version`; they only condition on the lots they take.
 */
export type CustomerState = {
  readonly customerId: string;
  /** 0 for a customer never written; every change of the facts increments it. */
  readonly version: number;
  /** Incremented whenever a lot is created or deleted (a spend's cache checks it). */
  readonly lotsVersion: number;
  /** Lots created with the account item's knowledge (every lot but quiet ones). */
  readonly lotCount: number;
  readonly lots: readonly Lot[];
  readonly facts: CustomerFacts;
  /** C25: the holds stored, live or lapsed but not yet recorded (lib/credits/holds.ts). */
  readonly holds?: readonly Hold[];
};

export function emptyState(customerId: string): CustomerState {
  return {
    customerId,
    version: 0,
    lotsVersion: 0,
    lotCount: 0,
    lots: [],
    facts: { subscriptions: {} },
  };
}

/** Credits removed from a lot that was never granted, or from one before its grant (C19). */
export type LotCancel = { readonly lot: Lot; readonly amount: number };

/**
 * What one decision does to one customer. The store writes it in one transaction (with the
 * command's fact), each part conditioned on what the decision read:
 * - `created`: new lot items (absent before); an upcoming one with its due marker (C20);
 * - `taken`: credits taken from lots, a drained lot deleted (its credit exactly as read);
 * - `forfeited`: lots whose credit an end takes (exactly as read), kept as records;
 * - `unforfeited`: such records given back their credit (C8: the forfeit was wrong);
 * - `released`: upcoming lots whose grant time has come, entering the ledger (C20);
 * - `cancelled`: credits removed from lots never granted (C7, C19), a lot with none left gone;
 * - `reclaimed`: expired lots deleted (exactly as read);
 * - `facts`: the new facts, written only if `version` is still the one read.
 */
export type StateChange = {
  readonly customerId: string;
  readonly created: readonly Lot[];
  readonly taken: readonly LotTake[];
  readonly forfeited: readonly { readonly lot: Lot; readonly by: string }[];
  readonly unforfeited: readonly Lot[];
  readonly released: readonly Lot[];
  readonly cancelled: readonly LotCancel[];
  readonly reclaimed: readonly Lot[];
  readonly entries: readonly LedgerEntry[];
  readonly facts?: CustomerFacts;
  /** Lots and entries only, without the account item (a referrer's bonus). */
  readonly quiet?: boolean;
  /** C25/C26: holds placed and ended, credits given back to lots (lib/credits/holds.ts). */
  readonly holds?: HoldChange;
};

type ChangeParts = Partial<Omit<StateChange, 'customerId' | 'entries'>> & {
  readonly drafts: readonly EntryDraft[];
};

/** How many credits a change moves into (+) or out of (-) the book (bookBalance). */
function bookMovement(change: Omit<StateChange, 'customerId' | 'entries'>): number {
  const sum = (values: readonly number[]) => values.reduce((total, value) => total + value, 0);
  return (
    bookBalance(change.created) -
    sum(change.taken.map((take) => take.amount)) -
    sum(change.forfeited.map((each) => each.lot.remaining)) +
    sum(change.unforfeited.map((lot) => lot.forfeit?.credits ?? 0)) +
    sum(change.released.map((lot) => lot.remaining)) -
    sum(change.cancelled.filter((each) => !each.lot.upcoming).map((each) => each.amount)) -
    bookBalance(change.reclaimed)
  );
}

/** Fills in the drafts' running balance and checks that they explain the lots exactly (C14). */
export function changeOf(state: CustomerState, parts: ChangeParts): StateChange {
  const lotParts = {
    created: parts.created ?? [],
    taken: parts.taken ?? [],
    forfeited: parts.forfeited ?? [],
    unforfeited: parts.unforfeited ?? [],
    released: parts.released ?? [],
    cancelled: parts.cancelled ?? [],
    reclaimed: parts.reclaimed ?? [],
  };
  let balance = bookBalance(state.lots);
  const entries = parts.drafts.map((draft) => {
    balance += draft.amount;
    return { ...draft, balanceAfter: balance };
  });
  const moved = bookMovement(lotParts);
  if (balance - bookBalance(state.lots) !== moved) {
    // The entries must explain the lots exactly (C14); anything else is a bug, not an outcome.
    throw new Error(
      `ledger drafts move ${balance - bookBalance(state.lots)}, lots move ${moved} ` +
        `(${state.customerId}: ${JSON.stringify(lotParts, (_key, value) => (typeof value === 'object' && value && 'granted' in value ? `${value.id}:${value.remaining}${value.upcoming ? ' upcoming' : ''}` : value))})`,
    );
  }
  return {
    customerId: state.customerId,
    ...lotParts,
    entries,
    ...(parts.facts && { facts: parts.facts }),
    ...(parts.quiet && { quiet: true }),
    ...(parts.holds && { holds: parts.holds }),
  };
}

/** The lots as they are after `change` (a cache or a follow-up decision reads them). */
export function lotsAfter(state: CustomerState, change: StateChange): Lot[] {
  const byId = new Map(state.lots.map((lot) => [lot.id, lot]));
  const update = (id: string, next: (lot: Lot) => Lot | undefined) => {
    const lot = byId.get(id);
    if (!lot) return;
    const after = next(lot);
    if (after) byId.set(id, after);
    else byId.delete(id);
  };
  for (const lot of change.reclaimed) byId.delete(lot.id);
  for (const take of change.taken) {
    update(take.lot.id, (lot) =>
      take.drains ? undefined : { ...lot, remaining: lot.remaining - take.amount },
    );
  }
  for (const { lot: forfeited, by } of change.forfeited) {
    update(forfeited.id, (lot) => ({
      ...lot,
      remaining: 0,
      forfeit: { by, credits: lot.remaining },
    }));
  }
  for (const restored of change.unforfeited) {
    update(restored.id, ({ forfeit, ...lot }) => ({ ...lot, remaining: forfeit?.credits ?? 0 }));
  }
  for (const released of change.released) {
    update(released.id, ({ upcoming: _upcoming, ...lot }) => lot);
  }
  for (const { lot: cancelled, amount } of change.cancelled) {
    update(cancelled.id, (lot) =>
      amount >= lot.remaining
        ? undefined
        : { ...lot, granted: lot.granted - amount, remaining: lot.remaining - amount },
    );
  }
  for (const lot of change.created) byId.set(lot.id, lot);
  // Credits given back (C25/C26) go to lots no part above touched: give-back.ts nets each lot.
  return lotsWithReturns([...byId.values()], change.holds);
}

/** The state a second decision reads after `change` (e.g. a redemption after its grant). */
export function stateAfter(state: CustomerState, change: StateChange): CustomerState {
  const holds = holdsAfter(state.holds, change.holds);
  return {
    ...state,
    lots: lotsAfter(state, change),
    facts: change.facts ?? state.facts,
    ...(holds && { holds }),
  };
}

/** One change that does `first` and then `second` (decided on `stateAfter(first)`). */
export function mergeChanges(first: StateChange, second: StateChange): StateChange {
  if (first.customerId !== second.customerId || first.quiet !== second.quiet) {
    throw new Error('only changes of one customer, written the same way, merge');
  }
  // One transaction may write an item once: a lot both changes touch cannot merge, but for a
  // lot released by the first and taken from by the second, which the store writes as one.
  const releasedFirst = new Set(first.released.map((lot) => lot.id));
  const touched = new Set(lotIdsOf(first));
  const twice = lotIdsOf(second).find(
    (id) =>
      touched.has(id) &&
      !(releasedFirst.has(id) && second.taken.some((take) => take.lot.id === id)),
  );
  if (twice !== undefined) throw new Error(`lot ${twice} is changed twice in one transaction`);
  const facts = second.facts ?? first.facts;
  const holds = mergeHoldChanges(first.holds, second.holds);
  return {
    customerId: first.customerId,
    created: [...first.created, ...second.created],
    taken: [...first.taken, ...second.taken],
    forfeited: [...first.forfeited, ...second.forfeited],
    unforfeited: [...first.unforfeited, ...second.unforfeited],
    released: [...first.released, ...second.released],
    cancelled: [...first.cancelled, ...second.cancelled],
    reclaimed: [...first.reclaimed, ...second.reclaimed],
    entries: [...first.entries, ...second.entries],
    ...(facts && { facts }),
    ...(first.quiet && { quiet: true }),
    ...(holds && { holds }),
  };
}

function lotIdsOf(change: StateChange): string[] {
  return [
    ...change.created.map((lot) => lot.id),
    ...change.taken.map((take) => take.lot.id),
    ...change.forfeited.map((each) => each.lot.id),
    ...change.unforfeited.map((lot) => lot.id),
    ...change.released.map((lot) => lot.id),
    ...change.cancelled.map((each) => each.lot.id),
    ...change.reclaimed.map((lot) => lot.id),
  ];
}

/** `second` after `first` when there is a first (a decision's preliminary settling). */
export function afterPending(first: StateChange | undefined, second: StateChange): StateChange {
  return first ? mergeChanges(first, second) : second;
}

/** Runs `next` on the state after `first` and merges the two (either may be absent). */
export function andThen(
  state: CustomerState,
  first: StateChange | undefined,
  next: (after: CustomerState) => StateChange | undefined,
): { state: CustomerState; change?: StateChange } {
  const after = first ? stateAfter(state, first) : state;
  const second = next(after);
  const change = first && second ? mergeChanges(first, second) : (first ?? second);
  return { state: change ? stateAfter(state, change) : state, ...(change && { change }) };
}

/**
 * A lot that is already there: the state read shows a grant applied while its fact was not
 * yet visible (a Query is not a snapshot, so a concurrent writer can land in between). The
 * command store treats it as a lost race and reads again.
 */
export class LotExistsError extends Error {
  constructor(customerId: string, lotId: string) {
    super(`lot ${lotId} already exists for ${customerId}`);
    this.name = 'LotExistsError';
  }
}

export type InsufficientCredits = {
  readonly error: 'insufficient_credits';
  readonly balance: number;
};

export function isInsufficient(value: unknown): value is InsufficientCredits {
  return (value as InsufficientCredits | null)?.error === 'insufficient_credits';
}

/** An entry before its amount and lots, which the rule fills in. */
export type EntryBase = {
  readonly id: string;
  readonly type: EntryType;
  readonly atMs: number;
  readonly ref: string;
  readonly reason?: string;
};
