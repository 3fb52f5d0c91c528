import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLambdaContext } from '../../infra/local/functions';
import { startWebhookServer, type WebhookServer } from '../../infra/local/http';
import { paidInvoiceEvent, signedRequest } from '../support/stripe-events';
import { type WebhookHarness, webhookHarness } from '../support/webhook-harness';

/**
 * The webhook through real HTTP: the local stack's API Gateway stand-in (infra/local/http.ts)
 * in front of the real handler, and requests sent with fetch as `stripe listen` would.
 */
describe('Function: stripeWebhook over HTTP (local API Gateway stand-in)', () => {
  let h: WebhookHarness;
  let server: WebhookServer;
  beforeAll(async () => {
    h = await webhookHarness({ planCredits: { price_pro: 500 } });
    server = await startWebhookServer({
      port: 0,
      handler: (event) =>
        h.handler(event, createLambdaContext({ functionName: 'stripeWebhook', timeoutMs: 10_000 })),
    });
  });
  afterAll(async () => {
    await server.close();
    await h.drop();
  });

  async function post(body: string, headers: Record<string, string>) {
    const response = await fetch(server.webhookUrl, { method: 'POST', body, headers });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  it('C3 C16: a signed delivery grants, its duplicate changes nothing, a tampered copy is refused', async () => {
    // Prepare: header names as Stripe sends them (mixed case); HTTP lower-cases them.
    const event = paidInvoiceEvent({
      customerId: 'cus_http',
      subscriptionId: 'sub_http',
      invoiceId: 'in_http',
      lines: [{ priceId: 'price_pro', periodStart: '2026-11-01T00:00:00Z' }],
    });
    const signed = signedRequest(event, { timestamp: Math.floor(h.nowMs() / 1000) });
    const headers = { 'Content-Type': 'application/json', 'Stripe-Signature': signed.signature };
    // Act
    const first = await post(signed.body, headers);
    const duplicate = await post(signed.body, headers);
    const tampered = await post(signed.body.replace('"quantity": 1,', '"quantity": 7,'), headers);
    // Assess
    expect(first).toMatchObject({ status: 200, body: { received: true, outcome: 'applied' } });
    expect(duplicate).toMatchObject({ status: 200, body: { outcome: 'already_applied' } });
    expect(tampered).toMatchObject({
      status: 400,
      body: { received: false, error: 'SignatureError' },
    });
    expect((await h.balance('cus_http')).balance).toBe(500);
  });
});
