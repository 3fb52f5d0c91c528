import type { MetricName, MetricsRecorder } from '../../lib/metrics';

/** A recorder that keeps the totals it was given and how many times it was flushed. */
export function capturingMetrics() {
  const totals = new Map<string, number>();
  let flushes = 0;
  const recorder: MetricsRecorder = {
    count(name: MetricName, value = 1) {
      totals.set(name, (totals.get(name) ?? 0) + value);
    },
    flush() {
      flushes += 1;
    },
  };
  return {
    recorder,
    metrics: () => recorder,
    totals: () => Object.fromEntries(totals),
    flushes: () => flushes,
  };
}
