/**
 * Faults, as opposed to outcomes: things no caller can handle other than by reporting them or
 * retrying. Each carries the HTTP status it maps to and whether its message may be shown to
 * the caller (`expose`, as in middy's http-errors: only below 500, so internals never leak).
 */
export class CreditsError extends Error {
  readonly status: number;
  readonly expose: boolean;
  constructor(message: string, options: { status: number; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.status = options.status;
    this.expose = options.status < 500;
  }
}

/** Input from outside (an invoke's JSON, a Stripe payload) that fails validation. */
export class InputError extends CreditsError {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`, { status: 400 });
    this.field = field;
  }
}

/** A webhook delivery whose signature, timestamp or API version we refuse. */
export class SignatureError extends CreditsError {
  constructor(message: string, cause?: unknown) {
    super(message, { status: 400, cause });
  }
}

/** Missing or malformed configuration: the deployment is wrong, not the request. */
export class ConfigError extends CreditsError {
  constructor(message: string, cause?: unknown) {
    super(message, { status: 500, cause });
  }
}

/** C2: a price neither the catalog nor Stripe's metadata knows; the delivery must fail. */
export class UnknownPriceError extends CreditsError {
  readonly priceId: string;
  constructor(priceId: string, cause?: unknown) {
    super(
      `price ${priceId} has no credits: add it to PLAN_CREDITS or set metadata.credits on the ` +
        'Price in Stripe, then let Stripe retry or run backfill',
      { status: 500, cause },
    );
    this.priceId = priceId;
  }
}

/** DynamoDB failed or throttled beyond the SDK's retries; the caller should retry. */
export class StoreError extends CreditsError {
  constructor(message: string, cause?: unknown) {
    super(message, { status: 503, cause });
  }
}

/** Optimistic locking lost too many times in a row to concurrent writers. */
export class ContentionError extends CreditsError {
  constructor(message: string) {
    super(message, { status: 503 });
  }
}
