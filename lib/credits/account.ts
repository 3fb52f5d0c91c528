import {
  type Burn,
  bookBalance,
  burn,
  type Lot,
  partitionExpired,
  partitionForfeited,
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
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

/** An immutable record of one change to a customer's credits (C13). */
export type LedgerEntry = {
  readonly seq: number;
  readonly type: EntryType;
  /** Signed, in credits: positive adds, negative takes away. */
  readonly amount: number;
  /** The book balance after this entry: the running sum of all amounts (C14). */
  readonly balanceAfter: number;
  readonly atMs: number;
  /** The cause: invoice, subscription, lot, or the caller's idempotency key. */
  readonly ref: string;
  readonly reason?: string;
  /** How the amount moved between lots. */
  readonly lots: readonly Burn[];
};

export type EntryDraft = Omit<LedgerEntry, 'seq' | 'balanceAfter'>;

/**
 * Everything the processor keeps about one customer in one item: the live lots and the facts
 * the rules need at the next decision (which subscriptions ended, whether they ever paid).
 * A customer holds a handful of live lots at most (three months of grants plus bonuses), so
 * reading and rewriting the whole state in one conditional write stays small and atomic.
 */
export type Account = {
  readonly customerId: string;
  /** 0 for a customer never written; every write increments it (optimistic locking). */
  readonly version: number;
  readonly ledgerSeq: number;
  readonly lots: readonly Lot[];
  /** C8: subscription id -> when it ended. */
  readonly endedSubscriptions: Readonly<Record<string, number>>;
  /** Subscription id -> when its first grant's period started; a referrer needs one (C12). */
  readonly activeSubscriptions: Readonly<Record<string, number>>;
  /** The earliest paid invoice seen (C10/C12: who counts as a new customer). */
  readonly firstPaidInvoice?: { readonly id: string; readonly atMs: number };
  readonly referralCode?: string;
  /** C12: set once, on the customer's one redemption. */
  readonly redemption?: {
    readonly code: string;
    readonly referrerId: string;
    readonly invoiceId: string;
  };
};

export function emptyAccount(customerId: string): Account {
  return {
    customerId,
    version: 0,
    ledgerSeq: 0,
    lots: [],
    endedSubscriptions: {},
    activeSubscriptions: {},
  };
}

/** A new state for one account and the ledger entries that explain it. */
export type Change = { readonly account: Account; readonly entries: readonly LedgerEntry[] };

/** Numbers the drafts after the account's last entry and fills in the running balance. */
export function withEntries(
  before: Account,
  after: Account,
  drafts: readonly EntryDraft[],
): Change {
  let balance = bookBalance(before.lots);
  const entries = drafts.map((draft, index) => {
    balance += draft.amount;
    return { ...draft, seq: before.ledgerSeq + index + 1, balanceAfter: balance };
  });
  if (balance !== bookBalance(after.lots)) {
    // The entries must explain the lots exactly (C14); anything else is a bug, not an outcome.
    throw new Error(`ledger drafts (${balance}) disagree with lots (${bookBalance(after.lots)})`);
  }
  return { account: { ...after, ledgerSeq: before.ledgerSeq + drafts.length }, entries };
}

/**
 * A lot that is already there: the state read shows a grant applied while its fact was read as
 * absent (a multi-item read is not a snapshot, so a concurrent writer can land in between).
 * The command store treats it as a lost race and reads again.
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

/**
 * Adds new lots with one entry of the given type (subscription grant, bonus, adjustment).
 * C7/C8/C16: a lot granted at or before the end of a subscription this customer has already
 * ended (and still alive at that end) would have been forfeited had Stripe delivered the grant
 * first, so it is forfeited on arrival: the outcome does not depend on delivery order.
 */
export function addLots(
  account: Account,
  entry: { type: EntryType; atMs: number; ref: string; reason?: string },
  lots: readonly Lot[],
): Change {
  const known = new Set(account.lots.map((lot) => lot.id));
  for (const lot of lots) {
    if (known.has(lot.id)) throw new LotExistsError(account.customerId, lot.id);
  }
  const amount = lots.reduce((sum, lot) => sum + lot.granted, 0);
  const grant: EntryDraft = {
    ...entry,
    amount,
    lots: lots.map((lot) => ({ lotId: lot.id, amount: lot.granted })),
  };
  const forfeits = forfeitedOnArrival(account.endedSubscriptions, lots);
  const forfeited = new Set(forfeits.flatMap((draft) => draft.lots.map((burn) => burn.lotId)));
  const kept = lots.filter((lot) => !forfeited.has(lot.id));
  return withEntries(account, { ...account, lots: [...account.lots, ...kept] }, [
    grant,
    ...forfeits,
  ]);
}

/** One forfeit entry per ended subscription whose end takes some of the arriving lots. */
function forfeitedOnArrival(
  endedSubscriptions: Readonly<Record<string, number>>,
  lots: readonly Lot[],
): EntryDraft[] {
  // The earliest end that covers a lot is the one that would have taken it.
  const ends = Object.entries(endedSubscriptions).sort(([, a], [, b]) => a - b);
  const bySubscription = new Map<string, { endedAtMs: number; lots: Lot[] }>();
  for (const lot of lots) {
    const end = ends.find(
      ([, endedAtMs]) => partitionForfeited([lot], endedAtMs).forfeited.length > 0,
    );
    if (!end) continue;
    const [subscriptionId, endedAtMs] = end;
    const group = bySubscription.get(subscriptionId) ?? { endedAtMs, lots: [] };
    group.lots.push(lot);
    bySubscription.set(subscriptionId, group);
  }
  return [...bySubscription].map(([subscriptionId, group]) => ({
    type: EntryType.forfeit,
    amount: -group.lots.reduce((sum, lot) => sum + lot.granted, 0),
    atMs: group.endedAtMs,
    ref: subscriptionId,
    lots: group.lots.map((lot) => ({ lotId: lot.id, amount: lot.granted })),
  }));
}

/** C15: takes `amount` from unexpired lots in burn order, or refuses and changes nothing. */
export function spend(
  account: Account,
  entry: { type: EntryType; amount: number; atMs: number; ref: string; reason?: string },
): Change | InsufficientCredits {
  const result = burn(account.lots, entry.amount, entry.atMs);
  if (!result) {
    return { error: 'insufficient_credits', balance: spendableBalance(account.lots, entry.atMs) };
  }
  const draft: EntryDraft = {
    type: entry.type,
    amount: -entry.amount,
    atMs: entry.atMs,
    ref: entry.ref,
    ...(entry.reason === undefined ? {} : { reason: entry.reason }),
    lots: result.burns,
  };
  return withEntries(account, { ...account, lots: result.lots }, [draft]);
}

/**
 * How many lots one expiry change reclaims at most: each is a ledger entry, and the account
 * plus its entries must fit in one DynamoDB transaction (100 items).
 */
export const MAX_LOTS_PER_EXPIRY = 50;

/**
 * C6: reclaims the lots expired at `nowMs`, soonest first, one entry per lot at its expiry
 * time; at most `maxLots` of them, so that the change fits in one transaction.
 */
export function expire(
  account: Account,
  nowMs: number,
  maxLots = MAX_LOTS_PER_EXPIRY,
): Change | null {
  const { expired } = partitionExpired(account.lots, nowMs);
  const reclaimed = expired.slice(0, maxLots);
  if (reclaimed.length === 0) return null;
  const drafts: EntryDraft[] = reclaimed.map((lot) => ({
    type: EntryType.expiry,
    amount: -lot.remaining,
    atMs: lot.expiresAtMs,
    ref: lot.id,
    lots: [{ lotId: lot.id, amount: lot.remaining }],
  }));
  const alive = account.lots.filter((lot) => !reclaimed.includes(lot));
  return withEntries(account, { ...account, lots: alive }, drafts);
}

/**
 * C7/C8: a subscription ended at `endedAtMs`; the customer forfeits what was granted up to
 * then, and the subscription is remembered as ended so that it never grants again.
 */
export function endSubscription(
  account: Account,
  subscription: { id: string; endedAtMs: number },
): Change {
  const { forfeited, kept } = partitionForfeited(account.lots, subscription.endedAtMs);
  const { [subscription.id]: _ended, ...stillActive } = account.activeSubscriptions;
  const after: Account = {
    ...account,
    lots: kept,
    activeSubscriptions: stillActive,
    endedSubscriptions: {
      ...account.endedSubscriptions,
      [subscription.id]: subscription.endedAtMs,
    },
  };
  const amount = forfeited.reduce((sum, lot) => sum + lot.remaining, 0);
  const drafts: EntryDraft[] =
    forfeited.length === 0
      ? []
      : [
          {
            type: EntryType.forfeit,
            amount: -amount,
            atMs: subscription.endedAtMs,
            ref: subscription.id,
            lots: forfeited.map((lot) => ({ lotId: lot.id, amount: lot.remaining })),
          },
        ];
  return withEntries(account, after, drafts);
}

export function isInsufficient(value: unknown): value is InsufficientCredits {
  return (value as InsufficientCredits | null)?.error === 'insufficient_credits';
}
