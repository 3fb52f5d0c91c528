import { describe, expect, it } from 'vitest';
import { reconcileForfeits } from '../../lib/credits/forfeits';
import type { Hold } from '../../lib/credits/hold-change';
import {
  givingBackLapses,
  heldAt,
  MIN_HOLD_TTL_S,
  recordLapses,
  releaseHold,
  reserveHold,
  restoreConsumption,
  settleHold,
  spendableAt,
  spendGivingBackLapses,
  viewAt,
} from '../../lib/credits/holds';
import type { Lot } from '../../lib/credits/lots';
import {
  type CustomerState,
  emptyState,
  type StateChange,
  stateAfter,
} from '../../lib/credits/state';
import { CACHE_TTL_MS, MAX_CLOCK_SKEW_MS, MAX_COMMAND_MS } from '../../lib/store/lot-cache';
import { lot, ms } from '../support/lots';

const NOW = ms('2026-03-10T12:00:00Z');
const MINUTE_MS = 60_000;

// Two lots: January's (expires 30 Apr) burns before February's (expires 10 May), C5.
const jan = lot('jan', '2026-01-31T10:00:00Z', 100, 4);
const feb = lot('feb', '2026-02-10T10:00:00Z', 50);

function stateWith(lots: Lot[], holds: Hold[] = []): CustomerState {
  return { ...emptyState('cus_1'), version: 2, lotsVersion: 2, lotCount: lots.length, lots, holds };
}

function held(state: CustomerState, holdId: string, amount: number, ttlMs = 15 * MINUTE_MS) {
  const planned = reserveHold(state, { holdId, amount, ttlMs, atMs: NOW });
  if (planned.kind !== 'held') throw new Error(`reserve was ${planned.kind}`);
  return { state: stateAfter(state, planned.change), change: planned.change, hold: planned.hold };
}

function entriesOf(change: StateChange) {
  return change.entries.map((entry) => [entry.type, entry.amount, entry.balanceAfter]);
}

describe('Rules: reserve (C25)', () => {
  it('C25 the minimum time to live outlives every lot cache entry that cannot know a hold', () => {
    // Assess: a hold written by another container reaches the store at most MAX_COMMAND_MS after
    // its decision, on a clock at most MAX_CLOCK_SKEW_MS off; the cache uses a read for CACHE_TTL_MS.
    expect(MIN_HOLD_TTL_S * 1000).toBeGreaterThan(
      CACHE_TTL_MS + MAX_COMMAND_MS + MAX_CLOCK_SKEW_MS,
    );
  });

  it('C5 C14 C25 takes the credits in burn order out of the lots: balance falls, held shows them', () => {
    // Act
    const { state, change, hold } = held(stateWith([feb, jan]), 'h1', 10);

    // Assess
    expect(hold.parts.map((part) => [part.lot.id, part.amount])).toEqual([
      ['jan', 4],
      ['feb', 6],
    ]);
    expect(change.taken.map((take) => [take.lot.id, take.amount, take.drains])).toEqual([
      ['feb', 6, false],
      ['jan', 4, true],
    ]);
    expect(entriesOf(change)).toEqual([['hold', -10, 44]]);
    expect(spendableAt(state, NOW)).toBe(44);
    expect(heldAt(state, NOW)).toBe(10);
  });

  it('C15 all or nothing: more than the balance is refused with the balance', () => {
    // Act
    const planned = reserveHold(stateWith([jan, feb]), {
      holdId: 'h1',
      amount: 55,
      ttlMs: MINUTE_MS * 15,
      atMs: NOW,
    });

    // Assess
    expect(planned).toEqual({
      kind: 'refused',
      refusal: { error: 'insufficient_credits', balance: 54 },
    });
  });

  it('C25 a hold id already stored is known: the first reserve answers', () => {
    // Prepare
    const { state } = held(stateWith([jan, feb]), 'h1', 3);

    // Act / Assess
    expect(reserveHold(state, { holdId: 'h1', amount: 3, ttlMs: MINUTE_MS, atMs: NOW })).toEqual({
      kind: 'known',
    });
  });
});

describe('Rules: lapse by time alone (C25)', () => {
  it('C25 C14 at its expiry a hold counts as back in its lots, with no write', () => {
    // Prepare
    const { state, hold } = held(stateWith([jan, feb]), 'h1', 10);

    // Act / Assess
    expect(spendableAt(state, hold.expiresAtMs - 1)).toBe(44);
    expect(heldAt(state, hold.expiresAtMs - 1)).toBe(10);
    expect(spendableAt(state, hold.expiresAtMs)).toBe(54);
    expect(heldAt(state, hold.expiresAtMs)).toBe(0);
    // January's drained lot is back as it was, holding what came back.
    expect(viewAt(state, hold.expiresAtMs).lots.find((each) => each.id === 'jan')).toEqual(jan);
  });

  it('C6 C26 credits whose lot expired before the lapse are gone; the ledger says so', () => {
    // Prepare: a day-long hold on January's last credits, made the day before they expire.
    const dayBefore = ms('2026-04-29T10:00:00Z');
    const planned = reserveHold(stateWith([jan, feb]), {
      holdId: 'h1',
      amount: 5,
      ttlMs: 24 * 60 * MINUTE_MS,
      atMs: dayBefore,
    });
    if (planned.kind !== 'held') throw new Error('not held');
    const state = stateAfter(stateWith([jan, feb]), planned.change);

    // Act
    const lapses = recordLapses(state, ms('2026-04-30T12:00:00Z'));

    // Assess: 4 credits of January expired in the hold; February's 1 went back.
    expect(lapses?.holds).toBe(1);
    expect(lapses?.gone).toBe(4);
    expect(lapses?.change.entries.map((entry) => [entry.id, entry.type, entry.amount])).toEqual([
      ['release#h1', 'release', 5],
      ['release#h1#expired', 'expiry', -4],
    ]);
    expect(lapses?.change.holds?.returned).toEqual([{ lot: { ...feb, remaining: 49 }, amount: 1 }]);
    expect(lapses?.change.created).toEqual([]);
  });

  it('C25 a spend meeting a lapsed hold gives it back and takes again: one operation per lot', () => {
    // Prepare: the hold drained January and took 6 of February's 50.
    const { state, hold } = held(stateWith([jan, feb]), 'h1', 10);

    // Act: a spend of 7 after the lapse: January's 4 come back and go again, then 3 of February.
    const planned = spendGivingBackLapses(state, {
      id: 'consume#k',
      type: 'consumption',
      amount: 7,
      atMs: hold.expiresAtMs,
      ref: 'k',
    });

    // Assess: February goes from 44 to 47 (6 back, 3 taken); January is not written at all.
    if (planned.kind !== 'spent') throw new Error(planned.kind);
    expect(planned.change.created).toEqual([]);
    expect(planned.change.taken).toEqual([]);
    expect(planned.change.holds?.returned).toEqual([{ lot: { ...feb, remaining: 44 }, amount: 3 }]);
    expect(planned.change.holds?.ended).toEqual([{ hold, recordsLapse: true }]);
    expect(entriesOf(planned.change)).toEqual([
      ['release', 10, 54],
      ['consumption', -7, 47],
    ]);
    expect(planned.taken.map((part) => [part.lot.id, part.amount])).toEqual([
      ['jan', 4],
      ['feb', 3],
    ]);
  });

  it('C25 more lapsed holds than fit one transaction come first as a batch of their own', () => {
    // Prepare: 30 one-credit holds, all lapsed.
    const big = lot('big', '2026-03-01T00:00:00Z', 100);
    let state = stateWith([big]);
    for (let i = 0; i < 30; i++) state = held(state, `h${i}`, 1, MIN_HOLD_TTL_S * 1000).state;
    const later = NOW + MIN_HOLD_TTL_S * 1000;

    // Act
    const first = givingBackLapses(state, later);

    // Assess: a batch of 7 (7 items each, at most 50), and the rest left for the next decision.
    if (first.kind !== 'batch') throw new Error('expected a batch');
    expect(first.change.holds?.ended).toHaveLength(7);
    const after = stateAfter(state, first.change);
    expect(spendableAt(after, later)).toBe(100);
    expect(after.holds).toHaveLength(23);
  });
});

describe('Rules: settle and release (C25)', () => {
  it('C5 C25 settle consumes the part that expires soonest and gives the rest back', () => {
    // Prepare
    const { state } = held(stateWith([jan, feb]), 'h1', 10);

    // Act
    const planned = settleHold(state, { holdId: 'h1', amount: 5, atMs: NOW + MINUTE_MS });

    // Assess: January's 4 and one of February's are consumed; 5 go back to February.
    if (planned.kind !== 'settled') throw new Error(planned.kind);
    expect(planned.consumed.map((part) => [part.lot.id, part.amount])).toEqual([
      ['jan', 4],
      ['feb', 1],
    ]);
    expect(entriesOf(planned.change)).toEqual([
      ['release', 10, 54],
      ['consumption', -5, 49],
    ]);
    expect(planned.change.holds?.returned).toEqual([{ lot: { ...feb, remaining: 44 }, amount: 5 }]);
    expect(spendableAt(stateAfter(state, planned.change), NOW)).toBe(49);
  });

  it('C25 settle refuses more than the hold, an unknown hold, and records a lapsed one', () => {
    // Prepare
    const { state, hold } = held(stateWith([jan, feb]), 'h1', 10);

    // Act / Assess
    expect(settleHold(state, { holdId: 'h1', amount: 11, atMs: NOW })).toEqual({
      kind: 'refused',
      error: 'exceeds_hold',
    });
    expect(settleHold(state, { holdId: 'h2', amount: 1, atMs: NOW })).toEqual({
      kind: 'refused',
      error: 'hold_not_found',
    });
    const lapsed = settleHold(state, { holdId: 'h1', amount: 11, atMs: hold.expiresAtMs });
    expect(lapsed.kind).toBe('lapsed');
    // Its own command writes the hold's fact, so the change does not.
    if (lapsed.kind === 'lapsed') {
      expect(lapsed.change.holds?.ended).toEqual([{ hold, recordsLapse: false }]);
    }
  });

  it('C25 C26 release re-creates a drained lot as it was, holding what comes back', () => {
    // Prepare
    const { state } = held(stateWith([jan, feb]), 'h1', 10);

    // Act
    const planned = releaseHold(state, { holdId: 'h1', atMs: NOW + MINUTE_MS });

    // Assess
    if (planned.kind !== 'released') throw new Error(planned.kind);
    expect(planned.back).toBe(10);
    expect(planned.change.created).toEqual([jan]);
    expect(planned.change.holds?.returned).toEqual([{ lot: { ...feb, remaining: 44 }, amount: 6 }]);
    expect(stateAfter(state, planned.change).lots).toEqual(
      expect.arrayContaining([jan, { ...feb, remaining: 50 }]),
    );
  });

  it('C7 C26 credits whose lot a subscription end took meanwhile are forfeited, kept in the forfeit records', () => {
    // Prepare: the hold is made; then the subscription ends (its lots forfeited).
    const { state } = held(stateWith([jan, feb]), 'h1', 10);
    const ended: CustomerState = {
      ...state,
      lots: state.lots.map((each) => ({
        ...each,
        remaining: 0,
        forfeit: { by: 'sub_1', credits: each.remaining },
      })),
      facts: {
        subscriptions: { sub_1: { activeSinceMs: ms('2026-01-01T00:00:00Z'), endedAtMs: NOW + 1 } },
      },
    };

    // Act
    const planned = releaseHold(ended, { holdId: 'h1', atMs: NOW + MINUTE_MS });

    // Assess
    if (planned.kind !== 'released') throw new Error(planned.kind);
    expect(planned.back).toBe(0);
    expect(planned.change.entries.map((entry) => [entry.id, entry.amount, entry.ref])).toEqual([
      ['release#h1', 10, 'h1'],
      ['release#h1#forfeit#sub_1', -10, 'sub_1'],
    ]);
    // January's lot was drained by the hold: it comes back as a record of sub_1's forfeit.
    expect(planned.change.created).toEqual([
      { ...jan, remaining: 0, forfeit: { by: 'sub_1', credits: 4 } },
    ]);
    expect(planned.change.holds?.returned).toEqual([]);
    const febAsRead = ended.lots.find((each) => each.id === 'feb');
    expect(planned.change.holds?.kept).toEqual([{ lot: febAsRead, amount: 6 }]);
    expect(stateAfter(ended, planned.change).lots.map((each) => each.forfeit)).toEqual([
      { by: 'sub_1', credits: 50 },
      { by: 'sub_1', credits: 4 },
    ]);
  });
});

describe('Rules: restore (C26)', () => {
  const consumption = {
    key: 'consume#k',
    ref: 'k',
    parts: [
      { lot: { ...jan, remaining: 4 }, amount: 4 },
      { lot: { ...feb, remaining: 50 }, amount: 2 },
    ],
    restored: 0,
  };
  const after = stateWith([{ ...feb, remaining: 48 }]);

  it('C26 gives back what was taken last first, and counts it on the consumption', () => {
    // Act
    const planned = restoreConsumption(after, {
      consumption,
      restoreKey: 'r1',
      amount: 3,
      atMs: NOW,
    });

    // Assess: February's 2 and one of January's (re-created).
    if (planned.kind !== 'restored') throw new Error(planned.kind);
    expect([planned.back, planned.gone]).toEqual([3, 0]);
    expect(planned.change.created).toEqual([{ ...jan, remaining: 1 }]);
    expect(planned.change.holds?.returned).toEqual([{ lot: { ...feb, remaining: 48 }, amount: 2 }]);
    expect(planned.change.holds?.restores).toEqual([
      { consumptionKey: 'consume#k', before: 0, after: 3 },
    ]);
    expect(entriesOf(planned.change)).toEqual([['restore', 3, 51]]);
  });

  it('C26 restores add up and never give back more than the consumption took', () => {
    // Act / Assess: 3 of 6 were given back; 4 more is too many, the rest is fine.
    const partly = { ...consumption, restored: 3 };
    expect(
      restoreConsumption(after, { consumption: partly, restoreKey: 'r2', amount: 4, atMs: NOW }),
    ).toEqual({ kind: 'refused', error: 'exceeds_consumption' });
    const rest = restoreConsumption(after, { consumption: partly, restoreKey: 'r2', atMs: NOW });
    if (rest.kind !== 'restored') throw new Error(rest.kind);
    expect(rest.back).toBe(3);
    expect(rest.change.holds?.restores).toEqual([
      { consumptionKey: 'consume#k', before: 3, after: 6 },
    ]);
    const done = { ...consumption, restored: 6 };
    expect(restoreConsumption(after, { consumption: done, restoreKey: 'r3', atMs: NOW })).toEqual({
      kind: 'refused',
      error: 'exceeds_consumption',
    });
  });

  it('C6 C26 what comes back to an expired lot is gone, and restore says how much', () => {
    // Act: in May, January's lot has expired.
    const may = ms('2026-05-01T00:00:00Z');
    const planned = restoreConsumption(after, { consumption, restoreKey: 'r1', atMs: may });

    // Assess
    if (planned.kind !== 'restored') throw new Error(planned.kind);
    expect([planned.back, planned.gone]).toEqual([2, 4]);
    expect(planned.change.entries.map((entry) => [entry.id, entry.type, entry.amount])).toEqual([
      ['restore#r1', 'restore', 6],
      ['restore#r1#expired', 'expiry', -4],
    ]);
    expect(planned.change.created).toEqual([]);
  });
});

describe('Rules: credits given back to a lot an end took, and the forfeit undone (C7 C8 C16 C26)', () => {
  const DAY_MS = 86_400_000;
  const ENDED_MS = NOW + 1;
  const oldSub = { activeSinceMs: ms('2026-01-01T00:00:00Z'), endedAtMs: ENDED_MS };
  // sub_new was paid for a period started a day before sub_old's end: it was active then (C7).
  const newSub = { activeSinceMs: ENDED_MS - DAY_MS };

  /**
   * A hold of 10 from February's lot; sub_old ends with its forfeit NOT written yet (the end's
   * reconciliation lags, effectiveLots); the hold is released; sub_new's grant is known before
   * the release (Stripe's order) or only after it (late), and the forfeits are reconciled.
   */
  function febAfter(order: 'stripe' | 'late') {
    const { state } = held(stateWith([feb]), 'h1', 10);
    const withFacts =
      (subscriptions: CustomerState['facts']['subscriptions']) =>
      (at: CustomerState): CustomerState => ({ ...at, facts: { subscriptions } });
    const lateFacts = withFacts({ sub_old: oldSub, sub_new: newSub });
    const ended = order === 'stripe' ? lateFacts(state) : withFacts({ sub_old: oldSub })(state);
    const planned = releaseHold(ended, { holdId: 'h1', atMs: NOW + MINUTE_MS });
    if (planned.kind !== 'released') throw new Error(planned.kind);
    const released = stateAfter(ended, planned.change);
    const known = lateFacts(released);
    const { change } = reconcileForfeits(known, NOW + 2 * MINUTE_MS);
    const after = change ? stateAfter(known, change) : known;
    return { planned, released, after };
  }

  it('C7 C26 a release to a lot whose forfeit is not written yet marks it, keeping the credits in the record', () => {
    // Act
    const { planned, released } = febAfter('late');

    // Assess: the lot's own 40 leave with the end's forfeit (dated at it), the 10 with theirs.
    expect(planned.back).toBe(0);
    expect(
      planned.change.entries.map((entry) => [entry.id, entry.amount, entry.atMs - NOW]),
    ).toEqual([
      ['release#h1', 10, MINUTE_MS],
      ['release#h1#forfeit#sub_old#feb', -40, 1],
      ['release#h1#forfeit#sub_old', -10, MINUTE_MS],
    ]);
    expect(planned.change.forfeited).toEqual([
      { lot: { ...feb, remaining: 40 }, by: 'sub_old', credits: 50 },
    ]);
    expect(released.lots).toEqual([
      { ...feb, remaining: 0, forfeit: { by: 'sub_old', credits: 50 } },
    ]);
  });

  for (const order of ['stripe', 'late'] as const) {
    it(`C8 C16 a forfeit undone gives back the credits released into it (forfeit not yet written, ${order} order)`, () => {
      // Act
      const { after } = febAfter(order);

      // Assess: the same lot in both orders, all 50 back.
      expect(after.lots).toEqual([feb]);
    });
  }
});
