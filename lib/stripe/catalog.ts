import { ConfigError, UnknownPriceError } from '../errors';
import { isResourceMissing, type StripeAccess, stripeFault } from './client';
import { type Price, parsePrice } from './events';

/** C2: what the processor knows of a price. */
export type PriceInfo = {
  /** Credits a month per unit of a subscription price; a pack price's credits per unit (C21). */
  readonly credits: number;
  /** Months one billing interval spans, when known (configured, or the Price's `recurring`). */
  readonly intervalMonths?: number;
  /** The Price's unit amount in minor units, when it was read (C19 needs it for prorations). */
  readonly unitAmount?: number;
};

/** What a caller needs beyond the credits, so that the catalog reads the Price only then. */
export type PriceNeeds = { readonly intervalMonths?: boolean; readonly unitAmount?: boolean };

export type PlanCatalog = {
  creditsFor(priceId: string): Promise<number>;
  priceFor(priceId: string, needs?: PriceNeeds): Promise<PriceInfo>;
};

export type PlanCatalogOptions = {
  /** PLAN_CREDITS: consulted first, no network. */
  readonly planCredits: Readonly<Record<string, number>>;
  /** PLAN_CREDITS' `intervalMonths`, where it gives them. */
  readonly planIntervalMonths?: Readonly<Record<string, number>>;
  /** For prices PLAN_CREDITS lacks, or details it lacks: the Price. */
  readonly stripe: StripeAccess;
};

/**
 * The plan catalog: PLAN_CREDITS first, else the Price's `metadata.credits` read through the
 * Stripe API; a price's interval and unit amount come from the Price when PLAN_CREDITS does not
 * give them and a caller needs them (prorations, C19). Prices are read at most once per
 * container, as promises, so concurrent events for one price share a single request. Failures
 * are not cached: once ops set the metadata, Stripe's next retry finds it.
 */
export function createPlanCatalog(options: PlanCatalogOptions): PlanCatalog {
  const prices = new Map<string, Promise<Price>>();
  const readPrice = (priceId: string, purpose: string) => {
    let pending = prices.get(priceId);
    if (!pending) {
      pending = priceFromStripe(options.stripe, priceId, purpose);
      prices.set(priceId, pending);
      pending.catch(() => prices.delete(priceId));
    }
    return pending;
  };
  const priceFor = async (priceId: string, needs: PriceNeeds = {}): Promise<PriceInfo> => {
    const configured = options.planCredits[priceId];
    const configuredMonths = options.planIntervalMonths?.[priceId];
    const lacking = needs.unitAmount || (needs.intervalMonths && configuredMonths === undefined);
    if (configured !== undefined && !lacking) {
      return {
        credits: configured,
        ...(configuredMonths !== undefined && { intervalMonths: configuredMonths }),
      };
    }
    const purpose =
      configured === undefined
        ? `read metadata.credits of price ${priceId}, which PLAN_CREDITS lacks`
        : `read the interval and unit amount of price ${priceId} for a proration`;
    const price = await readPrice(priceId, purpose);
    const months = configuredMonths ?? price.intervalMonths ?? undefined;
    return {
      credits: configured ?? creditsOf(price),
      ...(months !== undefined && { intervalMonths: months }),
      ...(price.unitAmount !== null && { unitAmount: price.unitAmount }),
    };
  };
  return {
    priceFor,
    creditsFor: async (priceId) => (await priceFor(priceId)).credits,
  };
}

async function priceFromStripe(
  stripe: StripeAccess,
  priceId: string,
  purpose: string,
): Promise<Price> {
  let client: Awaited<ReturnType<StripeAccess>>;
  try {
    client = await stripe(purpose);
  } catch (error) {
    if (error instanceof ConfigError) throw new UnknownPriceError(priceId, error);
    throw error;
  }
  try {
    return parsePrice(await client.prices.retrieve(priceId));
  } catch (error) {
    if (isResourceMissing(error)) throw new UnknownPriceError(priceId, error);
    throw stripeFault(`GET /v1/prices/${priceId}`, error);
  }
}

/** C2: the Price's `metadata.credits`, a whole number of 0 or more (0 grants nothing). */
function creditsOf(price: Price): number {
  const credits = price.metadata.credits;
  if (credits === undefined) {
    throw new UnknownPriceError(price.id, new Error('the Price has no metadata.credits'));
  }
  if (!/^\d+$/.test(credits.trim())) {
    throw new UnknownPriceError(
      price.id,
      new Error(`the Price's metadata.credits is "${credits}", not a whole number of 0 or more`),
    );
  }
  return Number(credits.trim());
}
