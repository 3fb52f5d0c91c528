/**
 * What the processor tells others (C27, DESIGN.md "Published events"): the EventBridge
 * `detail-type`s and the one table that says which ledger entry type becomes which. A new
 * entry type needs one line in ENTRY_EVENTS; until it has one, its entries are still published
 * (see detailTypeOfEntry), never dropped or held back.
 */
export const EVENT_SOURCE = 'image-credits';

export const DetailType = {
  granted: 'credits.granted',
  consumed: 'credits.consumed',
  held: 'credits.held',
  released: 'credits.released',
  restored: 'credits.restored',
  expired: 'credits.expired',
  forfeited: 'credits.forfeited',
  reversed: 'credits.reversed',
  debt: 'credits.debt',
  adjusted: 'credits.adjusted',
  referralRewarded: 'referral.rewarded',
  referralRejected: 'referral.rejected',
  low: 'credits.low',
  expiring: 'credits.expiring',
} as const;
export type DetailType = (typeof DetailType)[keyof typeof DetailType];

type EntryEvent = {
  readonly detailType: DetailType;
  /** Whether this entry can take the balance below LOW_BALANCE_THRESHOLD (`credits.low`). */
  readonly canRunLow?: true;
};

/**
 * Ledger entry type (C13, lib/credits/state.ts EntryType) -> its event. The types after
 * `adjustment` are those the hold, restore and reversal rules (C22-C26) write.
 */
export const ENTRY_EVENTS: Readonly<Record<string, EntryEvent>> = {
  grant: { detailType: DetailType.granted },
  referral_bonus: { detailType: DetailType.referralRewarded },
  consumption: { detailType: DetailType.consumed, canRunLow: true },
  expiry: { detailType: DetailType.expired },
  forfeit: { detailType: DetailType.forfeited },
  adjustment: { detailType: DetailType.adjusted },
  // A hold takes credits out of the spendable balance too; give it canRunLow once its entries'
  // balanceAfter is the spendable balance.
  hold: { detailType: DetailType.held },
  release: { detailType: DetailType.released },
  restore: { detailType: DetailType.restored },
  reversal: { detailType: DetailType.reversed },
  debt: { detailType: DetailType.debt },
};

/**
 * The event of an entry type. A type this table does not know yet (a rule added without its
 * line here) goes out as `credits.adjusted`, the generic "credits changed" of the list, with
 * its own `type` in the detail: subscribers still see every change, and `known: false` lets
 * the publisher log that a line is missing.
 */
export function entryEventOf(type: string): EntryEvent & { readonly known: boolean } {
  const known = Object.hasOwn(ENTRY_EVENTS, type) ? ENTRY_EVENTS[type] : undefined;
  return known ? { ...known, known: true } : { detailType: DetailType.adjusted, known: false };
}

/**
 * The `detail` of every published event. `id` is the same on every redelivery of the same
 * change, so subscribers drop duplicates by it. `sequence` is the entry's place in the
 * customer's ledger (its sort key), which orders one customer's events whatever order
 * EventBridge delivers them in; notices carry the sequence of what caused them, if anything.
 */
export type EventDetail = {
  readonly id: string;
  readonly customerId: string;
  /** The ledger entry's type, or the notice's (`low_balance`, `expiring`, `referral_rejected`). */
  readonly type: string;
  /** Signed credits the entry moved; for `credits.expiring`, the credits that will expire. */
  readonly amount: number;
  /** The balance after the entry as its writer saw it; null where no balance was read. */
  readonly balanceAfter: number | null;
  /** When it happened in Stripe's or the caller's time (C4), ISO-8601. */
  readonly at: string;
  /** The cause: invoice, subscription, lot, the caller's idempotency key (C13). */
  readonly ref: string;
  readonly sequence?: string;
  readonly entryId?: string;
  readonly reason?: string;
  readonly lotId?: string;
  readonly expiresAt?: string;
  readonly threshold?: number;
};

export type CreditsEvent = {
  readonly detailType: DetailType;
  readonly detail: EventDetail;
  /** EventBridge's `Time`: when the change was recorded; absent, when it is put. */
  readonly time?: string;
};
