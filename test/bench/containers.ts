import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { createCreditsHandler } from '../../functions/credits';
import { createStripeWebhookHandler } from '../../functions/stripe-webhook';
import { createLambdaContext } from '../../infra/local/functions';
import { loadConfig } from '../../lib/config';
import { createLogger } from '../../lib/log';
import { depsFromConfig } from '../../lib/runtime';
import { webhookDepsFromConfig } from '../../lib/stripe/deps';
import { BENCH_SECRET, PLAN_CREDITS } from './event-kinds';

/**
 * Lambda containers, as the bench plays them: c concurrent invocations of a function are c
 * containers in AWS, each with its own DynamoDB client, lot cache and code-owner cache, built
 * by the production deps builder (lib/runtime.ts depsFromConfig) from the environment a
 * deployed function has (TABLE_NAME; DYNAMODB_ENDPOINT for DynamoDB Local). Each counts the
 * DynamoDB calls it makes: commands sent (our calls, optimistic retries included) and HTTP
 * attempts (the SDK's own retries included).
 */
export type CallCounter = {
  readonly calls: () => number;
  readonly attempts: () => number;
  /** Attempts that failed, by error name (the SDK retries some: timeouts, throttling). */
  readonly failedAttempts: () => Readonly<Record<string, number>>;
};

/** The timeouts serverless.yml gives the functions: their invocations' whole budget. */
export const CREDITS_TIMEOUT_MS = 10_000;
export const WEBHOOK_TIMEOUT_MS = 20_000;

export function countCalls(db: DynamoDBDocumentClient): CallCounter {
  let calls = 0;
  let attempts = 0;
  const failed: Record<string, number> = {};
  db.middlewareStack.add(
    (next) => (args) => {
      calls += 1;
      return next(args);
    },
    { step: 'initialize', name: 'benchCountCalls' },
  );
  // The deserialize step runs inside the SDK's retry loop: once per HTTP attempt.
  db.middlewareStack.add(
    (next) => async (args) => {
      attempts += 1;
      try {
        return await next(args);
      } catch (error) {
        const name = (error as Error).name ?? 'Error';
        failed[name] = (failed[name] ?? 0) + 1;
        throw error;
      }
    },
    { step: 'deserialize', name: 'benchCountAttempts' },
  );
  return { calls: () => calls, attempts: () => attempts, failedAttempts: () => ({ ...failed }) };
}

function productionDeps(endpoint: string, tableName: string) {
  return depsFromConfig(loadConfig({ TABLE_NAME: tableName, DYNAMODB_ENDPOINT: endpoint }));
}

export type CreditsContainer = {
  readonly invoke: (event: unknown) => Promise<unknown>;
  readonly counter: CallCounter;
  readonly destroy: () => void;
};

/** A `credits` container; each invocation gets a Lambda context with the function's timeout. */
export function creditsContainer(endpoint: string, tableName: string): CreditsContainer {
  const deps = productionDeps(endpoint, tableName);
  const counter = countCalls(deps.db);
  const handler = createCreditsHandler(() => deps);
  return {
    invoke: (event) => handler(event, lambdaContext('credits', CREDITS_TIMEOUT_MS)),
    counter,
    destroy: () => deps.db.destroy(),
  };
}

export type WebhookContainer = {
  readonly invoke: (
    event: Parameters<ReturnType<typeof createStripeWebhookHandler>>[0],
  ) => Promise<{ statusCode?: number; body?: string }>;
  readonly counter: CallCounter;
  readonly destroy: () => void;
};

/** A `stripeWebhook` container, with the bench's plan catalog and webhook secret. */
export function webhookContainer(endpoint: string, tableName: string): WebhookContainer {
  const ledger = productionDeps(endpoint, tableName);
  const counter = countCalls(ledger.db);
  const deps = webhookDepsFromConfig(
    { planCredits: PLAN_CREDITS, webhookSecrets: [BENCH_SECRET] },
    ledger,
    createLogger({ level: 'error', sink: () => {} }),
  );
  const handler = createStripeWebhookHandler(() => deps);
  return {
    invoke: (event) => handler(event, lambdaContext('stripeWebhook', WEBHOOK_TIMEOUT_MS)),
    counter,
    destroy: () => ledger.db.destroy(),
  };
}

function lambdaContext(functionName: string, timeoutMs: number): Context {
  return createLambdaContext({ functionName, timeoutMs });
}

/** Sums the counters of several containers. */
export function totalCalls(counters: readonly CallCounter[]) {
  const failedAttempts: Record<string, number> = {};
  for (const counter of counters) {
    for (const [name, count] of Object.entries(counter.failedAttempts())) {
      failedAttempts[name] = (failedAttempts[name] ?? 0) + count;
    }
  }
  return {
    calls: counters.reduce((sum, counter) => sum + counter.calls(), 0),
    attempts: counters.reduce((sum, counter) => sum + counter.attempts(), 0),
    failedAttempts,
  };
}
