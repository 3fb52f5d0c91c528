import { expire, MAX_LOTS_PER_EXPIRY, settleByTime } from '../credits/changes';
import { afterPending, EntryType } from '../credits/state';
import {
  type CommandResult,
  CommandStatus,
  type RunOptions,
  runCommand,
  stateIn,
} from '../store/command';
import type { LedgerDeps } from './deps';

export type ExpiryOutcome = { readonly expiredLots: number; readonly expiredCredits: number };

/**
 * C6: records every lot of the customer expired at `atMs` as an expiry entry and reclaims it.
 * Idempotent through the state alone: a lot, once reclaimed, is gone, so a rerun or a
 * concurrent run finds nothing left to expire (each deletion is conditioned on the lot being
 * as read). More expired lots than one transaction holds are reclaimed in batches.
 */
export async function expireCustomer(
  deps: LedgerDeps,
  customerId: string,
  atMs: number,
  options: RunOptions = {},
): Promise<CommandResult<ExpiryOutcome>> {
  let total: ExpiryOutcome = { expiredLots: 0, expiredCredits: 0 };
  for (;;) {
    const { outcome, ...result } = await expireBatch(deps, customerId, atMs, options);
    total = {
      expiredLots: total.expiredLots + outcome.expiredLots,
      expiredCredits: total.expiredCredits + outcome.expiredCredits,
    };
    // A dry run reports every lot it would reclaim at once; a run goes on while batches fill.
    if (result.dryRun || outcome.reclaimedLots < MAX_LOTS_PER_EXPIRY) {
      // `refused` when no credit expired, even if records of forfeited lots were cleared.
      const status = total.expiredLots > 0 ? CommandStatus.applied : CommandStatus.refused;
      return { ...result, status, outcome: total };
    }
  }
}

/** A batch's outcome also counts the lots it deleted that had nothing left (no entry). */
type BatchOutcome = ExpiryOutcome & { readonly reclaimedLots: number };

function expireBatch(
  deps: LedgerDeps,
  customerId: string,
  atMs: number,
  options: RunOptions,
): Promise<CommandResult<BatchOutcome>> {
  return runCommand<BatchOutcome>(
    deps,
    {
      label: `expiry of ${customerId}`,
      customerIds: [customerId],
      decide(states) {
        // What time alone has settled comes first: upcoming lots now granted (C20), forfeits
        // the facts imply but nobody wrote (C7).
        const { state, change: pending } = settleByTime(stateIn(states, customerId), atMs);
        const limit = options.dryRun ? Number.POSITIVE_INFINITY : MAX_LOTS_PER_EXPIRY;
        // A lot forfeited just now (alive at its end, expired since) holds nothing: one
        // transaction writes an item once, so the next run reclaims it.
        const forfeitedNow = new Set(pending?.forfeited.map(({ lot }) => lot.id));
        const reclaimable = {
          ...state,
          lots: state.lots.filter((lot) => !forfeitedNow.has(lot.id)),
        };
        const expired = expire(reclaimable, atMs, limit);
        const change = expired ? afterPending(pending, expired) : pending;
        if (!change) {
          return {
            kind: 'refuse',
            outcome: { expiredLots: 0, expiredCredits: 0, reclaimedLots: 0 },
          };
        }
        const expiries = change.entries.filter((entry) => entry.type === EntryType.expiry);
        const outcome = {
          // A forfeited lot kept as a record has nothing left to expire: no entry, no count.
          expiredLots: expiries.length,
          reclaimedLots: change.reclaimed.length,
          // 0 - sum, not -sum: an empty run must report 0, not -0.
          expiredCredits: 0 - expiries.reduce((sum, entry) => sum + entry.amount, 0),
        };
        return { kind: 'apply', changes: [change], outcome };
      },
    },
    options,
  );
}
