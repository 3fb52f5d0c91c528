import { describe, expect, it } from 'vitest';
import {
  bookBalance,
  expiredLots,
  forfeitableAt,
  planBurn,
  spendableBalance,
} from '../../lib/credits/lots';
import { lot, ms } from '../support/lots';

describe('Function: planBurn', () => {
  it('C5 takes from the lot that expires soonest first: rollover before fresh', () => {
    // Prepare: listed fresh first, so the order must come from the rule, not the input.
    const fresh = lot('fresh', '2026-03-01T00:00:00Z', 100);
    const rollover = lot('rollover', '2026-02-01T00:00:00Z', 100, 30);

    // Act
    const takes = planBurn([fresh, rollover], 20, ms('2026-03-02T00:00:00Z'));

    // Assess
    expect(takes).toEqual([{ lot: rollover, amount: 20, drains: false }]);
  });

  it('C5 spans several lots in burn order and marks the lots it empties', () => {
    // Prepare
    const january = lot('jan', '2026-01-15T00:00:00Z', 50, 5);
    const february = lot('feb', '2026-02-15T00:00:00Z', 50, 40);
    const march = lot('mar', '2026-03-15T00:00:00Z', 50);

    // Act
    const takes = planBurn([march, february, january], 60, ms('2026-03-20T00:00:00Z'));

    // Assess
    expect(takes).toEqual([
      { lot: january, amount: 5, drains: true },
      { lot: february, amount: 40, drains: true },
      { lot: march, amount: 15, drains: false },
    ]);
  });

  it('C5 breaks an expiry tie by the older grant (30 and 31 Jan both expire 30 Apr)', () => {
    // Prepare
    const older = lot('older', '2026-01-30T09:00:00Z', 10);
    const newer = lot('newer', '2026-01-31T09:00:00Z', 10);
    expect(older.expiresAtMs).toBe(newer.expiresAtMs);

    // Act
    const takes = planBurn([newer, older], 4, ms('2026-02-01T00:00:00Z'));

    // Assess
    expect(takes?.map((take) => take.lot.id)).toEqual(['older']);
  });

  it('C15 refuses the whole spend when the balance falls short by one', () => {
    // Prepare
    const lots = [lot('a', '2026-01-01T00:00:00Z', 3), lot('b', '2026-02-01T00:00:00Z', 4)];

    // Act
    const short = planBurn(lots, 8, ms('2026-02-02T00:00:00Z'));
    const exact = planBurn(lots, 7, ms('2026-02-02T00:00:00Z'));

    // Assess
    expect(short).toBeNull();
    expect(exact?.every((take) => take.drains)).toBe(true);
  });

  it('C6 never takes from an expired lot, even one the expiry job has not reclaimed', () => {
    // Prepare: the January lot expired at 2026-04-01T00:00Z.
    const expired = lot('expired', '2026-01-01T00:00:00Z', 100);
    const alive = lot('alive', '2026-03-01T00:00:00Z', 10);
    const nowMs = ms('2026-04-01T00:00:00Z');

    // Act
    const tooMuch = planBurn([expired, alive], 11, nowMs);
    const fits = planBurn([expired, alive], 10, nowMs);

    // Assess
    expect(tooMuch).toBeNull();
    expect(fits).toEqual([{ lot: alive, amount: 10, drains: true }]);
  });

  it('C7 never takes from a forfeited lot kept as a record', () => {
    // Prepare
    const forfeited = {
      ...lot('gone', '2026-03-01T00:00:00Z', 10, 0),
      forfeit: { by: 'sub_1', credits: 10 },
    };
    const alive = lot('alive', '2026-03-02T00:00:00Z', 10);

    // Act
    const takes = planBurn([forfeited, alive], 3, ms('2026-03-03T00:00:00Z'));

    // Assess
    expect(takes).toEqual([{ lot: alive, amount: 3, drains: false }]);
  });
});

describe('Function: spendableBalance', () => {
  it('C6 C14 counts only lots granted by then and unexpired; the book balance counts all', () => {
    // Prepare
    const lots = [
      lot('old', '2026-01-01T00:00:00Z', 100, 70),
      lot('new', '2026-03-01T00:00:00Z', 50),
    ];

    // Act
    const beforeExpiry = spendableBalance(lots, ms('2026-03-31T23:59:59.999Z'));
    const atExpiry = spendableBalance(lots, ms('2026-04-01T00:00:00Z'));
    const beforeNewGrant = spendableBalance(lots, ms('2026-02-28T00:00:00Z'));
    const book = bookBalance(lots);

    // Assess
    expect(beforeExpiry).toBe(120);
    expect(atExpiry).toBe(50);
    expect(beforeNewGrant).toBe(70);
    expect(book).toBe(120);
  });
});

describe('Function: expiredLots', () => {
  it('C6 splits at the expiry instant: exactly at expiry is expired', () => {
    // Prepare
    const a = lot('a', '2026-01-01T00:00:00Z', 10);
    const b = lot('b', '2026-01-02T00:00:00Z', 10);

    // Act
    const expired = expiredLots([b, a], a.expiresAtMs);

    // Assess
    expect(expired).toEqual([a]);
  });
});

describe('Function: forfeitableAt', () => {
  it('C7 takes every lot granted at or before the end and C8 leaves later grants', () => {
    // Prepare
    const endedAtMs = ms('2026-03-10T12:00:00Z');
    const before = lot('before', '2026-02-10T12:00:00Z', 100, 40);
    const atEnd = lot('at-end', '2026-03-10T12:00:00Z', 20);
    const after = lot('after', '2026-03-10T12:00:00.001Z', 300);

    // Act
    const forfeited = forfeitableAt([after, atEnd, before], endedAtMs);

    // Assess
    expect(forfeited).toEqual([before, atEnd]);
  });

  it('C7 leaves a lot already expired at the end to the expiry job', () => {
    // Prepare: the December lot expired on 1 Mar, before the subscription ended.
    const expired = lot('expired', '2025-12-01T00:00:00Z', 100);
    const alive = lot('alive', '2026-03-01T00:00:00Z', 100);

    // Act
    const forfeited = forfeitableAt([expired, alive], ms('2026-03-10T00:00:00Z'));

    // Assess
    expect(forfeited).toEqual([alive]);
  });
});
