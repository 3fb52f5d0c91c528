import type { ReversalRequest } from '../ledger/reversals';
import { type StripeAccess, stripeFault } from './client';
import { parseCheckoutSession, type StripeEvent } from './events';
import {
  parseCharge,
  parseCreditNote,
  parseDispute,
  parseInvoicePayment,
  parseRefund,
  type Refund,
} from './reversal-objects';
import { type DomainCommand, ignored, type TranslateDeps, type Translation } from './translation';

/**
 * C22-C24: money going back. Each refund, dispute and credit note becomes `reverse` commands
 * keyed by the reversal's own Stripe id, so that a refund seen through `refund.created`,
 * `charge.refunded` and a credit note's `refunds` counts once. A refund or a dispute names a
 * payment, not an invoice: the purchase is found through the payment intent a pack's grant
 * recorded, else through Stripe's invoice payments (cached; a Stripe failure is a fault, so
 * that Stripe retries the delivery and no reversal is lost).
 */

/** The purchase a payment paid for, by customer. */
export type PaymentPurchase = { readonly customerId: string; readonly purchaseId: string };

/** Payment intent -> purchase: a payment never moves to another invoice, so entries stay true. */
const purchasesOfPayments = new Map<string, PaymentPurchase>();
/** How many payments the cache keeps (oldest forgotten first). */
const MAX_CACHED_PAYMENTS = 1_000;

/** `refund.created`, `refund.updated`, `refund.failed`: a refund, or its failure (C23). */
export async function translateRefund(
  deps: TranslateDeps,
  event: StripeEvent,
): Promise<Translation> {
  const refund = parseRefund(event.object);
  return reversalsOfPayment(deps, refund.paymentIntentId, [refundReversal(refund, event)]);
}

/** `charge.refunded`: every refund of the charge so far, each by its own id. */
export async function translateChargeRefunded(
  deps: TranslateDeps,
  event: StripeEvent,
): Promise<Translation> {
  const charge = parseCharge(event.object);
  const refunds = charge.refunds ?? (await refundsOfCharge(deps.stripe, charge.id));
  return reversalsOfPayment(
    deps,
    charge.paymentIntentId,
    refunds.map((refund) => refundReversal(refund, event)),
  );
}

/**
 * `credit_note.created`: the refunds a note carries are reversals of their own (keyed by the
 * refund); the rest of the note (credit to the customer's balance, or paid outside Stripe) is
 * one more, keyed by the note.
 */
export async function translateCreditNote(
  _deps: TranslateDeps,
  event: StripeEvent,
): Promise<Translation> {
  const note = parseCreditNote(event.object);
  const atMs = note.createdMs;
  const refunded = note.refunds.reduce((sum, each) => sum + each.amount, 0);
  const parts: Reversal[] = note.refunds.map((each) => ({
    key: `refund#${each.refundId}`,
    amount: each.amount,
    atMs,
    undo: false,
  }));
  if (note.amount > refunded) {
    parts.push({ key: creditNoteKey(note.id), amount: note.amount - refunded, atMs, undo: false });
  }
  if (parts.length === 0) return ignored('a credit note before payment gives no money back');
  return commandsFor({ customerId: note.customerId, purchaseId: note.invoiceId }, parts);
}

/** `credit_note.voided`: the note's own part is undone (its refunds cannot be). */
export async function translateCreditNoteVoided(
  _deps: TranslateDeps,
  event: StripeEvent,
): Promise<Translation> {
  const note = parseCreditNote(event.object);
  const refunded = note.refunds.reduce((sum, each) => sum + each.amount, 0);
  if (note.amount <= refunded) return ignored('a voided credit note that was all refunds');
  return commandsFor({ customerId: note.customerId, purchaseId: note.invoiceId }, [
    {
      key: creditNoteKey(note.id),
      amount: note.amount - refunded,
      atMs: event.createdMs,
      undo: true,
    },
  ]);
}

/**
 * `charge.dispute.funds_withdrawn` takes back, `funds_reinstated` undoes (C23); `closed` says
 * the same again (lost, or won), so that an endpoint that misses one phase still converges.
 */
export async function translateDispute(
  deps: TranslateDeps,
  event: StripeEvent,
): Promise<Translation> {
  const dispute = parseDispute(event.object);
  const undo = disputeUndone(event.type, dispute.status);
  if (undo === null) return ignored(`dispute status ${dispute.status} moves no money`);
  return reversalsOfPayment(deps, dispute.paymentIntentId, [
    { key: `dispute#${dispute.id}`, amount: dispute.amount, atMs: event.createdMs, undo },
  ]);
}

/** Whether the event withdraws (false) or reinstates (true) a dispute's funds; null: neither. */
function disputeUndone(type: string, status: string): boolean | null {
  if (type === 'charge.dispute.funds_withdrawn') return false;
  if (type === 'charge.dispute.funds_reinstated') return true;
  if (status === 'won') return true;
  if (status === 'lost') return false;
  return null;
}

type Reversal = Omit<ReversalRequest, 'customerId' | 'purchaseId'>;

function creditNoteKey(creditNoteId: string): string {
  return `credit_note#${creditNoteId}`;
}

/** C22: a refund at its own time; a failed one undone at the time Stripe said so. */
function refundReversal(refund: Refund, event: StripeEvent): Reversal {
  return {
    key: `refund#${refund.id}`,
    amount: refund.amount,
    atMs: refund.failed ? event.createdMs : refund.createdMs,
    undo: refund.failed,
  };
}

async function reversalsOfPayment(
  deps: TranslateDeps,
  paymentIntentId: string | null,
  parts: readonly Reversal[],
): Promise<Translation> {
  if (parts.length === 0) return ignored('no refund listed');
  if (!paymentIntentId) return ignored('no payment intent: not a payment for a purchase');
  const purchase = await purchaseOfPayment(deps, paymentIntentId);
  if (!purchase) {
    return ignored(`payment ${paymentIntentId} paid for no invoice or pack known (C24)`);
  }
  return commandsFor(purchase, parts);
}

function commandsFor(purchase: PaymentPurchase, parts: readonly Reversal[]): Translation {
  const commands: DomainCommand[] = parts.map((part) => ({
    kind: 'reverse',
    reversal: { ...purchase, ...part },
  }));
  return { kind: 'commands', commands, skippedLines: [] };
}

/**
 * C24: the purchase a payment intent paid for: a pack without an invoice through what its
 * grant recorded, an invoice through Stripe's invoice payments (with the invoice expanded, for
 * its customer).
 */
export async function purchaseOfPayment(
  deps: TranslateDeps,
  paymentIntentId: string,
): Promise<PaymentPurchase | undefined> {
  const cached = purchasesOfPayments.get(paymentIntentId);
  if (cached) return cached;
  const found =
    (await deps.purchaseOfPayment?.(paymentIntentId)) ??
    (await invoiceOfPayment(deps.stripe, paymentIntentId)) ??
    (await sessionOfPayment(deps.stripe, paymentIntentId));
  if (found) {
    if (purchasesOfPayments.size >= MAX_CACHED_PAYMENTS) {
      const oldest = purchasesOfPayments.keys().next().value;
      if (oldest !== undefined) purchasesOfPayments.delete(oldest);
    }
    purchasesOfPayments.set(paymentIntentId, found);
  }
  return found;
}

async function invoiceOfPayment(
  stripe: StripeAccess,
  paymentIntentId: string,
): Promise<PaymentPurchase | undefined> {
  const client = await stripe(`find the invoice payment intent ${paymentIntentId} paid`);
  let data: unknown[];
  try {
    const page = await client.invoicePayments.list({
      payment: { type: 'payment_intent', payment_intent: paymentIntentId },
      expand: ['data.invoice'],
      limit: 10,
    });
    data = page.data;
  } catch (error) {
    throw stripeFault(`GET /v1/invoice_payments for ${paymentIntentId}`, error);
  }
  for (const [index, each] of data.entries()) {
    const payment = parseInvoicePayment(each, `invoice_payments.data.${index}`);
    if (payment.customerId)
      return { customerId: payment.customerId, purchaseId: payment.invoiceId };
  }
  return undefined;
}

/**
 * C16/C24: a pack bought without an invoice whose grant has not been processed yet (its refund
 * came first) is found through its Checkout Session, so that the reversal waits for the grant
 * instead of being lost.
 */
async function sessionOfPayment(
  stripe: StripeAccess,
  paymentIntentId: string,
): Promise<PaymentPurchase | undefined> {
  const client = await stripe(`find the Checkout Session payment intent ${paymentIntentId} paid`);
  let data: unknown[];
  try {
    data = (await client.checkout.sessions.list({ payment_intent: paymentIntentId, limit: 1 }))
      .data;
  } catch (error) {
    throw stripeFault(`GET /v1/checkout/sessions for ${paymentIntentId}`, error);
  }
  const session = data[0] === undefined ? undefined : parseCheckoutSession(data[0]);
  if (!session?.customerId || session.mode !== 'payment') return undefined;
  return { customerId: session.customerId, purchaseId: session.invoiceId ?? session.id };
}

/** The refunds of a charge whose event did not list them (bounded by Stripe's page size). */
async function refundsOfCharge(stripe: StripeAccess, chargeId: string): Promise<Refund[]> {
  const client = await stripe(`list the refunds of charge ${chargeId}`);
  let data: unknown[];
  try {
    data = (await client.refunds.list({ charge: chargeId, limit: 100 })).data;
  } catch (error) {
    throw stripeFault(`GET /v1/refunds?charge=${chargeId}`, error);
  }
  return data.map((each, index) => parseRefund(each, `refunds.data.${index}`));
}

/** For tests that run several fakes of Stripe in one process. */
export function forgetPaymentPurchases(): void {
  purchasesOfPayments.clear();
}
