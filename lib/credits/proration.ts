/**
 * C19: the credits of an invoice's proration lines, `monthly credits x months per interval x
 * amount / unit amount` per line, summed and rounded down, computed exactly. In floating point
 * a sum that is a whole number can land just below it (-2699.55 + 1799.55 is
 * -900.0000000000002) and round down one credit too far; Stripe's unit amounts are decimals of
 * up to 12 places, so the sum is a fraction of integers, kept here as BigInts.
 */
export type ProrationTerm = {
  readonly credits: number;
  readonly months: number;
  /** The line's amount, minor units (negative for unused time). */
  readonly amount: number;
  /** The price's unit amount in minor units, as Stripe writes it: an integer or a decimal. */
  readonly unitAmount: string;
};

type Fraction = { readonly numerator: bigint; readonly denominator: bigint };

export function proratedCredits(terms: readonly ProrationTerm[]): number {
  let sum: Fraction = { numerator: 0n, denominator: 1n };
  for (const term of terms) {
    const unit = decimalFraction(term.unitAmount);
    // A free price prorates to nothing whatever its credits.
    if (unit.numerator === 0n) continue;
    const scaled = BigInt(term.credits) * BigInt(term.months) * BigInt(term.amount);
    sum = add(sum, { numerator: scaled * unit.denominator, denominator: unit.numerator });
  }
  return Number(floorOf(sum));
}

/** "1999.5" as 19995/10; a unit amount is never negative, so the denominator stays positive. */
function decimalFraction(text: string): Fraction {
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) throw new RangeError(`unit amount ${JSON.stringify(text)} is not a decimal number`);
  const [, sign, whole, fraction = ''] = match;
  const digits = BigInt(`${whole}${fraction}`);
  const numerator = sign === '-' ? -digits : digits;
  return normalised({ numerator, denominator: 10n ** BigInt(fraction.length) });
}

function add(a: Fraction, b: Fraction): Fraction {
  return normalised({
    numerator: a.numerator * b.denominator + b.numerator * a.denominator,
    denominator: a.denominator * b.denominator,
  });
}

function normalised({ numerator, denominator }: Fraction): Fraction {
  const sign = denominator < 0n ? -1n : 1n;
  const divisor = gcd(numerator < 0n ? -numerator : numerator, denominator * sign) || 1n;
  return { numerator: (sign * numerator) / divisor, denominator: (sign * denominator) / divisor };
}

function gcd(a: bigint, b: bigint): bigint {
  return b === 0n ? a : gcd(b, a % b);
}

/** BigInt division truncates toward zero; rounding down goes one further for a negative rest. */
function floorOf({ numerator, denominator }: Fraction): bigint {
  const quotient = numerator / denominator;
  return numerator % denominator !== 0n && numerator < 0n ? quotient - 1n : quotient;
}
