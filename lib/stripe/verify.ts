// The signature is checked here with node:crypto rather than with stripe-node's verifier:
// stripe-node has no entry point that loads its webhook code alone (both of its `exports` build
// the API client with every resource), and loading it cost a cold start more than 100 ms
// (`npm run bench`, `initMsOverSdkFloor`). The scheme is Stripe's documented one; the tests sign
// every delivery with stripe-node and compare this check with stripe-node's own, header by
// header (test/unit/stripe-verify.test.ts).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ConfigError, InputError, SignatureError } from '../errors';
import {
  type AcceptedApiVersions,
  PINNED_API_VERSION_ONLY,
  parseStripeEvent,
  type StripeEvent,
} from './events';

/** Stripe's own default: a signature older than 5 minutes is a possible replay. */
export const TOLERANCE_S = 300;

export type SignedDelivery = {
  /** The body exactly as received: signatures are over these bytes, never a re-serialised object. */
  readonly rawBody: string | Uint8Array;
  /** The `Stripe-Signature` header's value, absent when the request had none. */
  readonly signatureHeader: string | undefined;
  /** When the request arrived (ms): the clock is a parameter, as in stripe-node. */
  readonly receivedAtMs: number;
};

/**
 * Checks a delivery's signature against each configured secret (several during a rotation),
 * refuses a timestamp more than TOLERANCE_S away from `receivedAtMs` in either direction, and
 * only then parses the body as a Stripe event of an accepted API version (the pinned one, and
 * during a migration the endpoint's old one).
 */
export function verifyDelivery(
  secrets: readonly string[],
  delivery: SignedDelivery,
  accepted: AcceptedApiVersions = PINNED_API_VERSION_ONLY,
): StripeEvent {
  if (secrets.length === 0) {
    throw new ConfigError('STRIPE_WEBHOOK_SECRET is not set: no delivery can be verified');
  }
  const header = delivery.signatureHeader?.trim();
  if (!header) throw new SignatureError('missing Stripe-Signature header');
  const timestamp = checkTimestamp(header, delivery.receivedAtMs);
  verifySignature(secrets, delivery.rawBody, header, timestamp);
  return parseStripeEvent(parseJson(delivery.rawBody), accepted);
}

/**
 * A timestamp more than TOLERANCE_S old is a possible replay. One from the future is refused
 * too (stripe-node only refuses old ones), so that a captured request cannot be signed ahead and
 * replayed later within the window. Returns the timestamp as signed.
 */
function checkTimestamp(header: string, receivedAtMs: number): string {
  // Entries as Stripe writes them, nothing around them: stripe-node reads ` t=` as no timestamp.
  const timestamps = header
    .split(',')
    .filter((part) => part.startsWith('t='))
    .map((part) => part.slice(2));
  const [timestamp] = timestamps;
  if (timestamps.length !== 1 || timestamp === undefined || !/^\d{1,12}$/.test(timestamp)) {
    throw new SignatureError('Stripe-Signature header has no single valid t= timestamp');
  }
  const skewS = Math.floor(receivedAtMs / 1000) - Number(timestamp);
  if (skewS > TOLERANCE_S) {
    throw new SignatureError(`signature timestamp is ${skewS} s old (more than ${TOLERANCE_S} s)`);
  }
  if (-skewS > TOLERANCE_S) {
    throw new SignatureError(
      `signature timestamp is ${-skewS} s in the future (more than ${TOLERANCE_S} s)`,
    );
  }
  return timestamp;
}

/**
 * Stripe signs `${t}.${body}` with HMAC-SHA256 under the endpoint's secret and sends the hex
 * digest as one or more `v1=` entries (several while Stripe rolls a secret); any other scheme
 * (`v0=`, test mode's legacy one) is ignored, as stripe-node does.
 */
function verifySignature(
  secrets: readonly string[],
  rawBody: string | Uint8Array,
  header: string,
  timestamp: string,
): void {
  const offered = signaturesOf(header);
  if (offered.length === 0)
    throw new SignatureError('Stripe-Signature header has no v1= signature');
  const signedPayload = Buffer.concat([Buffer.from(`${timestamp}.`, 'utf8'), bytesOf(rawBody)]);
  for (const secret of secrets) {
    const expected = createHmac('sha256', secret).update(signedPayload).digest();
    if (offered.some((signature) => sameDigest(signature, expected))) return;
  }
  throw new SignatureError(
    `no signature matches any of the ${secrets.length} configured webhook secret(s)`,
  );
}

/**
 * The header's `v1=` signatures as bytes. Stripe writes them as lower-case hex with nothing
 * around them; anything else (spaces, upper case, another length) matches none, as in
 * stripe-node, so the two never disagree on a header.
 */
function signaturesOf(header: string): Buffer[] {
  return header
    .split(',')
    .filter((part) => part.startsWith('v1='))
    .map((part) => part.slice(3))
    .filter((hex) => /^[0-9a-f]{64}$/.test(hex))
    .map((hex) => Buffer.from(hex, 'hex'));
}

/** Compares in constant time, so that a forger learns nothing from how long a refusal takes. */
function sameDigest(offered: Buffer, expected: Buffer): boolean {
  return offered.length === expected.length && timingSafeEqual(offered, expected);
}

function bytesOf(rawBody: string | Uint8Array): Buffer {
  return typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : Buffer.from(rawBody);
}

function parseJson(rawBody: string | Uint8Array): unknown {
  const text = typeof rawBody === 'string' ? rawBody : new TextDecoder('utf-8').decode(rawBody);
  try {
    return JSON.parse(text);
  } catch {
    throw new InputError('body', 'is not JSON');
  }
}
