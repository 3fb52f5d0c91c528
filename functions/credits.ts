import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { AsOfConfig } from '../lib/config';
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
 * `credits` (invoke-only): balance, consume, reserve, settle, release, restore, ledger,
 * referralCode, adjust and audit for the image app and ops. Bad input throws an InputError
 * naming the field, which Lambda reports as the invocation's error; nothing is written. Such an
 * error is counted as CreditsInputErrors, so that the alarm on this function (Errors less
 * CreditsInputErrors) pages only for faults. `asOfWrites` in the deps is the deployment's
 * as-of rule (lib/config.ts); absent, writes never honour `now`.
 */
export function createCreditsHandler(
  deps: () => LedgerDeps & AsOfConfig,
  metrics: () => MetricsRecorder = () => noMetrics,
) {
  return middy(async (event: unknown, context: Context) =>
    withLogContext(requestContextFields(context), () => {
      const recorder = metrics();
      return measured(recorder, MetricName.creditsInputErrors, async () => {
        const ledger = deps();
        const result = await runCreditsRequest(ledger, event, {
          budget: budgetOf(context),
          asOfWrites: ledger.asOfWrites === true,
        });
        countCreditsResult(recorder, event, result);
        return result;
      });
    }),
  );
}

export const handler = createCreditsHandler(depsFromEnv, metricsFromEnv);
