import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import Stripe from 'stripe';
import { type Config, loadConfig } from '../../lib/config';
import { ConfigError, CreditsError } from '../../lib/errors';
import { backfillExitCode } from '../../lib/jobs/backfill';
import { loadEnvFile } from './env-file';
import {
  ACCEPTS_EMPTY_EVENT,
  createLambdaContext,
  DEFAULT_DYNAMODB_PORT,
  FUNCTION_NAMES,
  type FunctionName,
  isFunctionName,
  type LambdaHandler,
  LOCAL_WEBHOOK_SECRET,
  loadHandler,
  unknownFunctionMessage,
} from './functions';
import { toApiGatewayEvent, WEBHOOK_METHOD, WEBHOOK_PATH } from './http';
import { checkLocalTable, LocalStackUnreachableError } from './local-table';
import { isMainModule } from './main-module';
import { useSampleCatalog } from './sample-catalog';

/**
 * `npm run invoke -- <function> '<json>'`: runs one function's handler in this process as
 * Lambda would, against the DynamoDB Local that `npm start` runs, and prints what
 * `aws lambda invoke` would put in its output file: the result as JSON on stdout, or
 * `{"errorType", "errorMessage"}` when the handler throws. Everything else goes to stderr.
 */

export const USAGE =
  "usage: npm run invoke -- <function> '<json>'   (<json> may be - to read it from stdin)\n" +
  `functions: ${FUNCTION_NAMES.join(', ')}`;

/** Lambda's own limit; local runs are never cut short, but handlers see a realistic clock. */
export const INVOKE_TIMEOUT_MS = 15 * 60 * 1000;

/** The command line is wrong; the process prints USAGE and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type InvokeRequest = { readonly functionName: FunctionName; readonly event: unknown };

function parseEvent(text: string, from: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`the event${from} is not valid JSON: ${(error as Error).message}`);
  }
}

/** Reads `<function> [<json> | -]`; `readStdin` is only called for `-`. */
export async function parseInvokeArgs(
  args: readonly string[],
  readStdin: () => Promise<string>,
): Promise<InvokeRequest> {
  const [functionName, json, ...extra] = args;
  if (functionName === undefined || functionName === '') {
    throw new UsageError('missing the function name');
  }
  if (!isFunctionName(functionName)) {
    throw new UsageError(unknownFunctionMessage(functionName));
  }
  if (extra.length > 0) {
    throw new UsageError(
      `expected one JSON argument, got ${args.length - 1}; quote the JSON with '...'`,
    );
  }
  if (json === undefined) {
    if (ACCEPTS_EMPTY_EVENT.has(functionName)) return { functionName, event: {} };
    throw new UsageError(`${functionName} needs an event: pass its JSON or - to read stdin`);
  }
  const event = json === '-' ? parseEvent(await readStdin(), ' on stdin') : parseEvent(json, '');
  return { functionName, event };
}

/** Whether `input` is already what API Gateway sends (then it is passed through untouched). */
export function isApiGatewayEvent(input: unknown): boolean {
  return (
    typeof input === 'object' &&
    input !== null &&
    !Array.isArray(input) &&
    ('requestContext' in input || 'routeKey' in input)
  );
}

/**
 * Wraps a Stripe event object the way a delivery arrives: pretty-printed like Stripe sends it,
 * signed with `secret` at `nowMs`, inside the API Gateway v2 event of `POST /webhooks/stripe`.
 */
export function signedWebhookEvent(
  stripeEvent: unknown,
  options: { readonly secret: string; readonly nowMs: number },
): APIGatewayProxyEventV2 {
  const payload = JSON.stringify(stripeEvent, null, 2);
  const signature = Stripe.webhooks.generateTestHeaderString({
    payload,
    secret: options.secret,
    timestamp: Math.floor(options.nowMs / 1000),
  });
  return toApiGatewayEvent({
    method: WEBHOOK_METHOD,
    url: WEBHOOK_PATH,
    rawHeaders: [
      'Content-Type',
      'application/json; charset=utf-8',
      'Stripe-Signature',
      signature,
      'User-Agent',
      'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
    ],
    body: Buffer.from(payload, 'utf8'),
    sourceIp: '127.0.0.1',
    receivedAtMs: options.nowMs,
  });
}

/** The event the handler gets: webhook input becomes a signed delivery, the rest is as given. */
export function lambdaEventFor(
  request: InvokeRequest,
  options: { readonly config: Config; readonly nowMs: number },
): unknown {
  if (request.functionName !== 'stripeWebhook' || isApiGatewayEvent(request.event)) {
    return request.event;
  }
  const secret = options.config.webhookSecrets[0] ?? LOCAL_WEBHOOK_SECRET;
  return signedWebhookEvent(request.event, { secret, nowMs: options.nowMs });
}

export type InvokeOutcome =
  | { readonly ok: true; readonly result: unknown }
  | {
      readonly ok: false;
      readonly errorType: string;
      readonly errorMessage: string;
      readonly error: unknown;
    };

/** Runs the handler; a throw is an outcome here, as it is for `aws lambda invoke`. */
export async function invokeHandler(
  handler: LambdaHandler,
  event: unknown,
  options: { readonly functionName: string; readonly clock?: () => number },
): Promise<InvokeOutcome> {
  const context = createLambdaContext({
    functionName: options.functionName,
    timeoutMs: INVOKE_TIMEOUT_MS,
    ...(options.clock && { clock: options.clock }),
  });
  try {
    return { ok: true, result: await handler(event, context) };
  } catch (error) {
    const isError = error instanceof Error;
    return {
      ok: false,
      errorType: isError ? error.name : typeof error,
      errorMessage: isError ? error.message : String(error),
      error,
    };
  }
}

/**
 * The webhook's answer as a person wants to read it: API Gateway's response carries the body as
 * a JSON string, printed here as the JSON it holds. Other results are printed as they are.
 */
export function readableResult(functionName: FunctionName, result: unknown): unknown {
  if (functionName !== 'stripeWebhook' || typeof result !== 'object' || result === null) {
    return result;
  }
  const { body } = result as { body?: unknown };
  if (typeof body !== 'string') return result;
  try {
    return { ...result, body: JSON.parse(body) };
  } catch {
    return result;
  }
}

/**
 * What stderr says about a handler that threw. Bad input (an `InputError`, or any fault meant
 * for the caller's eyes) is the caller's to fix, so one line names it; a fault inside keeps its
 * stack for whoever debugs it.
 */
export function describeHandlerError(functionName: string, error: unknown): string {
  if (error instanceof CreditsError && error.expose) {
    return `${functionName} refused the input: ${error.name}: ${error.message}\n`;
  }
  return `${functionName} failed: ${error instanceof Error ? error.stack : String(error)}\n`;
}

/** The JSON printed on stdout for an outcome; a handler that returns nothing prints `null`. */
export function formatOutcome(outcome: InvokeOutcome): string {
  const printed = outcome.ok
    ? outcome.result
    : { errorType: outcome.errorType, errorMessage: outcome.errorMessage };
  return `${JSON.stringify(printed, null, 2) ?? 'null'}\n`;
}

/**
 * What makes `npm start` and `npm run invoke` meet without any configuration: the same
 * DynamoDB Local port, table name default (lib/config), webhook secret and plan catalog.
 */
export function applyLocalDefaults(env: NodeJS.ProcessEnv): void {
  if (!env.DYNAMODB_ENDPOINT?.trim()) {
    env.DYNAMODB_ENDPOINT = `http://localhost:${env.DYNAMODB_PORT?.trim() || DEFAULT_DYNAMODB_PORT}`;
  }
  if (!env.STRIPE_WEBHOOK_SECRET?.trim()) env.STRIPE_WEBHOOK_SECRET = LOCAL_WEBHOOK_SECRET;
  useSampleCatalog(env);
}

/**
 * Sends everything written to stdout (console.log/info/debug of handlers and libraries
 * included) to stderr from now on, and returns the one way left to write to the real stdout.
 */
export function routeStdoutToStderr(): (text: string) => Promise<void> {
  const stdout = process.stdout;
  const realWrite = stdout.write.bind(stdout);
  stdout.write = process.stderr.write.bind(process.stderr) as typeof stdout.write;
  return (text) =>
    new Promise((resolveWrite, reject) => {
      realWrite(text, (error) => (error ? reject(error) : resolveWrite()));
    });
}

export type InvokeIo = {
  readonly env: NodeJS.ProcessEnv;
  readonly readStdin: () => Promise<string>;
  readonly writeResult: (text: string) => Promise<void>;
  readonly writeLog: (text: string) => void;
  readonly clock?: () => number;
};

/** The whole command; returns the exit code: 0 result, 1 handler error or no stack, 2 usage. */
export async function runInvoke(args: readonly string[], io: InvokeIo): Promise<number> {
  applyLocalDefaults(io.env);
  let request: InvokeRequest;
  let config: Config;
  try {
    request = await parseInvokeArgs(args, io.readStdin);
    config = loadConfig(io.env);
  } catch (error) {
    if (error instanceof UsageError) {
      io.writeLog(`error: ${error.message}\n${USAGE}\n`);
      return 2;
    }
    if (error instanceof ConfigError) {
      io.writeLog(`error: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  try {
    await checkLocalTable({
      endpoint: config.dynamoDbEndpoint ?? String(io.env.DYNAMODB_ENDPOINT),
      tableName: config.tableName,
    });
  } catch (error) {
    if (!(error instanceof LocalStackUnreachableError)) throw error;
    io.writeLog(`error: ${error.message}\n`);
    return 1;
  }
  const clock = io.clock ?? Date.now;
  const event = lambdaEventFor(request, { config, nowMs: clock() });
  const handler = await loadHandler(request.functionName);
  const outcome = await invokeHandler(handler, event, {
    functionName: request.functionName,
    clock,
  });
  if (!outcome.ok) io.writeLog(describeHandlerError(request.functionName, outcome.error));
  const printed = outcome.ok
    ? { ...outcome, result: readableResult(request.functionName, outcome.result) }
    : outcome;
  await io.writeResult(formatOutcome(printed));
  if (!outcome.ok) return 1;
  // A backfill that answers is not necessarily a success: failed or unfinished events say so.
  return request.functionName === 'backfill' ? backfillExitCode(outcome.result) : 0;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

if (isMainModule(import.meta.url)) {
  loadEnvFile(process.env);
  const writeResult = routeStdoutToStderr();
  runInvoke(process.argv.slice(2), {
    env: process.env,
    readStdin: () => readAll(process.stdin),
    writeResult,
    writeLog: (text) => process.stderr.write(text),
  }).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`invoke failed: ${error instanceof Error ? error.stack : error}\n`);
      process.exit(1);
    },
  );
}
