import { parseArgs } from 'node:util';
import { loadConfig } from '../../lib/config';
import { ConfigError } from '../../lib/errors';
import { signedDelivery } from './demo-events';
import { loadEnvFile } from './env-file';
import { DEFAULT_PORT, loadHandler } from './functions';
import { WEBHOOK_PATH } from './http';
import { applyLocalDefaults, invokeHandler, UsageError } from './invoke';
import { checkLocalTable, LocalStackUnreachableError } from './local-table';
import { isMainModule } from './main-module';
import { nearestName } from './nearest-name';
import {
  defaultPriceOf,
  idsOf,
  isScenarioName,
  SCENARIO_NAMES,
  SCENARIOS,
  type ScenarioInput,
  type ScenarioName,
} from './scenarios';

/**
 * `npm run trigger -- <scenario> [--customer ... --price ... --code ...]`: what Stripe would send
 * for a scenario (a subscription paid, renewed, upgraded, cancelled, a pack bought, a refund, a
 * dispute, a referral), signed with the running stack's webhook secret and posted to it, then
 * the answers and the customer's balance afterwards. Try the processor without Stripe.
 */

const OPTIONS = {
  customer: { type: 'string', default: 'cus_demo' },
  price: { type: 'string' },
  to: { type: 'string', default: 'price_pro_monthly' },
  quantity: { type: 'string', default: '1' },
  code: { type: 'string' },
  referrer: { type: 'string' },
  amount: { type: 'string' },
  subscription: { type: 'string' },
  'payment-intent': { type: 'string' },
  at: { type: 'string' },
  print: { type: 'boolean', default: false },
} as const;

export const TRIGGER_USAGE = [
  'usage: npm run trigger -- <scenario> [--customer cus_...] [--price price_...] [--to price_...]',
  '         [--quantity n] [--code CODE | --referrer cus_...] [--amount cents]',
  '         [--subscription sub_...] [--payment-intent pi_...] [--at ISO-time] [--print]',
  'scenarios:',
  ...SCENARIO_NAMES.map((name) => `  ${name.padEnd(15)} ${SCENARIOS[name].summary}`),
  '--at dates the events and periods (default now); the signature is always dated now.',
  '--print shows the events as {"events": [...]} (what backfill takes) instead of sending them.',
].join('\n');

export type TriggerRequest = {
  readonly scenario: ScenarioName;
  readonly input: Omit<ScenarioInput, 'nowMs' | 'referralCode'> & { referralCode?: string };
  /** Stripe's time for the events, when --at gives one. */
  readonly atMs?: number;
  readonly referrer?: string;
  readonly print: boolean;
};

function wholeNumber(raw: string | undefined, name: string, minimum: number): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < minimum) {
    throw new UsageError(`--${name} must be a whole number of at least ${minimum}, got "${raw}"`);
  }
  return value;
}

function readOptions(args: readonly string[]) {
  try {
    return parseArgs({ args: [...args], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Reads the command line into a scenario and its input; throws UsageError when it is wrong. */
export function parseTriggerArgs(args: readonly string[]): TriggerRequest {
  const { values, positionals } = readOptions(args);
  const [scenario, ...extra] = positionals;
  if (!scenario) throw new UsageError('missing the scenario');
  if (!isScenarioName(scenario)) {
    const nearest = nearestName(scenario, SCENARIO_NAMES);
    throw new UsageError(
      `unknown scenario "${scenario}"${nearest ? `; did you mean "${nearest}"?` : ''}`,
    );
  }
  if (extra.length > 0) throw new UsageError(`unexpected ${extra.join(' ')}`);
  if (values.code && values.referrer) throw new UsageError('give --code or --referrer, not both');
  if (scenario === 'referral' && !values.code && !values.referrer) {
    throw new UsageError('referral needs --referrer cus_... (whose code to use) or --code');
  }
  const ids = idsOf(values.customer);
  const amount = wholeNumber(values.amount, 'amount', 0);
  const atMs = values.at === undefined ? undefined : Date.parse(values.at);
  if (Number.isNaN(atMs)) throw new UsageError(`--at must be an ISO-8601 time, got "${values.at}"`);
  return {
    scenario,
    ...(atMs !== undefined && { atMs }),
    input: {
      customerId: values.customer,
      subscriptionId: values.subscription ?? ids.subscriptionId,
      paymentIntentId: values['payment-intent'] ?? ids.paymentIntentId,
      priceId: values.price ?? defaultPriceOf(scenario),
      toPriceId: values.to,
      quantity: wholeNumber(values.quantity, 'quantity', 1) ?? 1,
      ...(amount !== undefined && { amount }),
      ...(values.code && { referralCode: values.code }),
    },
    ...(values.referrer && { referrer: values.referrer }),
    print: values.print,
  };
}

/** The `credits` function, run in this process against the local stack's DynamoDB. */
async function callCredits(request: Record<string, unknown>): Promise<Record<string, unknown>> {
  const handler = await loadHandler('credits');
  const outcome = await invokeHandler(handler, request, { functionName: 'credits' });
  if (!outcome.ok) throw new Error(`credits ${request.action}: ${outcome.errorMessage}`);
  return outcome.result as Record<string, unknown>;
}

export type TriggerIo = {
  readonly env: NodeJS.ProcessEnv;
  readonly write: (text: string) => void;
  readonly clock?: () => number;
};

type Answer = { readonly status: number; readonly body: string };

async function post(url: string, event: Record<string, unknown>, secret: string, atMs: number) {
  const { body, signature } = signedDelivery(event, secret, atMs);
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stripe-signature': signature },
    body,
  });
  return { status: response.status, body: await response.text() } satisfies Answer;
}

/** Sends each event in order; returns whether every answer was a 2xx. */
async function deliver(events: Record<string, unknown>[], io: TriggerIo, secret: string) {
  const url = `http://localhost:${io.env.PORT?.trim() || DEFAULT_PORT}${WEBHOOK_PATH}`;
  let allAccepted = true;
  for (const event of events) {
    io.write(`-> POST ${WEBHOOK_PATH}  ${event.type}  ${event.id}\n`);
    let answer: Answer;
    try {
      answer = await post(url, event, secret, (io.clock ?? Date.now)());
    } catch (error) {
      const reason = (error as { cause?: { code?: string } }).cause?.code ?? String(error);
      throw new LocalStackUnreachableError(
        `Cannot reach the webhook at ${url} (${reason}). Is \`npm start\` running on PORT ${new URL(url).port}?`,
      );
    }
    io.write(`<- ${answer.status} ${answer.body}\n`);
    allAccepted &&= answer.status >= 200 && answer.status < 300;
  }
  return allAccepted;
}

type Lot = { source: string; granted: number; remaining?: number; expiresAt: string };

/** `balance of cus_a: 600 (100/100 subscription until 2027-03-01, ...)`, debt and holds too. */
export function describeBalance(view: Record<string, unknown>): string {
  const lots = (view.lots as Lot[] | undefined) ?? [];
  const upcoming = (view.upcoming as Lot[] | undefined) ?? [];
  const parts = [
    ...lots.map(
      (lot) => `${lot.remaining}/${lot.granted} ${lot.source} until ${lot.expiresAt.slice(0, 10)}`,
    ),
    ...upcoming.map((lot) => `${lot.granted} ${lot.source} upcoming`),
    ...(['held', 'debt'] as const)
      .filter((key) => Number(view[key] ?? 0) > 0)
      .map((key) => `${key} ${view[key]}`),
  ];
  return `balance of ${view.customerId}: ${view.balance}${parts.length > 0 ? ` (${parts.join(', ')})` : ''}`;
}

/** Looks up a referrer's code if asked, sends the events, prints the balances afterwards. */
async function sendScenario(request: TriggerRequest, nowMs: number, io: TriggerIo) {
  const config = loadConfig(io.env);
  await checkLocalTable({ endpoint: String(config.dynamoDbEndpoint), tableName: config.tableName });
  const code = request.referrer
    ? ((await callCredits({ action: 'referralCode', customerId: request.referrer })).code as string)
    : request.input.referralCode;
  if (request.referrer) io.write(`referral code of ${request.referrer}: ${code}\n`);
  const input = { ...request.input, nowMs, ...(code && { referralCode: code }) };
  const secret = config.webhookSecrets[0] as string;
  const accepted = await deliver(SCENARIOS[request.scenario].events(input), io, secret);
  for (const customerId of [input.customerId, ...(request.referrer ? [request.referrer] : [])]) {
    io.write(`${describeBalance(await callCredits({ action: 'balance', customerId }))}\n`);
  }
  return accepted ? 0 : 1;
}

/** The whole command; returns the exit code: 0 all accepted, 1 a refusal or no stack, 2 usage. */
export async function runTrigger(args: readonly string[], io: TriggerIo): Promise<number> {
  applyLocalDefaults(io.env);
  let request: TriggerRequest;
  try {
    request = parseTriggerArgs(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.write(`error: ${error.message}\n${TRIGGER_USAGE}\n`);
    return 2;
  }
  const nowMs = request.atMs ?? (io.clock ?? Date.now)();
  if (request.print) {
    const events = SCENARIOS[request.scenario].events({ ...request.input, nowMs });
    io.write(`${JSON.stringify({ events }, null, 2)}\n`);
    return 0;
  }
  try {
    return await sendScenario(request, nowMs, io);
  } catch (error) {
    if (!(error instanceof LocalStackUnreachableError || error instanceof ConfigError)) throw error;
    io.write(`error: ${error.message}\n`);
    return 1;
  }
}

if (isMainModule(import.meta.url)) {
  loadEnvFile(process.env);
  runTrigger(process.argv.slice(2), {
    env: process.env,
    write: (text) => process.stdout.write(text),
  }).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`trigger failed: ${error instanceof Error ? error.stack : error}\n`);
      process.exit(1);
    },
  );
}
