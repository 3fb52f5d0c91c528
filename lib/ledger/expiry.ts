import { type Account, expire } from '../credits/account';
import { accountIn, type CommandResult, runCommand } from '../store/command';
import type { LedgerDeps } from './deps';

export type ExpiryOutcome = { readonly expiredLots: number; readonly expiredCredits: number };

/** What expiring `account` at `atMs` would reclaim, without writing (dry runs, planning). */
export function plannedExpiry(account: Account, atMs: number): ExpiryOutcome {
  const change = expire(account, atMs);
  return {
    expiredLots: change?.entries.length ?? 0,
    // 0 - sum, not -sum: an empty run must report 0, not -0 (Object.is and stored outcomes differ).
    expiredCredits: 0 - (change?.entries.reduce((sum, entry) => sum + entry.amount, 0) ?? 0),
  };
}

/**
 * C6: records every lot of the customer expired at `atMs` as an expiry entry and reclaims it.
 * Idempotent through the account's version alone: a lot, once reclaimed, is gone, so a rerun
 * or a concurrent run finds nothing left to expire. `preloaded` (the expiry job's index
 * projection) saves the first read; a stale one loses the version condition and is re-read.
 */
export function expireCustomer(
  deps: LedgerDeps,
  customerId: string,
  atMs: number,
  options: { readonly preloaded?: Account } = {},
): Promise<CommandResult<ExpiryOutcome>> {
  return runCommand<ExpiryOutcome>(
    deps,
    {
      customerIds: [customerId],
      ...(options.preloaded && { preloaded: new Map([[customerId, options.preloaded]]) }),
      decide(accounts) {
        const account = accountIn(accounts, customerId);
        const change = expire(account, atMs);
        const outcome = plannedExpiry(account, atMs);
        return change ? { kind: 'apply', changes: [change], outcome } : { kind: 'refuse', outcome };
      },
    },
    deps.clock,
  );
}
