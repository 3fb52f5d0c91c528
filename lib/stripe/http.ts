import type { Delivery } from './process';

/** The parts of an API Gateway HTTP API (payload v2) request a delivery needs. */
export type HttpRequestEvent = {
  readonly body?: string | null;
  readonly isBase64Encoded?: boolean;
  readonly headers?: Readonly<Record<string, string | undefined>> | null;
};

/**
 * The raw body exactly as Stripe sent it: API Gateway base64-encodes bodies it considers binary,
 * and the signature is over the original bytes, so they are decoded, never parsed, here.
 */
export function deliveryFromHttpEvent(event: HttpRequestEvent, receivedAtMs: number): Delivery {
  const body = event.body ?? '';
  return {
    rawBody: event.isBase64Encoded ? Buffer.from(body, 'base64') : body,
    headers: event.headers ?? {},
    receivedAtMs,
  };
}
