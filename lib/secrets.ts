import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { Config } from './config';
import { ConfigError } from './errors';

/**
 * The Stripe secrets, read when they are needed rather than put in a function's environment,
 * where anyone allowed `lambda:GetFunctionConfiguration` could read them. In AWS the
 * environment holds only the names of SecureString SSM parameters; each value is read through
 * Powertools Parameters, decrypted, and reused for `secretsMaxAgeS` before it is read again.
 * So a rotated secret (a new version of the same parameter) reaches every warm container within
 * that time, with no redeploy and no revision to bump. Locally, and in tests, the plain values
 * of STRIPE_WEBHOOK_SECRET and STRIPE_SECRET_KEY are used as they are.
 */
export type SecretSource = () => Promise<string>;

export type Secrets = {
  /** The webhook signing secrets; several, comma-separated, during a rotation. */
  readonly webhookSecrets: () => Promise<readonly string[]>;
  /** Absent when neither STRIPE_SECRET_KEY nor its parameter is configured. */
  readonly stripeSecretKey?: SecretSource;
};

export type SecretsOptions = {
  /** The SSM client to read through (tests point one at a local fake); default: from the environment. */
  readonly ssm?: SSMClient;
};

export function secretsFromConfig(
  config: Pick<
    Config,
    | 'webhookSecrets'
    | 'webhookSecretParameter'
    | 'stripeSecretKey'
    | 'stripeSecretKeyParameter'
    | 'secretsMaxAgeS'
  >,
  options: SecretsOptions = {},
): Secrets {
  let provider: SSMProvider | undefined;
  // One provider per container, created on first use: its cache is what keeps SSM calls rare.
  const ssm = () => {
    provider ??= new SSMProvider(options.ssm ? { awsSdkV3Client: options.ssm } : {});
    return provider;
  };
  const webhook = config.webhookSecretParameter;
  const key = config.stripeSecretKeyParameter;
  return {
    webhookSecrets: webhook
      ? async () =>
          splitSecrets(await parameterValue(ssm(), webhook, config.secretsMaxAgeS), webhook)
      : () => Promise.resolve(config.webhookSecrets),
    ...(key
      ? { stripeSecretKey: () => parameterValue(ssm(), key, config.secretsMaxAgeS) }
      : config.stripeSecretKey && { stripeSecretKey: fixedSecret(config.stripeSecretKey) }),
  };
}

export function fixedSecret(value: string): SecretSource {
  return () => Promise.resolve(value);
}

async function parameterValue(provider: SSMProvider, name: string, maxAgeS: number) {
  let value: unknown;
  try {
    value = await provider.get(name, { decrypt: true, maxAge: maxAgeS });
  } catch (error) {
    // The cause says why (not found, access denied, throttled); the value never appears here.
    throw new ConfigError(`cannot read SSM parameter ${name}: ${causeOf(error)}`, error);
  }
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ConfigError(`SSM parameter ${name} is empty`);
  }
  return value.trim();
}

function splitSecrets(value: string, name: string): string[] {
  const secrets = value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
  if (secrets.length === 0) throw new ConfigError(`SSM parameter ${name} holds no secret`);
  return secrets;
}

/** The SDK error's name and message, from Powertools' wrapper or the error itself. */
function causeOf(error: unknown): string {
  const inner = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  return inner instanceof Error ? `${inner.name}: ${inner.message}` : String(inner);
}
