import * as z from 'zod';
import { toIso } from '../credits/time';
import { CreditsError, InputError } from '../errors';
import { noticeExpiringLots } from '../events/expiring';
import { parseWith } from '../input';
import type { LedgerDeps } from '../ledger/deps';
import { expireCustomer } from '../ledger/expiry';
import { createLogger, errorFields, type Logger } from '../log';
import { CommandStatus } from '../store/command';
import { expiredLotsPage } from '../store/expiry-index';
import { allLotShards } from '../store/keys';
import { meterReads } from '../store/read-meter';

/**
 * The expiry job (C6). It reads only the lots that have expired, through the sparse
 * `lotsByExpiry` index (one Query per shard page, `expiresAt <= now`), never the whole table,
 * sweeping the index's shards in parallel, and expires each customer found.
 *
 * Safe to run repeatedly, concurrently and late:
 * - an expired lot is deleted in the same transaction that writes its expiry entry, on
 *   condition that it still holds what was read, so each lot is expired once even when two
 *   runs race on one customer;
 * - an expiry entry is dated at the lot's own expiresAt, not at the run, so a late run writes
 *   the same ledger as a punctual one.
 * Out of time, it stops between customers and reports `complete: false`; the next run simply
 * continues, because every lot it finished has left the index.
 */
export type RolloverOptions = {
  readonly nowMs: number;
  readonly dryRun?: boolean;
  /** Time left before the caller (a Lambda) is killed; absent means unlimited. */
  readonly remainingTimeMs?: () => number;
  /** Stop starting new customers when less than this is left; default 30 s. */
  readonly stopWhenBelowMs?: number;
  /** Index items per Query page; default 100. */
  readonly pageSize?: number;
  /** Shards swept at once; default 4. */
  readonly concurrency?: number;
  /** Where the run's summary and per-customer faults go; default: JSON lines on stderr. */
  readonly logger?: Logger;
  /**
   * EXPIRING_NOTICE_DAYS: after expiring, mark the lots that expire within this many days for
   * `credits.expiring` (C27, lib/events/expiring.ts). Absent, or in a dry run: no notices.
   */
  readonly expiringNoticeDays?: number;
};

export type RolloverReport = {
  readonly expiredLots: number;
  readonly expiredCredits: number;
  /** C25: holds lapsed by the run's time that it recorded (their credits back in their lots). */
  readonly lapsedHolds: number;
  /** Customers who had (or, in a dry run, would have) lots expired by this run. */
  readonly customers: number;
  /** Items DynamoDB read for this run: index items plus each customer's state. */
  readonly itemsRead: number;
  readonly errors: number;
  /** False when the run stopped for time; run it again to continue. */
  readonly complete: boolean;
  /** Shards the run did not finish (only when incomplete). */
  readonly unfinishedShards?: readonly string[];
  readonly dryRun: boolean;
  readonly now: string;
  /** Lots marked for `credits.expiring` by this run (only when notices were asked for). */
  readonly expiringNotices?: number;
};

export const DEFAULT_STOP_WHEN_BELOW_MS = 30_000;

type Tally = {
  expiredLots: number;
  expiredCredits: number;
  lapsedHolds: number;
  customers: number;
  errors: number;
};

type Run = {
  readonly deps: LedgerDeps;
  readonly options: RolloverOptions;
  readonly nowIso: string;
  readonly log: Logger;
  readonly tally: Tally;
  /** Customers this run has expired already: a customer with lots on many pages is done once. */
  readonly done: Set<string>;
  outOfTime(): boolean;
};

export async function runRollover(
  deps: LedgerDeps,
  options: RolloverOptions,
): Promise<RolloverReport> {
  const meter = meterReads(deps.db);
  const stopBelowMs = options.stopWhenBelowMs ?? DEFAULT_STOP_WHEN_BELOW_MS;
  const run: Run = {
    // Expiry never uses the spend cache: its decisions must see the customer as stored.
    deps: { db: meter.db, tableName: deps.tableName, ...(deps.clock && { clock: deps.clock }) },
    options,
    nowIso: toIso(options.nowMs),
    log: options.logger ?? createLogger(),
    tally: { expiredLots: 0, expiredCredits: 0, lapsedHolds: 0, customers: 0, errors: 0 },
    done: new Set(),
    outOfTime: () => (options.remainingTimeMs ? options.remainingTimeMs() < stopBelowMs : false),
  };
  const shards = allLotShards();
  const unfinished = new Set<string>();
  let next = 0;
  const worker = async () => {
    while (next < shards.length) {
      const shard = shards[next++] as string;
      if (!(await sweepShard(run, shard))) unfinished.add(shard);
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(options.concurrency ?? 4, shards.length) }, worker),
  );
  const notices = await expiringNotices(run);
  const complete = unfinished.size === 0 && notices.complete;
  const report: RolloverReport = {
    ...run.tally,
    errors: run.tally.errors + notices.errors,
    itemsRead: meter.itemsRead(),
    complete,
    ...(notices.asked && { expiringNotices: notices.noticed }),
    ...(!complete && { unfinishedShards: shards.filter((shard) => unfinished.has(shard)) }),
    dryRun: options.dryRun === true,
    now: run.nowIso,
  };
  run.log.info(complete ? 'expiry run finished' : 'expiry run stopped for time', report);
  return report;
}

/** The notice step, when the run asks for it; it runs after expiry, in the same time budget. */
async function expiringNotices(run: Run) {
  const days = run.options.expiringNoticeDays;
  if (days === undefined || run.options.dryRun) {
    return { asked: false, noticed: 0, errors: 0, complete: true };
  }
  const report = await noticeExpiringLots(run.deps, {
    nowMs: run.options.nowMs,
    days,
    outOfTime: run.outOfTime,
    logger: run.log,
    ...(run.options.concurrency !== undefined && { concurrency: run.options.concurrency }),
  });
  return { asked: true, ...report };
}

/** Expires every customer of one shard with an expired lot; false if out of time. */
async function sweepShard(run: Run, shard: string): Promise<boolean> {
  let startKey: Record<string, unknown> | undefined;
  do {
    if (run.outOfTime()) return false;
    const page = await expiredLotsPage(run.deps, {
      shard,
      nowMs: run.options.nowMs,
      limit: run.options.pageSize ?? 100,
      ...(startKey && { startKey }),
    });
    for (const customerId of page.customerIds) {
      if (run.outOfTime()) return false;
      if (run.done.has(customerId)) continue;
      run.done.add(customerId);
      await expireOne(run, customerId);
    }
    startKey = page.nextKey;
  } while (startKey);
  return true;
}

async function expireOne(run: Run, customerId: string) {
  try {
    const result = await expireCustomer(run.deps, customerId, run.options.nowMs, {
      dryRun: run.options.dryRun === true,
    });
    // Lapsed holds are recorded before any lot expires (lib/ledger/expiry.ts), whether or not
    // a credit expired with them.
    run.tally.lapsedHolds += result.outcome.lapsedHolds ?? 0;
    // `refused` means nothing was left to expire: a concurrent run got there first.
    if (result.status !== CommandStatus.applied || result.outcome.expiredLots === 0) return;
    run.tally.customers += 1;
    run.tally.expiredLots += result.outcome.expiredLots;
    run.tally.expiredCredits += result.outcome.expiredCredits;
  } catch (error) {
    // One customer's fault (throttling, contention) must not stop the others; the lot stays
    // in the index, so the next run retries it.
    run.tally.errors += 1;
    run.done.delete(customerId);
    run.log.error('expiry failed for a customer', {
      customerId,
      error: errorFields(error),
    });
  }
}

/**
 * Thrown by the scheduled trigger when a run stopped for time or had errors, so that Lambda's
 * retries of the asynchronous invocation continue it, and its failure destination and alarm
 * hear of it when they cannot.
 */
export class RolloverIncompleteError extends CreditsError {
  readonly report: RolloverReport;
  constructor(report: RolloverReport) {
    super(`expiry run did not finish: ${JSON.stringify(report)}`, { status: 500 });
    this.report = report;
  }
}

/** The `rollover` function's input: an EventBridge scheduled event, or an ops invoke. */
const scheduledEventSchema = z.object({
  source: z.literal('aws.events'),
  'detail-type': z.string().optional(),
  time: z.iso.datetime({ offset: true, message: 'must be an ISO-8601 time' }),
});

const invokeSchema = z.strictObject(
  {
    now: z.iso
      .datetime({ offset: true, message: 'must be an ISO-8601 time, e.g. 2026-11-21T00:05:00Z' })
      .optional(),
    dryRun: z.boolean({ message: 'must be true or false' }).optional(),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `has unknown field(s) ${issue.keys.join(', ')}; expected "now" and "dryRun"`
        : undefined,
  },
);

export type RolloverRequest = {
  /** Absent: the caller's clock decides. */
  readonly nowMs?: number;
  readonly dryRun: boolean;
  /** True for the EventBridge schedule, whose failures should throw (see RolloverIncompleteError). */
  readonly scheduled: boolean;
};

/**
 * A scheduled event runs as of its `time` (the moment it was scheduled for), so a delayed
 * start or a retry of the same event expires exactly what the punctual run would have.
 */
export function parseRolloverRequest(input: unknown): RolloverRequest {
  if (isScheduledEvent(input)) {
    const event = parseWith(scheduledEventSchema, input);
    return { nowMs: Date.parse(event.time), dryRun: false, scheduled: true };
  }
  const request = parseWith(invokeSchema, input ?? {});
  return {
    ...(request.now !== undefined && { nowMs: Date.parse(request.now) }),
    dryRun: request.dryRun ?? false,
    scheduled: false,
  };
}

/**
 * How far a real run's time may be ahead of the clock: an EventBridge event's `time` is when it
 * was scheduled, stamped by EventBridge's clock, which the Lambda host's may trail by a little.
 */
export const RUN_AHEAD_TOLERANCE_MS = 60_000;

/**
 * DESIGN.md's as-of rule for the job. A real run never runs as of a time after the clock (it
 * would expire credits before their time, C6); a dry run may look ahead. An ops invoke naming a
 * `now` writes "as of" that time, which only deployments allowing as-of writes honour (DynamoDB
 * Local, ALLOW_AS_OF_WRITES=true). A scheduled run always takes its event's time.
 */
export function checkRunTime(
  request: RolloverRequest,
  policy: { readonly clockMs: number; readonly asOfWrites: boolean },
): void {
  if (request.dryRun || request.nowMs === undefined) return;
  const field = request.scheduled ? 'time' : 'now';
  if (request.nowMs > policy.clockMs + RUN_AHEAD_TOLERANCE_MS) {
    throw new InputError(
      field,
      `is after the clock (${toIso(policy.clockMs)}): a real run never expires credits ahead of ` +
        'their time; use "dryRun": true to look ahead',
    );
  }
  if (!request.scheduled && !policy.asOfWrites) {
    throw new InputError(
      'now',
      'is honoured only on dry runs here: leave it out to run as of now (as-of runs are for ' +
        'DynamoDB Local or ALLOW_AS_OF_WRITES=true)',
    );
  }
}

function isScheduledEvent(input: unknown): boolean {
  return (
    typeof input === 'object' &&
    input !== null &&
    (input as { source?: unknown }).source === 'aws.events'
  );
}
