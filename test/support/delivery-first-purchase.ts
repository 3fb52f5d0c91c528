import type { PlannedEvent } from './delivery-model';

/**
 * C10/C12/C16 in the delivery property test: which of a customer's purchases may share a
 * shuffled part with a purchase that may redeem a code.
 *
 * lib/ decides "the customer is new" by Stripe's record: a redemption the delivered facts allow
 * asks Stripe for the customer's purchases at or before it (lib/stripe/customer-history.ts),
 * and the test fills the fake Stripe API with every invoice and Checkout Session of a part
 * before delivering it. So two first purchases of one customer, delivered in either order,
 * decide the same. The reference model, though, decides in the plan's order: at a redemption it
 * knows only the purchases planned before it. The two agree unless a purchase planned AFTER the
 * redeeming one is at or before it in Stripe's time (a subscription anchored hours back, or
 * one in the same second): lib/ then rejects the code, as C10 says, while the model, which
 * cannot see ahead, redeems. Such pairs keep to separate parts, so that the later one is not yet
 * in Stripe when the redeeming one is delivered, as the plan has it.
 *
 * One more pair keeps apart in either order: a redeeming purchase and a Checkout pack paid
 * asynchronously. Stripe keeps no payment time on a Session, so lib/ counts a listed Session at
 * its creation (the unpaid completion), whereas the facts and the model count the pack at its
 * payment an hour later: a redemption in that hour would depend on the delivery order.
 */
export function firstPurchaseConflicts(a: PlannedEvent, b: PlannedEvent): boolean {
  if (a.customer !== b.customer) return false;
  const purchaseA = purchaseOf(a);
  const purchaseB = purchaseOf(b);
  if (purchaseA === undefined || purchaseB === undefined || purchaseA === purchaseB) return false;
  if ((mayRedeem(a) && paidLater(b)) || (mayRedeem(b) && paidLater(a))) return true;
  if (!mayRedeem(a)) return false;
  const redeemingAt = purchaseSeconds(a);
  const otherAt = purchaseSeconds(b);
  return redeemingAt !== undefined && otherAt !== undefined && otherAt <= redeemingAt;
}

/** The purchase an event pays for: its invoice, or its Checkout Session (C3, C21). */
function purchaseOf(event: PlannedEvent): string | undefined {
  if (event.kind === 'checkout') return event.invoiceId ?? event.sessionId;
  if (event.kind === 'invoice' || event.kind === 'pack' || event.kind === 'change') {
    return event.invoiceId;
  }
  return undefined;
}

/**
 * Whether the event may redeem another customer's code: a first invoice, a trial's paid
 * renewal or plan change (C10/C18), or a paid Checkout pack (C21), with money paid.
 */
function mayRedeem(event: PlannedEvent): boolean {
  if (event.kind !== 'invoice' && event.kind !== 'change' && event.kind !== 'checkout') {
    return false;
  }
  const referral = event.referral;
  if (referral?.kind !== 'codeOf' || referral.customer === event.customer) return false;
  if (event.amountPaid <= 0) return false;
  if (event.kind === 'checkout') return true;
  if (event.kind === 'change') return event.trialStart;
  return event.billingReason === 'subscription_create' || event.trialStart;
}

/** A Checkout pack paid asynchronously: created (completed unpaid) before it is paid. */
function paidLater(event: PlannedEvent): boolean {
  return (
    event.kind === 'checkout' &&
    (event.type === 'checkout.session.async_payment_succeeded' || !event.paid)
  );
}

/**
 * The purchase's time as lib/ orders a customer's purchases (whole seconds, as Stripe sends
 * them): an invoice's creation (its period start), a pack's payment, a change's time, a paid
 * Checkout event's time; undefined for what is no purchase (no money paid, C10/C18).
 */
function purchaseSeconds(event: PlannedEvent): number | undefined {
  const seconds = (ms: number) => Math.floor(ms / 1000);
  switch (event.kind) {
    case 'invoice':
      return event.amountPaid > 0 ? seconds(event.periodStartMs) : undefined;
    case 'pack':
      return event.amountPaid > 0 ? seconds(event.paidAtMs) : undefined;
    case 'change':
      return event.amountPaid > 0 ? seconds(event.changedAtMs) : undefined;
    case 'checkout':
      return event.amountPaid > 0 && event.paid ? seconds(event.atMs) : undefined;
    default:
      return undefined;
  }
}
