import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { requestContextFields, withLogContext } from '../lib/log';
import { type MetricName, type MetricsRecorder, measured } from '../lib/metrics';

/**
 * What every invoked function wraps its work in: middy, the invocation's log context (request
 * id, function), and `measured`, which counts refused input under `inputErrors` (so that the
 * function's alarm, Errors less that metric, pages only for faults) and flushes the metrics.
 * The body gets the invocation's recorder for its own counts.
 */
export function instrumentedHandler<R>(
  metrics: () => MetricsRecorder,
  inputErrors: MetricName,
  body: (event: unknown, context: Context, recorder: MetricsRecorder) => Promise<R>,
) {
  return middy(async (event: unknown, context: Context) =>
    withLogContext(requestContextFields(context), () => {
      const recorder = metrics();
      return measured(recorder, inputErrors, () => body(event, context, recorder));
    }),
  );
}
