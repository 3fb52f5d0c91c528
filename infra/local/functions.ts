import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { nearestName } from './nearest-name';

/**
 * The four Lambdas of serverless.yml by their function names, each imported only when asked for, so
 * that the local stack can set up the environment (endpoint, secret) before a handler module
 * is loaded, just as Lambda sets the environment before it loads the code.
 */
const MODULES = {
  stripeWebhook: () => import('../../functions/stripe-webhook'),
  rollover: () => import('../../functions/rollover'),
  backfill: () => import('../../functions/backfill'),
  credits: () => import('../../functions/credits'),
} as const;

export type FunctionName = keyof typeof MODULES;
export const FUNCTION_NAMES = Object.keys(MODULES) as readonly FunctionName[];

/** Functions whose input may be omitted on the command line: they are invoked with `{}`. */
export const ACCEPTS_EMPTY_EVENT: ReadonlySet<FunctionName> = new Set<FunctionName>(['rollover']);

/** The secret `npm start` and `npm run invoke` use when STRIPE_WEBHOOK_SECRET is not set. */
export const LOCAL_WEBHOOK_SECRET = 'whsec_local_dev_secret';
export const DEFAULT_DYNAMODB_PORT = 8000;
export const DEFAULT_PORT = 3000;

/** What Lambda calls: the event and a context; the result is what the invocation returns. */
export type LambdaHandler = (event: unknown, context: Context) => Promise<unknown>;

export class UnknownFunctionError extends Error {
  constructor(name: string) {
    super(`${unknownFunctionMessage(name)} (the functions are: ${FUNCTION_NAMES.join(', ')})`);
    this.name = 'UnknownFunctionError';
  }
}

/** `unknown function "credit"; did you mean "credits"?` (the hint only when one is close). */
export function unknownFunctionMessage(name: string): string {
  const nearest = nearestFunctionName(name);
  return `unknown function "${name}"${nearest ? `; did you mean "${nearest}"?` : ''}`;
}

/** The function a mistyped name most likely meant, if one is close (see nearestName). */
export function nearestFunctionName(typed: string): FunctionName | undefined {
  return nearestName(typed, FUNCTION_NAMES);
}

export function isFunctionName(name: string): name is FunctionName {
  return Object.hasOwn(MODULES, name);
}

/** Imports the named function's module and returns its `handler`. */
export async function loadHandler(name: string): Promise<LambdaHandler> {
  if (!isFunctionName(name)) throw new UnknownFunctionError(name);
  const module: { handler?: unknown } = await MODULES[name]();
  if (typeof module.handler !== 'function') {
    throw new Error(`the module of function ${name} does not export a \`handler\` function`);
  }
  return module.handler as LambdaHandler;
}

/**
 * A Lambda context good enough for local runs: a fresh request id per invocation and a
 * remaining time that counts down from `timeoutMs`, which is what middy's early timeout and
 * long-running jobs (rollover, backfill) look at.
 */
export function createLambdaContext(options: {
  functionName: string;
  timeoutMs: number;
  clock?: () => number;
}): Context {
  const clock = options.clock ?? Date.now;
  const startedAtMs = clock();
  const { functionName } = options;
  const unsupported = () => {
    throw new Error('callback-style context methods are not supported; return a promise');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `local/${startedAtMs}`,
    getRemainingTimeInMillis: () => Math.max(0, options.timeoutMs - (clock() - startedAtMs)),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}
