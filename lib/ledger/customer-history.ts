import { askedOnce } from '../store/lookup';

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
 * One purchase command's question, asked at most once (lib/store/lookup.ts). Without a history
 * (ledger tools and tests that run no Stripe), the stored facts decide alone, as they did
 * before Stripe was asked.
 */
export type EarlierPurchaseLookup = (purchase: RedeemingPurchase) => boolean;

export function earlierPurchaseLookup(history: CustomerHistory | undefined): EarlierPurchaseLookup {
  if (!history) return () => false;
  return askedOnce(
    history,
    (purchase) => purchase.purchaseId,
    (purchase) => `whether ${purchase.customerId} purchased before ${purchase.purchaseId}`,
  );
}

/** A paid renewal carrying a code, with no earlier paid invoice of its subscription known. */
export type PaidRenewal = {
  readonly subscriptionId: string;
  readonly invoiceId: string;
  readonly invoiceCreatedMs: number;
  /** What the stored facts alone say (a delivered $0 start means first): the answer without Stripe. */
  readonly localGuess: boolean;
};

/**
 * C10/C18/C16: whether `renewal` is its subscription's first invoice with money paid, by
 * Stripe's record (lib/stripe/subscription-history.ts answers it from Stripe's list).
 */
export type SubscriptionHistory = (renewal: PaidRenewal) => Promise<boolean>;

/** The same for a subscription's question; without a history the stored facts' guess stands. */
export type FirstPaidLookup = (renewal: PaidRenewal) => boolean;

export function firstPaidLookup(history: SubscriptionHistory | undefined): FirstPaidLookup {
  if (!history) return (renewal) => renewal.localGuess;
  return askedOnce(
    history,
    (renewal) => renewal.invoiceId,
    (renewal) =>
      `whether ${renewal.invoiceId} is the first paid invoice of ${renewal.subscriptionId}`,
  );
}
