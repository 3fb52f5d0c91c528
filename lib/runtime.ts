import { type Config, loadConfig } from './config';
import type { LedgerDeps } from './ledger/deps';
import { budgetFor } from './store/call';
import { createDocumentClient } from './store/client';
import { createLotCache } from './store/lot-cache';

/**
 * Builds the dependencies a Lambda needs from its environment. Functions call this lazily,
 * once per container, so that importing a handler never connects anywhere and tests hand in
 * their own deps instead.
 */
export function depsFromConfig(
  config: Config,
): LedgerDeps & { config: Config; asOfWrites: boolean } {
  const db = createDocumentClient({
    ...(config.dynamoDbEndpoint && {
      endpoint: config.dynamoDbEndpoint,
      // DynamoDB Local accepts any credentials; real AWS ones are never needed locally.
      region: process.env.AWS_REGION ?? 'local',
      credentials: {
        accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'local',
        secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'local',
      },
    }),
  });
  return {
    db,
    tableName: config.tableName,
    lotCache: createLotCache(),
    config,
    asOfWrites: config.asOfWrites,
  };
}

/** Memoises a factory: the first call builds, later calls reuse (one per container). */
export function once<T>(factory: () => T): () => T {
  let value: T | undefined;
  let built = false;
  return () => {
    if (!built) {
      value = factory();
      built = true;
    }
    return value as T;
  };
}

export const depsFromEnv = once(() => depsFromConfig(loadConfig()));

/**
 * The budget of one invocation: the Lambda's remaining time less a margin, so that retries
 * end with a clean error before the Lambda is killed. Outside Lambda (tests, the local
 * stack), the store's default.
 */
export function budgetOf(context: { getRemainingTimeInMillis?: () => number } | undefined) {
  const remaining = context?.getRemainingTimeInMillis;
  return typeof remaining === 'function' ? budgetFor(remaining.call(context)) : undefined;
}
