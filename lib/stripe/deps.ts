import type { Config } from '../config';
import type { LedgerDeps } from '../ledger/deps';
import { createLogger, type Logger } from '../log';
import { depsFromEnv, once } from '../runtime';
import { createPlanCatalog } from './catalog';
import { lazyStripeClient } from './client';
import type { ProcessDeps, WebhookDeps } from './process';

/**
 * What processing Stripe events needs, from the configuration: the plan catalog (PLAN_CREDITS,
 * else Price metadata) and a Stripe client created only when a look-up needs it.
 */
export function processDepsFromConfig(
  config: Pick<Config, 'planCredits' | 'stripeSecretKey' | 'stripeApiBase'>,
  ledger: LedgerDeps,
  logger: Logger = createLogger(),
): ProcessDeps {
  const stripe = lazyStripeClient({
    ...(config.stripeSecretKey && { secretKey: config.stripeSecretKey }),
    ...(config.stripeApiBase && { apiBase: config.stripeApiBase }),
  });
  return {
    ...ledger,
    stripe,
    catalog: createPlanCatalog({ planCredits: config.planCredits, stripe }),
    logger,
  };
}

export function webhookDepsFromConfig(
  config: Pick<Config, 'planCredits' | 'stripeSecretKey' | 'stripeApiBase' | 'webhookSecrets'>,
  ledger: LedgerDeps,
  logger: Logger = createLogger(),
): WebhookDeps {
  return {
    ...processDepsFromConfig(config, ledger, logger),
    webhookSecrets: config.webhookSecrets,
  };
}

/** Once per container: the catalog's cache lives as long as the container does. */
export const webhookDepsFromEnv = once((): WebhookDeps => {
  const { config, ...ledger } = depsFromEnv();
  return webhookDepsFromConfig(config, ledger);
});
