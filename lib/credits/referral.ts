import { randomBytes } from 'node:crypto';
import { grantLots } from './changes';
import { LotSource, newLot, QUIET_GRANT_WINDOW_MS } from './lots';
import { type CustomerState, EntryType, type StateChange, totalDebt } from './state';

/** C11: each side gets half the credits of the first purchase, rounded down. */
export function referralBonus(purchaseCredits: number): number {
  return Math.floor(purchaseCredits / 2);
}

export const RejectionReason = {
  unknownCode: 'unknown_code',
  ownCode: 'own_code',
  notNewCustomer: 'not_new_customer',
  alreadyRedeemed: 'already_redeemed',
} as const;
export type RejectionReason = (typeof RejectionReason)[keyof typeof RejectionReason];

export type Redemption = {
  /** The purchase: an invoice id, or a Checkout Session's for a pack without one (C21). */
  readonly invoiceId: string;
  readonly code: string;
  /** C11's base: the purchase's credits, or its first month's for a longer period. */
  readonly purchaseCredits: number;
  /** The first purchase's period start: when both bonus lots are granted (C4, C11). */
  readonly periodStartMs: number;
};

/**
 * C10/C12: the customer is new when the first purchase we know of (money paid, by Stripe's
 * time) is this one. A customer who paid before (an earlier subscription, cancelled since, or
 * a pack) is not. When this is the first known, Stripe has the last word on purchases not
 * delivered yet (lib/ledger/redemptions.ts, lib/stripe/customer-history.ts).
 */
export function isNewCustomer(referee: CustomerState, purchaseId: string): boolean {
  const first = referee.facts.firstPurchase;
  return !first || first.id === purchaseId;
}

/** Why a code cannot be redeemed by `referee`, or null when it can (C12). */
export function rejectionOf(
  referee: CustomerState,
  referrerId: string | undefined,
  invoiceId: string,
): RejectionReason | null {
  if (!referrerId) return RejectionReason.unknownCode;
  if (referrerId === referee.customerId) return RejectionReason.ownCode;
  if (referee.facts.redemption) return RejectionReason.alreadyRedeemed;
  if (!isNewCustomer(referee, invoiceId)) return RejectionReason.notNewCustomer;
  return null;
}

/**
 * C11/C12: the bonus lots of a valid redemption. The referee's lot and the redemption marker
 * change the referee's state; the referrer's lot is written quietly (lot and entry only), so
 * that thousands of referees of one popular code never write a common item. A late bonus
 * (granted more than QUIET_GRANT_WINDOW_MS before `nowMs`, e.g. from a backfill) is written
 * with the referrer's account instead, see lib/store/lot-cache.ts. The referrer gets the bonus
 * whatever their own subscription status (C12): it is then an ordinary lot.
 */
export function redeem(
  referee: CustomerState,
  referrer: CustomerState,
  redemption: Redemption,
  nowMs: number,
): { referee: StateChange; referrer?: StateChange; bonus: number } {
  const bonus = referralBonus(redemption.purchaseCredits);
  const marker = {
    ...referee.facts,
    redemption: {
      code: redemption.code,
      referrerId: referrer.customerId,
      invoiceId: redemption.invoiceId,
    },
  };
  const lot = (id: string, ref: string) =>
    newLot({
      id,
      source: LotSource.referralBonus,
      credits: bonus,
      grantedAtMs: redemption.periodStartMs,
      ref,
    });
  const entry = (id: string, reason: string) => ({
    id,
    type: EntryType.referralBonus,
    atMs: redemption.periodStartMs,
    ref: redemption.invoiceId,
    reason,
  });
  const refereeChange = grantLots(
    referee,
    entry(`referral#${redemption.invoiceId}`, `redeemed referral code of ${referrer.customerId}`),
    bonus === 0 ? [] : [lot(`referral#${redemption.invoiceId}`, redemption.invoiceId)],
    { facts: marker },
  );
  if (bonus === 0) {
    // A one-credit purchase earns nobody anything, but the one redemption is still used up.
    return { referee: { ...refereeChange, entries: [] }, bonus };
  }
  // C23: a referrer who owes must repay from the bonus, which only a write of the account can do.
  const quiet =
    redemption.periodStartMs >= nowMs - QUIET_GRANT_WINDOW_MS && totalDebt(referrer.facts) === 0;
  const referrerLot = lot(`referral#${referee.customerId}`, referee.customerId);
  const referrerChange = grantLots(
    referrer,
    entry(`referral#${referee.customerId}`, `referred ${referee.customerId}`),
    [quiet ? { ...referrerLot, quiet: true } : referrerLot],
    { quiet },
  );
  return { referee: refereeChange, referrer: referrerChange, bonus };
}

/**
 * C9: referral codes are 10 characters of Crockford base32 (50 bits from the OS's CSPRNG),
 * shown as XXXXX-XXXXX. The alphabet has no I, L, O or U, so nothing is ambiguous to read or
 * type; lookup folds case, drops dashes and spaces, and maps the look-alikes (I/L -> 1, O -> 0)
 * as Crockford's spec says.
 */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const CODE_LENGTH = 10;

/** A new random code in its canonical form (no dash), from 7 random bytes. */
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
 * What a typed code may carry besides its characters: any dash (ASCII, en and em dashes,
 * minus signs), any space, and invisible format characters (zero-width spaces and joiners,
 * soft hyphens, byte-order marks) that copying from a web page or a chat brings along.
 */
const IGNORED_IN_CODES = /[\p{Dash_Punctuation}\u2212\p{White_Space}\p{Cf}]/gu;

/**
 * The canonical form of what someone typed, or null when it cannot be a code at all.
 * `abcde-fghjk`, `ABCDEFGHJK`, ` abcde fghjk ` and `ABCDE\u2013FGHJK` are the same code.
 * NFKC first, so full-width letters and digits count as the ASCII ones they look like.
 */
export function normalizeReferralCode(typed: string): string | null {
  const folded = typed
    .normalize('NFKC')
    .replace(IGNORED_IN_CODES, '')
    .toUpperCase()
    .replace(/[IL]/g, '1')
    .replace(/O/g, '0');
  if (folded.length !== CODE_LENGTH) return null;
  for (const char of folded) if (!ALPHABET.includes(char)) return null;
  return folded;
}
