import { type Account, expire, MAX_LOTS_PER_EXPIRY } from '../credits/account';
import { accountIn, type CommandResult, runCommand } from '../store/command';
import type { LedgerDeps } from './deps';

export type ExpiryOutcome = { readonly expiredLots: number; readonly expiredCredits: number };

/** What expiring `account` at `atMs` would reclaim, without writing (dry runs, planning). */
export function plannedExpiry(
  account: Account,
  atMs: number,
  maxLots = Number.POSITIVE_INFINITY,
): ExpiryOutcome {
  const change = expire(account, atMs, maxLots);
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
export async function expireCustomer(
  deps: LedgerDeps,
  customerId: string,
  atMs: number,
  options: { readonly preloaded?: Account } = {},
): Promise<CommandResult<ExpiryOutcome>> {
  let result = await expireBatch(deps, customerId, atMs, options.preloaded);
  let total = result.outcome;
  // A customer with more expired lots than one transaction holds is reclaimed in batches.
  while (result.outcome.expiredLots === MAX_LOTS_PER_EXPIRY && !result.dryRun) {
    result = await expireBatch(deps, customerId, atMs, undefined);
    total = {
      expiredLots: total.expiredLots + result.outcome.expiredLots,
      expiredCredits: total.expiredCredits + result.outcome.expiredCredits,
    };
  }
  return { ...result, status: total.expiredLots > 0 ? 'applied' : result.status, outcome: total };
}

function expireBatch(
  deps: LedgerDeps,
  customerId: string,
  atMs: number,
  preloaded: Account | undefined,
): Promise<CommandResult<ExpiryOutcome>> {
  return runCommand<ExpiryOutcome>(
    deps,
    {
      customerIds: [customerId],
      ...(preloaded && { preloaded: new Map([[customerId, preloaded]]) }),
      decide(accounts) {
        const account = accountIn(accounts, customerId);
        const change = expire(account, atMs);
        // A dry run reports every lot it would reclaim, not only the first batch.
        const outcome = plannedExpiry(account, atMs, deps.dryRun ? undefined : MAX_LOTS_PER_EXPIRY);
        return change ? { kind: 'apply', changes: [change], outcome } : { kind: 'refuse', outcome };
      },
    },
    deps.clock,
  );
}
