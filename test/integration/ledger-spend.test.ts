import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { balanceOf, ledgerOf, readCustomer } from '../../lib/ledger/queries';
import { adjust, consume } from '../../lib/ledger/spending';
import type { StoreDeps } from '../../lib/store/client';
import { tableItems } from '../support/faults';
import { grantOneLine } from '../support/grants';
import { freshTable } from '../support/table';

const ms = (iso: string) => Date.parse(iso);
const JAN = ms('2026-01-10T00:00:00Z');
const FEB = ms('2026-02-10T00:00:00Z');
const NOW = ms('2026-02-20T12:00:00Z');

/** Grants `credits` on invoice `invoiceId` for a period starting at `periodStartMs`. */
async function grant(
  deps: StoreDeps,
  customerId: string,
  invoiceId: string,
  credits: number,
  at: string | number,
) {
  expect((await grantOneLine(deps, customerId, invoiceId, credits, at)).status).toBe('applied');
}

describe('Function: consume', () => {
  let table: Awaited<ReturnType<typeof freshTable>>;
  const deps = () => ({ ...table, clock: () => NOW });

  beforeAll(async () => {
    table = await freshTable('ledger-spend');
  });
  afterAll(async () => table.drop());

  it('C5 C15 spends across lots, rollover first, and records one consumption entry', async () => {
    // Prepare
    await grant(table, 'cus_s1', 'in_jan', 100, JAN);
    await grant(table, 'cus_s1', 'in_feb', 100, FEB);

    // Act
    const outcome = await consume(deps(), {
      customerId: 'cus_s1',
      amount: 150,
      idempotencyKey: 'k1',
    });

    // Assess
    expect(outcome).toEqual({ ok: true, balance: 50 });
    const view = await balanceOf(table, 'cus_s1', NOW);
    expect(view.lots.map((lot) => [lot.grantedAt, lot.remaining])).toEqual([
      ['2026-02-10T00:00:00.000Z', 50],
    ]);
    const { entries } = await ledgerOf(table, 'cus_s1');
    expect(entries[0]).toEqual({
      type: 'consumption',
      amount: -150,
      balanceAfter: 50,
      at: '2026-02-20T12:00:00.000Z',
      ref: 'k1',
    });
  });

  it('C15 with too few credits returns insufficient_credits with the balance and writes nothing', async () => {
    // Prepare
    await grant(table, 'cus_s2', 'in_s2', 10, JAN);
    const before = await tableItems(table);

    // Act
    const outcome = await consume(deps(), {
      customerId: 'cus_s2',
      amount: 11,
      idempotencyKey: 'k',
    });

    // Assess: a value, not an exception; the ledger, the lots and the facts are untouched.
    expect(outcome).toEqual({ ok: false, error: 'insufficient_credits', balance: 10 });
    expect(await tableItems(table)).toEqual(before);
  });

  it('C15 a refused spend leaves its key free: the same request succeeds once credits arrive', async () => {
    // Prepare
    await grant(table, 'cus_s3', 'in_s3a', 2, JAN);
    const request = { customerId: 'cus_s3', amount: 5, idempotencyKey: 'img-5' };
    const refused = await consume(deps(), request);
    await grant(table, 'cus_s3', 'in_s3b', 10, FEB);

    // Act
    const retried = await consume(deps(), request);

    // Assess
    expect(refused).toEqual({ ok: false, error: 'insufficient_credits', balance: 2 });
    expect(retried).toEqual({ ok: true, balance: 7 });
  });

  it('C15 C16 two concurrent spends racing for the last credit: exactly one wins (10 rounds)', async () => {
    for (let round = 0; round < 10; round++) {
      // Prepare
      const customerId = `cus_race_${round}`;
      await grant(table, customerId, `in_${customerId}`, 1, JAN);

      // Act
      const outcomes = await Promise.all([
        consume(deps(), { customerId, amount: 1, idempotencyKey: 'a' }),
        consume(deps(), { customerId, amount: 1, idempotencyKey: 'b' }),
      ]);

      // Assess
      expect(outcomes).toEqual(
        expect.arrayContaining([
          { ok: true, balance: 0 },
          { ok: false, error: 'insufficient_credits', balance: 0 },
        ]),
      );
      const { entries } = await ledgerOf(table, customerId);
      expect(entries.map((entry) => [entry.type, entry.balanceAfter])).toEqual([
        ['consumption', 0],
        ['grant', 1],
      ]);
    }
  });

  it('C15 C16 twelve concurrent one-credit spends on seven credits: seven win, balance 0', async () => {
    // Prepare
    await grant(table, 'cus_s4', 'in_s4', 7, JAN);

    // Act
    const outcomes = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        consume(deps(), { customerId: 'cus_s4', amount: 1, idempotencyKey: `img-${i}` }),
      ),
    );

    // Assess
    expect(outcomes.filter((outcome) => outcome.ok)).toHaveLength(7);
    expect(outcomes.filter((outcome) => !outcome.ok)).toHaveLength(5);
    const account = await readCustomer(table, 'cus_s4');
    expect(account.lots).toEqual([]);
    // C13 C14 under concurrency: each spend records the balance after it as it read the lots
    // (overlapping spends may report the same one), never below 0; the ledger's sum is exact.
    const { entries } = await ledgerOf(table, 'cus_s4');
    const consumptions = entries.filter((entry) => entry.type === 'consumption');
    expect(consumptions).toHaveLength(7);
    for (const entry of consumptions) {
      expect(entry.balanceAfter).toBeGreaterThanOrEqual(0);
      expect(entry.balanceAfter).toBeLessThanOrEqual(6);
    }
    expect(entries.reduce((sum, entry) => sum + entry.amount, 0)).toBe(0);
  });

  it('C15 a retried spend with the same key returns the first result even after the balance changed', async () => {
    // Prepare
    await grant(table, 'cus_s5', 'in_s5', 10, JAN);
    const request = { customerId: 'cus_s5', amount: 4, idempotencyKey: 'img-1' };
    const first = await consume(deps(), request);
    await consume(deps(), { customerId: 'cus_s5', amount: 5, idempotencyKey: 'img-2' });
    const before = await tableItems(table);

    // Act
    const retried = await consume(deps(), request);

    // Assess
    expect(first).toEqual({ ok: true, balance: 6 });
    expect(retried).toEqual(first);
    expect(await tableItems(table)).toEqual(before);
    expect((await balanceOf(table, 'cus_s5', NOW)).balance).toBe(1);
  });

  it('C15 C16 concurrent retries of the same key spend once', async () => {
    // Prepare
    await grant(table, 'cus_s6', 'in_s6', 10, JAN);
    const request = { customerId: 'cus_s6', amount: 3, idempotencyKey: 'img-same' };

    // Act
    const outcomes = await Promise.all(Array.from({ length: 4 }, () => consume(deps(), request)));

    // Assess
    expect(outcomes).toEqual(Array.from({ length: 4 }, () => ({ ok: true, balance: 7 })));
    const { entries } = await ledgerOf(table, 'cus_s6');
    expect(entries.filter((entry) => entry.type === 'consumption')).toHaveLength(1);
  });

  it('C15 the same key with a different amount is an idempotency_conflict and writes nothing', async () => {
    // Prepare
    await grant(table, 'cus_s7', 'in_s7', 10, JAN);
    await consume(deps(), { customerId: 'cus_s7', amount: 2, idempotencyKey: 'img-1' });
    const before = await tableItems(table);

    // Act
    const outcome = await consume(deps(), {
      customerId: 'cus_s7',
      amount: 3,
      idempotencyKey: 'img-1',
    });

    // Assess
    expect(outcome).toEqual({ ok: false, error: 'idempotency_conflict' });
    expect(await tableItems(table)).toEqual(before);
  });

  it('C6 a spend never uses a lot expired at its time, even before the expiry job ran', async () => {
    // Prepare: the January lot (100) expires 10 Apr; the February one (5) lives until 10 May.
    await grant(table, 'cus_s8', 'in_s8a', 100, JAN);
    await grant(table, 'cus_s8', 'in_s8b', 5, FEB);
    const atExpiry = ms('2026-04-10T00:00:00Z');

    // Act
    const tooMuch = await consume(deps(), {
      customerId: 'cus_s8',
      amount: 6,
      idempotencyKey: 'k1',
      atMs: atExpiry,
    });
    const fits = await consume(deps(), {
      customerId: 'cus_s8',
      amount: 5,
      idempotencyKey: 'k2',
      atMs: atExpiry,
    });

    // Assess
    expect(tooMuch).toEqual({ ok: false, error: 'insufficient_credits', balance: 5 });
    expect(fits).toEqual({ ok: true, balance: 0 });
    const account = await readCustomer(table, 'cus_s8');
    expect(account.lots.map((lot) => [lot.ref, lot.remaining])).toEqual([['in_s8a', 100]]);
  });

  it('C1 C15 an unknown customer cannot spend and nothing is written', async () => {
    // Prepare
    const before = await tableItems(table);

    // Act
    const outcome = await consume(deps(), {
      customerId: 'cus_nobody',
      amount: 1,
      idempotencyKey: 'k',
    });

    // Assess
    expect(outcome).toEqual({ ok: false, error: 'insufficient_credits', balance: 0 });
    expect(await tableItems(table)).toEqual(before);
  });
});

describe('Function: adjust', () => {
  let table: Awaited<ReturnType<typeof freshTable>>;
  const deps = () => ({ ...table, clock: () => NOW });

  beforeAll(async () => {
    table = await freshTable('ledger-adjust');
  });
  afterAll(async () => table.drop());

  it('C4 C13 a positive adjustment is a lot granted at `at`, expiring 3 months later, with its reason', async () => {
    // Prepare
    const at = ms('2026-01-31T15:00:00Z');

    // Act
    const outcome = await adjust(deps(), {
      customerId: 'cus_a1',
      amount: 25,
      reason: 'support ticket 42: failed renders',
      idempotencyKey: 'ops-1',
      atMs: at,
    });

    // Assess
    expect(outcome).toEqual({ ok: true, balance: 25 });
    const view = await balanceOf(table, 'cus_a1', NOW);
    expect(view.lots).toEqual([
      {
        source: 'adjustment',
        granted: 25,
        remaining: 25,
        grantedAt: '2026-01-31T15:00:00.000Z',
        expiresAt: '2026-04-30T15:00:00.000Z',
      },
    ]);
    const { entries } = await ledgerOf(table, 'cus_a1');
    expect(entries).toEqual([
      {
        type: 'adjustment',
        amount: 25,
        balanceAfter: 25,
        at: '2026-01-31T15:00:00.000Z',
        ref: 'ops-1',
        reason: 'support ticket 42: failed renders',
      },
    ]);
  });

  it('C5 C13 a negative adjustment burns like a spend, soonest expiry first, with its reason', async () => {
    // Prepare
    await grant(table, 'cus_a2', 'in_jan', 10, JAN);
    await grant(table, 'cus_a2', 'in_feb', 10, FEB);

    // Act
    const outcome = await adjust(deps(), {
      customerId: 'cus_a2',
      amount: -12,
      reason: 'chargeback',
      idempotencyKey: 'ops-2',
      atMs: NOW,
    });

    // Assess
    expect(outcome).toEqual({ ok: true, balance: 8 });
    const account = await readCustomer(table, 'cus_a2');
    expect(account.lots.map((lot) => [lot.ref, lot.remaining])).toEqual([['in_feb', 8]]);
    const { entries } = await ledgerOf(table, 'cus_a2');
    expect(entries[0]).toEqual({
      type: 'adjustment',
      amount: -12,
      balanceAfter: 8,
      at: '2026-02-20T12:00:00.000Z',
      ref: 'ops-2',
      reason: 'chargeback',
    });
  });

  it('C1 a negative adjustment beyond the balance is refused and writes nothing', async () => {
    // Prepare
    await grant(table, 'cus_a3', 'in_a3', 10, JAN);
    const before = await tableItems(table);

    // Act
    const outcome = await adjust(deps(), {
      customerId: 'cus_a3',
      amount: -11,
      reason: 'chargeback',
      idempotencyKey: 'ops-3',
      atMs: NOW,
    });

    // Assess
    expect(outcome).toEqual({ ok: false, error: 'insufficient_credits', balance: 10 });
    expect(await tableItems(table)).toEqual(before);
  });

  it('C13 replaying an adjustment with the same key applies it once; other data is a conflict', async () => {
    // Prepare
    const request = {
      customerId: 'cus_a4',
      amount: 30,
      reason: 'goodwill',
      idempotencyKey: 'ops-4',
      atMs: JAN,
    };
    const first = await adjust(deps(), request);
    const afterFirst = await tableItems(table);

    // Act
    const replay = await adjust(deps(), request);
    const otherAmount = await adjust(deps(), { ...request, amount: 31 });
    const otherReason = await adjust(deps(), { ...request, reason: 'other' });

    // Assess
    expect(first).toEqual({ ok: true, balance: 30 });
    expect(replay).toEqual(first);
    expect(otherAmount).toEqual({ ok: false, error: 'idempotency_conflict' });
    expect(otherReason).toEqual({ ok: false, error: 'idempotency_conflict' });
    expect(await tableItems(table)).toEqual(afterFirst);
  });

  it('C15 adjust and consume keys are separate: the same key string does not collide', async () => {
    // Prepare
    await adjust(deps(), {
      customerId: 'cus_a5',
      amount: 10,
      reason: 'trial',
      idempotencyKey: 'shared-key',
      atMs: JAN,
    });

    // Act
    const spent = await consume(deps(), {
      customerId: 'cus_a5',
      amount: 4,
      idempotencyKey: 'shared-key',
    });

    // Assess
    expect(spent).toEqual({ ok: true, balance: 6 });
  });
});
