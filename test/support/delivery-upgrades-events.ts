import type { InvoiceEvent, PlannedReferral } from './delivery-model';
import {
  PACK_PRICE,
  type ProrationLine,
  UNIT_AMOUNT,
  type UpgradeEvent,
} from './delivery-upgrades';
import type { UpgradesModel } from './delivery-upgrades-reference';
import { checkoutEvent, checkoutLineItem, type LineSpec, paidInvoiceEvent } from './stripe-events';

/**
 * The Stripe events of the delivery property test's plan changes (C19) and Checkout packs
 * (C21), built from the plan (test/support/delivery-upgrades.ts), and the facts the reference
 * model reads from them (test/support/delivery-upgrades-reference.ts).
 */

/** The Stripe facts the tests turn into events, with the run's ids. */
export type BodyContext = {
  scoped(id: string): string;
  customerId(n: number): string;
  typedCode(referral: PlannedReferral | null): string | null;
  /** C21: the Session's line items, as the Stripe fake lists them. */
  checkoutLines: Map<string, Record<string, unknown>[]>;
};

const seconds = (ms: number) => Math.floor(ms / 1000);

/** C19: proration lines for the invoice builder. */
export function prorationSpecs(
  prorations: readonly ProrationLine[],
  scoped: (id: string) => string,
): LineSpec[] {
  return prorations.map((line) => ({
    priceId: line.priceId,
    quantity: line.quantity,
    kind: 'proration' as const,
    periodStart: seconds(line.periodStartMs),
    periodEnd: seconds(line.periodEndMs),
    unitAmount: line.unitAmount,
    amount: line.amount,
    lineId: scoped(line.lineId),
  }));
}

export function upgradeBody(event: UpgradeEvent, context: BodyContext): Record<string, unknown> {
  const code = context.typedCode(event.referral);
  const customerId = context.customerId(event.customer);
  if (event.kind === 'change') {
    return paidInvoiceEvent({
      eventId: context.scoped(event.eventId),
      type: event.type,
      customerId,
      subscriptionId: context.scoped(event.subscriptionId),
      invoiceId: context.scoped(event.invoiceId),
      billingReason: 'subscription_update',
      metadata: code === null ? {} : { referral_code: code },
      amountPaid: event.amountPaid,
      created: seconds(event.changedAtMs),
      lines: prorationSpecs(event.prorations, context.scoped),
    });
  }
  const sessionId = context.scoped(event.sessionId);
  const invoiceId = event.invoiceId === null ? null : context.scoped(event.invoiceId);
  const metadata: Record<string, string> = code === null ? {} : { referral_code: code };
  if (event.type === 'invoice.paid') {
    return paidInvoiceEvent({
      eventId: context.scoped(event.eventId),
      customerId,
      subscriptionId: context.scoped(event.subscriptionId),
      invoiceId: invoiceId ?? sessionId,
      billingReason: 'manual',
      amountPaid: event.amountPaid,
      paidAt: seconds(event.atMs),
      invoiceMetadata: metadata,
      lines: [
        {
          kind: 'invoice_item',
          priceId: PACK_PRICE,
          quantity: event.quantity,
          periodStart: seconds(event.atMs),
          unitAmount: UNIT_AMOUNT,
          lineId: context.scoped(`il_${event.sessionId}`),
        },
      ],
    });
  }
  // The Session's lines are not in the event: lib/ lists them from Stripe (C21).
  context.checkoutLines.set(sessionId, [checkoutLineItem(PACK_PRICE, event.quantity)]);
  return checkoutEvent({
    type: event.type,
    eventId: context.scoped(event.eventId),
    customerId,
    sessionId,
    invoiceId,
    paymentIntentId: context.scoped(`pi_${event.sessionId}`),
    amountTotal: event.amountPaid,
    paymentStatus: event.paid ? 'paid' : 'unpaid',
    metadata,
    created: seconds(event.atMs),
    sessionCreated: seconds(event.sessionCreatedMs),
  });
}

/** A renewal's plain line costs its price; its prorations bring the invoice's amount down or up. */
export function plainAmount(invoice: InvoiceEvent): number {
  return invoice.prorations?.length ? UNIT_AMOUNT * invoice.quantity : invoice.amountPaid;
}

/** The model reads the Stripe facts of a change, a renewal with prorations or a Checkout event. */
export function upgradeFacts(
  model: UpgradesModel,
  event: UpgradeEvent | InvoiceEvent,
  context: {
    customerId: string;
    scoped(id: string): string;
    typedCode(referral: PlannedReferral | null): string | null;
    nowMs: number;
  },
): void {
  const { customerId, scoped } = context;
  if (event.kind === 'checkout') {
    if (!event.paid) return;
    model.checkoutPaid(
      {
        customerId,
        purchaseId: scoped(event.invoiceId ?? event.sessionId),
        quantity: event.quantity,
        purchasedAtMs: event.atMs,
        // C10: as Stripe lists it: an invoiced Session by its invoice, paid now; else its creation.
        listedAtMs: event.invoiceId === null ? event.sessionCreatedMs : event.atMs,
        amountPaid: event.amountPaid,
        referralCode: context.typedCode(event.referral),
      },
      context.nowMs,
    );
    return;
  }
  const renewal = event.kind === 'invoice';
  model.invoicePaid(
    {
      customerId,
      invoiceId: scoped(event.invoiceId),
      subscriptionId: scoped(event.subscriptionId),
      billingReason: renewal ? event.billingReason : 'subscription_update',
      createdMs: renewal ? event.periodStartMs : event.changedAtMs,
      amountPaid: event.amountPaid,
      lines: renewal
        ? [
            {
              lineId: scoped(event.lineId),
              priceId: event.priceId,
              quantity: event.quantity,
              periodStartMs: event.periodStartMs,
              periodEndMs: event.periodEndMs,
            },
          ]
        : [],
      referralCode: context.typedCode(event.referral),
      prorations: event.prorations ?? [],
    },
    context.nowMs,
  );
}
