import { type Config, loadConfig } from './config';
import type { LedgerDeps } from './ledger/deps';
import { createDocumentClient } from './store/client';

/**
 * Builds the dependencies a Lambda needs from its environment. Functions call this lazily,
 * once per container, so that importing a handler never connects anywhere and tests hand in
 * their own deps instead.
 */
export function depsFromConfig(config: Config): LedgerDeps & { config: Config } {
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
  return { db, tableName: config.tableName, config };
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
