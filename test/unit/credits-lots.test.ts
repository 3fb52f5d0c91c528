import { describe, expect, it } from 'vitest';
import {
  bookBalance,
  burn,
  nextExpiryMs,
  partitionExpired,
  partitionForfeited,
  spendableBalance,
} from '../../lib/credits/lots';
import { lot, ms } from '../support/lots';

describe('Function: burn', () => {
  it('C5 burns the lot that expires soonest first: rollover before fresh', () => {
    // Prepare: listed fresh first, so the order must come from the rule, not the input.
    const fresh = lot('fresh', '2026-03-01T00:00:00Z', 100);
    const rollover = lot('rollover', '2026-02-01T00:00:00Z', 100, 30);
    const nowMs = ms('2026-03-02T00:00:00Z');

    // Act
    const result = burn([fresh, rollover], 20, nowMs);

    // Assess
    expect(result?.burns).toEqual([{ lotId: 'rollover', amount: 20 }]);
    expect(result?.lots).toEqual(
      expect.arrayContaining([
        { ...rollover, remaining: 10 },
        { ...fresh, remaining: 100 },
      ]),
    );
  });

  it('C5 spans several lots in burn order and drops the lots it empties', () => {
    // Prepare
    const january = lot('jan', '2026-01-15T00:00:00Z', 50, 5);
    const february = lot('feb', '2026-02-15T00:00:00Z', 50, 40);
    const march = lot('mar', '2026-03-15T00:00:00Z', 50);
    const nowMs = ms('2026-03-20T00:00:00Z');

    // Act
    const result = burn([march, february, january], 60, nowMs);

    // Assess
    expect(result?.burns).toEqual([
      { lotId: 'jan', amount: 5 },
      { lotId: 'feb', amount: 40 },
      { lotId: 'mar', amount: 15 },
    ]);
    expect(result?.lots).toEqual([{ ...march, remaining: 35 }]);
  });

  it('C5 breaks an expiry tie by the older grant (30 and 31 Jan both expire 30 Apr)', () => {
    // Prepare
    const older = lot('older', '2026-01-30T09:00:00Z', 10);
    const newer = lot('newer', '2026-01-31T09:00:00Z', 10);
    expect(older.expiresAtMs).toBe(newer.expiresAtMs);

    // Act
    const result = burn([newer, older], 4, ms('2026-02-01T00:00:00Z'));

    // Assess
    expect(result?.burns).toEqual([{ lotId: 'older', amount: 4 }]);
  });

  it('C15 refuses the whole spend when the balance falls short by one, changing nothing', () => {
    // Prepare
    const lots = [lot('a', '2026-01-01T00:00:00Z', 3), lot('b', '2026-02-01T00:00:00Z', 4)];
    const snapshot = structuredClone(lots);

    // Act
    const short = burn(lots, 8, ms('2026-02-02T00:00:00Z'));
    const exact = burn(lots, 7, ms('2026-02-02T00:00:00Z'));

    // Assess
    expect(short).toBeNull();
    expect(lots).toEqual(snapshot);
    expect(exact?.lots).toEqual([]);
  });

  it('C6 never burns an expired lot, even one the expiry job has not reclaimed', () => {
    // Prepare: the January lot expired at 2026-04-01T00:00Z.
    const expired = lot('expired', '2026-01-01T00:00:00Z', 100);
    const alive = lot('alive', '2026-03-01T00:00:00Z', 10);
    const nowMs = ms('2026-04-01T00:00:00Z');

    // Act
    const tooMuch = burn([expired, alive], 11, nowMs);
    const fits = burn([expired, alive], 10, nowMs);

    // Assess
    expect(tooMuch).toBeNull();
    expect(fits?.burns).toEqual([{ lotId: 'alive', amount: 10 }]);
    // The expired lot stays for the expiry job to record (C6), untouched.
    expect(fits?.lots).toEqual([expired]);
  });
});

describe('Function: spendableBalance', () => {
  it('C6 counts only lots unexpired at the given time; the book balance counts all', () => {
    // Prepare
    const lots = [
      lot('old', '2026-01-01T00:00:00Z', 100, 70),
      lot('new', '2026-03-01T00:00:00Z', 50),
    ];

    // Act
    const beforeExpiry = spendableBalance(lots, ms('2026-03-31T23:59:59.999Z'));
    const atExpiry = spendableBalance(lots, ms('2026-04-01T00:00:00Z'));
    const book = bookBalance(lots);

    // Assess
    expect(beforeExpiry).toBe(120);
    expect(atExpiry).toBe(50);
    expect(book).toBe(120);
  });
});

describe('Function: partitionExpired', () => {
  it('C6 splits at the expiry instant: exactly at expiry is expired', () => {
    // Prepare
    const a = lot('a', '2026-01-01T00:00:00Z', 10);
    const b = lot('b', '2026-01-02T00:00:00Z', 10);

    // Act
    const { expired, alive } = partitionExpired([b, a], a.expiresAtMs);

    // Assess
    expect(expired).toEqual([a]);
    expect(alive).toEqual([b]);
    expect(nextExpiryMs(alive)).toBe(b.expiresAtMs);
    expect(nextExpiryMs([])).toBeUndefined();
  });
});

describe('Function: partitionForfeited', () => {
  it('C7 takes every lot granted at or before the end and C8 leaves later grants', () => {
    // Prepare
    const endedAtMs = ms('2026-03-10T12:00:00Z');
    const before = lot('before', '2026-02-10T12:00:00Z', 100, 40);
    const atEnd = lot('at-end', '2026-03-10T12:00:00Z', 20);
    const after = lot('after', '2026-03-10T12:00:00.001Z', 300);

    // Act
    const { forfeited, kept } = partitionForfeited([after, atEnd, before], endedAtMs);

    // Assess
    expect(forfeited).toEqual([before, atEnd]);
    expect(kept).toEqual([after]);
  });

  it('C7 leaves a lot already expired at the end to the expiry job', () => {
    // Prepare: the December lot expired on 1 Mar, before the subscription ended.
    const endedAtMs = ms('2026-03-10T00:00:00Z');
    const expired = lot('expired', '2025-12-01T00:00:00Z', 100);
    const alive = lot('alive', '2026-03-01T00:00:00Z', 100);

    // Act
    const { forfeited, kept } = partitionForfeited([expired, alive], endedAtMs);

    // Assess
    expect(forfeited).toEqual([alive]);
    expect(kept).toEqual([expired]);
  });
});
