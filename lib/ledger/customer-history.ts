import { LookupNeeded } from '../store/lookup';

/** A purchase about to redeem a code, as the customer's facts order purchases (C10). */
export type RedeemingPurchase = {
  readonly customerId: string;
  /** The invoice id, or the Checkout Session's for a pack without one (C21). */
  readonly purchaseId: string;
  /** Its time as `firstPurchase` keeps it: an invoice's created, a pack's purchase time. */
  readonly purchasedAtMs: number;
};

/**
 * C10/C12/C16: whether the customer made a purchase (money paid) before `purchase`, by
 * Stripe's record rather than by what has been delivered so far (lib/stripe/customer-history.ts
 * answers it from Stripe's lists).
 */
export type CustomerHistory = (purchase: RedeemingPurchase) => Promise<boolean>;

/**
 * One purchase command's question, asked at most once: the answer is remembered across the
 * runs of its `decide` (a lost race decides again). Without a history (ledger tools and tests
 * that run no Stripe), the stored facts decide alone, as they did before Stripe was asked.
 */
export type EarlierPurchaseLookup = (purchase: RedeemingPurchase) => boolean;

export function earlierPurchaseLookup(history: CustomerHistory | undefined): EarlierPurchaseLookup {
  const answers = new Map<string, boolean>();
  return (purchase) => {
    if (!history) return false;
    const known = answers.get(purchase.purchaseId);
    if (known !== undefined) return known;
    throw new LookupNeeded(
      `whether ${purchase.customerId} purchased before ${purchase.purchaseId}`,
      async () => {
        answers.set(purchase.purchaseId, await history(purchase));
      },
    );
  };
}
