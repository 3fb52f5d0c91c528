import { describe, expect, it } from 'vitest';
import { createStripeWebhookHandler } from '../../functions/stripe-webhook';
import { capturingLogger } from '../../lib/log';
import { createDocumentClient } from '../../lib/store/client';
import { webhookDepsFromConfig } from '../../lib/stripe/deps';
import {
  invoiceLine,
  paidInvoiceEvent,
  signedApiGatewayEvent,
  TEST_WEBHOOK_SECRET,
} from '../support/stripe-events';
import { freshTable, localClientConfig } from '../support/table';
import { harnessesWithStripeFake } from '../support/webhook-harness';

const periodStart = '2026-11-01T00:00:00Z';

describe('Function: stripeWebhook with the plan catalog and the Stripe API (local fake)', () => {
  const harnesses = harnessesWithStripeFake();
  const fake = () => harnesses.fake;

  async function start(planCredits: Record<string, number> = {}, withKey = true) {
    return harnesses.start({ planCredits, ...(!withKey && { stripeSecretKey: undefined }) });
  }

  const invoiceFor = (customerId: string, priceId: string, quantity = 1) =>
    paidInvoiceEvent({
      customerId,
      subscriptionId: `sub_${customerId}`,
      invoiceId: `in_${customerId}`,
      lines: [{ priceId, quantity, periodStart }],
    });

  it('C2: a price missing from PLAN_CREDITS grants its metadata.credits, with one Stripe request for many events', async () => {
    // Prepare
    const h = await start({ price_basic: 100 });
    fake().prices.set('price_team', { credits: '2000' });
    // Act
    const responses = await Promise.all(
      ['cus_t1', 'cus_t2', 'cus_t3', 'cus_t4'].map((customer) =>
        h.deliver(invoiceFor(customer, 'price_team', 2)),
      ),
    );
    const planned = await h.deliver(invoiceFor('cus_b1', 'price_basic'));
    // Assess
    expect(responses.map((response) => response.statusCode)).toEqual([200, 200, 200, 200]);
    expect(planned.statusCode).toBe(200);
    expect((await h.balance('cus_t1')).balance).toBe(4000);
    expect((await h.balance('cus_t4')).balance).toBe(4000);
    expect((await h.balance('cus_b1')).balance).toBe(100);
    expect(fake().requestsTo('/v1/prices/')).toHaveLength(1);
  });

  it('C2: an unknown price answers 5xx with nothing written, logs how to fix it, and a redelivery after the fix grants', async () => {
    // Prepare
    const h = await start();
    const event = invoiceFor('cus_unknown', 'price_unlisted');
    // Act
    const failed = await h.deliver(event);
    // Assess
    expect(failed).toEqual({ statusCode: 500, body: { received: false, error: 'internal_error' } });
    expect(await h.items()).toHaveLength(0);
    const logged = h.log.lines().at(-1);
    expect(logged).toMatchObject({
      level: 'error',
      eventId: event.id,
      type: 'invoice.paid',
      error: { name: 'UnknownPriceError' },
    });
    expect(JSON.stringify(logged)).toMatch(
      /price price_unlisted has no credits: add it to PLAN_CREDITS or set metadata.credits/,
    );
    // Act: ops set the Price's metadata; Stripe retries the same delivery.
    fake().prices.set('price_unlisted', { credits: '300' });
    const retried = await h.deliver(event);
    // Assess
    expect(retried.body).toMatchObject({ outcome: 'applied' });
    expect((await h.balance('cus_unknown')).balance).toBe(300);
  });

  it('C2: an unknown price fixed in PLAN_CREDITS (a new deployment) grants on redelivery', async () => {
    // Prepare: no STRIPE_SECRET_KEY, so only PLAN_CREDITS can know prices.
    const table = await freshTable('webhook-plan');
    const event = invoiceFor('cus_plan_fix', 'price_new_plan');
    const deliver = (planCredits: Record<string, number>) => {
      const deps = webhookDepsFromConfig(
        { planCredits, webhookSecrets: [TEST_WEBHOOK_SECRET] },
        { ...table, clock: () => Date.parse('2026-11-01T00:10:00Z') },
        capturingLogger().logger,
      );
      const request = signedApiGatewayEvent(event, {
        timestamp: Date.parse('2026-11-01T00:10:00Z') / 1000,
      });
      return createStripeWebhookHandler(() => deps)(request, {} as never);
    };
    try {
      // Act
      const before = await deliver({ price_basic: 100 });
      const after = await deliver({ price_basic: 100, price_new_plan: 700 });
      // Assess
      expect(before.statusCode).toBe(500);
      expect(after.statusCode).toBe(200);
      expect(JSON.parse(after.body ?? '{}')).toMatchObject({ outcome: 'applied' });
    } finally {
      await table.drop();
    }
  });

  it('C3: an invoice whose lines have more pages is granted in full from the Invoices API', async () => {
    // Prepare: the webhook carries the first line; Stripe lists all three.
    const h = await start({ price_basic: 100, price_pro: 500 });
    const specs = [
      { priceId: 'price_basic', quantity: 1, periodStart, lineId: 'il_p1' },
      { priceId: 'price_pro', quantity: 2, periodStart, lineId: 'il_p2' },
      { priceId: 'price_basic', quantity: 4, periodStart, lineId: 'il_p3' },
    ];
    const event = paidInvoiceEvent({
      customerId: 'cus_many',
      subscriptionId: 'sub_many',
      invoiceId: 'in_many',
      lines: specs.slice(0, 1),
      hasMore: true,
    });
    fake().invoiceLines.set(
      'in_many',
      specs.map((spec) => invoiceLine(spec, 'in_many', 'sub_many')),
    );
    // Act
    const response = await h.deliver(event);
    // Assess
    expect(response.body, JSON.stringify(h.log.lines().at(-1))).toMatchObject({
      outcome: 'applied',
    });
    expect((await h.balance('cus_many')).balance).toBe(100 + 1000 + 400);
    expect(fake().requestsTo('/v1/invoices/in_many/lines')).toHaveLength(1);
  });

  it('C3: more pages of lines without STRIPE_SECRET_KEY fail the delivery rather than grant part', async () => {
    const h = await start({ price_basic: 100 }, false);
    const event = paidInvoiceEvent({
      customerId: 'cus_partial',
      subscriptionId: 'sub_partial',
      lines: [{ priceId: 'price_basic', periodStart }],
      hasMore: true,
    });
    const response = await h.deliver(event);
    expect(response.statusCode).toBe(500);
    expect(await h.items()).toHaveLength(0);
    expect(JSON.stringify(h.log.lines().at(-1))).toMatch(/STRIPE_SECRET_KEY is not set/);
  });

  it('a failing Stripe API answers 5xx, hides the cause from the response and writes nothing', async () => {
    // Prepare
    const h = await start();
    fake().prices.set('price_team', { credits: '2000' });
    fake().failNext(500, 5);
    // Act
    const response = await h.deliver(invoiceFor('cus_stripe_down', 'price_team'));
    // Assess
    expect(response.statusCode).toBe(502);
    expect(response.body).toEqual({ received: false, error: 'internal_error' });
    expect(await h.items()).toHaveLength(0);
    expect(h.log.lines().at(-1)).toMatchObject({ error: { name: 'StripeApiError' } });
  });

  it('a failing DynamoDB answers 5xx so that Stripe retries', async () => {
    // Prepare: DynamoDB Local answers, but the table does not exist.
    const db = createDocumentClient(localClientConfig());
    const log = capturingLogger();
    const deps = webhookDepsFromConfig(
      { planCredits: { price_basic: 100 }, webhookSecrets: [TEST_WEBHOOK_SECRET] },
      { db, tableName: 'webhook-no-such-table' },
      log.logger,
    );
    const handler = createStripeWebhookHandler(() => deps);
    // Act
    const response = await handler(
      signedApiGatewayEvent(invoiceFor('cus_db', 'price_basic')),
      {} as never,
    );
    // Assess
    expect(response.statusCode).toBe(503);
    expect(JSON.parse(response.body ?? '{}')).toEqual({ received: false, error: 'internal_error' });
    expect(log.lines().at(-1)).toMatchObject({ level: 'error', error: { name: 'StoreError' } });
    db.destroy();
  });
});
