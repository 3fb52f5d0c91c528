import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRolloverHandler } from '../../functions/rollover';
import { loadConfig } from '../../lib/config';
import { RUN_AHEAD_TOLERANCE_MS } from '../../lib/jobs/rollover';
import { depsFromConfig } from '../../lib/runtime';
import { creditsFunction } from '../support/credits-calls';
import { tableItems } from '../support/faults';
import { freshTable } from '../support/table';

/**
 * DESIGN.md's as-of rule and bounded identifiers, through the `credits` and `rollover`
 * handlers: bad input is an InputError naming the field, and nothing is written.
 */
const ms = (iso: string) => Date.parse(iso);
const CLOCK = ms('2026-03-10T12:00:00Z');
const JOB_CONTEXT = { getRemainingTimeInMillis: () => 900_000 } as Context;
const iso = (atMs: number) => new Date(atMs).toISOString();

describe('Function: credits, input that writes nothing (C1 C15 C25 C26)', () => {
  let table: Awaited<ReturnType<typeof freshTable>>;
  let credits: ReturnType<typeof creditsFunction>;

  beforeAll(async () => {
    table = await freshTable('as-of');
    // As deployed: the deps say nothing about as-of writes, so they are refused.
    credits = creditsFunction(() => ({ ...table, clock: () => CLOCK }));
  });
  afterAll(async () => table.drop());

  const long = 'k'.repeat(256);
  // 100 characters, 400 bytes in UTF-8.
  const wide = '\u{1F600}'.repeat(100);
  const reserve = { action: 'reserve', customerId: 'cus_1', amount: 2, holdId: 'job-1' };
  const settle = { action: 'settle', customerId: 'cus_1', amount: 2, holdId: 'job-1' };
  const restore = {
    action: 'restore',
    customerId: 'cus_1',
    idempotencyKey: 'img-1',
    restoreKey: 'r1',
  };
  const consume = { action: 'consume', customerId: 'cus_1', amount: 1, idempotencyKey: 'k1' };
  const now = '2026-03-09T12:00:00Z';

  it.each([
    ['a 2,100-character customerId', { ...consume, customerId: 'c'.repeat(2100) }, 'customerId'],
    ['a 256-character idempotencyKey', { ...consume, idempotencyKey: long }, 'idempotencyKey'],
    ['a customerId of 400 UTF-8 bytes', { ...consume, customerId: wide }, 'customerId'],
    ['a 256-character holdId', { ...reserve, holdId: long }, 'holdId'],
    ['a 256-character restoreKey', { ...restore, restoreKey: long }, 'restoreKey'],
    ['reserve without holdId', { ...reserve, holdId: undefined }, 'holdId'],
    ['reserve of 0 credits', { ...reserve, amount: 0 }, 'amount'],
    ['reserve for 60 seconds (below the floor)', { ...reserve, ttlSeconds: 60 }, 'ttlSeconds'],
    ['reserve for 25 hours', { ...reserve, ttlSeconds: 90_000 }, 'ttlSeconds'],
    ['reserve for 1.5 seconds', { ...reserve, ttlSeconds: 150.5 }, 'ttlSeconds'],
    ['settle of -1', { ...settle, amount: -1 }, 'amount'],
    ['settle without amount', { ...settle, amount: undefined }, 'amount'],
    ['release without holdId', { action: 'release', customerId: 'cus_1' }, 'holdId'],
    ['restore without restoreKey', { ...restore, restoreKey: undefined }, 'restoreKey'],
    ['restore naming nothing', { ...restore, idempotencyKey: undefined }, 'idempotencyKey'],
    ['restore naming two', { ...restore, holdId: 'job-1' }, 'holdId'],
    ['restore of 0', { ...restore, amount: 0 }, 'amount'],
    ['consume with `now`', { ...consume, now }, 'now'],
    ['reserve with `now`', { ...reserve, now }, 'now'],
    ['settle with `now`', { ...settle, now }, 'now'],
    ['release with `now`', { action: 'release', customerId: 'cus_1', holdId: 'h', now }, 'now'],
    ['restore with `now`', { ...restore, now }, 'now'],
    [
      'C4 C6 adjust with an `at` whose credits would be expired already',
      {
        action: 'adjust',
        customerId: 'cus_1',
        amount: 5,
        reason: 'goodwill',
        idempotencyKey: 'ops-1',
        at: '2025-12-09T12:00:00Z',
      },
      'at',
    ],
  ])('%s -> an InputError naming %s, status 400, nothing written', async (_name, event, field) => {
    // Act
    const failure = await credits.refusal(event);

    // Assess
    expect(failure.field).toBe(field);
    expect(failure.status).toBe(400);
    expect(failure.message.startsWith(`${field}: `)).toBe(true);
    expect(await tableItems(table)).toEqual([]);
  });

  it('reads honour `now`: balance, ledger and audit as of another time', async () => {
    // Act / Assess
    expect(await credits.call({ action: 'balance', customerId: 'cus_1', now })).toEqual({
      customerId: 'cus_1',
      balance: 0,
      held: 0,
      debt: 0,
      lots: [],
      upcoming: [],
    });
    expect(await credits.call({ action: 'audit', customerId: 'cus_1', now })).toEqual({
      checked: 0,
      problems: [],
    });
  });

  it('an identifier of exactly 255 characters is accepted', async () => {
    // Act
    const answer = await credits.call({ ...consume, idempotencyKey: 'k'.repeat(255) });

    // Assess
    expect(answer).toEqual({ ok: false, error: 'insufficient_credits', balance: 0 });
  });
});

describe('Function: credits, adjust at a time long past (C4 C6 C15)', () => {
  it('C15 a retry of an adjustment applied while its lot was alive answers as the first did', async () => {
    // Prepare: credits given as of 1 March expire 1 June.
    const table = await freshTable('as-of-adjust');
    let clockMs = CLOCK;
    const credits = creditsFunction(() => ({ ...table, clock: () => clockMs }));
    const adjust = {
      action: 'adjust',
      customerId: 'cus_1',
      amount: 5,
      reason: 'goodwill',
      idempotencyKey: 'ops-1',
      at: '2026-03-01T00:00:00Z',
    };
    const first = await credits.call(adjust);

    // Act: in July the same request comes again, and a new one with the same `at`.
    clockMs = ms('2026-07-01T00:00:00Z');
    const retry = await credits.call(adjust);
    const conflict = await credits.call({ ...adjust, amount: 6 });
    const fresh = await credits.refusal({ ...adjust, idempotencyKey: 'ops-2' });

    // Assess
    expect(first).toEqual({ ok: true, balance: 5 });
    expect(retry).toEqual(first);
    expect(conflict).toEqual({ ok: false, error: 'idempotency_conflict' });
    expect(fresh).toMatchObject({ field: 'at', status: 400 });
    await table.drop();
  });
});

describe('The as-of rule as configured (lib/config.ts)', () => {
  it('allows as-of writes against DynamoDB Local or with ALLOW_AS_OF_WRITES=true only', () => {
    // Act / Assess
    expect(loadConfig({}).asOfWrites).toBe(false);
    expect(loadConfig({ ALLOW_AS_OF_WRITES: 'false' }).asOfWrites).toBe(false);
    expect(loadConfig({ ALLOW_AS_OF_WRITES: 'true' }).asOfWrites).toBe(true);
    expect(loadConfig({ DYNAMODB_ENDPOINT: 'http://localhost:8000' }).asOfWrites).toBe(true);
    expect(depsFromConfig(loadConfig({ ALLOW_AS_OF_WRITES: 'true' })).asOfWrites).toBe(true);
    expect(() => loadConfig({ ALLOW_AS_OF_WRITES: 'yes' })).toThrow(/ALLOW_AS_OF_WRITES/);
  });

  it('C6 with as-of writes allowed, a consume as of a time cannot spend what had expired by then', async () => {
    // Prepare
    const table = await freshTable('as-of-allowed');
    const credits = creditsFunction(() => ({ ...table, clock: () => CLOCK, asOfWrites: true }));
    await credits.call({
      action: 'adjust',
      customerId: 'cus_1',
      amount: 5,
      reason: 'trial',
      idempotencyKey: 'a',
      at: '2026-03-01T00:00:00Z',
    });

    // Act: June 2 is after the lot's expiry (1 June).
    const asOfJune = await credits.call({
      action: 'consume',
      customerId: 'cus_1',
      amount: 1,
      idempotencyKey: 'k',
      now: '2026-06-02T00:00:00Z',
    });
    const asOfMarch = await credits.call({
      action: 'reserve',
      customerId: 'cus_1',
      amount: 1,
      holdId: 'h',
      now: '2026-03-09T00:00:00Z',
    });

    // Assess
    expect(asOfJune).toEqual({ ok: false, error: 'insufficient_credits', balance: 0 });
    expect(asOfMarch).toMatchObject({ ok: true, expiresAt: '2026-03-09T00:15:00.000Z' });
    await table.drop();
  });
});

describe('Function: rollover, never ahead of the clock (C6)', () => {
  let table: Awaited<ReturnType<typeof freshTable>>;
  beforeAll(async () => {
    table = await freshTable('as-of-rollover');
  });
  afterAll(async () => table.drop());
  const scheduled = (time: string) => ({ source: 'aws.events', 'detail-type': 'x', time });

  it('refuses a real run as of 2099, and an ops `now` where as-of writes are not allowed', async () => {
    // Prepare
    const handler = createRolloverHandler(() => ({ ...table, clock: () => CLOCK }));
    const local = createRolloverHandler(() => ({ ...table, clock: () => CLOCK, asOfWrites: true }));

    // Act / Assess
    for (const [run, event, field] of [
      [handler, { now: '2099-01-01T00:00:00Z' }, 'now'],
      [local, { now: '2099-01-01T00:00:00Z' }, 'now'],
      [handler, scheduled('2099-01-01T00:00:00Z'), 'time'],
      [handler, scheduled(iso(CLOCK + RUN_AHEAD_TOLERANCE_MS + 1)), 'time'],
      [handler, { now: '2026-03-01T00:00:00Z' }, 'now'],
    ] as const) {
      await expect(run(event, JOB_CONTEXT)).rejects.toMatchObject({ name: 'InputError', field });
    }
    expect(await tableItems(table)).toEqual([]);
  });

  it('accepts a scheduled time a little ahead (clock skew), a past `now` where allowed, and a dry run ahead', async () => {
    // Prepare
    const handler = createRolloverHandler(() => ({ ...table, clock: () => CLOCK }));
    const local = createRolloverHandler(() => ({ ...table, clock: () => CLOCK, asOfWrites: true }));

    // Act
    const skewed = await handler(scheduled(iso(CLOCK + 30_000)), JOB_CONTEXT);
    const past = await local({ now: '2026-03-01T00:00:00Z' }, JOB_CONTEXT);
    const ahead = await handler({ now: '2099-01-01T00:00:00Z', dryRun: true }, JOB_CONTEXT);

    // Assess
    expect(skewed).toMatchObject({ complete: true, now: iso(CLOCK + 30_000) });
    expect(past).toMatchObject({ complete: true, dryRun: false });
    expect(ahead).toMatchObject({ complete: true, dryRun: true, now: '2099-01-01T00:00:00.000Z' });
  });
});
