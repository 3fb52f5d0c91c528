import { QUIET_GRANT_WINDOW_MS } from '../credits/lots';
import type { CustomerState, StateChange } from '../credits/state';
import { lotExpiresAtMs } from '../credits/time';
import { deletedLots } from './transact';

/**
 * The container's memory of hot customers' lots, so that a burst of spends costs one DynamoDB
 * call each (the transaction) instead of two (a read, then the transaction).
 *
 * A spend planned on a cached state is still exact, because its transaction proves the plan:
 * - each lot it drains must hold exactly what the cache says, and the lot it takes part of
 *   at least what it takes, so credits spent or given back by others since are caught;
 * - the account's lotsVersion must be the cached one: every lot created or deleted with the
 *   account's knowledge moves it, so a lot the cache does not know cannot be skipped (C5).
 * Quiet lots (a referrer's bonus, written without the account, see lib/credits/referral.ts)
 * are the exception the last rule cannot see, so a cached plan only takes from lots that
 * expire before any quiet lot written after the cache was filled could: a quiet lot is
 * granted at most QUIET_GRANT_WINDOW_MS before its writer's clock, and its writer decided at
 * most MAX_COMMAND_MS before it committed, on a clock at most MAX_CLOCK_SKEW_MS off ours.
 * Anything else (a lot granted moments ago, a pack) is planned on a fresh read.
 *
 * Holds (C25, lib/credits/holds.ts) take credits like spends and give them back like this:
 * - credits given back to a lot that stays above 0 need no lotsVersion bump: the exact credit
 *   of a drained lot and "more than it takes" of a partial one catch them either way; a drained
 *   lot re-created does bump it (it is a lot created), and is never planned on the cache;
 * - the cached state keeps the holds it read, since a hold lapsed by the decision's time gives
 *   its credits back by time alone: a cached plan reads them back and records the lapse;
 * - a hold written since the read by another container is unknown here; it cannot lapse while
 *   the entry is used, because every hold lives at least MIN_HOLD_TTL_S (120 s), more than
 *   CACHE_TTL_MS + MAX_COMMAND_MS + MAX_CLOCK_SKEW_MS, and until it lapses it only took credits,
 *   which the conditions above catch. test/unit/credits-holds.test.ts checks the sum.
 */
export type LotCache = {
  /** The cached state for a decision at `atMs`, if one is fresh enough. */
  get(customerId: string, atMs: number): CachedState | undefined;
  /** Keeps the state a consistent read showed, as changed by the spend just written. */
  put(customerId: string, state: CustomerState, readAtMs: number): void;
  forget(customerId: string): void;
};

export type CachedState = { readonly state: CustomerState; readonly readAtMs: number };

/** A cached state is used for this long after its read, on the decision clock. */
export const CACHE_TTL_MS = 5_000;
/** Customers kept at once; the least recently filled go first. */
export const CACHE_MAX_CUSTOMERS = 1_000;
/** The longest a command may take from its decision to its commit (budgets are shorter). */
export const MAX_COMMAND_MS = 60_000;
/** How far two Lambda hosts' clocks may disagree (they are NTP-synchronised to milliseconds). */
export const MAX_CLOCK_SKEW_MS = 5_000;

export function createLotCache(): LotCache {
  const entries = new Map<string, CachedState>();
  return {
    get(customerId, atMs) {
      const entry = entries.get(customerId);
      if (!entry) return undefined;
      const ageMs = atMs - entry.readAtMs;
      if (ageMs < 0 || ageMs >= CACHE_TTL_MS) {
        entries.delete(customerId);
        return undefined;
      }
      return entry;
    },
    put(customerId, state, readAtMs) {
      entries.delete(customerId);
      entries.set(customerId, { state, readAtMs });
      if (entries.size > CACHE_MAX_CUSTOMERS) {
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) entries.delete(oldest);
      }
    },
    forget(customerId) {
      entries.delete(customerId);
    },
  };
}

/**
 * Whether a change decided on `cached` may be written on its guard alone: it only takes
 * credits, and only from lots that no quiet lot written since the read can precede (C5).
 */
export function mayPlanOnCache(cached: CachedState, change: StateChange): boolean {
  const onlyTakes =
    change.created.length === 0 &&
    change.forfeited.length === 0 &&
    change.unforfeited.length === 0 &&
    change.released.length === 0 &&
    change.cancelled.length === 0 &&
    change.reclaimed.length === 0;
  if (!onlyTakes) return false;
  const earliestQuietGrantMs =
    cached.readAtMs - QUIET_GRANT_WINDOW_MS - MAX_COMMAND_MS - MAX_CLOCK_SKEW_MS;
  const earliestQuietExpiryMs = lotExpiresAtMs(earliestQuietGrantMs);
  return change.taken.every((take) => take.lot.expiresAtMs < earliestQuietExpiryMs);
}

/** The counters after a change that passed its conditions on `before`. */
export function countersAfter(before: CustomerState, change: StateChange) {
  const deleted = deletedLots(change);
  const moves = change.created.length > 0 || deleted.length > 0;
  const counted = (lots: readonly { quiet?: boolean }[]) => lots.filter((lot) => !lot.quiet).length;
  return {
    lotsVersion: before.lotsVersion + (moves ? 1 : 0),
    lotCount: before.lotCount + counted(change.created) - counted(deleted),
  };
}
