import { ConfigError } from '../errors';
import type { CustomerHistory, RedeemingPurchase } from '../ledger/customer-history';
import type { Logger } from '../log';
import { type StripeAccess, stripeFault } from './client';
import { UnexpectedPayloadError } from './errors';

/** Stripe's answer, or without a key the local one (nothing earlier) and why. */
export type EarlierPurchaseAnswer = { readonly earlier: boolean; readonly note?: string };

/**
 * C10/C12/C16: whether Stripe records a purchase of the customer (money paid) at or before
 * `purchase`, other than that purchase itself. Asked only for a redemption the stored facts
 * allow (lib/ledger/redemptions.ts), so that a code is rejected as `not_new_customer` whether
 * or not the earlier purchase has been delivered yet. Two lists, each read to its end:
 * - the customer's paid invoices created up to the purchase, with `amount_paid` above zero
 *   (any invoice that took money is a purchase, C10), each at the time the facts would give
 *   it once delivered: a manual invoice (a pack, C21) at `status_transitions.paid_at`, any
 *   other at `created`;
 * - the customer's complete Checkout Sessions in `payment` mode, `payment_status` `paid`,
 *   with `amount_total` above zero and no invoice, at the Session's `created`: Stripe keeps no
 *   payment time on a Session, so the facts count such a pack at its creation too
 *   (lib/stripe/packs.ts), even when an asynchronous payment completed it later. A Session
 *   that created an invoice is that invoice's purchase, listed above at its payment.
 * A purchase in the same second counts as earlier: Stripe's times cannot order the two, and
 * so the code is rejected whichever is delivered first (the facts keep the first delivered
 * as the customer's first purchase and then reject the other). A deployment without
 * STRIPE_SECRET_KEY gets "nothing earlier" and a note: the facts decide, as before.
 */
export async function hadEarlierPurchase(
  stripe: StripeAccess,
  purchase: RedeemingPurchase,
): Promise<EarlierPurchaseAnswer> {
  const { customerId, purchaseId } = purchase;
  let client: Awaited<ReturnType<StripeAccess>>;
  try {
    client = await stripe(`tell whether ${customerId} purchased before ${purchaseId}`);
  } catch (error) {
    if (error instanceof ConfigError) return { earlier: false, note: error.message };
    throw error;
  }
  const upTo = Math.floor(purchase.purchasedAtMs / 1000);
  const created = { lte: upTo };
  const earlier = (atSeconds: number) => atSeconds <= upTo;
  try {
    const invoices = client.invoices.list({
      customer: customerId,
      status: 'paid',
      created,
      limit: 100,
    });
    for await (const invoice of invoices) {
      if (invoice.id !== purchaseId && paidMoney(invoice) && earlier(invoiceTime(invoice))) {
        return { earlier: true };
      }
    }
  } catch (error) {
    throw asFault(error, `GET /v1/invoices?customer=${customerId}`);
  }
  try {
    const sessions = client.checkout.sessions.list({
      customer: customerId,
      status: 'complete',
      created,
      limit: 100,
    });
    for await (const session of sessions) {
      if (
        isOtherPack(session, purchaseId) &&
        earlier(numberField(session, 'created', 'checkout.sessions'))
      ) {
        return { earlier: true };
      }
    }
  } catch (error) {
    throw asFault(error, `GET /v1/checkout/sessions?customer=${customerId}`);
  }
  return { earlier: false };
}

/**
 * The ledger's question, answered by Stripe; a deployment without a key is warned about on each
 * redemption it decides alone, as for a trial's renewal (lib/stripe/subscription-history.ts).
 */
export function customerHistoryOf(stripe: StripeAccess, logger: Logger): CustomerHistory {
  return async (purchase) => {
    const answer = await hadEarlierPurchase(stripe, purchase);
    if (answer.note) {
      logger.warn('referral code on a first purchase decided without Stripe', {
        customerId: purchase.customerId,
        purchaseId: purchase.purchaseId,
        note: answer.note,
      });
    }
    return answer.earlier;
  };
}

function asFault(error: unknown, what: string): Error {
  return error instanceof UnexpectedPayloadError ? error : stripeFault(what, error);
}

type Listed = { readonly id?: string };

function paidMoney(invoice: Listed): boolean {
  return numberField(invoice, 'amount_paid', 'invoices') > 0;
}

/** As lib/stripe/events.ts times an invoice's purchase: a pack when paid, others when created. */
function invoiceTime(
  invoice: Listed & { billing_reason?: unknown; status_transitions?: unknown },
): number {
  const created = numberField(invoice, 'created', 'invoices');
  if (invoice.billing_reason !== 'manual') return created;
  const paidAt = (invoice.status_transitions as { paid_at?: unknown } | null | undefined)?.paid_at;
  if (paidAt === null || paidAt === undefined) return created;
  if (typeof paidAt !== 'number') {
    throw new UnexpectedPayloadError(
      `invoices.${invoice.id}.status_transitions.paid_at`,
      'is not a number',
    );
  }
  return paidAt;
}

/** C21: a paid pack bought through Checkout, other than the purchase asking. */
function isOtherPack(
  session: Listed & {
    mode?: unknown;
    payment_status?: unknown;
    amount_total?: unknown;
    invoice?: unknown;
  },
  purchaseId: string,
): boolean {
  if (session.mode !== 'payment' || session.payment_status !== 'paid') return false;
  if (session.id === purchaseId) return false;
  // Its invoice is the purchase, listed with the invoices at its payment as the facts count it.
  if (idOf(session.invoice) !== undefined) return false;
  const total = session.amount_total;
  if (total === null) return false;
  if (typeof total !== 'number') {
    throw new UnexpectedPayloadError(
      `checkout.sessions.${session.id}.amount_total`,
      'is not a number',
    );
  }
  return total > 0;
}

function idOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  const id = (value as { id?: unknown } | null | undefined)?.id;
  return typeof id === 'string' ? id : undefined;
}

function numberField(object: Listed, field: string, list: string): number {
  const value = (object as Record<string, unknown>)[field];
  if (typeof value !== 'number') {
    throw new UnexpectedPayloadError(`${list}.${object.id}.${field}`, 'is not a number');
  }
  return value;
}
