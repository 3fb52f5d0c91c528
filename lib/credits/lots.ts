import { addCalendarMonthsMs, lotExpiresAtMs } from './time';

/** Why a lot exists; derived union instead of an enum, as in Powertools. */
export const LotSource = {
  subscription: 'subscription',
  referralBonus: 'referral_bonus',
  adjustment: 'adjustment',
  /** C21: a one-time credit pack. */
  pack: 'pack',
} as const;
export type LotSource = (typeof LotSource)[keyof typeof LotSource];

/** One grant of credits, spent down over time until it expires (C4). */
export type Lot = {
  readonly id: string;
  readonly source: LotSource;
  readonly granted: number;
  readonly remaining: number;
  readonly grantedAtMs: number;
  readonly expiresAtMs: number;
  /** The cause: invoice id, referee customer id, ops idempotency key. */
  readonly ref: string;
  /**
   * Set when a subscription's end took the lot's credits (C7): which, and how many. The lot is
   * kept, with nothing left, as the record of what was taken until it expires.
   */
  readonly forfeit?: { readonly by: string; readonly credits: number };
  /**
   * Written without touching the customer's account item (a referrer's bonus, C12), so that
   * the referees of one referrer never write a common item; the account's lot count leaves it
   * out (see lib/store/lot-cache.ts for what that means for cached spends).
   */
  readonly quiet?: boolean;
  /** The subscription whose invoice granted it (C7: an end cancels its lots not yet granted). */
  readonly subscriptionId?: string;
  /**
   * C19: when Stripe billed the purchase that granted it (its invoice's creation), so that a
   * downgrade cuts only what was billed before it, as in Stripe's order, whatever the delivery
   * order (lib/credits/downgrades.ts). Absent on other lots and on lots stored before it was
   * recorded: those count as billed before every downgrade.
   */
  readonly purchasedAtMs?: number;
  /**
   * C19: a month of an invoice's top-up (its positive prorations), which the tie rule of `cuts`
   * (changes.ts) tells apart from a plan's months. Lots stored before it was recorded carry the
   * mark in their id instead (`isTopUp`).
   */
  readonly topUp?: true;
  /**
   * C20: granted in the future (a month of an annual plan), so not yet in the ledger. It becomes
   * spendable at its grant time by time alone; the next write or the daily job records it.
   */
  readonly upcoming?: true;
};

/**
 * A lot written quietly (a referrer's bonus) is granted no earlier than this before its
 * writer's clock; a later one is written with the account's knowledge instead. Spends planned
 * on a cached state rely on it (lib/store/lot-cache.ts).
 */
export const QUIET_GRANT_WINDOW_MS = 10 * 60_000;

export function newLot(fields: {
  id: string;
  source: LotSource;
  credits: number;
  grantedAtMs: number;
  ref: string;
  subscriptionId?: string;
  purchasedAtMs?: number;
  topUp?: boolean;
  /** Default: 3 calendar months after the grant (C4); a pack lives 12 (C21). */
  lifetimeMonths?: number;
}): Lot {
  return {
    id: fields.id,
    source: fields.source,
    granted: fields.credits,
    remaining: fields.credits,
    grantedAtMs: fields.grantedAtMs,
    expiresAtMs:
      fields.lifetimeMonths === undefined
        ? lotExpiresAtMs(fields.grantedAtMs)
        : addCalendarMonthsMs(fields.grantedAtMs, fields.lifetimeMonths),
    ref: fields.ref,
    ...(fields.subscriptionId !== undefined && { subscriptionId: fields.subscriptionId }),
    ...(fields.purchasedAtMs !== undefined && { purchasedAtMs: fields.purchasedAtMs }),
    ...(fields.topUp && { topUp: true as const }),
  };
}

/** C6: a lot is spendable and counted only strictly before its expiry. */
export function isExpiredAt(lot: Lot, nowMs: number): boolean {
  return nowMs >= lot.expiresAtMs;
}

/** C6/C14: credits that can be spent at `nowMs`: granted by then, not expired, not forfeited. */
export function isSpendableAt(lot: Lot, nowMs: number): boolean {
  return lot.grantedAtMs <= nowMs && !isExpiredAt(lot, nowMs) && lot.remaining > 0;
}

/** C5: soonest expiry first; ties broken by grant time, then id, so burns are deterministic. */
export function byBurnOrder(a: Lot, b: Lot): number {
  return a.expiresAtMs - b.expiresAtMs || a.grantedAtMs - b.grantedAtMs || compare(a.id, b.id);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** C14: what a customer can spend at `nowMs` is the remaining credit of spendable lots. */
export function spendableBalance(lots: readonly Lot[], nowMs: number): number {
  return lots.reduce((sum, lot) => (isSpendableAt(lot, nowMs) ? sum + lot.remaining : sum), 0);
}

/**
 * What the ledger says the customer holds: every lot not yet reclaimed, expired or not, but
 * for upcoming lots (C20), which enter the ledger when they are granted.
 */
export function bookBalance(lots: readonly Lot[]): number {
  return lots.reduce((sum, lot) => (lot.upcoming ? sum : sum + lot.remaining), 0);
}

/** How many credits a change moved in or out of one lot (recorded on ledger entries). */
export type Burn = { readonly lotId: string; readonly amount: number };

/** One lot a spend takes from: `drains` when it takes everything that was left. */
export type LotTake = { readonly lot: Lot; readonly amount: number; readonly drains: boolean };

/**
 * C5/C15: takes `amount` credits from the lots spendable at `nowMs`, soonest expiry first.
 * Returns null when they hold fewer than `amount` (all or nothing).
 */
export function planBurn(lots: readonly Lot[], amount: number, nowMs: number): LotTake[] | null {
  if (spendableBalance(lots, nowMs) < amount) return null;
  let left = amount;
  const takes: LotTake[] = [];
  for (const lot of lots.filter((each) => isSpendableAt(each, nowMs)).sort(byBurnOrder)) {
    if (left === 0) break;
    const take = Math.min(left, lot.remaining);
    left -= take;
    takes.push({ lot, amount: take, drains: take === lot.remaining });
  }
  return takes;
}

/** The lots expired at `nowMs` that still exist, soonest first (C6: the job reclaims them). */
export function expiredLots(lots: readonly Lot[], nowMs: number): Lot[] {
  return lots.filter((lot) => isExpiredAt(lot, nowMs)).sort(byBurnOrder);
}

/**
 * C20: the upcoming lots whose grant time has come by `nowMs`, to be recorded in the ledger;
 * one that has expired too is the expiry's to record (lib/credits/changes.ts `expire`).
 */
export function dueLots(lots: readonly Lot[], nowMs: number): Lot[] {
  return lots
    .filter((lot) => lot.upcoming && lot.grantedAtMs <= nowMs && !isExpiredAt(lot, nowMs))
    .sort(byBurnOrder);
}

/**
 * C7/C8: a subscription ending at `endedAtMs` forfeits the credits of the lots granted at or
 * before that moment. Lots already expired by then are left for the expiry job, so the ledger
 * reads the same whether the job ran before the cancellation arrived or after.
 */
export function forfeitableAt(lots: readonly Lot[], endedAtMs: number): Lot[] {
  return lots
    .filter(
      (lot) => lot.grantedAtMs <= endedAtMs && !isExpiredAt(lot, endedAtMs) && lot.remaining > 0,
    )
    .sort(byBurnOrder);
}
