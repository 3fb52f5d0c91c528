import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { paidInvoiceEvent, subscriptionDeletedEvent } from '../support/stripe-events';
import { BASIC_PRICE, PRO_PRICE, signedDelivery } from './event-kinds';

/**
 * A representative webhook mix for the throughput pair: mostly first invoices of new
 * subscriptions (each a new customer, a distinct invoice id), some renewals, some
 * cancellations; every delivery signed on its own exact body, as Stripe sends it (pretty-printed
 * JSON of Stripe's own sample objects, ~6 KB). Against the replay stand-in each of them takes the
 * write path (nothing is ever found); against DynamoDB Local each is new too.
 */
export type TrafficKind = 'first_grant' | 'renewal' | 'cancellation';

/** Out of every 20 events: 16 first grants, 2 renewals, 2 cancellations. */
export function kindAt(index: number): TrafficKind {
  const slot = index % 20;
  if (slot === 7 || slot === 17) return 'renewal';
  if (slot === 11 || slot === 19) return 'cancellation';
  return 'first_grant';
}

export function trafficEvent(prefix: string, index: number): APIGatewayProxyEventV2 {
  const customerId = `cus_${prefix}_${String(index).padStart(6, '0')}`;
  const subscriptionId = `sub_${prefix}_${index}`;
  const kind = kindAt(index);
  if (kind === 'cancellation') {
    return signedDelivery(
      subscriptionDeletedEvent({ customerId, subscriptionId, endedAt: '2026-11-01T00:05:00Z' }),
    );
  }
  return signedDelivery(
    paidInvoiceEvent({
      customerId,
      subscriptionId,
      invoiceId: `in_${prefix}_${index}`,
      billingReason: kind === 'renewal' ? 'subscription_cycle' : 'subscription_create',
      lines: [
        {
          priceId: index % 3 === 0 ? PRO_PRICE : BASIC_PRICE,
          periodStart: '2026-11-01T00:00:00Z',
        },
      ],
    }),
  );
}

export function trafficEvents(prefix: string, count: number): APIGatewayProxyEventV2[] {
  return Array.from({ length: count }, (_, index) => trafficEvent(prefix, index));
}
