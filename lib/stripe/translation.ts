import type { PackPurchase } from '../ledger/purchases';
import type { ReversalRequest } from '../ledger/reversals';
import type { SubscriptionGrant } from '../ledger/subscriptions';
import type { PlanCatalog } from './catalog';
import type { StripeAccess } from './client';
import { type Invoice, type InvoiceLine, LineKind } from './events';
import type { SkippedLine } from './invoice-lines';

/**
 * What an event asks of the ledger; each is idempotent on its natural key. A first purchase's
 * referral code travels with its grant: both are one command, one transaction (C10-C12).
 */
export type DomainCommand =
  | { readonly kind: 'grantSubscriptionInvoice'; readonly grant: SubscriptionGrant }
  | { readonly kind: 'grantPack'; readonly pack: PackPurchase }
  | { readonly kind: 'reverse'; readonly reversal: ReversalRequest }
  | {
      readonly kind: 'endSubscription';
      readonly end: { customerId: string; subscriptionId: string; endedAtMs: number };
    };

export type Translation =
  | {
      readonly kind: 'commands';
      readonly commands: readonly DomainCommand[];
      readonly skippedLines: readonly SkippedLine[];
    }
  | { readonly kind: 'ignored'; readonly reason: string }
  /** The purchase was granted before: found before any look-up in Stripe was made. */
  | {
      readonly kind: 'settled';
      readonly command: DomainCommand['kind'];
      readonly key: string;
      readonly customerId: string;
    };

export type TranslateDeps = {
  readonly catalog: PlanCatalog;
  readonly stripe: StripeAccess;
  /**
   * Whether the command with this natural key was applied before. Asked only before a
   * translation would call Stripe (prices PLAN_CREDITS lacks, more pages of lines), so that a
   * replay of a settled event never depends on Stripe or on today's catalog.
   */
  readonly settled?: (customerId: string, key: string) => Promise<boolean>;
  /** PLAN_CREDITS' prices, known without Stripe. */
  readonly knownPrices?: ReadonlySet<string>;
  /** C24: the pack a payment intent paid for, as its grant recorded it (lib/store/purchases.ts). */
  readonly purchaseOfPayment?: (
    paymentIntentId: string,
  ) => Promise<{ customerId: string; purchaseId: string } | undefined>;
};

export const ignored = (reason: string): Translation => ({ kind: 'ignored', reason });

/** Whether translating the invoice would ask Stripe: more lines, or prices PLAN_CREDITS lacks. */
export function needsStripe(deps: TranslateDeps, invoice: Invoice): boolean {
  if (invoice.hasMoreLines) return true;
  return invoice.lines.some((line: InvoiceLine) => {
    if (line.priceId === null) return false;
    if (line.kind === LineKind.proration) return true;
    return !deps.knownPrices?.has(line.priceId);
  });
}
