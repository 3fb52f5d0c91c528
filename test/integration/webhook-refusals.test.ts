import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  apiGatewayEvent,
  paidInvoiceEvent,
  SUPPORTED_API_VERSION,
  signedRequest,
  stripeEvent,
} from '../support/stripe-events';
import { type WebhookHarness, webhookHarness } from '../support/webhook-harness';

/**
 * DESIGN.md, outcomes at the HTTP edge: a missing or wrong signature, a timestamp more than
 * 300 s old or in the future, a body that is not an event, or an event in another API version
 * answers 400 and writes nothing. Each case carries a valid paid invoice that would otherwise
 * grant, so "nothing written" is meaningful.
 */
describe('Function: stripeWebhook refusals (400, nothing written)', () => {
  let h: WebhookHarness;
  let nowS: number;
  // A fresh table per case, so that one failure cannot leak into another's "nothing written".
  beforeEach(async () => {
    h = await webhookHarness({ planCredits: { price_pro: 500 } });
    nowS = Math.floor(h.nowMs() / 1000);
  });
  afterEach(async () => h.drop());

  const granting = () =>
    paidInvoiceEvent({
      customerId: 'cus_refused',
      subscriptionId: 'sub_refused',
      lines: [{ priceId: 'price_pro', periodStart: '2026-11-01T00:00:00Z' }],
    });

  async function expectRefused(
    response: Awaited<ReturnType<WebhookHarness['post']>>,
    error: string,
    message: RegExp,
  ) {
    expect(response.statusCode).toBe(400);
    expect(response.body).toMatchObject({ received: false, error });
    expect(String(response.body.message)).toMatch(message);
    expect(await h.items()).toHaveLength(0);
  }

  it('refuses a delivery without a Stripe-Signature header', async () => {
    const signed = signedRequest(granting(), { timestamp: nowS });
    const { 'stripe-signature': _dropped, ...headers } = signed.headers;
    const response = await h.post(apiGatewayEvent({ body: signed.body, headers }));
    await expectRefused(response, 'SignatureError', /missing Stripe-Signature/);
  });

  it('refuses a delivery signed with a secret we do not hold', async () => {
    const response = await h.deliver(granting(), { secret: 'whsec_attacker_eeeeeeeeeeeeeeee' });
    await expectRefused(response, 'SignatureError', /no signature matches/);
  });

  it('refuses a body with one byte changed after signing', async () => {
    // Prepare: sign, then turn quantity 1 into 9 (nine times the credits).
    const signed = signedRequest(granting(), { timestamp: nowS });
    const tampered = signed.body.replace('"quantity": 1,', '"quantity": 9,');
    // Act
    const response = await h.post(apiGatewayEvent({ body: tampered, headers: signed.headers }));
    // Assess
    expect(tampered.length).toBe(signed.body.length);
    expect(tampered).not.toBe(signed.body);
    await expectRefused(response, 'SignatureError', /no signature matches/);
  });

  it('refuses a base64 body whose decoded bytes were changed', async () => {
    const signed = signedRequest(granting(), { timestamp: nowS });
    const tampered = signed.body.replace('"quantity": 1,', '"quantity": 9,');
    const response = await h.post(
      apiGatewayEvent({ body: tampered, headers: signed.headers, base64: true }),
    );
    await expectRefused(response, 'SignatureError', /no signature matches/);
  });

  it('refuses a signature timestamp more than 300 s old', async () => {
    const response = await h.deliver(granting(), { timestamp: nowS - 301 });
    await expectRefused(response, 'SignatureError', /301 s old/);
  });

  it('refuses a signature timestamp more than 300 s in the future', async () => {
    const response = await h.deliver(granting(), { timestamp: nowS + 301 });
    await expectRefused(response, 'SignatureError', /301 s in the future/);
  });

  it('refuses a validly signed body that is malformed JSON', async () => {
    const body = JSON.stringify(granting()).slice(0, -1);
    const response = await h.deliver(body);
    await expectRefused(response, 'InputError', /body: is not JSON/);
  });

  it('refuses a validly signed JSON body that is not a Stripe event', async () => {
    const notAnEvent = { ...granting(), id: 'in_pretending' };
    const response = await h.deliver(JSON.stringify(notAnEvent));
    await expectRefused(response, 'InputError', /^id: not a Stripe event/);
  });

  it('refuses a validly signed event in another API version, telling ops what to set', async () => {
    // Prepare
    const event = { ...granting(), api_version: '2025-09-30.clover' };
    // Act
    const response = await h.deliver(event);
    // Assess
    await expectRefused(
      response,
      'UnsupportedApiVersionError',
      new RegExp(
        `2025-09-30\\.clover.*set the Stripe webhook endpoint's API version to ${SUPPORTED_API_VERSION.replace('.', '\\.')}`,
      ),
    );
    expect(h.log.lines().at(-1)).toMatchObject({
      level: 'error',
      message: 'stripe delivery refused',
    });
  });

  it('refuses an event without an API version (an account-default rendering we cannot trust)', async () => {
    const response = await h.deliver(
      stripeEvent({ type: 'invoice.paid', object: {}, apiVersion: null }),
    );
    await expectRefused(response, 'UnsupportedApiVersionError', /\(none\)/);
  });
});
