import { itemsAtMost } from '../credits/batches';
import { expireSettled, MAX_ITEMS_PER_EXPIRY, settleByTime } from '../credits/changes';
import { recordLapses } from '../credits/holds';
import { expiredLots } from '../credits/lots';
import { type CustomerState, EntryType, type StateChange, stateAfter } from '../credits/state';
import {
  type CommandResult,
  CommandStatus,
  type RunOptions,
  runCommand,
  stateIn,
} from '../store/command';
import type { LedgerDeps } from './deps';

export type ExpiryOutcome = {
  readonly expiredLots: number;
  readonly expiredCredits: number;
  /** C25: holds lapsed by the run's time that it recorded (present only when some were). */
  readonly lapsedHolds?: number;
};

/**
 * C6: records every lot of the customer expired at `atMs` as an expiry entry and reclaims it.
 * Idempotent through the state alone: a lot, once reclaimed, is gone, so a rerun or a
 * concurrent run finds nothing left to expire (each deletion is conditioned on the lot being
 * as read). More expired lots than one transaction holds are reclaimed in batches.
 * Holds lapsed by `atMs` (C25) are recorded first, in batches of their own, so that every lot
 * gets back what a lapse gives it before it is reclaimed: a lot alive at a hold's expiry holds
 * its credits again from then, and expires with them.
 */
export async function expireCustomer(
  deps: LedgerDeps,
  customerId: string,
  atMs: number,
  options: RunOptions = {},
): Promise<CommandResult<ExpiryOutcome>> {
  let total = { expiredLots: 0, expiredCredits: 0, lapsedHolds: 0 };
  for (;;) {
    const { outcome, ...result } = await expireBatch(deps, customerId, atMs, options);
    total = {
      expiredLots: total.expiredLots + outcome.expiredLots,
      expiredCredits: total.expiredCredits + outcome.expiredCredits,
      lapsedHolds: total.lapsedHolds + (outcome.lapsedHolds ?? 0),
    };
    // A dry run reports every lot it would reclaim at once; a run goes on while expired lots
    // are left, and after a batch of lapses.
    const lapses = outcome.lapsedHolds !== undefined;
    if (result.dryRun || (!lapses && !outcome.more)) {
      // `refused` when no credit expired, even if records of forfeited lots were cleared.
      const status = total.expiredLots > 0 ? CommandStatus.applied : CommandStatus.refused;
      const { lapsedHolds, ...expired } = total;
      return {
        ...result,
        status,
        outcome: { ...expired, ...(lapsedHolds > 0 && { lapsedHolds }) },
      };
    }
  }
}

/** A batch's outcome also says whether expired lots are left for another batch. */
type BatchOutcome = ExpiryOutcome & { readonly more: boolean };

const nothingExpired = { expiredLots: 0, expiredCredits: 0, more: false } as const;

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
        const read = stateIn(states, customerId);
        // C25: lapsed holds first, alone; a dry run counts on the lots as they would leave.
        const lapses = recordLapses(read, atMs, { all: options.dryRun === true });
        if (lapses && !options.dryRun) {
          const outcome = { ...nothingExpired, lapsedHolds: lapses.holds };
          return { kind: 'apply', changes: [lapses.change], outcome };
        }
        const after = lapses ? stateAfter(read, lapses.change) : read;
        const change = settleAndExpire(
          after,
          atMs,
          options.dryRun ? Number.POSITIVE_INFINITY : MAX_ITEMS_PER_EXPIRY,
        );
        if (!change) return { kind: 'refuse', outcome: nothingExpired };
        const expiries = change.entries.filter((entry) => entry.type === EntryType.expiry);
        const outcome = {
          // A forfeited lot kept as a record has nothing left to expire: no entry, no count.
          expiredLots: expiries.length,
          more: expiredLots(stateAfter(after, change).lots, atMs).length > 0,
          // 0 - sum, not -sum: an empty run must report 0, not -0.
          expiredCredits: 0 - expiries.reduce((sum, entry) => sum + entry.amount, 0),
          ...(lapses && { lapsedHolds: lapses.holds }),
        };
        return { kind: 'apply', changes: [change], outcome };
      },
    },
    options,
  );
}

/**
 * One expiry transaction's change: what time alone has settled first (upcoming lots now
 * granted, C20; forfeits the facts imply but nobody wrote, C7), then the expiry (C6) within
 * what that leaves of `maxItems`: forfeits pending since an end (up to 40 lots) and a full
 * expiry would not fit in one transaction together. The expiry reclaims one lot at least.
 */
export function settleAndExpire(
  state: CustomerState,
  atMs: number,
  maxItems: number,
): StateChange | undefined {
  const { change: pending } = settleByTime(state, atMs);
  return expireSettled(state, pending, atMs, maxItems - itemsAtMost(pending));
}
