import { type Redemption, RejectionReason, redeem, rejectionOf } from '../credits/referral';
import { type CustomerState, mergeChanges, type StateChange, stateAfter } from '../credits/state';
import { stateIn } from '../store/command';
import type { EarlierPurchaseLookup } from './customer-history';

/** What became of a referral code a purchase carried (C10-C12). */
export type RedemptionOutcome =
  | {
      readonly result: 'redeemed';
      readonly referrerId: string;
      readonly bonus: number;
      readonly referrerBonus: number;
    }
  | { readonly result: 'rejected'; readonly reason: RejectionReason }
  /** A renewal carries the subscription's code too, but only a first purchase redeems. */
  | { readonly result: 'not_first_purchase'; readonly billingReason: string }
  /** C10/C18: a $0 invoice is no purchase; the code waits for the first money paid. */
  | { readonly result: 'not_a_purchase' };

export type RedemptionRequest = Omit<Redemption, 'invoiceId' | 'code'> & {
  readonly purchaseId: string;
  /** The code in its canonical form, or null when what was typed cannot be a code. */
  readonly code: string | null;
  readonly referrerId: string | undefined;
  readonly nowMs: number;
  /** The purchase's time as the customer's facts order purchases (C10). */
  readonly purchasedAtMs: number;
  /** C16: asks Stripe whether the customer purchased before, when the facts know nothing earlier. */
  readonly earlierPurchase?: EarlierPurchaseLookup;
};

/**
 * C10-C12 on the customer's state after the purchase: a code on the customer's first purchase
 * redeems once, giving both sides a bonus; a rejection is recorded with its reason in the
 * purchase's fact and gives nothing. Returns the changes for the referee (to merge into the
 * purchase's) and the referrer, and the referee's state after them.
 */
export function decideRedemption(
  states: ReadonlyMap<string, CustomerState>,
  customer: CustomerState,
  request: RedemptionRequest,
): { outcome: RedemptionOutcome; changes: StateChange[]; state: CustomerState } {
  const referrerId = request.code ? request.referrerId : undefined;
  const rejection =
    rejectionOf(customer, referrerId, request.purchaseId) ??
    notNewByStripe(customer.customerId, request);
  if (rejection || !request.code || !referrerId) {
    return {
      outcome: { result: 'rejected', reason: rejection ?? 'unknown_code' },
      changes: [],
      state: customer,
    };
  }
  const redeemed = redeem(
    customer,
    stateIn(states, referrerId),
    {
      invoiceId: request.purchaseId,
      code: request.code,
      purchaseCredits: request.purchaseCredits,
      periodStartMs: request.periodStartMs,
    },
    request.nowMs,
  );
  return {
    outcome: {
      result: 'redeemed',
      referrerId,
      bonus: redeemed.bonus,
      referrerBonus: redeemed.referrer ? redeemed.bonus : 0,
    },
    changes: [redeemed.referee, ...(redeemed.referrer ? [redeemed.referrer] : [])],
    state: stateAfter(customer, redeemed.referee),
  };
}

/**
 * C10/C12/C16: the facts know no purchase of the customer before this one, but an earlier one
 * may not have been delivered yet: Stripe's record decides, so that the outcome is the same in
 * either delivery order. Asked only here, for a redemption the facts allow: once per customer,
 * since it then redeems or is rejected for good, and never for a renewal or a rejected code.
 */
function notNewByStripe(customerId: string, request: RedemptionRequest): RejectionReason | null {
  if (!request.code || !request.referrerId || !request.earlierPurchase) return null;
  const { purchaseId, purchasedAtMs } = request;
  return request.earlierPurchase({ customerId, purchaseId, purchasedAtMs })
    ? RejectionReason.notNewCustomer
    : null;
}

/** A purchase's own change followed by the redemption's: one change per customer. */
export function withRedemption(
  own: StateChange | undefined,
  redemption: readonly StateChange[],
): StateChange[] {
  const [referee, ...others] = redemption;
  if (!own) return [...redemption];
  if (referee && referee.customerId === own.customerId) {
    return [mergeChanges(own, referee), ...others];
  }
  return [own, ...redemption];
}
