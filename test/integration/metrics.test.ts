import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCreditsHandler } from '../../functions/credits';
import { createRolloverHandler } from '../../functions/rollover';
import { createStripeWebhookHandler } from '../../functions/stripe-webhook';
import { capturingLogger } from '../../lib/log';
import { METRICS_NAMESPACE, powertoolsRecorder } from '../../lib/metrics';
import { createDocumentClient } from '../../lib/store/client';
import { webhookDepsFromConfig } from '../../lib/stripe/deps';
import { capturingMetrics } from '../support/metrics';
import { ms, paidInvoiceEvent, signedApiGatewayEvent } from '../support/stripe-events';
import { freshTable } from '../support/table';

const NOW = '2026-11-01T00:10:00Z';
const CONTEXT = { awsRequestId: 'req-metrics', getRemainingTimeInMillis: () => 60_000 } as Context;

type Table = Awaited<ReturnType<typeof freshTable>>;

/** A client for a port nothing listens on: every call fails as DynamoDB being down would. */
function unreachableStore() {
  return createDocumentClient({
    endpoint: 'http://127.0.0.1:9',
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
}

describe('Metrics (EMF) from the function adapters', () => {
  let table: Table;
  beforeEach(async () => {
    table = await freshTable('metrics');
  });
  afterEach(async () => table.drop());

  const ledger = () => ({ db: table.db, tableName: table.tableName, clock: () => ms(NOW) });
  const webhook = (metrics: ReturnType<typeof capturingMetrics>) =>
    createStripeWebhookHandler(
      () =>
        webhookDepsFromConfig(
          { planCredits: { price_plan: 500 }, webhookSecrets: ['whsec_metrics'] },
          ledger(),
          capturingLogger().logger,
        ),
      metrics.metrics,
    );
  const signed = (event: Record<string, unknown>, secret = 'whsec_metrics') =>
    signedApiGatewayEvent(event, { secret, timestamp: Math.floor(ms(NOW) / 1000) });
  const invoice = (customerId: string, priceId = 'price_plan') =>
    paidInvoiceEvent({
      customerId,
      subscriptionId: `sub_${customerId}`,
      invoiceId: `in_${customerId}`,
      lines: [{ priceId, periodStart: '2026-11-01T00:00:00Z', lineId: 'il_1' }],
    });

  it('counts webhook events by outcome, credits granted, and faults by cause', async () => {
    // Prepare
    const metrics = capturingMetrics();
    const handler = webhook(metrics);
    const first = invoice('cus_1');
    // Act
    await handler(signed(first), CONTEXT);
    await handler(signed(first), CONTEXT);
    await handler(signed(first, 'whsec_forged'), CONTEXT);
    await handler(signed(invoice('cus_2', 'price_nobody_knows')), CONTEXT);
    // Assess
    expect(metrics.totals()).toEqual({
      EventsApplied: 1,
      EventsAlreadyApplied: 1,
      EventsRefused: 1,
      EventsFailed: 1,
      CreditsGranted: 500,
      UnknownPriceFaults: 1,
    });
    expect(metrics.flushes()).toBe(4);
  });

  it('the credits function counts consumption, refusals, input errors and store faults apart', async () => {
    // Prepare
    const metrics = capturingMetrics();
    const credits = createCreditsHandler(ledger, metrics.metrics);
    const down = createCreditsHandler(
      () => ({ db: unreachableStore(), tableName: table.tableName }),
      metrics.metrics,
    );
    await credits(
      { action: 'adjust', customerId: 'cus_1', amount: 10, reason: 'test', idempotencyKey: 'a' },
      CONTEXT,
    );
    // Act
    const spend = { action: 'consume', customerId: 'cus_1', idempotencyKey: 'k1', amount: 3 };
    await credits(spend, CONTEXT);
    await credits({ ...spend, idempotencyKey: 'k2', amount: 50 }, CONTEXT);
    const badInput = await credits({ ...spend, amount: -1 }, CONTEXT).catch((e: Error) => e);
    const fault = await down({ action: 'balance', customerId: 'cus_1' }, CONTEXT).catch(
      (e: Error) => e,
    );
    // Assess: the input error and the fault still reach the caller as errors.
    expect(badInput).toMatchObject({ name: 'InputError', field: 'amount' });
    expect(fault).toMatchObject({ name: 'StoreError' });
    expect(metrics.totals()).toEqual({
      CreditsConsumed: 3,
      InsufficientCredits: 1,
      CreditsInputErrors: 1,
      StoreFaults: 1,
    });
  });

  it('C25 the credits function counts what a settle consumed, and a reserve refused for want of credits', async () => {
    // Prepare
    const metrics = capturingMetrics();
    const credits = createCreditsHandler(ledger, metrics.metrics);
    await credits(
      { action: 'adjust', customerId: 'cus_h', amount: 10, reason: 'test', idempotencyKey: 'a' },
      CONTEXT,
    );
    const hold = { customerId: 'cus_h', holdId: 'job-1' };
    // Act
    await credits({ action: 'reserve', ...hold, amount: 6 }, CONTEXT);
    await credits({ action: 'reserve', ...hold, holdId: 'job-2', amount: 6 }, CONTEXT);
    await credits({ action: 'settle', ...hold, amount: 4 }, CONTEXT);
    // Assess
    expect(metrics.totals()).toEqual({ CreditsConsumed: 4, InsufficientCredits: 1 });
  });

  it('rollover counts expired credits, and an ops typo as an input error, not a fault', async () => {
    // Prepare
    const metrics = capturingMetrics();
    const credits = createCreditsHandler(ledger, metrics.metrics);
    await credits(
      { action: 'adjust', customerId: 'cus_1', amount: 7, reason: 'test', idempotencyKey: 'a' },
      CONTEXT,
    );
    // The job runs when the clock says March: a real run never runs ahead of the clock.
    const march = () => ({ ...ledger(), clock: () => ms('2027-03-01T00:10:00Z') });
    const rollover = createRolloverHandler(march, metrics.metrics);
    // Act
    await rollover({}, CONTEXT);
    await rollover({ now: 'tomorrow' }, CONTEXT).catch(() => undefined);
    // Assess
    expect(metrics.totals()).toMatchObject({ CreditsExpired: 7, RolloverInputErrors: 1 });
    expect(metrics.totals()).not.toHaveProperty('OtherFaults');
  });

  it('Powertools writes one EMF line per invocation, in namespace ImageCredits', async () => {
    // Prepare: Powertools writes EMF lines to stdout; catch them.
    const lines: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((chunk: string) => {
      lines.push(String(chunk));
      return true;
    }) as typeof process.stdout.write;
    try {
      const recorder = powertoolsRecorder(
        new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'image-credits-test' }),
      );
      const handler = createStripeWebhookHandler(
        () =>
          webhookDepsFromConfig(
            { planCredits: { price_plan: 500 }, webhookSecrets: ['whsec_metrics'] },
            ledger(),
            capturingLogger().logger,
          ),
        () => recorder,
      );
      // Act
      await handler(signed(invoice('cus_emf')), CONTEXT);
    } finally {
      process.stdout.write = write;
    }
    // Assess
    const emf = lines.map((line) => JSON.parse(line)).filter((line) => line._aws);
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({
      service: 'image-credits-test',
      EventsApplied: 1,
      CreditsGranted: 500,
      _aws: {
        CloudWatchMetrics: [
          expect.objectContaining({ Namespace: 'ImageCredits', Dimensions: [['service']] }),
        ],
      },
    });
  });

  it('puts the request id on every line logged during an invocation', async () => {
    // Prepare
    const log = capturingLogger();
    const handler = createStripeWebhookHandler(() =>
      webhookDepsFromConfig(
        { planCredits: { price_plan: 500 }, webhookSecrets: ['whsec_metrics'] },
        ledger(),
        log.logger,
      ),
    );
    // Act
    await handler(signed(invoice('cus_a')), { ...CONTEXT, awsRequestId: 'req-1' });
    await handler(signed(invoice('cus_b'), 'whsec_forged'), { ...CONTEXT, awsRequestId: 'req-2' });
    // Assess
    expect(log.lines().map((line) => [line.message, line.requestId])).toEqual([
      ['stripe event processed', 'req-1'],
      ['stripe delivery refused', 'req-2'],
    ]);
  });
});
