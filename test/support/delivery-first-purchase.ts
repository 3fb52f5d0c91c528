import type { PlannedEvent } from './delivery-model';

/**
 * C10/C12/C16 in the delivery property test: what Stripe lists of a customer's purchases.
 *
 * lib/ decides "the customer is new" by Stripe's record: a redemption the delivered facts allow
 * asks Stripe for the customer's purchases at or before it (lib/stripe/customer-history.ts),
 * and the test fills the fake Stripe API with every invoice and Checkout Session of a part
 * before delivering it. So two first purchases of one customer, delivered in either order,
 * decide the same, and any two may share a shuffled part. The reference model reads the same
 * record (given to it as each part is listed): a purchase planned after the redeeming one but at
 * or before it in Stripe's time (a subscription anchored hours back, a Checkout Session created
 * before it and paid after, or one in the same second, which Stripe's whole seconds cannot
 * order) makes the code `not_new_customer` there as in lib/.
 *
 * Returns the purchase an event shows in those lists and its time there as lib/ compares it
 * (whole seconds): an invoice at its creation (its period start), a pack invoice at its
 * payment, a change at its time, a Checkout Session without an invoice at its creation (Stripe
 * keeps no payment time on a Session, so an asynchronous payment completed an hour later still
 * counts then, lib/stripe/packs.ts), one with an invoice at the invoice's payment. Undefined for
 * what is no purchase (no money paid, C10/C18) or not paid yet.
 */
export function stripeListing(
  event: PlannedEvent,
): { purchaseId: string; atSeconds: number } | undefined {
  const purchaseId = purchaseOf(event);
  const atSeconds =
    event.kind === 'checkout' && event.invoiceId === null && event.paid
      ? Math.floor(event.sessionCreatedMs / 1000)
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
