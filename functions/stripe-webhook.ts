import middy from '@middy/core';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import { nowMs } from '../lib/ledger/deps';
import { budgetOf } from '../lib/runtime';
import { webhookDepsFromEnv } from '../lib/stripe/deps';
import { deliveryFromHttpEvent } from '../lib/stripe/http';
import { handleDelivery, type WebhookDeps } from '../lib/stripe/process';

/**
 * `stripeWebhook` (HTTP API `POST /webhooks/stripe`): hands the raw body and headers to
 * lib/stripe and maps its answer to a response. No body parser runs before verification: the
 * signature is over the exact bytes Stripe sent.
 */
export function createStripeWebhookHandler(deps: () => WebhookDeps) {
  return middy(
    async (
      event: APIGatewayProxyEventV2,
      context: Context,
    ): Promise<APIGatewayProxyStructuredResultV2> => {
      const webhook = deps();
      const delivery = deliveryFromHttpEvent(event, nowMs(webhook));
      const response = await handleDelivery(webhook, delivery, { budget: budgetOf(context) });
      return {
        statusCode: response.statusCode,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(response.body),
      };
    },
  );
}

export const handler = createStripeWebhookHandler(webhookDepsFromEnv);
