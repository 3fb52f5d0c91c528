import { describe, expect, it } from 'vitest';
import { capturingLogger } from '../../lib/log';
import { stripeFault } from '../../lib/stripe/client';
import { handleDelivery, type WebhookDeps } from '../../lib/stripe/process';
import { signedRequest, stripeEvent, TEST_WEBHOOK_SECRET } from '../support/stripe-events';

describe('Stripe faults and refusals', () => {
  it('keeps even a masked Stripe key out of a Stripe API error message', () => {
    const error = stripeFault(
      'GET /v1/prices/price_1',
      new Error('Invalid API Key provided: sk_live_****abcd'),
    );
    expect(error.message).toContain('Invalid API Key provided: [key]');
    expect(error.message).not.toMatch(/sk_live|abcd/);
    expect(error.status).toBe(502);
  });

  it('logs the event id of a delivery refused for its API version, so ops can replay it', async () => {
    // Prepare
    const log = capturingLogger();
    const event = stripeEvent({
      type: 'invoice.paid',
      object: { object: 'invoice', id: 'in_1' },
      id: 'evt_old_version',
      apiVersion: '2020-08-27',
    });
    const timestampS = 1_800_000_000;
    const request = signedRequest(event, { secret: TEST_WEBHOOK_SECRET, timestamp: timestampS });
    const deps = {
      webhookSecrets: [TEST_WEBHOOK_SECRET],
      logger: log.logger,
    } as unknown as WebhookDeps;
    // Act
    const response = await handleDelivery(deps, {
      rawBody: request.body,
      headers: { 'stripe-signature': request.signature },
      receivedAtMs: timestampS * 1000,
    });
    // Assess
    expect(response.statusCode).toBe(400);
    expect(log.lines()).toContainEqual(
      expect.objectContaining({ eventId: 'evt_old_version', status: 400 }),
    );
  });
});
