import type { AsOfConfig } from '../lib/config';
import type { LedgerDeps } from '../lib/ledger/deps';
import {
  countCreditsResult,
  MetricName,
  type MetricsRecorder,
  metricsFromEnv,
  noMetrics,
} from '../lib/metrics';
import { runCreditsRequest } from '../lib/ops/credits-api';
import { budgetOf, depsFromEnv } from '../lib/runtime';
import { instrumentedHandler } from './instrumented';

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
  return instrumentedHandler(
    metrics,
    MetricName.creditsInputErrors,
    async (event, context, recorder) => {
      const ledger = deps();
      const result = await runCreditsRequest(ledger, event, {
        budget: budgetOf(context),
        asOfWrites: ledger.asOfWrites === true,
      });
      countCreditsResult(recorder, event, result);
      return result;
    },
  );
}

export const handler = createCreditsHandler(depsFromEnv, metricsFromEnv);
