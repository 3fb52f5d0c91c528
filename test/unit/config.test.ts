import { describe, expect, it } from 'vitest';
import { loadConfig, parsePlanCatalog } from '../../lib/config';

describe('Function: loadConfig', () => {
  it('C2 reads the catalog in both forms; zero is a valid amount', () => {
    // Act
    const config = loadConfig({
      PLAN_CREDITS: JSON.stringify({
        price_monthly: 500,
        price_addon: 0,
        price_annual: { credits: 500, intervalMonths: 12 },
      }),
    });
    // Assess
    expect(config.planCredits).toEqual({ price_monthly: 500, price_addon: 0, price_annual: 500 });
    expect(config.planIntervalMonths).toEqual({ price_annual: 12 });
  });

  it.each([
    [{ price_a: -1 }, 'PLAN_CREDITS.price_a'],
    [{ price_a: 2.5 }, 'PLAN_CREDITS.price_a'],
    [{ price_a: '500' }, 'PLAN_CREDITS.price_a'],
    [{ price_a: { credits: 500 } }, 'PLAN_CREDITS.price_a'],
    [{ price_a: { credits: 5, intervalMonths: 0 } }, 'PLAN_CREDITS.price_a'],
    [{ price_a: { credits: 5, intervalMonths: 1, extra: true } }, 'PLAN_CREDITS.price_a'],
    [[500], 'PLAN_CREDITS'],
  ])('refuses the catalog %j, naming %s', (catalog, where) => {
    // Act / Assess
    expect(() => parsePlanCatalog(catalog)).toThrow(
      expect.objectContaining({ name: 'ConfigError' }),
    );
    expect(() => parsePlanCatalog(catalog)).toThrow(where);
  });

  it('takes secrets as SSM parameter names, and refuses a value and a name for the same secret', () => {
    // Act
    const config = loadConfig({
      STRIPE_WEBHOOK_SECRET_PARAMETER: '/image-credits/prod/stripe-webhook-secret',
      STRIPE_SECRET_KEY_PARAMETER: '/image-credits/prod/stripe-secret-key',
    });
    // Assess
    expect(config).toMatchObject({
      webhookSecrets: [],
      webhookSecretParameter: '/image-credits/prod/stripe-webhook-secret',
      stripeSecretKeyParameter: '/image-credits/prod/stripe-secret-key',
      secretsMaxAgeS: 300,
    });
    expect(config.stripeSecretKey).toBeUndefined();
    expect(() =>
      loadConfig({ STRIPE_SECRET_KEY: 'sk_test_x', STRIPE_SECRET_KEY_PARAMETER: '/a/b' }),
    ).toThrow('STRIPE_SECRET_KEY and STRIPE_SECRET_KEY_PARAMETER are both set');
    expect(() => loadConfig({ STRIPE_WEBHOOK_SECRET_PARAMETER: 'no-slash' })).toThrow(
      'must be an SSM parameter name',
    );
    expect(() => loadConfig({ SECRETS_MAX_AGE_SECONDS: 'soon' })).toThrow(
      'SECRETS_MAX_AGE_SECONDS',
    );
  });

  it('reads the API versions accepted during a migration as a list', () => {
    // Act / Assess
    expect(
      loadConfig({ STRIPE_ACCEPTED_API_VERSIONS: ' 2026-09-30.dahlia , ' }).acceptedApiVersions,
    ).toEqual(['2026-09-30.dahlia']);
    expect(loadConfig({}).acceptedApiVersions).toEqual([]);
  });
});
