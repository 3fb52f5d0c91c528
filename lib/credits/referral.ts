import { type Account, addLots, type Change, EntryType } from './account';
import { LotSource, newLot } from './lots';

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
  readonly invoiceId: string;
  readonly code: string;
  readonly purchaseCredits: number;
  /** The first purchase's period start: when both bonus lots are granted (C4, C11). */
  readonly periodStartMs: number;
};

/**
 * C12: the referrer gets a bonus only while subscribed (they could not hold credits
 * otherwise, C7), and only by a subscription that had started by the purchase, so that the
 * decision does not depend on which of their events Stripe delivered first.
 */
export function referrerIsActive(referrer: Account, atMs: number): boolean {
  return Object.values(referrer.activeSubscriptions).some((sinceMs) => sinceMs <= atMs);
}

/**
 * C10/C12: the customer is new when the first paid invoice we know of is this one. A
 * customer who paid before (an earlier subscription, cancelled since) is not.
 */
export function isNewCustomer(referee: Account, invoiceId: string): boolean {
  return !referee.firstPaidInvoice || referee.firstPaidInvoice.id === invoiceId;
}

/** C11: the bonus lots for both sides of a valid redemption, and the referee marked as redeemed. */
export function redeem(
  referee: Account,
  referrer: Account,
  redemption: Redemption,
): { changes: Change[]; bonus: number; referrerBonus: number } {
  const bonus = referralBonus(redemption.purchaseCredits);
  const lot = (id: string, ref: string) =>
    newLot({
      id,
      source: LotSource.referralBonus,
      credits: bonus,
      grantedAtMs: redemption.periodStartMs,
      ref,
    });
  const entry = (reason: string) => ({
    type: EntryType.referralBonus,
    atMs: redemption.periodStartMs,
    ref: redemption.invoiceId,
    reason,
  });
  const marker = {
    redemption: {
      code: redemption.code,
      referrerId: referrer.customerId,
      invoiceId: redemption.invoiceId,
    },
  };
  if (bonus === 0) {
    // A one-credit purchase earns nobody anything, but the one redemption is still used up.
    return {
      changes: [{ account: { ...referee, ...marker }, entries: [] }],
      bonus,
      referrerBonus: 0,
    };
  }
  const refereeChange = addLots(
    referee,
    entry(`redeemed referral code of ${referrer.customerId}`),
    [lot(`referral#${redemption.invoiceId}`, redemption.invoiceId)],
  );
  const changes: Change[] = [
    { ...refereeChange, account: { ...refereeChange.account, ...marker } },
  ];
  if (!referrerIsActive(referrer, redemption.periodStartMs))
    return { changes, bonus, referrerBonus: 0 };
  const referrerChange = addLots(referrer, entry(`referred ${referee.customerId}`), [
    lot(`referral#${referee.customerId}`, referee.customerId),
  ]);
  return { changes: [...changes, referrerChange], bonus, referrerBonus: bonus };
}
