import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { backfillDepsFromEnv, parseBackfillRequest, runBackfill } from '../lib/jobs/backfill';
import type { ProcessDeps } from '../lib/stripe/process';

/**
 * `backfill` (invoke-only): `{"since", "until"?, "types"?, "dryRun"?}` replays a range from
 * Stripe's Events API, `{"events": [...], "dryRun"?}` a given list, each event through the
 * webhook's own processing. Returns the counts; an event that fails is counted and reported
 * without stopping the rest. Bad input throws an InputError naming the field, before anything
 * is read or written.
 */
export function createBackfillHandler(deps: () => ProcessDeps) {
  return middy(async (event: unknown, context: Context) => {
    const request = parseBackfillRequest(event);
    return runBackfill(deps(), request, {
      remainingTimeMs: () => context.getRemainingTimeInMillis(),
    });
  });
}

export const handler = createBackfillHandler(backfillDepsFromEnv);
