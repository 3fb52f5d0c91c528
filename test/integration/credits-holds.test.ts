import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRolloverHandler } from '../../functions/rollover';
import type { LedgerDeps } from '../../lib/ledger/deps';
import { readCustomer } from '../../lib/ledger/queries';
import { creditsFunction, customerWith54 } from '../support/credits-calls';
import { freshTable } from '../support/table';

/**
 * C25 through the `credits` function on DynamoDB Local: reserve, settle and release with
 * DESIGN.md's JSON, their retries and conflicts, a hold lapsing by time alone, and the daily
 * job recording lapses. Each test has its own customer; the clock is the deps' and moves.
 */
const ms = (iso: string) => Date.parse(iso);
const START = ms('2026-03-10T12:00:00Z');
const MINUTE_MS = 60_000;
const JOB_CONTEXT = { getRemainingTimeInMillis: () => 900_000 } as Context;

describe('Function: credits, holds (C25)', () => {
  let table: Awaited<ReturnType<typeof freshTable>>;
  let clockMs = START;
  let deps: LedgerDeps;
  let credits: ReturnType<typeof creditsFunction>;

  const ledgerOf = async (customerId: string) => {
    const { entries } = (await credits.call({ action: 'ledger', customerId, limit: 100 })) as {
      entries: { type: string; amount: number; balanceAfter: number; at: string; ref: string }[];
    };
    return entries.reverse().map((entry) => [entry.type, entry.amount, entry.balanceAfter]);
  };
  const auditOf = (customerId: string, now?: number) =>
    credits.call({
      action: 'audit',
      customerId,
      ...(now !== undefined && { now: new Date(now).toISOString() }),
    });

  beforeAll(async () => {
    table = await freshTable('holds');
    deps = { ...table, clock: () => clockMs };
    credits = creditsFunction(() => deps);
  });
  afterAll(async () => table.drop());

  it('C5 C14 C25 reserve: {ok, balance, held, expiresAt}; balance shows held; a retry returns the first answer', async () => {
    // Prepare
    clockMs = START;
    await customerWith54(table, credits, 'cus_r1');
    const reserve = { action: 'reserve', customerId: 'cus_r1', amount: 10, holdId: 'job-1' };

    // Act
    const first = await credits.call(reserve);
    clockMs = START + MINUTE_MS;
    const retry = await credits.call(reserve);
    const view = await credits.call({ action: 'balance', customerId: 'cus_r1' });
    const conflict = await credits.call({ ...reserve, amount: 11 });
    const tooMuch = await credits.call({ ...reserve, holdId: 'job-2', amount: 45 });

    // Assess: the default time to live is 15 minutes (C25).
    const expiresAt = '2026-03-10T12:15:00.000Z';
    expect(first).toEqual({ ok: true, balance: 44, held: 10, expiresAt });
    expect(retry).toEqual(first);
    expect(view).toMatchObject({ balance: 44, held: 10 });
    // C5: January's last 4 went into the hold first, so only February's lot is left.
    expect((view.lots as { remaining: number }[]).map((lot) => lot.remaining)).toEqual([44]);
    expect(conflict).toEqual({ ok: false, error: 'idempotency_conflict' });
    expect(tooMuch).toEqual({ ok: false, error: 'insufficient_credits', balance: 44 });
    expect(await ledgerOf('cus_r1')).toEqual([
      ['grant', 100, 100],
      ['grant', 50, 150],
      ['consumption', -96, 54],
      ['hold', -10, 44],
    ]);
    expect(await auditOf('cus_r1')).toEqual({ checked: 1, problems: [] });
  });

  it('C5 C25 settle: consumes the soonest-expiring part, gives the rest back; retries, conflicts and what follows', async () => {
    // Prepare
    clockMs = START;
    await customerWith54(table, credits, 'cus_s1');
    await credits.call({
      action: 'reserve',
      customerId: 'cus_s1',
      amount: 10,
      holdId: 'job-1',
      ttlSeconds: 3600,
    });
    const settle = { action: 'settle', customerId: 'cus_s1', holdId: 'job-1', amount: 6 };

    // Act
    const tooMuch = await credits.call({ ...settle, amount: 11 });
    const unknown = await credits.call({ ...settle, holdId: 'job-404' });
    const first = await credits.call(settle);
    const retry = await credits.call(settle);
    const other = await credits.call({ ...settle, amount: 5 });
    const release = await credits.call({
      action: 'release',
      customerId: 'cus_s1',
      holdId: 'job-1',
    });

    // Assess
    expect(tooMuch).toEqual({ ok: false, error: 'exceeds_hold' });
    expect(unknown).toEqual({ ok: false, error: 'hold_not_found' });
    expect(first).toEqual({ ok: true, balance: 48, consumed: 6 });
    expect(retry).toEqual(first);
    expect(other).toEqual({ ok: false, error: 'idempotency_conflict' });
    expect(release).toEqual({ ok: false, error: 'hold_not_found' });
    // January's 4 and 2 of February's were consumed; February got its other 4 back.
    const state = await readCustomer(table, 'cus_s1');
    expect(state.lots.map((lot) => [lot.id, lot.remaining])).toEqual([['in_cus_s1_feb#il_1', 48]]);
    expect(state.holds ?? []).toEqual([]);
    expect((await ledgerOf('cus_s1')).slice(3)).toEqual([
      ['hold', -10, 44],
      ['release', 10, 54],
      ['consumption', -6, 48],
    ]);
    expect(await auditOf('cus_s1')).toEqual({ checked: 1, problems: [] });
  });

  it('C25 C26 release: every credit back to its lot (a drained lot comes back as it was); then nothing to settle', async () => {
    // Prepare: the hold drains January's lot.
    clockMs = START;
    await customerWith54(table, credits, 'cus_l1');
    await credits.call({ action: 'reserve', customerId: 'cus_l1', amount: 5, holdId: 'job-1' });
    const before = await readCustomer(table, 'cus_l1');
    const release = { action: 'release', customerId: 'cus_l1', holdId: 'job-1' };

    // Act
    const first = await credits.call(release);
    const retry = await credits.call(release);
    const settle = await credits.call({ ...release, action: 'settle', amount: 1 });

    // Assess
    expect(before.lots.map((lot) => lot.id)).toEqual(['in_cus_l1_feb#il_1']);
    expect(first).toEqual({ ok: true, balance: 54, released: 5 });
    expect(retry).toEqual(first);
    expect(settle).toEqual({ ok: false, error: 'hold_not_found' });
    const after = await readCustomer(table, 'cus_l1');
    expect(after.lots.map((lot) => [lot.id, lot.granted, lot.remaining])).toEqual([
      ['in_cus_l1_jan#il_1', 100, 4],
      ['in_cus_l1_feb#il_1', 50, 50],
    ]);
    expect(after.lotCount).toBe(2);
    expect(await auditOf('cus_l1')).toEqual({ checked: 1, problems: [] });
  });

  it('C25 a hold lapses at its expiry by time alone: the balance counts it back; settle answers hold_lapsed', async () => {
    // Prepare
    clockMs = START;
    await customerWith54(table, credits, 'cus_t1');
    const held = await credits.call({
      action: 'reserve',
      customerId: 'cus_t1',
      amount: 10,
      holdId: 'job-1',
      ttlSeconds: 120,
    });
    const expiresAtMs = ms(held.expiresAt as string);

    // Act: no job runs.
    clockMs = expiresAtMs - 1;
    const justBefore = await credits.call({ action: 'balance', customerId: 'cus_t1' });
    clockMs = expiresAtMs;
    const atExpiry = await credits.call({ action: 'balance', customerId: 'cus_t1' });
    const stored = await readCustomer(table, 'cus_t1');
    const settle = await credits.call({
      action: 'settle',
      customerId: 'cus_t1',
      holdId: 'job-1',
      amount: 10,
    });
    const again = await credits.call({
      action: 'settle',
      customerId: 'cus_t1',
      holdId: 'job-1',
      amount: 3,
    });
    const release = await credits.call({
      action: 'release',
      customerId: 'cus_t1',
      holdId: 'job-1',
    });

    // Assess
    expect(justBefore).toMatchObject({ balance: 44, held: 10 });
    expect(atExpiry).toMatchObject({ balance: 54, held: 0 });
    expect(stored.holds?.map((hold) => hold.id)).toEqual(['job-1']);
    expect(settle).toEqual({ ok: false, error: 'hold_lapsed' });
    expect(again).toEqual({ ok: false, error: 'hold_lapsed' });
    expect(release).toEqual({ ok: false, error: 'hold_not_found' });
    // The settle that met it recorded the lapse, dated at the hold's expiry.
    expect((await ledgerOf('cus_t1')).slice(3)).toEqual([
      ['hold', -10, 44],
      ['release', 10, 54],
    ]);
    expect(await auditOf('cus_t1', clockMs)).toEqual({ checked: 1, problems: [] });
  });

  it('C15 C25 a spend meeting a lapsed hold gives its credits back in the same transaction, burning them first (C5)', async () => {
    // Prepare: the hold drains January's 4 and takes 6 of February's; it lapses.
    clockMs = START;
    await customerWith54(table, credits, 'cus_t2');
    await credits.call({
      action: 'reserve',
      customerId: 'cus_t2',
      amount: 10,
      holdId: 'job-1',
      ttlSeconds: 120,
    });
    clockMs = START + 3 * MINUTE_MS;

    // Act
    const spent = await credits.call({
      action: 'consume',
      customerId: 'cus_t2',
      amount: 5,
      idempotencyKey: 'img-1',
    });

    // Assess: January's 4 came back and were spent first, then 1 of February's.
    expect(spent).toEqual({ ok: true, balance: 49 });
    const state = await readCustomer(table, 'cus_t2');
    expect(state.holds ?? []).toEqual([]);
    expect(state.lots.map((lot) => [lot.id, lot.remaining])).toEqual([['in_cus_t2_feb#il_1', 49]]);
    expect((await ledgerOf('cus_t2')).slice(3)).toEqual([
      ['hold', -10, 44],
      ['release', 10, 54],
      ['consumption', -5, 49],
    ]);
    expect(await auditOf('cus_t2', clockMs)).toEqual({ checked: 1, problems: [] });
  });

  it('C6 C25 the daily job finds lapsed holds through the expiry index and records them once', async () => {
    // Prepare: one lapsed hold, one live.
    clockMs = START;
    await customerWith54(table, credits, 'cus_j1');
    const reserve = { action: 'reserve', customerId: 'cus_j1', amount: 3 };
    await credits.call({ ...reserve, holdId: 'short', ttlSeconds: 120 });
    await credits.call({ ...reserve, holdId: 'long', ttlSeconds: 7200 });
    clockMs = START + 10 * MINUTE_MS;
    const rollover = createRolloverHandler(() => deps);

    // Act
    const beforeJob = await auditOf('cus_j1', clockMs);
    const report = await rollover({}, JOB_CONTEXT);
    const rerun = await rollover({}, JOB_CONTEXT);

    // Assess
    expect(beforeJob).toMatchObject({
      problems: [{ problem: 'lapsed_hold_not_recorded', holdId: 'short', actual: 3 }],
    });
    expect(report).toMatchObject({ lapsedHolds: 1, expiredLots: 0, errors: 0, complete: true });
    expect(rerun).toMatchObject({ lapsedHolds: 0 });
    const state = await readCustomer(table, 'cus_j1');
    expect(state.holds?.map((hold) => hold.id)).toEqual(['long']);
    expect(await credits.call({ action: 'balance', customerId: 'cus_j1' })).toMatchObject({
      balance: 51,
      held: 3,
    });
    const settle = await credits.call({
      action: 'settle',
      customerId: 'cus_j1',
      holdId: 'short',
      amount: 1,
    });
    expect(settle).toEqual({ ok: false, error: 'hold_lapsed' });
    expect(await auditOf('cus_j1', clockMs)).toEqual({ checked: 1, problems: [] });
  });

  it('C6 C25 C26 credits held past their lot expiry are gone when they come back, and the ledger says so', async () => {
    // Prepare: a day-long hold on January's last 4 and 1 of February's, made a day before January's
    // lot expires (30 Apr 10:00).
    clockMs = ms('2026-04-29T12:00:00Z');
    await customerWith54(table, credits, 'cus_x1');
    await credits.call({
      action: 'reserve',
      customerId: 'cus_x1',
      amount: 5,
      holdId: 'job-1',
      ttlSeconds: 86_400,
    });
    clockMs = ms('2026-04-30T11:00:00Z');

    // Act
    const released = await credits.call({
      action: 'release',
      customerId: 'cus_x1',
      holdId: 'job-1',
    });

    // Assess
    expect(released).toEqual({ ok: true, balance: 50, released: 1 });
    expect((await ledgerOf('cus_x1')).slice(3)).toEqual([
      ['hold', -5, 49],
      ['release', 5, 54],
      ['expiry', -4, 50],
    ]);
    expect(await auditOf('cus_x1', clockMs)).toEqual({ checked: 1, problems: [] });
  });
});
