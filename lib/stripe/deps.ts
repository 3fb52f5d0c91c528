import type { Config } from '../config';
import type { LedgerDeps } from '../ledger/deps';
import { createLogger, type Logger } from '../log';
import { depsFromEnv, once } from '../runtime';
import { type Secrets, secretsFromConfig } from '../secrets';
import { createPlanCatalog } from './catalog';
import { lazyStripeClient } from './client';
import { type AcceptedApiVersions, acceptedApiVersions } from './events';
import type { ProcessDeps, WebhookDeps } from './process';

type StripeConfig = Pick<
  Config,
  'planCredits' | 'stripeSecretKey' | 'stripeSecretKeyParameter' | 'stripeApiBase'
> &
  Partial<Pick<Config, 'secretsMaxAgeS' | 'planIntervalMonths'>>;

/**
 * What processing Stripe events needs, from the configuration: the plan catalog (PLAN_CREDITS,
 * else Price metadata) and a Stripe client created only when a look-up needs it, whose key
 * comes from `secrets` (STRIPE_SECRET_KEY locally, its SSM parameter in AWS).
 */
export function processDepsFromConfig(
  config: StripeConfig,
  ledger: LedgerDeps,
  logger: Logger = createLogger(),
  secrets: Pick<Secrets, 'stripeSecretKey'> = secretsOf(config),
): ProcessDeps {
  const stripe = lazyStripeClient({
    ...(secrets.stripeSecretKey && { secretKeySource: secrets.stripeSecretKey }),
    ...(config.stripeApiBase && { apiBase: config.stripeApiBase }),
  });
  return {
    ...ledger,
    stripe,
    knownPrices: new Set(Object.keys(config.planCredits)),
    catalog: createPlanCatalog({
      planCredits: config.planCredits,
      ...(config.planIntervalMonths && { planIntervalMonths: config.planIntervalMonths }),
      stripe,
    }),
    logger,
  };
}

function secretsOf(config: StripeConfig): Pick<Secrets, 'stripeSecretKey'> {
  return secretsFromConfig({
    webhookSecrets: [],
    secretsMaxAgeS: config.secretsMaxAgeS ?? 300,
    ...(config.stripeSecretKey && { stripeSecretKey: config.stripeSecretKey }),
    ...(config.stripeSecretKeyParameter && {
      stripeSecretKeyParameter: config.stripeSecretKeyParameter,
    }),
  });
}

export function webhookDepsFromConfig(
  config: StripeConfig &
    Pick<Config, 'webhookSecrets'> &
    Partial<Pick<Config, 'acceptedApiVersions'>>,
  ledger: LedgerDeps,
  logger: Logger = createLogger(),
): WebhookDeps {
  return {
    ...processDepsFromConfig(config, ledger, logger),
    webhookSecrets: config.webhookSecrets,
    acceptedApiVersions: acceptedApiVersions(config.acceptedApiVersions),
  };
}

/** Once per container: the catalog's and the secrets' caches live as long as the container. */
const webhookBaseFromEnv = once(() => {
  const { config, ...ledger } = depsFromEnv();
  const secrets = secretsFromConfig(config);
  const deps = {
    ...processDepsFromConfig(config, ledger, createLogger(), secrets),
    acceptedApiVersions: acceptedApiVersions(config.acceptedApiVersions),
  };
  return { deps, secrets };
});

/**
 * The webhook's processing without its secrets (one per container, shared with the webhook's
 * deps when both run in one process): what stripeEventBridge runs Stripe's events with.
 */
export function processDepsFromEnv(): ProcessDeps & {
  readonly acceptedApiVersions: AcceptedApiVersions;
} {
  return webhookBaseFromEnv().deps;
}

/**
 * Per invocation: the webhook secrets as SSM has them now (cached for SECRETS_MAX_AGE_SECONDS),
 * so a rotation needs no redeploy.
 */
export async function webhookDepsFromEnv(): Promise<WebhookDeps> {
  const { deps, secrets } = webhookBaseFromEnv();
  return { ...deps, webhookSecrets: await secrets.webhookSecrets() };
}
