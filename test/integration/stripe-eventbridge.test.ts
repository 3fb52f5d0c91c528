import type { Context } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { createStripeEventBridgeHandler } from '../../functions/stripe-eventbridge';
import type { BridgeSettings } from '../../lib/stripe/eventbridge';
import { acceptedApiVersions } from '../../lib/stripe/events';
import { paidInvoiceEvent } from '../support/stripe-events';
import { type WebhookHarness, webhookHarness } from '../support/webhook-harness';

const SOURCE = 'aws.partner/stripe.com/ed_test_61TBiRXbE';
const PLANS = { price_pro: 500 };
const PERIOD_START = '2026-11-01T00:00:00Z';
const context = { getRemainingTimeInMillis: () => 30_000 } as Context;

let harness: WebhookHarness | undefined;
afterEach(async () => {
  await harness?.drop();
  harness = undefined;
});

/** A webhook harness on a fresh table, dropped after the test. */
async function start(planCredits: Record<string, number> = PLANS) {
  harness = await webhookHarness({ planCredits });
  return harness;
}

/** The stripeEventBridge handler on the webhook harness's table, catalog and logger. */
function bridge(h: WebhookHarness, settings: Partial<BridgeSettings> = {}) {
  return createStripeEventBridgeHandler(() => ({
    ...h.deps,
    bridge: {
      source: SOURCE,
      livemode: false,
      acceptedApiVersions: acceptedApiVersions(),
      ...settings,
    },
  }));
}

/** What EventBridge hands the rule's target: Stripe's event as `detail`. */
function fromEventBridge(stripeEvent: Record<string, unknown>, source = SOURCE) {
  return {
    version: '0',
    id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
    'detail-type': stripeEvent.type,
    source,
    account: '111122223333',
    time: '2026-11-01T00:00:05Z',
    region: 'us-east-1',
    resources: [],
    detail: stripeEvent,
  };
}

function invoicePaid(
  customerId: string,
  invoiceId: string,
  eventId: string,
  type = 'invoice.paid',
) {
  return paidInvoiceEvent({
    customerId,
    subscriptionId: `sub_${customerId}`,
    invoiceId,
    eventId,
    type,
    lines: [{ priceId: 'price_pro', periodStart: PERIOD_START }],
  });
}

describe('Function: stripeEventBridge (EventBridge rule on the Stripe partner bus)', () => {
  it('C3 C16 an invoice delivered by the webhook and again through EventBridge is granted once', async () => {
    // Prepare
    const h = await start();
    const event = invoicePaid('cus_both', 'in_both_1', 'evt_both_1');
    expect((await h.deliver(event)).body).toMatchObject({ outcome: 'applied' });

    // Act: the same event, and another event type carrying the same invoice, through EventBridge.
    const same = await bridge(h)(fromEventBridge(event), context);
    const other = await bridge(h)(
      fromEventBridge(
        invoicePaid('cus_both', 'in_both_1', 'evt_both_2', 'invoice.payment_succeeded'),
      ),
      context,
    );

    // Assess
    expect(same).toMatchObject({ eventId: 'evt_both_1', outcome: 'already_applied' });
    expect(other).toMatchObject({ eventId: 'evt_both_2', outcome: 'already_applied' });
    expect((await h.balance('cus_both')).balance).toBe(500);
    expect((await h.ledger('cus_both')).map((entry) => entry.type)).toEqual(['grant']);
  });

  it('C3 C16 an invoice that came through EventBridge first is already applied for the webhook', async () => {
    // Prepare
    const h = await start();
    const event = invoicePaid('cus_eb', 'in_eb_1', 'evt_eb_1');

    // Act
    const bridged = await bridge(h)(fromEventBridge(event), context);
    const delivered = await h.deliver(event);

    // Assess
    expect(bridged).toMatchObject({
      outcome: 'applied',
      commands: [expect.objectContaining({ command: 'grantSubscriptionInvoice', key: 'in_eb_1' })],
    });
    expect(delivered).toMatchObject({ statusCode: 200, body: { outcome: 'already_applied' } });
    expect((await h.balance('cus_eb')).balance).toBe(500);
  });

  it.each([
    ['another source', { source: 'aws.partner/stripe.com/ed_other' }, 'source'],
    ['no Stripe event in detail', { detail: { hello: 'world' } }, 'detail.id'],
    ['no detail at all', { detail: undefined }, 'detail'],
    ['a live event for a test deployment', { live: true }, 'detail.livemode'],
    ['an API version this build cannot read', { apiVersion: '2019-02-19' }, 'api_version'],
  ])('refuses %s, naming the field, and writes nothing', async (_what, change, field) => {
    // Prepare
    const h = await start();
    const stripeEvent = {
      ...invoicePaid('cus_bad', 'in_bad_1', 'evt_bad_1'),
      ...('live' in change && { livemode: true }),
      ...('apiVersion' in change && { api_version: change.apiVersion }),
    };
    const envelope: Record<string, unknown> = {
      ...fromEventBridge(stripeEvent, 'source' in change ? change.source : SOURCE),
      ...('detail' in change && { detail: change.detail }),
    };

    // Act / Assess
    await expect(bridge(h)(envelope, context)).rejects.toThrow(field);
    expect(await h.items()).toEqual([]);
    expect(h.log.lines()).toContainEqual(
      expect.objectContaining({
        level: 'error',
        message: expect.stringContaining('refused; retrying cannot help'),
      }),
    );
  });

  it('refuses every event while STRIPE_EVENT_SOURCE is not configured', async () => {
    // Prepare
    const h = await start();
    const handler = bridge(h, { source: undefined });

    // Act / Assess
    await expect(
      handler(fromEventBridge(invoicePaid('cus_n', 'in_n_1', 'evt_n_1')), context),
    ).rejects.toThrow(expect.objectContaining({ name: 'ConfigError' }));
    expect(await h.items()).toEqual([]);
  });

  it('C2 fails on a fault (an unknown price), so that Lambda retries the event, and writes nothing', async () => {
    // Prepare: a catalog without the invoice's price, and no Stripe key to look it up.
    const h = await start({});

    // Act / Assess
    await expect(
      bridge(h)(fromEventBridge(invoicePaid('cus_f', 'in_f_1', 'evt_f_1')), context),
    ).rejects.toThrow(expect.objectContaining({ name: 'UnknownPriceError' }));
    expect(await h.items()).toEqual([]);
    expect(h.log.lines()).toContainEqual(
      expect.objectContaining({ message: expect.stringContaining('failed; Lambda retries it') }),
    );
  });
});
