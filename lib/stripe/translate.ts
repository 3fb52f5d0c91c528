import type { SubscriptionGrant } from '../ledger/subscriptions';
import { UnexpectedPayloadError } from './errors';
import {
  type Invoice,
  parseInvoice,
  parseSubscription,
  type StripeEvent,
  type Subscription,
} from './events';
import { allLinesOf, subscriptionLinesOf } from './invoice-lines';
import { packFromInvoice, translateCheckoutCompleted } from './packs';
import { REFERRAL_METADATA_KEY, referralCodeFromDiscounts } from './promotion';
import {
  translateChargeRefunded,
  translateCreditNote,
  translateCreditNoteVoided,
  translateDispute,
  translateRefund,
} from './reversals';
import { ignored, needsStripe, type TranslateDeps, type Translation } from './translation';

export type { SkippedLine } from './invoice-lines';
export type { DomainCommand, TranslateDeps, Translation } from './translation';

type Translator = (deps: TranslateDeps, event: StripeEvent) => Promise<Translation>;

/** One place per event type. Any type not listed here is acknowledged and changes nothing. */
const translators: Readonly<Record<string, Translator>> = {
  'invoice.paid': translatePaidInvoice,
  // The same invoice as `invoice.paid`; an endpoint subscribed to either or both grants once (C3).
  'invoice.payment_succeeded': translatePaidInvoice,
  'customer.subscription.deleted': translateSubscriptionDeleted,
  'customer.subscription.updated': translateSubscriptionUpdated,
  'checkout.session.completed': translateCheckoutCompleted,
  // An asynchronous payment (a bank debit) completes the Session later (C21).
  'checkout.session.async_payment_succeeded': translateCheckoutCompleted,
  // C22-C24: money going back, each refund, dispute and credit note by its own id.
  'charge.refunded': translateChargeRefunded,
  'refund.created': translateRefund,
  // A refund that fails or is canceled later says so in `refund.updated` (and `refund.failed`).
  'refund.updated': translateRefund,
  'refund.failed': translateRefund,
  'credit_note.created': translateCreditNote,
  'credit_note.voided': translateCreditNoteVoided,
  'charge.dispute.funds_withdrawn': translateDispute,
  'charge.dispute.funds_reinstated': translateDispute,
  'charge.dispute.closed': translateDispute,
};

export const HANDLED_EVENT_TYPES: readonly string[] = Object.keys(translators);

export function translateEvent(deps: TranslateDeps, event: StripeEvent): Promise<Translation> {
  const translator = translators[event.type];
  if (!translator) {
    return Promise.resolve({ kind: 'ignored', reason: `event type ${event.type} is not handled` });
  }
  return translator(deps, event);
}

/**
 * C3: a new subscription's first invoice, its renewals, and a plan change that bills a new
 * period or prorations grant; C21: a manual invoice is a pack bought outright.
 */
export const GRANTING_BILLING_REASONS: readonly string[] = [
  'subscription_create',
  'subscription_cycle',
  'subscription_update',
];

async function translatePaidInvoice(deps: TranslateDeps, event: StripeEvent): Promise<Translation> {
  const invoice = parseInvoice(event.object);
  if (invoice.status !== 'paid') return ignored(`invoice status is ${invoice.status}, not paid`);
  const reason = invoice.billingReason ?? '(none)';
  const { customerId } = invoice;
  if (reason === 'manual') {
    if (!customerId) throw new UnexpectedPayloadError('data.object.customer', 'is null');
    return packFromInvoice(deps, invoice, customerId);
  }
  if (!GRANTING_BILLING_REASONS.includes(reason)) {
    return ignored(`billing_reason ${reason} grants no credits (C3)`);
  }
  const { subscriptionId } = invoice;
  if (!customerId) throw new UnexpectedPayloadError('data.object.customer', 'is null');
  if (!subscriptionId) {
    throw new UnexpectedPayloadError(
      'data.object.parent.subscription_details',
      `is missing on a ${reason} invoice`,
    );
  }
  const key = `grant#${invoice.id}`;
  if (needsStripe(deps, invoice) && (await deps.settled?.(customerId, key))) {
    return { kind: 'settled', command: 'grantSubscriptionInvoice', key: invoice.id, customerId };
  }
  const lines = invoice.hasMoreLines ? await allLinesOf(deps.stripe, invoice.id) : invoice.lines;
  const { grantLines, proration, skippedLines } = await subscriptionLinesOf(
    deps.catalog,
    subscriptionId,
    lines,
  );
  if (grantLines.length === 0 && !proration) {
    return ignored(
      `invoice has no subscription line granting credits (${skippedLines.length} skipped)`,
    );
  }
  const code = await referralCodeOf(deps, invoice, reason);
  const grant: SubscriptionGrant = {
    customerId,
    invoiceId: invoice.id,
    subscriptionId,
    billingReason: reason,
    lines: grantLines,
    ...(proration && { proration }),
    invoiceCreatedMs: invoice.createdMs,
    amountPaid: invoice.amountPaid,
    ...(code && { referral: { code } }),
    ...(invoice.paymentIntentId && { paymentIntentId: invoice.paymentIntentId }),
  };
  return {
    kind: 'commands',
    commands: [{ kind: 'grantSubscriptionInvoice', grant }],
    skippedLines,
  };
}

/**
 * C10: the app puts `referral_code` in the subscription's metadata, and Stripe copies it onto
 * the invoice; failing that, a first purchase may carry it on a promotion code's metadata.
 */
async function referralCodeOf(
  deps: TranslateDeps,
  invoice: Invoice,
  billingReason: string,
): Promise<string | null> {
  const fromMetadata = invoice.subscriptionMetadata[REFERRAL_METADATA_KEY]?.trim();
  if (fromMetadata) return fromMetadata;
  if (billingReason !== 'subscription_create' || invoice.discountIds.length === 0) return null;
  return (await referralCodeFromDiscounts(deps.stripe, invoice.id)).code;
}

/** C7: statuses in which a subscription has ended for good. */
export const ENDED_STATUSES: readonly string[] = ['canceled', 'incomplete_expired'];

async function translateSubscriptionDeleted(
  _deps: TranslateDeps,
  event: StripeEvent,
): Promise<Translation> {
  return ending(parseSubscription(event.object), event);
}

async function translateSubscriptionUpdated(
  _deps: TranslateDeps,
  event: StripeEvent,
): Promise<Translation> {
  const subscription = parseSubscription(event.object);
  if (ENDED_STATUSES.includes(subscription.status)) return ending(subscription, event);
  if (subscription.status === 'past_due' || subscription.status === 'unpaid') {
    return ignored(`status ${subscription.status}: payment trouble forfeits nothing (C7)`);
  }
  if (subscription.cancelAtPeriodEnd) {
    return ignored('cancellation scheduled for the period end forfeits nothing yet (C7)');
  }
  return ignored(`status ${subscription.status} ends nothing`);
}

/** C7/C8: the end time is Stripe's, so a late or replayed event forfeits exactly the same. */
function ending(subscription: Subscription, event: StripeEvent): Translation {
  const endedAtMs = subscription.endedAtMs ?? subscription.canceledAtMs ?? event.createdMs;
  return {
    kind: 'commands',
    commands: [
      {
        kind: 'endSubscription',
        end: { customerId: subscription.customerId, subscriptionId: subscription.id, endedAtMs },
      },
    ],
    skippedLines: [],
  };
}
