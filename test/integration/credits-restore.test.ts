import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LedgerDeps } from '../../lib/ledger/deps';
import { readCustomer } from '../../lib/ledger/queries';
import { creditsFunction, customerWith54 } from '../support/credits-calls';
import { freshTable } from '../support/table';

/**
 * C26 through the `credits` function on DynamoDB Local: restore gives back what a consumption
 * took, named by the consume's idempotency key (or a settled hold's id), once per restore key,
 * never more than it took, to the lots it came from unless they expired meanwhile.
 */
const ms = (iso: string) => Date.parse(iso);
const START = ms('2026-03-10T12:00:00Z');

describe('Function: credits, restore (C26)', () => {
  let table: Awaited<ReturnType<typeof freshTable>>;
  let clockMs = START;
  let credits: ReturnType<typeof creditsFunction>;

  const lotsOf = async (customerId: string) =>
    (await readCustomer(table, customerId)).lots.map((lot) => [lot.id, lot.remaining]);
  const auditOf = (customerId: string) =>
    credits.call({ action: 'audit', customerId, now: new Date(clockMs).toISOString() });

  beforeAll(async () => {
    table = await freshTable('restore');
    const deps: LedgerDeps = { ...table, clock: () => clockMs };
    credits = creditsFunction(() => deps);
  });
  afterAll(async () => table.drop());

  it('C26 gives back part, then the rest, once per restore key; never more than was taken', async () => {
    // Prepare: a spend of 6 drains January's 4 and takes 2 of February's.
    clockMs = START;
    await customerWith54(table, credits, 'cus_1');
    await credits.call({
      action: 'consume',
      customerId: 'cus_1',
      amount: 6,
      idempotencyKey: 'img',
    });
    const restore = {
      action: 'restore',
      customerId: 'cus_1',
      idempotencyKey: 'img',
      restoreKey: 'r1',
      amount: 3,
    };

    // Act
    const first = await credits.call(restore);
    const retry = await credits.call(restore);
    const conflict = await credits.call({ ...restore, amount: 2 });
    const tooMuch = await credits.call({ ...restore, restoreKey: 'r2', amount: 4 });
    const rest = await credits.call({ ...restore, restoreKey: 'r2', amount: undefined });
    const nothingLeft = await credits.call({ ...restore, restoreKey: 'r3', amount: undefined });
    const unknown = await credits.call({ ...restore, idempotencyKey: 'never', restoreKey: 'r4' });

    // Assess: what was taken last comes back first: February's 2, then one of January's.
    expect(first).toEqual({ ok: true, balance: 51, restored: 3, expired: 0 });
    expect(retry).toEqual(first);
    expect(conflict).toEqual({ ok: false, error: 'idempotency_conflict' });
    expect(tooMuch).toEqual({ ok: false, error: 'exceeds_consumption' });
    expect(rest).toEqual({ ok: true, balance: 54, restored: 3, expired: 0 });
    expect(nothingLeft).toEqual({ ok: false, error: 'exceeds_consumption' });
    expect(unknown).toEqual({ ok: false, error: 'consumption_not_found' });
    expect(await lotsOf('cus_1')).toEqual([
      ['in_cus_1_jan#il_1', 4],
      ['in_cus_1_feb#il_1', 50],
    ]);
    expect(await auditOf('cus_1')).toEqual({ checked: 1, problems: [] });
  });

  it('C6 C26 what comes back after its lot expired is gone: `expired` says how much, the ledger too', async () => {
    // Prepare
    clockMs = START;
    await customerWith54(table, credits, 'cus_2');
    await credits.call({
      action: 'consume',
      customerId: 'cus_2',
      amount: 6,
      idempotencyKey: 'img',
    });
    clockMs = ms('2026-05-01T00:00:00Z');

    // Act
    const restored = await credits.call({
      action: 'restore',
      customerId: 'cus_2',
      idempotencyKey: 'img',
      restoreKey: 'r1',
    });

    // Assess
    expect(restored).toEqual({ ok: true, balance: 50, restored: 2, expired: 4 });
    const { entries } = (await credits.call({ action: 'ledger', customerId: 'cus_2' })) as {
      entries: { type: string; amount: number; ref: string }[];
    };
    expect(entries.slice(0, 2).map((entry) => [entry.type, entry.amount, entry.ref])).toEqual([
      ['expiry', -4, 'img'],
      ['restore', 6, 'img'],
    ]);
    expect(await auditOf('cus_2')).toEqual({ checked: 1, problems: [] });
  });

  it('C25 C26 a settled hold’s consumption is restored by its hold id', async () => {
    // Prepare
    clockMs = START;
    await customerWith54(table, credits, 'cus_3');
    const hold = { customerId: 'cus_3', holdId: 'job-1' };
    await credits.call({ action: 'reserve', ...hold, amount: 10 });
    await credits.call({ action: 'settle', ...hold, amount: 7 });

    // Act
    const restored = await credits.call({
      action: 'restore',
      ...hold,
      restoreKey: 'r1',
      amount: 2,
    });
    const byKey = await credits.call({
      action: 'restore',
      customerId: 'cus_3',
      idempotencyKey: 'job-1',
      restoreKey: 'r2',
    });

    // Assess: the hold id is not a consume's key.
    expect(restored).toEqual({ ok: true, balance: 49, restored: 2, expired: 0 });
    expect(byKey).toEqual({ ok: false, error: 'consumption_not_found' });
    expect(await auditOf('cus_3')).toEqual({ checked: 1, problems: [] });
  });

  it('C26 a released hold consumed nothing: there is nothing to restore', async () => {
    // Prepare
    clockMs = START;
    await customerWith54(table, credits, 'cus_4');
    const hold = { customerId: 'cus_4', holdId: 'job-1' };
    await credits.call({ action: 'reserve', ...hold, amount: 10 });
    await credits.call({ action: 'release', ...hold });

    // Act / Assess
    expect(await credits.call({ action: 'restore', ...hold, restoreKey: 'r1' })).toEqual({
      ok: false,
      error: 'consumption_not_found',
    });
  });
});
