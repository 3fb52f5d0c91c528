import { ConfigError } from '../errors';
import type { SubscriptionHistory } from '../ledger/customer-history';
import type { Logger } from '../log';
import { type StripeAccess, stripeFault } from './client';
import { UnexpectedPayloadError } from './errors';

/** Stripe's answer, or without a key the local one (not first) and why. */
export type FirstPaidAnswer = { readonly first: boolean; readonly note?: string };

/**
 * C10/C18/C16: whether `invoiceId` is the first invoice of `subscriptionId` with money paid,
 * from Stripe's list of the subscription's paid invoices created up to it. Asked only when a
 * paid renewal carrying a referral code arrives before anything earlier of its subscription
 * (lib/ledger/subscriptions.ts, from inside the grant's decision): a trial's first paid renewal then
 * redeems the code as it would had the $0 invoice been delivered first. A deployment without
 * STRIPE_SECRET_KEY gets "not first" and a note, as for promotion codes: failing the grant
 * until the $0 invoice shows up could lose it, which costs more than a bonus.
 */
export async function isFirstPaidInvoice(
  stripe: StripeAccess,
  invoice: { subscriptionId: string; invoiceId: string; createdMs: number },
): Promise<FirstPaidAnswer> {
  const { subscriptionId, invoiceId, createdMs } = invoice;
  let client: Awaited<ReturnType<StripeAccess>>;
  try {
    client = await stripe(
      `tell whether ${invoiceId} is the first paid invoice of ${subscriptionId}`,
    );
  } catch (error) {
    if (error instanceof ConfigError) return { first: false, note: error.message };
    throw error;
  }
  try {
    const earlier = client.invoices.list({
      subscription: subscriptionId,
      status: 'paid',
      created: { lte: Math.floor(createdMs / 1000) },
      limit: 100,
    });
    for await (const other of earlier) {
      if (other.id !== invoiceId && paidMoney(other)) return { first: false };
    }
  } catch (error) {
    if (error instanceof UnexpectedPayloadError) throw error;
    throw stripeFault(`GET /v1/invoices?subscription=${subscriptionId}`, error);
  }
  return { first: true };
}

function paidMoney(invoice: { id?: string; amount_paid?: unknown }): boolean {
  if (typeof invoice.amount_paid !== 'number') {
    throw new UnexpectedPayloadError(`invoices.${invoice.id}.amount_paid`, 'is not a number');
  }
  return invoice.amount_paid > 0;
}

/**
 * The ledger's question, answered by Stripe. Without a key the stored facts' guess stands (a
 * delivered $0 start means first), with a warning on each renewal so decided.
 */
export function subscriptionHistoryOf(stripe: StripeAccess, logger: Logger): SubscriptionHistory {
  return async (renewal) => {
    const answer = await isFirstPaidInvoice(stripe, {
      subscriptionId: renewal.subscriptionId,
      invoiceId: renewal.invoiceId,
      createdMs: renewal.invoiceCreatedMs,
    });
    if (!answer.note) return answer.first;
    logger.warn('referral code on a renewal decided without Stripe', {
      invoiceId: renewal.invoiceId,
      note: answer.note,
    });
    return renewal.localGuess;
  };
}
