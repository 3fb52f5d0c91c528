import type { Context } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createBackfillHandler } from '../../functions/backfill';
import {
  type BackfillReport,
  backfillExitCode,
  parseBackfillRequest,
  runBackfill,
} from '../../lib/jobs/backfill';
import { balanceOf, ledgerOf } from '../../lib/ledger/queries';
import { capturingLogger } from '../../lib/log';
import { processDepsFromConfig } from '../../lib/stripe/deps';
import type { ProcessDeps } from '../../lib/stripe/process';
import { tableItems } from '../support/faults';
import {
  ms,
  paidInvoiceEvent,
  stripeEvent,
  stripeFixture,
  subscriptionDeletedEvent,
} from '../support/stripe-events';
import { type StripeFake, startStripeFake } from '../support/stripe-fake';
import { freshTable } from '../support/table';
import { webhookHarness } from '../support/webhook-harness';

type Table = Awaited<ReturnType<typeof freshTable>>;
type Json = Record<string, unknown>;

const PLAN_CREDITS = { price_basic: 500, price_pro: 1000 };
const SINCE = '2026-08-01T00:00:00Z';
const UNTIL = '2026-11-01T00:00:00Z';
const NOW = '2026-10-20T00:00:00Z';
const CUSTOMERS = ['cus_a', 'cus_b', 'cus_c', 'cus_d'];

/**
 * A quarter of one account's Stripe events: grants, renewals, a duplicate under the other
 * invoice event type, a cancellation with a forfeit, a late renewal of the ended subscription
 * (C8), an invoice with a price nobody knows (fails), one unhandled type, and one event from
 * before the range.
 */
function quarterOfEvents(): Json[] {
  const invoice = (
    id: string,
    customerId: string,
    periodStart: string,
    billingReason: string,
    options: { priceId?: string; quantity?: number; type?: string; created?: string } = {},
  ) =>
    paidInvoiceEvent({
      eventId: `evt_${id}_${options.type === 'invoice.payment_succeeded' ? 'ps' : 'paid'}`,
      invoiceId: id,
      customerId,
      subscriptionId: `sub_${customerId}`,
      billingReason,
      ...(options.type && { type: options.type }),
      eventCreated: options.created ?? periodStart,
      lines: [
        {
          priceId: options.priceId ?? 'price_basic',
          quantity: options.quantity ?? 1,
          periodStart,
          lineId: `il_${id}`,
        },
      ],
    });
  return [
    invoice('in_d1', 'cus_d', '2026-07-20T00:00:00Z', 'subscription_create'),
    invoice('in_a1', 'cus_a', '2026-08-02T00:00:00Z', 'subscription_create'),
    invoice('in_b1', 'cus_b', '2026-08-10T00:00:00Z', 'subscription_create', {
      priceId: 'price_pro',
      quantity: 2,
    }),
    invoice('in_a2', 'cus_a', '2026-09-02T00:00:00Z', 'subscription_cycle'),
    invoice('in_a2', 'cus_a', '2026-09-02T00:00:00Z', 'subscription_cycle', {
      type: 'invoice.payment_succeeded',
      created: '2026-09-02T00:00:05Z',
    }),
    invoice('in_c1', 'cus_c', '2026-09-05T00:00:00Z', 'subscription_create', {
      priceId: 'price_nobody_knows',
    }),
    invoice('in_b2', 'cus_b', '2026-09-10T00:00:00Z', 'subscription_cycle', {
      priceId: 'price_pro',
      quantity: 2,
    }),
    subscriptionDeletedEvent({
      eventId: 'evt_sub_b_deleted',
      customerId: 'cus_b',
      subscriptionId: 'sub_cus_b',
      endedAt: '2026-09-20T00:00:00Z',
    }),
    stripeEvent({
      id: 'evt_customer_created',
      type: 'customer.created',
      object: { ...stripeFixture('customer'), id: 'cus_e' },
      created: '2026-09-25T00:00:00Z',
    }),
    invoice('in_a3', 'cus_a', '2026-10-02T00:00:00Z', 'subscription_cycle'),
    invoice('in_b3', 'cus_b', '2026-10-10T00:00:00Z', 'subscription_cycle', {
      priceId: 'price_pro',
      quantity: 2,
    }),
  ];
}

function inRange(event: Json): boolean {
  const createdMs = Number(event.created) * 1000;
  return createdMs >= ms(SINCE) && createdMs < ms(UNTIL);
}

/** Every item of the table, sorted by key, as one string to compare before and after. */
async function snapshot(table: Table): Promise<string> {
  return JSON.stringify(await tableItems(table));
}

/** Balances with their lots, and each ledger as a multiset, for every customer. */
async function stateOf(table: Table) {
  const state: Record<string, unknown> = {};
  for (const customerId of CUSTOMERS) {
    const ledger = (await ledgerOf(table, customerId, { limit: 1000 })).entries;
    state[customerId] = {
      balance: await balanceOf(table, customerId, ms(NOW)),
      ledger: ledger
        .map(({ type, amount, at, ref }) => JSON.stringify({ type, amount, at, ref }))
        .sort(),
    };
  }
  return state;
}

describe('Job: backfill', () => {
  let fake: StripeFake;
  let table: Table;
  let log: ReturnType<typeof capturingLogger>;
  const deps = (overrides: { secretKey?: string | null } = {}): ProcessDeps =>
    processDepsFromConfig(
      {
        planCredits: PLAN_CREDITS,
        stripeApiBase: fake.apiBase,
        ...(overrides.secretKey !== null && {
          stripeSecretKey: overrides.secretKey ?? 'sk_test_backfill',
        }),
      },
      { db: table.db, tableName: table.tableName, clock: () => ms(NOW) },
      log.logger,
    );
  const range = (extra: Json = {}) =>
    parseBackfillRequest({ since: SINCE, until: UNTIL, ...extra });
  /** The state one uninterrupted backfill of the range reaches, on a table of its own. */
  const fullRun = async () => {
    const other = await freshTable('backfill-full');
    try {
      const ledger = { db: other.db, tableName: other.tableName, clock: () => ms(NOW) };
      await runBackfill({ ...deps(), ...ledger }, range());
      return await stateOf(other);
    } finally {
      await other.drop();
    }
  };

  beforeAll(async () => {
    fake = await startStripeFake({ events: quarterOfEvents() });
  });
  afterAll(async () => fake.stop());
  beforeEach(async () => {
    table = await freshTable('backfill');
    log = capturingLogger();
  });
  afterEach(async () => table.drop());

  it('C17 a backfill of a range reaches the same balances and ledgers as live delivery', async () => {
    // Prepare: the same events, in range, delivered live through the webhook handler.
    const live = await webhookHarness({ planCredits: PLAN_CREDITS, now: NOW });
    try {
      const statuses = [];
      for (const event of quarterOfEvents().filter(inRange)) {
        statuses.push((await live.deliver(event)).statusCode);
      }
      expect(statuses.filter((status) => status !== 200)).toEqual([500]);
      // Act
      const report = await runBackfill(deps(), range(), { pageSize: 3 });
      // Assess
      expect(report).toMatchObject({
        processed: 9,
        applied: 6,
        alreadyApplied: 1,
        ignored: 1,
        skipped: 2,
        failed: 1,
        complete: true,
        dryRun: false,
      });
      expect(report.failures).toEqual([
        {
          eventId: 'evt_in_c1_paid',
          type: 'invoice.paid',
          error: expect.stringContaining('price_nobody_knows'),
        },
      ]);
      expect(await stateOf(table)).toEqual(await stateOf(live.table));
      expect((await balanceOf(table, 'cus_a', ms(NOW))).balance).toBe(1500);
      expect((await balanceOf(table, 'cus_b', ms(NOW))).balance).toBe(0);
      expect((await balanceOf(table, 'cus_d', ms(NOW))).balance).toBe(0);
      // The Events API was paged through, filtered to the handled types, within the range.
      const calls = fake.requestsTo('/v1/events');
      expect(calls.length).toBeGreaterThanOrEqual(3);
      expect(calls[0]?.query.get('created[gte]')).toBe(String(ms(SINCE) / 1000));
      expect(calls[0]?.query.get('created[lt]')).toBe(String(ms(UNTIL) / 1000));
      expect(calls[0]?.query.getAll('types[0]')).toEqual(['invoice.paid']);
    } finally {
      await live.drop();
    }
  });

  it('C16/C17 replaying the range twice changes nothing the second time', async () => {
    // Prepare
    const first = await runBackfill(deps(), range());
    const after = await snapshot(table);
    // Act
    const second = await runBackfill(deps(), range());
    // Assess
    expect(first.applied).toBe(6);
    expect(second).toMatchObject({ processed: 9, applied: 0, alreadyApplied: 8, failed: 1 });
    expect(await snapshot(table)).toBe(after);
  });

  it('replays oldest first with one page in memory: windows that fit a page, oldest first', async () => {
    // Prepare
    const listCallsBefore = fake.requestsTo('/v1/events').length;
    // Act
    const report = await runBackfill(deps(), range(), { pageSize: 3 });
    // Assess: every listed window fit one page (or was split), and they went oldest first.
    expect(report).toMatchObject({ processed: 9, complete: true });
    const calls = fake.requestsTo('/v1/events').slice(listCallsBefore);
    const windows = calls.map((call) => Number(call.query.get('created[gte]')));
    const processedWindows = calls.filter((call) => call.query.get('limit') === '3');
    expect(processedWindows).toHaveLength(calls.length);
    expect(calls.length).toBeLessThanOrEqual(4 * 9);
    expect(Math.min(...windows)).toBe(ms(SINCE) / 1000);
    const order = log
      .lines()
      .filter((line) => line.message === 'stripe event processed')
      .map((line) => line.eventId);
    expect(order).toEqual([
      'evt_in_a1_paid',
      'evt_in_b1_paid',
      'evt_in_a2_paid',
      'evt_in_a2_ps',
      'evt_in_b2_paid',
      'evt_sub_b_deleted',
      'evt_in_a3_paid',
      'evt_in_b3_paid',
    ]);
  });

  it('C17 a dry run reports what would change and writes nothing', async () => {
    // Prepare
    const before = await snapshot(table);
    // Act
    const report = await runBackfill(deps(), range({ dryRun: true }));
    // Assess
    expect(await snapshot(table)).toBe(before);
    expect(report).toMatchObject({ dryRun: true, processed: 9, failed: 1 });
    expect(report.applied).toBeGreaterThan(0);
    expect(report.wouldApply?.map((each) => each.eventId)).toContain('evt_in_a1_paid');
    expect(report.wouldApply?.[0]?.commands).toEqual([
      { command: 'grantSubscriptionInvoice', key: 'in_a1', customerId: 'cus_a' },
    ]);
  });

  it('C17 replays an inline list of events, and one bad event does not stop the rest', async () => {
    // Prepare
    const events = quarterOfEvents().filter((event) =>
      ['evt_in_c1_paid', 'evt_in_a1_paid', 'evt_in_a2_paid'].includes(String(event.id)),
    );
    const listCallsBefore = fake.requestsTo('/v1/events').length;
    // Act
    const report = await runBackfill(deps(), parseBackfillRequest({ events }));
    // Assess
    expect(report).toMatchObject({ processed: 3, applied: 2, failed: 1 });
    expect(report.failures[0]).toMatchObject({ eventId: 'evt_in_c1_paid' });
    expect((await balanceOf(table, 'cus_a', ms(NOW))).balance).toBe(1000);
    expect(fake.requestsTo('/v1/events')).toHaveLength(listCallsBefore);
  });

  it('reports an inline event in another API version it cannot re-read as failed, and runs the rest', async () => {
    // Prepare: the Stripe fake does not know the invoice, so the re-read finds nothing.
    const [old, good] = quarterOfEvents().filter((event) =>
      ['evt_in_a1_paid', 'evt_in_a2_paid'].includes(String(event.id)),
    ) as [Json, Json];
    // Act
    const report = await runBackfill(
      deps(),
      parseBackfillRequest({ events: [{ ...old, api_version: '2020-08-27' }, good] }),
    );
    // Assess
    expect(report).toMatchObject({ ok: false, processed: 2, applied: 1, failed: 1 });
    expect(report.failures[0]).toMatchObject({
      eventId: 'evt_in_a1_paid',
      error: expect.stringContaining('No such invoice'),
    });
  });

  it('logs progress every N events, and once more at the end', async () => {
    // Act
    await runBackfill(deps(), range(), { progressEvery: 4 });
    // Assess
    const progress = log.lines().filter((line) => line.message === 'backfill progress');
    expect(progress.map((line) => line.processed)).toEqual([4, 8, 9]);
    expect(progress.at(-1)).toMatchObject({ applied: 6, failed: 1 });
  });

  it('stops for time and returns the request that finishes the range; the rerun converges', async () => {
    // Prepare: time runs out after 4 events (a1, b1, a2 and its payment_succeeded twin).
    let calls = 0;
    const remainingTimeMs = () => (calls++ >= 4 ? 1_000 : 600_000);
    // Act
    const first = await runBackfill(deps(), range(), { remainingTimeMs, pageSize: 3 });
    const rest = await runBackfill(deps(), parseBackfillRequest(first.resume));
    // Assess: the rest starts where the window the run stopped in starts, up to `until`.
    expect(first).toMatchObject({ ok: true, complete: false, processed: 4 });
    expect(first.resume).toEqual({
      since: expect.any(String),
      until: '2026-11-01T00:00:00.000Z',
      types: expect.arrayContaining(['invoice.paid']),
    });
    // After the last event processed (a2, 2 Sep) and no later than the next one (c1, 5 Sep).
    const resumeMs = Date.parse(first.resume?.since ?? '');
    expect(resumeMs).toBeGreaterThan(ms('2026-09-02T00:00:05Z'));
    expect(resumeMs).toBeLessThanOrEqual(ms('2026-09-05T00:00:00Z'));
    expect(backfillExitCode(first)).toBe(3);
    expect(rest).toMatchObject({ complete: true, failed: 1 });
    expect((await balanceOf(table, 'cus_a', ms(NOW))).balance).toBe(1500);
    expect(await stateOf(table)).toEqual(await fullRun());
  });

  it('needs STRIPE_SECRET_KEY for a range, and says so', async () => {
    // Act / Assess
    await expect(runBackfill(deps({ secretKey: null }), range())).rejects.toMatchObject({
      name: 'ConfigError',
      message: expect.stringContaining('STRIPE_SECRET_KEY'),
    });
    expect(await snapshot(table)).toBe('[]');
  });
});

describe('Function: backfill', () => {
  let fake: StripeFake;
  let table: Table;
  beforeAll(async () => {
    fake = await startStripeFake({ events: quarterOfEvents() });
  });
  afterAll(async () => fake.stop());
  beforeEach(async () => {
    table = await freshTable('backfill-fn');
  });
  afterEach(async () => table.drop());

  const handler = () =>
    createBackfillHandler(() =>
      processDepsFromConfig(
        { planCredits: PLAN_CREDITS, stripeApiBase: fake.apiBase, stripeSecretKey: 'sk_test_fn' },
        { db: table.db, tableName: table.tableName, clock: () => ms(NOW) },
        capturingLogger().logger,
      ),
    );
  const context = { getRemainingTimeInMillis: () => 900_000 } as unknown as Context;

  it('C17 replays a range from the Events API, `until` defaulting to now', async () => {
    // Act
    const report = (await handler()({ since: SINCE }, context)) as BackfillReport;
    // Assess: every event of the quarter was created before NOW, so all of it is listed.
    expect(report).toMatchObject({ processed: 9, applied: 6, failed: 1, complete: true });
  });

  it('rejects bad input naming the field, before reading or writing anything', async () => {
    // Prepare
    const before = fake.requests.length;
    // Act / Assess
    await expect(handler()({ since: 'yesterday' }, context)).rejects.toMatchObject({
      name: 'InputError',
      field: 'since',
    });
    await expect(handler()({ since: UNTIL, until: SINCE }, context)).rejects.toMatchObject({
      field: 'until',
    });
    await expect(handler()({ since: SINCE, types: [] }, context)).rejects.toMatchObject({
      field: 'types',
    });
    await expect(handler()({ events: [{ id: 'nope', type: 'x' }] }, context)).rejects.toMatchObject(
      { field: 'events.0.id' },
    );
    await expect(handler()({}, context)).rejects.toMatchObject({ field: 'since' });
    expect(fake.requests.length).toBe(before);
    expect(await snapshot(table)).toBe('[]');
  });
});
