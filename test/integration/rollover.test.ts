import { type ScanCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRolloverHandler } from '../../functions/rollover';
import { RolloverIncompleteError, runRollover } from '../../lib/jobs/rollover';
import { balanceOf, ledgerOf, readCustomer } from '../../lib/ledger/queries';
import { consume } from '../../lib/ledger/spending';
import { capturingLogger } from '../../lib/log';
import { LOT_SHARDS } from '../../lib/store/keys';
import { tableItems } from '../support/faults';
import { grantOneLine } from '../support/grants';
import { freshTable } from '../support/table';

type Table = Awaited<ReturnType<typeof freshTable>>;

const iso = (text: string) => Date.parse(text);
const DAY_MS = 86_400_000;

async function grant(
  deps: Table,
  customerId: string,
  invoiceId: string,
  credits: number,
  at: string | number,
) {
  expect((await grantOneLine(deps, customerId, invoiceId, credits, at)).status).toBe('applied');
}

/** Every item of the table, in key order, to prove that a run wrote nothing. */
/** Every item of the table, sorted by key, as one string to compare before and after. */
async function snapshot(table: Table): Promise<string> {
  return JSON.stringify(await tableItems(table));
}

async function expiryEntries(table: Table, customerId: string) {
  const ledger = await ledgerOf(table, customerId, { limit: 1000 });
  return ledger.entries.filter((entry) => entry.type === 'expiry');
}

/** `count` customers, each with one 100-credit lot granted at `at` (so expiring 3 months on). */
async function seedExpiring(table: Table, count: number, at = '2026-01-10T08:00:00Z') {
  const ids = Array.from({ length: count }, (_, i) => `cus_exp_${String(i).padStart(3, '0')}`);
  for (let i = 0; i < ids.length; i += 8) {
    await Promise.all(ids.slice(i, i + 8).map((id) => grant(table, id, `in_${id}`, 100, at)));
  }
  return ids;
}

const quiet = () => capturingLogger().logger;

describe('Job: rollover', () => {
  let table: Table;
  beforeEach(async () => {
    table = await freshTable('rollover');
  });
  afterEach(async () => table.drop());

  it('C6 records each lot expired as of `now` as one expiry entry at the lot expiresAt, and reclaims it', async () => {
    // Prepare: A has a spent-down lot expiring 15 Apr and a fresh one expiring 15 May;
    // B's lot expires exactly at `now`; C's lot expires later.
    await grant(table, 'cus_a', 'in_a1', 500, '2026-01-15T10:00:00Z');
    await grant(table, 'cus_a', 'in_a2', 500, '2026-02-15T10:00:00Z');
    await consume(
      { ...table, clock: () => iso('2026-02-20T00:00:00Z') },
      { customerId: 'cus_a', amount: 100, idempotencyKey: 'img-1' },
    );
    await grant(table, 'cus_b', 'in_b1', 300, '2026-02-01T00:00:00Z');
    await grant(table, 'cus_c', 'in_c1', 200, '2026-03-01T00:00:00Z');
    const now = iso('2026-05-01T00:00:00Z');
    expect((await balanceOf(table, 'cus_a', iso('2026-04-15T09:59:59Z'))).balance).toBe(900);
    // C6: an expired lot no longer counts even before the job has recorded its expiry.
    expect((await balanceOf(table, 'cus_a', now)).balance).toBe(500);
    expect((await readCustomer(table, 'cus_a')).lots).toHaveLength(2);

    // Act
    const report = await runRollover(table, { nowMs: now, logger: quiet() });

    // Assess
    expect(report).toMatchObject({
      expiredLots: 2,
      expiredCredits: 400 + 300,
      customers: 2,
      errors: 0,
      complete: true,
      dryRun: false,
      now: '2026-05-01T00:00:00.000Z',
    });
    // Read: the index's two expired lots, then each of those customers' state (account,
    // lots, subscription): cus_a 1 + 2 + 1, cus_b 1 + 1 + 1. Nothing else.
    expect(report.itemsRead).toBe(2 + 4 + 3);
    expect((await balanceOf(table, 'cus_a', now)).balance).toBe(500);
    expect((await readCustomer(table, 'cus_a')).lots.map((lot) => lot.id)).toEqual(['in_a2#il_1']);
    expect(await expiryEntries(table, 'cus_a')).toEqual([
      {
        type: 'expiry',
        amount: -400,
        balanceAfter: 500,
        at: '2026-04-15T10:00:00.000Z',
        ref: 'in_a1#il_1',
      },
    ]);
    expect(await expiryEntries(table, 'cus_b')).toEqual([
      {
        type: 'expiry',
        amount: -300,
        balanceAfter: 0,
        at: '2026-05-01T00:00:00.000Z',
        ref: 'in_b1#il_1',
      },
    ]);
    expect(await expiryEntries(table, 'cus_c')).toEqual([]);
    expect((await readCustomer(table, 'cus_b')).lots).toEqual([]);
    expect((await balanceOf(table, 'cus_c', now)).balance).toBe(200);
  });

  it('C6 expires nothing whose expiry is after `now` (a lot is spendable strictly before its expiresAt)', async () => {
    // Prepare
    await grant(table, 'cus_a', 'in_a1', 500, '2026-02-01T00:00:00Z');
    // Act
    const report = await runRollover(table, {
      nowMs: iso('2026-05-01T00:00:00Z') - 1,
      logger: quiet(),
    });
    // Assess
    expect(report).toMatchObject({ expiredLots: 0, expiredCredits: 0, customers: 0, itemsRead: 0 });
    expect((await readCustomer(table, 'cus_a')).lots).toHaveLength(1);
  });

  it('C6 is idempotent: a rerun, and a late run for a later `now`, find nothing already done', async () => {
    // Prepare
    await seedExpiring(table, 5);
    await grant(table, 'cus_later', 'in_later', 100, '2026-03-10T08:00:00Z');
    const now = iso('2026-04-10T08:00:00Z');
    // Act
    const first = await runRollover(table, { nowMs: now, logger: quiet() });
    const again = await runRollover(table, { nowMs: now, logger: quiet() });
    const late = await runRollover(table, { nowMs: now + 10 * DAY_MS, logger: quiet() });
    // Assess
    expect(first).toMatchObject({ expiredLots: 5, expiredCredits: 500, customers: 5 });
    expect(again).toMatchObject({ expiredLots: 0, expiredCredits: 0, customers: 0, itemsRead: 0 });
    expect(late).toMatchObject({ expiredLots: 0, customers: 0, complete: true });
    expect(await expiryEntries(table, 'cus_exp_000')).toHaveLength(1);
  });

  it('C6/C16 two concurrent runs expire each lot exactly once', async () => {
    // Prepare
    const ids = await seedExpiring(table, 24);
    const now = iso('2026-04-10T08:00:00Z');
    // Act
    const [one, two] = await Promise.all([
      runRollover(table, { nowMs: now, concurrency: 3, logger: quiet() }),
      runRollover(table, { nowMs: now, concurrency: 3, logger: quiet() }),
    ]);
    // Assess
    expect(one.expiredLots + two.expiredLots).toBe(24);
    expect(one.expiredCredits + two.expiredCredits).toBe(2400);
    expect(one.customers + two.customers).toBe(24);
    expect(one.errors + two.errors).toBe(0);
    for (const id of ids) {
      const entries = await expiryEntries(table, id);
      expect(entries).toHaveLength(1);
      expect(entries[0]).toMatchObject({ amount: -100, balanceAfter: 0 });
    }
  });

  it('C6 resumes after running out of time: the second run finishes and the totals add up', async () => {
    // Prepare: time "runs out" once 7 expiry transactions have been written.
    const ids = await seedExpiring(table, 20);
    let writes = 0;
    const countingDb = new Proxy(table.db, {
      get(target, property, receiver) {
        if (property !== 'send') return Reflect.get(target, property, receiver);
        return async (command: unknown) => {
          if (command instanceof TransactWriteCommand) writes += 1;
          return target.send(command as ScanCommand);
        };
      },
    });
    const deps = { ...table, db: countingDb };
    const now = iso('2026-04-10T08:00:00Z');
    // Act
    const first = await runRollover(deps, {
      nowMs: now,
      remainingTimeMs: () => (writes >= 7 ? 29_000 : 600_000),
      logger: quiet(),
    });
    const second = await runRollover(deps, {
      nowMs: now,
      remainingTimeMs: () => 600_000,
      logger: quiet(),
    });
    // Assess
    expect(first.complete).toBe(false);
    expect(first.unfinishedShards?.length).toBeGreaterThan(0);
    expect(first.customers).toBeGreaterThanOrEqual(7);
    expect(first.customers).toBeLessThan(20);
    expect(second.complete).toBe(true);
    expect(first.expiredLots + second.expiredLots).toBe(20);
    expect(first.expiredCredits + second.expiredCredits).toBe(2000);
    for (const id of ids) expect(await expiryEntries(table, id)).toHaveLength(1);
  });

  it('C6 counts a failing customer as an error, logs it, and expires the others', async () => {
    // Prepare: DynamoDB refuses every write for one customer.
    const ids = await seedExpiring(table, 6);
    const broken = ids[2];
    const failingDb = new Proxy(table.db, {
      get(target, property, receiver) {
        if (property !== 'send') return Reflect.get(target, property, receiver);
        return async (command: unknown) => {
          const items = command instanceof TransactWriteCommand ? command.input.TransactItems : [];
          if (JSON.stringify(items ?? []).includes(`CUST#${broken}"`)) {
            throw Object.assign(new Error('simulated outage'), { name: 'InternalServerError' });
          }
          return target.send(command as ScanCommand);
        };
      },
    });
    const log = capturingLogger();
    const now = iso('2026-04-10T08:00:00Z');
    // Act
    const first = await runRollover(
      { ...table, db: failingDb },
      { nowMs: now, logger: log.logger },
    );
    const retry = await runRollover(table, { nowMs: now, logger: quiet() });
    // Assess
    expect(first).toMatchObject({ errors: 1, customers: 5, expiredLots: 5, complete: true });
    expect(log.lines()).toContainEqual(
      expect.objectContaining({ level: 'error', customerId: broken }),
    );
    expect(retry).toMatchObject({ errors: 0, customers: 1, expiredLots: 1 });
  });

  it('C6 stops before touching anything when started with too little time', async () => {
    // Prepare
    await seedExpiring(table, 3);
    // Act
    const report = await runRollover(table, {
      nowMs: iso('2026-04-10T08:00:00Z'),
      remainingTimeMs: () => 10_000,
      logger: quiet(),
    });
    // Assess
    expect(report).toMatchObject({ complete: false, expiredLots: 0, itemsRead: 0 });
    expect(report.unfinishedShards).toHaveLength(LOT_SHARDS);
  });

  it('C6 dry run reports what it would expire and writes nothing', async () => {
    // Prepare
    await seedExpiring(table, 6);
    await grant(table, 'cus_two_lots', 'in_t1', 250, '2026-01-01T00:00:00Z');
    await grant(table, 'cus_two_lots', 'in_t2', 250, '2026-01-05T00:00:00Z');
    const now = iso('2026-04-10T08:00:00Z');
    const before = await snapshot(table);
    // Act
    const dry = await runRollover(table, { nowMs: now, dryRun: true, logger: quiet() });
    // Assess
    expect(await snapshot(table)).toBe(before);
    expect(dry).toMatchObject({
      dryRun: true,
      expiredLots: 8,
      expiredCredits: 1100,
      customers: 7,
      complete: true,
    });
    const real = await runRollover(table, { nowMs: now, logger: quiet() });
    expect(real).toMatchObject({
      dryRun: false,
      expiredLots: 8,
      expiredCredits: 1100,
      customers: 7,
    });
  });

  it('C6 dry run with a small page size still visits every expiring account once', async () => {
    // Prepare
    await seedExpiring(table, 15);
    // Act
    const dry = await runRollover(table, {
      nowMs: iso('2026-04-10T08:00:00Z'),
      dryRun: true,
      pageSize: 2,
      logger: quiet(),
    });
    // Assess
    // 15 index items, and each customer's state once: account, lot, subscription.
    expect(dry).toMatchObject({ expiredLots: 15, customers: 15, itemsRead: 15 + 15 * 3 });
  });
});

describe('Function: rollover', () => {
  let table: Table;
  beforeEach(async () => {
    table = await freshTable('rollover-fn');
  });
  afterEach(async () => table.drop());

  const context = (remainingMs: number) =>
    ({ getRemainingTimeInMillis: () => remainingMs }) as unknown as Context;
  const scheduledEvent = (time: string) => ({
    version: '0',
    id: '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa',
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '123456789012',
    time,
    region: 'us-east-1',
    resources: ['arn:aws:events:us-east-1:123456789012:rule/image-credits-prod-rollover'],
    detail: {},
  });

  it('C6 runs as of the EventBridge event time, not the clock', async () => {
    // Prepare: the clock says a year later, which would expire the second lot too.
    await grant(table, 'cus_a', 'in_a1', 100, '2026-01-10T00:00:00Z');
    await grant(table, 'cus_a', 'in_a2', 100, '2026-02-10T00:00:00Z');
    const handler = createRolloverHandler(() => ({
      ...table,
      clock: () => iso('2027-01-01T00:00:00Z'),
    }));
    // Act
    const report = await handler(scheduledEvent('2026-04-10T00:05:00Z'), context(900_000));
    // Assess
    expect(report).toMatchObject({
      expiredLots: 1,
      expiredCredits: 100,
      complete: true,
      dryRun: false,
      now: '2026-04-10T00:05:00.000Z',
    });
  });

  it('C6 runs an ops invoke with `now` and `dryRun`, and without `now` as of the clock', async () => {
    // Prepare
    await grant(table, 'cus_a', 'in_a1', 100, '2026-01-10T00:00:00Z');
    const handler = createRolloverHandler(() => ({
      ...table,
      clock: () => iso('2026-04-11T00:00:00Z'),
    }));
    // Act
    const dry = await handler({ now: '2026-04-10T00:00:00Z', dryRun: true }, context(900_000));
    const real = await handler({}, context(900_000));
    // Assess
    expect(dry).toMatchObject({ dryRun: true, expiredLots: 1, now: '2026-04-10T00:00:00.000Z' });
    expect(real).toMatchObject({ dryRun: false, expiredLots: 1, now: '2026-04-11T00:00:00.000Z' });
  });

  it('rejects bad input naming the field, and writes nothing', async () => {
    // Prepare
    await grant(table, 'cus_a', 'in_a1', 100, '2026-01-10T00:00:00Z');
    const handler = createRolloverHandler(() => ({
      ...table,
      clock: () => iso('2026-05-01T00:00:00Z'),
    }));
    const before = await snapshot(table);
    // Act / Assess
    await expect(handler({ now: 'yesterday' }, context(900_000))).rejects.toMatchObject({
      name: 'InputError',
      field: 'now',
    });
    await expect(handler({ dryRun: 'yes' }, context(900_000))).rejects.toMatchObject({
      field: 'dryRun',
    });
    await expect(handler({ nwo: '2026-05-01T00:00:00Z' }, context(900_000))).rejects.toThrow(/nwo/);
    await expect(
      handler({ ...scheduledEvent('not a time') }, context(900_000)),
    ).rejects.toMatchObject({ field: 'time' });
    expect(await snapshot(table)).toBe(before);
  });

  it('C6 a scheduled run that runs out of time throws so that Lambda retries (and then alarms)', async () => {
    // Prepare
    await grant(table, 'cus_a', 'in_a1', 100, '2026-01-10T00:00:00Z');
    const handler = createRolloverHandler(() => table);
    // Act
    const run = handler(scheduledEvent('2026-04-10T00:05:00Z'), context(5_000));
    // Assess
    await expect(run).rejects.toBeInstanceOf(RolloverIncompleteError);
    await expect(run).rejects.toMatchObject({ report: { complete: false } });
  });
});
