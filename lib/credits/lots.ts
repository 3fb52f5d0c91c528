import { lotExpiresAtMs } from './time';

/** Why a lot exists; derived union instead of an enum, as in Powertools. */
export const LotSource = {
  subscription: 'subscription',
  referralBonus: 'referral_bonus',
  adjustment: 'adjustment',
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
};

export function newLot(fields: {
  id: string;
  source: LotSource;
  credits: number;
  grantedAtMs: number;
  ref: string;
}): Lot {
  return {
    id: fields.id,
    source: fields.source,
    granted: fields.credits,
    remaining: fields.credits,
    grantedAtMs: fields.grantedAtMs,
    expiresAtMs: lotExpiresAtMs(fields.grantedAtMs),
    ref: fields.ref,
  };
}

/** C6: a lot is spendable and counted only strictly before its expiry. */
export function isExpiredAt(lot: Lot, nowMs: number): boolean {
  return nowMs >= lot.expiresAtMs;
}

/** C5: soonest expiry first; ties broken by grant time, then id, so burns are deterministic. */
export function byBurnOrder(a: Lot, b: Lot): number {
  return a.expiresAtMs - b.expiresAtMs || a.grantedAtMs - b.grantedAtMs || compare(a.id, b.id);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** C14: what a customer can spend at `nowMs` is the remaining credit of unexpired lots. */
export function spendableBalance(lots: readonly Lot[], nowMs: number): number {
  return lots.reduce((sum, lot) => (isExpiredAt(lot, nowMs) ? sum : sum + lot.remaining), 0);
}

/** What the ledger says the customer holds: every lot not yet reclaimed, expired or not. */
export function bookBalance(lots: readonly Lot[]): number {
  return lots.reduce((sum, lot) => sum + lot.remaining, 0);
}

export type Burn = { readonly lotId: string; readonly amount: number };

/**
 * Takes `amount` credits from the unexpired lots in burn order (C5). Returns null when they
 * hold fewer than `amount` (C15: all or nothing). Lots that reach zero are dropped.
 */
export function burn(
  lots: readonly Lot[],
  amount: number,
  nowMs: number,
): { lots: Lot[]; burns: Burn[] } | null {
  if (spendableBalance(lots, nowMs) < amount) return null;
  let left = amount;
  const burns: Burn[] = [];
  const after: Lot[] = [];
  for (const lot of [...lots].sort(byBurnOrder)) {
    const take = isExpiredAt(lot, nowMs) ? 0 : Math.min(left, lot.remaining);
    left -= take;
    if (take > 0) burns.push({ lotId: lot.id, amount: take });
    if (lot.remaining - take > 0) after.push({ ...lot, remaining: lot.remaining - take });
  }
  return { lots: after, burns };
}

/** Splits lots into those expired at `nowMs` and those still alive (C6). */
export function partitionExpired(lots: readonly Lot[], nowMs: number) {
  const expired = lots.filter((lot) => isExpiredAt(lot, nowMs)).sort(byBurnOrder);
  const alive = lots.filter((lot) => !isExpiredAt(lot, nowMs));
  return { expired, alive };
}

/**
 * C7/C8: a subscription ending at `endedAtMs` forfeits the lots granted at or before that
 * moment. Lots already expired by then are left for the expiry job, so the ledger reads the
 * same whether the job ran before the cancellation arrived or after.
 */
export function partitionForfeited(lots: readonly Lot[], endedAtMs: number) {
  const forfeited = lots
    .filter((lot) => lot.grantedAtMs <= endedAtMs && !isExpiredAt(lot, endedAtMs))
    .sort(byBurnOrder);
  const kept = lots.filter((lot) => !forfeited.includes(lot));
  return { forfeited, kept };
}

/** The soonest expiry among the lots, which the expiry index is keyed on. */
export function nextExpiryMs(lots: readonly Lot[]): number | undefined {
  return lots.length === 0 ? undefined : Math.min(...lots.map((lot) => lot.expiresAtMs));
}
