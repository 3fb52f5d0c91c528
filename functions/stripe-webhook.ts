import middy from '@middy/core';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import { nowMs } from '../lib/ledger/deps';
import { requestContextFields, withLogContext } from '../lib/log';
import {
  countDelivery,
  MetricName,
  type MetricsRecorder,
  measured,
  metricsFromEnv,
  noMetrics,
  processMetrics,
} from '../lib/metrics';
import { budgetOf } from '../lib/runtime';
import { webhookDepsFromEnv } from '../lib/stripe/deps';
import { deliveryFromHttpEvent } from '../lib/stripe/http';
import { handleDelivery, type WebhookDeps } from '../lib/stripe/process';

/**
 * `stripeWebhook` (HTTP API `POST /webhooks/stripe`): hands the raw body and headers to
 * lib/stripe and maps its answer to a response. No body parser runs before verification: the
 * signature is over the exact bytes Stripe sent. The deps are awaited because in AWS the
 * webhook secrets are read from SSM (cached); failing that is a fault, thrown, so Stripe retries.
 */
export function createStripeWebhookHandler(
  deps: () => WebhookDeps | Promise<WebhookDeps>,
  metrics: () => MetricsRecorder = () => noMetrics,
) {
  return middy(
    async (
      event: APIGatewayProxyEventV2,
      context: Context,
    ): Promise<APIGatewayProxyStructuredResultV2> =>
      withLogContext(requestContextFields(context), () => {
        const recorder = metrics();
        return measured(recorder, MetricName.otherFaults, async () => {
          const webhook = await deps();
          const response = await handleDelivery(
            { ...webhook, metrics: processMetrics(recorder) },
            deliveryFromHttpEvent(event, nowMs(webhook)),
            { budget: budgetOf(context) },
          );
          countDelivery(recorder, response);
          return {
            statusCode: response.statusCode,
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(response.body),
          };
        });
      }),
  );
}

export const handler = createStripeWebhookHandler(webhookDepsFromEnv, metricsFromEnv);
