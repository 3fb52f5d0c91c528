import type { Context } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createStripeWebhookHandler } from '../../functions/stripe-webhook';
import { loadConfig } from '../../lib/config';
import { capturingLogger } from '../../lib/log';
import { secretsFromConfig } from '../../lib/secrets';
import { processDepsFromConfig } from '../../lib/stripe/deps';
import type { WebhookDeps } from '../../lib/stripe/process';
import { type SsmFake, startSsmFake } from '../support/ssm-fake';
import { ms, paidInvoiceEvent, signedApiGatewayEvent } from '../support/stripe-events';
import { type StripeFake, startStripeFake } from '../support/stripe-fake';
import { freshTable } from '../support/table';

const WEBHOOK_PARAMETER = '/image-credits/test/stripe-webhook-secret';
const KEY_PARAMETER = '/image-credits/test/stripe-secret-key';
const FIRST_SECRET = 'whsec_ssm_first_0123456789abcdefghij';
const SECOND_SECRET = 'whsec_ssm_second_9876543210zyxwvutsr';
const KEY = 'sk_test_from_ssm_51HxYzAbCdEf';
const NOW = '2026-11-01T00:10:00Z';
const CONTEXT = { awsRequestId: 'req-secrets' } as Context;

type Table = Awaited<ReturnType<typeof freshTable>>;

/**
 * Secrets read at run time from SecureString SSM parameters (lib/secrets.ts), through
 * Powertools Parameters and the real SDK client pointed at a local fake of SSM.
 */
describe('Secrets from SSM parameters', () => {
  let ssm: SsmFake;
  let stripe: StripeFake;
  let table: Table;

  beforeAll(async () => {
    stripe = await startStripeFake({ prices: { price_meta: { credits: '40' } } });
  });
  afterAll(async () => stripe.stop());
  beforeEach(async () => {
    ssm = await startSsmFake({ [WEBHOOK_PARAMETER]: FIRST_SECRET, [KEY_PARAMETER]: KEY });
    table = await freshTable('secrets');
  });
  afterEach(async () => {
    await ssm.stop();
    await table.drop();
  });

  /** The webhook as serverless.yml configures it: only parameter names in the environment. */
  function webhook(maxAgeS: string, planCredits: Record<string, number> = {}) {
    const config = loadConfig({
      STRIPE_WEBHOOK_SECRET_PARAMETER: WEBHOOK_PARAMETER,
      STRIPE_SECRET_KEY_PARAMETER: KEY_PARAMETER,
      SECRETS_MAX_AGE_SECONDS: maxAgeS,
      PLAN_CREDITS: JSON.stringify(planCredits),
      STRIPE_API_BASE: stripe.apiBase,
    });
    expect(config.webhookSecrets).toEqual([]);
    const secrets = secretsFromConfig(config, { ssm: ssm.client() });
    const ledger = { db: table.db, tableName: table.tableName, clock: () => ms(NOW) };
    const base = processDepsFromConfig(config, ledger, capturingLogger().logger, secrets);
    const deps = async (): Promise<WebhookDeps> => ({
      ...base,
      webhookSecrets: await secrets.webhookSecrets(),
    });
    return createStripeWebhookHandler(deps);
  }

  const invoice = (customerId: string, priceId = 'price_plan') =>
    paidInvoiceEvent({
      customerId,
      subscriptionId: `sub_${customerId}`,
      invoiceId: `in_${customerId}`,
      lines: [{ priceId, periodStart: '2026-11-01T00:00:00Z', lineId: 'il_1' }],
    });
  const signed = (event: Record<string, unknown>, secret: string) =>
    signedApiGatewayEvent(event, { secret, timestamp: Math.floor(ms(NOW) / 1000) });

  it('verifies deliveries with the secret SSM holds, read decrypted and cached', async () => {
    // Prepare
    const handler = webhook('300', { price_plan: 100 });
    // Act
    const first = await handler(signed(invoice('cus_1'), FIRST_SECRET), CONTEXT);
    const second = await handler(signed(invoice('cus_2'), FIRST_SECRET), CONTEXT);
    const forged = await handler(signed(invoice('cus_3'), SECOND_SECRET), CONTEXT);
    // Assess: one read for three deliveries, with decryption; the other secret is refused.
    expect([first.statusCode, second.statusCode, forged.statusCode]).toEqual([200, 200, 400]);
    expect(ssm.requests).toEqual([{ name: WEBHOOK_PARAMETER, withDecryption: true }]);
  });

  it('takes a rotated secret (a new parameter version) without a redeploy', async () => {
    // Prepare: no caching, so the next invocation reads the parameter's newest version.
    const handler = webhook('0', { price_plan: 100 });
    expect((await handler(signed(invoice('cus_1'), FIRST_SECRET), CONTEXT)).statusCode).toBe(200);
    // Act: the rotation puts both secrets, then only the new one.
    ssm.put(WEBHOOK_PARAMETER, `${SECOND_SECRET},${FIRST_SECRET}`);
    const during = [
      await handler(signed(invoice('cus_2'), FIRST_SECRET), CONTEXT),
      await handler(signed(invoice('cus_3'), SECOND_SECRET), CONTEXT),
    ];
    ssm.put(WEBHOOK_PARAMETER, SECOND_SECRET);
    const after = await handler(signed(invoice('cus_4'), FIRST_SECRET), CONTEXT);
    // Assess
    expect(during.map((response) => response.statusCode)).toEqual([200, 200]);
    expect(after.statusCode).toBe(400);
  });

  it('never reads the Stripe key when every price is in PLAN_CREDITS (even if it is missing)', async () => {
    // Prepare
    ssm.denied.add(KEY_PARAMETER);
    const handler = webhook('300', { price_plan: 100 });
    // Act
    const response = await handler(signed(invoice('cus_1'), FIRST_SECRET), CONTEXT);
    // Assess
    expect(response.statusCode).toBe(200);
    expect(ssm.requests.map((request) => request.name)).toEqual([WEBHOOK_PARAMETER]);
    expect(stripe.requests).toHaveLength(0);
  });

  it('reads the Stripe key from SSM when a price needs a look-up, and sends it to Stripe', async () => {
    // Prepare
    const handler = webhook('300');
    const before = stripe.requests.length;
    // Act
    const response = await handler(signed(invoice('cus_1', 'price_meta'), FIRST_SECRET), CONTEXT);
    // Assess
    expect(response.statusCode).toBe(200);
    expect(ssm.requests.map((request) => request.name)).toContain(KEY_PARAMETER);
    expect(stripe.requests.slice(before).map((request) => request.authorization)).toEqual([
      `Bearer ${KEY}`,
    ]);
  });

  it('a key parameter that cannot be read fails the look-up as a fault naming the parameter', async () => {
    // Prepare
    ssm.denied.add(KEY_PARAMETER);
    const before = stripe.requests.length;
    const config = loadConfig({
      STRIPE_SECRET_KEY_PARAMETER: KEY_PARAMETER,
      STRIPE_API_BASE: stripe.apiBase,
    });
    const secrets = secretsFromConfig(config, { ssm: ssm.client() });
    const deps = processDepsFromConfig(
      config,
      { db: table.db, tableName: table.tableName },
      capturingLogger().logger,
      secrets,
    );
    // Act / Assess: a 5xx fault (Stripe retries the delivery), never a silent skip.
    await expect(deps.catalog.creditsFor('price_meta')).rejects.toMatchObject({
      name: 'StripeApiError',
      status: 502,
      message: expect.stringMatching(
        new RegExp(`cannot read SSM parameter ${KEY_PARAMETER}: AccessDeniedException`),
      ),
    });
    expect(stripe.requests.length).toBe(before);
  });

  it('a webhook secret parameter that does not exist fails the invocation, naming it', async () => {
    // Prepare
    const config = loadConfig({ STRIPE_WEBHOOK_SECRET_PARAMETER: '/image-credits/test/none' });
    const secrets = secretsFromConfig(config, { ssm: ssm.client() });
    // Act / Assess
    await expect(secrets.webhookSecrets()).rejects.toMatchObject({
      name: 'ConfigError',
      message: expect.stringContaining('cannot read SSM parameter /image-credits/test/none'),
    });
  });
});
