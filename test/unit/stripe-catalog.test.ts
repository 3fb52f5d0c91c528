import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { UnknownPriceError } from '../../lib/errors';
import { createPlanCatalog } from '../../lib/stripe/catalog';
import { lazyStripeClient } from '../../lib/stripe/client';
import { StripeApiError } from '../../lib/stripe/errors';
import { type StripeFake, startStripeFake } from '../support/stripe-fake';

describe('Function: createPlanCatalog (against a local fake of the Stripe API)', () => {
  let fake: StripeFake;
  beforeAll(async () => {
    fake = await startStripeFake();
  });
  afterAll(async () => fake.stop());
  beforeEach(() => {
    fake.reset();
  });

  function catalog(planCredits: Record<string, number> = {}, secretKey = 'sk_test_fake') {
    const stripe = lazyStripeClient({ secretKey, apiBase: fake.apiBase });
    return createPlanCatalog({ planCredits, stripe });
  }

  it('C2: PLAN_CREDITS answers first, without calling Stripe', async () => {
    // Prepare
    fake.prices.set('price_basic', { credits: '999' });
    // Act
    const credits = await catalog({ price_basic: 100 }).creditsFor('price_basic');
    // Assess
    expect(credits).toBe(100);
    expect(fake.requests).toHaveLength(0);
  });

  it("C2: a price PLAN_CREDITS lacks is read from the Price's metadata.credits, once per container", async () => {
    // Prepare
    fake.prices.set('price_pro', { credits: '500', tier: 'pro' });
    const plans = catalog();
    // Act: concurrent look-ups share one request, later ones hit the cache.
    const first = await Promise.all(
      Array.from({ length: 10 }, () => plans.creditsFor('price_pro')),
    );
    const later = await plans.creditsFor('price_pro');
    // Assess
    expect(first).toEqual(Array(10).fill(500));
    expect(later).toBe(500);
    expect(fake.requestsTo('/v1/prices/')).toHaveLength(1);
    expect(fake.requests[0]?.path).toBe('/v1/prices/price_pro');
    expect(fake.requests[0]?.authorization).toBe('Bearer sk_test_fake');
  });

  it('C2: a price Stripe does not know is an UnknownPriceError that says how to fix it', async () => {
    const lookup = catalog().creditsFor('price_nowhere');
    await expect(lookup).rejects.toThrow(UnknownPriceError);
    await expect(lookup).rejects.toThrow(/price_nowhere.*PLAN_CREDITS.*metadata\.credits/);
  });

  it.each([
    ['missing', {}],
    ['not a number', { credits: 'lots' }],
    ['negative', { credits: '-5' }],
    ['fractional', { credits: '2.5' }],
  ])('C2: a Price whose metadata.credits is %s is unknown', async (_name, metadata) => {
    fake.prices.set('price_odd', metadata);
    await expect(catalog().creditsFor('price_odd')).rejects.toThrow(UnknownPriceError);
  });

  it('C2: a Price whose metadata.credits is zero grants nothing, and is no error', async () => {
    fake.prices.set('price_addon', { credits: '0' });
    await expect(catalog().creditsFor('price_addon')).resolves.toBe(0);
  });

  it('C2 C19: a price configured as a plain number reads its interval and unit amount from the Price when a proration needs them, once', async () => {
    // Prepare
    fake.prices.set('price_year', { credits: '100' });
    const plans = createPlanCatalog({
      planCredits: { price_year: 100, price_month: 50 },
      planIntervalMonths: { price_month: 1 },
      stripe: lazyStripeClient({ secretKey: 'sk_test_fake', apiBase: fake.apiBase }),
    });
    const requests = fake.requests.length;
    // Act
    const plain = await plans.priceFor('price_month', { intervalMonths: true });
    const [first, second] = await Promise.all([
      plans.priceFor('price_year', { intervalMonths: true, unitAmount: true }),
      plans.priceFor('price_year', { intervalMonths: true, unitAmount: true }),
    ]);
    // Assess: the sample Price is monthly at 2000 cents; one request for both look-ups.
    expect(plain).toEqual({ credits: 50, intervalMonths: 1 });
    expect(first).toEqual({ credits: 100, intervalMonths: 1, unitAmount: 2000 });
    expect(second).toEqual(first);
    expect(fake.requests.length - requests).toBe(1);
  });

  it('C2: without STRIPE_SECRET_KEY a price PLAN_CREDITS lacks is unknown, and no request is made', async () => {
    const stripe = lazyStripeClient({ apiBase: fake.apiBase });
    const plans = createPlanCatalog({ planCredits: { price_basic: 100 }, stripe });
    await expect(plans.creditsFor('price_basic')).resolves.toBe(100);
    const error = await plans.creditsFor('price_pro').catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(UnknownPriceError);
    expect(String((error as Error).cause)).toMatch(/STRIPE_SECRET_KEY is not set/);
    expect(fake.requests).toHaveLength(0);
  });

  it('a failing Stripe API is a fault (StripeApiError), not an unknown price, and is not cached', async () => {
    // Prepare
    fake.prices.set('price_pro', { credits: '500' });
    fake.failNext(500, 1);
    const plans = catalog();
    // Act
    const failed = await plans.creditsFor('price_pro').catch((thrown: unknown) => thrown);
    const retried = await plans.creditsFor('price_pro');
    // Assess
    expect(failed).toBeInstanceOf(StripeApiError);
    expect((failed as StripeApiError).status).toBeGreaterThanOrEqual(500);
    expect(retried).toBe(500);
  });

  it('an unknown price is looked up again later, so fixing the metadata needs no restart', async () => {
    const plans = catalog();
    await expect(plans.creditsFor('price_new')).rejects.toThrow(UnknownPriceError);
    fake.prices.set('price_new', { credits: '250' });
    await expect(plans.creditsFor('price_new')).resolves.toBe(250);
    expect(fake.requestsTo('/v1/prices/price_new')).toHaveLength(2);
  });
});
