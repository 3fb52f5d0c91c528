import fc from 'fast-check';
import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { ConfigError, InputError, SignatureError } from '../../lib/errors';
import { UnsupportedApiVersionError } from '../../lib/stripe/errors';
import { SUPPORTED_API_VERSION } from '../../lib/stripe/events';
import { deliveryFromHttpEvent } from '../../lib/stripe/http';
import { TOLERANCE_S, verifyDelivery } from '../../lib/stripe/verify';
import {
  apiGatewayEvent,
  paidInvoiceEvent,
  signedRequest,
  stripeEvent,
  TEST_WEBHOOK_SECRET,
} from '../support/stripe-events';

const receivedAtMs = Date.parse('2026-11-01T12:00:00Z');
const nowS = receivedAtMs / 1000;
const secrets = [TEST_WEBHOOK_SECRET];

function invoiceEvent() {
  return paidInvoiceEvent({
    customerId: 'cus_verify',
    subscriptionId: 'sub_verify',
    invoiceId: 'in_verify',
    eventId: 'evt_verify',
    lines: [{ priceId: 'price_basic', periodStart: '2026-11-01T00:00:00Z' }],
  });
}

function verify(
  body: string | Uint8Array,
  signatureHeader: string | undefined,
  options: { secrets?: string[] } = {},
) {
  return verifyDelivery(options.secrets ?? secrets, {
    rawBody: body,
    signatureHeader,
    receivedAtMs,
  });
}

describe('Function: verifyDelivery', () => {
  it('accepts a delivery signed with the secret and returns the typed event', () => {
    // Prepare
    const signed = signedRequest(invoiceEvent(), { timestamp: nowS });
    // Act
    const event = verify(signed.body, signed.signature);
    // Assess
    expect(event).toMatchObject({
      id: 'evt_verify',
      type: 'invoice.paid',
      apiVersion: SUPPORTED_API_VERSION,
      livemode: false,
    });
    expect(event.object.id).toBe('in_verify');
  });

  it('verifies the decoded bytes of a base64-encoded API Gateway body', () => {
    // Prepare: non-ASCII text makes any re-encoding visible in the signature.
    const body = JSON.stringify(
      stripeEvent({
        type: 'customer.updated',
        object: { object: 'customer', name: 'Zoë Ångström' },
      }),
    );
    const signed = signedRequest(body, { timestamp: nowS });
    const request = apiGatewayEvent({ body, headers: signed.headers, base64: true });
    // Act
    const delivery = deliveryFromHttpEvent(request, receivedAtMs);
    const event = verifyDelivery(secrets, {
      rawBody: delivery.rawBody,
      signatureHeader: delivery.headers['stripe-signature'],
      receivedAtMs,
    });
    // Assess
    expect(request.body).not.toBe(body);
    expect(event.object.name).toBe('Zoë Ångström');
  });

  it('accepts either secret during a rotation', () => {
    // Prepare
    const rotation = ['whsec_old_secret_aaaaaaaaaaaaaaaa', 'whsec_new_secret_bbbbbbbbbbbbbbbb'];
    const [old, fresh] = rotation.map((secret) =>
      signedRequest(invoiceEvent(), { secret, timestamp: nowS }),
    );
    // Act / Assess
    expect(verify(old?.body ?? '', old?.signature, { secrets: rotation }).id).toBe('evt_verify');
    expect(verify(fresh?.body ?? '', fresh?.signature, { secrets: rotation }).id).toBe(
      'evt_verify',
    );
    expect(() =>
      verify(fresh?.body ?? '', fresh?.signature, { secrets: [TEST_WEBHOOK_SECRET] }),
    ).toThrow(SignatureError);
  });

  it('refuses a missing signature header', () => {
    const signed = signedRequest(invoiceEvent(), { timestamp: nowS });
    expect(() => verify(signed.body, undefined)).toThrow(/missing Stripe-Signature/);
    expect(() => verify(signed.body, '')).toThrow(SignatureError);
  });

  it('refuses a signature made with another secret', () => {
    const signed = signedRequest(invoiceEvent(), {
      secret: 'whsec_someone_else_cccccccccccccccc',
      timestamp: nowS,
    });
    expect(() => verify(signed.body, signed.signature)).toThrow(SignatureError);
  });

  it('refuses a body with one changed byte', () => {
    // Prepare
    const signed = signedRequest(invoiceEvent(), { timestamp: nowS });
    const bytes = Buffer.from(signed.body, 'utf8');
    const index = bytes.indexOf('"quantity": 1') + '"quantity": '.length;
    bytes[index] = '9'.charCodeAt(0);
    // Act / Assess
    expect(() => verify(bytes, signed.signature)).toThrow(SignatureError);
    expect(verify(Buffer.from(signed.body, 'utf8'), signed.signature).id).toBe('evt_verify');
  });

  it('refuses a timestamp more than 300 s old, and accepts one exactly 300 s old', () => {
    const stale = signedRequest(invoiceEvent(), { timestamp: nowS - TOLERANCE_S - 1 });
    const edge = signedRequest(invoiceEvent(), { timestamp: nowS - TOLERANCE_S });
    expect(() => verify(stale.body, stale.signature)).toThrow(/301 s old/);
    expect(verify(edge.body, edge.signature).id).toBe('evt_verify');
  });

  it('refuses a timestamp more than 300 s in the future, which stripe-node alone accepts', () => {
    // Prepare
    const future = signedRequest(invoiceEvent(), { timestamp: nowS + TOLERANCE_S + 1 });
    const edge = signedRequest(invoiceEvent(), { timestamp: nowS + TOLERANCE_S });
    // Assess: stripe-node's own check only looks at age.
    expect(
      Stripe.webhooks.signature?.verifyHeader(
        future.body,
        future.signature,
        TEST_WEBHOOK_SECRET,
        TOLERANCE_S,
        undefined,
        receivedAtMs,
      ),
    ).toBe(true);
    expect(() => verify(future.body, future.signature)).toThrow(/301 s in the future/);
    expect(verify(edge.body, edge.signature).id).toBe('evt_verify');
  });

  it('refuses a header whose timestamp is missing or repeated', () => {
    const signed = signedRequest(invoiceEvent(), { timestamp: nowS });
    const v1 = signed.signature.split(',').find((part) => part.startsWith('v1='));
    expect(() => verify(signed.body, `${v1}`)).toThrow(/t= timestamp/);
    expect(() => verify(signed.body, `t=${nowS},t=${nowS - 1000},${v1}`)).toThrow(/t= timestamp/);
  });

  it('refuses a validly signed body that is not JSON', () => {
    const signed = signedRequest('{"id": "evt_1", "type": ', { timestamp: nowS });
    expect(() => verify(signed.body, signed.signature)).toThrow(InputError);
    expect(() => verify(signed.body, signed.signature)).toThrow(/body: is not JSON/);
  });

  it.each([
    ['an array', []],
    [
      'a non-event id',
      { ...stripeEvent({ type: 'invoice.paid', object: { object: 'invoice' } }), id: 'in_123' },
    ],
    [
      'no type',
      { ...stripeEvent({ type: 'invoice.paid', object: { object: 'invoice' } }), type: undefined },
    ],
    ['no data.object', { ...stripeEvent({ type: 'invoice.paid', object: {} }), data: {} }],
    [
      'no api_version',
      { ...stripeEvent({ type: 'invoice.paid', object: {} }), api_version: undefined },
    ],
  ])('refuses a signed JSON body that is not a Stripe event: %s', (_name, body) => {
    const signed = signedRequest(JSON.stringify(body), { timestamp: nowS });
    expect(() => verify(signed.body, signed.signature)).toThrow(InputError);
  });

  it('refuses an event rendered in another API version, naming both versions', () => {
    // Prepare
    const event = stripeEvent({
      type: 'invoice.paid',
      object: { object: 'invoice' },
      apiVersion: '2025-03-31.basil',
    });
    const signed = signedRequest(event, { timestamp: nowS });
    // Act
    let error: unknown;
    try {
      verify(signed.body, signed.signature);
    } catch (thrown) {
      error = thrown;
    }
    // Assess
    expect(error).toBeInstanceOf(UnsupportedApiVersionError);
    expect((error as UnsupportedApiVersionError).status).toBe(400);
    expect(String((error as Error).message)).toContain('2025-03-31.basil');
    expect(String((error as Error).message)).toContain(SUPPORTED_API_VERSION);
  });

  it('checks the signature before reading the body: a forged body with a wrong API version is a signature error', () => {
    const event = stripeEvent({ type: 'invoice.paid', object: {}, apiVersion: '2020-01-01' });
    const signed = signedRequest(event, {
      secret: 'whsec_forger_dddddddddddddddd',
      timestamp: nowS,
    });
    expect(() => verify(signed.body, signed.signature)).toThrow(SignatureError);
  });

  it('fails as a configuration fault (5xx) when no webhook secret is configured', () => {
    const signed = signedRequest(invoiceEvent(), { timestamp: nowS });
    expect(() => verify(signed.body, signed.signature, { secrets: [] })).toThrow(ConfigError);
  });

  it('pins the API version of the installed stripe package', () => {
    expect(SUPPORTED_API_VERSION).toBe(Stripe.API_VERSION);
    expect(SUPPORTED_API_VERSION).toBe('2026-10-28.endive');
  });
});

describe('Function: verifyDelivery beside stripe-node', () => {
  // The header as Stripe could send it, and as a forger might bend it: each entry kept, dropped,
  // repeated, its digest damaged or its case changed, other schemes and stray spaces added. An
  // empty `v1=` is left out: stripe-node throws on it from inside its comparison (whatever the
  // other entries), where this check simply finds that entry matching nothing.
  const body = JSON.stringify(invoiceEvent());
  const genuine = signedRequest(body, { timestamp: nowS }).signature;
  const other = signedRequest(body, { timestamp: nowS, secret: 'whsec_other' }).signature;
  const v1Of = (header: string) => header.split(',').find((part) => part.startsWith('v1=')) ?? '';
  const entry = fc.oneof(
    fc.constant(v1Of(genuine)),
    fc.constant(v1Of(other)),
    fc.constant(v1Of(genuine).toUpperCase().replace('V1=', 'v1=')),
    fc.constant(v1Of(genuine).slice(0, -2)),
    fc.constant(`${v1Of(genuine)}00`),
    fc.constant(`v0=${v1Of(genuine).slice(3)}`),
    fc.constant('v1=zz'),
    fc.constant(` ${v1Of(genuine)} `),
  );
  /** A header of up to 4 such entries with `timestamp` among them, anywhere. */
  const header = (timestamp: fc.Arbitrary<string>) =>
    fc
      .tuple(timestamp, fc.array(entry, { maxLength: 4 }), fc.nat({ max: 4 }))
      .map(([t, entries, at]) => {
        const parts = [...entries];
        parts.splice(Math.min(at, parts.length), 0, t);
        return parts.join(',');
      });

  /** stripe-node's verdict on the same header; its own tolerance, the clock at `receivedAtMs`. */
  function stripeNodeAccepts(signatureHeader: string): boolean {
    try {
      Stripe.webhooks.signature?.verifyHeader(
        body,
        signatureHeader,
        TEST_WEBHOOK_SECRET,
        TOLERANCE_S,
        undefined,
        receivedAtMs,
      );
      return true;
    } catch {
      return false;
    }
  }

  /** Our verdict: accepted, or refused as a signature error (never anything else). */
  function weAccept(signatureHeader: string): boolean {
    try {
      return verify(body, signatureHeader).id === 'evt_verify';
    } catch (error) {
      expect(error).toBeInstanceOf(SignatureError);
      return false;
    }
  }

  it('accepts exactly the headers stripe-node accepts when the timestamp is written as Stripe writes it', () => {
    fc.assert(
      fc.property(header(fc.constant(`t=${nowS}`)), (signatureHeader) => {
        expect(weAccept(signatureHeader), signatureHeader).toBe(stripeNodeAccepts(signatureHeader));
      }),
      { numRuns: 300 },
    );
  });

  it('never accepts a header stripe-node refuses, whatever is around the timestamp', () => {
    // stripe-node reads the timestamp as a number (`t=0…` and `t=… ` pass there); here it must
    // be digits alone, which Stripe always sends: stricter, never looser.
    const timestamp = fc.constantFrom(`t=${nowS}`, ` t=${nowS}`, `t=${nowS} `, `t=0${nowS}`);
    fc.assert(
      fc.property(header(timestamp), (signatureHeader) => {
        // HTTP drops the spaces around a header's value before either of us sees it.
        if (weAccept(signatureHeader)) expect(stripeNodeAccepts(signatureHeader.trim())).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('checks the bytes as received: a body that differs only in its encoding is refused', () => {
    const signed = signedRequest('{"note":"café"}', { timestamp: nowS });
    const latin1 = Uint8Array.from(Buffer.from(signed.body, 'latin1'));
    expect(() => verify(latin1, signed.signature)).toThrow(SignatureError);
    expect(() => verify(Buffer.from(signed.body, 'utf8'), signed.signature)).not.toThrow(
      SignatureError,
    );
  });
});
