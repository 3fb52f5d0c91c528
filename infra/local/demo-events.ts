import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';

/**
 * Stripe events for the demo, in the shape of the API version the `stripe` package pins
 * (subscription under `parent.subscription_details`, price under
 * `lines.data[].pricing.price_details.price`). The demo runs on any machine, so it builds them
 * here rather than from the test fixtures beside the repository.
 */
const id = (prefix: string) => `${prefix}_demo${randomBytes(6).toString('hex')}`;
const seconds = (ms: number) => Math.floor(ms / 1000);

export type DemoPurchase = {
  readonly customerId: string;
  readonly subscriptionId: string;
  readonly priceId: string;
  readonly periodStartMs: number;
  readonly referralCode?: string;
};

/** `invoice.paid` for the first invoice of a new subscription. */
export function firstInvoicePaid(purchase: DemoPurchase): Record<string, unknown> {
  const invoiceId = id('in');
  const start = seconds(purchase.periodStartMs);
  const end = seconds(
    new Date(purchase.periodStartMs).setUTCMonth(
      new Date(purchase.periodStartMs).getUTCMonth() + 1,
    ),
  );
  const metadata = purchase.referralCode ? { referral_code: purchase.referralCode } : {};
  const invoice = {
    id: invoiceId,
    object: 'invoice',
    customer: purchase.customerId,
    status: 'paid',
    billing_reason: 'subscription_create',
    collection_method: 'charge_automatically',
    currency: 'usd',
    created: start,
    period_start: start,
    period_end: start,
    livemode: false,
    discounts: [],
    parent: {
      type: 'subscription_details',
      quote_details: null,
      subscription_details: { subscription: purchase.subscriptionId, metadata },
    },
    lines: {
      object: 'list',
      has_more: false,
      url: `/v1/invoices/${invoiceId}/lines`,
      data: [
        {
          id: id('il'),
          object: 'line_item',
          invoice: invoiceId,
          quantity: 1,
          period: { start, end },
          parent: {
            type: 'subscription_item_details',
            invoice_item_details: null,
            subscription_item_details: {
              invoice_item: null,
              proration: false,
              proration_details: { credited_items: null },
              subscription: purchase.subscriptionId,
              subscription_item: id('si'),
            },
          },
          pricing: {
            type: 'price_details',
            price_details: { price: purchase.priceId, product: 'prod_demo' },
            unit_amount_decimal: '1000',
          },
        },
      ],
    },
  };
  return {
    id: id('evt'),
    object: 'event',
    api_version: Stripe.API_VERSION,
    created: start,
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type: 'invoice.paid',
    data: { object: invoice },
  };
}

/** The body and `Stripe-Signature` header Stripe would send for `event`. */
export function signedDelivery(event: Record<string, unknown>, secret: string, atMs: number) {
  const body = JSON.stringify(event);
  const signature = Stripe.webhooks.generateTestHeaderString({
    payload: body,
    secret,
    timestamp: seconds(atMs),
  });
  return { body, signature };
}
