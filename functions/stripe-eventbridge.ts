import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { requestContextFields, withLogContext } from '../lib/log';
import {
  MetricName,
  type MetricsRecorder,
  measured,
  metricsFromEnv,
  noMetrics,
  processMetrics,
} from '../lib/metrics';
import { budgetOf } from '../lib/runtime';
import { type BridgeDeps, bridgeDepsFromEnv, processBridgedEvent } from '../lib/stripe/eventbridge';

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
  return middy(async (event: unknown, context: Context) =>
    withLogContext(requestContextFields(context), () => {
      const recorder = metrics();
      return measured(recorder, MetricName.eventsRefused, () =>
        processBridgedEvent({ ...deps(), metrics: processMetrics(recorder) }, event, {
          budget: budgetOf(context),
        }),
      );
    }),
  );
}

export const handler = createStripeEventBridgeHandler(bridgeDepsFromEnv, metricsFromEnv);
