import type { LotSource } from './lots';

/**
 * What the rules keep about one purchase for the reversals of its money (C22-C24): what its
 * grant gave and what was paid, its reversals by natural key, and how much has been taken back
 * so far. One record per purchase (an invoice, or a Checkout Session without one), written by
 * the grant and by every reversal, read only by them (lib/store keeps it out of the state every
 * other command reads). A reversal delivered before its grant writes the record without
 * `granted`; the grant then applies what the reversals ask (C16).
 */
export type PurchaseRecord = {
  /** The purchase's natural key: the invoice id, else the Checkout Session's (C21). */
  readonly id: string;
  readonly customerId: string;
  /** 0 before the record is first written; every write increments it. */
  readonly version: number;
  /** Absent until the purchase's grant has been applied. */
  readonly granted?: PurchaseGrant;
  /** Every reversal of the purchase's money, by its natural key, undone or not. */
  readonly reversals: Readonly<Record<string, ReversalFact>>;
  /** C22/C24: credits the purchase and the referee's bonus have lost so far (lots and debt). */
  readonly lost: number;
  /** C24: credits taken from the referrer's bonus lot so far (never debt). */
  readonly referrerTaken: number;
  /**
   * What the purchase's grant answers, kept while it takes back the reversals delivered before
   * it (C16) over several transactions: present, it says the grant's lots are all written and
   * its fact is not; the grant's last take-back writes the fact with it and removes it.
   */
  readonly settlingGrant?: Readonly<Record<string, unknown>>;
};

export type PurchaseGrant = {
  /** C22: every credit the purchase granted, the months not yet granted included (C20). */
  readonly credits: number;
  /** C22: the money paid for it, in minor units; 0 leaves nothing to take back. */
  readonly amountPaid: number;
  /** When the purchase's own lots expire (the latest): a give-back lives as long (C23). */
  readonly expiresAtMs: number;
  /** The source of the purchase's own lots, for such a give-back. */
  readonly source: LotSource;
  readonly subscriptionId?: string;
  /** C24: the payment a pack bought without an invoice was paid by (refunds name it). */
  readonly paymentIntentId?: string;
  /** C24: the referral the purchase redeemed, whose two bonuses go back in the same proportion. */
  readonly referral?: ReferralOfPurchase;
};

export type ReferralOfPurchase = {
  readonly referrerId: string;
  /** C11: the referee's bonus (its lot is one of the purchase's own). */
  readonly bonus: number;
  /** C11: the referrer's bonus, 0 when the referrer got none. */
  readonly referrerBonus: number;
  /** The referrer's bonus lot: the only place the referrer's share is taken from (C24). */
  readonly referrerLotId: string;
  readonly referrerExpiresAtMs: number;
};

/** One reversal of a purchase (C22), by its natural key: a refund, a dispute, a credit note. */
export type ReversalFact = {
  /** Money gone back, in the purchase's minor units. */
  readonly amount: number;
  /** Stripe's time of the reversal (C22). */
  readonly atMs: number;
  /** C23: set once the reversal is undone (a dispute won, a refund failed); never unset. */
  readonly undoneAtMs?: number;
};

export function emptyRecord(customerId: string, id: string): PurchaseRecord {
  return { id, customerId, version: 0, reversals: {}, lost: 0, referrerTaken: 0 };
}

/**
 * The record with one more reversal, or one undone. An undo seen before its reversal (Stripe
 * delivered `funds_reinstated` first) is kept as an undone reversal, so that the reversal,
 * when it arrives, changes nothing: the outcome does not depend on the order (C16).
 */
export function withReversal(
  record: PurchaseRecord,
  key: string,
  reversal: { amount: number; atMs: number; undo: boolean },
): PurchaseRecord {
  const known = record.reversals[key];
  const fact: ReversalFact = reversal.undo
    ? {
        amount: known?.amount ?? reversal.amount,
        atMs: known?.atMs ?? reversal.atMs,
        undoneAtMs: reversal.atMs,
      }
    : (known ?? { amount: reversal.amount, atMs: reversal.atMs });
  return { ...record, reversals: { ...record.reversals, [key]: fact } };
}

/** C22: the money reversed so far, the reversals not undone, at most what was paid. */
export function amountReversed(record: PurchaseRecord): number {
  const active = Object.values(record.reversals).filter((each) => each.undoneAtMs === undefined);
  const sum = active.reduce((total, each) => total + each.amount, 0);
  return Math.min(sum, record.granted?.amountPaid ?? 0);
}

/**
 * C22: `floor(credits x reversed / paid)`, in exact integer arithmetic (credits times cents may
 * pass 2^53).
 */
export function proportionalLoss(credits: number, reversed: number, paid: number): number {
  if (paid <= 0 || reversed <= 0 || credits <= 0) return 0;
  const capped = Math.min(reversed, paid);
  return Number((BigInt(credits) * BigInt(capped)) / BigInt(paid));
}

/** C22/C24: what the purchase and the referee's bonus should have lost, given its reversals. */
export function refereeTarget(record: PurchaseRecord): number {
  const granted = record.granted;
  if (!granted) return 0;
  const reversed = amountReversed(record);
  return (
    proportionalLoss(granted.credits, reversed, granted.amountPaid) +
    proportionalLoss(granted.referral?.bonus ?? 0, reversed, granted.amountPaid)
  );
}

/** C24: what the referrer's bonus should have lost (taken only while the lot holds it). */
export function referrerTarget(record: PurchaseRecord): number {
  const granted = record.granted;
  if (!granted) return 0;
  const bonus = granted.referral?.referrerBonus ?? 0;
  return proportionalLoss(bonus, amountReversed(record), granted.amountPaid);
}

/** The latest time among the record's reversals: when a grant that arrives late applies them. */
export function latestReversalMs(record: PurchaseRecord): number {
  const times = Object.values(record.reversals).map((each) => each.undoneAtMs ?? each.atMs);
  return times.length === 0 ? 0 : Math.max(...times);
}
