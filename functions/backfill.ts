import {
  type BackfillDeps,
  type BackfillProgress,
  backfillDepsFromEnv,
  parseBackfillRequest,
  runBackfill,
} from '../lib/jobs/backfill';
import {
  MetricName,
  type MetricsRecorder,
  metricsFromEnv,
  noMetrics,
  processMetrics,
} from '../lib/metrics';
import { instrumentedHandler } from './instrumented';

/**
 * `backfill` (invoke-only): `{"since", "until"?, "types"?, "dryRun"?}` replays a range from
 * Stripe's Events API, `{"events": [...], "dryRun"?}` a given list, each event through the
 * webhook's own processing. Returns the report (`ok: false` when any event failed); an event
 * that fails is counted and reported without stopping the rest. Bad input throws an InputError
 * naming the field, before anything is read or written, counted as BackfillInputErrors. The
 * progress metrics are written as the run goes, so a long run shows on the dashboard.
 */
export function createBackfillHandler(
  deps: () => BackfillDeps,
  metrics: () => MetricsRecorder = () => noMetrics,
) {
  return instrumentedHandler(
    metrics,
    MetricName.backfillInputErrors,
    async (event, context, recorder) => {
      const request = parseBackfillRequest(event);
      return runBackfill({ ...deps(), metrics: processMetrics(recorder) }, request, {
        remainingTimeMs: () => context.getRemainingTimeInMillis(),
        onProgress: (progress) => countProgress(recorder, progress),
      });
    },
  );
}

function countProgress(recorder: MetricsRecorder, progress: BackfillProgress): void {
  recorder.count(MetricName.backfillEventsProcessed, progress.processed);
  recorder.count(MetricName.backfillEventsApplied, progress.applied);
  recorder.count(MetricName.backfillEventsFailed, progress.failed);
  recorder.flush();
}

export const handler = createBackfillHandler(backfillDepsFromEnv, metricsFromEnv);
