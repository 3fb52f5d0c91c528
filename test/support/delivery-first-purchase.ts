import type { PlannedEvent } from './delivery-model';

/**
 * C10/C12/C16 in the delivery property test: which of a customer's purchases may share a
 * shuffled part with a purchase that may redeem a code, and what Stripe lists of them.
 *
 * lib/ decides "the customer is new" by Stripe's record: a redemption the delivered facts allow
 * asks Stripe for the customer's purchases at or before it (lib/stripe/customer-history.ts),
 * and the test fills the fake Stripe API with every invoice and Checkout Session of a part
 * before delivering it. So two first purchases of one customer, delivered in either order,
 * decide the same. The reference model reads the same record (`stripeListing`, given to it as
 * each part is listed): a purchase planned after the redeeming one but at or before it in
 * Stripe's time (a subscription anchored hours back, or one in the same second, which Stripe's
 * whole seconds cannot order) makes the code `not_new_customer` there as in lib/, so such
 * pairs share parts.
 *
 * One pair keeps apart in either order: a redeeming purchase and a Checkout pack paid
 * asynchronously. Stripe keeps no payment time on a Session, so lib/ counts a listed Session at
 * its creation (the unpaid completion), whereas the facts and the model count the pack at its
 * payment an hour later: a redemption in that hour would depend on the delivery order.
 */
export function firstPurchaseConflicts(a: PlannedEvent, b: PlannedEvent): boolean {
  if (a.customer !== b.customer) return false;
  const purchaseA = purchaseOf(a);
  const purchaseB = purchaseOf(b);
  if (purchaseA === undefined || purchaseB === undefined || purchaseA === purchaseB) return false;
  return (mayRedeem(a) && paidLater(b)) || (mayRedeem(b) && paidLater(a));
}

/**
 * The purchase an event shows in Stripe's lists of the customer's purchases, and its time there
 * as lib/ compares it (whole seconds): an invoice at its creation (its period start), a pack
 * invoice at its payment, a change at its time, a Checkout Session at `sessionCreated` (when it
 * first completed: Stripe keeps no later time on it), a Session's invoice at its payment.
 * Undefined for what is no purchase (no money paid, C10/C18) or not paid yet.
 */
export function stripeListing(
  event: PlannedEvent,
  sessionCreated: number | undefined,
): { purchaseId: string; atSeconds: number } | undefined {
  const purchaseId = purchaseOf(event);
  const atSeconds =
    event.kind === 'checkout' && event.type !== 'invoice.paid' && event.paid
      ? sessionCreated
      : purchaseSeconds(event);
  if (purchaseId === undefined || atSeconds === undefined) return undefined;
  if (event.kind === 'checkout' && event.amountPaid <= 0) return undefined;
  return { purchaseId, atSeconds };
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
 * The purchase's time as the invoice or Checkout event gives it (whole seconds, as Stripe sends
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
