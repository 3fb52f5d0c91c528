import {
  MetricName,
  type MetricsRecorder,
  metricsFromEnv,
  noMetrics,
  processMetrics,
} from '../lib/metrics';
import { budgetOf } from '../lib/runtime';
import { type BridgeDeps, bridgeDepsFromEnv, processBridgedEvent } from '../lib/stripe/eventbridge';
import { instrumentedHandler } from './instrumented';

/**
 * `stripeEventBridge` (an EventBridge rule on Stripe's partner event bus, asynchronous): runs
 * the Stripe event in the EventBridge event's `detail` through the webhook's processing, with
 * this invocation's time budget. Returns the summary; throws on a refused envelope and on a
 * fault, so that Lambda retries the event (twice, see serverless.yml) and then sends it to the
 * failure queue. A refusal counts as EventsRefused, a fault by its cause.
 */
export function createStripeEventBridgeHandler(
  deps: () => BridgeDeps,
  metrics: () => MetricsRecorder = () => noMetrics,
) {
  return instrumentedHandler(metrics, MetricName.eventsRefused, (event, context, recorder) =>
    processBridgedEvent({ ...deps(), metrics: processMetrics(recorder) }, event, {
      budget: budgetOf(context),
    }),
  );
}

export const handler = createStripeEventBridgeHandler(bridgeDepsFromEnv, metricsFromEnv);
