import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { Config } from '../lib/config';
import { parseRolloverRequest, RolloverIncompleteError, runRollover } from '../lib/jobs/rollover';
import type { LedgerDeps } from '../lib/ledger/deps';
import { nowMs } from '../lib/ledger/deps';
import { requestContextFields, withLogContext } from '../lib/log';
import {
  MetricName,
  type MetricsRecorder,
  measured,
  metricsFromEnv,
  noMetrics,
} from '../lib/metrics';
import { depsFromEnv } from '../lib/runtime';

/**
 * `rollover`: the daily expiry job (C6), or an ops invoke `{"now"?, "dryRun"?}`. A scheduled
 * run is "as of" its event's `time` and throws when it did not finish, so that Lambda retries
 * the same event (which continues where it stopped) and then reports it to the failure
 * destination; an invoke returns its report either way. An ops invoke with bad input counts as
 * RolloverInputErrors, which the function's alarm subtracts from its Errors.
 */
export function createRolloverHandler(
  // With the configuration (as in AWS), the run also marks lots for `credits.expiring` (C27).
  deps: () => LedgerDeps & { readonly config?: Pick<Config, 'expiringNoticeDays'> },
  metrics: () => MetricsRecorder = () => noMetrics,
  sweep: { readonly shardsAtOnce?: number } = {},
) {
  return middy(async (event: unknown, context: Context) =>
    withLogContext(requestContextFields(context), () => {
      const recorder = metrics();
      return measured(recorder, MetricName.rolloverInputErrors, async () => {
        const request = parseRolloverRequest(event);
        const report = await runRollover(deps(), {
          nowMs: request.nowMs ?? nowMs(deps()),
          dryRun: request.dryRun,
          remainingTimeMs: () => context.getRemainingTimeInMillis(),
          expiringNoticeDays: deps().config?.expiringNoticeDays,
          ...(sweep.shardsAtOnce !== undefined && { concurrency: sweep.shardsAtOnce }),
        });
        if (!report.dryRun) recorder.count(MetricName.creditsExpired, report.expiredCredits);
        if (request.scheduled && (!report.complete || report.errors > 0)) {
          throw new RolloverIncompleteError(report);
        }
        return report;
      });
    }),
  );
}

export const handler = createRolloverHandler(depsFromEnv, metricsFromEnv);
