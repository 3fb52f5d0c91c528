import type { AsOfConfig, Config } from '../lib/config';
import {
  checkRunTime,
  parseRolloverRequest,
  RolloverIncompleteError,
  runRollover,
} from '../lib/jobs/rollover';
import type { LedgerDeps } from '../lib/ledger/deps';
import { nowMs } from '../lib/ledger/deps';
import { MetricName, type MetricsRecorder, metricsFromEnv, noMetrics } from '../lib/metrics';
import { depsFromEnv } from '../lib/runtime';
import { instrumentedHandler } from './instrumented';

/**
 * `rollover`: the daily expiry job (C6), or an ops invoke `{"now"?, "dryRun"?}`. A scheduled
 * run is "as of" its event's `time` and throws when it did not finish, so that Lambda retries
 * the same event (which continues where it stopped) and then reports it to the failure
 * destination; an invoke returns its report either way. An ops invoke with bad input counts as
 * RolloverInputErrors, which the function's alarm subtracts from its Errors. A run as of a time
 * after the clock, or an invoke's `now` where as-of writes are not allowed (`asOfWrites` in the
 * deps, lib/config.ts), is such an input error: nothing runs.
 */
export function createRolloverHandler(
  // With the configuration (as in AWS), the run also marks lots for `credits.expiring` (C27).
  deps: () => LedgerDeps & AsOfConfig & { readonly config?: Pick<Config, 'expiringNoticeDays'> },
  metrics: () => MetricsRecorder = () => noMetrics,
  sweep: { readonly shardsAtOnce?: number } = {},
) {
  return instrumentedHandler(
    metrics,
    MetricName.rolloverInputErrors,
    async (event, context, recorder) => {
      const request = parseRolloverRequest(event);
      const ledger = deps();
      const clockMs = nowMs(ledger);
      checkRunTime(request, { clockMs, asOfWrites: ledger.asOfWrites === true });
      const report = await runRollover(ledger, {
        nowMs: request.nowMs ?? clockMs,
        dryRun: request.dryRun,
        remainingTimeMs: () => context.getRemainingTimeInMillis(),
        expiringNoticeDays: ledger.config?.expiringNoticeDays,
        ...(sweep.shardsAtOnce !== undefined && { concurrency: sweep.shardsAtOnce }),
      });
      if (!report.dryRun) recorder.count(MetricName.creditsExpired, report.expiredCredits);
      if (request.scheduled && (!report.complete || report.errors > 0)) {
        throw new RolloverIncompleteError(report);
      }
      return report;
    },
  );
}

export const handler = createRolloverHandler(depsFromEnv, metricsFromEnv);
