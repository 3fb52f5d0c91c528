import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { createStripeWebhookHandler } from '../../functions/stripe-webhook';
import type { Config } from '../../lib/config';
import { balanceOf, ledgerOf } from '../../lib/ledger/queries';
import { capturingLogger } from '../../lib/log';
import { webhookDepsFromConfig } from '../../lib/stripe/deps';
import { tableItems } from './faults';
import {
  ms,
  type SignOptions,
  signedApiGatewayEvent,
  TEST_WEBHOOK_SECRET,
  type Time,
} from './stripe-events';
import { type StripeFake, startStripeFake } from './stripe-fake';
import { freshTable } from './table';

export type HarnessOptions = {
  readonly planCredits?: Config['planCredits'];
  /** PLAN_CREDITS' `intervalMonths` for the prices that give one (an annual plan: 12). */
  readonly planIntervalMonths?: Config['planIntervalMonths'];
  readonly webhookSecrets?: readonly string[];
  /** The fixed time of the handler's clock (signatures are made at this time by default). */
  readonly now?: Time;
  /** Where the Stripe client goes (a StripeFake's apiBase); no key means no Stripe access. */
  readonly stripeApiBase?: string;
  readonly stripeSecretKey?: string;
};

export type DeliveryResult = {
  readonly statusCode: number;
  readonly body: Record<string, unknown>;
};

/**
 * The real `stripeWebhook` handler on a fresh DynamoDB Local table, with a fixed clock and a
 * logger whose lines the test can read. Deliveries go in as API Gateway v2 events.
 */
export async function webhookHarness(options: HarnessOptions = {}) {
  const table = await freshTable('webhook');
  let nowMs = ms(options.now ?? '2026-11-01T00:10:00Z');
  const log = capturingLogger();
  const deps = webhookDepsFromConfig(
    {
      planCredits: options.planCredits ?? {},
      ...(options.planIntervalMonths && { planIntervalMonths: options.planIntervalMonths }),
      webhookSecrets: options.webhookSecrets ?? [TEST_WEBHOOK_SECRET],
      ...(options.stripeSecretKey && { stripeSecretKey: options.stripeSecretKey }),
      ...(options.stripeApiBase && { stripeApiBase: options.stripeApiBase }),
    },
    { db: table.db, tableName: table.tableName, clock: () => nowMs },
    log.logger,
  );
  const handler = createStripeWebhookHandler(() => deps);

  async function post(request: APIGatewayProxyEventV2): Promise<DeliveryResult> {
    const response = await handler(request, {} as Context);
    return { statusCode: response.statusCode ?? 0, body: JSON.parse(response.body ?? 'null') };
  }

  return {
    table,
    deps,
    log,
    handler,
    post,
    /** Signs `event` at the harness's time (unless told otherwise) and delivers it. */
    deliver(
      event: Record<string, unknown> | string,
      sign: SignOptions & { base64?: boolean } = {},
    ) {
      return post(signedApiGatewayEvent(event, { timestamp: Math.floor(nowMs / 1000), ...sign }));
    },
    setNow(time: Time) {
      nowMs = ms(time);
    },
    nowMs: () => nowMs,
    balance(customerId: string) {
      return balanceOf(table, customerId, nowMs);
    },
    async ledger(customerId: string) {
      return (await ledgerOf(table, customerId)).entries;
    },
    /** Every item the processor wrote: "nothing written" means this stays empty. */
    items: () => tableItems(table),
    drop: () => table.drop(),
  };
}

export type WebhookHarness = Awaited<ReturnType<typeof webhookHarness>>;

/**
 * The tests of one describe block, each on a harness of its own against one Stripe fake: the
 * fake starts before them and stops after; after each test its harness is dropped and the fake
 * reset. `start` points the handler at the fake with a key, unless the options say otherwise
 * (`stripeSecretKey: undefined`: a deployment without one). Call it inside the describe.
 */
export function harnessesWithStripeFake() {
  let fake: StripeFake | undefined;
  let current: WebhookHarness | undefined;
  const running = () => {
    if (!fake) throw new Error('the Stripe fake starts in beforeAll');
    return fake;
  };
  beforeAll(async () => {
    fake = await startStripeFake();
  });
  afterAll(async () => running().stop());
  afterEach(async () => {
    await current?.drop();
    current = undefined;
    running().reset();
  });
  return {
    get fake(): StripeFake {
      return running();
    },
    async start(options: HarnessOptions = {}): Promise<WebhookHarness> {
      current = await webhookHarness({
        stripeApiBase: running().apiBase,
        stripeSecretKey: 'sk_test_fake',
        ...options,
      });
      return current;
    },
  };
}
