import { describe, expect, it } from 'vitest';
import { isExpiredAt, newLot } from '../../lib/credits/lots';
import { addCalendarMonthsMs, lotExpiresAtMs, toIso } from '../../lib/credits/time';

const ms = (iso: string) => Date.parse(iso);

describe('Function: lotExpiresAtMs', () => {
  it.each([
    ['31 Jan -> 30 Apr (clamped)', '2026-01-31T10:15:30.250Z', '2026-04-30T10:15:30.250Z'],
    ['30 Nov -> 29 Feb in a leap year', '2027-11-30T08:00:00.000Z', '2028-02-29T08:00:00.000Z'],
    ['30 Nov -> 28 Feb in a common year', '2025-11-30T08:00:00.000Z', '2026-02-28T08:00:00.000Z'],
    ['29 Nov -> 28 Feb in a common year', '2026-11-29T23:59:59.999Z', '2027-02-28T23:59:59.999Z'],
    ['31 Mar -> 30 Jun', '2026-03-31T00:00:00.000Z', '2026-06-30T00:00:00.000Z'],
    ['15 Oct -> 15 Jan of the next year', '2026-10-15T12:34:56.000Z', '2027-01-15T12:34:56.000Z'],
    ['31 Dec -> 31 Mar of the next year', '2026-12-31T18:00:00.000Z', '2027-03-31T18:00:00.000Z'],
    ['1 Feb -> 1 May', '2026-02-01T00:00:00.000Z', '2026-05-01T00:00:00.000Z'],
  ])(
    'C4 expires 3 calendar months later at the same time of day: %s',
    (_name, granted, expected) => {
      // Prepare
      const grantedAtMs = ms(granted);

      // Act
      const expiresAtMs = lotExpiresAtMs(grantedAtMs);

      // Assess
      expect(toIso(expiresAtMs)).toBe(expected);
    },
  );

  it('C4 counts months from the grant, never from the previous clamped date', () => {
    // Prepare: 31 Jan + 1 month clamps to 28 Feb, but + 2 months must still reach 31 Mar.
    const grantedAtMs = ms('2026-01-31T06:00:00.000Z');

    // Act
    const oneMonth = addCalendarMonthsMs(grantedAtMs, 1);
    const twoMonths = addCalendarMonthsMs(grantedAtMs, 2);
    const fifteenMonths = addCalendarMonthsMs(grantedAtMs, 15);

    // Assess
    expect(toIso(oneMonth)).toBe('2026-02-28T06:00:00.000Z');
    expect(toIso(twoMonths)).toBe('2026-03-31T06:00:00.000Z');
    expect(toIso(fifteenMonths)).toBe('2027-04-30T06:00:00.000Z');
  });

  it('C4 a new lot carries its expiry from its grant time', () => {
    // Prepare
    const grantedAtMs = ms('2026-01-31T10:00:00.000Z');

    // Act
    const lot = newLot({
      id: 'l1',
      source: 'subscription',
      credits: 500,
      grantedAtMs,
      ref: 'in_1',
    });

    // Assess
    expect(lot).toEqual({
      id: 'l1',
      source: 'subscription',
      granted: 500,
      remaining: 500,
      grantedAtMs,
      expiresAtMs: ms('2026-04-30T10:00:00.000Z'),
      ref: 'in_1',
    });
  });

  it('C6 a lot is alive one millisecond before its expiry and expired exactly at it', () => {
    // Prepare
    const lot = newLot({
      id: 'l1',
      source: 'subscription',
      credits: 10,
      grantedAtMs: ms('2026-01-31T10:00:00.000Z'),
      ref: 'in_1',
    });

    // Act
    const before = isExpiredAt(lot, lot.expiresAtMs - 1);
    const at = isExpiredAt(lot, lot.expiresAtMs);

    // Assess
    expect(before).toBe(false);
    expect(at).toBe(true);
  });
});
