import { reconcileCuts, withDowngrade } from '../../lib/credits/downgrades';
import { type Lot, newLot } from '../../lib/credits/lots';
import type { CustomerState } from '../../lib/credits/state';

export const ms = (iso: string) => Date.parse(iso);

/** A subscription lot granted at `grantedAt` with `remaining` of `granted` credits left. */
export function lot(id: string, grantedAt: string, granted: number, remaining = granted): Lot {
  const fresh = newLot({
    id,
    source: 'subscription',
    credits: granted,
    grantedAtMs: ms(grantedAt),
    ref: `in_${id}`,
  });
  return { ...fresh, remaining };
}

/**
 * C19: one downgrade of `credits` delivered on `state`, as lib/ledger/subscriptions.ts plans it
 * (recorded, then the subscription's cuts planned again): what it cut, and from which lots.
 */
export function downgradeOn(
  state: CustomerState,
  request: {
    subscriptionId: string;
    credits: number;
    atMs: number;
    beforeMs: number;
    billedAtMs?: number;
    invoiceId?: string;
  },
) {
  const invoiceId = request.invoiceId ?? 'in_down';
  const facts = withDowngrade(state.facts.subscriptions[request.subscriptionId] ?? {}, {
    invoiceId,
    invoiceCreatedMs: request.billedAtMs ?? request.atMs,
    proration: {
      credits: -request.credits,
      periodStartMs: request.atMs,
      periodEndMs: request.beforeMs,
    },
  });
  const plan = reconcileCuts(state.lots, {
    subscriptionId: request.subscriptionId,
    facts,
    arriving: [],
    entryId: `grant#${invoiceId}#downgrade`,
    nowMs: request.atMs,
  });
  return {
    cancelled: plan.cutsOf(invoiceId),
    cuts: plan.cancelled.map((each) => [each.lot.id, each.amount]),
    drafts: plan.drafts,
  };
}
