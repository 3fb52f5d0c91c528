import { errorFields, type Logger } from '../log';
import type { StoreDeps } from '../store/client';
import { expiringLotsPage, markExpiringNotice } from '../store/expiring-notices';
import { allLotShards } from '../store/keys';

/**
 * The daily job's notice step (C27 `credits.expiring`): every lot that still has credits and
 * expires within `days` is marked once; the stream turns each mark into one event. Idempotent:
 * a lot marked before is skipped by the mark's condition, so reruns, late runs and concurrent
 * runs notify each lot once. A run that skips days still notifies, as long as the lot has not
 * expired yet: the window is "now to now + days", not "exactly days ahead".
 */
export type ExpiringNoticeOptions = {
  readonly nowMs: number;
  /** EXPIRING_NOTICE_DAYS. */
  readonly days: number;
  /** True when the caller must stop (a Lambda close to its timeout). */
  readonly outOfTime: () => boolean;
  readonly logger: Logger;
  /** Shards swept at once; default 4. */
  readonly concurrency?: number;
  /** Index items per Query page; default 100. */
  readonly pageSize?: number;
};

export type ExpiringNoticeReport = {
  /** Lots marked by this run (each becomes one `credits.expiring`). */
  readonly noticed: number;
  /** Lots whose mark failed; they are tried again by the next run. */
  readonly errors: number;
  /** False when the run stopped for time before every shard was swept. */
  readonly complete: boolean;
};

const DAY_MS = 24 * 60 * 60 * 1000;

export async function noticeExpiringLots(
  deps: StoreDeps,
  options: ExpiringNoticeOptions,
): Promise<ExpiringNoticeReport> {
  const tally = { noticed: 0, errors: 0 };
  const shards = allLotShards();
  let next = 0;
  let complete = true;
  const worker = async () => {
    while (next < shards.length) {
      const shard = shards[next++] as string;
      if (!(await noticeShard(deps, options, shard, tally))) complete = false;
    }
  };
  const workers = Math.min(options.concurrency ?? 4, shards.length);
  await Promise.all(Array.from({ length: workers }, worker));
  return { ...tally, complete };
}

/** Marks the lots of one shard; false if it stopped for time. */
async function noticeShard(
  deps: StoreDeps,
  options: ExpiringNoticeOptions,
  shard: string,
  tally: { noticed: number; errors: number },
): Promise<boolean> {
  let startKey: Record<string, unknown> | undefined;
  do {
    if (options.outOfTime()) return false;
    const page = await expiringLotsPage(deps, {
      shard,
      fromMs: options.nowMs,
      untilMs: options.nowMs + options.days * DAY_MS,
      limit: options.pageSize ?? 100,
      ...(startKey && { startKey }),
    });
    for (const lot of page.lots) {
      if (options.outOfTime()) return false;
      try {
        if (await markExpiringNotice(deps, lot, options.nowMs)) tally.noticed += 1;
      } catch (error) {
        // One lot's fault must not stop the others; it stays unmarked for the next run.
        tally.errors += 1;
        options.logger.error('expiring notice failed for a lot', {
          lot: lot.sk,
          error: errorFields(error),
        });
      }
    }
    startKey = page.nextKey;
  } while (startKey);
  return true;
}
