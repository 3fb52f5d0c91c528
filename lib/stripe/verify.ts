// The whole package, for its webhook verifier: stripe-node exposes no entry point that loads
// the webhook code alone (its package.json `exports` has `.` and `./extensibility`, both of
// which build the API client with every resource), and lib/stripe/events.ts needs the package
// for its pinned API version anyway. `npm run bench` reports what that costs at a cold start:
// the `floor` bundle (stripe + the DynamoDB client) over `sdkFloor` (the client alone).
import Stripe from 'stripe';
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
  checkTimestamp(header, delivery.receivedAtMs);
  verifySignature(secrets, delivery.rawBody, header, delivery.receivedAtMs);
  return parseStripeEvent(parseJson(delivery.rawBody), accepted);
}

/**
 * stripe-node only refuses old timestamps; a timestamp from the future is refused here too, so
 * that a captured request cannot be signed ahead and replayed later within the window.
 */
function checkTimestamp(header: string, receivedAtMs: number): void {
  const timestamps = header
    .split(',')
    .map((part) => part.trim())
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
}

function verifySignature(
  secrets: readonly string[],
  rawBody: string | Uint8Array,
  header: string,
  receivedAtMs: number,
): void {
  const verifier = Stripe.webhooks.signature;
  if (!verifier) throw new Error('stripe-node was loaded without its signature verifier');
  const failures: unknown[] = [];
  for (const secret of secrets) {
    try {
      verifier.verifyHeader(rawBody, header, secret, TOLERANCE_S, undefined, receivedAtMs);
      return;
    } catch (error) {
      failures.push(error);
    }
  }
  throw new SignatureError(
    `no signature matches any of the ${secrets.length} configured webhook secret(s)`,
    failures[failures.length - 1],
  );
}

function parseJson(rawBody: string | Uint8Array): unknown {
  const text = typeof rawBody === 'string' ? rawBody : new TextDecoder('utf-8').decode(rawBody);
  try {
    return JSON.parse(text);
  } catch {
    throw new InputError('body', 'is not JSON');
  }
}
