/**
 * The prices `npm run trigger` sells, and the plan catalog the local stack uses for them when
 * PLAN_CREDITS is not set, so that a fresh clone can grant credits without any configuration.
 * Like the local webhook secret, this default exists only in the local tools: a deployed
 * function reads PLAN_CREDITS (or the Price's metadata) and nothing else.
 */

export type SamplePrice = {
  readonly id: string;
  /** Monthly credits for a plan, the credits of one pack for a pack. */
  readonly credits: number;
  /** What Stripe charges for one, in cents. */
  readonly unitAmount: number;
  readonly recurring: boolean;
  /** How many months one billing period of a recurring price spans. */
  readonly intervalMonths?: number;
};

export const SAMPLE_PRICES = {
  basic: { id: 'price_basic_monthly', credits: 100, unitAmount: 1000, recurring: true },
  pro: { id: 'price_pro_monthly', credits: 500, unitAmount: 3000, recurring: true },
  // C20: billed yearly, granted as twelve monthly lots of 100.
  annual: {
    id: 'price_basic_yearly',
    credits: 100,
    unitAmount: 10000,
    recurring: true,
    intervalMonths: 12,
  },
  pack: { id: 'price_pack_1000', credits: 1000, unitAmount: 2000, recurring: false },
} as const satisfies Record<string, SamplePrice>;

export function intervalMonthsOf(price: SamplePrice): number {
  return 'intervalMonths' in price && price.intervalMonths ? price.intervalMonths : 1;
}

/** Every sample price, by id. */
export function samplePriceById(id: string): SamplePrice | undefined {
  return Object.values(SAMPLE_PRICES).find((price) => price.id === id);
}

/**
 * PLAN_CREDITS for the sample prices. The plans say their interval, so that an upgrade's
 * prorations (C19) need no call to Stripe for it.
 */
export const LOCAL_PLAN_CREDITS = JSON.stringify(
  Object.fromEntries(
    Object.values(SAMPLE_PRICES).map((price) => [
      price.id,
      price.recurring
        ? { credits: price.credits, intervalMonths: intervalMonthsOf(price) }
        : price.credits,
    ]),
  ),
);

/** Sets PLAN_CREDITS to the sample catalog unless the environment has one; says if it did. */
export function useSampleCatalog(env: NodeJS.ProcessEnv): boolean {
  if (env.PLAN_CREDITS?.trim()) return false;
  env.PLAN_CREDITS = LOCAL_PLAN_CREDITS;
  return true;
}
