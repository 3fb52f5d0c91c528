import { ConfigError, UnknownPriceError } from '../errors';
import { isResourceMissing, type StripeAccess, stripeFault } from './client';
import { parsePrice } from './events';

/** C2: how many credits a month one unit of a price grants. */
export type PlanCatalog = {
  creditsFor(priceId: string): Promise<number>;
};

export type PlanCatalogOptions = {
  /** PLAN_CREDITS: consulted first, no network. */
  readonly planCredits: Readonly<Record<string, number>>;
  /** For prices PLAN_CREDITS lacks: the Price's `metadata.credits`. */
  readonly stripe: StripeAccess;
};

/**
 * The plan catalog: PLAN_CREDITS first, else the Price's `metadata.credits` read through the
 * Stripe API. Look-ups are cached for the container's life as promises, so concurrent events
 * for one price share a single request. Failures are not cached: once ops set the metadata,
 * Stripe's next retry finds it.
 */
export function createPlanCatalog(options: PlanCatalogOptions): PlanCatalog {
  const looked = new Map<string, Promise<number>>();
  return {
    creditsFor(priceId) {
      const configured = options.planCredits[priceId];
      if (configured !== undefined) return Promise.resolve(configured);
      let pending = looked.get(priceId);
      if (!pending) {
        pending = creditsFromStripe(options.stripe, priceId);
        looked.set(priceId, pending);
        pending.catch(() => looked.delete(priceId));
      }
      return pending;
    },
  };
}

async function creditsFromStripe(stripe: StripeAccess, priceId: string): Promise<number> {
  let client: Awaited<ReturnType<StripeAccess>>;
  try {
    client = await stripe(`read metadata.credits of price ${priceId}, which PLAN_CREDITS lacks`);
  } catch (error) {
    if (error instanceof ConfigError) throw new UnknownPriceError(priceId, error);
    throw error;
  }
  let raw: unknown;
  try {
    raw = await client.prices.retrieve(priceId);
  } catch (error) {
    if (isResourceMissing(error)) throw new UnknownPriceError(priceId, error);
    throw stripeFault(`GET /v1/prices/${priceId}`, error);
  }
  const credits = parsePrice(raw).metadata.credits;
  if (credits === undefined) {
    throw new UnknownPriceError(priceId, new Error('the Price has no metadata.credits'));
  }
  if (!/^\d+$/.test(credits.trim()) || Number(credits.trim()) <= 0) {
    throw new UnknownPriceError(
      priceId,
      new Error(`the Price's metadata.credits is "${credits}", not a positive whole number`),
    );
  }
  return Number(credits.trim());
}
