import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { LedgerDeps } from '../lib/ledger/deps';
import { requestContextFields, withLogContext } from '../lib/log';
import {
  countCreditsResult,
  MetricName,
  type MetricsRecorder,
  measured,
  metricsFromEnv,
  noMetrics,
} from '../lib/metrics';
import { runCreditsRequest } from '../lib/ops/credits-api';
import { budgetOf, depsFromEnv } from '../lib/runtime';

/**
 * `credits` (invoke-only): balance, consume, ledger, referralCode and adjust for the image app
 * and ops. Bad input throws an InputError naming the field, which Lambda reports as the
 * invocation's error; nothing is written. Such an error is counted as CreditsInputErrors, so
 * that the alarm on this function (Errors less CreditsInputErrors) pages only for faults.
 */
export function createCreditsHandler(
  deps: () => LedgerDeps,
  metrics: () => MetricsRecorder = () => noMetrics,
) {
  return middy(async (event: unknown, context: Context) =>
    withLogContext(requestContextFields(context), () => {
      const recorder = metrics();
      return measured(recorder, MetricName.creditsInputErrors, async () => {
        const result = await runCreditsRequest(deps(), event, { budget: budgetOf(context) });
        countCreditsResult(recorder, event, result);
        return result;
      });
    }),
  );
}

export const handler = createCreditsHandler(depsFromEnv, metricsFromEnv);
