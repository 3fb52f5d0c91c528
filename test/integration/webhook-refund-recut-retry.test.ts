import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStripeWebhookHandler } from '../../functions/stripe-webhook';
import { balanceOf } from '../../lib/ledger/queries';
import { capturingLogger } from '../../lib/log';
import type { StoreDeps } from '../../lib/store/client';
import { webhookDepsFromConfig } from '../../lib/stripe/deps';
import { FaultKind, faultyStore } from '../support/faults';
import { refundEvent, refundObject } from '../support/reversal-events';
import {
  annualQuantityChanges,
  ms,
  paidInvoiceEvent,
  signedApiGatewayEvent,
  TEST_WEBHOOK_SECRET,
} from '../support/stripe-events';
import { type StripeFake, startStripeFake } from '../support/stripe-fake';
import { freshTable, localClientConfig } from '../support/table';

/**
 * C16 C19 C22: a refund Stripe made before a downgrade, delivered after it, plans the cuts again
 * in a transaction of its own (lib/ledger/reversals.ts). When that transaction fails and Stripe
 * redelivers after a month came due, the month's release and its cut must not meet in one
 * transaction (found by review: every redelivery answered 500, "lot ... is changed twice").
 */

const YEARLY = 'price_yearly';
const customerId = 'cus_recut_retry';
const subscriptionId = 'sub_year';
const change = annualQuantityChanges(
  { customerId, subscriptionId },
  { priceId: YEARLY, unitAmount: 20000, periodEnd: '2027-11-01T00:00:00Z' },
);
const yearly = paidInvoiceEvent({
  customerId,
  subscriptionId,
  invoiceId: 'in_year',
  billingReason: 'subscription_create',
  lines: [
    {
      priceId: YEARLY,
      quantity: 3,
      periodStart: '2026-11-01T00:00:00Z',
      periodEnd: '2027-11-01T00:00:00Z',
      unitAmount: 20000,
    },
  ],
});
const up = change('in_up', '2027-02-01T00:00:00Z', 3, 5, 0.75);
const down = change('in_down', '2027-05-01T00:00:00Z', 5, 2, 0.5);
const refund = refundEvent(
  'refund.created',
  refundObject({
    paymentIntentId: 'pi_year',
    amount: 30_000,
    created: '2027-04-20T00:00:00Z',
    id: 're_recut',
  }),
);

describe('Function: stripeWebhook, a refund planning the cuts again, redelivered after a month came due (C16, C19, C22)', () => {
  let fake: StripeFake;
  beforeAll(async () => {
    fake = await startStripeFake();
    fake.invoicePayments.set('pi_year', { invoiceId: 'in_year', customerId, amount: 60_000 });
  });
  afterAll(async () => fake.stop());

  function handlerOn(table: StoreDeps, db: StoreDeps['db'], clock: () => number) {
    const config = {
      planCredits: { [YEARLY]: 100 },
      planIntervalMonths: { [YEARLY]: 12 },
      webhookSecrets: [TEST_WEBHOOK_SECRET],
      stripeApiBase: fake.apiBase,
      stripeSecretKey: 'sk_test_fake',
    };
    const handler = createStripeWebhookHandler(() =>
      webhookDepsFromConfig(
        config,
        { db, tableName: table.tableName, clock },
        capturingLogger().logger,
      ),
    );
    return async (event: Record<string, unknown>) => {
      const request: APIGatewayProxyEventV2 = signedApiGatewayEvent(event, {
        timestamp: Math.floor(clock() / 1000),
      });
      return (await handler(request, {} as Context)).statusCode;
    };
  }

  async function outcome(table: StoreDeps, atMs: number) {
    const view = await balanceOf(table, customerId, atMs);
    return {
      balance: view.balance,
      debt: view.debt,
      upcoming: view.upcoming.map((lot) => `${lot.grantedAt.slice(0, 10)} ${lot.granted}`),
    };
  }

  it('C16 C19 C22 the redelivery on 1 June answers 200 and ends as Stripe order', async () => {
    // Arrange: the downgrade delivered before the refund; the refund's second transaction
    // (the cuts planned again) fails on 31 May for every attempt.
    const table = await freshTable('recut-retry');
    const reference = await freshTable('recut-retry-stripe');
    let now = ms('2027-05-31T23:00:00Z');
    const clock = () => now;
    const deliver = handlerOn(table, table.db, clock);
    for (const event of [yearly, up, down]) expect(await deliver(event)).toBe(200);
    const faulty = faultyStore(table, localClientConfig(), { maxAttempts: 1 });
    const broken = handlerOn(table, faulty.deps.db, clock);
    faulty.faults.fail({
      operation: 'TransactWriteItems',
      kind: FaultKind.serverError,
      atCall: 1,
      times: Number.POSITIVE_INFINITY,
    });
    expect(await broken(refund)).toBeGreaterThanOrEqual(500);

    // Act: Stripe redelivers after midnight, June's months come due.
    now = ms('2027-06-01T01:00:00Z');
    const codes = [await deliver(refund), await deliver(refund)];

    // Assess: against Stripe's order delivered on a table of its own at the same time.
    const stripeOrder = handlerOn(reference, reference.db, clock);
    for (const event of [yearly, up, refund, down]) expect(await stripeOrder(event)).toBe(200);
    expect(codes).toEqual([200, 200]);
    expect(await outcome(table, now)).toEqual(await outcome(reference, now));
    faulty.destroy();
    await table.drop();
    await reference.drop();
  }, 120_000);
});
