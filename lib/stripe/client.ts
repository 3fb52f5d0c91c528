import Stripe from 'stripe';
import { ConfigError } from '../errors';
import { StripeApiError } from './errors';

export type StripeClientOptions = {
  /** STRIPE_SECRET_KEY: only price look-ups (C2), invoice lines and backfills need it. */
  readonly secretKey?: string;
  /** STRIPE_API_BASE, local tests only: e.g. `http://127.0.0.1:12111` for a fake Stripe API. */
  readonly apiBase?: string;
};

/**
 * Returns the Stripe client, creating it on first use. Verifying webhooks needs no client, so a
 * deployment without STRIPE_SECRET_KEY works until a look-up is actually needed, and then fails
 * with a ConfigError that says why.
 */
export type StripeAccess = (purpose: string) => Stripe;

export function lazyStripeClient(options: StripeClientOptions): StripeAccess {
  let client: Stripe | undefined;
  return (purpose) => {
    if (!options.secretKey) {
      throw new ConfigError(`STRIPE_SECRET_KEY is not set, and it is needed to ${purpose}`);
    }
    client ??= createStripeClient({ ...options, secretKey: options.secretKey });
    return client;
  };
}

export function createStripeClient(options: StripeClientOptions & { secretKey: string }): Stripe {
  return new Stripe(options.secretKey, {
    // Lambda's time is short: fail a stuck call and let Stripe's own retry of the delivery recover.
    timeout: 10_000,
    // GETs are safe to repeat; stripe-node backs off and honours Stripe-Should-Retry.
    maxNetworkRetries: 2,
    telemetry: false,
    appInfo: { name: 'image-credits' },
    ...(options.apiBase && apiBaseOptions(options.apiBase)),
  });
}

function apiBaseOptions(apiBase: string): {
  host: string;
  port: number;
  protocol: 'http' | 'https';
} {
  let url: URL;
  try {
    url = new URL(apiBase);
  } catch (error) {
    throw new ConfigError(`STRIPE_API_BASE is not a URL: ${apiBase}`, error);
  }
  const protocol = url.protocol === 'http:' ? 'http' : 'https';
  const port = url.port ? Number(url.port) : protocol === 'http' ? 80 : 443;
  return { host: url.hostname, port, protocol };
}

/** A failed Stripe API call as a fault that keeps Stripe's error as its cause. */
export function stripeFault(what: string, error: unknown): StripeApiError {
  const raw = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  // Stripe's 401 message quotes the (masked) key, e.g. `sk_live_****abcd`: keep even that out.
  const detail = raw.replace(/\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9*]+/g, '[key]');
  return new StripeApiError(`Stripe API call failed (${what}): ${detail}`, error);
}

/** Stripe's answer for an id it does not know (HTTP 404, code `resource_missing`). */
export function isResourceMissing(error: unknown): boolean {
  return (
    error instanceof Stripe.errors.StripeError &&
    (error.statusCode === 404 || error.code === 'resource_missing')
  );
}
