import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { createCreditsHandler } from '../../functions/credits';
import { createStripeWebhookHandler } from '../../functions/stripe-webhook';
import { ensureTable } from '../../infra/table';
import { runRollover } from '../../lib/jobs/rollover';
import { createLogger } from '../../lib/log';
import { createDocumentClient } from '../../lib/store/client';
import { createLotCache } from '../../lib/store/lot-cache';
import { webhookDepsFromConfig } from '../../lib/stripe/deps';
import {
  apiGatewayEvent,
  ms,
  paidInvoiceEvent,
  signedRequest,
  subscriptionDeletedEvent,
} from '../support/stripe-events';
import { type Capacity, capacityOf, type Snapshots } from './capacity';
import { type Exchange, type RecordedResponse, startRecordingProxy } from './dynamo-stand-in';
import { snapshotTable } from './snapshot';

/**
 * DynamoDB calls and capacity per event kind, against DynamoDB Local through a recording proxy:
 * every call each kind makes is logged with its payloads, and capacity is computed from those
 * payloads and from the table just before and after the event (capacity.ts). Each kind runs
 * through the real entry point: the webhook handler for Stripe events, the `credits` handler
 * (with a container's lot cache, as the production deps have) for a spend, runRollover for the
 * expiry job. The tables are made as the local set-up and `npm run migrate` leave them, with
 * the SCHEMA item, so no read looks for 0.1.0 items.
 */
export const EVENT_KINDS = [
  'grant',
  'duplicate',
  'referralFirstUseOfCode',
  'referral',
  'spend',
  'spendCached',
  'forfeit',
  'expireLot',
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

export type KindMeasure = {
  readonly kind: EventKind;
  readonly calls: number;
  readonly callsByOperation: Readonly<Record<string, number>>;
  readonly capacity: Capacity;
  /** What DynamoDB Local itself reported (ReturnConsumedCapacity=TOTAL): not evidence. */
  readonly localReported: { readonly rcu: number; readonly wcu: number };
  /** What the entry point answered, in a few words (checked, so the right path was measured). */
  readonly result: string;
};

export const BENCH_SECRET = 'whsec_bench_0123456789abcdefghijklmnop';
export const BASIC_PRICE = 'price_bench_basic_100';
export const PRO_PRICE = 'price_bench_pro_500';
export const PLAN_CREDITS = { [BASIC_PRICE]: 100, [PRO_PRICE]: 500 };
/** The handler's fixed clock; deliveries are signed at this time. */
export const BENCH_NOW_MS = ms('2026-11-01T00:10:00Z');
const PERIOD_START = '2026-11-01T00:00:00Z';

export type KindsResult = {
  readonly kinds: Readonly<Record<EventKind, KindMeasure>>;
  /** Real DynamoDB Local answers to a first grant's calls, for the replay stand-in. */
  readonly replay: Readonly<Record<string, RecordedResponse>>;
};

type Rig = {
  readonly db: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly webhook: ReturnType<typeof createStripeWebhookHandler>;
  readonly credits: ReturnType<typeof createCreditsHandler>;
};

const context = {} as Context;
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

function rigFor(db: DynamoDBDocumentClient, tableName: string): Rig {
  const deps = webhookDepsFromConfig(
    { planCredits: PLAN_CREDITS, webhookSecrets: [BENCH_SECRET] },
    { db, tableName, clock: () => BENCH_NOW_MS, lotCache: createLotCache() },
    createLogger({ level: 'error' }),
  );
  return {
    db,
    tableName,
    webhook: createStripeWebhookHandler(() => deps),
    credits: createCreditsHandler(() => deps),
  };
}

/** A signed API Gateway request for `event`, signed at the bench's clock. */
export function signedDelivery(event: Record<string, unknown>) {
  const signed = signedRequest(event, {
    secret: BENCH_SECRET,
    timestamp: Math.floor(BENCH_NOW_MS / 1000),
  });
  return apiGatewayEvent({ body: signed.body, headers: signed.headers, timeEpochMs: BENCH_NOW_MS });
}

async function deliver(rig: Rig, event: ReturnType<typeof signedDelivery>) {
  const response = await rig.webhook(event, context);
  const body = JSON.parse(response.body ?? 'null') as {
    outcome?: string;
    commands?: { status: string }[];
  };
  if (response.statusCode !== 200)
    throw new Error(`webhook answered ${response.statusCode}: ${response.body}`);
  return body;
}

function firstInvoice(
  customerId: string,
  priceId: string,
  options: { code?: string; start?: string } = {},
) {
  return signedDelivery(
    paidInvoiceEvent({
      customerId,
      subscriptionId: `sub_${customerId}`,
      invoiceId: `in_${customerId}_1`,
      billingReason: 'subscription_create',
      lines: [{ priceId, periodStart: options.start ?? PERIOD_START }],
      metadata: options.code ? { referral_code: options.code } : {},
    }),
  );
}

export async function measureEventKinds(options: {
  readonly dynamoDbEndpoint: string;
  readonly tableName: string;
}): Promise<KindsResult> {
  const proxy = await startRecordingProxy(options.dynamoDbEndpoint);
  const raw = new DynamoDBClient({
    endpoint: options.dynamoDbEndpoint,
    region: 'local',
    credentials,
  });
  const plain = createDocumentClient({ endpoint: proxy.endpoint, region: 'local', credentials });
  const reporting = createDocumentClient({
    endpoint: proxy.endpoint,
    region: 'local',
    credentials,
  });
  askConsumedCapacity(reporting);
  const expiryTable = `${options.tableName}-expiry`;
  try {
    await ensureTable(raw, options.tableName);
    await ensureTable(raw, expiryTable);
    const replay = await recordReplay(rigFor(plain, options.tableName), proxy);
    const measureOn =
      (tableName: string): Measure =>
      async (kind, act) => {
        const before = await snapshotTable(raw, tableName);
        const from = proxy.exchanges.length;
        const result = await act();
        const exchanges = proxy.exchanges.slice(from);
        const after = await snapshotTable(raw, tableName);
        return measured(kind, exchanges, result, { before, after });
      };
    const ledgerKinds = await measureLedgerKinds(
      rigFor(reporting, options.tableName),
      measureOn(options.tableName),
    );
    const expireLot = await measureExpiry(rigFor(reporting, expiryTable), measureOn(expiryTable));
    return { kinds: { ...ledgerKinds, expireLot }, replay };
  } finally {
    raw.destroy();
    plain.destroy();
    reporting.destroy();
    await proxy.close();
  }
}

type Measure = (kind: EventKind, act: () => Promise<string>) => Promise<KindMeasure>;

/** The webhook's kinds and the spends, in an order that builds each one's starting state. */
async function measureLedgerKinds(rig: Rig, measure: Measure) {
  // Setup (not measured): a referrer on the pro plan, with a referral code.
  await deliver(rig, firstInvoice('cus_bench_referrer', PRO_PRICE));
  const { code } = (await rig.credits(
    { action: 'referralCode', customerId: 'cus_bench_referrer' },
    context,
  )) as { code: string };
  const grantEvent = firstInvoice('cus_bench_a', BASIC_PRICE);
  const grant = await measure('grant', async () =>
    expectOutcome(await deliver(rig, grantEvent), 'applied'),
  );
  const duplicate = await measure('duplicate', async () =>
    expectOutcome(await deliver(rig, grantEvent), 'already_applied'),
  );
  // The container has not looked the code up yet: its owner is read once, then remembered.
  const referralFirstUseOfCode = await measure('referralFirstUseOfCode', () =>
    redeemed(rig, 'cus_bench_b', code),
  );
  const referral = await measure('referral', () => redeemed(rig, 'cus_bench_b2', code));
  // A month-old lot, so that the lot cache may plan the second spend on it (lot-cache.ts).
  await deliver(rig, firstInvoice('cus_bench_s', BASIC_PRICE, { start: '2026-10-01T00:00:00Z' }));
  const spend = await measure('spend', () => spendOne(rig, 'cus_bench_s', 'bench-image-1'));
  const spendCached = await measure('spendCached', () =>
    spendOne(rig, 'cus_bench_s', 'bench-image-2'),
  );
  const ending = subscriptionDeletedEvent({
    customerId: 'cus_bench_a',
    subscriptionId: 'sub_cus_bench_a',
    endedAt: '2026-11-01T00:05:00Z',
  });
  const forfeit = await measure('forfeit', async () =>
    expectOutcome(await deliver(rig, signedDelivery(ending)), 'applied'),
  );
  return { grant, duplicate, referralFirstUseOfCode, referral, spend, spendCached, forfeit };
}

async function redeemed(rig: Rig, customerId: string, code: string): Promise<string> {
  const body = await deliver(rig, firstInvoice(customerId, BASIC_PRICE, { code }));
  const statuses = (body.commands ?? []).map((command) => command.status);
  if (statuses.join() !== 'applied,applied') throw new Error(`referral: ${JSON.stringify(body)}`);
  return 'grant + redemption applied';
}

/** The expiry job on a table of its own, where one customer's only lot has expired. */
async function measureExpiry(rig: Rig, measure: Measure): Promise<KindMeasure> {
  // Setup (not measured): the lot was granted on 1 Jul, so it expired on 1 Oct.
  await deliver(rig, firstInvoice('cus_bench_c', BASIC_PRICE, { start: '2026-07-01T00:00:00Z' }));
  return measure('expireLot', () => expireOneLot(rig));
}

function expectOutcome(body: { outcome?: string }, outcome: string): string {
  if (body.outcome !== outcome) throw new Error(`expected ${outcome}, got ${JSON.stringify(body)}`);
  return outcome;
}

async function spendOne(rig: Rig, customerId: string, key: string): Promise<string> {
  const answer = (await rig.credits(
    { action: 'consume', customerId, amount: 1, idempotencyKey: key },
    context,
  )) as { ok: boolean; balance: number };
  if (!answer.ok) throw new Error(`spend refused: ${JSON.stringify(answer)}`);
  return `ok, balance ${answer.balance}`;
}

/** The expiry job, run on 1 Nov over a table where one lot has expired. */
async function expireOneLot(rig: Rig): Promise<string> {
  const report = await runRollover(
    { db: rig.db, tableName: rig.tableName },
    { nowMs: BENCH_NOW_MS, logger: createLogger({ level: 'error' }) },
  );
  if (report.expiredLots !== 1 || report.errors !== 0) {
    throw new Error(`expiry run: ${JSON.stringify(report)}`);
  }
  return `1 lot, ${report.expiredCredits} credits expired`;
}

/**
 * Records DynamoDB Local's answers to a first grant from a fresh client (a Query that finds
 * nothing, a GetItem of the table's SCHEMA item that a client reads once, a TransactWriteItems
 * that succeeds), which the replay stand-in then serves to every request. A grant of issue 13
 * also read its purchase record (a second GetItem that found nothing); grants no longer do, and
 * the stand-in serves such a miss only when one was recorded.
 */
async function recordReplay(rig: Rig, proxy: Awaited<ReturnType<typeof startRecordingProxy>>) {
  const from = proxy.exchanges.length;
  await deliver(rig, firstInvoice('cus_bench_recorded', BASIC_PRICE));
  const exchanges = proxy.exchanges.slice(from);
  const operations = exchanges.map((exchange) => exchange.operation).join();
  if (!/^Query(,GetItem){1,2},TransactWriteItems$/.test(operations)) {
    throw new Error(
      `a first grant made ${operations}, not Query, GetItem (once or twice), TransactWriteItems`,
    );
  }
  if ((exchanges[0]?.response.Items as unknown[] | undefined)?.length !== 0) {
    throw new Error('the recorded Query found items');
  }
  // The first GetItem is the SCHEMA item's; a second one (a purchase record) would have found
  // nothing, which is what the stand-in answers for every other key (GetItemOther,
  // dynamo-stand-in.ts).
  const getItems = exchanges.length - 2;
  return {
    Query: proxy.recorded('Query', from),
    GetItem: proxy.recorded('GetItem', from + 1),
    ...(getItems === 2 && { GetItemOther: proxy.recorded('GetItem', from + 2) }),
    TransactWriteItems: proxy.recorded('TransactWriteItems', from + exchanges.length - 1),
  };
}

function measured(
  kind: EventKind,
  exchanges: readonly Exchange[],
  result: string,
  snapshots: Snapshots,
): KindMeasure {
  const callsByOperation: Record<string, number> = {};
  for (const exchange of exchanges) {
    callsByOperation[exchange.operation] = (callsByOperation[exchange.operation] ?? 0) + 1;
  }
  return {
    kind,
    calls: exchanges.length,
    callsByOperation,
    capacity: capacityOf(withoutConsumedCapacity(exchanges), snapshots),
    localReported: reportedBy(exchanges),
    result,
  };
}

function withoutConsumedCapacity(exchanges: readonly Exchange[]): Exchange[] {
  return exchanges.map((exchange) => {
    const { ReturnConsumedCapacity: _ignored, ...request } = exchange.request;
    return { ...exchange, request };
  });
}

type Consumed = { CapacityUnits?: number; ReadCapacityUnits?: number; WriteCapacityUnits?: number };

function reportedBy(exchanges: readonly Exchange[]): { rcu: number; wcu: number } {
  let rcu = 0;
  let wcu = 0;
  for (const exchange of exchanges) {
    const consumed = exchange.response.ConsumedCapacity as Consumed | Consumed[] | undefined;
    const units = (Array.isArray(consumed) ? consumed : consumed ? [consumed] : []).reduce(
      (sum, each) => sum + (each.CapacityUnits ?? 0),
      0,
    );
    if (exchange.operation === 'TransactWriteItems') wcu += units;
    else rcu += units;
  }
  return { rcu, wcu };
}

/** Asks DynamoDB Local to report consumed capacity on every call (the curiosity column). */
function askConsumedCapacity(db: DynamoDBDocumentClient): void {
  db.middlewareStack.add(
    (next) => async (args) => {
      const input = args.input as Record<string, unknown>;
      input.ReturnConsumedCapacity = 'TOTAL';
      return next(args);
    },
    { step: 'initialize', name: 'benchReturnConsumedCapacity', priority: 'high' },
  );
}
