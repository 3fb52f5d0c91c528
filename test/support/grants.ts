import { grantSubscriptionInvoice } from '../../lib/ledger/subscriptions';
import type { StoreDeps } from '../../lib/store/client';

/**
 * A paid first invoice of one line: `credits` granted at `at` (its period start, and the
 * clock of the call), for the customer's subscription `sub_<customerId>`.
 */
export function grantOneLine(
  deps: StoreDeps,
  customerId: string,
  invoiceId: string,
  credits: number,
  at: string | number,
) {
  const atMs = typeof at === 'number' ? at : Date.parse(at);
  return grantSubscriptionInvoice(
    { ...deps, clock: () => atMs },
    {
      customerId,
      invoiceId,
      subscriptionId: `sub_${customerId}`,
      invoiceCreatedMs: atMs,
      lines: [{ lineId: 'il_1', credits, periodStartMs: atMs }],
    },
  );
}
