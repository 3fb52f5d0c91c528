import { describe, expect, it } from 'vitest';
import {
  expire,
  expireSettled,
  grantLots,
  MAX_ITEMS_PER_EXPIRY,
  MAX_LOTS_PER_RELEASE,
  monthlyLots,
  releaseDue,
  releasesInBatches,
  settleByTime,
  spend,
} from '../../lib/credits/changes';
import {
  effectiveLots,
  endSubscription,
  MAX_LOTS_PER_FORFEIT,
  reconcileForfeits,
} from '../../lib/credits/forfeits';
import { bookBalance, type Lot, LotSource } from '../../lib/credits/lots';
import {
  andThen,
  type CustomerState,
  changeOf,
  emptyState,
  isInsufficient,
  lotsAfter,
  mergeChanges,
  stateAfter,
} from '../../lib/credits/state';
import { calendarMonthsBetween } from '../../lib/credits/time';
import { downgradeOn, lot, ms } from '../support/lots';

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
    // Prepare: sub_1 ended on 10 Mar; a late invoice grants for 1 Mar (its facts say paid since).
    const endedAtMs = ms('2026-03-10T00:00:00Z');
    const late = lot('late', '2026-03-01T00:00:00Z', 100);
    const state = stateWith([], { sub_1: { activeSinceMs: late.grantedAtMs, endedAtMs } });

    // Act
    const change = grantLots(state, entry('grant#in_late', late.grantedAtMs), [late], {
      nowMs: ms('2026-03-11T00:00:00Z'),
    });

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

  it('C6 C20 reclaims as many lots as fit MAX_ITEMS_PER_EXPIRY: an unrecorded upcoming one takes twice the items', () => {
    // Prepare: 50 lots in the ledger and 30 upcoming ones nobody recorded, all expired by May.
    const plain = Array.from({ length: 50 }, (_, k) => lot(`p${k}`, '2026-01-01T00:00:00Z', 10));
    const upcoming = Array.from({ length: 30 }, (_, k) => ({
      ...lot(`u${k}`, '2026-01-01T00:00:00Z', 10),
      upcoming: true as const,
    }));
    const nowMs = ms('2026-05-01T00:00:00Z');

    // Act
    const plainBatch = expire(stateWith(plain), nowMs);
    const upcomingBatch = expire(stateWith(upcoming), nowMs);

    // Assess: a lot and its entry; an upcoming lot, its due marker and two entries.
    expect(plainBatch?.reclaimed).toHaveLength(MAX_ITEMS_PER_EXPIRY / 2);
    expect(upcomingBatch?.reclaimed).toHaveLength(MAX_ITEMS_PER_EXPIRY / 4);
    expect(upcomingBatch?.entries.map((each) => each.id).slice(0, 2)).toEqual([
      'release#u0',
      'expiry#u0',
    ]);
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

/** An end as the ledger runs it: the end's own facts, then the forfeits they imply. */
function ended(state: CustomerState, id: string, endedAtMs: number, nowMs = endedAtMs) {
  const end = endSubscription(state, { id, endedAtMs, entryId: `end#${id}` });
  return andThen(state, end, (after) => reconcileForfeits(after, nowMs).change);
}

describe('Function: endSubscription and reconcileForfeits', () => {
  it('C7 C8 the last subscription ending forfeits lots granted up to the end, keeps later grants', () => {
    // Prepare
    const endedAtMs = ms('2026-03-15T00:00:00Z');
    const feb = lot('feb', '2026-02-01T00:00:00Z', 100, 60);
    const mar = lot('mar', '2026-03-01T00:00:00Z', 100);
    const later = lot('later', '2026-03-16T00:00:00Z', 500);
    const state = stateWith([feb, mar, later], { sub_old: { activeSinceMs: feb.grantedAtMs } });

    // Act
    const { change, state: after } = ended(state, 'sub_old', endedAtMs);

    // Assess
    expect(change?.entries.map((each) => [each.type, each.amount, each.atMs, each.ref])).toEqual([
      ['forfeit', -160, endedAtMs, 'sub_old'],
    ]);
    expect(after.lots.filter((each) => each.remaining > 0).map((each) => each.id)).toEqual([
      'later',
    ]);
    expect(after.facts.subscriptions).toEqual({
      sub_old: { activeSinceMs: feb.grantedAtMs, endedAtMs },
    });
  });

  it('C7 an end forfeits nothing while another subscription is active at that moment', () => {
    // Prepare: switching plans: the new subscription was paid for before the old one ended.
    const old = lot('old', '2026-02-01T00:00:00Z', 100);
    const pro = lot('pro', '2026-03-01T00:00:00Z', 500);
    const state = stateWith([old, pro], {
      sub_old: { activeSinceMs: old.grantedAtMs },
      sub_pro: { activeSinceMs: pro.grantedAtMs },
    });

    // Act
    const { change, state: after } = ended(state, 'sub_old', ms('2026-03-10T00:00:00Z'));

    // Assess
    expect(change?.entries).toEqual([]);
    expect(bookBalance(after.lots)).toBe(600);
  });

  it('C7 a subscription that never had a paid invoice was never active: its end is the last', () => {
    // Prepare: sub_unpaid has no paid invoice (incomplete_expired); sub_main ended before.
    const main = lot('main', '2026-02-01T00:00:00Z', 100);
    const state = stateWith([main], {
      sub_main: { activeSinceMs: main.grantedAtMs },
      sub_unpaid: {},
    });

    // Act
    const unpaidEnd = ended(state, 'sub_unpaid', ms('2026-02-10T00:00:00Z'));

    // Assess: sub_main is still active, so the unpaid one's end takes nothing.
    expect(bookBalance(unpaidEnd.state.lots)).toBe(100);
  });

  it('C8 C16 a forfeit that a later grant shows wrong is undone, giving back what has not expired', () => {
    // Prepare: sub_old ended on 10 Mar and forfeited everything, then sub_new's first invoice
    // arrives: its period started on 1 Mar, so it was active at the end.
    const endedAtMs = ms('2026-03-10T00:00:00Z');
    const old = lot('old', '2026-02-01T00:00:00Z', 100);
    const start = stateWith([old], { sub_old: { activeSinceMs: old.grantedAtMs } });
    const afterEnd = ended(start, 'sub_old', endedAtMs).state;
    expect(bookBalance(afterEnd.lots)).toBe(0);
    const proven: CustomerState = {
      ...afterEnd,
      facts: {
        ...afterEnd.facts,
        subscriptions: {
          ...afterEnd.facts.subscriptions,
          sub_new: { activeSinceMs: ms('2026-03-01T00:00:00Z') },
        },
      },
    };

    // Act
    const { change } = reconcileForfeits(proven, ms('2026-03-12T00:00:00Z'));

    // Assess
    expect(change?.entries.map((each) => [each.type, each.amount])).toEqual([['forfeit', 100]]);
    expect(change?.unforfeited.map((each) => each.id)).toEqual(['old']);
  });

  it('C7 a credit pack is never forfeited', () => {
    // Prepare
    const pack = { ...lot('pack', '2026-02-01T00:00:00Z', 50), source: LotSource.pack };
    const state = stateWith([pack], { sub_1: { activeSinceMs: ms('2026-01-01T00:00:00Z') } });

    // Act
    const { state: after } = ended(state, 'sub_1', ms('2026-02-10T00:00:00Z'));

    // Assess
    expect(bookBalance(after.lots)).toBe(50);
  });

  it("C7 C20 an end cancels its subscription's lots not yet granted, whatever else is active", () => {
    // Prepare: an annual plan from 1 Jan, its later months upcoming; another plan is active.
    const annual = monthlyLots({
      idPrefix: 'in_year#il_1',
      source: LotSource.subscription,
      totalCredits: 1200,
      months: 12,
      startMs: ms('2026-01-01T00:00:00Z'),
      ref: 'in_year',
      subscriptionId: 'sub_year',
    }).map((each, k) => (k === 0 ? each : { ...each, upcoming: true as const }));
    const state = stateWith(annual, {
      sub_year: { activeSinceMs: ms('2026-01-01T00:00:00Z') },
      sub_other: { activeSinceMs: ms('2026-01-01T00:00:00Z') },
    });

    // Act
    const end = endSubscription(state, {
      id: 'sub_year',
      endedAtMs: ms('2026-01-20T00:00:00Z'),
      entryId: 'end#sub_year',
    });

    // Assess
    expect(end.cancelled).toHaveLength(11);
    expect(end.entries).toEqual([]);
    expect(lotsAfter(state, end).map((each) => each.id)).toEqual(['in_year#il_1']);
  });

  it('C7 forfeits at most one transaction of lots at a time and says more remain', () => {
    // Prepare
    const lots = Array.from({ length: MAX_LOTS_PER_FORFEIT + 3 }, (_, i) =>
      lot(`l${String(i).padStart(3, '0')}`, '2026-03-01T00:00:00Z', 1),
    );
    const state = stateWith(lots, {
      sub_1: { activeSinceMs: ms('2026-03-01T00:00:00Z'), endedAtMs: ms('2026-03-02T00:00:00Z') },
    });

    // Act
    const first = reconcileForfeits(state, ms('2026-03-02T00:00:00Z'));

    // Assess
    expect(first.more).toBe(true);
    expect(first.change?.forfeited).toHaveLength(MAX_LOTS_PER_FORFEIT);
  });

  it('C7 C16 a lot an end takes counts as forfeited before the forfeit is written', () => {
    // Prepare: a quiet bonus written while the referrer's last subscription was ending.
    const bonus = lot('referral#cus_2', '2026-03-01T00:00:00Z', 250);
    const state = stateWith([bonus], {
      sub_1: { activeSinceMs: ms('2026-02-01T00:00:00Z'), endedAtMs: ms('2026-03-05T00:00:00Z') },
    });

    // Act / Assess
    expect(effectiveLots(state, ms('2026-03-06T00:00:00Z'))).toEqual([
      { ...bonus, remaining: 0, forfeit: { by: 'sub_1', credits: 250 } },
    ]);
    expect(
      isInsufficient(
        spend(state, {
          id: 'c',
          type: 'consumption',
          amount: 1,
          atMs: ms('2026-03-06T00:00:00Z'),
          ref: 'k',
        }),
      ),
    ).toBe(true);
  });
});

describe('Function: monthlyLots, releaseDue, reconcileCuts (C19, C20)', () => {
  it('C20 splits a period into monthly lots of equal size, any remainder in the first', () => {
    // Act
    const lots = monthlyLots({
      idPrefix: 'in_1#proration',
      source: LotSource.subscription,
      totalCredits: 100,
      months: 3,
      startMs: ms('2026-01-31T10:00:00Z'),
      ref: 'in_1',
    });

    // Assess: 31 Jan + 1 month is 28 Feb (clamped, C4); each expires 3 months after its grant.
    expect(
      lots.map((each) => [each.id, each.granted, new Date(each.grantedAtMs).toISOString()]),
    ).toEqual([
      ['in_1#proration', 34, '2026-01-31T10:00:00.000Z'],
      ['in_1#proration#1', 33, '2026-02-28T10:00:00.000Z'],
      ['in_1#proration#2', 33, '2026-03-31T10:00:00.000Z'],
    ]);
    expect(new Date(lots[1]?.expiresAtMs ?? 0).toISOString()).toBe('2026-05-28T10:00:00.000Z');
  });

  it('C20 counts a period in whole calendar months, rounded, at least one', () => {
    expect(calendarMonthsBetween(ms('2026-01-01T00:00:00Z'), ms('2027-01-01T00:00:00Z'))).toBe(12);
    expect(calendarMonthsBetween(ms('2026-01-31T00:00:00Z'), ms('2026-02-28T00:00:00Z'))).toBe(1);
    expect(calendarMonthsBetween(ms('2026-03-01T00:00:00Z'), ms('2026-03-16T12:00:00Z'))).toBe(1);
    expect(calendarMonthsBetween(ms('2026-03-01T00:00:00Z'), ms('2026-03-05T00:00:00Z'))).toBe(1);
    expect(calendarMonthsBetween(ms('2026-01-01T00:00:00Z'), ms('2026-03-20T00:00:00Z'))).toBe(3);
  });

  it('C20 an upcoming lot enters the ledger when its grant time has come, at that time', () => {
    // Prepare
    const upcoming = {
      ...lot('in_y#il_1#1', '2026-02-01T00:00:00Z', 100),
      upcoming: true as const,
    };
    const state = stateWith([upcoming]);

    // Act
    const before = releaseDue(state, ms('2026-01-31T23:59:59Z'));
    const due = releaseDue(state, ms('2026-02-01T00:00:00Z'));

    // Assess
    expect(before).toBeUndefined();
    expect(due?.entries.map((each) => [each.type, each.amount, each.balanceAfter])).toEqual([
      ['grant', 100, 100],
    ]);
    expect(bookBalance(state.lots)).toBe(0);
  });

  it('C14 C20 months come due are released on their own in batches, oldest first, the ledger running on', () => {
    // Prepare: 70 months come due, listed newest first, over a ledger holding 5.
    const due = Array.from({ length: 70 }, (_, k) => ({
      ...lot(
        `m${69 - k}`,
        new Date(ms('2026-01-01T00:00:00Z') + (69 - k) * 3_600_000).toISOString(),
        2,
      ),
      upcoming: true as const,
    }));
    const state = stateWith([lot('old', '2026-01-01T00:00:00Z', 5), ...due]);

    // Act
    const batches = releasesInBatches(state, due);

    // Assess
    expect(batches.map((each) => each.released.length)).toEqual([
      MAX_LOTS_PER_RELEASE,
      MAX_LOTS_PER_RELEASE,
      70 - 2 * MAX_LOTS_PER_RELEASE,
    ]);
    const entries = batches.flatMap((each) => each.entries);
    expect(entries.map((each) => each.id)).toEqual(
      Array.from({ length: 70 }, (_, k) => `release#m${k}`),
    );
    expect(entries.map((each) => each.balanceAfter)).toEqual(
      Array.from({ length: 70 }, (_, k) => 5 + 2 * (k + 1)),
    );
    const after = batches.reduce(stateAfter, state);
    expect(after.lots.filter((each) => each.upcoming)).toEqual([]);
    expect(bookBalance(after.lots)).toBe(145);
  });

  it('C19 a downgrade cancels credits not yet granted, latest first, and takes back nothing granted', () => {
    // Prepare
    const granted = lot('m0', '2026-01-01T00:00:00Z', 100);
    const upcoming = [1, 2].map((k) => ({
      ...lot(`m${k}`, `2026-0${k + 1}-01T00:00:00Z`, 100),
      subscriptionId: 'sub_1',
      upcoming: true as const,
    }));
    const state = stateWith([{ ...granted, subscriptionId: 'sub_1' }, ...upcoming]);

    // Act
    const { cancelled, cuts, drafts } = downgradeOn(state, {
      subscriptionId: 'sub_1',
      credits: 150,
      atMs: ms('2026-01-15T00:00:00Z'),
      beforeMs: ms('2027-01-01T00:00:00Z'),
    });

    // Assess
    expect(cancelled).toBe(150);
    expect(cuts).toEqual([
      ['m2', 100],
      ['m1', 50],
    ]);
    expect(drafts).toEqual([]);
  });

  it('C16 C19 a downgrade leaves the lots of the next period alone, even delivered after them', () => {
    // Prepare: the period the change falls in ends 1 Feb; the renewal's lot of 1 Feb is in.
    const renewal = { ...lot('next', '2026-02-01T00:00:00Z', 100), subscriptionId: 'sub_1' };
    const state = stateWith([renewal]);

    // Act
    const { cancelled, cuts } = downgradeOn(state, {
      subscriptionId: 'sub_1',
      credits: 80,
      atMs: ms('2026-01-15T00:00:00Z'),
      beforeMs: ms('2026-02-01T00:00:00Z'),
    });

    // Assess
    expect(cancelled).toBe(0);
    expect(cuts).toEqual([]);
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

  it('C19 C22 a month to come that a cut and a reversal taking again both cancel is one write of both, on the month as read', () => {
    // Prepare: the cut cancels 1 of July's 200, the reversal then the 199 left.
    const july = { ...lot('jul', '2026-07-01T00:00:00Z', 200), upcoming: true as const };
    const state = stateWith([july]);
    const first = changeOf(state, { cancelled: [{ lot: july, amount: 1 }], drafts: [] });
    const after = stateAfter(state, first);
    const left = after.lots[0] as Lot;
    const second = changeOf(after, { cancelled: [{ lot: left, amount: 199 }], drafts: [] });

    // Act
    const merged = mergeChanges(first, second);

    // Assess: one cancel of all 200 (DynamoDB writes an item once a transaction).
    expect(merged.cancelled).toEqual([{ lot: july, amount: 200 }]);
    expect(lotsAfter(state, merged)).toEqual([]);
  });

  it('C19 a granted lot changed by both is still refused: its write would be made twice', () => {
    // Prepare
    const march = lot('mar', '2026-03-01T00:00:00Z', 200);
    const state = stateWith([march]);
    const first = changeOf(state, {
      cancelled: [{ lot: march, amount: 1 }],
      drafts: [{ id: 'cut', type: 'forfeit', amount: -1, atMs: 0, ref: 'r', lots: [] }],
    });
    const after = stateAfter(state, first);
    const second = changeOf(after, {
      cancelled: [{ lot: after.lots[0] as Lot, amount: 9 }],
      drafts: [{ id: 'cut2', type: 'forfeit', amount: -9, atMs: 0, ref: 'r', lots: [] }],
    });

    // Act + Assess
    expect(() => mergeChanges(first, second)).toThrow(/changed twice/);
  });
});

describe('Function: expireSettled', () => {
  it('C6 C7 a lot an unwritten forfeit takes and that has expired since goes in one write: forfeit entry at the end, lot reclaimed as read', () => {
    // Prepare: the end was recorded (facts) but its forfeit of this lot never written, as when a
    // referrer's quiet bonus raced the end; by now the lot has expired as well.
    const endedAtMs = ms('2026-03-15T00:00:00Z');
    const feb = lot('feb', '2026-02-01T00:00:00Z', 100);
    const state = stateWith([feb], { sub_old: { activeSinceMs: feb.grantedAtMs, endedAtMs } });
    const nowMs = ms('2026-06-01T00:00:00Z');
    const { change: pending } = settleByTime(state, nowMs);

    // Act
    const change = expireSettled(state, pending, nowMs);

    // Assess: each item once (DynamoDB's rule for one transaction), the ledger as if the forfeit
    // had been written at the end and the job had then found an empty lot.
    expect(change?.forfeited).toEqual([]);
    expect(change?.reclaimed).toEqual([feb]);
    expect(change?.entries.map((each) => [each.type, each.amount, each.atMs])).toEqual([
      ['forfeit', -100, endedAtMs],
    ]);
    expect(lotsAfter(state, change as NonNullable<typeof change>)).toEqual([]);
  });

  it('C6 without anything pending it is the plain expiry', () => {
    // Prepare
    const jan = lot('jan', '2026-01-01T00:00:00Z', 40);
    const state = stateWith([jan]);
    const nowMs = ms('2026-05-01T00:00:00Z');

    // Act
    const change = expireSettled(state, undefined, nowMs);

    // Assess
    expect(change).toEqual(expire(state, nowMs));
  });
});

describe('Function: reconcileForfeits, a forfeit by an end that no longer forfeits', () => {
  it('C7 C8 C16 stays when a later end that does forfeit takes the lot all the same', () => {
    // Prepare: sub_b ended at the start of its period and forfeited its lot; sub_a, paid for a
    // period from that same moment, arrives later and shows sub_b's end left sub_a active; but
    // sub_a ended since, with nothing active, so its end takes the lot anyway.
    const startMs = ms('2026-01-30T10:00:00Z');
    const nowMs = ms('2026-01-31T10:00:00Z');
    const b = { ...lot('b', '2026-01-30T10:00:00Z', 1, 0), forfeit: { by: 'sub_b', credits: 1 } };
    const state = stateWith([b], {
      sub_a: { activeSinceMs: startMs, endedAtMs: nowMs },
      sub_b: { activeSinceMs: startMs, endedAtMs: startMs },
    });

    // Act
    const { change } = reconcileForfeits(state, nowMs);

    // Assess: no give-back only to forfeit again (one write per item), and the lot counts 0.
    expect(change).toBeUndefined();
    expect(effectiveLots(state, nowMs).map((each) => each.remaining)).toEqual([0]);
  });
});
