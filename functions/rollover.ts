import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { parseRolloverRequest, RolloverIncompleteError, runRollover } from '../lib/jobs/rollover';
import type { LedgerDeps } from '../lib/ledger/deps';
import { nowMs } from '../lib/ledger/deps';
import { depsFromEnv } from '../lib/runtime';

/**
 * `rollover`: the daily expiry job (C6), or an ops invoke `{"now"?, "dryRun"?}`. A scheduled
 * run is "as of" its event's `time` and throws when it did not finish, so that Lambda retries
 * the same event (which continues where it stopped) and then reports it to the failure
 * destination; an invoke returns its report either way. `shardsAtOnce` is for tests that need
 * the sweep's calls in a fixed order.
 */
export function createRolloverHandler(
  deps: () => LedgerDeps,
  sweep: { readonly shardsAtOnce?: number } = {},
) {
  return middy(async (event: unknown, context: Context) => {
    const request = parseRolloverRequest(event);
    const report = await runRollover(deps(), {
      nowMs: request.nowMs ?? nowMs(deps()),
      dryRun: request.dryRun,
      remainingTimeMs: () => context.getRemainingTimeInMillis(),
      ...(sweep.shardsAtOnce !== undefined && { concurrency: sweep.shardsAtOnce }),
    });
    if (request.scheduled && (!report.complete || report.errors > 0)) {
      throw new RolloverIncompleteError(report);
    }
    return report;
  });
}

export const handler = createRolloverHandler(depsFromEnv);
