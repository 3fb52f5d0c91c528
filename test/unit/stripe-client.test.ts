import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../lib/errors';
import { isResourceMissing, lazyStripeClient } from '../../lib/stripe/client';
import { type StripeFake, startStripeFake } from '../support/stripe-fake';

describe('Function: lazyStripeClient', () => {
  let fake: StripeFake;
  beforeAll(async () => {
    fake = await startStripeFake();
  });
  afterAll(async () => fake.stop());

  it('refuses without a key, saying what the look-up was for, and sends nothing', async () => {
    // Prepare
    const stripe = lazyStripeClient({ apiBase: fake.apiBase });
    // Act
    const refused = await stripe('read a price').catch((error: unknown) => error);
    // Assess
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as Error).message).toMatch(/STRIPE_SECRET_KEY is not set.*read a price/);
    expect(fake.requests).toHaveLength(0);
  });

  it('loads stripe-node once: concurrent first look-ups get the same client, which works', async () => {
    // Prepare
    fake.prices.set('price_lazy', { credits: '7' });
    const stripe = lazyStripeClient({ secretKey: 'sk_test_lazy', apiBase: fake.apiBase });
    // Act
    const clients = await Promise.all([stripe('a'), stripe('b'), stripe('c')]);
    const price = await clients[0]?.prices.retrieve('price_lazy');
    // Assess
    expect(new Set(clients).size).toBe(1);
    expect(clients[0]).toBeInstanceOf(Stripe);
    expect(price?.metadata).toEqual({ credits: '7' });
    expect(fake.requestsTo('/v1/prices/price_lazy')[0]?.authorization).toBe('Bearer sk_test_lazy');
  });
});

describe('Function: isResourceMissing', () => {
  it("recognises stripe-node's 404 without stripe-node's classes", () => {
    // Prepare
    const missing = new Stripe.errors.StripeInvalidRequestError({
      type: 'invalid_request_error',
      code: 'resource_missing',
      statusCode: 404,
      message: 'No such price',
    });
    const other = new Stripe.errors.StripeInvalidRequestError({
      type: 'invalid_request_error',
      statusCode: 400,
      message: 'Bad',
    });
    const lookalike = Object.assign(new Error('not from Stripe'), { statusCode: 404 });
    // Act / Assess
    expect(isResourceMissing(missing)).toBe(true);
    expect(isResourceMissing(other)).toBe(false);
    expect(isResourceMissing(lookalike)).toBe(false);
    expect(isResourceMissing(undefined)).toBe(false);
  });
});
