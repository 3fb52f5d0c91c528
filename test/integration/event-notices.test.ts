import type { Context } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { createRolloverHandler } from '../../functions/rollover';
import { DetailType } from '../../lib/events/catalog';
import { eventId } from '../../lib/events/from-changes';
import { runRollover } from '../../lib/jobs/rollover';
import { readCustomer } from '../../lib/ledger/queries';
import { consume } from '../../lib/ledger/spending';
import { endSubscription, grantSubscriptionInvoice } from '../../lib/ledger/subscriptions';
import { capturingLogger } from '../../lib/log';
import { grantOneLine } from '../support/grants';
import { type PublisherHarness, publisherHarness } from '../support/publisher';

const NOV_1 = '2026-11-01T00:00:00Z';
/** Lots granted on 1 November expire on 1 February (C4). */
const EXPIRES = '2027-02-01T00:00:00.000Z';
const ms = (iso: string) => Date.parse(iso);

let harness: PublisherHarness;
afterEach(async () => harness?.drop());

async function spend(customerId: string, key: string, amount: number, at = '2026-11-10T00:00:00Z') {
  const deps = { ...harness.table, clock: () => ms(at) };
  expect((await consume(deps, { customerId, amount, idempotencyKey: key })).ok).toBe(true);
}

/** Publishes everything the stream has since the last call; returns the events that arrived. */
async function published(atLeastRecords = 1) {
  const before = harness.bus.accepted.length;
  const records = await harness.stream.next(atLeastRecords);
  expect((await harness.invoke(records)).batchItemFailures).toEqual([]);
  return harness.bus.accepted.slice(before);
}

function rollover(now: string) {
  return runRollover(harness.table, {
    nowMs: ms(now),
    expiringNoticeDays: 7,
    logger: capturingLogger().logger,
  });
}

describe('C27 credits.low', () => {
  it('C27 is published when a consumption takes the balance below the threshold, once', async () => {
    // Prepare
    harness = await publisherHarness({ lowBalanceThreshold: 10 });
    await grantOneLine(harness.table, 'cus_l', 'in_l', 12, NOV_1);
    await spend('cus_l', 'img-1', 2);

    // Act: 12 -> 10 (not below), 10 -> 7 (crosses), 7 -> 6 (already below).
    await spend('cus_l', 'img-2', 3);
    await spend('cus_l', 'img-3', 1);
    const events = await published(4);

    // Assess
    const low = events.filter((event) => event.detailType === DetailType.low);
    expect(low).toHaveLength(1);
    expect(low[0]?.detail).toMatchObject({
      id: eventId('low', 'cus_l', 'consume#img-2'),
      customerId: 'cus_l',
      type: 'low_balance',
      amount: -3,
      balanceAfter: 7,
      threshold: 10,
      ref: 'img-2',
    });
  });
});

describe('C12 C27 referral.rejected', () => {
  it('C12 C27 is published from the grant whose referral code was rejected, with the reason', async () => {
    // Prepare
    harness = await publisherHarness();

    // Act: a first invoice carrying a code nobody owns.
    const result = await grantSubscriptionInvoice(
      { ...harness.table, clock: () => ms(NOV_1) },
      {
        customerId: 'cus_r',
        invoiceId: 'in_r1',
        subscriptionId: 'sub_r',
        invoiceCreatedMs: ms(NOV_1),
        lines: [{ lineId: 'il_1', credits: 100, periodStartMs: ms(NOV_1) }],
        billingReason: 'subscription_create',
        referral: { code: 'ZZZZZ-ZZZZZ' },
      },
    );
    const events = await published(2);

    // Assess
    expect(result.outcome.referral).toEqual({ result: 'rejected', reason: 'unknown_code' });
    expect(events.map((event) => event.detailType)).toEqual([
      DetailType.granted,
      DetailType.referralRejected,
    ]);
    expect(events[1]?.detail).toMatchObject({
      id: eventId('referral-rejected', 'cus_r', 'grant#in_r1'),
      customerId: 'cus_r',
      type: 'referral_rejected',
      amount: 0,
      ref: 'in_r1',
      reason: 'unknown_code',
    });
  });
});

describe('C27 credits.expiring (the daily job marks, the stream publishes)', () => {
  it('C27 tells once per lot that still has credits, EXPIRING_NOTICE_DAYS before it expires', async () => {
    // Prepare: a lot partly spent (told), one drained (gone), one forfeited (nothing left),
    // one expiring later than the window (not yet).
    harness = await publisherHarness();
    await grantOneLine(harness.table, 'cus_x', 'in_x', 100, NOV_1);
    await spend('cus_x', 'x-1', 40);
    await grantOneLine(harness.table, 'cus_y', 'in_y', 5, NOV_1);
    await spend('cus_y', 'y-1', 5);
    await grantOneLine(harness.table, 'cus_w', 'in_w', 50, NOV_1);
    await endSubscription(
      { ...harness.table, clock: () => ms('2026-11-15T00:00:00Z') },
      { customerId: 'cus_w', subscriptionId: 'sub_cus_w', endedAtMs: ms('2026-11-15T00:00:00Z') },
    );
    await grantOneLine(harness.table, 'cus_z', 'in_z', 100, '2026-11-20T00:00:00Z');
    await published(8);

    // Act: four days before the expiry; then the same run again, and a later one.
    const first = await rollover('2027-01-28T00:05:00Z');
    const events = await published(1);
    const again = await rollover('2027-01-28T00:05:00Z');
    const later = await rollover('2027-01-30T00:05:00Z');
    const more = await harness.stream.next(0);

    // Assess
    expect(first).toMatchObject({ expiringNotices: 1, complete: true, errors: 0 });
    expect([again.expiringNotices, later.expiringNotices]).toEqual([0, 0]);
    expect(events).toEqual([
      expect.objectContaining({
        detailType: DetailType.expiring,
        detail: {
          id: eventId('expiring', 'cus_x', 'in_x#il_1'),
          customerId: 'cus_x',
          type: 'expiring',
          amount: 60,
          balanceAfter: null,
          at: EXPIRES,
          ref: 'in_x',
          lotId: 'in_x#il_1',
          expiresAt: EXPIRES,
        },
      }),
    ]);
    expect(more).toEqual([]);
  });

  it('C27 a marked lot still spends as before, and its spends tell no second notice', async () => {
    // Prepare
    harness = await publisherHarness();
    await grantOneLine(harness.table, 'cus_s', 'in_s', 100, NOV_1);
    await published(2);
    await rollover('2027-01-28T00:05:00Z');
    expect((await published(1)).map((event) => event.detailType)).toEqual([DetailType.expiring]);

    // Act
    await spend('cus_s', 's-1', 30, '2027-01-29T00:00:00Z');
    const events = await published(2);

    // Assess
    expect(events.map((event) => event.detailType)).toEqual([DetailType.consumed]);
    const state = await readCustomer(harness.table, 'cus_s');
    expect(state.lots.map((lot) => lot.remaining)).toEqual([70]);
  });

  it('C27 two runs at once mark each lot once', async () => {
    // Prepare
    harness = await publisherHarness();
    for (const customer of ['cus_p', 'cus_q']) {
      await grantOneLine(harness.table, customer, `in_${customer}`, 10, NOV_1);
    }

    // Act
    const runs = await Promise.all([
      rollover('2027-01-28T00:05:00Z'),
      rollover('2027-01-28T00:05:00Z'),
    ]);
    const events = await published(6);

    // Assess
    expect(runs.reduce((sum, run) => sum + (run.expiringNotices ?? 0), 0)).toBe(2);
    expect(events.filter((event) => event.detailType === DetailType.expiring)).toHaveLength(2);
  });

  it('C27 the rollover function marks with its configured EXPIRING_NOTICE_DAYS; a dry run marks nothing', async () => {
    // Prepare: expiring in 10 days, inside a 14-day window.
    harness = await publisherHarness();
    await grantOneLine(harness.table, 'cus_f', 'in_f', 10, NOV_1);
    // The run is as of its clock (a real run never runs ahead of it, DESIGN.md's as-of rule).
    const handler = createRolloverHandler(() => ({
      ...harness.table,
      clock: () => Date.parse('2027-01-22T00:00:00Z'),
      asOfWrites: true,
      config: { expiringNoticeDays: 14 },
    }));
    const context = { getRemainingTimeInMillis: () => 900_000 } as Context;

    // Act
    const dry = await handler({ now: '2027-01-22T00:00:00Z', dryRun: true }, context);
    const real = await handler({ now: '2027-01-22T00:00:00Z' }, context);

    // Assess
    expect(dry).not.toHaveProperty('expiringNotices');
    expect(real).toMatchObject({ expiringNotices: 1 });
  });
});
