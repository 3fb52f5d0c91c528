import {
  type Hold,
  type HoldChange,
  holdsAfter,
  lotsWithReturns,
  mergeHoldChanges,
} from './hold-change';
import {
  type Burn,
  bookBalance,
  expiredLots,
  forfeitableAt,
  type Lot,
  type LotTake,
  planBurn,
  spendableBalance,
} from './lots';

/** Why a ledger entry exists (C13). */
export const EntryType = {
  grant: 'grant',
  referralBonus: 'referral_bonus',
  consumption: 'consumption',
  expiry: 'expiry',
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

/** What the rules remember about one subscription (C7, C8, C12). */
export type SubscriptionFacts = {
  /** The start of the earliest period it was granted for. */
  readonly activeSinceMs?: number;
  readonly endedAtMs?: number;
};

/** The customer's facts other than lots: small, and changed only by Stripe events and codes. */
export type CustomerFacts = {
  /** The earliest paid invoice seen (C10/C12: who counts as a new customer). */
  readonly firstPaidInvoice?: { readonly id: string; readonly atMs: number };
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

/**
 * What one decision does to one customer. The store writes it in one transaction (with the
 * command's fact), each part conditioned on what the decision read:
 * - `created`: new lot items (absent before);
 * - `taken`: credits taken from lots, a drained lot deleted (its credit exactly as read);
 * - `forfeited`: lots whose credit is taken by a subscription's end (exactly as read);
 * - `reclaimed`: expired lots deleted (exactly as read);
 * - `facts`: the new facts, written only if `version` is still the one read.
 */
export type StateChange = {
  readonly customerId: string;
  readonly created: readonly Lot[];
  readonly taken: readonly LotTake[];
  readonly forfeited: readonly { readonly lot: Lot; readonly by: string }[];
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

/** Fills in the drafts' running balance and checks that they explain the lots exactly (C14). */
export function changeOf(state: CustomerState, parts: ChangeParts): StateChange {
  const created = parts.created ?? [];
  const taken = parts.taken ?? [];
  const forfeited = parts.forfeited ?? [];
  const reclaimed = parts.reclaimed ?? [];
  let balance = bookBalance(state.lots);
  const entries = parts.drafts.map((draft) => {
    balance += draft.amount;
    return { ...draft, balanceAfter: balance };
  });
  const moved =
    bookBalance(created) -
    taken.reduce((sum, take) => sum + take.amount, 0) -
    bookBalance(forfeited.map((each) => each.lot)) -
    bookBalance(reclaimed);
  if (balance - bookBalance(state.lots) !== moved) {
    // The entries must explain the lots exactly (C14); anything else is a bug, not an outcome.
    throw new Error(`ledger drafts move ${balance - bookBalance(state.lots)}, lots move ${moved}`);
  }
  return {
    customerId: state.customerId,
    created,
    taken,
    forfeited,
    reclaimed,
    entries,
    ...(parts.facts && { facts: parts.facts }),
    ...(parts.quiet && { quiet: true }),
  };
}

/** The lots as they are after `change` (a cache or a follow-up decision reads them). */
export function lotsAfter(state: CustomerState, change: StateChange): Lot[] {
  const gone = new Set([
    ...change.reclaimed.map((lot) => lot.id),
    ...change.taken.filter((take) => take.drains).map((take) => take.lot.id),
  ]);
  const partial = new Map(change.taken.map((take) => [take.lot.id, take.amount]));
  const forfeited = new Map(change.forfeited.map((each) => [each.lot.id, each.by]));
  const kept = state.lots
    .filter((lot) => !gone.has(lot.id))
    .map((lot) => {
      const by = forfeited.get(lot.id);
      if (by !== undefined)
        return { ...lot, remaining: 0, forfeit: { by, credits: lot.remaining } };
      const take = partial.get(lot.id);
      return take === undefined ? lot : { ...lot, remaining: lot.remaining - take };
    });
  // Credits given back (C25/C26) go to lots no part above touched: holds.ts nets each lot.
  return lotsWithReturns([...kept, ...change.created], change.holds);
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

type EntryBase = {
  readonly id: string;
  readonly type: EntryType;
  readonly atMs: number;
  readonly ref: string;
  readonly reason?: string;
};

/**
 * Adds new lots with one entry (subscription grant, bonus, adjustment). C7/C8/C16: a lot granted
 * at or before the end of a subscription this customer has already ended (and still alive at
 * that end) would have been forfeited had Stripe delivered the grant first, so it arrives
 * forfeited: the outcome does not depend on delivery order.
 */
export function grantLots(
  state: CustomerState,
  entry: EntryBase,
  lots: readonly Lot[],
  extra: { facts?: CustomerFacts; quiet?: boolean } = {},
): StateChange {
  const known = new Set(state.lots.map((lot) => lot.id));
  for (const lot of lots) {
    if (known.has(lot.id)) throw new LotExistsError(state.customerId, lot.id);
  }
  const grant: EntryDraft = {
    ...entry,
    amount: lots.reduce((sum, lot) => sum + lot.granted, 0),
    lots: lots.map((lot) => ({ lotId: lot.id, amount: lot.granted })),
  };
  const forfeits = forfeitedOnArrival(state.facts.subscriptions, lots, entry.id);
  const taken = new Map(forfeits.flatMap(({ by, lots: each }) => each.map((lot) => [lot.id, by])));
  const created = lots.map((lot) => {
    const by = taken.get(lot.id);
    return by === undefined ? lot : { ...lot, remaining: 0, forfeit: { by, credits: lot.granted } };
  });
  return changeOf(state, {
    created,
    drafts: [grant, ...forfeits.map((each) => each.draft)],
    ...(extra.facts && { facts: extra.facts }),
    ...(extra.quiet && { quiet: true }),
  });
}

/** The recorded end that takes a lot's credits (C7/C8), if any. */
type TakingEnd = { readonly subscriptionId: string; readonly endedAtMs: number };

/**
 * C7/C8: the end that takes `lot`: the earliest recorded end at or after its grant while it
 * was still alive (forfeitableAt). Undefined for a lot granted after every end, or already
 * forfeited, or with nothing left.
 */
function endTaking(
  lot: Lot,
  subscriptions: Readonly<Record<string, SubscriptionFacts>>,
): TakingEnd | undefined {
  if (lot.forfeit || lot.remaining <= 0) return undefined;
  let taking: TakingEnd | undefined;
  for (const [subscriptionId, facts] of Object.entries(subscriptions)) {
    const endedAtMs = facts.endedAtMs;
    if (endedAtMs === undefined || forfeitableAt([lot], endedAtMs).length === 0) continue;
    if (!taking || endedAtMs < taking.endedAtMs) taking = { subscriptionId, endedAtMs };
  }
  return taking;
}

/** One forfeit entry per end that takes some of `lots`, each dated at its end. */
function forfeitsByEnd(
  subscriptions: Readonly<Record<string, SubscriptionFacts>>,
  lots: readonly Lot[],
  entryId: string,
) {
  const byEnd = new Map<string, { endedAtMs: number; lots: Lot[] }>();
  for (const lot of lots) {
    const end = endTaking(lot, subscriptions);
    if (!end) continue;
    const group = byEnd.get(end.subscriptionId) ?? { endedAtMs: end.endedAtMs, lots: [] };
    group.lots.push(lot);
    byEnd.set(end.subscriptionId, group);
  }
  return [...byEnd].map(([subscriptionId, group]) => ({
    by: subscriptionId,
    lots: group.lots,
    draft: {
      id: `${entryId}#forfeit#${subscriptionId}`,
      type: EntryType.forfeit,
      amount: -bookBalance(group.lots),
      atMs: group.endedAtMs,
      ref: subscriptionId,
      lots: group.lots.map((lot) => ({ lotId: lot.id, amount: lot.remaining })),
    } satisfies EntryDraft,
  }));
}

function forfeitedOnArrival(
  subscriptions: Readonly<Record<string, SubscriptionFacts>>,
  lots: readonly Lot[],
  entryId: string,
) {
  return forfeitsByEnd(subscriptions, lots, entryId);
}

/**
 * The lots as the rules see them: a lot that a recorded end takes (C7/C8) counts as forfeited
 * even when no forfeit was written for it. That happens for a referrer's bonus written quietly
 * (without the referrer's account, lib/credits/referral.ts) while the referrer's subscription
 * was ending: neither write saw the other. Like an expired lot (C6), such a lot is never spent
 * nor counted, and the next write that touches the customer's account (a grant, an end, an
 * adjustment, the expiry job) records its forfeit (settlePendingForfeits).
 */
export function effectiveLots(state: CustomerState): Lot[] {
  return state.lots.map((lot) => {
    const end = endTaking(lot, state.facts.subscriptions);
    return end
      ? { ...lot, remaining: 0, forfeit: { by: end.subscriptionId, credits: lot.remaining } }
      : lot;
  });
}

/**
 * The forfeits the rules imply but nobody wrote (see effectiveLots), as a change, with the
 * state after it; a decision that writes the account starts from that state and merges the
 * change into its own.
 */
export function settlePendingForfeits(state: CustomerState): {
  state: CustomerState;
  change?: StateChange;
} {
  const pending = forfeitsByEnd(state.facts.subscriptions, state.lots, 'forfeit#pending');
  if (pending.length === 0) return { state };
  const change = changeOf(state, {
    forfeited: pending.flatMap(({ by, lots }) => lots.map((lot) => ({ lot, by }))),
    drafts: pending.map(({ draft, lots }) => ({ ...draft, id: `forfeit#${lots[0]?.id}` })),
  });
  return { state: stateAfter(state, change), change };
}

/** `second` after `first` when there is a first (see settlePendingForfeits). */
export function afterPending(first: StateChange | undefined, second: StateChange): StateChange {
  return first ? mergeChanges(first, second) : second;
}

/** C15: takes `amount` from spendable lots in burn order, or refuses and changes nothing. */
export function spend(
  state: CustomerState,
  entry: EntryBase & { readonly amount: number },
): StateChange | InsufficientCredits {
  const lots = effectiveLots(state);
  const takes = planBurn(lots, entry.amount, entry.atMs);
  if (!takes) {
    return { error: 'insufficient_credits', balance: spendableBalance(lots, entry.atMs) };
  }
  const { amount, ...base } = entry;
  return changeOf(state, {
    taken: takes,
    drafts: [
      {
        ...base,
        amount: -amount,
        lots: takes.map((take) => ({ lotId: take.lot.id, amount: take.amount })),
      },
    ],
  });
}

/**
 * How many lots one expiry change reclaims at most: each is a ledger entry and a lot item, and
 * they must fit in one DynamoDB transaction (100 items) with the account.
 */
export const MAX_LOTS_PER_EXPIRY = 40;

/**
 * C6: reclaims the lots expired at `nowMs`, soonest first, one entry per lot with credit left
 * (dated at its expiry); at most `maxLots` of them, so that the change fits in one transaction.
 */
export function expire(
  state: CustomerState,
  nowMs: number,
  maxLots = MAX_LOTS_PER_EXPIRY,
): StateChange | null {
  const reclaimed = expiredLots(state.lots, nowMs).slice(0, maxLots);
  if (reclaimed.length === 0) return null;
  const drafts: EntryDraft[] = reclaimed
    .filter((lot) => lot.remaining > 0)
    .map((lot) => ({
      id: `expiry#${lot.id}`,
      type: EntryType.expiry,
      amount: -lot.remaining,
      atMs: lot.expiresAtMs,
      ref: lot.id,
      lots: [{ lotId: lot.id, amount: lot.remaining }],
    }));
  return changeOf(state, { reclaimed, drafts });
}

/** How many lots one subscription end forfeits per transaction, for the same reason. */
export const MAX_LOTS_PER_FORFEIT = 40;

/**
 * C7/C8: a subscription ended at `endedAtMs`; the customer forfeits what was granted up to
 * then, and the subscription is remembered as ended so that it never grants again. At most
 * MAX_LOTS_PER_FORFEIT lots per change: `more` says another change must follow.
 */
export function endSubscription(
  state: CustomerState,
  subscription: { id: string; endedAtMs: number; entryId: string },
): { change: StateChange; more: boolean } {
  const all = forfeitableAt(state.lots, subscription.endedAtMs);
  const forfeited = all.slice(0, MAX_LOTS_PER_FORFEIT);
  const previous = state.facts.subscriptions[subscription.id] ?? {};
  const facts: CustomerFacts = {
    ...state.facts,
    subscriptions: {
      ...state.facts.subscriptions,
      [subscription.id]: { ...previous, endedAtMs: subscription.endedAtMs },
    },
  };
  const drafts: EntryDraft[] =
    forfeited.length === 0
      ? []
      : [
          {
            id: `${subscription.entryId}#${forfeited[0]?.id}`,
            type: EntryType.forfeit,
            amount: -bookBalance(forfeited),
            atMs: subscription.endedAtMs,
            ref: subscription.id,
            lots: forfeited.map((lot) => ({ lotId: lot.id, amount: lot.remaining })),
          },
        ];
  const change = changeOf(state, {
    forfeited: forfeited.map((lot) => ({ lot, by: subscription.id })),
    drafts,
    facts,
  });
  return { change, more: all.length > forfeited.length };
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
  const facts = second.facts ?? first.facts;
  const holds = mergeHoldChanges(first.holds, second.holds);
  return {
    customerId: first.customerId,
    created: [...first.created, ...second.created],
    taken: [...first.taken, ...second.taken],
    forfeited: [...first.forfeited, ...second.forfeited],
    reclaimed: [...first.reclaimed, ...second.reclaimed],
    entries: [...first.entries, ...second.entries],
    ...(facts && { facts }),
    ...(first.quiet && { quiet: true }),
    ...(holds && { holds }),
  };
}
