import { CreditsError } from '../errors';

/**
 * The event is signed and well formed but rendered in an API version other than the one the
 * installed `stripe` package pins. Its payload may not have the shape we read, so it is refused
 * (400: the request as sent can never be processed, and a retry of the same payload would be
 * refused again) rather than guessed at. Ops fix it by setting the webhook endpoint's API
 * version, then replaying the refused events (backfill).
 */
export class UnsupportedApiVersionError extends CreditsError {
  readonly received: string | null;
  readonly supported: string;
  /** The refused event's id (its signature was valid), so ops can find and replay it. */
  readonly eventId: string | undefined;
  constructor(received: string | null, supported: string, eventId?: string) {
    super(
      `event api_version ${received ?? '(none)'} is not accepted (this build is pinned to ` +
        `${supported}): set the Stripe webhook endpoint's API version to ${supported}, or, ` +
        'during a migration, list the old version in acceptedApiVersions (docs/runbooks.md); ' +
        'Stripe retries a refused delivery for up to three days',
      { status: 400 },
    );
    this.received = received;
    this.supported = supported;
    this.eventId = eventId;
  }
}

/**
 * A verified event of a type we handle whose object lacks a field we need, or has it in another
 * shape. Stripe signed it, so the sender is right and our reading is wrong: a fault (5xx, so
 * Stripe keeps the event for a retry after the fix), never a silent skip.
 */
export class UnexpectedPayloadError extends CreditsError {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`unexpected Stripe payload at ${field}: ${message}`, { status: 500 });
    this.field = field;
  }
}

/** The Stripe API failed (network, 5xx, auth, rate limit): retry later. */
export class StripeApiError extends CreditsError {
  constructor(message: string, cause?: unknown) {
    super(message, { status: 502, cause });
  }
}
