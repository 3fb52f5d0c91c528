import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { apiGatewayEvent, paidInvoiceEvent, signedRequest } from '../support/stripe-events';
import type { WebhookContainer } from './containers';
import { BASIC_PRICE, BENCH_SECRET } from './event-kinds';

/**
 * Webhook deliveries on the real clock, for the parts of the bench that run with the
 * production deps (which have no fixed clock): each is signed when it is built, as Stripe signs
 * a delivery when it sends it.
 */
export function signedNow(event: Record<string, unknown>): APIGatewayProxyEventV2 {
  const nowMs = Date.now();
  const signed = signedRequest(event, {
    secret: BENCH_SECRET,
    timestamp: Math.floor(nowMs / 1000),
  });
  return apiGatewayEvent({ body: signed.body, headers: signed.headers, timeEpochMs: nowMs });
}

/** A new subscription's first invoice, paid, for a period that started a minute ago. */
export function firstInvoiceNow(
  customerId: string,
  options: { priceId?: string; code?: string } = {},
): APIGatewayProxyEventV2 {
  return signedNow(
    paidInvoiceEvent({
      customerId,
      subscriptionId: `sub_${customerId}`,
      invoiceId: `in_${customerId}_1`,
      billingReason: 'subscription_create',
      lines: [
        {
          priceId: options.priceId ?? BASIC_PRICE,
          periodStart: new Date(Date.now() - 60_000).toISOString(),
        },
      ],
      metadata: options.code ? { referral_code: options.code } : {},
    }),
  );
}

export type DeliveryResult = {
  readonly status: number;
  readonly ms: number;
  readonly body: string;
};

/** One delivery through a container: its status and how long it took (a throw is a 5xx). */
export async function deliver(
  container: WebhookContainer,
  event: APIGatewayProxyEventV2,
): Promise<DeliveryResult> {
  const startMs = performance.now();
  try {
    const response = await container.invoke(event);
    return {
      status: response.statusCode ?? 0,
      ms: performance.now() - startMs,
      body: response.body ?? '',
    };
  } catch (error) {
    return { status: 500, ms: performance.now() - startMs, body: String(error) };
  }
}

/** Whether a webhook answer says the grant and its redemption were both applied. */
export function grantAndRedemptionApplied(result: DeliveryResult): boolean {
  if (result.status !== 200) return false;
  const body = JSON.parse(result.body) as { commands?: { command: string; status: string }[] };
  const statuses = (body.commands ?? []).map((each) => `${each.command}:${each.status}`);
  return statuses.join() === 'grantSubscriptionInvoice:applied,redeemReferral:applied';
}

/** Delivers and insists on a 200: for set-up steps, whose failure would void the figures. */
export async function deliverOk(container: WebhookContainer, event: APIGatewayProxyEventV2) {
  const result = await deliver(container, event);
  if (result.status !== 200) throw new Error(`set-up delivery: ${result.status} ${result.body}`);
  return JSON.parse(result.body) as { outcome?: string; commands?: { status: string }[] };
}
