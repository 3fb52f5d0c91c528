import { factsOf, type ReversalEvent } from './delivery-reversals';

/**
 * The reference side of money going back (C22-C24) in the delivery property test, written from
 * DOMAIN.md alone. Which lots a take-back finds depends on what the customer did before, and a
 * replay in another order may split what remains over the lots differently (docs/functions.md),
 * so the model does not follow reversals lot by lot. What the rules fix, it predicts exactly:
 * - C22: after each reversal the purchase (and the referee's bonus, C24) has lost
 *   `floor(credits x reversed so far / paid)` in all, each reversal counted once by its key,
 *   an undone one no more, whatever the order: so a part of deliveries moves the purchaser's
 *   credits (balance + upcoming) minus debt by exactly the change of that loss.
 * - C23: what a take-back cannot find is debt: the credits found are min(loss, credits there),
 *   the rest owed; an undo gives back (cancels debt first, the rest as a lot, nothing if the
 *   purchase's lots have expired by then).
 * - C24: the referrer loses at most their share of the change, never as debt.
 */

export type BookPurchase = {
  customerId: string;
  /** C22: every credit the purchase granted, the months not yet granted included (C20). */
  credits: number;
  paid: number;
  /** C24: the referee's bonus, and the referrer's (their customer id), if it redeemed a code. */
  bonus: number;
  referrerId: string | undefined;
  /** When the purchase's own lots expire (the latest): an undo's give-back lives as long. */
  expiresAtMs: number;
};

type Fact = { amount: number; undone: boolean };

/** The loss change a part made to one purchase: the purchaser's exactly, the referrer's at most. */
export type LossChange = {
  purchaseId: string;
  customerId: string;
  referrerId: string | undefined;
  /** Positive: taken back; negative: given back. */
  own: number;
  referrer: number;
  /** C23: an undo's give-back lot would be expired already, so only debt is cancelled. */
  giveBackExpired: boolean;
};

export class ReversalBook {
  private readonly purchases = new Map<string, BookPurchase>();
  private readonly facts = new Map<string, Map<string, Fact>>();

  /** The purchase's grant was applied (the model's own C3/C21 reading). */
  granted(purchaseId: string, purchase: BookPurchase): void {
    if (!this.purchases.has(purchaseId)) this.purchases.set(purchaseId, purchase);
  }

  /**
   * C22/C23: one event's reversals, each once by its key; an undo stays an undo, even when it
   * arrives before its reversal (the reversal then changes nothing).
   */
  apply(purchaseId: string, event: ReversalEvent): void {
    let known = this.facts.get(purchaseId);
    if (!known) {
      known = new Map();
      this.facts.set(purchaseId, known);
    }
    for (const fact of factsOf(event)) {
      const seen = known.get(fact.key);
      known.set(fact.key, {
        amount: seen?.amount ?? fact.amount,
        undone: (seen?.undone ?? false) || fact.undo,
      });
    }
  }

  /** C22: money gone back so far, undone reversals left out, at most what was paid. */
  private reversed(purchaseId: string, paid: number): number {
    let sum = 0;
    for (const fact of this.facts.get(purchaseId)?.values() ?? []) {
      if (!fact.undone) sum += fact.amount;
    }
    return Math.min(sum, paid);
  }

  /** C22/C24: what the purchase and the referee's bonus have lost; the referrer's bonus. */
  losses(purchaseId: string): { own: number; referrer: number } {
    const purchase = this.purchases.get(purchaseId);
    if (!purchase || purchase.paid <= 0) return { own: 0, referrer: 0 };
    const reversed = this.reversed(purchaseId, purchase.paid);
    const share = (credits: number) => Math.floor((credits * reversed) / purchase.paid);
    return {
      own: share(purchase.credits) + share(purchase.bonus),
      referrer: purchase.referrerId === undefined ? 0 : share(purchase.bonus),
    };
  }

  /**
   * Whether the purchase's reversals may have moved any credit, of the purchaser's or the
   * referrer's, at some moment (a take-back and its undo in one part leave the loss as it was,
   * but the give-back is a lot of its own, C23).
   */
  mayHaveMoved(purchaseId: string): { own: boolean; referrer: boolean } {
    const purchase = this.purchases.get(purchaseId);
    if (!purchase || purchase.paid <= 0) return { own: false, referrer: false };
    let all = 0;
    for (const fact of this.facts.get(purchaseId)?.values() ?? []) all += fact.amount;
    const most = Math.min(all, purchase.paid);
    const share = (credits: number) => Math.floor((credits * most) / purchase.paid);
    return {
      own: share(purchase.credits) + share(purchase.bonus) > 0,
      referrer: purchase.referrerId !== undefined && share(purchase.bonus) > 0,
    };
  }

  /** C23: whether an undo now would give back nothing but debt (the purchase's lots expired). */
  expiredAt(purchaseId: string, atMs: number): boolean {
    const purchase = this.purchases.get(purchaseId);
    return purchase !== undefined && purchase.expiresAtMs <= atMs;
  }

  /** The purchaser and referrer of a purchase, once its grant is known. */
  partiesOf(
    purchaseId: string,
  ): { customerId: string; referrerId: string | undefined } | undefined {
    const purchase = this.purchases.get(purchaseId);
    return purchase && { customerId: purchase.customerId, referrerId: purchase.referrerId };
  }

  changes(
    before: ReadonlyMap<string, { own: number; referrer: number }>,
    atMs: number,
  ): LossChange[] {
    return [...before.entries()].flatMap(([purchaseId, was]) => {
      const purchase = this.purchases.get(purchaseId);
      if (!purchase) return [];
      const now = this.losses(purchaseId);
      if (now.own === was.own && now.referrer === was.referrer) return [];
      return [
        {
          purchaseId,
          customerId: purchase.customerId,
          referrerId: purchase.referrerId,
          own: now.own - was.own,
          referrer: now.referrer - was.referrer,
          giveBackExpired: purchase.expiresAtMs <= atMs,
        },
      ];
    });
  }
}

/** A customer's credits as the `credits` balance shows them. */
export type Seen = { balance: number; upcoming: number; debt: number };

export function seenOf(view: {
  balance: number;
  debt: number;
  upcoming: readonly { granted: number }[];
}): Seen {
  const upcoming = view.upcoming.reduce((sum, lot) => sum + lot.granted, 0);
  return { balance: view.balance, upcoming, debt: view.debt };
}

/** What the rules fix about one customer after a part: a range of net credits, maybe the debt. */
export type Expected = { netLow: number; netHigh: number; debt?: readonly number[] };

/**
 * C22-C24 for one customer: from `before` (credits there for a take-back at the reversal's
 * time, and debt) and the loss changes of the part, the range `balance + upcoming - debt` must
 * end in, and the debt where the rules fix it. `spent` is a concurrent spend that succeeded (C15).
 */
export function expectedAfter(
  customerId: string,
  before: Seen,
  changes: readonly LossChange[],
  spent: number,
): Expected {
  const net = before.balance + before.upcoming - before.debt - spent;
  let low = net;
  let high = net;
  let takes = 0;
  let undoes = false;
  let asReferrer = false;
  for (const change of changes) {
    if (change.customerId === customerId && change.own >= 0) {
      low -= change.own;
      high -= change.own;
      takes += change.own;
    } else if (change.customerId === customerId) {
      // C23: debt first, then a lot, unless the purchase's lots have expired by now.
      high -= change.own;
      if (!change.giveBackExpired) low -= change.own;
      undoes = true;
    }
    if (change.referrerId === customerId && change.referrer !== 0) {
      // C24: only from what remains of the bonus lot, never as debt.
      if (change.referrer > 0) low -= change.referrer;
      else high -= change.referrer;
      asReferrer = true;
    }
  }
  const range = { netLow: low, netHigh: high };
  if (takes === 0 && !undoes) return { ...range, debt: [before.debt] };
  if (undoes || asReferrer) return range;
  // C23: a take-back finds min(loss, credits there); the rest is owed. A concurrent spend
  // either went first (less there) or after (it then found enough after the take-back).
  const there = before.balance + before.upcoming;
  const owed = (available: number) => before.debt + Math.max(0, takes - available);
  return { ...range, debt: spent > 0 ? [owed(there - spent), owed(there)] : [owed(there)] };
}
