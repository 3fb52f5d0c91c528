import { describe, expect, it } from 'vitest';
import { bookBalance, type Lot } from '../../lib/credits/lots';
import {
  type CustomerState,
  changeOf,
  emptyState,
  endSubscription,
  expire,
  grantLots,
  isInsufficient,
  lotsAfter,
  MAX_LOTS_PER_FORFEIT,
  mergeChanges,
  spend,
  stateAfter,
} from '../../lib/credits/state';
import { lot, ms } from '../support/lots';

function stateWith(lots: Lot[], subscriptions: CustomerState['facts']['subscriptions'] = {}) {
  return { ...emptyState('cus_1'), version: 7, lotsVersion: 3, lots, facts: { subscriptions } };
}

const entry = (id: string, atMs: number) => ({ id, type: 'grant' as const, atMs, ref: id });

describe('Function: changeOf', () => {
  it('C13 fills balanceAfter as the running sum from the book balance read', () => {
    // Prepare
    const a = lot('a', '2026-01-01T00:00:00Z', 10);
    const state = stateWith([a]);
    const base = { atMs: 0, ref: 'r', lots: [] };

    // Act
    const change = changeOf(state, {
      taken: [{ lot: a, amount: 6, drains: false }],
      drafts: [
        { ...base, id: 'x#0', type: 'consumption', amount: -5 },
        { ...base, id: 'x#1', type: 'consumption', amount: -1 },
      ],
    });

    // Assess
    expect(change.entries.map((each) => [each.id, each.amount, each.balanceAfter])).toEqual([
      ['x#0', -5, 5],
      ['x#1', -1, 4],
    ]);
  });

  it('C14 refuses drafts that do not explain the change of the lots', () => {
    // Prepare
    const a = lot('a', '2026-01-01T00:00:00Z', 10);

    // Act
    const act = () =>
      changeOf(stateWith([a]), {
        taken: [{ lot: a, amount: 6, drains: false }],
        drafts: [{ id: 'x', type: 'consumption', amount: -5, atMs: 0, ref: 'r', lots: [] }],
      });

    // Assess
    expect(act).toThrow(/ledger drafts move -5, lots move -6/);
  });
});

describe('Function: grantLots', () => {
  it('C13 records one entry with the sum of the new lots and where they went', () => {
    // Prepare
    const state = stateWith([lot('old', '2026-01-01T00:00:00Z', 10, 6)]);
    const lines = [lot('l1', '2026-02-01T00:00:00Z', 500), lot('l2', '2026-02-01T00:00:00Z', 100)];

    // Act
    const change = grantLots(state, entry('grant#in_2', ms('2026-02-01T00:00:00Z')), lines);

    // Assess
    expect(change.entries).toEqual([
      {
        id: 'grant#in_2',
        type: 'grant',
        amount: 600,
        balanceAfter: 606,
        atMs: ms('2026-02-01T00:00:00Z'),
        ref: 'grant#in_2',
        lots: [
          { lotId: 'l1', amount: 500 },
          { lotId: 'l2', amount: 100 },
        ],
      },
    ]);
    expect(change.created).toEqual(lines);
    expect(bookBalance(lotsAfter(state, change))).toBe(606);
  });

  it('refuses to add a lot whose id already exists (a grant applied twice is a bug)', () => {
    // Prepare
    const state = stateWith([lot('l1', '2026-01-01T00:00:00Z', 10)]);

    // Act
    const act = () => grantLots(state, entry('g', 0), [lot('l1', '2026-01-01T00:00:00Z', 10)]);

    // Assess
    expect(act).toThrow(/already exists/);
  });

  it('C8 C16 a lot granted before an end already recorded arrives forfeited, kept as a record', () => {
    // Prepare: sub_1 ended on 10 Mar; a late invoice grants for 1 Mar.
    const endedAtMs = ms('2026-03-10T00:00:00Z');
    const state = stateWith([], { sub_1: { endedAtMs } });
    const late = lot('late', '2026-03-01T00:00:00Z', 100);

    // Act
    const change = grantLots(state, entry('grant#in_late', late.grantedAtMs), [late]);

    // Assess
    expect(change.entries.map((each) => [each.type, each.amount, each.balanceAfter])).toEqual([
      ['grant', 100, 100],
      ['forfeit', -100, 0],
    ]);
    expect(change.created).toEqual([
      { ...late, remaining: 0, forfeit: { by: 'sub_1', credits: 100 } },
    ]);
  });
});

describe('Function: spend', () => {
  it('C5 C13 takes in expiry order, drains what it empties, records the balance after', () => {
    // Prepare
    const mar = lot('mar', '2026-03-01T00:00:00Z', 100);
    const jan = lot('jan', '2026-01-01T00:00:00Z', 100, 30);
    const atMs = ms('2026-03-05T00:00:00Z');

    // Act
    const change = spend(stateWith([mar, jan]), {
      id: 'consume#key-1',
      type: 'consumption',
      amount: 50,
      atMs,
      ref: 'key-1',
    });

    // Assess
    if (isInsufficient(change)) throw new Error('expected a change');
    expect(change.entries).toEqual([
      {
        id: 'consume#key-1',
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
    expect(change.taken).toEqual([
      { lot: jan, amount: 30, drains: true },
      { lot: mar, amount: 20, drains: false },
    ]);
    expect(lotsAfter(stateWith([mar, jan]), change)).toEqual([{ ...mar, remaining: 80 }]);
  });

  it('C15 with too few credits returns insufficient_credits and the spendable balance', () => {
    // Prepare: the January lot has expired by April (C6), so only 10 are spendable.
    const state = stateWith([
      lot('jan', '2026-01-01T00:00:00Z', 100),
      lot('mar', '2026-03-01T00:00:00Z', 10),
    ]);

    // Act
    const outcome = spend(state, {
      id: 'c',
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
    const state = stateWith([expiring]);
    const at = (atMs: number, amount: number) =>
      spend(state, { id: 'c', type: 'consumption', amount, atMs, ref: 'k' });

    // Act
    const justBefore = at(expiring.expiresAtMs - 1, 5);
    const atExpiry = at(expiring.expiresAtMs, 1);

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

    // Act
    const change = expire(stateWith([apr, feb, jan]), ms('2026-05-01T00:00:00Z'));

    // Assess
    expect(change?.entries).toEqual([
      {
        id: 'expiry#jan',
        type: 'expiry',
        amount: -30,
        balanceAfter: 200,
        atMs: jan.expiresAtMs,
        ref: 'jan',
        lots: [{ lotId: 'jan', amount: 30 }],
      },
      {
        id: 'expiry#feb',
        type: 'expiry',
        amount: -100,
        balanceAfter: 100,
        atMs: feb.expiresAtMs,
        ref: 'feb',
        lots: [{ lotId: 'feb', amount: 100 }],
      },
    ]);
    expect(change?.reclaimed).toEqual([jan, feb]);
  });

  it('C6 reclaims a forfeited record without an entry; nothing expired is no change', () => {
    // Prepare
    const record = {
      ...lot('gone', '2026-01-01T00:00:00Z', 10, 0),
      forfeit: { by: 'sub_1', credits: 10 },
    };

    // Act
    const change = expire(stateWith([record]), ms('2026-05-01T00:00:00Z'));
    const none = expire(
      stateWith([lot('mar', '2026-03-01T00:00:00Z', 10)]),
      ms('2026-05-31T23:59:59.999Z'),
    );

    // Assess
    expect(change?.entries).toEqual([]);
    expect(change?.reclaimed).toEqual([record]);
    expect(none).toBeNull();
  });
});

describe('Function: endSubscription', () => {
  it('C7 C8 forfeits lots granted up to the end, keeps later grants, remembers the end', () => {
    // Prepare
    const endedAtMs = ms('2026-03-15T00:00:00Z');
    const feb = lot('feb', '2026-02-01T00:00:00Z', 100, 60);
    const mar = lot('mar', '2026-03-01T00:00:00Z', 100);
    const later = lot('later', '2026-03-16T00:00:00Z', 500);
    const state = stateWith([feb, mar, later], { sub_old: { activeSinceMs: feb.grantedAtMs } });

    // Act
    const { change, more } = endSubscription(state, {
      id: 'sub_old',
      endedAtMs,
      entryId: 'end#sub_old',
    });

    // Assess
    expect(more).toBe(false);
    expect(change.entries).toEqual([
      {
        id: 'end#sub_old#feb',
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
    const after = stateAfter(state, change);
    expect(after.lots.filter((each) => each.remaining > 0).map((each) => each.id)).toEqual([
      'later',
    ]);
    expect(after.facts.subscriptions).toEqual({
      sub_old: { activeSinceMs: feb.grantedAtMs, endedAtMs },
    });
  });

  it('C7 an end with nothing to forfeit writes no entry but still records the end (C8)', () => {
    // Act
    const { change } = endSubscription(stateWith([]), {
      id: 'sub_1',
      endedAtMs: 1000,
      entryId: 'end#sub_1',
    });

    // Assess
    expect(change.entries).toEqual([]);
    expect(change.facts?.subscriptions).toEqual({ sub_1: { endedAtMs: 1000 } });
  });

  it('C7 forfeits at most one transaction of lots at a time and says more remain', () => {
    // Prepare
    const lots = Array.from({ length: MAX_LOTS_PER_FORFEIT + 3 }, (_, i) =>
      lot(`l${String(i).padStart(3, '0')}`, '2026-03-01T00:00:00Z', 1),
    );

    // Act
    const first = endSubscription(stateWith(lots), {
      id: 'sub_1',
      endedAtMs: ms('2026-03-02T00:00:00Z'),
      entryId: 'end#sub_1',
    });

    // Assess
    expect(first.more).toBe(true);
    expect(first.change.forfeited).toHaveLength(MAX_LOTS_PER_FORFEIT);
  });
});

describe('Function: mergeChanges', () => {
  it('C13 a second change decided after the first continues its running balance', () => {
    // Prepare
    const state = stateWith([lot('old', '2026-01-01T00:00:00Z', 10)]);
    const first = grantLots(state, entry('g1', 0), [lot('n1', '2026-02-01T00:00:00Z', 5)]);
    const second = grantLots(stateAfter(state, first), entry('g2', 0), [
      lot('n2', '2026-02-01T00:00:00Z', 7),
    ]);

    // Act
    const merged = mergeChanges(first, second);

    // Assess
    expect(merged.entries.map((each) => each.balanceAfter)).toEqual([15, 22]);
    expect(merged.created.map((each) => each.id)).toEqual(['n1', 'n2']);
  });
});
