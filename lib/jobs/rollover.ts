import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { EXPIRING_INDEX } from '../../infra/table';
import { toIso } from '../credits/time';
import { CreditsError } from '../errors';
import type { LedgerDeps } from '../ledger/deps';
import { expireCustomer } from '../ledger/expiry';
import { createLogger, errorFields, type Logger } from '../log';
import { parseWith } from '../ops/credits-request';
import { type AccountItem, accountFromItem } from '../store/codec';
import { CommandStatus, callStore } from '../store/command';
import { allExpiryShards } from '../store/keys';
import { meterReads } from './read-meter';

/**
 * The expiry job (C6). It reads only the accounts whose soonest lot has expired, through the
 * sparse `expiring` index (one Query per shard, `nextExpiryAt <= now`), never the whole table,
 * and expires each with the index's projection of the account as the command's first read.
 *
 * Safe to run repeatedly, concurrently and late:
 * - an expired lot is reclaimed in the same transaction that moves the account's nextExpiryAt
 *   past `now` (or drops it from the index), so a rerun finds nothing;
 * - two runs racing on one account: the second loses the version condition, re-reads, and
 *   finds the lot already gone, so each lot is expired once;
 * - an expiry entry is dated at the lot's own expiresAt, not at the run, so a late run writes
 *   the same ledger as a punctual one.
 * Out of time, it stops between accounts and reports `complete: false`; the next run simply
 * continues, because every account it finished has left the index range.
 */
export type RolloverOptions = {
  readonly nowMs: number;
  readonly dryRun?: boolean;
  /** Time left before the caller (a Lambda) is killed; absent means unlimited. */
  readonly remainingTimeMs?: () => number;
  /** Stop starting new accounts when less than this is left; default 30 s. */
  readonly stopWhenBelowMs?: number;
  /** Index items per Query page; default 100. */
  readonly pageSize?: number;
  /** Accounts expired at once within a page; default 4. */
  readonly concurrency?: number;
  /** Where the run's summary and per-customer faults go; default: JSON lines on stderr. */
  readonly logger?: Logger;
};

export type RolloverReport = {
  readonly expiredLots: number;
  readonly expiredCredits: number;
  /** Customers who had (or, in a dry run, would have) lots expired by this run. */
  readonly customers: number;
  /** Items DynamoDB read for this run: index items scanned plus any re-reads after lost races. */
  readonly itemsRead: number;
  readonly errors: number;
  /** False when the run stopped for time; run it again to continue. */
  readonly complete: boolean;
  /** Shards the run did not finish (only when incomplete). */
  readonly unfinishedShards?: readonly string[];
  readonly dryRun: boolean;
  readonly now: string;
};

export const DEFAULT_STOP_WHEN_BELOW_MS = 30_000;

type Tally = {
  expiredLots: number;
  expiredCredits: number;
  customers: number;
  errors: number;
};

type Run = {
  readonly deps: LedgerDeps;
  readonly options: RolloverOptions;
  readonly nowIso: string;
  readonly log: Logger;
  readonly tally: Tally;
  outOfTime(): boolean;
};

export async function runRollover(
  deps: LedgerDeps,
  options: RolloverOptions,
): Promise<RolloverReport> {
  const meter = meterReads(deps.db);
  const stopBelowMs = options.stopWhenBelowMs ?? DEFAULT_STOP_WHEN_BELOW_MS;
  const run: Run = {
    deps: { ...deps, db: meter.db, dryRun: options.dryRun === true },
    options,
    nowIso: toIso(options.nowMs),
    log: options.logger ?? createLogger(),
    tally: { expiredLots: 0, expiredCredits: 0, customers: 0, errors: 0 },
    outOfTime: () => (options.remainingTimeMs ? options.remainingTimeMs() < stopBelowMs : false),
  };
  const unfinishedShards: string[] = [];
  for (const shard of allExpiryShards()) {
    const finished = unfinishedShards.length === 0 && (await sweepShard(run, shard));
    if (!finished) unfinishedShards.push(shard);
  }
  const complete = unfinishedShards.length === 0;
  const report: RolloverReport = {
    ...run.tally,
    itemsRead: meter.itemsRead(),
    complete,
    ...(!complete && { unfinishedShards }),
    dryRun: options.dryRun === true,
    now: run.nowIso,
  };
  run.log.info(complete ? 'expiry run finished' : 'expiry run stopped for time', report);
  return report;
}

/** Expires every account of one shard whose soonest lot has expired; false if out of time. */
async function sweepShard(run: Run, shard: string): Promise<boolean> {
  let startKey: Record<string, unknown> | undefined;
  do {
    if (run.outOfTime()) return false;
    const page = await queryExpiring(run, shard, startKey);
    if (!(await expireAll(run, page.accounts))) return false;
    startKey = page.lastKey;
  } while (startKey);
  return true;
}

async function queryExpiring(run: Run, shard: string, startKey?: Record<string, unknown>) {
  const response = await callStore('Query', () =>
    run.deps.db.send(
      new QueryCommand({
        TableName: run.deps.tableName,
        IndexName: EXPIRING_INDEX,
        KeyConditionExpression: 'expiryShard = :shard AND nextExpiryAt <= :now',
        ExpressionAttributeValues: { ':shard': shard, ':now': run.nowIso },
        Limit: run.options.pageSize ?? 100,
        ...(startKey && { ExclusiveStartKey: startKey }),
      }),
    ),
  );
  return {
    // Projection ALL: the index item is the account item, as of a moment ago.
    accounts: (response.Items ?? []).map((item) => accountFromItem(item as AccountItem)),
    lastKey: response.LastEvaluatedKey,
  };
}

/** Runs a few accounts at a time; stops taking new ones when time runs short. */
async function expireAll(
  run: Run,
  accounts: readonly ReturnType<typeof accountFromItem>[],
): Promise<boolean> {
  let next = 0;
  let stopped = false;
  const worker = async () => {
    while (next < accounts.length) {
      if (run.outOfTime()) {
        stopped = true;
        return;
      }
      const account = accounts[next++];
      if (account) await expireOne(run, account);
    }
  };
  const workers = Math.min(run.options.concurrency ?? 4, accounts.length);
  await Promise.all(Array.from({ length: workers }, worker));
  return !stopped;
}

async function expireOne(run: Run, account: ReturnType<typeof accountFromItem>) {
  try {
    const result = await expireCustomer(run.deps, account.customerId, run.options.nowMs, {
      preloaded: account,
    });
    // `refused` means nothing was left to expire: a concurrent run got there first.
    if (result.status !== CommandStatus.applied) return;
    run.tally.customers += 1;
    run.tally.expiredLots += result.outcome.expiredLots;
    run.tally.expiredCredits += result.outcome.expiredCredits;
  } catch (error) {
    // One customer's fault (throttling, contention) must not stop the others; the account
    // stays in the index range, so the next run retries it.
    run.tally.errors += 1;
    run.log.error('expiry failed for a customer', {
      customerId: account.customerId,
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

function isScheduledEvent(input: unknown): boolean {
  return (
    typeof input === 'object' &&
    input !== null &&
    (input as { source?: unknown }).source === 'aws.events'
  );
}
