import { describe, expect, it } from 'vitest';
import {
  type Account,
  addLots,
  emptyAccount,
  endSubscription,
  expire,
  isInsufficient,
  spend,
  withEntries,
} from '../../lib/credits/account';
import { bookBalance, type Lot } from '../../lib/credits/lots';
import { lot, ms } from '../support/lots';

/** An account that has already written `ledgerSeq` entries explaining `lots`. */
function accountWith(lots: Lot[], ledgerSeq = 3): Account {
  return { ...emptyAccount('cus_1'), version: 7, ledgerSeq, lots };
}

describe('Function: withEntries', () => {
  it('C13 numbers entries after the last one and fills balanceAfter as a running sum', () => {
    // Prepare
    const before = accountWith([lot('a', '2026-01-01T00:00:00Z', 10)]);
    const after = accountWith([lot('a', '2026-01-01T00:00:00Z', 10, 4)]);
    const base = { atMs: 0, ref: 'r', lots: [] };

    // Act
    const change = withEntries(before, after, [
      { ...base, type: 'consumption', amount: -5 },
      { ...base, type: 'adjustment', amount: 2, reason: 'goodwill' },
      { ...base, type: 'consumption', amount: -3 },
    ]);

    // Assess
    expect(change.entries.map((entry) => [entry.seq, entry.amount, entry.balanceAfter])).toEqual([
      [4, -5, 5],
      [5, 2, 7],
      [6, -3, 4],
    ]);
    expect(change.account.ledgerSeq).toBe(6);
  });

  it('C14 refuses drafts that do not explain the change of the lots', () => {
    // Prepare
    const before = accountWith([lot('a', '2026-01-01T00:00:00Z', 10)]);
    const after = accountWith([lot('a', '2026-01-01T00:00:00Z', 10, 4)]);

    // Act
    const act = () =>
      withEntries(before, after, [
        { type: 'consumption', amount: -5, atMs: 0, ref: 'r', lots: [] },
      ]);

    // Assess
    expect(act).toThrow(/disagree/);
  });
});

describe('Function: addLots', () => {
  it('C13 records one entry with the sum of the new lots and where they went', () => {
    // Prepare
    const account = accountWith([lot('old', '2026-01-01T00:00:00Z', 10, 6)]);
    const lines = [lot('l1', '2026-02-01T00:00:00Z', 500), lot('l2', '2026-02-01T00:00:00Z', 100)];

    // Act
    const change = addLots(
      account,
      { type: 'grant', atMs: ms('2026-02-01T00:00:00Z'), ref: 'in_2' },
      lines,
    );

    // Assess
    expect(change.entries).toEqual([
      {
        seq: 4,
        type: 'grant',
        amount: 600,
        balanceAfter: 606,
        atMs: ms('2026-02-01T00:00:00Z'),
        ref: 'in_2',
        lots: [
          { lotId: 'l1', amount: 500 },
          { lotId: 'l2', amount: 100 },
        ],
      },
    ]);
    expect(bookBalance(change.account.lots)).toBe(606);
  });

  it('refuses to add a lot whose id already exists (a grant applied twice is a bug)', () => {
    // Prepare
    const account = accountWith([lot('l1', '2026-01-01T00:00:00Z', 10)]);

    // Act
    const act = () =>
      addLots(account, { type: 'grant', atMs: 0, ref: 'in_l1' }, [
        lot('l1', '2026-01-01T00:00:00Z', 10),
      ]);

    // Assess
    expect(act).toThrow(/already exists/);
  });
});

describe('Function: spend', () => {
  it('C5 C13 burns in expiry order and records the burns and the balance after', () => {
    // Prepare
    const account = accountWith([
      lot('mar', '2026-03-01T00:00:00Z', 100),
      lot('jan', '2026-01-01T00:00:00Z', 100, 30),
    ]);
    const atMs = ms('2026-03-05T00:00:00Z');

    // Act
    const change = spend(account, { type: 'consumption', amount: 50, atMs, ref: 'key-1' });

    // Assess
    if (isInsufficient(change)) throw new Error('expected a change');
    expect(change.entries).toEqual([
      {
        seq: 4,
        type: 'consumption',
        amount: -50,
        balanceAfter: 80,
        atMs,
        ref: 'key-1',
        lots: [
          { lotId: 'jan', amount: 30 },
          { lotId: 'mar', amount: 20 },
        ],
      },
    ]);
    expect(change.account.lots.map((l) => [l.id, l.remaining])).toEqual([['mar', 80]]);
  });

  it('C15 with too few credits returns insufficient_credits and the spendable balance', () => {
    // Prepare: the January lot has expired by April (C6), so only 10 are spendable.
    const account = accountWith([
      lot('jan', '2026-01-01T00:00:00Z', 100),
      lot('mar', '2026-03-01T00:00:00Z', 10),
    ]);

    // Act
    const outcome = spend(account, {
      type: 'consumption',
      amount: 11,
      atMs: ms('2026-04-02T00:00:00Z'),
      ref: 'key-1',
    });

    // Assess
    expect(outcome).toEqual({ error: 'insufficient_credits', balance: 10 });
  });

  it('C6 a spend at exactly the expiry instant cannot use the expiring lot', () => {
    // Prepare
    const expiring = lot('jan', '2026-01-31T10:00:00Z', 5);
    const account = accountWith([expiring]);

    // Act
    const justBefore = spend(account, {
      type: 'consumption',
      amount: 5,
      atMs: expiring.expiresAtMs - 1,
      ref: 'k1',
    });
    const atExpiry = spend(account, {
      type: 'consumption',
      amount: 1,
      atMs: expiring.expiresAtMs,
      ref: 'k2',
    });

    // Assess
    expect(isInsufficient(justBefore)).toBe(false);
    expect(atExpiry).toEqual({ error: 'insufficient_credits', balance: 0 });
  });
});

describe('Function: expire', () => {
  it('C6 writes one entry per expired lot, at its expiry time, for what it still held', () => {
    // Prepare
    const jan = lot('jan', '2026-01-01T00:00:00Z', 100, 30);
    const feb = lot('feb', '2026-02-01T00:00:00Z', 100, 100);
    const apr = lot('apr', '2026-04-01T00:00:00Z', 100, 100);
    const account = accountWith([apr, feb, jan], 5);

    // Act
    const change = expire(account, ms('2026-05-01T00:00:00Z'));

    // Assess
    expect(change?.entries).toEqual([
      {
        seq: 6,
        type: 'expiry',
        amount: -30,
        balanceAfter: 200,
        atMs: jan.expiresAtMs,
        ref: 'jan',
        lots: [{ lotId: 'jan', amount: 30 }],
      },
      {
        seq: 7,
        type: 'expiry',
        amount: -100,
        balanceAfter: 100,
        atMs: feb.expiresAtMs,
        ref: 'feb',
        lots: [{ lotId: 'feb', amount: 100 }],
      },
    ]);
    expect(change?.account.lots).toEqual([apr]);
  });

  it('C6 returns no change when nothing has expired (a rerun writes nothing)', () => {
    // Prepare
    const account = accountWith([lot('mar', '2026-03-01T00:00:00Z', 10)]);

    // Act
    const change = expire(account, ms('2026-05-31T23:59:59.999Z'));

    // Assess
    expect(change).toBeNull();
  });
});

describe('Function: endSubscription', () => {
  it('C7 C8 forfeits lots granted up to the end, keeps later grants, remembers the end', () => {
    // Prepare
    const endedAtMs = ms('2026-03-15T00:00:00Z');
    const account: Account = {
      ...accountWith([
        lot('feb', '2026-02-01T00:00:00Z', 100, 60),
        lot('mar', '2026-03-01T00:00:00Z', 100),
        lot('later', '2026-03-16T00:00:00Z', 500),
      ]),
      activeSubscriptions: { sub_old: ms('2026-02-01T00:00:00Z'), sub_new: endedAtMs + 1 },
    };

    // Act
    const change = endSubscription(account, { id: 'sub_old', endedAtMs });

    // Assess
    expect(change.entries).toEqual([
      {
        seq: 4,
        type: 'forfeit',
        amount: -160,
        balanceAfter: 500,
        atMs: endedAtMs,
        ref: 'sub_old',
        lots: [
          { lotId: 'feb', amount: 60 },
          { lotId: 'mar', amount: 100 },
        ],
      },
    ]);
    expect(change.account.lots.map((l) => l.id)).toEqual(['later']);
    expect(change.account.endedSubscriptions).toEqual({ sub_old: endedAtMs });
    expect(change.account.activeSubscriptions).toEqual({ sub_new: endedAtMs + 1 });
  });

  it('C7 an end with nothing to forfeit writes no entry but still records the end (C8)', () => {
    // Prepare
    const account = accountWith([]);

    // Act
    const change = endSubscription(account, { id: 'sub_1', endedAtMs: 1000 });

    // Assess
    expect(change.entries).toEqual([]);
    expect(change.account.endedSubscriptions).toEqual({ sub_1: 1000 });
  });
});
