import type Stripe from 'stripe';
import { ConfigError } from '../errors';
import { fixedSecret, type SecretSource } from '../secrets';
import { StripeApiError } from './errors';

export type StripeClientOptions = {
  /** STRIPE_SECRET_KEY: only price look-ups (C2), invoice lines and backfills need it. */
  readonly secretKey?: string;
  /**
   * In AWS, the key read at run time from SSM (lib/secrets.ts), only when a request is about
   * to be sent: a deployment whose prices are all in PLAN_CREDITS never reads it.
   */
  readonly secretKeySource?: SecretSource;
  /** STRIPE_API_BASE, local tests only: e.g. `http://127.0.0.1:12111` for a fake Stripe API. */
  readonly apiBase?: string;
};

/**
 * Returns the Stripe API client, creating it on first use. Verifying webhooks needs no client,
 * so a deployment without a key works until a look-up is actually needed, and then fails with a
 * ConfigError that says why.
 */
export type StripeAccess = (purpose: string) => Promise<Stripe>;

/** The stripe-node module, as its default export is: the class with its statics. */
type StripeModule = typeof Stripe;

/**
 * The client is loaded with a dynamic import on the first look-up, not when the function's
 * bundle is imported: price, invoice-line and promotion look-ups are rare (PLAN_CREDITS answers
 * most prices), so a cold start should not pay for building stripe-node's API resources.
 * A missing key is refused before anything is loaded.
 */
export function lazyStripeClient(options: StripeClientOptions): StripeAccess {
  let client: Promise<Stripe> | undefined;
  const source =
    options.secretKeySource ?? (options.secretKey ? fixedSecret(options.secretKey) : undefined);
  return (purpose) => {
    if (!source) {
      return Promise.reject(
        new ConfigError(
          `STRIPE_SECRET_KEY is not set (nor STRIPE_SECRET_KEY_PARAMETER), and it is needed to ${purpose}`,
        ),
      );
    }
    // One load and one client for concurrent first look-ups; a failed load is tried again.
    if (!client) {
      const loading = loadStripe().then((module) =>
        createStripeClient(module, { apiBase: options.apiBase, secretKey: source }),
      );
      loading.catch(() => {
        if (client === loading) client = undefined;
      });
      client = loading;
    }
    return client;
  };
}

async function loadStripe(): Promise<StripeModule> {
  return (await import('stripe')).default;
}

/**
 * A client whose every request carries the key `secretKey` gives at that moment. The key is set
 * by the HTTP layer, not at construction, so that a key read from SSM can be fetched lazily
 * (the source caches it) and a rotated key is picked up without a new client. A restricted key
 * (`rk_...`) works like a secret key as long as it allows the reads listed in docs/runbooks.md.
 */
function createStripeClient(
  StripeClass: StripeModule,
  options: { readonly secretKey: SecretSource; readonly apiBase?: string | undefined },
): Stripe {
  // No key here: the HTTP client below adds it, so the authenticator only has to exist.
  return new StripeClass('', {
    authenticator: () => Promise.resolve(),
    httpClient: keyedHttpClient(StripeClass.createNodeHttpClient(), options.secretKey),
    // Lambda's time is short: fail a stuck call and let Stripe's own retry of the delivery recover.
    timeout: 10_000,
    // GETs are safe to repeat; stripe-node backs off and honours Stripe-Should-Retry.
    maxNetworkRetries: 2,
    telemetry: false,
    appInfo: { name: 'image-credits' },
    ...(options.apiBase && apiBaseOptions(options.apiBase)),
  });
}

/** Why a Stripe request could not be sent: the key could not be read (see `cause`). */
export class StripeKeyUnavailableError extends Error {
  constructor(cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`the Stripe API key could not be read: ${reason}`, { cause });
    this.name = 'StripeKeyUnavailableError';
  }
}

function keyedHttpClient(inner: Stripe.HttpClient, secretKey: SecretSource): Stripe.HttpClient {
  return {
    getClientName: () => inner.getClientName(),
    async makeRequest(host, port, path, method, headers, requestData, protocol, timeout) {
      let key: string;
      try {
        key = await secretKey();
      } catch (error) {
        // stripe-node treats this like a connection failure: it retries, then reports it as the
        // `detail` of a StripeConnectionError, which stripeFault below turns back into this.
        throw new StripeKeyUnavailableError(error);
      }
      const authorized = { ...headers, Authorization: `Bearer ${key}` };
      return inner.makeRequest(
        host,
        port,
        path,
        method,
        authorized,
        requestData,
        protocol,
        timeout,
      );
    },
  };
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
  const keyProblem = keyUnavailable(error);
  if (keyProblem) {
    return new StripeApiError(
      `Stripe API call not sent (${what}): ${keyProblem.message}`,
      keyProblem,
    );
  }
  const raw = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  // Stripe's 401 message quotes the (masked) key, e.g. `sk_live_****abcd`: keep even that out.
  const detail = raw.replace(/\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9*]+/g, '[key]');
  return new StripeApiError(`Stripe API call failed (${what}): ${detail}`, error);
}

/**
 * Stripe's answer for an id it does not know (HTTP 404, code `resource_missing`). Recognised by
 * its fields, not by `instanceof Stripe.errors.StripeError`, which would need stripe-node loaded
 * to answer a question about an error that only a loaded stripe-node can have thrown.
 */
export function isResourceMissing(error: unknown): boolean {
  const fields = error as { type?: unknown; statusCode?: unknown; code?: unknown } | null;
  return (
    error instanceof Error &&
    typeof fields?.type === 'string' &&
    fields.type.startsWith('Stripe') &&
    (fields.statusCode === 404 || fields.code === 'resource_missing')
  );
}

function keyUnavailable(error: unknown): StripeKeyUnavailableError | undefined {
  if (error instanceof StripeKeyUnavailableError) return error;
  const detail = (error as { detail?: unknown } | null)?.detail;
  return detail instanceof StripeKeyUnavailableError ? detail : undefined;
}
