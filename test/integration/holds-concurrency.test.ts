import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRolloverHandler } from '../../functions/rollover';
import type { LedgerDeps } from '../../lib/ledger/deps';
import { createLotCache } from '../../lib/store/lot-cache';
import { type Answer, creditsFunction } from '../support/credits-calls';
import { faultyStore } from '../support/faults';
import { grantOneLine } from '../support/grants';
import { freshTable, localClientConfig } from '../support/table';

/**
 * C16 for holds: many reserves and settles of one customer at once, a settle racing the
 * lapse of its hold, restores racing spends and each other. Whatever the order DynamoDB
 * serialises them in, no credit is made or lost, every hold ends once, and the audit is clean.
 */
const ms = (iso: string) => Date.parse(iso);
const NOW = ms('2026-03-10T12:00:00Z');
const GRANTED = '2026-03-01T08:00:00Z';
const JOB_CONTEXT = { getRemainingTimeInMillis: () => 900_000 } as Context;

type Entry = { type: string; amount: number; ref: string };

describe('Holds under concurrency (C15 C16 C25 C26)', () => {
  let table: Awaited<ReturnType<typeof freshTable>>;
  let store: ReturnType<typeof faultyStore>;
  /** As in a Lambda container: the production lot cache, shared by concurrent requests. */
  let deps: LedgerDeps;
  let credits: ReturnType<typeof creditsFunction>;

  beforeAll(async () => {
    table = await freshTable('holds-race');
    store = faultyStore(table, localClientConfig(), { maxAttempts: 3 });
    deps = { ...store.deps, clock: () => NOW, lotCache: createLotCache() };
    credits = creditsFunction(() => deps);
  });
  afterAll(async () => {
    store.destroy();
    await table.drop();
  });

  const ledgerOf = async (customerId: string) =>
    ((await credits.call({ action: 'ledger', customerId, limit: 1000 })) as { entries: Entry[] })
      .entries;
  const audit = (customerId: string, at = NOW) =>
    credits.call({ action: 'audit', customerId, now: new Date(at).toISOString() });

  it('C15 C25 60 concurrent one-credit reserves against 40: exactly 40 hold; settling them all at once adds up', async () => {
    // Prepare
    await grantOneLine(table, 'cus_hot', 'in_hot', 40, GRANTED);
    const reserve = (i: number) =>
      credits.call({ action: 'reserve', customerId: 'cus_hot', amount: 1, holdId: `job-${i}` });

    // Act
    const reserved = await Promise.all(Array.from({ length: 60 }, (_, i) => reserve(i)));
    const holding = reserved.flatMap((answer, i) => (answer.ok === true ? [i] : []));
    // Every third job made nothing (settle 0), every other one image.
    const settled = await Promise.all(
      holding.map((i) =>
        credits.call({
          action: 'settle',
          customerId: 'cus_hot',
          holdId: `job-${i}`,
          amount: i % 3 === 0 ? 0 : 1,
        }),
      ),
    );

    // Assess
    expect(holding).toHaveLength(40);
    for (const refusal of reserved.filter((answer) => answer.ok !== true)) {
      expect(refusal).toEqual({ ok: false, error: 'insufficient_credits', balance: 0 });
    }
    const consumed = settled.reduce((sum, answer) => sum + (answer.consumed as number), 0);
    expect(settled.every((answer) => answer.ok === true)).toBe(true);
    expect(consumed).toBe(holding.filter((i) => i % 3 !== 0).length);
    expect(await credits.call({ action: 'balance', customerId: 'cus_hot' })).toMatchObject({
      balance: 40 - consumed,
      held: 0,
    });
    const entries = await ledgerOf('cus_hot');
    expect(entries.filter((entry) => entry.type === 'hold')).toHaveLength(40);
    expect(entries.filter((entry) => entry.type === 'release')).toHaveLength(40);
    expect(await audit('cus_hot')).toEqual({ checked: 1, problems: [] });
  });

  it('C25 a warm container reserves and settles with one DynamoDB call each (the lot cache)', async () => {
    // Prepare: a first spend fills the cache.
    await grantOneLine(table, 'cus_warm', 'in_warm', 20, GRANTED);
    await credits.call({
      action: 'consume',
      customerId: 'cus_warm',
      amount: 1,
      idempotencyKey: 'a',
    });
    const callsOf = async (event: Record<string, unknown>) => {
      store.faults.heal();
      const answer = await credits.call(event);
      return { answer, calls: store.faults.requests.map((request) => request.operation) };
    };

    // Act
    const held = await callsOf({
      action: 'reserve',
      customerId: 'cus_warm',
      amount: 5,
      holdId: 'j',
    });
    const settled = await callsOf({
      action: 'settle',
      customerId: 'cus_warm',
      amount: 2,
      holdId: 'j',
    });

    // Assess
    expect(held).toEqual({
      answer: { ok: true, balance: 14, held: 5, expiresAt: '2026-03-10T12:15:00.000Z' },
      calls: ['TransactWriteItems'],
    });
    expect(settled).toEqual({
      answer: { ok: true, balance: 17, consumed: 2 },
      calls: ['TransactWriteItems'],
    });
  });

  it('C25 C16 a settle racing the lapse of its hold: exactly one of them ends it (10 rounds)', async () => {
    for (let round = 0; round < 10; round++) {
      // Prepare: a two-minute hold; the settle's clock is just before its expiry, the job's after.
      const customerId = `cus_lapse_${round}`;
      await grantOneLine(table, customerId, `in_${customerId}`, 10, GRANTED);
      const held = await credits.call({
        action: 'reserve',
        customerId,
        amount: 4,
        holdId: 'job',
        ttlSeconds: 120,
      });
      const expiresAtMs = ms(held.expiresAt as string);
      const settler = creditsFunction(() => ({ ...table, clock: () => expiresAtMs - 1 }));
      const job = createRolloverHandler(() => ({ ...table, clock: () => expiresAtMs + 1 }));

      // Act
      const [settled] = (await Promise.all([
        settler.call({ action: 'settle', customerId, holdId: 'job', amount: 3 }),
        job({}, JOB_CONTEXT),
      ])) as [Answer, unknown];

      // Assess: either the job ran first (the credits came back) or the settle did (3 consumed).
      const entries = await ledgerOf(customerId);
      const releases = entries.filter((entry) => entry.type === 'release');
      const consumptions = entries.filter((entry) => entry.type === 'consumption');
      expect(releases, `round ${round}`).toHaveLength(1);
      if (settled.ok === true) {
        expect(settled).toEqual({ ok: true, balance: 7, consumed: 3 });
        expect(consumptions.map((entry) => entry.amount)).toEqual([-3]);
      } else {
        expect(settled).toEqual({ ok: false, error: 'hold_lapsed' });
        expect(consumptions).toEqual([]);
      }
      expect(await audit(customerId, expiresAtMs + 1)).toEqual({ checked: 1, problems: [] });
    }
  });

  it('C26 C16 a restore racing a spend of the credits it gives back (10 rounds)', async () => {
    for (let round = 0; round < 10; round++) {
      // Prepare: everything spent; the restore brings back 5, the spend wants 3 of them.
      const customerId = `cus_rs_${round}`;
      await grantOneLine(table, customerId, `in_${customerId}`, 5, GRANTED);
      await credits.call({ action: 'consume', customerId, amount: 5, idempotencyKey: 'all' });

      // Act: the spend starts a little later each round, so rounds sweep the restore's window.
      const later = (delayMs: number) => new Promise((resolve) => setTimeout(resolve, delayMs));
      const [restored, spent] = await Promise.all([
        credits.call({ action: 'restore', customerId, idempotencyKey: 'all', restoreKey: 'r' }),
        later(round * 8).then(() =>
          credits.call({ action: 'consume', customerId, amount: 3, idempotencyKey: 'next' }),
        ),
      ]);

      // Assess: the spend either came first (refused) or after (paid from what came back).
      expect(restored).toMatchObject({ ok: true, restored: 5, expired: 0 });
      const balance = (await credits.call({ action: 'balance', customerId })).balance;
      if (spent.ok === true) expect(balance, `round ${round}`).toBe(2);
      else {
        expect(spent).toEqual({ ok: false, error: 'insufficient_credits', balance: 0 });
        expect(balance, `round ${round}`).toBe(5);
      }
      expect(await audit(customerId)).toEqual({ checked: 1, problems: [] });
    }
  });

  it('C26 concurrent restores of one consumption never give back more than it took', async () => {
    // Prepare
    await grantOneLine(table, 'cus_rr', 'in_rr', 10, GRANTED);
    await credits.call({ action: 'consume', customerId: 'cus_rr', amount: 5, idempotencyKey: 'k' });

    // Act: four restores of 2 each, of a consumption of 5.
    const answers = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        credits.call({
          action: 'restore',
          customerId: 'cus_rr',
          idempotencyKey: 'k',
          restoreKey: `r${i}`,
          amount: 2,
        }),
      ),
    );

    // Assess
    expect(answers.filter((answer) => answer.ok === true)).toHaveLength(2);
    expect(answers.filter((answer) => answer.ok !== true)).toEqual([
      { ok: false, error: 'exceeds_consumption' },
      { ok: false, error: 'exceeds_consumption' },
    ]);
    expect(await credits.call({ action: 'balance', customerId: 'cus_rr' })).toMatchObject({
      balance: 9,
    });
    expect(await audit('cus_rr')).toEqual({ checked: 1, problems: [] });
  });
});
