import type { GrantLine, SubscriptionGrant } from '../ledger/subscriptions';
import type { PlanCatalog } from './catalog';
import { type StripeAccess, stripeFault } from './client';
import { UnexpectedPayloadError } from './errors';
import {
  type Invoice,
  type InvoiceLine,
  LineKind,
  parseInvoice,
  parseInvoiceLine,
  parseSubscription,
  type StripeEvent,
  type Subscription,
} from './events';
import { REFERRAL_METADATA_KEY, referralCodeFromDiscounts } from './promotion';

/**
 * What an event asks of the ledger; each is idempotent on its natural key. A first invoice's
 * referral code travels with its grant: both are one command, one transaction (C10-C12).
 */
export type DomainCommand =
  | { readonly kind: 'grantSubscriptionInvoice'; readonly grant: SubscriptionGrant }
  | {
      readonly kind: 'endSubscription';
      readonly end: { customerId: string; subscriptionId: string; endedAtMs: number };
    };

/** A line of a paid invoice that grants nothing, and why (logged, never silent). */
export type SkippedLine = { readonly lineId: string; readonly reason: string };

export type Translation =
  | {
      readonly kind: 'commands';
      readonly commands: readonly DomainCommand[];
      readonly skippedLines: readonly SkippedLine[];
    }
  | { readonly kind: 'ignored'; readonly reason: string };

export type TranslateDeps = {
  readonly catalog: PlanCatalog;
  readonly stripe: StripeAccess;
};

type Translator = (deps: TranslateDeps, event: StripeEvent) => Promise<Translation>;

/** One place per event type. Any type not listed here is acknowledged and changes nothing. */
const translators: Readonly<Record<string, Translator>> = {
  'invoice.paid': translatePaidInvoice,
  // The same invoice as `invoice.paid`; an endpoint subscribed to either or both grants once (C3).
  'invoice.payment_succeeded': translatePaidInvoice,
  'customer.subscription.deleted': translateSubscriptionDeleted,
  'customer.subscription.updated': translateSubscriptionUpdated,
};

export const HANDLED_EVENT_TYPES: readonly string[] = Object.keys(translators);

export function translateEvent(deps: TranslateDeps, event: StripeEvent): Promise<Translation> {
  const translator = translators[event.type];
  if (!translator) {
    return Promise.resolve({ kind: 'ignored', reason: `event type ${event.type} is not handled` });
  }
  return translator(deps, event);
}

const ignored = (reason: string): Translation => ({ kind: 'ignored', reason });

/** C3: only a new subscription's first invoice and its renewals grant a period's credits. */
export const GRANTING_BILLING_REASONS: readonly string[] = [
  'subscription_create',
  'subscription_cycle',
];

async function translatePaidInvoice(deps: TranslateDeps, event: StripeEvent): Promise<Translation> {
  const invoice = parseInvoice(event.object);
  if (invoice.status !== 'paid') return ignored(`invoice status is ${invoice.status}, not paid`);
  const reason = invoice.billingReason ?? '(none)';
  if (!GRANTING_BILLING_REASONS.includes(reason)) {
    return ignored(`billing_reason ${reason} grants no credits (C3)`);
  }
  const { customerId, subscriptionId } = invoice;
  if (!customerId) throw new UnexpectedPayloadError('data.object.customer', 'is null');
  if (!subscriptionId) {
    throw new UnexpectedPayloadError(
      'data.object.parent.subscription_details',
      `is missing on a ${reason} invoice`,
    );
  }
  const lines = invoice.hasMoreLines ? await allLinesOf(deps, invoice.id) : invoice.lines;
  const { grantLines, skippedLines } = await grantLinesOf(deps, subscriptionId, lines);
  if (grantLines.length === 0) {
    return ignored(
      `invoice has no subscription line granting credits (${skippedLines.length} skipped)`,
    );
  }
  const code = await referralCodeOf(deps, invoice, reason);
  const grant: SubscriptionGrant = {
    customerId,
    invoiceId: invoice.id,
    subscriptionId,
    lines: grantLines,
    invoiceCreatedMs: invoice.createdMs,
    ...(code && { referral: { code, billingReason: reason } }),
  };
  const commands: DomainCommand[] = [{ kind: 'grantSubscriptionInvoice', grant }];
  return { kind: 'commands', commands, skippedLines };
}

/**
 * C2: each plain subscription line grants its price's credits times its quantity. Prorations and
 * one-off invoice items are not a period's plan credits and grant nothing.
 */
async function grantLinesOf(
  deps: TranslateDeps,
  subscriptionId: string,
  lines: readonly InvoiceLine[],
): Promise<{ grantLines: GrantLine[]; skippedLines: SkippedLine[] }> {
  const skippedLines: SkippedLine[] = [];
  const granting: { line: InvoiceLine; priceId: string; quantity: number }[] = [];
  for (const [index, line] of lines.entries()) {
    const skip = skipReason(line, subscriptionId);
    if (skip) {
      skippedLines.push({ lineId: line.id, reason: skip });
      continue;
    }
    const field = `data.object.lines.data.${index}`;
    if (line.priceId === null) {
      throw new UnexpectedPayloadError(`${field}.pricing.price_details.price`, 'is missing');
    }
    if (line.quantity === null) throw new UnexpectedPayloadError(`${field}.quantity`, 'is null');
    if (line.quantity === 0) {
      skippedLines.push({ lineId: line.id, reason: 'quantity 0' });
      continue;
    }
    granting.push({ line, priceId: line.priceId, quantity: line.quantity });
  }
  const grantLines = await Promise.all(
    granting.map(async ({ line, priceId, quantity }) => ({
      lineId: line.id,
      credits: (await deps.catalog.creditsFor(priceId)) * quantity,
      periodStartMs: line.periodStartMs,
    })),
  );
  return { grantLines, skippedLines };
}

function skipReason(line: InvoiceLine, subscriptionId: string): string | null {
  if (line.kind === LineKind.proration) return 'proration';
  if (line.kind === LineKind.invoiceItem) return 'not a subscription line (invoice item)';
  if (line.subscriptionId !== null && line.subscriptionId !== subscriptionId) {
    return `belongs to subscription ${line.subscriptionId}, not ${subscriptionId}`;
  }
  return null;
}

/** A webhook carries at most one page of lines: fetch them all rather than grant part (C3). */
async function allLinesOf(deps: TranslateDeps, invoiceId: string): Promise<InvoiceLine[]> {
  const client = await deps.stripe(
    `list the lines of invoice ${invoiceId}, which has more than a page`,
  );
  const raw: unknown[] = [];
  try {
    for await (const line of client.invoices.listLineItems(invoiceId, { limit: 100 })) {
      raw.push(line);
    }
  } catch (error) {
    throw stripeFault(`GET /v1/invoices/${invoiceId}/lines`, error);
  }
  return raw.map((line, index) => parseInvoiceLine(line, `invoice ${invoiceId} lines.${index}`));
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
