import { describe, expect, it } from 'vitest';
import { proratedCredits } from '../../lib/credits/proration';

describe('Function: proratedCredits (C19)', () => {
  it('C19 sums a downgrade of an annual plan exactly: 75 x 12 x (-5999 + 3999) / 2000 is -900, not -901', () => {
    // Prepare: in floating point this sum is -900.0000000000002 (found by the delivery test).
    const terms = [
      { credits: 75, months: 12, amount: -5999, unitAmount: '2000' },
      { credits: 75, months: 12, amount: 3999, unitAmount: '2000' },
    ];
    // Act & Assess
    expect(proratedCredits(terms)).toBe(-900);
  });

  it('C19 rounds down, below zero too', () => {
    expect(proratedCredits([{ credits: 100, months: 1, amount: 1001, unitAmount: '2000' }])).toBe(
      50,
    );
    expect(proratedCredits([{ credits: 100, months: 1, amount: -1001, unitAmount: '2000' }])).toBe(
      -51,
    );
  });

  it('C19 takes decimal unit amounts as written, even just below a whole credit', () => {
    // 999999999999 / 1000000000000 is a hair below 1: an epsilon of 1e-9 would round it to 1.
    expect(
      proratedCredits([
        { credits: 1, months: 1, amount: 999_999_999_999, unitAmount: '1000000000000' },
      ]),
    ).toBe(0);
    // A sub-cent price: 100 credits x 1 cent / 0.3 cents.
    expect(proratedCredits([{ credits: 100, months: 1, amount: 1, unitAmount: '0.3' }])).toBe(333);
    expect(proratedCredits([{ credits: 100, months: 1, amount: 3, unitAmount: '0.3' }])).toBe(1000);
  });

  it('C19 a free price prorates to nothing, and a unit amount that is no decimal is refused', () => {
    expect(proratedCredits([{ credits: 500, months: 1, amount: 0, unitAmount: '0' }])).toBe(0);
    expect(() =>
      proratedCredits([{ credits: 1, months: 1, amount: 1, unitAmount: '1e3' }]),
    ).toThrow(/unit amount "1e3"/);
  });
});
