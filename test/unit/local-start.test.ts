import { describe, expect, it } from 'vitest';
import { LOCAL_WEBHOOK_SECRET } from '../../infra/local/functions';
import { useSampleCatalog } from '../../infra/local/sample-catalog';
import {
  readStartSettings,
  StartError,
  startBanner,
  useWebhookSecret,
} from '../../infra/local/start-settings';
import { loadConfig } from '../../lib/config';

describe('Function: readStartSettings', () => {
  it('defaults to port 3000, DynamoDB Local on 8000 and .data/ in the repository root', () => {
    // Act
    const settings = readStartSettings({});

    // Assess
    expect(settings).toMatchObject({ port: 3000, dynamoDbPort: 8000, host: '127.0.0.1' });
    expect(settings.dataDir).toMatch(/[/\\]\.data$/);
  });

  it('refuses a port that is not a port number', () => {
    // Act & Assess
    expect(() => readStartSettings({ PORT: 'http' })).toThrow(StartError);
    expect(() => readStartSettings({ DYNAMODB_PORT: '70000' })).toThrow(
      'DYNAMODB_PORT must be a port number from 1 to 65535, got "70000"',
    );
  });
});

describe('Function: useWebhookSecret', () => {
  it('exports the local default secret when STRIPE_WEBHOOK_SECRET is not set', () => {
    // Prepare
    const env: NodeJS.ProcessEnv = { STRIPE_WEBHOOK_SECRET: ' ' };

    // Act
    const source = useWebhookSecret(env);

    // Assess
    expect(source).toEqual({ kind: 'local-default' });
    expect(env.STRIPE_WEBHOOK_SECRET).toBe(LOCAL_WEBHOOK_SECRET);
  });

  it('shows no more of real secrets than their last four characters', () => {
    // Prepare
    const env: NodeJS.ProcessEnv = {
      STRIPE_WEBHOOK_SECRET: 'whsec_old_secret_abcd,whsec_new_wxyz,short',
    };

    // Act
    const source = useWebhookSecret(env);

    // Assess
    expect(source).toEqual({ kind: 'env', count: 3, endings: ['…abcd', '…wxyz', '…'] });
    expect(env.STRIPE_WEBHOOK_SECRET).toBe('whsec_old_secret_abcd,whsec_new_wxyz,short');
  });
});

describe('Function: startBanner', () => {
  function banner(env: NodeJS.ProcessEnv, fromEnvFile: readonly string[] = []): string {
    const settings = readStartSettings(env);
    const secret = useWebhookSecret(env);
    const sampleCatalog = useSampleCatalog(env);
    env.DYNAMODB_ENDPOINT ??= `http://localhost:${settings.dynamoDbPort}`;
    const config = loadConfig(env);
    return startBanner({ settings, config, secret, env, fromEnvFile, sampleCatalog }).join('\n');
  }

  it('says where everything is with the defaults', () => {
    // Act
    const text = banner({});

    // Assess
    expect(text).toContain('DynamoDB Local  http://localhost:8000\n');
    expect(text).toContain('Table           image-credits-local');
    expect(text).toContain('Webhook URL     http://localhost:3000/webhooks/stripe');
    expect(text).toContain('whsec_local_dev_secret   <-- LOCAL DEFAULT');
    expect(text).toContain(
      'PLAN_CREDITS    4 prices (price_basic_monthly, price_pro_monthly, price_basic_yearly, price_pack_1000)   <-- LOCAL DEFAULT',
    );
    expect(text).toContain('.env            none (optional; see .env.example)');
    expect(text).toContain('stripe listen --forward-to localhost:3000/webhooks/stripe');
    expect(text).toContain(
      'Try             npm run trigger -- subscribe --customer cus_123\n' +
        `                  npm run invoke -- credits '{"action":"balance","customerId":"cus_123"}'`,
    );
  });

  it('tells how invoke meets a stack on other settings, and never prints a real secret', () => {
    // Act
    const text = banner({
      PORT: '3100',
      DYNAMODB_PORT: '8100',
      TABLE_NAME: 'credits-dev',
      STRIPE_WEBHOOK_SECRET: 'whsec_real_secret_from_cli_9f3e',
      PLAN_CREDITS: '{"price_a":100,"price_b":500}',
    });

    // Assess
    expect(text).toContain('Webhook secret  secret from STRIPE_WEBHOOK_SECRET (…9f3e)');
    expect(text).not.toContain('whsec_real_secret_from_cli_9f3e');
    expect(text).toContain('PLAN_CREDITS    2 prices (price_a, price_b)');
    expect(text).toContain('stripe listen --forward-to localhost:3100/webhooks/stripe');
    expect(text).toContain(
      'Try             PORT=3100 DYNAMODB_PORT=8100 TABLE_NAME=credits-dev npm run trigger --',
    );
    expect(text).toContain(
      '                  DYNAMODB_PORT=8100 TABLE_NAME=credits-dev npm run invoke',
    );
  });

  it("names the handler's DynamoDB when DYNAMODB_ENDPOINT points elsewhere", () => {
    // Act
    const text = banner({ DYNAMODB_ENDPOINT: 'http://127.0.0.1:9999' });

    // Assess
    expect(text).toContain(
      'DynamoDB Local  http://localhost:8000 (the handler uses DYNAMODB_ENDPOINT=http://127.0.0.1:9999)',
    );
    expect(text).toContain(
      '                  DYNAMODB_ENDPOINT=http://127.0.0.1:9999 npm run invoke',
    );
  });

  it('names what came from .env, and leaves those out of the invoke hint, since invoke reads .env too', () => {
    // Act
    const text = banner(
      { DYNAMODB_PORT: '8100', TABLE_NAME: 'credits-dev', PLAN_CREDITS: '{"price_a":1}' },
      ['DYNAMODB_PORT', 'PLAN_CREDITS'],
    );

    // Assess
    expect(text).toContain('.env            DYNAMODB_PORT, PLAN_CREDITS');
    expect(text).toContain('PLAN_CREDITS    1 price (price_a)\n');
    expect(text).toContain('Try             TABLE_NAME=credits-dev npm run trigger');
    expect(text).toContain('                  TABLE_NAME=credits-dev npm run invoke');
  });
});
