import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCreditsHandler } from '../../functions/credits';
import { createRolloverHandler } from '../../functions/rollover';
import { createStripeWebhookHandler } from '../../functions/stripe-webhook';
import { CreditsError } from '../../lib/errors';
import type { LedgerDeps } from '../../lib/ledger/deps';
import { reserve } from '../../lib/ledger/holds';
import { referralCodeOf } from '../../lib/ledger/referrals';
import { consume } from '../../lib/ledger/spending';
import { grantSubscriptionInvoice } from '../../lib/ledger/subscriptions';
import { capturingLogger } from '../../lib/log';
import { ACCOUNT_SK, customerPk, LOT_PREFIX, LOT_SHARDS, lotShard } from '../../lib/store/keys';
import { webhookDepsFromConfig } from '../../lib/stripe/deps';
import {
  type DynamoOperation,
  FaultKind,
  faultyStore,
  quickRetries,
  type SeenRequest,
  sdkDefaultMaxAttempts,
} from '../support/faults';
import { refundEvent, refundObject } from '../support/reversal-events';
import {
  checkoutEvent,
  checkoutLineItem,
  ms,
  paidInvoiceEvent,
  quantityChangeEvent,
  signedApiGatewayEvent,
  subscriptionDeletedEvent,
  TEST_WEBHOOK_SECRET,
} from '../support/stripe-events';
import { type StripeFake, startStripeFake } from '../support/stripe-fake';
import { freshTable, localClientConfig } from '../support/table';

/**
 * The fault matrix (issue 7, "Reliability"): for each operation, the DynamoDB calls it makes
 * when nothing fails are recorded; then, for every call and every fault kind, the operation
 * runs on a fresh customer with that call failing, through the SDK's own stack (its retries,
 * signing, error parsing; see test/support/faults.ts), and is repeated the way its caller
 * would: Stripe redelivers the same signed request until it gets a 2xx, the image app retries
 * the same idempotency key, the scheduler reruns the expiry job. The end state must equal a
 * fault-free run on another customer (modulo ids), with every fact applied once; a 2xx only
 * once the change is durable; after a failure, only a state the fault-free run passes through
 * (nothing half-written); and a fault never answers 4xx, which Stripe would not retry.
 *
 * Two strengths per fault: `once` (the call's first attempt fails: the SDK's retries, or our
 * optimistic-locking loop for a transaction conflict, must absorb it, so the first delivery
 * succeeds) and `outlasting` (every SDK attempt of the call fails: the delivery must fail with
 * a 5xx and the second succeed; a transaction conflict, which our own loop retries, is still
 * absorbed). The test client has the SDK's default attempt count and retry strategy, with its
 * waits shortened to 1 ms (quickRetries) and a 200 ms requestTimeout for the timeout fault.
 *
 * Runs share a table per operation (distinct customers), five at a time; the expiry job reads
 * the whole index, so its runs take turns on five tables. A request that fails on its own (the
 * 200 ms timeout on a loaded machine) is counted; such a run may need a delivery more, but its
 * outcome is held to the same standard.
 */

const PRO = 'price_pro_500';
const BASIC = 'price_basic_100';
/** 100 credits a month, billed once a year at $200 a unit (C20). */
const YEARLY = 'price_yearly_100';
/** 1,000 credits bought once (C21). */
const PACK = 'price_pack_1000';
const PLAN_CREDITS = { [PRO]: 500, [BASIC]: 100, [YEARLY]: 100, [PACK]: 1000 };
const PLAN_INTERVAL_MONTHS = { [YEARLY]: 12 };
/** The annual plan's year: half of it is left on 1 March, when its quantity changes (C19). */
const YEAR_START = '2025-09-01T00:00:00Z';
const YEAR_END = '2026-09-01T00:00:00Z';
const FEB = '2026-02-01T08:00:00Z';
const MARCH = '2026-03-01T08:00:00Z';
/** The processor's clock for webhook deliveries and spends (signatures are made at it). */
const NOW = '2026-03-10T12:00:00Z';
const ENDED_AT = '2026-03-10T00:00:00Z';
/** After both expiry lots (Feb and March, 3 calendar months, C4) have expired. */
const EXPIRY_RUN_AT = '2026-06-02T00:05:00Z';
/**
 * The test client's requestTimeout. FAULTS_REQUEST_TIMEOUT_MS=25 makes DynamoDB Local itself
 * miss it now and then: hundreds of extra timeouts at random calls on top of the injected ones.
 */
const REQUEST_TIMEOUT_MS = Number(process.env.FAULTS_REQUEST_TIMEOUT_MS ?? 200);
const RETRY_DELAY_MS = 1;
/** Stripe retries for three days; a handful of redeliveries is plenty once the fault is gone. */
const MAX_DELIVERIES = REQUEST_TIMEOUT_MS < 100 ? 12 : 5;
/** The shard whose Query the expiry customers' transaction follows (see the expiry calls). */
const EXPIRY_SHARD = 'LOTS#3';

const LAMBDA_CONTEXT = { getRemainingTimeInMillis: () => 900_000 } as unknown as Context;

const Mode = { once: 'once', outlasting: 'outlasting' } as const;
type Mode = (typeof Mode)[keyof typeof Mode];

type Ids = {
  readonly customer: string;
  /** The referral's referrer; absent for the other operations. */
  readonly referrer?: string;
};

type Env = {
  readonly deps: LedgerDeps;
  readonly tableName: string;
};

/** One try of an operation as its caller sees it: a 2xx/resolved, or a status. */
type Attempt = { readonly ok: boolean; readonly status: number; readonly detail: unknown };

type Item = Record<string, unknown>;

type OperationSpec = {
  readonly name:
    | 'grant'
    | 'referral'
    | 'forfeit'
    | 'spend'
    | 'reserve'
    | 'settle'
    | 'expiry'
    | 'reversal'
    | 'downgrade'
    | 'upgrade'
    | 'pack'
    | 'unforfeit'
    | 'annualEnd'
    | 'checkoutPack'
    | 'refundBeforeCut'
    | 'repaidBeforeCut'
    | 'repaidBetweenCuts'
    | 'retakeBeforeLaterCut';
  readonly rules: string;
  /**
   * The operation reads beyond its own customers (the expiry job sweeps the whole index), so
   * each run needs a table to itself: runs take turns on a few tables instead of sharing one.
   */
  readonly needsOwnTable?: true;
  /** The DynamoDB calls of one fault-free run, in order (first attempts only). */
  readonly calls: readonly DynamoOperation[];
  /** The calls to fault, when not every one (calls that fail alike): indexes into `calls`. */
  readonly faultAt?: readonly number[];
  /** Customers' state before the operation, written through healthy deps. */
  prepare(table: Env, ids: Ids): Promise<void>;
  /**
   * Builds the caller on `env` (the faulty one): the same request each time it is called (the
   * same signed delivery). Anything it must read first is read through `healthy`.
   */
  caller(env: Env, healthy: Env, ids: Ids): Promise<() => Promise<Attempt>>;
  /** Asserts exactly-once on a snapshot: one grant per invoice, one bonus pair, etc. */
  assessOnce(items: readonly Item[], ids: Ids): void;
};

const idsOf = (ids: Ids) => ({
  invoice: `in_${ids.customer}`,
  subscription: `sub_${ids.customer}`,
  spendKey: `img_${ids.customer}`,
  holdId: `job_${ids.customer}`,
});

/** The `credits` function on `env`, handed the same request again and again. */
function creditsCaller(env: Env, request: Record<string, unknown>): () => Promise<Attempt> {
  const handler = createCreditsHandler(() => env.deps);
  return () => invoked(() => handler(request, LAMBDA_CONTEXT));
}

function holdItemsOf(items: readonly Item[], customerId: string): string[] {
  return items
    .filter(
      (item) => item.pk === customerPk(customerId) && String(item.sk).startsWith('STATE#HOLD#'),
    )
    .map((item) => String(item.sk));
}

async function grantHealthy(
  env: Env,
  customerId: string,
  invoiceId: string,
  credits: number,
  at: string,
) {
  const result = await grantSubscriptionInvoice(
    { ...env.deps, clock: () => ms(NOW) },
    {
      customerId,
      invoiceId,
      subscriptionId: `sub_${customerId}`,
      invoiceCreatedMs: ms(at),
      lines: [{ lineId: 'il_1', credits, periodStartMs: ms(at) }],
    },
  );
  expect(result.status).toBe('applied');
}

/** The stripeWebhook handler on `env`, and one signed delivery it is handed again and again. */
function webhookCaller(
  env: Env,
  event: Record<string, unknown>,
  stripe?: { readonly stripeApiBase: string; readonly stripeSecretKey: string },
): () => Promise<Attempt> {
  const log = capturingLogger();
  const deps = webhookDepsFromConfig(
    {
      planCredits: PLAN_CREDITS,
      planIntervalMonths: PLAN_INTERVAL_MONTHS,
      webhookSecrets: [TEST_WEBHOOK_SECRET],
      ...stripe,
    },
    env.deps,
    log.logger,
  );
  const handler = createStripeWebhookHandler(() => deps);
  const delivery: APIGatewayProxyEventV2 = signedApiGatewayEvent(event, {
    timestamp: Math.floor(ms(NOW) / 1000),
  });
  return async () => {
    const logged = log.raw.length;
    const response = await handler(delivery, LAMBDA_CONTEXT);
    const status = response.statusCode ?? 0;
    const ok = status >= 200 && status < 300;
    const body = JSON.parse(response.body ?? 'null') as unknown;
    // A failure's cause is in the log only (the response keeps internals out).
    return { ok, status, detail: ok ? body : { body, log: log.raw.slice(logged) } };
  };
}

/** An invoked function (credits, rollover): resolving is success, a throw is its status. */
async function invoked(run: () => Promise<unknown>): Promise<Attempt> {
  try {
    return { ok: true, status: 200, detail: await run() };
  } catch (error) {
    // Anything but a named fault would be a bug; status 0 makes the 5xx assertion fail on it.
    const status = error instanceof CreditsError ? error.status : 0;
    return { ok: false, status, detail: `${(error as Error).name}: ${(error as Error).message}` };
  }
}

function ledgerOf(items: readonly Item[], customerId: string) {
  return items
    .filter((item) => item.pk === customerPk(customerId) && String(item.sk).startsWith('LEDGER#'))
    .map((item) => ({
      type: item.type as string,
      amount: item.amount as number,
      ref: item.ref as string,
      lots: (item.lots as { lotId: string }[]).map((lot) => lot.lotId),
    }));
}

function factsOf(items: readonly Item[], customerId: string): string[] {
  return items
    .filter((item) => item.pk === customerPk(customerId) && String(item.sk).startsWith('FACT#'))
    .map((item) => String(item.sk));
}

const typesAndAmounts = (entries: ReturnType<typeof ledgerOf>) =>
  entries.map((entry) => [entry.type, entry.amount]);

/** Delivers an event through the healthy store (a customer's history before the operation). */
async function deliverHealthy(env: Env, event: Record<string, unknown>) {
  const attempt = await webhookCaller(env, event)();
  expect(attempt).toMatchObject({ ok: true });
}

/** The customer's subscription ending on 10 March (`customer.subscription.deleted`). */
function subscriptionEndEvent(ids: Ids): Record<string, unknown> {
  return subscriptionDeletedEvent({
    customerId: ids.customer,
    subscriptionId: idsOf(ids).subscription,
    endedAt: ENDED_AT,
    eventId: `evt_${ids.customer}_end`,
  });
}

/** The annual plan's first invoice: `quantity` x YEARLY for the year from 1 September. */
function annualInvoiceEvent(ids: Ids, quantity: number): Record<string, unknown> {
  return paidInvoiceEvent({
    customerId: ids.customer,
    subscriptionId: idsOf(ids).subscription,
    invoiceId: idsOf(ids).invoice,
    eventId: `evt_${ids.customer}_year`,
    lines: [
      {
        priceId: YEARLY,
        quantity,
        periodStart: YEAR_START,
        periodEnd: YEAR_END,
        unitAmount: 20000,
        lineId: 'il_1',
      },
    ],
  });
}

/**
 * C19: YEARLY's quantity from `from` to `to`, invoiced at once: on 1 March with half the year
 * left unless `change` says when (and the invoice's suffix).
 */
function annualQuantityChangeEvent(
  ids: Ids,
  from: number,
  to: number,
  change: { at: string; left: number; suffix: string } = {
    at: '2026-03-01T00:00:00Z',
    left: 0.5,
    suffix: 'change',
  },
): Record<string, unknown> {
  return quantityChangeEvent({
    customerId: ids.customer,
    subscriptionId: idsOf(ids).subscription,
    invoiceId: `${idsOf(ids).invoice}_${change.suffix}`,
    priceId: YEARLY,
    unitAmount: 20000,
    at: change.at,
    periodEnd: YEAR_END,
    from,
    to,
    left: change.left,
  });
}

/** C19: the annual plan's 2 -> 3 of 1 February (seven months of twelve left), at once. */
const FEBRUARY_UPGRADE = { at: '2026-02-01T00:00:00Z', left: 7 / 12, suffix: 'up' };
/** A downgrade billed on 10 February, before the annual invoice's refund of 20 February. */
const FEBRUARY_DOWNGRADE = { at: '2026-02-10T00:00:00Z', left: 203 / 365, suffix: 'down' };

/** The annual plan's months still to come (C20), as `YYYY-MM credits`, from the lots. */
function upcomingOf(items: readonly Item[], customerId: string): string[] {
  return items
    .filter(
      (item) =>
        item.pk === customerPk(customerId) &&
        String(item.sk).startsWith(LOT_PREFIX) &&
        item.upcoming === true,
    )
    .map((item) => `${String(item.grantedAt).slice(0, 7)} ${item.remaining}`)
    .sort();
}

/** Stripe's API for the Checkout pack's line items: a local fake, started by the suite. */
let stripeFake: StripeFake | undefined;
function stripeApi(): StripeFake {
  if (!stripeFake) throw new Error('the Stripe fake is started in the suite beforeAll');
  return stripeFake;
}

/** The annual plan's first invoice, 2 x YEARLY ($400), paid through a payment Stripe lists. */
async function payAnnualInvoice(env: Env, ids: Ids): Promise<void> {
  stripeApi().invoicePayments.set(`pi_${ids.customer}`, {
    invoiceId: idsOf(ids).invoice,
    customerId: ids.customer,
    amount: 40_000,
  });
  await deliverHealthy(env, annualInvoiceEvent(ids, 2));
}

/** C22: `amount` cents of the annual invoice refunded on 20 February (the refund's webhook). */
function annualRefundCaller(env: Env, ids: Ids, amount: number): () => Promise<Attempt> {
  const refund = refundObject({
    paymentIntentId: `pi_${ids.customer}`,
    amount,
    id: `re_${ids.customer}`,
    created: '2026-02-20T00:00:00Z',
  });
  return webhookCaller(env, refundEvent('refund.created', refund), {
    stripeApiBase: stripeApi().apiBase,
    stripeSecretKey: 'sk_test_fake',
  });
}

/** C19 C20: the annual plan of `from` units changed to `to` on 1 March, invoiced at once. */
function annualChangeSpec(
  name: 'downgrade' | 'upgrade',
  from: number,
  to: number,
  assessLots: OperationSpec['assessOnce'],
): OperationSpec {
  return {
    name,
    rules: 'C19 C20',
    // The change's fact (a proration may need Stripe's API, which is asked only for what was
    // not applied before), the customer's state, and one transaction for the cut or top-up.
    calls: ['GetItem', 'Query', 'TransactWriteItems'],
    async prepare(env, ids) {
      await deliverHealthy(env, annualInvoiceEvent(ids, from));
    },
    async caller(env, _healthy, ids) {
      return webhookCaller(env, annualQuantityChangeEvent(ids, from, to));
    },
    assessOnce(items, ids) {
      assessLots(items, ids);
      expect(factsOf(items, ids.customer)).toContain(`FACT#grant#${idsOf(ids).invoice}_change`);
    },
  };
}

const OPERATIONS: readonly OperationSpec[] = [
  {
    name: 'grant',
    rules: 'C3',
    // The customer's state; the table's SCHEMA item (a new customer could be a 0.1.0 one,
    // asked once per client); the transaction. The purchase's record is not read: a grant
    // expects none, and a reversal that came first (C16) would fail the transaction instead.
    calls: ['Query', 'GetItem', 'TransactWriteItems'],
    prepare: async () => {},
    async caller(env, _healthy, ids) {
      const { invoice, subscription } = idsOf(ids);
      return webhookCaller(
        env,
        paidInvoiceEvent({
          customerId: ids.customer,
          subscriptionId: subscription,
          invoiceId: invoice,
          eventId: `evt_${ids.customer}`,
          lines: [{ priceId: PRO, periodStart: MARCH, lineId: 'il_1' }],
        }),
      );
    },
    assessOnce(items, ids) {
      expect(typesAndAmounts(ledgerOf(items, ids.customer))).toEqual([['grant', 500]]);
      expect(factsOf(items, ids.customer)).toEqual([`FACT#grant#${idsOf(ids).invoice}`]);
    },
  },
  {
    name: 'referral',
    rules: 'C10 C11 C12',
    // The code's owner, the new customer's state (and the SCHEMA item), the referrer's state,
    // and one transaction for the grant, both bonuses and the purchase's record (not read, as
    // for a grant).
    calls: ['GetItem', 'Query', 'GetItem', 'Query', 'TransactWriteItems'],
    async prepare(env, ids) {
      const referrer = ids.referrer as string;
      await grantHealthy(env, referrer, `in_${referrer}`, 100, FEB);
      // The referrer asks for their code (C9) before sharing it.
      await referralCodeOf(env.deps, referrer);
    },
    async caller(env, healthy, ids) {
      const { invoice, subscription } = idsOf(ids);
      // The referrer's code as their profile shows it, typed by the new customer (a read).
      const code = await referralCodeOf(healthy.deps, ids.referrer as string);
      return webhookCaller(
        env,
        paidInvoiceEvent({
          customerId: ids.customer,
          subscriptionId: subscription,
          invoiceId: invoice,
          eventId: `evt_${ids.customer}`,
          lines: [{ priceId: PRO, periodStart: MARCH, lineId: 'il_1' }],
          metadata: { referral_code: code },
        }),
      );
    },
    assessOnce(items, ids) {
      const referrer = ids.referrer as string;
      expect(typesAndAmounts(ledgerOf(items, ids.customer))).toEqual([
        ['grant', 500],
        ['referral_bonus', 250],
      ]);
      expect(typesAndAmounts(ledgerOf(items, referrer))).toEqual([
        ['grant', 100],
        ['referral_bonus', 250],
      ]);
      expect(factsOf(items, ids.customer)).toEqual([`FACT#grant#${idsOf(ids).invoice}`]);
    },
  },
  {
    name: 'reversal',
    rules: 'C22 C23',
    // The purchase the payment intent paid for (recorded by its grant), the purchase's record
    // (for a referrer to read, and decided on), the customer's state, and one transaction for
    // the take-back, the debt, the record and the fact.
    calls: ['GetItem', 'GetItem', 'Query', 'TransactWriteItems'],
    async prepare(env, ids) {
      const result = await grantSubscriptionInvoice(
        { ...env.deps, clock: () => ms(NOW) },
        {
          customerId: ids.customer,
          invoiceId: idsOf(ids).invoice,
          subscriptionId: idsOf(ids).subscription,
          invoiceCreatedMs: ms(MARCH),
          lines: [{ lineId: 'il_1', credits: 100, periodStartMs: ms(MARCH) }],
          amountPaid: 2000,
          paymentIntentId: `pi_${ids.customer}`,
        },
      );
      expect(result.status).toBe('applied');
      const spent = await consume(env.deps, {
        customerId: ids.customer,
        amount: 30,
        idempotencyKey: 'before-refund',
        atMs: ms('2026-03-05T00:00:00Z'),
      });
      expect(spent).toEqual({ ok: true, balance: 70 });
    },
    async caller(env, _healthy, ids) {
      const refund = refundObject({
        paymentIntentId: `pi_${ids.customer}`,
        amount: 2000,
        id: `re_${ids.customer}`,
        created: '2026-03-06T00:00:00Z',
      });
      return webhookCaller(env, refundEvent('refund.created', refund));
    },
    assessOnce(items, ids) {
      expect(typesAndAmounts(ledgerOf(items, ids.customer))).toEqual([
        ['grant', 100],
        ['consumption', -30],
        ['reversal', -70],
        ['debt', -30],
      ]);
      expect(factsOf(items, ids.customer)).toContain(`FACT#reverse#refund#re_${ids.customer}`);
    },
  },
  {
    name: 'refundBeforeCut',
    rules: 'C16 C19 C22',
    // Stripe's invoice payment (cached after), the purchase's record, the customer, the
    // take-back of the months the downgrade had cut; then the customer again and the cuts
    // planned again with the record and the fact.
    calls: ['GetItem', 'GetItem', 'Query', 'TransactWriteItems', 'Query', 'TransactWriteItems'],
    async prepare(env, ids) {
      await payAnnualInvoice(env, ids);
      await deliverHealthy(env, annualQuantityChangeEvent(ids, 2, 1));
    },
    async caller(env, _healthy, ids) {
      // Three quarters back, made before the downgrade of 1 March.
      return annualRefundCaller(env, ids, 30_000);
    },
    assessOnce(items, ids) {
      // 1800 back in Stripe's order: the four months granted and alive on 20 February (800),
      // then all those to come, so the downgrade cuts nothing more and nothing is owed; had the
      // refund taken the months as the cut left them, it would owe the 600 cut of June to August.
      expect(upcomingOf(items, ids.customer)).toEqual([]);
      const ledger = typesAndAmounts(ledgerOf(items, ids.customer));
      expect(ledger.filter(([type]) => type === 'debt')).toEqual([]);
      expect(ledger).toContainEqual(['reversal', -800]);
      expect(factsOf(items, ids.customer)).toContain(`FACT#reverse#refund#re_${ids.customer}`);
    },
  },
  {
    name: 'repaidBeforeCut',
    rules: 'C16 C19 C22 C23',
    // The top-up's fact, the customer, one transaction: the debt repaid, the months granted.
    calls: ['GetItem', 'Query', 'TransactWriteItems'],
    async prepare(env, ids) {
      await payAnnualInvoice(env, ids);
      // All of the annual invoice back on 20 February, delivered before the top-up of
      // 1 February: what it would have taken of the top-up is owed. Then the downgrade.
      const refunded = annualRefundCaller(env, ids, 40_000);
      expect((await refunded()).ok).toBe(true);
      await deliverHealthy(env, annualQuantityChangeEvent(ids, 3, 2));
    },
    async caller(env, _healthy, ids) {
      return webhookCaller(env, annualQuantityChangeEvent(ids, 2, 3, FEBRUARY_UPGRADE));
    },
    assessOnce(items, ids) {
      // In Stripe's order the refund took the top-up's February and March, then its months to
      // come from August: the top-up repays the debt so, before the downgrade cuts, and the
      // downgrade then cuts what is left, April's 100; nothing is owed, nothing is to come.
      const ledger = typesAndAmounts(ledgerOf(items, ids.customer));
      expect(ledger.filter(([type]) => type === 'debt')).toEqual([
        ['debt', -600],
        ['debt', 600],
      ]);
      expect(upcomingOf(items, ids.customer)).toEqual([]);
      expect(factsOf(items, ids.customer)).toContain(`FACT#grant#${idsOf(ids).invoice}_up`);
    },
  },
  {
    name: 'repaidBetweenCuts',
    rules: 'C16 C19 C22 C23',
    // The top-up's fact, the customer, one transaction: the debt repaid, the months granted.
    calls: ['GetItem', 'Query', 'TransactWriteItems'],
    async prepare(env, ids) {
      await payAnnualInvoice(env, ids);
      // A downgrade billed on 10 February, before the refund, then all of the annual invoice
      // back on 20 February and a downgrade of 1 March, all delivered before the top-up of
      // 1 February: the first downgrade cut the annual invoice's months, the refund owes.
      await deliverHealthy(env, annualQuantityChangeEvent(ids, 3, 2, FEBRUARY_DOWNGRADE));
      await deliverHealthy(env, annualQuantityChangeEvent(ids, 2, 1));
      const refunded = annualRefundCaller(env, ids, 40_000);
      expect((await refunded()).ok).toBe(true);
    },
    async caller(env, _healthy, ids) {
      return webhookCaller(env, annualQuantityChangeEvent(ids, 2, 3, FEBRUARY_UPGRADE));
    },
    assessOnce(items, ids) {
      // The top-up arriving, the first downgrade cuts its months (the latest) instead of the
      // annual invoice's; in Stripe's order the refund took those freed months, so they repay
      // the debt with the top-up's, before the second downgrade cuts: 568 is owed, as in
      // Stripe's order (836 when the freed months were left to that downgrade).
      const ledger = typesAndAmounts(ledgerOf(items, ids.customer));
      expect(ledger.filter(([type]) => type === 'debt')).toEqual([
        ['debt', -1268],
        ['debt', 700],
      ]);
      expect(upcomingOf(items, ids.customer)).toEqual([]);
      expect(factsOf(items, ids.customer)).toContain(`FACT#grant#${idsOf(ids).invoice}_up`);
    },
  },
  {
    name: 'retakeBeforeLaterCut',
    rules: 'C16 C19 C22',
    // The downgrade's fact, the customer, its cuts with the refund's take again (which takes a
    // later downgrade's cuts: the command goes on), the customer again, the later downgrade's
    // cuts planned again with the fact.
    calls: ['GetItem', 'Query', 'TransactWriteItems', 'Query', 'TransactWriteItems'],
    async prepare(env, ids) {
      await payAnnualInvoice(env, ids);
      await deliverHealthy(env, annualQuantityChangeEvent(ids, 2, 3, FEBRUARY_UPGRADE));
      // The downgrade of 1 March, then all of the annual invoice back on 20 February: the
      // refund takes that downgrade's cuts first (it came before them in Stripe's order).
      await deliverHealthy(env, annualQuantityChangeEvent(ids, 2, 1));
      const refunded = annualRefundCaller(env, ids, 40_000);
      expect((await refunded()).ok).toBe(true);
    },
    async caller(env, _healthy, ids) {
      // The downgrade of 10 February, billed before the refund, delivered last.
      return webhookCaller(env, annualQuantityChangeEvent(ids, 3, 2, FEBRUARY_DOWNGRADE));
    },
    assessOnce(items, ids) {
      // It cuts months the refund took, and the refund takes as much again: from what the
      // March downgrade cut first, as in Stripe's order, so it owes no more than the 568 of
      // Stripe's order (668 when it took only from what the customer held).
      const ledger = typesAndAmounts(ledgerOf(items, ids.customer));
      expect(ledger.filter(([type]) => type === 'debt')).toEqual([['debt', -568]]);
      expect(upcomingOf(items, ids.customer)).toEqual([]);
      expect(factsOf(items, ids.customer)).toContain(`FACT#grant#${idsOf(ids).invoice}_down`);
    },
  },
  {
    name: 'forfeit',
    rules: 'C7',
    calls: ['Query', 'TransactWriteItems'],
    async prepare(env, ids) {
      await grantHealthy(env, ids.customer, idsOf(ids).invoice, 100, MARCH);
      const spent = await consume(env.deps, {
        customerId: ids.customer,
        amount: 30,
        idempotencyKey: 'before-end',
        atMs: ms('2026-03-05T00:00:00Z'),
      });
      expect(spent).toEqual({ ok: true, balance: 70 });
    },
    async caller(env, _healthy, ids) {
      return webhookCaller(env, subscriptionEndEvent(ids));
    },
    assessOnce(items, ids) {
      expect(typesAndAmounts(ledgerOf(items, ids.customer))).toEqual([
        ['grant', 100],
        ['consumption', -30],
        ['forfeit', -70],
      ]);
      expect(factsOf(items, ids.customer)).toContain(`FACT#end#${idsOf(ids).subscription}`);
    },
  },
  {
    name: 'spend',
    rules: 'C15',
    calls: ['Query', 'TransactWriteItems'],
    async prepare(env, ids) {
      await grantHealthy(env, ids.customer, idsOf(ids).invoice, 10, MARCH);
    },
    async caller(env, _healthy, ids) {
      const handler = createCreditsHandler(() => env.deps);
      const request = {
        action: 'consume',
        customerId: ids.customer,
        amount: 3,
        idempotencyKey: idsOf(ids).spendKey,
      };
      return () => invoked(() => handler(request, LAMBDA_CONTEXT));
    },
    assessOnce(items, ids) {
      const entries = ledgerOf(items, ids.customer);
      expect(typesAndAmounts(entries)).toEqual([
        ['grant', 10],
        ['consumption', -3],
      ]);
      expect(entries.filter((entry) => entry.ref === idsOf(ids).spendKey)).toHaveLength(1);
    },
  },
  {
    name: 'reserve',
    rules: 'C25',
    calls: ['Query', 'TransactWriteItems'],
    async prepare(env, ids) {
      await grantHealthy(env, ids.customer, idsOf(ids).invoice, 10, MARCH);
    },
    async caller(env, _healthy, ids) {
      const { holdId } = idsOf(ids);
      return creditsCaller(env, { action: 'reserve', customerId: ids.customer, amount: 3, holdId });
    },
    assessOnce(items, ids) {
      expect(typesAndAmounts(ledgerOf(items, ids.customer))).toEqual([
        ['grant', 10],
        ['hold', -3],
      ]);
      expect(holdItemsOf(items, ids.customer)).toEqual([`STATE#HOLD#${idsOf(ids).holdId}`]);
      expect(factsOf(items, ids.customer)).toContain(`FACT#hold#${idsOf(ids).holdId}`);
    },
  },
  {
    name: 'settle',
    rules: 'C25',
    calls: ['Query', 'TransactWriteItems'],
    async prepare(env, ids) {
      await grantHealthy(env, ids.customer, idsOf(ids).invoice, 10, MARCH);
      const { holdId } = idsOf(ids);
      const held = await reserve(env.deps, { customerId: ids.customer, amount: 3, holdId });
      expect(held).toMatchObject({ ok: true, balance: 7 });
    },
    async caller(env, _healthy, ids) {
      const { holdId } = idsOf(ids);
      return creditsCaller(env, { action: 'settle', customerId: ids.customer, amount: 2, holdId });
    },
    assessOnce(items, ids) {
      expect(typesAndAmounts(ledgerOf(items, ids.customer))).toEqual([
        ['grant', 10],
        ['hold', -3],
        ['release', 3],
        ['consumption', -2],
      ]);
      expect(holdItemsOf(items, ids.customer)).toEqual([]);
      expect(factsOf(items, ids.customer)).toContain(`FACT#hold-end#${idsOf(ids).holdId}`);
    },
  },
  {
    name: 'expiry',
    rules: 'C6 C14',
    needsOwnTable: true,
    // One Query per index shard, one shard at a time; the customer's state and transaction
    // follow its own shard's Query (LOTS#3).
    calls: [
      ...Array.from({ length: 4 }, () => 'Query'),
      'Query',
      'TransactWriteItems',
      ...Array.from({ length: LOT_SHARDS - 4 }, () => 'Query'),
    ],
    // The shard queries before and after the customer's all fail alike: fault the first, the
    // customer's own, the customer's state and transaction, the next and the last.
    faultAt: [0, 3, 4, 5, 6, 5 + LOT_SHARDS - 4],
    async prepare(env, ids) {
      await grantHealthy(env, ids.customer, `in_${ids.customer}_feb`, 10, FEB);
      await grantHealthy(env, ids.customer, `in_${ids.customer}_mar`, 20, MARCH);
      const spent = await consume(env.deps, {
        customerId: ids.customer,
        amount: 4,
        idempotencyKey: 'before-expiry',
        atMs: ms('2026-03-05T00:00:00Z'),
      });
      expect(spent).toEqual({ ok: true, balance: 26 });
    },
    async caller(env) {
      // The job runs when it was scheduled: a real run never runs ahead of the clock.
      const deps = () => ({ ...env.deps, clock: () => ms(EXPIRY_RUN_AT) });
      const handler = createRolloverHandler(deps, undefined, { shardsAtOnce: 1 });
      // The EventBridge schedule: a run that did not finish throws, so Lambda runs it again.
      const scheduled = {
        source: 'aws.events',
        'detail-type': 'Scheduled Event',
        time: EXPIRY_RUN_AT,
      };
      return () => invoked(() => handler(scheduled, LAMBDA_CONTEXT));
    },
    assessOnce(items, ids) {
      const entries = ledgerOf(items, ids.customer);
      expect(typesAndAmounts(entries)).toEqual([
        ['grant', 10],
        ['grant', 20],
        ['consumption', -4],
        ['expiry', -6],
        ['expiry', -20],
      ]);
      const expiredLots = entries.filter((entry) => entry.type === 'expiry').flatMap((e) => e.lots);
      expect(expiredLots.sort()).toEqual([
        `in_${ids.customer}_feb#il_1`,
        `in_${ids.customer}_mar#il_1`,
      ]);
    },
  },
  // 5 -> 3 units with half the year left: 100 x 12 x (-5 + 3) / 2 = -1,200, cut from the
  // months not granted yet, latest first (August, July, and 200 of June).
  annualChangeSpec('downgrade', 5, 3, (items, ids) => {
    expect(upcomingOf(items, ids.customer)).toEqual(['2026-04 500', '2026-05 500', '2026-06 300']);
  }),
  // 3 -> 5 units: +1,200 over the six months left (C19, C20): March's 200 granted at once,
  // April's to August's to come, each month a lot of the plan's 3 units and one of the top-up's 2.
  annualChangeSpec('upgrade', 3, 5, (items, ids) => {
    const topUps = ledgerOf(items, ids.customer).filter(
      (entry) => entry.ref === `${idsOf(ids).invoice}_change`,
    );
    expect(typesAndAmounts(topUps)).toEqual([['grant', 200]]);
    const months = ['2026-04', '2026-05', '2026-06', '2026-07', '2026-08'];
    expect(upcomingOf(items, ids.customer)).toEqual(
      months.flatMap((month) => [`${month} 200`, `${month} 300`]),
    );
  }),
  {
    name: 'pack',
    rules: 'C21',
    // As for a first grant: a new customer's state, the table's SCHEMA item, the transaction.
    calls: ['Query', 'GetItem', 'TransactWriteItems'],
    prepare: async () => {},
    async caller(env, _healthy, ids) {
      // A manual invoice for two packs, with no subscription: one lot of 2,000 for a year.
      return webhookCaller(
        env,
        paidInvoiceEvent({
          customerId: ids.customer,
          subscriptionId: 'sub_none',
          invoiceId: idsOf(ids).invoice,
          billingReason: 'manual',
          lines: [{ priceId: PACK, quantity: 2, periodStart: MARCH, kind: 'invoice_item' }],
        }),
      );
    },
    assessOnce(items, ids) {
      expect(typesAndAmounts(ledgerOf(items, ids.customer))).toEqual([['grant', 2000]]);
      expect(factsOf(items, ids.customer)).toContain(`FACT#grant#${idsOf(ids).invoice}`);
    },
  },
  {
    name: 'unforfeit',
    rules: 'C7 C8',
    calls: ['Query', 'TransactWriteItems'],
    async prepare(env, ids) {
      // The only subscription known ends on 10 March: its 100 credits are forfeited (C7).
      await grantHealthy(env, ids.customer, idsOf(ids).invoice, 100, MARCH);
      await deliverHealthy(env, subscriptionEndEvent(ids));
    },
    async caller(env, _healthy, ids) {
      // Delivered late: a second subscription paid on 5 March was active at that end (C8).
      return webhookCaller(
        env,
        paidInvoiceEvent({
          customerId: ids.customer,
          subscriptionId: `sub_${ids.customer}_b`,
          invoiceId: `in_${ids.customer}_b`,
          eventId: `evt_${ids.customer}_b`,
          lines: [{ priceId: BASIC, periodStart: '2026-03-05T00:00:00Z', lineId: 'il_1' }],
        }),
      );
    },
    assessOnce(items, ids) {
      expect(typesAndAmounts(ledgerOf(items, ids.customer))).toEqual([
        ['grant', 100],
        ['forfeit', -100],
        ['grant', 100],
        ['forfeit', 100],
      ]);
    },
  },
  {
    name: 'annualEnd',
    rules: 'C7 C20',
    calls: ['Query', 'TransactWriteItems'],
    async prepare(env, ids) {
      await deliverHealthy(env, annualInvoiceEvent(ids, 1));
    },
    async caller(env, _healthy, ids) {
      // The annual plan, the only subscription, ends on 10 March: the months granted are
      // forfeited and the five to come (April to August) cancelled, in one transaction.
      return webhookCaller(env, subscriptionEndEvent(ids));
    },
    assessOnce(items, ids) {
      // September to March came due by the end (700, one entry); the forfeit takes the three
      // months not yet expired (C4: three months each), the expiry job the rest (C6).
      expect(typesAndAmounts(ledgerOf(items, ids.customer))).toEqual([
        ['grant', 700],
        ['forfeit', -300],
      ]);
      expect(upcomingOf(items, ids.customer)).toEqual([]);
      expect(factsOf(items, ids.customer)).toContain(`FACT#end#${idsOf(ids).subscription}`);
    },
  },
  {
    name: 'checkoutPack',
    rules: 'C21',
    // The Session's fact (its lines are a Stripe call, made only for what was not applied), a
    // new customer's state and the table's SCHEMA item, the transaction.
    calls: ['GetItem', 'Query', 'GetItem', 'TransactWriteItems'],
    async prepare(_env, ids) {
      stripeApi().checkoutLines.set(`cs_${ids.customer}`, [checkoutLineItem(PACK, 2)]);
    },
    async caller(env, _healthy, ids) {
      // Two packs bought through Checkout in payment mode, no invoice: Stripe's API lists the
      // lines (a local fake of it); one lot of 2,000.
      const session = checkoutEvent({
        customerId: ids.customer,
        sessionId: `cs_${ids.customer}`,
        paymentIntentId: `pi_${ids.customer}`,
        amountTotal: 4000,
        eventId: `evt_${ids.customer}`,
        created: MARCH,
      });
      return webhookCaller(env, session, {
        stripeApiBase: stripeApi().apiBase,
        stripeSecretKey: 'sk_test_fake',
      });
    },
    assessOnce(items, ids) {
      expect(typesAndAmounts(ledgerOf(items, ids.customer))).toEqual([['grant', 2000]]);
      expect(factsOf(items, ids.customer)).toContain(`FACT#grant#cs_${ids.customer}`);
    },
  },
];

/** Customer ids of fixed width (no id is a prefix of another), all in EXPIRY_SHARD for expiry. */
function customerIdsFor(operation: OperationSpec['name'], count: number): string[] {
  const ids: string[] = [];
  for (let n = 0; ids.length < count; n++) {
    const id = `cus_${operation}_${String(n).padStart(4, '0')}`;
    if (operation !== 'expiry' || lotShard(id) === EXPIRY_SHARD) ids.push(id);
  }
  return ids;
}

function faultKindsFor(operation: DynamoOperation): FaultKind[] {
  return Object.values(FaultKind).filter(
    // DynamoDB reports transaction conflicts on transactions and on single-item writes, never
    // on reads; these operations write only through TransactWriteItems.
    (kind) => kind !== FaultKind.transactionConflict || operation === 'TransactWriteItems',
  );
}

type Case = {
  /** e.g. `2/5 TransactWriteItems`, for the test's name. */
  readonly label: string;
  readonly call: number;
  readonly operation: DynamoOperation;
  readonly kind: FaultKind;
  readonly mode: Mode;
  readonly ids: Ids;
};

function casesFor(spec: OperationSpec): { baseline: Ids; cases: Case[] } {
  const faulted = spec.faultAt ?? spec.calls.map((_, call) => call);
  const shapes = faulted.flatMap((call) => {
    const operation = spec.calls[call] as DynamoOperation;
    return faultKindsFor(operation).flatMap((kind) =>
      Object.values(Mode).map((mode) => ({
        label: `${call + 1}/${spec.calls.length} ${operation}`,
        call,
        operation,
        kind,
        mode,
      })),
    );
  });
  const customers = customerIdsFor(spec.name, shapes.length + 1);
  const referrers = customerIdsFor('referral', shapes.length + 1).map((id) =>
    id.replace('cus_referral_', 'cus_referrer_'),
  );
  const idsAt = (index: number): Ids => ({
    customer: customers[index] as string,
    ...(spec.name === 'referral' && { referrer: referrers[index] as string }),
  });
  return {
    baseline: idsAt(0),
    cases: shapes.map((shape, index) => ({ ...shape, ids: idsAt(index + 1) })),
  };
}

/** The items of the customers involved (and the referrer's code), ids replaced by roles. */
async function snapshot(env: Env, ids: Ids): Promise<{ raw: Item[]; normal: string }> {
  const pks = [customerPk(ids.customer), ...(ids.referrer ? [customerPk(ids.referrer)] : [])];
  const raw: Item[] = [];
  for (const pk of pks) {
    const page = await env.deps.db.send(
      new QueryCommand({
        TableName: env.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': pk },
        ConsistentRead: true,
      }),
    );
    raw.push(...(page.Items ?? []));
  }
  const referrerAccount = raw.find(
    (item) => ids.referrer && item.pk === customerPk(ids.referrer) && item.sk === ACCOUNT_SK,
  );
  const code = referrerAccount?.referralCode as string | undefined;
  if (code) {
    const page = await env.deps.db.send(
      new QueryCommand({
        TableName: env.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `CODE#${code}` },
        ConsistentRead: true,
      }),
    );
    raw.push(...(page.Items ?? []));
  }
  let normal = JSON.stringify(raw, (_key, value: unknown) =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1)))
      : value,
  );
  const roles: [string, string][] = [
    [ids.customer, '<customer>'],
    ...(ids.referrer ? [[ids.referrer, '<referrer>'] as [string, string]] : []),
    ...(code ? [[code, '<code>'] as [string, string]] : []),
  ];
  for (const [id, role] of roles) normal = normal.split(id).join(role);
  // The index shard is a hash of the customer id; entries and facts say when they were
  // recorded (the real clock), which differs from run to run.
  normal = normal.replace(/LOTS#\d+/g, 'LOTS#<shard>');
  normal = normal.replace(/LEDGER#\d{4}-\d\d-\d\dT[\d:.]+Z#/g, 'LEDGER#<recorded>#');
  normal = normal.replace(/"recordedAt":"[^"]*"/g, '"recordedAt":"<recorded>"');
  return { raw, normal };
}

type Baseline = {
  readonly calls: readonly string[];
  /** Every state a fault-free run passes through: before, then after each transaction. */
  readonly states: readonly string[];
  readonly final: string;
  readonly finalItems: readonly Item[];
  readonly result: Attempt;
};

/** Runs the operation once without faults, snapshotting after each committed transaction. */
async function recordBaseline(env: Env, spec: OperationSpec, ids: Ids): Promise<Baseline> {
  await spec.prepare(env, ids);
  const faulty = faultyStore(env, localClientConfig(), {
    maxAttempts: await sdkDefaultMaxAttempts(),
  });
  try {
    const states = [(await snapshot(env, ids)).normal];
    faulty.faults.watch(async (seen, statusCode) => {
      if (seen.operation === 'TransactWriteItems' && statusCode === 200) {
        states.push((await snapshot(env, ids)).normal);
      }
    });
    const faultyEnv: Env = {
      deps: { ...faulty.deps, clock: () => ms(NOW) },
      tableName: env.tableName,
    };
    const caller = await spec.caller(faultyEnv, env, ids);
    const result = await caller();
    const final = await snapshot(env, ids);
    const calls = faulty.faults.requests
      .filter((request) => request.attempt === 1)
      .map((request) => request.operation);
    return { calls, states, final: final.normal, finalItems: final.raw, result };
  } finally {
    faulty.destroy();
  }
}

/** Tables for operations that need one to themselves: as many as tests run at once. */
const LANES = 5;

type TablePool = { using<T>(run: (healthy: Env) => Promise<T>): Promise<T> };

/** Shared tables, or (exclusive) tables lent to one run at a time. */
function tablePool(envs: readonly Env[], exclusive: boolean): TablePool {
  const free = [...envs];
  const waiting: ((env: Env) => void)[] = [];
  const take = () =>
    new Promise<Env>((resolve) => {
      const env = free.shift();
      if (env) resolve(env);
      else waiting.push(resolve);
    });
  const give = (env: Env) => {
    const next = waiting.shift();
    if (next) next(env);
    else free.push(env);
  };
  return {
    async using(run) {
      if (!exclusive) return run(envs[0] as Env);
      const env = await take();
      try {
        return await run(env);
      } finally {
        give(env);
      }
    },
  };
}

type Round = { readonly attempt: Attempt; readonly state: string };

/** Calls until a success, at most MAX_DELIVERIES times, snapshotting after each call. */
async function untilSuccess(
  caller: () => Promise<Attempt>,
  healthy: Env,
  ids: Ids,
): Promise<Round[]> {
  const rounds: Round[] = [];
  for (let delivery = 1; delivery <= MAX_DELIVERIES; delivery++) {
    const attempt = await caller();
    rounds.push({ attempt, state: (await snapshot(healthy, ids)).normal });
    if (attempt.ok) break;
  }
  return rounds;
}

/** Requests that failed without an injected fault; tallied by operation and error. */
function countUnplanned(requests: readonly SeenRequest[]): number {
  let count = 0;
  for (const { operation, failedWith } of requests) {
    if (!failedWith) continue;
    const key = `${operation}: ${failedWith}`;
    tally.unplanned[key] = (tally.unplanned[key] ?? 0) + 1;
    count += 1;
  }
  return count;
}

type Tally = {
  cases: number;
  deliveries: number;
  faultedRequests: number;
  /** Requests that failed without an injected fault (DynamoDB Local slower than the timeout). */
  unplanned: Record<string, number>;
  casesWithUnplannedFailures: number;
  msByOperation: Record<string, number>;
};
const tally: Tally = {
  cases: 0,
  deliveries: 0,
  faultedRequests: 0,
  unplanned: {},
  casesWithUnplannedFailures: 0,
  msByOperation: {},
};

describe('Faults at each DynamoDB call of each operation, then the caller retries (C16)', () => {
  let maxAttempts = 0;
  let retries: Awaited<ReturnType<typeof quickRetries>>;

  beforeAll(async () => {
    maxAttempts = await sdkDefaultMaxAttempts();
    retries = await quickRetries(maxAttempts, RETRY_DELAY_MS);
    stripeFake = await startStripeFake();
  });
  afterAll(async () => {
    // One line for the README's figures.
    console.info(`fault matrix: ${JSON.stringify(tally)}`);
    await stripeFake?.stop();
  });

  for (const spec of OPERATIONS) {
    const { baseline: baselineIds, cases } = casesFor(spec);

    describe(`${spec.name} (${spec.rules}): ${spec.calls.length} calls, ${cases.length} faulted runs`, () => {
      let tables: Awaited<ReturnType<typeof freshTable>>[] = [];
      let pool: TablePool;
      let baseline: Baseline;

      let startedMs = 0;
      beforeAll(async () => {
        startedMs = Date.now();
        const count = spec.needsOwnTable ? LANES : 1;
        tables = await Promise.all(
          Array.from({ length: count }, () => freshTable(`faults-${spec.name}`)),
        );
        const envs = tables.map((table) => ({
          deps: { db: table.db, tableName: table.tableName, clock: () => ms(NOW) },
          tableName: table.tableName,
        }));
        pool = tablePool(envs, spec.needsOwnTable === true);
        baseline = await pool.using((healthy) => recordBaseline(healthy, spec, baselineIds));
      });
      afterAll(async () => {
        await Promise.all(tables.map((table) => table.drop()));
        tally.msByOperation[spec.name] = Date.now() - startedMs;
      });

      it(`${spec.rules} a fault-free run makes the calls ${spec.calls.join(', ')} and applies once`, () => {
        expect(baseline.calls).toEqual(spec.calls);
        expect(baseline.result.ok).toBe(true);
        expect(baseline.states.at(-1)).toBe(baseline.final);
        spec.assessOnce(baseline.finalItems, baselineIds);
      });

      it.concurrent.each(cases)(
        `${spec.rules} C16 call $label, $kind ($mode): retried until success, applied once`,
        ({ call, kind, mode, ids }) =>
          pool.using(async (healthy) => {
            // Prepare: a fresh customer in the state the baseline started from.
            await spec.prepare(healthy, ids);
            const faulty = faultyStore(healthy, localClientConfig(), {
              maxAttempts,
              retryStrategy: retries(),
              requestTimeoutMs: REQUEST_TIMEOUT_MS,
            });
            const env: Env = {
              deps: { ...faulty.deps, clock: () => ms(NOW) },
              tableName: healthy.tableName,
            };
            const caller = await spec.caller(env, healthy, ids);
            try {
              faulty.faults.fail({
                atCall: call,
                kind,
                times: mode === Mode.once ? 1 : maxAttempts,
              });

              // Act: the caller repeats the same request until it succeeds, then Stripe
              // delivers it once more (at least once), again until a success.
              const firstRound = await untilSuccess(caller, healthy, ids);
              const duplicateRound = await untilSuccess(caller, healthy, ids);
              const rounds = [...firstRound, ...duplicateRound];

              // Assess: the fault happened, at the call it was aimed at (unless a request that
              // failed on its own made the caller start over before that call).
              const faulted = faulty.faults.requests.filter((request) => request.fault === kind);
              const unplanned = countUnplanned(faulty.faults.requests);
              expect(faulted.length).toBe(mode === Mode.once ? 1 : maxAttempts);
              if (unplanned === 0) expect(faulted[0]?.operation).toBe(spec.calls[call]);
              tally.cases += 1;
              tally.deliveries += firstRound.length;
              tally.faultedRequests += faulted.length;
              if (unplanned > 0) tally.casesWithUnplannedFailures += 1;

              // Assess: no failure was a 4xx, whatever failed.
              for (const { attempt } of rounds.filter((round) => !round.attempt.ok)) {
                expect(attempt.status, JSON.stringify(attempt.detail)).toBeGreaterThanOrEqual(500);
                expect(attempt.status).toBeLessThan(600);
              }
              // Assess: how many tries it took. A request that failed on its own (DynamoDB
              // Local slower than the 200 ms timeout on a loaded machine, more than the SDK's
              // retries absorb) may cost a delivery more; the outcome must not change.
              const absorbed = mode === Mode.once || kind === FaultKind.transactionConflict;
              const expected = absorbed ? [true] : [false, true];
              const tries = (round: Round[]) => round.map(({ attempt }) => attempt.ok);
              if (unplanned === 0) {
                expect(tries(firstRound), JSON.stringify(firstRound)).toEqual(expected);
                expect(tries(duplicateRound), JSON.stringify(duplicateRound)).toEqual([true]);
              } else {
                expect(tries(firstRound).at(-1), JSON.stringify(firstRound)).toBe(true);
                expect(tries(duplicateRound).at(-1), JSON.stringify(duplicateRound)).toBe(true);
              }

              // Assess: a 2xx only once the change was durable, and from then on the state
              // stays; before it, only states a fault-free run passes through.
              const firstSuccess = rounds.findIndex(({ attempt }) => attempt.ok);
              rounds.forEach(({ state }, index) => {
                if (index >= firstSuccess) expect(state).toBe(baseline.final);
                else expect(baseline.states).toContain(state);
              });
              const afterDuplicate = await snapshot(healthy, ids);
              expect(afterDuplicate.normal).toBe(baseline.final);
              spec.assessOnce(afterDuplicate.raw, ids);
              if (spec.name === 'spend') {
                expect(firstRound.at(-1)?.attempt.detail).toEqual(baseline.result.detail);
                expect(duplicateRound.at(-1)?.attempt.detail).toEqual(baseline.result.detail);
              }
            } finally {
              faulty.destroy();
            }
          }),
      );
    });
  }
});
