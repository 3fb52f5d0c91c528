import type { CutLot, DowngradeRecord, EndCut } from './downgrades';
import {
  type Hold,
  type HoldChange,
  holdsAfter,
  lotsWithReturns,
  mergeHoldChanges,
} from './hold-change';
import { type Burn, bookBalance, type Lot, type LotTake } from './lots';
import type { PurchaseRecord } from './purchase';
import type { RefundedMonth } from './refunded-months';

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
  /** C22/C23: credits a reversal took back from lots (-), or gave back as a lot (+). */
  reversal: 'reversal',
  /**
   * C23: the customer's debt moved. A reversal that found too little records what it could not
   * take (amount -n, debt +n); a grant that repays it, or an undone reversal that cancels it,
   * records debt -n with the amount that keeps balance - debt = the ledger's sum (C14).
   */
  debt: 'debt',
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
  /** C23: how much the entry changed the customer's debt (+ more owed, - repaid or cancelled). */
  readonly debt?: number;
};

/**
 * An entry as written. `balanceAfter` is the customer's book balance after it, as its writer
 * read the lots: the running sum of the ledger whenever the customer's writes do not overlap.
 * Two writes that overlap (concurrent spends of one hot customer) each report the balance
 * they saw; the ledger's sum is exact either way (C14).
 */
export type LedgerEntry = EntryDraft & {
  readonly balanceAfter: number;
  /** C23: the customer's debt after the entry, on entries that moved it. */
  readonly debtAfter?: number;
};

/** What the rules remember about one subscription (C7, C8, C10). */
export type SubscriptionFacts = {
  /** The start of the earliest period a paid invoice granted for (C7: active from then). */
  readonly activeSinceMs?: number;
  readonly endedAtMs?: number;
  /** Creation time of its earliest invoice with money paid (C10: a trial's first purchase). */
  readonly firstPaidMs?: number;
  /** Creation time of a $0 first invoice (C18: a trial or a 100% coupon). */
  readonly freeStartMs?: number;
  /**
   * C19/C16: the subscription's downgrades (by invoice id) and what each cut, so that every
   * delivery cuts as in Stripe's order (lib/credits/downgrades.ts).
   */
  readonly downgrades?: Readonly<Record<string, DowngradeRecord>>;
  /** C7/C19/C16: what the end cancelled after it, for downgrades delivered after the end. */
  readonly endCuts?: readonly EndCut[];
  /** C19/C16: months downgrades cut to nothing, by lot id, kept to give a moved cut back. */
  readonly cutLots?: Readonly<Record<string, CutLot>>;
  /**
   * C19/C22/C16: what reversals took from its months, by lot id, so that a downgrade delivered
   * later cuts them as in Stripe's order (lib/credits/refunded-months.ts).
   */
  readonly refunded?: Readonly<Record<string, RefundedMonth>>;
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
  /**
   * C23: what the customer owes, by the purchase whose reversal created it (so that undoing
   * that reversal cancels its own debt first), oldest first when repaid. Absent: never owed.
   */
  readonly debts?: Readonly<Record<string, Debt>>;
};

/** C23: credits owed because a reversal found them spent; repaid by later grants. */
export type Debt = { readonly credits: number; readonly atMs: number };

/** The whole of what the customer owes (C23). */
export function totalDebt(facts: CustomerFacts): number {
  return Object.values(facts.debts ?? {}).reduce((sum, debt) => sum + debt.credits, 0);
}

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
  /**
   * The purchase records (lib/credits/purchase.ts) the command asked to read, by purchase id:
   * only grants and reversals read them, so they stay out of every other read.
   */
  readonly purchases?: ReadonlyMap<string, PurchaseRecord>;
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

/**
 * Credits removed from a lot that was never granted, or from one before its grant (C19); a
 * negative amount gives back to a month still to come a cut that moved elsewhere.
 */
export type LotCancel = { readonly lot: Lot; readonly amount: number };

/**
 * What one decision does to one customer. The store writes it in one transaction (with the
 * command's fact), each part conditioned on what the decision read:
 * - `created`: new lot items (absent before); an upcoming one with its due marker (C20);
 * - `taken`: credits taken from lots, a drained lot deleted (its credit exactly as read);
 * - `forfeited`: lots whose credit an end takes (exactly as read), kept as records; a record
 *   keeps `credits` when given (credits given back to the lot as it is taken, C26), else the
 *   lot's remaining credit;
 * - `unforfeited`: such records given back their credit (C8: the forfeit was wrong);
 * - `released`: upcoming lots whose grant time has come, entering the ledger (C20);
 * - `cancelled`: credits removed from lots never granted (C7, C19), a lot with none left gone;
 * - `reclaimed`: expired lots deleted (exactly as read);
 * - `facts`: the new facts, written only if `version` is still the one read;
 * - `purchases`: purchase records (C22-C24) as they are to be written, each `version` one more
 *   than the one read, so that two writers of one record cannot both succeed.
 */
export type StateChange = {
  readonly customerId: string;
  readonly created: readonly Lot[];
  readonly taken: readonly LotTake[];
  readonly forfeited: readonly {
    readonly lot: Lot;
    readonly by: string;
    readonly credits?: number;
  }[];
  readonly unforfeited: readonly Lot[];
  readonly released: readonly Lot[];
  readonly cancelled: readonly LotCancel[];
  readonly reclaimed: readonly Lot[];
  readonly entries: readonly LedgerEntry[];
  readonly facts?: CustomerFacts;
  readonly purchases?: readonly PurchaseRecord[];
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

/**
 * Fills in the drafts' running balance (and debt, C23) and checks that they explain the lots
 * and the debt exactly: the amounts move `bookBalance - debt` (C14), so an entry moves the book
 * by its amount plus its debt.
 */
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
  const debtMoved = totalDebt(parts.facts ?? state.facts) - totalDebt(state.facts);
  let balance = bookBalance(state.lots);
  let debt = totalDebt(state.facts);
  const entries = parts.drafts.map((draft) => {
    balance += draft.amount + (draft.debt ?? 0);
    debt += draft.debt ?? 0;
    return {
      ...draft,
      balanceAfter: balance,
      ...(draft.debt !== undefined && { debtAfter: debt }),
    };
  });
  const moved = bookMovement(lotParts);
  const draftsDebt = debt - totalDebt(state.facts);
  if (balance - bookBalance(state.lots) !== moved || draftsDebt !== debtMoved) {
    // The entries must explain the lots and the debt exactly (C14); anything else is a bug.
    throw new Error(
      `ledger drafts move ${balance - bookBalance(state.lots)}, lots move ${moved}; debt ` +
        `drafts move ${draftsDebt}, facts ${debtMoved} (${state.customerId}: ${JSON.stringify(lotParts, (_key, value) => (typeof value === 'object' && value && 'granted' in value ? `${value.id}:${value.remaining}${value.upcoming ? ' upcoming' : ''}` : value))})`,
    );
  }
  return {
    customerId: state.customerId,
    ...lotParts,
    entries,
    ...(parts.facts && { facts: parts.facts }),
    ...(parts.purchases && parts.purchases.length > 0 && { purchases: parts.purchases }),
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
  for (const { lot: forfeited, by, credits } of change.forfeited) {
    update(forfeited.id, (lot) => ({
      ...lot,
      remaining: 0,
      forfeit: { by, credits: credits ?? lot.remaining },
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
  const after = {
    ...state,
    lots: lotsAfter(state, change),
    facts: change.facts ?? state.facts,
    ...(holds && { holds }),
  };
  if (!change.purchases) return after;
  const purchases = new Map(state.purchases);
  for (const record of change.purchases) purchases.set(record.id, record);
  return { ...after, purchases };
}

/**
 * One change that does `first` and then `second` (decided on `stateAfter(first)`). One
 * transaction writes an item once, so what `second` does to a lot `first` created or took from
 * is folded into that write (a grant's lot that repays a debt or a pending reversal at once,
 * C22/C23), as is a take from a lot `first` released (the store writes both as one).
 */
export function mergeChanges(first: StateChange, second: StateChange): StateChange {
  if (first.customerId !== second.customerId || first.quiet !== second.quiet) {
    throw new Error('only changes of one customer, written the same way, merge');
  }
  const folded = foldIntoFirst(first, second);
  const releasedFirst = new Set(first.released.map((lot) => lot.id));
  const touched = new Set(lotIdsOf(first));
  const twice = lotIdsOf(folded.rest).find(
    (id) =>
      touched.has(id) &&
      !(releasedFirst.has(id) && folded.rest.taken.some((take) => take.lot.id === id)),
  );
  if (twice !== undefined) throw new Error(`lot ${twice} is changed twice in one transaction`);
  const rest = folded.rest;
  const facts = second.facts ?? first.facts;
  const holds = mergeHoldChanges(first.holds, second.holds);
  const purchases = mergePurchases(first.purchases, second.purchases);
  return {
    customerId: first.customerId,
    created: [...folded.created, ...rest.created],
    taken: [...folded.taken, ...rest.taken],
    forfeited: [...first.forfeited, ...rest.forfeited],
    unforfeited: [...first.unforfeited, ...rest.unforfeited],
    released: [...first.released, ...rest.released],
    cancelled: [...folded.cancelled, ...rest.cancelled],
    reclaimed: [...first.reclaimed, ...rest.reclaimed],
    entries: [...first.entries, ...second.entries],
    ...(facts && { facts }),
    ...(purchases && { purchases }),
    ...(first.quiet && { quiet: true }),
    ...(holds && { holds }),
  };
}

/**
 * `first`'s created lots and takes with `second`'s takes and cancellations of those lots applied
 * to them (a created lot left with nothing is not created at all), and what else `second` does.
 */
function foldIntoFirst(first: StateChange, second: StateChange) {
  const created = new Map(first.created.map((lot) => [lot.id, lot]));
  const dropped = new Set<string>();
  const taken = new Map(first.taken.map((take) => [take.lot.id, take]));
  // A created lot left with nothing is not created at all (no lot is ever kept at 0).
  const reduce = (lot: Lot, credits: number, granted: number) => {
    if (lot.remaining - credits > 0) {
      created.set(lot.id, { ...lot, granted: granted, remaining: lot.remaining - credits });
    } else {
      created.delete(lot.id);
      dropped.add(lot.id);
    }
  };
  const restTaken: LotTake[] = [];
  for (const take of second.taken) {
    const lot = created.get(take.lot.id);
    const earlier = taken.get(take.lot.id);
    if (lot) reduce(lot, take.amount, lot.granted);
    else if (earlier) {
      const amount = earlier.amount + take.amount;
      taken.set(take.lot.id, { lot: earlier.lot, amount, drains: take.drains });
    } else restTaken.push(take);
  }
  // A month to come that both cut: one write, of both amounts, on the month as read.
  const cancelled = new Map(first.cancelled.map((cancel) => [cancel.lot.id, cancel]));
  const restCancelled: LotCancel[] = [];
  for (const cancel of second.cancelled) {
    const lot = created.get(cancel.lot.id);
    const earlier = cancelled.get(cancel.lot.id);
    if (lot) reduce(lot, cancel.amount, lot.granted - cancel.amount);
    else if (earlier?.lot.upcoming && cancel.lot.upcoming) {
      cancelled.set(cancel.lot.id, { lot: earlier.lot, amount: earlier.amount + cancel.amount });
    } else restCancelled.push(cancel);
  }
  if ([...second.created].some((lot) => dropped.has(lot.id))) {
    throw new Error('a lot dropped by a merge is created again');
  }
  return {
    created: [...created.values()],
    taken: [...taken.values()],
    cancelled: [...cancelled.values()].filter((cancel) => cancel.amount !== 0),
    rest: { ...second, taken: restTaken, cancelled: restCancelled },
  };
}

function mergePurchases(
  first: readonly PurchaseRecord[] | undefined,
  second: readonly PurchaseRecord[] | undefined,
): PurchaseRecord[] | undefined {
  if (!first && !second) return undefined;
  const byId = new Map<string, PurchaseRecord>();
  for (const record of first ?? []) byId.set(record.id, record);
  // A record written by both is written once, as the second left it, from the first's read.
  for (const record of second ?? []) {
    const earlier = byId.get(record.id);
    byId.set(record.id, earlier ? { ...record, version: earlier.version } : record);
  }
  return [...byId.values()];
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
