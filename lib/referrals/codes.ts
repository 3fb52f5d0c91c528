import { randomBytes } from 'node:crypto';

/**
 * C9: referral codes are 10 characters of Crockford base32 (50 bits from the OS's CSPRNG),
 * shown as XXXXX-XXXXX. The alphabet has no I, L, O or U, so nothing is ambiguous to read or
 * type; lookup folds case, drops dashes and spaces, and maps the look-alikes (I/L -> 1, O -> 0)
 * as Crockford's spec says.
 */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const CODE_LENGTH = 10;

/** A new random code in its canonical form (no dash), from `bytes` random bytes (>= 7). */
export function generateReferralCode(random: (size: number) => Buffer = randomBytes): string {
  // 10 symbols x 5 bits = 50 bits, taken from 7 random bytes (56 bits).
  const bytes = random(7);
  let bits = 0n;
  for (const byte of bytes) bits = (bits << 8n) | BigInt(byte);
  let code = '';
  for (let i = 0; i < CODE_LENGTH; i++) {
    code += ALPHABET[Number(bits & 31n)];
    bits >>= 5n;
  }
  return code;
}

/** The form people see and type: two groups of five. */
export function displayReferralCode(code: string): string {
  return `${code.slice(0, 5)}-${code.slice(5)}`;
}

/**
 * The canonical form of what someone typed, or null when it cannot be a code at all.
 * `abcde-fghjk`, `ABCDEFGHJK` and ` abcde fghjk ` are the same code.
 */
export function normalizeReferralCode(typed: string): string | null {
  const folded = typed.toUpperCase().replace(/[\s-]/g, '').replace(/[IL]/g, '1').replace(/O/g, '0');
  if (folded.length !== CODE_LENGTH) return null;
  for (const char of folded) if (!ALPHABET.includes(char)) return null;
  return folded;
}
